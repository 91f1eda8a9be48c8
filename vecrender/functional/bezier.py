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


def newton_closest(ctrl: Tensor, p: Tensor, t: Tensor, steps: int) -> Tensor:
    """Refine ``t`` towards the parameter of the point of ``ctrl`` closest to ``p`` (no gradient).

    Newton steps on ``f(t) = (B(t) - p) . B'(t)`` (Gauss-Newton where ``f'`` is not safely
    positive), clamped to [0, 1]; a step is kept only where it decreases the distance, so the
    result is never worse than the start. The cubic is evaluated in power form
    ``((a t + b) t + c) t + d``.
    """
    with torch.no_grad():
        p0, p1, p2, p3 = ctrl.unbind(-2)
        a = p3 - p0 + 3 * (p1 - p2)
        b = 3 * (p0 - 2 * p1 + p2)
        c = 3 * (p1 - p0)
        d = p0 - p
        a3, b2, a6 = 3 * a, 2 * b, 6 * a
        tt = t[..., None]
        q = ((a * tt + b) * tt + c) * tt + d  # B(t) - p
        best = (q * q).sum(-1)
        for _ in range(steps):
            d1 = (a3 * tt + b2) * tt + c
            d2 = a6 * tt + b2
            f = (q * d1).sum(-1)
            speed2 = (d1 * d1).sum(-1)
            fp = speed2 + (q * d2).sum(-1)
            fp = torch.where(fp > 0.25 * speed2, fp, speed2).clamp_min(TINY)
            cand = (t - f / fp).clamp(0, 1)
            ct = cand[..., None]
            qc = ((a * ct + b) * ct + c) * ct + d
            dist_c = (qc * qc).sum(-1)
            better = dist_c < best
            t = torch.where(better, cand, t)
            best = torch.where(better, dist_c, best)
            q = torch.where(better[..., None], qc, q)
            tt = t[..., None]
    return t


def safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last dim with a finite (zero) gradient at 0."""
    return (v * v).sum(-1).clamp_min(TINY).sqrt()


def chord_projection(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Parameter ``u`` in [0, 1] of the point of chord ``a -> b`` closest to ``p`` (no gradient)."""
    with torch.no_grad():
        e = b - a
        len2 = (e * e).sum(-1)
        ok = len2 > TINY
        u = ((p - a) * e).sum(-1) / torch.where(ok, len2, torch.ones_like(len2))
        return torch.where(ok, u.clamp(0, 1), torch.zeros_like(u))


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


def stroke_coverage(distance: Tensor, half_width: Tensor) -> Tensor:
    """Coverage of a pixel whose centre is at ``distance`` from the curve, by a stroke of half-width r.

    The 1-px box filter of the stroke's cross-section: the length of ``[d - 1/2, d + 1/2]``
    inside ``[-r, r]``. Equals ``clamp(r - d + 1/2, 0, 1)`` for ``r >= 1/2`` and gives
    ``2r`` at the centre of thinner lines (0 for zero width).
    """
    hi = torch.minimum(distance + 0.5, half_width)
    lo = torch.maximum(distance - 0.5, -half_width)
    # where(), not clamp: no gradient at exactly 0 coverage (zero width) on every torch version
    return torch.where(hi > lo, hi - lo, torch.zeros_like(hi))


def fill_coverage(signed_distance: Tensor) -> Tensor:
    """Coverage from the signed distance to the outline (negative inside): ``clamp(1/2 - s, 0, 1)``."""
    return (0.5 - signed_distance).clamp(0, 1)


def inside(winding: Tensor, even_odd: Tensor) -> Tensor:
    """Fill rule: nonzero winding, or odd winding where ``even_odd``."""
    return torch.where(even_odd, winding % 2 != 0, winding != 0)
