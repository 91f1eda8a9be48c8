"""SVG files written like other tools write them render like resvg does, up to anti-aliasing.

Each file of tests/data/svg is imported with ``load_svg``, rendered by the native renderer over
its background and compared with resvg's render (``resvg_py``, a test-only dependency) at 8x the
size, box-filtered down: resvg's geometry without its own anti-aliasing error (it quantises edge
coverage; its 1x render is 0.5e-3 to 5.9e-3 off its 8x one on these files, more than native is).
The tolerance is on the mean absolute difference, with a loose bound on single pixels. Measured
(native / diffvg, mean): caps_joins 0.19e-3 / 1.5e-1, clipasso_like 0.07e-3 / 1.1e-3, clipdraw_like
0.36e-3 / 3.7e-3, clips 1.3e-3 / 6.0e-3 (paths overlapping along a clip's outline, where resvg masks
the whole group; its own 1x render is 1.7e-3 off), compound 0.52e-3 / 5.8e-2 (diffvg fills the holes
right but draws the straight strokes only near their vertices), dashes 0.17e-3 / 4.1e-2, holes
0.60e-3 / 5.6e-3 (clip paths and a mask with holes, cut along pixel-aligned seams), dashes_stretched
0.04e-3 / 8.0e-3 (dashes measured in user space under a non-uniform scale; 3.9e-2 when they were
measured on the canvas), skews 0.13e-3 / 5.0e-3 (circles, ellipses and arcs under skews: 2.1e-2 when
svgelements mapped the arcs' parameters instead of their cubics), generic 1.6e-3 / 4.0e-2 (arcs and
ellipses, which resvg flattens), gradients 0.67e-3 / 5.7e-2 (resvg's own 1x render is 1.9e-3 off
its 8x; diffvg draws the stroke gradients flat and the radial ones without focal point and
rotation; 1.3e-3 when an element's opacity was folded into its overlapping fill and stroke),
group_opacity 0.38e-3 / 2.5e-2 (groups composited as layers: 8.6e-3 when their opacity was folded
into each child), mask_layers 0.48e-3 / 4.2e-2 (clip paths and masks as group masks: 2.7e-1 when
they were left out), live_like 0.52e-3 / 7.0e-3, markers 0.78e-3 / 1.8e-2 (arrowheads, dots and stars small
enough that resvg's own 1x render is 4.0e-3 off; 0.38e-3 without them), arc_markers 0.26e-3 / 6.7e-3
(percentage marker sizes; arcs of at most a quarter turn, which resvg too marks at their ends
only), focal_circles 0.49e-3 / 1.9e-1 (SVG 2's
fr and cones, resvg's own 1x render 3.2e-3 off; 1.7e-1 when fr was left out and a focal point outside
the circle moved into it), masks 0.30e-3 / 6.4e-3,
painterly_blobs 0.30e-3 / 4.1e-3, sprites 0.38e-3 / 2.0e-2 (symbols' content cut to the viewport a
use gives it: 1.4e-1 when it was drawn whole), units_transforms 0.50e-3 / 3.7e-2 (strokes under a
non-uniform scale become their outlines; 0.95e-3 as strokes of the mean thickness), viewports
0.07e-3 / 1.8e-2.
Against resvg's 1x render, native is within 0.6e-3 to 6.1e-3.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vecrender.builtins.renderers import DiffvgRenderer, NativeRenderer
from vecrender.functional import composite

resvg_py = pytest.importorskip("resvg_py")
svg = pytest.importorskip("vecrender.svg")

DATA = Path(__file__).parent / "data" / "svg"
# mean tolerance per file; generic.svg exercises arcs, ellipses and transforms whose flattening
# differs most between resvg and cubic Béziers, clips.svg paths that overlap along a clip's outline
# (each path's edge pixel is blended over the others', where resvg masks the group once)
TOLERANCE = {"generic.svg": 2.5e-3, "clips.svg": 1.5e-3}
DEFAULT_TOLERANCE = 1e-3
SUPERSAMPLING = 8
FILES = sorted(DATA.glob("*.svg"))


def resvg_render(path: Path, zoom: int = SUPERSAMPLING) -> torch.Tensor:
    """resvg's render of `path` at `zoom` x its size, box-filtered back to its size (RGB, [3, H, W])."""
    import numpy as np
    from PIL import Image

    # dpi: resvg_py's default (0) draws lengths in pt, mm or in as 0
    png = bytes(resvg_py.svg_to_bytes(svg_path=str(path), background="#ffffff", zoom=zoom, dpi=96.0))
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255
    return F.avg_pool2d(torch.from_numpy(rgb).permute(2, 0, 1)[None], zoom)[0]


def render(renderer, path: Path) -> torch.Tensor:
    scene = svg.load_svg(path, fill_tolerance=svg.RENDER_FILL_TOLERANCE)
    return composite(renderer.render([scene]), scene.background or (1.0, 1.0, 1.0))[0]


@pytest.mark.skipif(not FILES, reason="no SVG fixtures")
@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_native_renders_like_resvg(path):
    expected = resvg_render(path)
    ours = render(NativeRenderer(), path)
    assert ours.shape == expected.shape
    diff = (ours - expected).abs()
    assert diff.mean() < TOLERANCE.get(path.name, DEFAULT_TOLERANCE)
    assert diff.max() < 0.4  # single edge pixels (caps under a non-uniform scale, arcs)
    try:
        import pydiffvg  # noqa: F401
    except ImportError:
        return
    # at least as close to resvg as diffvg is on the same file
    theirs = (render(DiffvgRenderer(), path) - expected).abs().mean()
    assert diff.mean() <= theirs
