"""Entry point of vecrender-losses: registers its losses, initializer and methods.

vecrender imports this module at start-up, so it stays cheap: the component modules import only
torch, numpy and vecrender; open_clip, kornia, pytorch-msssim, lpips and scipy are imported when a
run builds or calls the component that needs them.
"""

from __future__ import annotations

from importlib.resources import files

import vecrender
from vecrender_losses.clip_losses import ClipImage, ClipText
from vecrender_losses.initializers import LiveInit
from vecrender_losses.losses import LOSSES

METHODS = (
    ("clipdraw", "Text prompt to a drawing of colored strokes (CLIPDraw: CLIP ViT-B/32 guidance).", False),
    ("styleclipdraw", "Text prompt to a drawing in the style of an image (StyleCLIPDraw: CLIP text + STROTSS "
     "style).", False),
    ("vectorize", "Image to filled closed shapes (DiffVG painterly blobs), SSIM + L2, no weights.", True),
    ("vectorize_live", "Image to filled shapes placed at error regions (LIVE init, UDF + self-intersection "
     "losses), no weights.", True),
)


@vecrender.hookimpl
def register_losses(register) -> None:
    register(ClipText)
    register(ClipImage)
    for loss in LOSSES:
        register(loss)


@vecrender.hookimpl
def register_initializers(register) -> None:
    register(LiveInit)


@vecrender.hookimpl
def register_methods(register) -> None:
    recipes = files("vecrender_losses") / "methods"
    for name, description, needs_input in METHODS:
        register(vecrender.Method(name=name, description=description, recipe=recipes / f"{name}.yaml",
                                  needs_input=needs_input))
