"""Line caps and joins other than round: the flat ends and sharp corners of SVG strokes.

The stroke model of :func:`~vecrender.functional.bezier.stroke_coverage` measures a pixel's
distance to its closest point on the centre line, which draws every open end as a round cap and
every corner between two segments as a round join. SVG's defaults are butt caps and miter joins
(limit 4), so a stroke styled otherwise is corrected where the style shows:

* **Caps** (an open path's first and last point ``E``, outward direction ``o``): ``butt`` ends
  the stroke on the line through ``E`` across it, ``square`` half a width further. A pixel
  whose closest point is ``E`` is covered by the straight band of half-width ``r`` along ``o``
  cut at that line; a pixel near ``E`` whose closest point lies before it keeps its coverage,
  cut at the same line. A zero-length open path is nothing with ``butt`` and an axis-aligned
  square with ``square`` (SVG's rule).
* **Joins** (the vertex ``V`` between a segment arriving along ``a`` and one leaving along ``b``):
  a pixel whose closest point is ``V`` lies in the outer wedge of the corner; ``miter`` covers
  it within ``r`` of both straight sides, ``bevel``, and ``miter`` beyond its limit
  (``1 / cos(phi / 2) > limit``, ``phi`` the turning angle), also on the inner side of the bevel
  line ``r cos(phi / 2)`` from ``V`` along the corner's bisector.

* **Inner corners** (any join of a styled stroke): near a join, a pixel on the inner side of the
  corner whose closest point lies on one segment may be covered by the other segment too (at the
  inner corner, and beside a short segment's cap); the other segment's straight half-band is
  united with it, as far as that segment stays within ``STRAIGHT_TOLERANCE`` of its tangent at
  the join (:func:`straight_length`; a curve that bends away gets no band beyond). The strokes
  of the vector-sketch methods (round only) keep the one-segment coverage there.

Where two edges cross one pixel (a cap's or a corner's corners) its share inside both is
estimated from its shares inside each (:func:`shared_area`): exact for perpendicular
axis-aligned edges and for parallel ones. Against 16 x 16-supersampled outlines of straight
strokes, the mean alpha error is 2.5-3.7e-4, and 0 for an axis-aligned rectangle (round caps and
joins on the same outlines: 4e-3 to 2e-2; see ``tests/test_stroke_styles.py``).

Shapes: per-pixel tensors ``[...]``; vectors as :data:`~vecrender.functional.bezier.Vec` pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from vecrender.functional.bezier import PIXEL_REACH, Outline, Vec, footprint_cdf, hypot, polyline

CAP_ROUND, CAP_BUTT, CAP_SQUARE = 0, 1, 2
JOIN_ROUND, JOIN_MITER, JOIN_BEVEL = 0, 1, 2
#: Names of the cap and join codes, by code (``LINE_CAPS[CAP_BUTT] == "butt"``).
LINE_CAPS = ("round", "butt", "square")
LINE_JOINS = ("round", "miter", "bevel")
#: SVG's default ``stroke-miterlimit``.
DEFAULT_MITER_LIMIT = 4.0


class StrokeStyle(NamedTuple):
    """The style of each pixel's path: ``cap`` and ``join`` codes (long) and ``miter_limit``."""

    cap: Tensor
    join: Tensor
    miter_limit: Tensor


def is_styled(cap: Tensor, join: Tensor) -> Tensor:
    """Where a stroke has a flat cap or a sharp join (the model of this module applies)."""
    return (cap != CAP_ROUND) | (join != JOIN_ROUND)


def reach_scale(style: Tensor, miter: Tensor) -> Tensor:
    """How far from its centre line a stroke of style ``[..., 3]`` (cap, join, miter limit) can
    cover pixels, as a factor ``[...]`` of ``r + PIXEL_REACH``: 1 for round caps and joins, its
    longest ``miter`` (:func:`longest_miters`) for miter joins, and at least sqrt(2) for the
    others (coverage there is a product of two footprint CDFs, each nonzero up to
    ``PIXEL_REACH`` beyond its edge: at a cap's or a bevel's corners that reaches
    ``sqrt(2) (r + PIXEL_REACH)``)."""
    cap, join, _ = style.unbind(-1)
    scale = torch.where(is_styled(cap, join), 2**0.5, 1.0)
    return torch.where(join == JOIN_MITER, torch.where(miter > scale, miter, scale), scale)


def longest_miters(segs: Tensor, seg_valid: Tensor, following: Tensor, limit: Tensor) -> Tensor:
    """``[B, N]`` the longest miter of each path's joins that stays within its ``limit`` ``[B, N]``,
    in half-widths (``1 / cos(phi / 2)``; 1 where there is none), for segments ``[B, N, S, 4, 2]``
    and the start directions of the segments that follow them (:func:`neighbour_directions`)."""
    cosine = (end_directions(segs)[1] * following[..., :2]).sum(-1)  # none following: 0 (a right angle)
    ratio = 1 / ((1 + cosine) / 2).clamp_min(1e-12).sqrt()
    ratio = torch.where(seg_valid & (ratio <= limit[..., None]), ratio, torch.ones_like(ratio))
    return ratio.amax(-1)


def end_directions(segs: Tensor) -> tuple[Tensor, Tensor]:
    """Unit directions of travel ``[..., 2]`` of segments ``[..., 4, 2]`` at their start and end:
    towards the first control point that differs from the end point (zero for a segment whose
    points all coincide)."""
    p0, p1, p2, p3 = segs.unbind(-2)

    def first_distinct(*candidates: Tensor) -> Tensor:
        out = candidates[-1]
        for c in reversed(candidates[:-1]):
            out = torch.where(((c * c).sum(-1) > 1e-10)[..., None], c, out)
        length = hypot(*out.unbind(-1))
        return torch.where((length > 1e-5)[..., None], out / length[..., None], torch.zeros_like(out))

    return first_distinct(p1 - p0, p2 - p0, p3 - p0), first_distinct(p3 - p2, p3 - p1, p3 - p0)


#: How far (px) a segment may leave its tangent at a join while its straight half-band stands in
#: for it at the inner corner (:func:`straight_length`).
STRAIGHT_TOLERANCE = 0.25


def straight_length(segs: Tensor, direction: Tensor) -> Tensor:
    """``[...]``: how far along the unit ``direction`` ``[..., 2]`` (its direction at its start)
    each segment ``[..., 4, 2]`` runs from its start while staying within ``STRAIGHT_TOLERANCE``
    of the line there (its whole extent along it when it never leaves; sampled at 16 points)."""
    run = polyline(segs, 16)[..., 1:, :] - segs[..., :1, :]  # [..., 16, 2] from the start
    (rx, ry), (ux, uy) = run.unbind(-1), (direction[..., None, 0], direction[..., None, 1])
    along, aside = rx * ux + ry * uy, (rx * uy - ry * ux).abs()
    straight = (aside <= STRAIGHT_TOLERANCE).cumprod(-1).bool()  # up to the first sample that strays
    return torch.where(straight, along, torch.zeros_like(along)).amax(-1).clamp_min(0)


def neighbour_directions(segs: Tensor, closed: Tensor, num_segments: Tensor,
                         subpath_starts: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per segment ``[B, N, S, 3]``: the start direction of the segment that follows it and the
    end direction of the one before it on the same path (around its subpath when closed), each
    with how far that segment runs straight from the join (:func:`straight_length`); zero where
    there is none (an open path's ends). ``segs`` from
    :func:`~vecrender.functional.bezier.path_segments`, flags ``[B, N]``, starts ``[B, N, S]``."""
    following, preceding, has_next, has_prev = _neighbours(segs.shape[2], closed, num_segments, subpath_starts)
    start_dir, end_dir = end_directions(segs)
    start_dir = torch.cat([start_dir, straight_length(segs, start_dir)[..., None]], -1)
    end_dir = torch.cat([end_dir, straight_length(segs.flip(-2), -end_dir)[..., None]], -1)
    next_start = start_dir.gather(2, following[..., None].expand(*following.shape, 3))
    prev_end = end_dir.gather(2, preceding[..., None].expand(*preceding.shape, 3))
    zero = torch.zeros_like(next_start)
    return torch.where(has_next[..., None], next_start, zero), torch.where(has_prev[..., None], prev_end, zero)


def segments_before(num_seg: int, closed: Tensor, num_segments: Tensor, subpath_starts: Tensor | None) -> Tensor:
    """``[B, N, S]``: the segment that ends where each segment starts (around its subpath when
    closed), -1 where none does (an open path's start, padding); flags ``[B, N]``, starts
    ``[B, N, S]`` as :func:`neighbour_directions` takes them."""
    _, preceding, _, has_prev = _neighbours(num_seg, closed, num_segments, subpath_starts)
    return torch.where(has_prev, preceding, -1)


def _neighbours(num_seg: int, closed: Tensor, num_segments: Tensor, subpath_starts: Tensor | None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The segment after and before each segment ``[B, N, S]`` (or ``[S]``) on its subpath, and
    whether there is one (``[B, N, S]``): not at an open path's ends, nor for padding."""
    k = torch.arange(num_seg, device=num_segments.device)
    starts = (k == 0) if subpath_starts is None else subpath_starts | (k == 0)  # [B, N, S] or [S]
    valid = k < num_segments[..., None]
    ends = torch.cat([starts[..., 1:], torch.ones_like(starts[..., :1])], -1) | (k == num_segments[..., None] - 1)
    first = torch.where(starts, k, torch.zeros_like(k)).cummax(-1).values  # its subpath's first segment
    last = torch.where(ends, k, torch.full_like(k, num_seg)).flip(-1).cummin(-1).values.flip(-1)
    closed = closed[..., None]
    following = torch.where(ends, first, (k + 1).clamp_max(num_seg - 1))
    preceding = torch.where(starts, last.clamp_max(num_seg - 1), (k - 1).clamp_min(0))
    return following, preceding, valid & (~ends | closed), valid & (~starts | closed)


def vertex_owner(seg: Tensor, t: Tensor, before: Tensor) -> tuple[Tensor, Tensor]:
    """A closest point at a join belongs to the segment that ends there: ``(seg, t)`` with
    ``t = 0`` on a segment that has one ``before`` it (its index, -1: none) becomes
    ``(before, 1)``, the same point. Every renderer breaks that tie alike: the two segments'
    other ends, whose inner corners a pixel there may also meet, differ."""
    move = (t <= 0) & (before >= 0)
    return torch.where(move, before, seg), torch.where(move, torch.ones_like(t), t)


def shared_area(a: Tensor, b: Tensor, cosine: Tensor) -> Tensor:
    """Share of a pixel inside two regions that hold shares ``a`` and ``b`` of it and whose edges'
    normals make an angle of the given ``cosine``. A pixel's coordinates along perpendicular
    directions are independent (its covariance is isotropic), so perpendicular edges give the
    product, exact for axis-aligned ones; parallel edges give the smaller share (the same side)
    or ``a + b - 1`` (opposite sides); other angles interpolate by ``|cosine|``."""
    product = a * b
    bound = torch.where(cosine >= 0, torch.where(a <= b, a, b), (a + b - 1).clamp_min(0))
    return product + cosine.abs() * (bound - product)


def band(distance: Tensor, normal: Vec, half_width: Tensor) -> Tensor:
    """Share of a pixel inside a straight band of ``half_width`` whose centre line lies
    ``distance >= 0`` away along the unit ``normal`` (pointing from the line to the pixel)."""
    return footprint_cdf(half_width - distance, normal) - footprint_cdf(-half_width - distance, normal)


def _toward(offset: Vec, direction: Vec) -> tuple[Tensor, Vec]:
    """Distance of a pixel at ``offset`` from the line through the origin along unit
    ``direction``, and the line's normal towards the pixel."""
    (dx, dy), (tx, ty) = offset, direction
    w = tx * dy - ty * dx
    sign = torch.where(w >= 0, 1.0, -1.0)
    return w.abs(), (-ty * sign, tx * sign)


def _side_band(offset: Vec, direction: Vec, half_width: Tensor) -> tuple[Tensor, Vec]:
    """``band`` of the straight line through the origin along unit ``direction``, for a pixel at
    ``offset`` from the origin, and the band's normal towards the pixel."""
    distance, normal = _toward(offset, direction)
    return band(distance, normal, half_width), normal


def _unit_or_x(v: Vec, ok: Tensor) -> Vec:
    """``v`` where ``ok``, else (1, 0): every direction the footprint sees must be a unit vector,
    also in branches that ``where`` discards (their gradients would be NaN, and 0 * NaN is NaN)."""
    return torch.where(ok, v[0], 1.0), torch.where(ok, v[1], 0.0)


def cap_coverage(cover: Tensor, offset: Vec, outward: Vec, half_width: Tensor, extend: Tensor,
                 at_end: Tensor) -> Tensor:
    """Coverage near a flat cap: ``offset`` is the pixel minus the end point, ``outward`` the unit
    direction leaving the stroke there, ``extend`` 0 (butt) or ``r`` (square); pixels whose
    closest point is the end (``at_end``) get the straight band cut at the cap, the others their
    ``cover`` cut at it."""
    (dx, dy), (ox, oy) = offset, outward
    cut = footprint_cdf(extend - (dx * ox + dy * oy), outward)
    return torch.where(at_end, _side_band(offset, outward, half_width)[0], cover) * cut


def join_coverage(offset: Vec, incoming: Vec, outgoing: Vec, half_width: Tensor, limit: Tensor,
                  bevel: Tensor) -> Tensor:
    """Coverage of a pixel at ``offset`` from a vertex in the outer wedge of its corner, between a
    segment arriving along unit ``incoming`` and one leaving along ``outgoing``: a miter, or a
    bevel where ``bevel`` or the miter is longer than ``limit`` half-widths."""
    (ax, ay), (bx, by) = incoming, outgoing
    (side_a, (nax, nay)), (side_b, (nbx, nby)) = (_side_band(offset, d, half_width) for d in (incoming, outgoing))
    cover = shared_area(side_a, side_b, nax * nbx + nay * nby)
    cos_half = ((1 + ax * bx + ay * by) / 2).clamp_min(1e-12).sqrt()
    mx, my = ax - bx, ay - by  # the outer bisector (defined for hairpins too)
    length = hypot(mx, my)
    bisector = _unit_or_x((mx / length, my / length), length > 1e-6)
    cut = footprint_cdf(half_width * cos_half - (offset[0] * bisector[0] + offset[1] * bisector[1]), bisector)
    cut_here = (bevel | (cos_half * limit < 1)) & (length > 1e-6)
    return torch.where(cut_here, shared_area(cover, cut, cos_half), cover)


def styled_coverage(cover: Tensor, p: Vec, distance: Tensor, ctrl: Tensor, outline: Outline, half_width: Tensor,
                    style: StrokeStyle, preceding: tuple[Tensor, Tensor, Tensor],
                    following: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """The round-cap, round-join ``cover`` of pixels ``p`` corrected for their path's ``style``.

    ``distance``: from each pixel to its closest point, on the segment ``ctrl`` ``[..., 4, 2]``;
    ``outline`` there (:func:`~vecrender.functional.bezier.closest_point`); ``preceding`` /
    ``following``: the direction of travel (x, y) of the segment before that one at its start /
    after it at its end, and how far it runs straight from there (zero at an open path's ends;
    :func:`neighbour_directions`).
    """
    forward, r = outline.forward, half_width
    (sx, sy), (ex, ey) = (d.unbind(-1) for d in end_directions(ctrl))
    has_start, has_end = sx * sx + sy * sy > 0.25, ex * ex + ey * ey > 0.25
    start_dir, end_dir = _unit_or_x((sx, sy), has_start), _unit_or_x((ex, ey), has_end)
    (*preceding, straight_before), (*following, straight_after) = preceding, following
    has_before = preceding[0] ** 2 + preceding[1] ** 2 > 0.25
    has_after = following[0] ** 2 + following[1] ** 2 > 0.25
    preceding, following = _unit_or_x(preceding, has_before), _unit_or_x(following, has_after)
    # the nearer end: offset from it, travel there, and the other segment's travel there
    first = (p[0] - ctrl[..., 0, 0], p[1] - ctrl[..., 0, 1])
    last = (p[0] - ctrl[..., 3, 0], p[1] - ctrl[..., 3, 1])
    offset, own, other = (tuple(torch.where(forward, b, a) for a, b in zip(*pair))
                          for pair in ((first, last), (start_dir, end_dir), (preceding, following)))
    has_own, has_other = torch.where(forward, has_end, has_start), torch.where(forward, has_after, has_before)
    # caps: only near the end, so another part of the stroke that crosses the cap line stays whole
    flat = outline.open_end & (style.cap != CAP_ROUND)
    extend = torch.where(style.cap == CAP_SQUARE, r, torch.zeros_like(r))
    near = offset[0] ** 2 + offset[1] ** 2 <= (r + PIXEL_REACH) ** 2 + (extend + PIXEL_REACH) ** 2
    outward = tuple(torch.where(forward, c, -c) for c in own)
    capped = cap_coverage(cover, offset, outward, r, extend, outline.at_end)
    # a zero-length open path: nothing (butt) or an axis-aligned square (square)
    square = band(offset[0].abs(), (torch.ones_like(r), torch.zeros_like(r)), r) * band(
        offset[1].abs(), (torch.zeros_like(r), torch.ones_like(r)), r)
    dot = torch.where(style.cap == CAP_SQUARE, square, torch.zeros_like(square))
    is_dot = outline.toward_end[0] ** 2 + outline.toward_end[1] ** 2 < 0.25
    cover = torch.where(flat & (near | outline.at_end), torch.where(is_dot, dot, capped), cover)
    # joins: pixels whose closest point is the vertex
    sharp = outline.at_end & ~outline.open_end & (style.join != JOIN_ROUND) & has_own & has_other
    incoming = tuple(torch.where(forward, o, n) for o, n in zip(own, other))
    outgoing = tuple(torch.where(forward, n, o) for o, n in zip(own, other))
    joined = join_coverage(offset, incoming, outgoing, r, style.miter_limit, style.join == JOIN_BEVEL)
    cover = torch.where(sharp, joined, cover)
    # inner corners: near a join at either end, a pixel closest to this segment may be covered by
    # the segment on the other side too (a short segment's cap pixels included); only within the
    # reach the CPU path keeps for styled pixels, sqrt(2) (r + PIXEL_REACH)
    styled = is_styled(style.cap, style.join) & (distance < 2**0.5 * (r + PIXEL_REACH))
    for vertex, back, away, straight, there in (
            (first, start_dir, tuple(-c for c in preceding), straight_before, has_start & has_before),
            (last, tuple(-c for c in end_dir), following, straight_after, has_end & has_after)):
        # not where the vertex is the closest point (the outer wedge: the join's)
        apart = vertex[0] ** 2 + vertex[1] ** 2 > (distance + 1e-6) ** 2
        corner = styled & there & apart
        cover = torch.where(corner, inner_corner_coverage(cover, vertex, back, away, r, straight), cover)
    return cover


#: How far from a join (in ``r + PIXEL_REACH``) its inner corner is looked after, at most:
#: corners sharper than ~30 degrees, whose inner corner lies farther, keep the one-segment
#: coverage beyond.
CORNER_REACH = 4.0


def inner_corner_coverage(cover: Tensor, offset: Vec, back: Vec, away: Vec, half_width: Tensor,
                          straight: Tensor) -> Tensor:
    """``cover`` (by the segment running ``back`` from a join, unit direction) of a pixel at
    ``offset`` from the join, united with the straight half-band of the segment leaving along
    ``away`` over the ``straight`` length where it runs straight (:func:`straight_length`),
    where the pixel lies on the inner side of the corner and near it (within
    ``(r + PIXEL_REACH) / sin(theta / 2)``, ``theta`` the corner's angle: the inner corner's
    distance, at most ``CORNER_REACH (r + PIXEL_REACH)``, where the straight sides stand in for
    the curves). The shares combine as :func:`shared_area` estimates their overlap."""
    (dx, dy), (bx, by), (ux, uy) = offset, back, away
    inner = (ux * dy - uy * dx) * (ux * by - uy * bx) > 0  # on the side of `away` where `back` lies
    sin_half = ((1 - bx * ux - by * uy) / 2).clamp_min(1e-12).sqrt()
    reach = (half_width + PIXEL_REACH) / sin_half.clamp_min(1 / CORNER_REACH)
    near = dx * dx + dy * dy <= reach * reach
    other, (nx, ny) = _side_band(offset, away, half_width)
    along = dx * ux + dy * uy
    other = other * footprint_cdf(along, away) * footprint_cdf(straight - along, away)  # after the join, while straight
    _, (mx, my) = _toward(offset, back)  # this segment's edge normal, as straight
    union = cover + other - shared_area(cover, other, mx * nx + my * ny)
    return torch.where(inner & near, union, cover)
