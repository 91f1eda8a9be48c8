"""Cubic Bézier helpers shared by the renderers: segments, evaluation, flattening, closest points.

Shapes (``...`` is any batch shape):
    segment control points ``[..., 4, 2]``; parameters ``t`` ``[...]``; points ``[..., 2]``.
    The per-pixel coverage helpers take and return vectors as :data:`Vec` pairs instead: separate
    ``[...]`` components keep their many small operations on contiguous memory and free of
    stacking, unbinding and reductions over a size-2 dim, each of which costs about as much as
    the arithmetic on a CPU.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

#: Squared lengths below this are treated as zero (degenerate chords, zero derivatives).
TINY = 1e-12

#: A 2-D vector field as its (x, y) components, each ``[...]``.
Vec = tuple[Tensor, Tensor]


def path_flags(flags: Tensor, batch: int, device: torch.device, per_path_dims: int = 0) -> Tensor:
    """Per-path flags ``[N, ...]`` (shared by the batch) or ``[B, N, ...]`` as ``[B, N, ...]`` on
    ``device`` (``per_path_dims``: the number of ``...`` dims, e.g. 1 for ``subpath_starts``)."""
    flags = flags.to(device)
    return flags.expand(batch, *flags.shape) if flags.dim() == 1 + per_path_dims else flags


def path_segments(points: Tensor, closed: Tensor, num_segments: Tensor,
                  subpath_starts: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-segment control points ``[B, N, S, 4, 2]`` and the valid-segment mask ``[B, N, S]``.

    ``points`` is ``[B, N, P, 2]`` with ``P = 1 + 3S``; ``closed`` / ``num_segments`` are ``[B, N]``;
    ``subpath_starts`` ``[B, N, S]`` bool or None (one subpath per path; see
    :class:`vecrender.VectorScene`). The last valid segment of each subpath of a closed path ends
    at that subpath's first point (its stored end point is ignored); segments
    ``>= num_segments`` are padding.
    """
    num_seg = (points.shape[2] - 1) // 3
    device = points.device
    k = torch.arange(num_seg, device=device)
    segs = points.unfold(2, 4, 3).transpose(-1, -2)  # [B, N, S, 4, 2]; a fixed-order backward, unlike indexing
    final = k == num_segments[..., None] - 1  # [B, N, S]
    if subpath_starts is None:
        last, start = final & closed[..., None], points[:, :, None, 0]
    else:
        starts = subpath_starts | (k == 0)
        following = torch.cat([starts[..., 1:], torch.ones_like(starts[..., :1])], -1)
        last = (final | following) & closed[..., None]
        first = subpath_first(subpath_starts)
        start = points.gather(2, (3 * first)[..., None].expand(*first.shape, 2))
    end = torch.where(last[..., None], start, segs[..., 3, :])
    segs = torch.cat([segs[..., :3, :], end[..., None, :]], dim=-2)
    valid = k < num_segments[..., None]
    return segs, valid


def subpath_first(subpath_starts: Tensor) -> Tensor:
    """``[..., S]``: the index of the segment that starts each segment's subpath, from the
    ``subpath_starts`` flags ``[..., S]`` (the first segment starts one in any case)."""
    k = torch.arange(subpath_starts.shape[-1], device=subpath_starts.device)
    return torch.where(subpath_starts | (k == 0), k, torch.zeros_like(k)).cummax(-1).values


def bernstein(t: Tensor) -> Tensor:
    """Cubic Bernstein weights ``[..., 4]`` of parameters ``t`` ``[...]``."""
    s = 1 - t
    return torch.stack([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], dim=-1)


def evaluate(ctrl: Tensor, t: Tensor) -> Tensor:
    """Curve points ``[..., 2]`` at ``t`` ``[...]`` of segments ``ctrl`` ``[..., 4, 2]``."""
    return horner(t[..., None], *power_coefficients(ctrl))


def polyline(segs: Tensor, chords: int) -> Tensor:
    """Vertices ``[..., chords + 1, 2]`` of each segment ``[..., 4, 2]`` at uniform ``t = l / chords``."""
    t = torch.arange(chords + 1, device=segs.device, dtype=segs.dtype) / chords
    weights = bernstein(t)  # [L+1, 4]
    return torch.einsum("lk,...kc->...lc", weights, segs)


#: ``B(t) = sum_k t^(3-k) sum_j POWER[k, j] P_j``: the power-basis coefficients ``a, b, c, d``.
_POWER = ((-1.0, 3.0, -3.0, 1.0), (3.0, -6.0, 3.0, 0.0), (-3.0, 3.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))


@functools.cache
def _power_mix(dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[8, 8]`` matrix taking control points ``(x0, y0, ..., x3, y3)`` to ``(a_x, a_y, ...,
    d_x, d_y)`` (as columns); filled on the device (no host-to-device copy: CUDA renders stay
    free of host synchronisation)."""
    mix = torch.zeros(8, 8, dtype=dtype, device=device)
    for k, row in enumerate(_POWER):
        for j, value in enumerate(row):
            if value:
                mix[2 * k, 2 * j] = mix[2 * k + 1, 2 * j + 1] = value
    return mix


def power_form(ctrl: Tensor) -> tuple[tuple[Tensor, Tensor], ...]:
    """Power-basis coefficients ``a, b, c, d`` of segments ``[..., 4, 2]`` (``B(t) = ((a t + b) t
    + c) t + d``) as (x, y) pairs of contiguous ``[...]`` tensors: one matrix product writes them
    as rows, so the hot loops run on separate, contiguous components (strided components and
    reductions over a size-2 dim are several times slower on CPUs)."""
    batch = ctrl.shape[:-2]
    # compiled code builds the matrix in its graph (a cache is invisible to the tracer)
    mix = (_power_mix.__wrapped__ if torch.compiler.is_compiling() else _power_mix)(ctrl.dtype, ctrl.device)
    rows = (mix @ ctrl.reshape(-1, 8).T).reshape(8, *batch).unbind(0)
    return tuple(zip(rows[0::2], rows[1::2]))


def horner(t: Tensor, *coefficients: Tensor) -> Tensor:
    """The polynomial in ``t`` with ``coefficients`` (highest power first), by fused
    multiply-adds."""
    value = coefficients[0]
    for c in coefficients[1:]:
        value = torch.addcmul(c, value, t)
    return value


def hypot(x: Tensor, y: Tensor) -> Tensor:
    """``sqrt(x^2 + y^2)`` with a finite (zero) gradient at 0."""
    return (x * x + y * y).clamp_min(TINY).sqrt()


def power_coefficients(ctrl: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`power_form` with each coefficient as one ``[..., 2]`` tensor."""
    return tuple(torch.stack(v, -1) for v in power_form(ctrl))


def newton_closest(ctrl: Tensor, p: Tensor, t: Tensor, steps: int) -> tuple[Tensor, Tensor, Tensor]:
    """Refine ``t`` towards the parameter of the point of ``ctrl`` closest to ``p`` (no gradient);
    returns it, its squared distance and the offset ``p - B(t)`` ``[..., 2]``.

    Newton steps on ``f(t) = (B(t) - p) . B'(t)`` (Gauss-Newton where ``f'`` is below a hundredth
    of ``|B'|^2``, where a Newton step is unbounded), clamped to [0, 1]. A step is kept where it
    does not increase the distance (so the result is never worse than the start) and where it is
    tiny (``< 1e-4``): near the solution the distance no longer changes above rounding, yet the
    parameter should still converge to float precision (finite-difference checks of the gradient
    need that). A rejected step is halved for the next one. Pixels near a centre of curvature
    have ``f'`` small at the solution: there true Newton steps converge where Gauss-Newton ones
    crawl (their ratio ``f' / |B'|^2``), and the closest point's direction, which the coverage
    uses, moves with ``t``. Last, an end of the segment replaces the result where it is no farther.
    """
    with torch.no_grad():
        (ax, ay), (bx, by), (cx, cy), (x0, y0) = power_form(ctrl)
        px, py = p.unbind(-1)
        dx, dy = x0 - px, y0 - py

        def residual(t: Tensor) -> tuple[Tensor, Tensor]:  # B(t) - p
            return horner(t, ax, bx, cx, dx), horner(t, ay, by, cy, dy)

        qx, qy = residual(t)
        best = torch.addcmul(qx * qx, qy, qy)
        a3x, a3y, a6x, a6y, b2x, b2y = 3 * ax, 3 * ay, 6 * ax, 6 * ay, 2 * bx, 2 * by
        damping = torch.ones_like(best)  # halved after a rejected step, back to 1 after an accepted one
        for step in range(steps):
            d1x, d1y = horner(t, a3x, b2x, cx), horner(t, a3y, b2y, cy)  # B'
            speed2 = torch.addcmul(d1x * d1x, d1y, d1y)
            fp = speed2.addcmul(qx, horner(t, a6x, b2x)).addcmul_(qy, horner(t, a6y, b2y))
            fp = torch.where(fp > 0.01 * speed2, fp, speed2).clamp_min(TINY)
            cand = torch.addcmul(qx * d1x, qy, d1y).div_(fp).mul_(damping).neg_().add_(t).clamp_(0, 1)
            rx, ry = residual(cand)
            dist = torch.addcmul(rx * rx, ry, ry)
            better = (dist <= best) | ((cand - t).abs() < 1e-4)  # tiny steps: polish past rounding
            if step < steps - 1:
                damping = torch.where(better, 1.0, damping * 0.5)
            t = torch.where(better, cand, t)
            best = torch.where(better, dist, best)
            qx, qy = torch.where(better, rx, qx), torch.where(better, ry, qy)
        # Newton only crawls towards an end whose B' vanishes (a control point on its end
        # point), and a cap or join needs t to reach the end
        for end, (ex, ey) in ((0.0, (dx, dy)), (1.0, (ax + bx + cx + dx, ay + by + cy + dy))):
            dist = torch.addcmul(ex * ex, ey, ey)
            closer = dist <= best
            t, best = torch.where(closer, end, t), torch.where(closer, dist, best)
            qx, qy = torch.where(closer, ex, qx), torch.where(closer, ey, qy)
    return t, best, torch.stack([-qx, -qy], -1)


def safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last dim (of size 2) with a finite (zero) gradient at 0."""
    return hypot(*v.unbind(-1))


def chord_offset(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``p`` minus its closest point on the chord ``a -> b`` (``[..., 2]``), differentiable in all
    three, the projection parameter included (a zero-length chord is its point ``a``)."""
    e = b - a
    return p - (a + chord_parameter(p, a, e)[..., None] * e)


def chord_parameter(p: Tensor, a: Tensor, e: Tensor) -> Tensor:
    """``[...]``: the parameter in [0, 1] of the point of the chord from ``a`` along ``e``
    (``[..., 2]``) closest to ``p`` (0 on a zero-length chord)."""
    len2 = (e * e).sum(-1)
    ok = len2 > TINY
    u = ((p - a) * e).sum(-1) / torch.where(ok, len2, torch.ones_like(len2))
    return torch.where(ok, u.clamp(0, 1), torch.zeros_like(u))


def winding_number(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Winding number ``[...]`` (int32) of points ``p`` ``[..., 1, 2]`` around the closed
    polylines of chords ``a -> b`` ``[..., C, 2]`` (broadcast together): the signed count of the
    chords that cross the ray from ``p`` to +x (:func:`ray_crossings`)."""
    up, down = ray_crossings(p, a, b)
    return up.sum(-1, dtype=torch.int32) - down.sum(-1, dtype=torch.int32)


def ray_crossings(p: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Whether chords ``a -> b`` cross the ray from ``p`` to +x going up / going down (bool,
    broadcast shape; y half-open: a chord's lower end counts, its upper one not). A chord with
    ``a == b`` (padding) crosses nothing."""
    px, py = p[..., 0], p[..., 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    side = (bx - ax) * (py - ay) - (px - ax) * (by - ay)
    below_a, below_b = ay <= py, by <= py
    return below_a & ~below_b & (side > 0), below_b & ~below_a & (side < 0)


def unit_normal(offset: Vec) -> tuple[Vec, Tensor]:
    """``offset / |offset|`` and ``|offset|`` ``[...]``; (1, 0) where the offset vanishes (a
    pixel centre on the curve: every direction gives it the same coverage)."""
    ox, oy = offset
    d = hypot(ox, oy)
    tiny = d <= 1e-6
    return (torch.where(tiny, 1.0, ox / d), torch.where(tiny, 0.0, oy / d)), d


def box_share(pix: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Area ``[...]`` of the pixel centred at ``pix`` ``[..., 2]`` inside the box from ``lo`` to
    ``hi`` ``[..., 2]`` (broadcast): a bound on the coverage of any shape inside that box."""
    side = (torch.minimum(hi, pix + 0.5) - torch.maximum(lo, pix - 0.5)).clamp(0.0, 1.0)
    return side[..., 0] * side[..., 1]


def footprint_cdf(x: Tensor, normal: Vec) -> Tensor:
    """Share of a pixel lying below ``x`` ``[...]`` along ``normal``, for a pixel centre at 0.

    The unit pixel square projected on a unit direction ``(cos, sin)`` is the convolution of two
    boxes of widths ``a = max(|cos|, |sin|)`` and ``b = min(|cos|, |sin|)``: a trapezoid, flat
    over ``|x| <= (a - b) / 2`` and with quadratic ends up to ``|x| = (a + b) / 2``. Its CDF is the
    exact area of the pixel on one side of a straight edge at offset ``x`` (the 1-D box
    ``x + 1/2`` for axis-aligned edges). ``normal`` must be a unit vector (:func:`unit_normal`).
    """
    ax, ay = normal[0].abs(), normal[1].abs()
    wider = ax >= ay  # where(), not maximum / minimum: several times cheaper gradients on CPUs
    a, b = torch.where(wider, ax, ay), torch.where(wider, ay, ax)
    half, flat_end = (a + b) / 2, (a - b) / 2
    curve = 2 * a * b.clamp_min(1e-6)
    low, high = (x + half).clamp_min(0), (half - x).clamp_min(0)
    low, high = low * low / curve, 1 - high * high / curve
    return torch.where(x < -flat_end, low, torch.where(x > flat_end, high, x / a + 0.5))


def wedge_share(x1: Tensor, normal1: Vec, x2: Tensor, normal2: Vec) -> Tensor:
    """Share of a pixel (centre at 0) lying below ``x1`` along ``normal1`` and below ``x2`` along
    ``normal2`` (unit vectors, ``[...]``): its area in the intersection of two half-planes, exact
    for any two lines (a corner, a band between them, or one quadrant where they cross).

    The value comes from :func:`_clipped_pixel`. Its gradient is the exact first-order change:
    moving a line by ``dx`` along its normal adds the length of its piece of the boundary times
    ``dx``; turning the normal by ``dn`` moves each boundary point ``z`` by ``-z . dn``, which
    integrates to the piece's length times its middle. Unlike the clipping's own derivatives,
    this stays right where a corner of the region lies on the pixel's border (integer vertex
    coordinates), since those lengths change continuously there."""
    with torch.no_grad():
        area, pieces = _clipped_pixel(x1.detach(), tuple(c.detach() for c in normal1), x2.detach(),
                                      tuple(c.detach() for c in normal2))
    for x, (nx, ny), (length, (mx, my)) in zip((x1, x2), (normal1, normal2), pieces):
        area = area + length * ((x - x.detach()) - mx * (nx - nx.detach()) - my * (ny - ny.detach()))
    return area


def _clipped_pixel(x1: Tensor, normal1: Vec, x2: Tensor, normal2: Vec
                   ) -> tuple[Tensor, tuple[tuple[Tensor, Vec], tuple[Tensor, Vec]]]:
    """The area of :func:`wedge_share`, and each line's piece of the region's boundary: its length
    and middle (``[...]``, (x, y)). By Green's theorem the area is half the integral of
    ``z x dz`` over the clipped square's boundary: its pieces of the square's sides, each worth
    ``1/4`` per unit length, and its pieces of each line ``z . n = x``, worth ``x / 2`` per unit
    length. Of two parallel lines (to rounding) facing the same way the inner one bounds; two
    facing opposite ways bound a band, both whole, or nothing where it has no width (rounding
    must not cut one of them and keep the other: the boundary would not close)."""
    # the square's sides, counter-clockwise: start + s * direction, s in [0, 1]
    lo = torch.zeros(x1.shape + (4,), dtype=x1.dtype, device=x1.device)
    hi = torch.ones_like(lo)
    for (nx, ny), x in ((normal1, x1), (normal2, x2)):
        start = torch.stack([-nx - ny, nx - ny, nx + ny, ny - nx], -1) / 2
        along = torch.stack([nx, ny, -nx, -ny], -1)
        lo, hi = _clip(lo, hi, start, along, x[..., None])
    (nx, ny), (mx, my) = normal1, normal2
    parallel = (nx * my - ny * mx).abs() <= 1e-6
    nested, opposed = parallel & (nx * mx + ny * my > 0), parallel & (nx * mx + ny * my < 0)
    empty = opposed & (x1 + x2 <= 0)  # a band without width
    area = torch.where(empty, 0.0, (hi - lo).clamp_min(0).sum(-1) / 4)
    first_inner = x1 <= x2
    whole = nested | opposed & ~empty  # each line's piece is its whole chord of the square
    pieces = []
    for (n, x), (m, y), inner in (((normal1, x1), (normal2, x2), first_inner),
                                  ((normal2, x2), (normal1, x1), ~first_inner)):
        u1, u2 = _square_chord(x, n)
        c1, c2 = _clip(u1, u2, x * (n[0] * m[0] + n[1] * m[1]), n[0] * m[1] - n[1] * m[0], y)
        u1, u2 = torch.where(whole, u1, c1), torch.where(whole, torch.where(inner | opposed, u2, u1), c2)
        u2 = torch.where(empty, u1, u2)
        length, along = (u2 - u1).clamp_min(0), (u1 + u2) / 2
        area = area + x * length / 2
        pieces.append((length, (x * n[0] - along * n[1], x * n[1] + along * n[0])))
    return area, tuple(pieces)


def _square_chord(x: Tensor, normal: Vec) -> tuple[Tensor, Tensor]:
    """The ends of the line ``z . normal = x`` within the pixel (centre at 0) along
    ``(-n_y, n_x)`` from its point closest to the centre, as :func:`tangent_chord`. A line on
    the pixel's side, which :func:`_clip` keeps as part of the region's boundary, counts where
    it is the region's outer side (``x < 0``: the two cancel) and not where the region is the
    whole pixel (``x > 0``: the side alone bounds it)."""
    (nx, ny), lo = normal, torch.full_like(x, -1.0)
    hi, limit = -lo, 0.5 - torch.finfo(x.dtype).eps * (x > 0).to(x.dtype)
    for start, rate in ((x * nx, -ny), (x * ny, nx)):
        lo, hi = _clip(lo, hi, start, rate, limit)
        lo, hi = _clip(lo, hi, -start, -rate, limit)
    return lo, hi


def _clip(lo: Tensor, hi: Tensor, start: Tensor, rate: Tensor, limit: Tensor) -> tuple[Tensor, Tensor]:
    """The part of parameter intervals ``[lo, hi]`` where ``start + s * rate <= limit``."""
    rising, falling = rate > 1e-9, rate < -1e-9
    bound = (limit - start) / torch.where(rising | falling, rate, 1.0)
    hi = torch.where(rising & (bound < hi), bound, hi)
    lo = torch.where(falling & (bound > lo), bound, lo)
    return lo, torch.where(~(rising | falling) & (start > limit), lo, hi)


def tangent_chord(x: Tensor, normal: Vec) -> tuple[Tensor, Tensor]:
    """Ends ``u1 <= u2`` of the chord that the line ``{z : z . n = x}`` (``n`` the unit ``normal``)
    cuts from the unit pixel centred at 0, as coordinates along ``(-n_y, n_x)`` from the line's
    closest point to the centre; ``u1 > u2`` where the line misses the pixel."""
    nx, ny = normal
    # along each axis k, z_k = x n_k + u tau_k must stay in [-1/2, 1/2]: an interval of u centred
    # at -x n_k / tau_k, 1 / (2 |tau_k|) wide on each side; tau = (-n_y, n_x)
    # (|tau_k| floored at 1e-9 with its sign kept, so a line parallel to an axis outside the
    # pixel still gets an empty interval)
    reach_x, reach_y = 0.5 / ny.abs().clamp_min(1e-9), 0.5 / nx.abs().clamp_min(1e-9)
    sign_x, sign_y = torch.where(ny >= 0, 2.0, -2.0), torch.where(nx >= 0, 2.0, -2.0)
    centre_x, centre_y = x * nx * sign_x * reach_x, -x * ny * sign_y * reach_y
    start_x, start_y = centre_x - reach_x, centre_y - reach_y
    end_x, end_y = centre_x + reach_x, centre_y + reach_y
    return torch.where(start_x >= start_y, start_x, start_y), torch.where(end_x <= end_y, end_x, end_y)


class Outline(NamedTuple):
    """What a stroke's outline does around a pixel's closest point (:func:`closest_point`)."""

    toward_end: Vec  #: unit tangent towards the segment's nearer end (0: a dot)
    end_distance: Tensor  #: [...] straight distance to that end
    at_end: Tensor  #: [...] bool: the closest point is that end (``t`` clamped)
    open_end: Tensor  #: [...] bool: that end is an open path's end (a cap), not a join
    curvature: Vec  #: curvature vector of the centre line at the closest point
    forward: Tensor  #: [...] bool: that end is the segment's end (its start otherwise)


def coincident(ctrl: Tensor) -> Tensor:
    """``[...]`` bool: the segment's control points ``[..., 4, 2]`` all coincide (within 1e-5)."""
    return (ctrl - ctrl[..., :1, :]).abs().amax((-1, -2)) < 1e-5


def path_dots(segs: Tensor, seg_valid: Tensor) -> Tensor:
    """``[B, N]`` bool: every valid segment of the path (``segs`` ``[B, N, S, 4, 2]``, ``seg_valid``
    ``[B, N, S]``) is a point (:func:`coincident`): a zero-length stroke, open or closed, of any
    number of segments, drawn as a disc. Its segments tie for every pixel, so which one a search
    picks must not matter, and a per-segment test would treat its inner ones as joins."""
    point = coincident(segs) | ~seg_valid
    return point.all(-1) & seg_valid.any(-1)


def closest_point(ctrl: Tensor, p: Tensor, t: Tensor, open_start: Tensor, open_end: Tensor,
                  dot: Tensor) -> tuple[Vec, Outline]:
    """``p - B(t)`` and the :class:`Outline` there, for a closest parameter ``t``
    found without gradient, with the gradient of the closest point (the points' direct effect
    plus its motion along the curve); ``open_start`` / ``open_end`` ``[...]``: this segment's
    start / end is an open path's end (a join otherwise); ``dot`` ``[...]``: the segment belongs
    to a zero-length path (:func:`path_dots`), drawn as a disc.

    By the implicit function theorem on ``f(t) = (B(t) - p) . B'(t) = 0``,
    ``dt/dθ = -(∂f/∂θ) / f'(t)``: ``dt = -f / f'`` (``f'`` held constant) has that gradient and
    the value 0, and ``B(t) + B'(t) dt`` (so ``B' + B'' dt``, ...) carries it. (The distance alone
    would not need it: ``B'`` is perpendicular to the offset there. Its direction, which the
    coverage uses, does.) Clamped ends (``t`` in {0, 1}: caps) do not move. ``f'`` is floored at
    a hundredth of ``|B'|^2``, so where the closest point is about to jump (the pixel near a
    centre of curvature) the gradient stays bounded instead of exact.
    """
    (ax, ay), (bx, by), (cx, cy), (x0, y0) = power_form(ctrl)
    px, py = p.unbind(-1)
    t = t.detach()
    qx, qy = horner(t, ax, bx, cx, x0) - px, horner(t, ay, by, cy, y0) - py  # B - p
    vx, vy = horner(t, 3 * ax, 2 * bx, cx), horner(t, 3 * ay, 2 * by, cy)  # B'
    wx, wy = horner(t, 6 * ax, 2 * bx), horner(t, 6 * ay, 2 * by)  # B''
    end = ctrl[..., 3, :]
    with torch.no_grad():
        speed2 = vx * vx + vy * vy
        fp = (speed2 + qx * wx + qy * wy).clamp_min(0.01 * speed2)
        moving = (t > 0) & (t < 1) & (fp > TINY)
        scale = torch.where(moving, -1 / fp.clamp_min(TINY), 0.0)
        # which end of the segment is nearer, and is the closest point that end
        to_start = (qx + px - x0) ** 2 + (qy + py - y0) ** 2
        to_end = (qx + px - end[..., 0]) ** 2 + (qy + py - end[..., 1]) ** 2
        forward = (to_end < to_start) | ((to_end == to_start) & (t > 0.5))  # a closed segment: by t
        at_end = torch.where(forward, t >= 1, t <= 0) | dot
    step = (qx * vx + qy * vy) * scale
    dt = step - step.detach()  # value 0, gradient dt/dθ
    qx, qy = qx + vx * dt, qy + vy * dt
    vx, vy = vx + wx * dt, vy + wy * dt
    wx, wy = wx + 6 * ax * dt, wy + 6 * ay * dt
    # the direction towards the nearer end; where B' vanishes (a control point on its end point)
    # the curve leaves along +-B''
    lean = torch.where(t > 0.5, -1e-4, 1e-4)
    way = torch.where(forward, 1.0, -1.0)
    tx, ty = (vx + lean * wx) * way, (vy + lean * wy) * way
    length = hypot(tx, ty)  # 0 only for a dot, whose toward is 0
    toward = (torch.where(dot, 0.0, tx / length), torch.where(dot, 0.0, ty / length))
    # |B'|^2 floored at 1e-6, not TINY: where B' vanishes (a cusp, a control point on its end)
    # the gradient of 1 / |B'|^4 would overflow float32 to NaN; the bend is clamped there anyway
    speed2 = (vx * vx + vy * vy).clamp_min(1e-6)
    bend = (vx * wy - vy * wx) / (speed2 * speed2)  # signed curvature / |B'|
    ex, ey = torch.where(forward, end[..., 0], x0), torch.where(forward, end[..., 1], y0)
    distance = hypot(qx + px - ex, qy + py - ey)
    outline = Outline(toward, distance, at_end, torch.where(forward, open_end, open_start) | dot,
                      (-vy * bend, vx * bend), forward)
    return (-qx, -qy), outline


def outline_sliver(u1: Tensor, u2: Tensor, normal: Vec, radius: Tensor, bend: Tensor,
                   outline: Outline, arc_sign: float) -> Tensor:
    """Signed area of the pixel between the tangent line of a stroke side, which cuts the chord
    ``[u1, u2]`` (:func:`tangent_chord`) from it, and the side itself, to second order; positive
    where the side lies on the ``normal``'s side of the line.

    Along the chord (coordinate ``u``, oriented away from the segment's nearer end) the side
    leaves the line by ``h(u)``. Near a round cap the cap's junction ``u_j`` splits it: on the
    end's side lies the cap, an arc of radius r (``arc_sign (u - c)^2 / 2r``: -1 on the pixel's
    side of the centre line, +1 on the far side), on the segment's side the side bends with the
    centre line (``bend (u - c')^2 / 2``, ``bend`` its curvature towards ``normal``). Where the
    closest point is the end, the line touches the arc (``c = 0``), ``u_j = r (n . w)`` (``w``
    the tangent towards the end) and the straight side continues the arc's slope from ``u_j``
    (``c' = u_j``); elsewhere it touches the side ``end_distance`` before the end
    (``c = u_j = -end_distance``, ``c' = 0``); both meet where ``u_j = 0``. A dot is all arc.
    Near a join (whose other side is another segment's) the bend alone is used, fading out
    within 0.75 px of the join, so the pixels around a corner, which are equally close to both
    segments, do not depend on which one is picked. Radii below 0.75 px use 0.75.
    """
    r = radius.clamp_min(0.75)
    (tx, ty), (nx, ny), at_end, cap = outline.toward_end, normal, outline.at_end, outline.open_end
    dot = tx * tx + ty * ty < 0.25
    facing = (nx * tx + ny * ty).clamp_min(0)
    far = torch.full_like(r, 4.0)
    junction = torch.where(at_end, torch.where(dot, far, r * facing), -outline.end_distance.clamp_max(4.0))
    junction = torch.where(cap, junction, -far)  # joins: the bend over the whole chord
    arc_contact = torch.where(at_end, torch.zeros_like(junction), junction)
    bend_contact = torch.where(at_end, junction, torch.zeros_like(junction))
    fade = torch.where(at_end, torch.zeros_like(r), (outline.end_distance / 0.75).clamp(0, 1))
    bend = torch.where(cap, bend, bend * fade)
    flip = ty * nx - tx * ny > 0  # the chord runs towards the end
    u1, u2 = torch.where(flip, -u2, u1), torch.where(flip, -u1, u2)
    lever = junction - arc_contact
    joint = junction - bend_contact
    lever3, joint3 = lever * lever * lever, joint * joint * joint
    arc = cap.to(r.dtype) * arc_sign

    def primitive(u: Tensor) -> Tensor:  # integral of h from the junction to u
        before = u <= junction
        on_arc, beyond = torch.where(before, u, junction) - arc_contact, (u - junction).clamp_min(0)
        cap_part = (on_arc * on_arc * on_arc - lever3) / (6 * r) + lever * beyond * (lever + beyond) / (2 * r)
        side = torch.where(before, junction, u) - bend_contact
        return bend * (side * side * side - joint3) / 6 + arc * cap_part

    return torch.where(u2 > u1, primitive(u2) - primitive(u1), torch.zeros_like(u1))


#: Largest half-extent of a pixel along any direction (its half-diagonal): beyond this distance
#: from an edge a pixel's coverage is exactly 0 or 1.
PIXEL_REACH = 0.5 * 2**0.5


def stroke_coverage(offset: Vec, half_width: Tensor, outline: Outline | None = None) -> Tensor:
    """Coverage of a pixel by a stroke of half-width r, from ``offset``: pixel centre minus the
    closest point of the curve.

    The area of the pixel inside the band ``[-r, r]`` around the tangent line at the closest
    point: ``F(r - d) - F(-r - d)`` with ``d = |offset|`` and ``F`` the pixel's footprint CDF
    along the offset direction (:func:`footprint_cdf`). Exact for straight strokes, thin ones
    included; 0 (no gradient) for zero width. With the ``outline`` there
    (:func:`closest_point`), the curvature of the outline inside the pixel is added to second
    order (:func:`outline_sliver`): the round caps, and the bending of both sides (the side
    towards which the centre line bends with curvature ``k`` bends with ``k / (1 - r k)``).
    """
    n, d = unit_normal(offset)
    outer, inner = half_width - d, -half_width - d
    # the far side crosses the pixel only for thin strokes (skipped on CPUs where there are none;
    # never asked on GPUs or in compiled code, which must not read back from the device)
    far = d.device.type != "cpu" or torch.compiler.is_compiling() or bool((half_width + d < PIXEL_REACH).any())
    cover = footprint_cdf(outer, n)
    if far:
        cover = cover - footprint_cdf(inner, n)
    if outline is not None:
        k = outline.curvature[0] * n[0] + outline.curvature[1] * n[1]  # towards the pixel
        limit = 1 / 0.75  # no sharper bends than a 0.75 px radius (the stroke folds there)
        bend_out = (k / (1 - half_width * k).clamp_min(0.25)).clamp(-limit, limit)
        cover = cover + outline_sliver(*tangent_chord(outer, n), n, half_width, bend_out, outline, -1.0)
        if far:
            bend_in = (k / (1 + half_width * k).clamp_min(0.25)).clamp(-limit, limit)
            cover = cover - outline_sliver(*tangent_chord(inner, n), n, half_width, bend_in, outline, 1.0)
        cover = cover.clamp(0, 1)
    # where(), not clamp: no gradient at exactly 0 coverage (zero width) on every torch version
    return torch.where(half_width > 0, cover, torch.zeros_like(cover))


def fill_coverage(signed_distance: Tensor, offset: Tensor) -> Tensor:
    """Coverage from the signed distance to the outline (negative inside) and ``offset``
    ``[..., 2]`` (pixel centre minus the closest outline point): ``F(-s)``, the area of the
    pixel inside the outline's tangent line (see :func:`footprint_cdf`)."""
    return footprint_cdf(-signed_distance, unit_normal(offset.unbind(-1))[0])


def chord_edge_coverage(pix: Tensor, chord: tuple[Tensor, Tensor, Tensor], winding: Tensor, even_odd: Tensor
                        ) -> tuple[Tensor, Tensor]:
    """A fill's coverage of pixels ``pix`` ``[..., 2]`` from the closest chord of its outline
    ``(a, mid, b)`` (its ends and the curve at its middle parameter, ``[..., 2]``, with gradient)
    and the winding numbers ``winding`` ``[...]``; returns it and whether the chord is an edge of
    the fill (:func:`fill_edge`; elsewhere the coverage is the inside-ness).

    The outline near the chord is the parabola through ``a``, ``mid`` and ``b``: the pixel's
    offset from the chord (:func:`chord_offset`, at chord parameter ``u``) less the parabola's
    bulge ``h u (1 - u)`` along the chord's normal, so the tangent line is the curve's, not the
    chord's (the chord is up to ``0.75 M / L^2`` px inside the curve; the parabola leaves a
    third-order error). The filled side of the chord comes from the winding numbers on its two
    sides, so a centre between chord and curve counts as on the curve's side. Where the pixel
    projects beyond the chord's ends (its closest point is a vertex) the chord alone counts, so
    two chords tied there give one coverage."""
    a, mid, b = chord
    e = b - a
    u = chord_parameter(pix, a, e)
    chord_off = pix - (a + u[..., None] * e)
    normal = torch.stack(unit_normal((-e[..., 1], e[..., 0]))[0], -1)  # the chord's left normal
    # the parabola over the chord through `mid` (where it projects: curves slow down near a
    # control point that sits on an end, so not always at the chord's middle)
    at = chord_parameter(mid, a, e).clamp(0.1, 0.9)
    height = ((mid - a) * normal).sum(-1) / (at * (1 - at))
    bulge = height * u * (1 - u)  # the curve's, along the normal
    offset = chord_off - bulge[..., None] * normal
    filled = inside(winding, even_odd)
    with torch.no_grad():
        side = e[..., 0] * chord_off[..., 1] - e[..., 1] * chord_off[..., 0]  # > 0: left of the chord
        left_filled = inside(left_winding(winding, side), even_odd)
        left_of_curve = e[..., 0] * offset[..., 1] - e[..., 1] * offset[..., 0] > 0
        in_curve = torch.where(bulge != 0, left_of_curve == left_filled, filled)
    distance = safe_norm(offset)
    coverage = fill_coverage(torch.where(in_curve, -distance, distance), offset)
    edge = fill_edge(winding, even_odd, e.detach(), chord_off.detach())
    return torch.where(edge, coverage, filled.to(coverage.dtype)), edge


def left_winding(winding: Tensor, side: Tensor) -> Tensor:
    """The winding number just left of a chord, from ``winding`` at points on its ``side``
    (> 0: left, as :func:`fill_edge`'s cross product or :func:`_signed_distance`): the left has
    one more than the right; a point on the chord's line keeps its own."""
    return winding + (side < 0).to(winding.dtype)


def inside(winding: Tensor, even_odd: Tensor) -> Tensor:
    """Fill rule: nonzero winding, or odd winding where ``even_odd``."""
    return torch.where(even_odd, winding % 2 != 0, winding != 0)


def segment_basin(best: Tensor, chords: int) -> Tensor:
    """``[..., 3]``: chord ``best`` ``[..., 1]`` and its neighbours on the same segment (itself in
    place of a neighbour on another segment), of a polyline of ``chords`` chords per segment: the
    chords a Newton run from ``best`` explores, and those a fill's second chord is not."""
    near = best + torch.arange(-1, 2, device=best.device)
    return torch.where(near.div(chords, rounding_mode="floor") == best.div(chords, rounding_mode="floor"), near, best)


#: Distances (px) from a pixel centre to a fill's second chord over which that chord's edge is
#: blended in: fully up to NEAR (the chord may cross the pixel), not at all from FAR.
SECOND_EDGE_NEAR, SECOND_EDGE_FAR = 0.7, 1.0


def _signed_distance(p: Tensor, a: Tensor, direction: Vec) -> Tensor:
    """Of points ``p`` from the lines through ``a`` (``[..., 2]``) along the unit ``direction``,
    positive on their left."""
    return direction[0] * (p[..., 1] - a[..., 1]) - direction[1] * (p[..., 0] - a[..., 0])


def _straddles(a: Tensor, b: Tensor, origin: Tensor, direction: Vec) -> Tensor:
    """Whether ``a`` and ``b`` lie strictly on opposite sides of a line (farther than `ON_LINE`)."""
    sa, sb = _signed_distance(a, origin, direction), _signed_distance(b, origin, direction)
    return (sa * sb < 0) & (torch.minimum(sa.abs(), sb.abs()) > ON_LINE)


def _meets(chord: tuple[Tensor, Tensor, Tensor], origin: Tensor, direction: Vec, length: Tensor, place: Tensor,
           chords: int) -> Tensor:
    """Whether a line (through ``origin`` along unit ``direction``) meets a chord ``(a, mid, b)``
    (its ends and its curve's middle) of the given ``length`` inside it (by more than
    `ON_LINE`), or up to `SECOND_EDGE_FAR` beyond an end where its segment is straight and goes
    on (``place``: the chord's index among its segment's ``chords``)."""
    a, mid, b = chord
    sa, sb = _signed_distance(a, origin, direction), _signed_distance(b, origin, direction)
    slope = sa - sb  # length x the sine of the angle between the lines: not where they (nearly) coincide
    at = sa * length / torch.where(slope.abs() > ON_LINE, slope, 1.0)  # the meeting point's distance from a
    # the curvature, 8 sagitta / length^2, under ON_LINE: the curve stays within ON_LINE / 2 of
    # the chord's line for a pixel past its end (|e x (mid - a)| is length x sagitta)
    e = b - a
    twice_area = (e[..., 0] * (mid[..., 1] - a[..., 1]) - e[..., 1] * (mid[..., 0] - a[..., 0])).abs()
    straight = 8 * twice_area <= ON_LINE * length * length * length
    before = torch.where(straight & (place > 0), SECOND_EDGE_FAR, -ON_LINE)
    after = torch.where(straight & (place < chords - 1), SECOND_EDGE_FAR, -ON_LINE)
    return (slope.abs() > ON_LINE) & (at > -before) & (at < length + after)


def fills_left(a: Tensor, b: Tensor, chords: int, valid: Tensor | None = None, subpaths: Tensor | None = None
               ) -> Tensor:
    """``[..., C]``: whether the closed polygon of each chord's subpath (chords ``a -> b``
    ``[..., C, 2]``, ``chords`` per segment; those where ``valid`` ``[..., C]``) has a positive
    signed area, i.e. fills the left of its chords (the side of positive
    :func:`_signed_distance`) more than their right: the hand of an outline. ``subpaths``
    ``[..., S]``: each segment's subpath (:func:`subpath_first`); None: one per path."""
    twice_area = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    if valid is not None:
        twice_area = torch.where(valid, twice_area, 0.0)
    per_segment = twice_area.unflatten(-1, (-1, chords)).sum(-1)  # [..., S]
    if subpaths is None:
        total = per_segment.sum(-1, keepdim=True).expand_as(per_segment)
    else:
        total = torch.zeros_like(per_segment).scatter_add(-1, subpaths, per_segment).gather(-1, subpaths)
    return (total > 0).repeat_interleave(chords, -1)


def _sides(inside: Tensor, on_line: Tensor) -> tuple[Tensor, Tensor]:
    """The least and the most inside-ness a centre may have: either value where it is on the line."""
    return inside & ~on_line, inside | on_line


def second_edge_coverage(coverage: Tensor, edge: Tensor, winding: Tensor, even_odd: Tensor, pix: Tensor,
                         first: tuple[Tensor, Tensor, Tensor], second: tuple[Tensor, Tensor, Tensor],
                         places: tuple[Tensor, Tensor], chords: int, left: Tensor, second_valid: Tensor | None = None,
                         compact: bool = False) -> Tensor:
    """A fill's coverage ``[...]`` (from its closest chord, :func:`chord_edge_coverage`) refined by
    its second chord, for corners, slivers, gaps thinner than a pixel and self-crossings.

    ``first`` and ``second``: the closest chord and the closest outside its basin (the chords'
    ends and the curve at their middle ``(a, mid, b)`` ``[..., 2]``, with gradient), and their
    ``places`` (indices ``[...]`` in their outline's chords, ``chords`` per segment); ``pix``
    ``[..., 2]`` the pixel centres; ``winding`` their winding numbers under the fill rule
    ``even_odd``; ``edge`` whether the first chord is an edge of the fill there
    (:func:`fill_edge`); ``left`` whether the first chord's subpath fills the left of its chords
    (:func:`fills_left`); ``second_valid`` whether there is a second chord.

    Each chord's line cuts the pixel into two shares (:func:`footprint_cdf`), whose overlap is
    :func:`wedge_share` (all exact for straight edges):

    * chords that cross (an X: a self-crossing outline, overlapping subpaths) cut the pixel into
      four quadrants, whose winding numbers follow from the centre's across each chord; the
      coverage sums the filled ones;
    * otherwise, where the first chord is an edge, the fill is the intersection of the two
      chords' filled sides where the second lies on the first's filled side (a convex corner, a
      sliver between two edges) and their union elsewhere (a reflex corner, a gap). Both fill
      the same side of their direction: by the winding numbers where the centre is beside one
      of them (:func:`_local_hand`), else (at a vertex) the side for which that picture gives
      the centre its inside-ness (:func:`_corner_fits`; the two lobes of a figure eight fill
      opposite sides), else the subpath's hand ``left`` (a centre on the lines). Only where the
      picture fits (not at a seam of a self-crossing outline, nor between edges of opposite
      hands: a gap between two subpaths, a hole that runs the same way as its outline).

    Blended in by the second chord's distance (`SECOND_EDGE_NEAR` .. `SECOND_EDGE_FAR`), and
    computed only where that is above zero if ``compact`` (a host synchronisation: CPUs)."""
    a2, b2 = second[0], second[2]
    weight = (SECOND_EDGE_FAR - safe_norm(chord_offset(pix, a2, b2))) / (SECOND_EDGE_FAR - SECOND_EDGE_NEAR)
    inputs = (coverage, edge, winding, even_odd, pix, *first, *second, *places, left,
              torch.ones_like(edge) if second_valid is None else second_valid, weight)
    if not compact:
        return _second_edge(*inputs, chords)
    with torch.no_grad():
        rows = (weight > 0).nonzero(as_tuple=True)
    shape = weight.shape
    picked = (t.expand(shape + t.shape[len(shape):])[rows] for t in inputs)
    return coverage.index_put(rows, _second_edge(*picked, chords))


def _second_edge(coverage: Tensor, edge: Tensor, winding: Tensor, even_odd: Tensor, pix: Tensor, a1: Tensor,
                 mid1: Tensor, b1: Tensor, a2: Tensor, mid2: Tensor, b2: Tensor, place1: Tensor, place2: Tensor,
                 left: Tensor, second_valid: Tensor, weight: Tensor, chords: int) -> Tensor:
    """:func:`second_edge_coverage` of the given pixels, with its blending ``weight`` (unclamped)."""
    d1, d2 = b1 - a1, b2 - a2
    (t1, l1), (t2, l2) = (unit_normal(d.unbind(-1)) for d in (d1, d2))  # unit directions, lengths
    h1, h2 = _signed_distance(pix, a1, t1), _signed_distance(pix, a2, t2)
    filled = inside(winding, even_odd)
    with torch.no_grad():
        proper = (l1 > 1e-6) & (l2 > 1e-6) & second_valid  # two chords with a direction
        grazed = _straddles(a2, b2, a1, t1) | _straddles(a1, b1, a2, t2)  # one reaches across the other's line
        # an X: the lines cross within both chords, or up to a pixel beyond an end where a
        # straight segment goes on (a chord of a flattening ends anywhere); not at a vertex
        crossed = _meets((a1, mid1, b1), a2, t2, l1, place1 % chords, chords)
        crossed &= _meets((a2, mid2, b2), a1, t1, l2, place2 % chords, chords)
        beside = _signed_distance((a2 + b2) / 2, a1, t1)  # > 0: the second chord on the first's left
        fits_left, fits_right = (_corner_fits(h1, h2, beside, filled, hand) for hand in (True, False))
        # the chords' filled side: from the winding numbers where the centre is beside one of
        # them, else the side that fits (at a vertex), else the subpath's hand
        (within1, left1), (within2, left2) = (_local_hand(pix, a, t, length, h, winding, even_odd)
                                              for a, t, length, h in ((a1, t1, l1, h1), (a2, t2, l2, h2)))
        # (not from a centre on either chord, whose winding number may be either side's)
        known = ~((within1 & (h1.abs() <= ON_LINE)) | (within2 & (h2.abs() <= ON_LINE)))
        left = torch.where(known & within1, left1, torch.where(known & within2, left2, torch.where(
            fits_left & fits_right, left, fits_left)))
        meet = torch.where(left, beside >= 0, beside <= 0)  # the second chord on the first's filled side
        corner = edge & torch.where(left, fits_left, fits_right) & ~grazed & ~crossed & proper
        # (not for a centre on either line, whose winding number may be either side's)
        crossed &= proper & (h1.abs() > ON_LINE) & (h2.abs() > ON_LINE)
        # the side of each line whose share counts: the filled one (a corner), the centre's (an X)
        hand = torch.where(left, 1.0, -1.0).to(pix.dtype)
        side1, side2 = (torch.where(crossed, torch.where(h >= 0, 1.0, -1.0).to(h.dtype), hand) for h in (h1, h2))
    away1, away2 = (side1 * t1[1], -side1 * t1[0]), (side2 * t2[1], -side2 * t2[0])  # normals leaving those sides
    share1, share2 = footprint_cdf(side1 * h1, away1), footprint_cdf(side2 * h2, away2)
    both = wedge_share(side1 * h1, away1, side2 * h2, away2)
    quadrants = _quadrant_sum(both, share1, share2, winding, side1, side2, even_odd)
    refined = torch.where(crossed, quadrants, torch.where(meet, both, share1 + share2 - both))
    # chords on one line (subpaths that share an edge, a shape drawn twice): the winding number
    # across is the centre's less both steps, which tells whether they are an edge (the first
    # chord alone may say otherwise: adjacent subpaths would show a seam, a doubled outline none)
    with torch.no_grad():
        coincident = proper & within1 & within2 & ((t1[0] * t2[1] - t1[1] * t2[0]).abs() <= 1e-4)
        coincident &= (h1.abs() - h2.abs()).abs() <= ON_LINE
        across = winding - torch.sign(h1).to(winding.dtype) - torch.sign(h2).to(winding.dtype)
        edge_of_both = inside(across, even_odd) != filled
    line_share = _filled_share(h1, t1, filled)
    refined = torch.where(coincident, torch.where(edge_of_both, torch.where(edge, coverage, line_share),
                                                  filled.to(refined.dtype)), refined)
    # the first chord inside the fill (filled on both sides: an outline that overlaps itself, as
    # a stroke's outline does at a join) and the second an edge beside the centre: the second
    # alone bounds the fill there (its near side's winding number is the centre's, less the
    # first's step where the second lies across the first's line)
    with torch.no_grad():
        lone = ~edge & proper & ~crossed & ~coincident & within2 & (h2.abs() > ON_LINE)
        near = winding - torch.where(beside * h1 < 0, torch.sign(h1), 0.0).to(winding.dtype)
        lone &= inside(near, even_odd) != inside(near - torch.sign(h2).to(winding.dtype), even_odd)
    refined = torch.where(lone, _filled_share(h2, t2, filled), refined)
    weight = torch.where(corner | crossed | coincident | lone, weight.clamp(0, 1), 0.0)
    return coverage + weight * (refined - coverage)


def _filled_share(h: Tensor, direction: Vec, filled: Tensor) -> Tensor:
    """The share of a pixel on one side of a chord's line (its centre at ``h`` from it, the
    chord along unit ``direction``): the centre's side where it is ``filled``, else the other."""
    return footprint_cdf(torch.where(filled, h.abs(), -h.abs()), (direction[1], -direction[0]))


def _local_hand(pix: Tensor, a: Tensor, direction: Vec, length: Tensor, h: Tensor, winding: Tensor,
                even_odd: Tensor) -> tuple[Tensor, Tensor]:
    """Whether pixel centres ``pix`` (at ``h`` from the line of a chord from ``a`` along unit
    ``direction``, :func:`_signed_distance`) lie beside the chord (within its ``length``), and
    whether the fill is on its left by their winding numbers there (:func:`left_winding`)."""
    along = direction[0] * (pix[..., 0] - a[..., 0]) + direction[1] * (pix[..., 1] - a[..., 1])
    return (along >= 0) & (along <= length), inside(left_winding(winding, h), even_odd)


def _corner_fits(h1: Tensor, h2: Tensor, beside: Tensor, filled: Tensor, left: bool) -> Tensor:
    """Whether two chords (pixel centres ``h1``, ``h2`` from their lines, the second's middle
    ``beside`` the first's line; :func:`_signed_distance`) that fill their ``left`` (or right)
    side give the centres their inside-ness ``filled``: the intersection of the two filled sides
    where the second chord lies on the first's filled side, their union elsewhere. A centre on a
    line may count as on either side (its inside-ness, monotone in both, then lies between the
    two choices')."""
    meet = beside >= 0 if left else beside <= 0
    (low1, high1), (low2, high2) = (_sides((h > 0) == left, h.abs() <= ON_LINE) for h in (h1, h2))
    fits = torch.where(meet, filled == (low1 & low2), filled == (low1 | low2))
    return fits | torch.where(meet, filled == (high1 & high2), filled == (high1 | high2))


def _quadrant_sum(own: Tensor, near1: Tensor, near2: Tensor, winding: Tensor, side1: Tensor, side2: Tensor,
                  even_odd: Tensor) -> Tensor:
    """Coverage of pixels cut by two crossing lines into four quadrants: the centre's (share
    ``own``, winding number ``winding``) and the others, from the shares ``near1``, ``near2`` on
    the centre's side of each line (the ``side1``, ``side2`` of it, +-1, :func:`_signed_distance`).
    Crossing a line from its left subtracts one from the winding number (:func:`fill_edge`)."""
    step1, step2 = side1.to(winding.dtype), side2.to(winding.dtype)
    filled = [inside(w, even_odd).to(own.dtype) for w in (winding, winding - step1, winding - step2,
                                                           winding - step1 - step2)]
    return (filled[0] * own + filled[1] * (near2 - own) + filled[2] * (near1 - own)
            + filled[3] * (1 - near1 - near2 + own))


#: Distance (px) from a chord's line within which a pixel centre counts as on it (float32
#: rounding of coordinates up to ~1e4 px stays below it).
ON_LINE = 1e-3


def fill_edge(winding: Tensor, even_odd: Tensor, direction: Tensor, offset: Tensor) -> Tensor:
    """Whether the closest chord of a fill's outline (``direction`` ``[..., 2]``, the pixel centre
    at ``offset`` from it) is an edge of the fill: the winding number across it differs by one
    (less on the side where ``cross(direction, offset) > 0``) and the fill rule tells the two
    sides apart. Not where an outline crosses itself or subpaths overlap and both sides are
    filled (winding 1 and 2 under nonzero): no anti-aliased seam there. A centre exactly on the
    line has the winding number of its side towards +x (+y on a level chord), as
    :func:`ray_crossings` counts; one within ``ON_LINE`` of it, where rounding decides its side,
    is on an edge unless both neighbouring winding numbers fill alike."""
    dx, dy = direction[..., 0], direction[..., 1]
    side = dx * offset[..., 1] - dy * offset[..., 0]
    # a centre exactly on the line has the winding number :func:`ray_crossings` gives it: that
    # of a point just beyond it towards +x (towards +y on a level chord)
    length = hypot(dx, dy)
    on_line = (side == 0) & (length > 1e-6)  # (a chord of no length keeps its rounding)
    across = winding - torch.sign(torch.where(on_line, torch.where(dy != 0, -dy, dx), side)).to(winding.dtype)
    filled = inside(winding, even_odd)
    # a centre within rounding of the line may have either side's winding number
    near_line = ~on_line & (side.abs() <= ON_LINE * length)
    either = (inside(winding + 1, even_odd) != filled) | (inside(winding - 1, even_odd) != filled)
    return (near_line & either) | (filled != inside(across, even_odd))
