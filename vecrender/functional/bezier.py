"""Cubic Bézier helpers shared by the renderers: segments, evaluation, flattening, closest points.

Shapes (``...`` is any batch shape):
    segment control points ``[..., 4, 2]``; parameters ``t`` ``[...]``; points ``[..., 2]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Squared lengths below this are treated as zero (degenerate chords, zero derivatives).
TINY = 1e-12


def path_flags(flags: Tensor, batch: int, device: torch.device) -> Tensor:
    """Per-path flags ``[N]`` (shared by the batch) or ``[B, N]`` as ``[B, N]`` on ``device``."""
    flags = flags.to(device)
    return flags.expand(batch, -1) if flags.dim() == 1 else flags


def path_segments(points: Tensor, closed: Tensor, num_segments: Tensor) -> tuple[Tensor, Tensor]:
    """Per-segment control points ``[B, N, S, 4, 2]`` and the valid-segment mask ``[B, N, S]``.

    ``points`` is ``[B, N, P, 2]`` with ``P = 1 + 3S``; ``closed`` / ``num_segments`` are ``[B, N]``.
    A closed path's last valid segment ends at ``points[:, n, 0]`` (its stored end point is
    ignored); segments ``>= num_segments`` are padding.
    """
    num_seg = (points.shape[2] - 1) // 3
    device = points.device
    k = torch.arange(num_seg, device=device)
    index = 3 * k[:, None] + torch.arange(4, device=device)  # [S, 4]
    segs = points[:, :, index]  # [B, N, S, 4, 2]
    last = (k == num_segments[..., None] - 1) & closed[..., None]  # [B, N, S]
    end = torch.where(last[..., None], points[:, :, None, 0], segs[..., 3, :])
    segs = torch.cat([segs[..., :3, :], end[..., None, :]], dim=-2)
    valid = k < num_segments[..., None]
    return segs, valid


def bernstein(t: Tensor) -> Tensor:
    """Cubic Bernstein weights ``[..., 4]`` of parameters ``t`` ``[...]``."""
    s = 1 - t
    return torch.stack([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], dim=-1)


def evaluate(ctrl: Tensor, t: Tensor) -> Tensor:
    """Curve points ``[..., 2]`` at ``t`` ``[...]`` of segments ``ctrl`` ``[..., 4, 2]``."""
    return (bernstein(t)[..., None] * ctrl).sum(-2)


def polyline(segs: Tensor, chords: int) -> Tensor:
    """Vertices ``[..., chords + 1, 2]`` of each segment ``[..., 4, 2]`` at uniform ``t = l / chords``."""
    t = torch.arange(chords + 1, device=segs.device, dtype=segs.dtype) / chords
    weights = bernstein(t)  # [L+1, 4]
    return torch.einsum("lk,...kc->...lc", weights, segs)


def power_form(ctrl: Tensor) -> tuple[tuple[Tensor, Tensor], ...]:
    """``B(t) = ((a t + b) t + c) t + d`` for segments ``[..., 4, 2]``: the coefficients
    ``a, b, c, d`` as (x, y) pairs of ``[...]`` tensors (separate components keep the hot loops
    free of reductions over a size-2 dim, which are slow on CPUs)."""
    p0, p1, p2, p3 = ctrl.unbind(-2)
    a = p3 - p0 + 3 * (p1 - p2)
    b = 3 * (p0 - 2 * p1 + p2)
    c = 3 * (p1 - p0)
    return a.unbind(-1), b.unbind(-1), c.unbind(-1), p0.unbind(-1)


def newton_closest(ctrl: Tensor, p: Tensor, t: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Refine ``t`` towards the parameter of the point of ``ctrl`` closest to ``p`` (no gradient);
    returns it and its squared distance.

    Newton steps on ``f(t) = (B(t) - p) . B'(t)`` (Gauss-Newton where ``f'`` is not safely
    positive), clamped to [0, 1]; a step is kept only where it does not increase the distance,
    so the result is never worse than the start, or where it is tiny (``< 1e-4``): near the
    solution the distance no longer changes above rounding, and the parameter still converges
    to float precision (finite-difference checks of the gradient need that).
    """
    with torch.no_grad():
        (ax, ay), (bx, by), (cx, cy), (x0, y0) = power_form(ctrl)
        px, py = p.unbind(-1)
        dx, dy = x0 - px, y0 - py

        def residual(t: Tensor) -> tuple[Tensor, Tensor]:  # B(t) - p
            return ((ax * t + bx) * t + cx) * t + dx, ((ay * t + by) * t + cy) * t + dy

        qx, qy = residual(t)
        best = qx * qx + qy * qy
        for _ in range(steps):
            d1x, d1y = (3 * ax * t + 2 * bx) * t + cx, (3 * ay * t + 2 * by) * t + cy
            speed2 = d1x * d1x + d1y * d1y
            fp = speed2 + qx * (6 * ax * t + 2 * bx) + qy * (6 * ay * t + 2 * by)
            fp = torch.where(fp > 0.25 * speed2, fp, speed2).clamp_min(TINY)
            cand = (t - (qx * d1x + qy * d1y) / fp).clamp(0, 1)
            rx, ry = residual(cand)
            dist = rx * rx + ry * ry
            better = (dist <= best) | ((cand - t).abs() < 1e-4)  # tiny steps: polish past rounding
            t = torch.where(better, cand, t)
            best = torch.where(better, dist, best)
            qx, qy = torch.where(better, rx, qx), torch.where(better, ry, qy)
    return t, best


def closest_offset(ctrl: Tensor, p: Tensor, t: Tensor) -> Tensor:
    """``p - B(t)`` ``[..., 2]`` for a closest parameter ``t`` found without gradient, with the
    gradient of the closest point: the points' direct effect plus ``B'(t) dt/dθ``.

    By the implicit function theorem on ``f(t) = (B(t) - p) . B'(t) = 0``,
    ``dt/dθ = -(∂f/∂θ) / f'(t)``. (The distance alone would not need it: ``B'`` is
    perpendicular to the offset there. Its direction, which the coverage uses, does.) Clamped
    ends (``t`` in {0, 1}: caps) do not move. ``f'`` is floored at a hundredth of ``|B'|^2``,
    so where the closest point is about to jump (the pixel near a centre of curvature) the
    gradient stays bounded instead of exact.
    """
    (ax, ay), (bx, by), (cx, cy), (x0, y0) = power_form(ctrl)
    px, py = p.unbind(-1)
    t = t.detach()
    qx, qy = ((ax * t + bx) * t + cx) * t + x0 - px, ((ay * t + by) * t + cy) * t + y0 - py
    d1x, d1y = (3 * ax * t + 2 * bx) * t + cx, (3 * ay * t + 2 * by) * t + cy
    with torch.no_grad():
        speed2 = d1x * d1x + d1y * d1y
        fp = speed2 + qx * (6 * ax * t + 2 * bx) + qy * (6 * ay * t + 2 * by)
        fp = fp.clamp_min(0.01 * speed2)
        moving = (t > 0) & (t < 1) & (fp > TINY)
        scale = torch.where(moving, -1 / fp.clamp_min(TINY), torch.zeros_like(fp))
    step = (qx * d1x + qy * d1y) * scale
    dt = step - step.detach()  # value 0, gradient dt/dθ
    return torch.stack([-(qx + d1x * dt), -(qy + d1y * dt)], dim=-1)


def safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last dim (of size 2) with a finite (zero) gradient at 0."""
    x, y = v.unbind(-1)
    return (x * x + y * y).clamp_min(TINY).sqrt()


def chord_offset(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``p`` minus its closest point on the chord ``a -> b`` (``[..., 2]``), differentiable in all
    three, the projection parameter included (a zero-length chord is its point ``a``)."""
    e = b - a
    len2 = (e * e).sum(-1)
    ok = len2 > TINY
    u = ((p - a) * e).sum(-1) / torch.where(ok, len2, torch.ones_like(len2))
    u = torch.where(ok, u.clamp(0, 1), torch.zeros_like(u))
    return p - (a + u[..., None] * e)


def crossing(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Signed crossing count (+1, -1 or 0) of the chord ``a -> b`` with the ray from ``p`` to +x.

    Half-open in y, so summing over a closed polyline gives its winding number around ``p``.
    """
    px, py = p[..., 0], p[..., 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    side = (bx - ax) * (py - ay) - (px - ax) * (by - ay)
    up = (ay <= py) & (by > py) & (side > 0)
    down = (ay > py) & (by <= py) & (side < 0)
    return up.to(torch.int32) - down.to(torch.int32)


def footprint_cdf(x: Tensor, normal: Tensor) -> Tensor:
    """Share of a pixel lying below ``x`` along ``normal`` ``[..., 2]``, for a pixel centre at 0.

    The unit pixel square projected on a unit direction ``(cos, sin)`` is the convolution of two
    boxes of widths ``a = max(|cos|, |sin|)`` and ``b = min(|cos|, |sin|)``: a trapezoid, flat
    over ``|x| <= (a - b) / 2`` and with quadratic ends up to ``|x| = (a + b) / 2``. Its CDF is the
    exact area of the pixel on one side of a straight edge at offset ``x`` (the 1-D box
    ``x + 1/2`` for axis-aligned edges). ``normal`` need not be normalised; a zero one counts as
    axis-aligned.
    """
    length = safe_norm(normal)
    ax, ay = normal[..., 0].abs(), normal[..., 1].abs()
    flat = length <= 1e-6
    a = torch.where(flat, torch.ones_like(length), torch.maximum(ax, ay) / length)
    b = torch.where(flat, torch.zeros_like(length), torch.minimum(ax, ay) / length)
    half, flat_end = (a + b) / 2, (a - b) / 2
    curve = 2 * a * b.clamp_min(1e-6)
    low = (x + half).clamp_min(0) ** 2 / curve
    high = 1 - (half - x).clamp_min(0) ** 2 / curve
    return torch.where(x < -flat_end, low, torch.where(x > flat_end, high, x / a + 0.5))


#: Largest half-extent of a pixel along any direction (its half-diagonal): beyond this distance
#: from an edge a pixel's coverage is exactly 0 or 1.
PIXEL_REACH = 0.5 * 2**0.5


def stroke_coverage(offset: Tensor, half_width: Tensor) -> Tensor:
    """Coverage of a pixel by a stroke of half-width r, from ``offset`` ``[..., 2]``: pixel centre
    minus the closest point of the curve.

    The area of the pixel inside the band ``[-r, r]`` around the tangent line at the closest
    point: ``F(r - d) - F(-r - d)`` with ``d = |offset|`` and ``F`` the pixel's footprint CDF
    along the offset direction (:func:`footprint_cdf`). Exact for straight strokes, thin ones
    included; 0 (no gradient) for zero width.
    """
    d = safe_norm(offset)
    cover = footprint_cdf(half_width - d, offset) - footprint_cdf(-half_width - d, offset)
    # where(), not clamp: no gradient at exactly 0 coverage (zero width) on every torch version
    return torch.where(half_width > 0, cover, torch.zeros_like(cover))


def fill_coverage(signed_distance: Tensor, offset: Tensor) -> Tensor:
    """Coverage from the signed distance to the outline (negative inside) and ``offset``
    ``[..., 2]`` (pixel centre minus the closest outline point): ``F(-s)``, the area of the
    pixel inside the outline's tangent line (see :func:`footprint_cdf`)."""
    return footprint_cdf(-signed_distance, offset)


def inside(winding: Tensor, even_odd: Tensor) -> Tensor:
    """Fill rule: nonzero winding, or odd winding where ``even_odd``."""
    return torch.where(even_odd, winding % 2 != 0, winding != 0)
