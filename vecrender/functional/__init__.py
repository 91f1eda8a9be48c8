"""Pure differentiable maths with shape contracts: rasterisation, Bézier helpers, compositing."""

from vecrender.functional.native import render_native
from vecrender.functional.raster import composite, render_reference

__all__ = ["composite", "render_native", "render_reference"]
