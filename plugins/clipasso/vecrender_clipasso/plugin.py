"""vecrender-clipasso's entry point: registers the CLIPasso components and the ``clipasso`` method.

Importing this module is cheap: no open_clip, no scikit-image, no weights (they load when a run
builds the components).
"""

from __future__ import annotations

from importlib.resources import files

from vecrender import Method, hookimpl
from vecrender_clipasso.initializer import SaliencyInitializer
from vecrender_clipasso.losses import ClipViT, Geometric, Semantic
from vecrender_clipasso.masking import U2NetMask


@hookimpl
def register_initializers(register) -> None:
    register(SaliencyInitializer)


@hookimpl
def register_losses(register) -> None:
    register(Geometric)
    register(Semantic)
    register(ClipViT)


@hookimpl
def register_preprocessors(register) -> None:
    register(U2NetMask)


@hookimpl
def register_methods(register) -> None:
    register(Method(
        name="clipasso",
        description="CLIPasso: a photo of an object -> black stroke sketches (8, 16, 24 strokes).",
        recipe=files("vecrender_clipasso") / "clipasso.yaml",
    ))
