"""Pure differentiable maths with shape contracts: rasterisation, Bézier helpers, compositing."""
