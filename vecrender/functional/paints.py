"""Gradient paints: a fill or stroke colour that varies over the canvas (SVG's linear and radial
gradients), differentiable with respect to the stops and the gradient's frame.

A path's paint for one role (fill or stroke) is described by (all per path, ``[...]`` leading):

* ``kinds``   ``[...]`` long: `FLAT` (the path's flat colour), `LINEAR` or `RADIAL`.
* ``frames``  ``[..., 2, 3]``: the affine map from canvas pixels to the gradient's frame, in which
  a linear gradient's parameter is the first coordinate (0 at the first stop's end, 1 at the
  last's) and a radial gradient's end circle is the unit circle around the origin.
* ``focals``  ``[..., 2]``: the centre of a radial gradient's focal circle (where the parameter
  is 0) in that frame; the origin for a centred one. Unused by linear gradients.
* ``stops``   ``[..., K, 5]``: each stop's offset in [0, 1] and straight RGBA. Offsets are made
  non-decreasing (each at least the one before, as SVG does); a gradient with fewer stops repeats
  its last one.
* ``spreads`` ``[...]`` long: beyond [0, 1] the parameter is `PAD`-ded (the end colours),
  `REFLECT`-ed or `REPEAT`-ed.
* ``focal_radii`` ``[...]``: the radius (>= 0) of a radial gradient's focal circle in that frame
  (SVG 2's ``fr`` over ``r``); 0 for a focal point. Unused by linear gradients.

A radial gradient runs through the circles from its focal circle (parameter 0) to the unit circle
(1) and beyond, SVG 2's two-circle gradient (as canvas's ``createRadialGradient``): a focal circle
inside the unit circle gives every point a parameter; one that reaches outside it sweeps a cone,
and outside the cone the paint is transparent.

Colours are interpolated straight (not premultiplied) between stops, as SVG renderers do.

Renderers average a pixel's colour over its square (`paint_colors` with ``pixel=1``), as
supersampling renderers do, so a hard stop or a repeat's seam is anti-aliased like an edge: the
gradient's parameter is taken as linear across the pixel (its value and derivatives at the
centre), so over the square it spreads like the sum of two uniform variables, and the average of
the piecewise-linear colour against that trapezoid has a closed form (`stop_color` with
``half_widths``).
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
    focal_radii: Tensor

    def role(self, index: int) -> Gradients:
        """The paints of one role (`FILL` or `STROKE`)."""
        return Gradients(*(t.select(t.dim() - 1 - after, index) for t, after in zip(self, _DIMS_AFTER_ROLE)))


#: How many dims follow the role dim in each field of `Gradients`.
_DIMS_AFTER_ROLE = (0, 2, 1, 2, 0, 0)


def _in_frame(frames: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """The canvas points ``p`` ``[..., 2]`` in the gradients' frames ``[..., 2, 3]``: (x, y)."""
    px, py = p[..., 0], p[..., 1]
    return (frames[..., 0, 0] * px + frames[..., 0, 1] * py + frames[..., 0, 2],
            frames[..., 1, 0] * px + frames[..., 1, 1] * py + frames[..., 1, 2])


def gradient_parameter(kinds: Tensor, frames: Tensor, focals: Tensor, focal_radii: Tensor, p: Tensor
                       ) -> tuple[Tensor, Tensor]:
    """The gradient's parameter ``[...]`` at canvas points ``p`` ``[..., 2]`` (before spreading),
    and where it is defined (bool ``[...]``; elsewhere the paint is transparent).

    Linear: the first coordinate of ``p`` in the frame, defined everywhere. Radial: the largest
    ``t`` whose circle (centre ``f (1 - t)``, radius ``r + t (1 - r)`` >= 0: the focal circle
    ``f``, ``r`` at 0, the unit circle at 1) passes through the point ``q``, a root of
    ``|q - f + t f| = r + t (1 - r)``; defined where there is one. Where there is none (outside a
    cone), ``t`` is that of the cone's edge nearby, the double root."""
    qx, qy = _in_frame(frames, p)
    radial, defined = _radial_parameter(*_circle_equation(qx, qy, focals, focal_radii), focal_radii)
    is_radial = kinds == RADIAL
    return torch.where(is_radial, radial, qx), defined | ~is_radial


def _circle_equation(qx: Tensor, qy: Tensor, focals: Tensor, focal_radii: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(a, b, c)`` of the radial gradient's equation at the frame points ``q``, squared:
    ``a t^2 - 2 b t - c = 0``; ``a > 0`` where the focal circle is inside the unit circle."""
    fx, fy = focals[..., 0], focals[..., 1]
    grow = 1 - focal_radii  # the radius gained from t = 0 to 1
    dx, dy = qx - fx, qy - fy
    return (grow * grow - (fx * fx + fy * fy), dx * fx + dy * fy - focal_radii * grow,
            dx * dx + dy * dy - focal_radii * focal_radii)


def _radial_parameter(a: Tensor, b: Tensor, c: Tensor, focal_radii: Tensor) -> tuple[Tensor, Tensor]:
    """`gradient_parameter`'s radial ``t`` and whether it exists, from `_circle_equation`. The
    roots are ``k / a`` and ``-c / k`` with ``k = b + sign(b) sqrt(b^2 + a c)``, a form that loses
    no digits where ``a`` is near 0 (a focal circle touching the unit circle from inside: one root
    runs off to infinity)."""
    grow = 1 - focal_radii
    square = b * b + a * c
    real = square >= 0
    root = square.clamp_min(1e-30).sqrt()
    k = b + torch.where(b >= 0, root, -root)
    first = k / torch.where(a != 0, a, 1.0)  # b / a, the double root, where there is no real one
    second = -c / torch.where(k != 0, k, 1.0)
    # each root counts where it is finite and its circle's radius is not negative
    first_ok = real & (a != 0) & (focal_radii + first * grow >= 0)
    second_ok = real & (k != 0) & (focal_radii + second * grow >= 0)
    t = torch.where(~real | first_ok & (~second_ok | (first >= second)), first, second)
    return t, first_ok | second_ok


def cone_coverage(kinds: Tensor, frames: Tensor, focals: Tensor, focal_radii: Tensor, p: Tensor,
                  defined: Tensor, pixel: float) -> Tensor:
    """The part ``[...]`` of the square of side ``pixel`` around each canvas point ``p``
    ``[..., 2]`` that its paint covers (``defined``: `gradient_parameter`'s): 1 or 0, but within
    a pixel of a radial gradient's cone edge (a focal circle reaching outside the unit circle),
    where the edge is taken as straight at the point's signed distance (the discriminant of
    `_circle_equation` over the length of its gradient)."""
    qx, qy = _in_frame(frames, p)
    a, b, c = _circle_equation(qx, qy, focals, focal_radii)
    square = b * b + a * c
    fx, fy = focals[..., 0], focals[..., 1]
    gx, gy = 2 * (b * fx + a * (qx - fx)), 2 * (b * fy + a * (qy - fy))  # d square / dq
    linear = frames[..., :, :2]
    dx, dy = gx * linear[..., 0, 0] + gy * linear[..., 1, 0], gx * linear[..., 0, 1] + gy * linear[..., 1, 1]
    distance = square / (dx * dx + dy * dy).clamp_min(1e-24).sqrt() / pixel  # in pixels, > 0 inside
    # an edge nearby is the painted cone's where the circle of its double root is real
    cone = (focal_radii + b / torch.where(a != 0, a, 1.0) * (1 - focal_radii) >= 0) | defined
    cover = torch.where(cone, (0.5 + distance).clamp(0, 1), 0.0)
    return torch.where((kinds == RADIAL) & (a < 0), cover, defined.to(p.dtype))


def spread(t: Tensor, spreads: Tensor) -> Tensor:
    """The parameter ``t`` ``[...]`` folded into [0, 1] by the spread methods ``[...]`` (PAD
    leaves it: the end stops' colours extend)."""
    reflected = 1 - ((t % 2) - 1).abs()
    repeated = t - t.floor()
    return torch.where(spreads == REFLECT, reflected, torch.where(spreads == REPEAT, repeated, t))


def stop_color(stops: Tensor, t: Tensor, half_widths: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Straight RGBA ``[..., 4]`` at parameters ``t`` ``[...]`` of the gradients through
    ``stops`` ``[..., K, 5]``: the first stop's colour up to its offset, then linear between
    consecutive stops, the last stop's colour after it (equal offsets: a step).

    ``half_widths`` ``(a, b)`` ``[...]``: the mean colour over ``t + X + Y`` instead, ``X`` and
    ``Y`` uniform in ``[-a, a]`` and ``[-b, b]`` (a pixel's square, `pixel_spread`)."""
    offsets = stops[..., 0].cummax(-1).values  # [..., K]
    colors = stops[..., 1:]
    low, high = offsets[..., :-1], offsets[..., 1:]  # [..., K-1]
    span = high - low
    tk = t[..., None]
    if half_widths is None:
        ramp = torch.where(span > STEP, ((tk - low) / span.clamp_min(STEP)).clamp(0, 1), (tk >= high).to(t.dtype))
    else:  # the ramp is ((t - low)+ - (t - high)+) / span, a step 1(t >= high): their means
        excess, tail = _box_means(offsets - tk, *(w[..., None] for w in half_widths))
        ramp = torch.where(span > STEP, (excess[..., :-1] - excess[..., 1:]) / span.clamp_min(STEP), tail[..., 1:])
    steps = colors[..., 1:, :] - colors[..., :-1, :]  # [..., K-1, 4]
    return colors[..., 0, :] + (ramp[..., None] * steps).sum(-2)


#: Least and most half-width (in gradient parameter) of a pixel's spread: below, the closed forms
#: lose digits (and the colour is that of the centre anyway); above, the colour is the ends' mix.
MIN_HALF_WIDTH, MAX_HALF_WIDTH = 1e-4, 1.0


def _box_means(x: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``E[(U - x)+]`` and ``P(U > x)`` for ``U = X + Y`` (see `stop_color`): the means of a ramp
    and of a step at ``x``. Within ``|x| < a + b``, the second differences of ``relu(z)^3 / 6``
    and ``relu(z)^2 / 2`` over the corners ``z = +-a +-b - x``, over ``4 a b``; beyond, where
    those terms cancel and would lose every digit, ``(-x)+`` and ``1(x < 0)``."""
    reach = a + b
    inside = torch.minimum(torch.maximum(x, -reach), reach)
    corners = [(z - inside).clamp_min(0) for z in (reach, a - b, b - a, -reach)]
    squares = [z * z for z in corners]
    scale = 1 / (4 * a * b)
    ramp = (squares[0] * corners[0] - squares[1] * corners[1] - squares[2] * corners[2]
            + squares[3] * corners[3]) * (scale / 6)
    step = (squares[0] - squares[1] - squares[2] + squares[3]) * (scale / 2)
    below, above = x <= -reach, x >= reach
    return (torch.where(above, 0.0, torch.where(below, -x, ramp)),
            torch.where(above, 0.0, torch.where(below, 1.0, step)))


def pixel_spread(kinds: Tensor, frames: Tensor, focals: Tensor, focal_radii: Tensor, p: Tensor, t: Tensor,
                 pixel: float) -> tuple[Tensor, Tensor]:
    """Half-widths ``(a, b)`` ``[...]`` by which the gradient parameter (``t`` at the canvas
    points ``p`` ``[..., 2]``, `gradient_parameter`) varies over a square of side ``pixel``
    around them: half its derivatives along x and y, times ``pixel`` (radial: by implicit
    differentiation of ``|q - f + t f| = r + t (1 - r)``), clamped to [`MIN_HALF_WIDTH`,
    `MAX_HALF_WIDTH`]."""
    linear = frames[..., :, :2]  # q = linear @ p + shift
    qx, qy = _in_frame(frames, p)
    fx, fy = focals[..., 0], focals[..., 1]
    grow = 1 - focal_radii
    vx, vy = qx - fx + t * fx, qy - fy + t * fy  # |v| = r + t (1 - r), the radius at t
    # d|v| = grow dt: (v . dq + v . f dt) / |v| = grow dt; its sign drops out with the abs below
    slope = ((focal_radii + t * grow) * grow - vx * fx - vy * fy).abs().clamp_min(1e-12)
    radial = (vx / slope, vy / slope)  # dt/dq, up to sign
    dq = [torch.where(kinds == RADIAL, r, torch.full_like(r, float(k == 0))) for k, r in enumerate(radial)]
    da = dq[0] * linear[..., 0, 0] + dq[1] * linear[..., 1, 0]  # dt/dx
    db = dq[0] * linear[..., 0, 1] + dq[1] * linear[..., 1, 1]  # dt/dy
    return tuple((d.abs() * (pixel / 2)).clamp(MIN_HALF_WIDTH, MAX_HALF_WIDTH) for d in (da, db))


def paint_colors(flat: Tensor, paints: Gradients, p: Tensor, pixel: float = 0.0) -> Tensor:
    """Straight RGBA ``[..., 4]`` of paints at canvas points ``p`` ``[..., 2]``: the flat colour
    ``flat`` ``[..., 4]`` where a paint is `FLAT`, else its gradient's colour, transparent where
    its parameter is undefined (``paints`` of one role, broadcast with ``p``'s leading dims).
    ``pixel`` > 0: the mean colour over the square of that side around each point (see the
    module docstring), else the colour at the point."""
    geometry = (paints.kinds, paints.frames, paints.focals, paints.focal_radii)
    t, defined = gradient_parameter(*geometry, p)
    if pixel <= 0:
        color = torch.where(defined[..., None], stop_color(paints.stops, spread(t, paints.spreads)), 0.0)
    else:
        color = _spread_mean(paints, t, pixel_spread(*geometry, p, t, pixel))
        if _any_cone(paints):
            cover = cone_coverage(*geometry, p, defined, pixel)  # straight colours: only the alpha drops
            color = torch.cat([color[..., :3], color[..., 3:] * cover[..., None]], -1)
    return torch.where((paints.kinds == FLAT)[..., None], flat, color)


def _any_cone(paints: Gradients) -> bool:
    """Whether a paint is a cone (a radial gradient whose focal circle reaches outside its end
    circle), else every point has a parameter. Taken as so where `_any_periodic` takes a repeat."""
    if paints.kinds.device.type != "cpu" or torch.compiler.is_compiling():
        return True
    grow = 1 - paints.focal_radii
    return bool(((paints.kinds == RADIAL) & (grow * grow <= paints.focals.square().sum(-1))).any())


def _spread_mean(paints: Gradients, t: Tensor, half_widths: tuple[Tensor, Tensor]) -> Tensor:
    """The mean colour over ``t + X + Y`` (see `stop_color`) under each paint's spread method.

    Padded: `stop_color`'s. Repeated, with ``f`` the fractional part of ``t``: while ``a + b <
    1/2`` the pixel reaches at most one neighbouring period, the next one (``f >= 1/2``) or the one
    before; its part is the padded colour at ``f - 1`` (or ``f + 1``) less the end colour padding
    adds there. By ``a + b = 1/2`` the colour blends into the period's mean. Reflected: repeated,
    of the stops there and back (period 2)."""
    spreads = paints.spreads
    if not _any_periodic(spreads):
        return stop_color(paints.stops, t, half_widths)
    stops = torch.cat([paints.stops[..., :1].cummax(-2).values, paints.stops[..., 1:]], -1)  # offsets in order
    reflect = (spreads == REFLECT)[..., None, None]
    offsets, colors = stops[..., :1], stops[..., 1:]
    there_and_back = torch.cat([torch.cat([offsets / 2, colors], -1),
                                torch.cat([1 - offsets.flip(-2) / 2, colors.flip(-2)], -1)], -2)
    doubled = torch.where(reflect, there_and_back, torch.cat([stops, stops[..., -1:, :].expand_as(stops)], -2))
    scale = torch.where(spreads == REFLECT, 0.5, 1.0).to(t.dtype)
    t, a, b = t * scale, half_widths[0] * scale, half_widths[1] * scale
    periodic = spreads != PAD
    f = torch.where(periodic, t - t.floor(), t)
    late = f >= 0.5  # the pixel may reach into the next period, else into the one before
    reach = a + b
    a, b = (torch.where(periodic, w.clamp_max(0.245), w) for w in (a, b))  # where the closed form holds
    both = stop_color(doubled[..., None, :, :], torch.stack([f, torch.where(late, f - 1, f + 1)], -1),
                      (a[..., None], b[..., None]))
    color, neighbour = both[..., 0, :], both[..., 1, :]
    first, last = doubled[..., 0, 1:], doubled[..., -1, 1:]
    _, cross = _box_means(torch.where(late, 1 - f, -f), a, b)  # P(t + U >= the next period), or this one
    cross = cross[..., None]
    periods = color + neighbour - (first * (1 - cross) + last * cross)  # less what padding adds in both
    blend = ((reach - 0.4) / 0.09).clamp(0, 1)[..., None]
    periods = torch.lerp(periods, _mean_color(doubled), blend)  # a + b from 0.4 to 0.49: into the mean
    return torch.where(periodic[..., None], periods, color)


def _any_periodic(spreads: Tensor) -> bool:
    """Whether a paint repeats or reflects (else padding's colours are all there is to compute).
    Taken as so on GPUs and while compiling, where reading a tensor would wait for the device or
    break the graph."""
    if spreads.device.type != "cpu" or torch.compiler.is_compiling():
        return True
    return bool((spreads != PAD).any())


def _mean_color(stops: Tensor) -> Tensor:
    """The mean straight RGBA ``[..., 4]`` of `stop_color` over [0, 1]."""
    offsets = stops[..., 0].cummax(-1).values.clamp(0, 1)
    colors = stops[..., 1:]
    inner = ((offsets[..., 1:] - offsets[..., :-1])[..., None] * (colors[..., 1:, :] + colors[..., :-1, :]) / 2).sum(-2)
    return colors[..., 0, :] * offsets[..., :1] + inner + colors[..., -1, :] * (1 - offsets[..., -1:])


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
