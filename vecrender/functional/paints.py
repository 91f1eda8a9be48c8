"""Gradient paints: a fill or stroke colour that varies over the canvas (SVG's linear and radial
gradients), differentiable with respect to the stops and the gradient's frame.

A path's paint for one role (fill or stroke) is described by (all per path, ``[...]`` leading):

* ``kinds``   ``[...]`` long: `FLAT` (the path's flat colour), `LINEAR` or `RADIAL`.
* ``frames``  ``[..., 2, 3]``: the affine map from canvas pixels to the gradient's frame, in which
  a linear gradient's parameter is the first coordinate (0 at the first stop's end, 1 at the
  last's) and a radial gradient's end circle is the unit circle around the origin.
* ``focals``  ``[..., 2]``: a radial gradient's focal point (where the parameter is 0) in that
  frame, inside the unit circle; the origin for a centred one. Unused by linear gradients.
* ``stops``   ``[..., K, 5]``: each stop's offset in [0, 1] and straight RGBA. Offsets are made
  non-decreasing (each at least the one before, as SVG does); a gradient with fewer stops repeats
  its last one.
* ``spreads`` ``[...]`` long: beyond [0, 1] the parameter is `PAD`-ded (the end colours),
  `REFLECT`-ed or `REPEAT`-ed.

Colours are interpolated straight (not premultiplied) between stops, as SVG renderers do.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

FLAT, LINEAR, RADIAL = 0, 1, 2
PAD, REFLECT, REPEAT = 0, 1, 2
#: Roles: the index of a fill's and of a stroke's paint in `Gradients`' role dim.
FILL, STROKE = 0, 1
#: Stop offsets closer than this are a hard step between their colours.
STEP = 1e-9


class Gradients(NamedTuple):
    """The gradient paints of paths (see the module docstring), for both roles: ``[..., 2, ...]``
    (`FILL`, `STROKE`)."""

    kinds: Tensor
    frames: Tensor
    focals: Tensor
    stops: Tensor
    spreads: Tensor

    def role(self, index: int) -> Gradients:
        """The paints of one role (`FILL` or `STROKE`)."""
        return Gradients(*(t.select(t.dim() - 1 - after, index) for t, after in zip(self, _DIMS_AFTER_ROLE)))


#: How many dims follow the role dim in each field of `Gradients`.
_DIMS_AFTER_ROLE = (0, 2, 1, 2, 0)


def gradient_parameter(kinds: Tensor, frames: Tensor, focals: Tensor, p: Tensor) -> Tensor:
    """The gradient's parameter ``[...]`` at canvas points ``p`` ``[..., 2]`` (before spreading).

    Linear: the first coordinate of ``p`` in the frame. Radial: the ``t`` whose circle (centre
    ``f + t (0 - f)``, radius ``t``, from the focal point ``f`` to the unit circle) passes
    through the point ``q``: the larger root of ``|q - f + t f| = t``."""
    px, py = p[..., 0], p[..., 1]
    qx = frames[..., 0, 0] * px + frames[..., 0, 1] * py + frames[..., 0, 2]
    qy = frames[..., 1, 0] * px + frames[..., 1, 1] * py + frames[..., 1, 2]
    fx, fy = focals[..., 0], focals[..., 1]
    dx, dy = qx - fx, qy - fy
    along = dx * fx + dy * fy
    room = 1 - (fx * fx + fy * fy)  # > 0: the focal point is inside the circle
    square = along * along + room * (dx * dx + dy * dy)
    root = torch.where(square > 0, square.clamp_min(1e-30).sqrt(), torch.zeros_like(square))
    radial = (along + root) / room.clamp_min(1e-6)
    return torch.where(kinds == RADIAL, radial, qx)


def spread(t: Tensor, spreads: Tensor) -> Tensor:
    """The parameter ``t`` ``[...]`` folded into [0, 1] by the spread methods ``[...]`` (PAD
    leaves it: the end stops' colours extend)."""
    reflected = 1 - ((t % 2) - 1).abs()
    repeated = t - t.floor()
    return torch.where(spreads == REFLECT, reflected, torch.where(spreads == REPEAT, repeated, t))


def stop_color(stops: Tensor, t: Tensor) -> Tensor:
    """Straight RGBA ``[..., 4]`` at parameters ``t`` ``[...]`` of the gradients through
    ``stops`` ``[..., K, 5]``: the first stop's colour up to its offset, then linear between
    consecutive stops, the last stop's colour after it (equal offsets: a step)."""
    offsets = stops[..., 0].cummax(-1).values  # [..., K]
    colors = stops[..., 1:]
    low, high = offsets[..., :-1], offsets[..., 1:]  # [..., K-1]
    span = high - low
    tk = t[..., None]
    ramp = torch.where(span > STEP, ((tk - low) / span.clamp_min(STEP)).clamp(0, 1), (tk >= high).to(t.dtype))
    steps = colors[..., 1:, :] - colors[..., :-1, :]  # [..., K-1, 4]
    return colors[..., 0, :] + (ramp[..., None] * steps).sum(-2)


def paint_colors(flat: Tensor, paints: Gradients, p: Tensor) -> Tensor:
    """Straight RGBA ``[..., 4]`` of paints at canvas points ``p`` ``[..., 2]``: the flat colour
    ``flat`` ``[..., 4]`` where a paint is `FLAT`, else its gradient's colour (``paints`` of one
    role, broadcast with ``p``'s leading dims)."""
    t = spread(gradient_parameter(paints.kinds, paints.frames, paints.focals, p), paints.spreads)
    color = stop_color(paints.stops, t)
    return torch.where((paints.kinds == FLAT)[..., None], flat, color)


def linear_frame(start: tuple[float, float], end: tuple[float, float]) -> list[list[float]]:
    """The ``[2, 3]`` frame of a linear gradient from ``start`` (parameter 0) to ``end`` (1), in
    canvas pixels (the second row: the perpendicular, so the map is invertible)."""
    (x1, y1), (x2, y2) = start, end
    ex, ey = x2 - x1, y2 - y1
    length2 = ex * ex + ey * ey
    if not length2 > 0:
        raise ValueError(f"a linear gradient needs two different end points, got {start} and {end}")
    ux, uy = ex / length2, ey / length2
    return [[ux, uy, -(ux * x1 + uy * y1)], [-uy, ux, -(-uy * x1 + ux * y1)]]


def radial_frame(center: tuple[float, float], radius: float) -> list[list[float]]:
    """The ``[2, 3]`` frame of a radial gradient whose end circle is ``center``, ``radius`` (px)."""
    if not radius > 0:
        raise ValueError(f"a radial gradient needs a radius above 0, got {radius}")
    (cx, cy), s = center, 1 / radius
    return [[s, 0.0, -s * cx], [0.0, s, -s * cy]]
