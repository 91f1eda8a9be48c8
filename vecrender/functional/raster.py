"""The reference rasteriser and compositing: the specification the native renderer is tested against.

Coverage model (shared by ``render_reference`` and ``render_native``; pixel ``(i, j)`` is the unit
square ``[j, j + 1] x [i, i + 1]`` with centre ``p = (j + 1/2, i + 1/2)``):

* **Pixel footprint.** ``F_n(x)``: the area of the pixel on the inner side of a straight edge at
  offset ``x`` from its centre with normal ``n`` (the CDF of the pixel projected on ``n``, a
  trapezoid; :func:`~vecrender.functional.bezier.footprint_cdf`). Exact for any angle.
* **Strokes.** ``q = B(t*)`` is the closest point of the path (the union of its valid cubic
  segments; each subpath of a closed path ends at its first point), ``o = p - q``, ``d = |o|``,
  ``n = o / d``. With half-width ``r = width / 2`` the coverage is the area of the pixel inside the
  band ``[-r, r]`` around the tangent line at ``q``: ``c = F_n(r - d) - F_n(-r - d)`` (0 for
  width 0). Exact for straight strokes of any width; round caps and joins follow from using the
  closest point of the whole curve.
* **Outline curvature** (``curvature``, default on). The signed area between that tangent line
  and the outline inside the pixel is added, to second order along the chord the line cuts from
  the pixel: the arc of a round cap (radius ``r``), the bend of a curved side (``k / (1 - r k)``,
  ``k`` the centre line's curvature towards it), joined continuously where the side meets the cap
  (:func:`~vecrender.functional.bezier.outline_sliver`).
* **Caps and joins** (``stroke_style``, default round). Flat caps (butt, square) and sharp joins
  (miter within its limit, bevel) correct the coverage of pixels near an open end or whose
  closest point is a vertex between segments (:mod:`vecrender.functional.styles`).
* **Closest point.** ``t*`` is found without gradient (reference: 4 Newton steps from each of 64
  uniform samples per segment, then the best polished; native: 3 Newton steps from the closest
  chord of the 16-chord flattening and from the closest chord that is neither it nor its
  neighbour on the same segment, best result). The offset ``o`` carries the gradient of the
  closest point, ``t*``'s motion included (implicit function theorem,
  :func:`~vecrender.functional.bezier.closest_point`), which the footprint's orientation needs.
  A path whose points all coincide is a disc (:func:`~vecrender.functional.bezier.path_dots`).
* **Fills** (closed paths with ``fill_colors``). Each segment is flattened into
  ``segments_per_curve`` chords at uniform ``t`` (default 16; the chords are within
  ``0.75 M / L^2`` px of the curve, ``M`` the largest second difference of the control points).
  Inside-ness is the winding number of ``p`` around that polygon (nonzero, or even-odd where
  ``even_odd``). Near its closest chord the outline is the parabola through the chord's ends and
  the curve at its middle parameter (third-order close to the curve); ``s`` is the signed
  distance to that (negative inside), ``n`` the direction from its closest point, and
  ``c = F_n(-s)`` where that chord is an edge of the fill
  (:func:`~vecrender.functional.bezier.chord_edge_coverage`); else (both sides filled alike: a
  self-crossing outline or overlapping subpaths) ``c`` is 1 or 0
  (:func:`~vecrender.functional.bezier.fill_edge`). Within a pixel of a second edge (the
  closest chord that is neither the first nor its neighbour on the same segment: a corner, the
  other side of a sliver or a gap) ``c`` is the exact share on both filled sides of the two
  chords' lines, or on either; where the chords cross, the share of the filled ones of the four
  quadrants they cut (:func:`~vecrender.functional.bezier.second_edge_coverage`). ``c`` is at
  most the share of the pixel inside the box of the path's control points, which holds the fill
  (:func:`~vecrender.functional.bezier.box_share`): exact for a rectangle smaller than a pixel,
  whose two edges per axis the model cannot all see.
* **Colour and order.** A layer's alpha is ``c * colour_alpha``; its premultiplied colour is
  ``rgb * alpha``. A gradient paint's colour is its mean over the pixel
  (:mod:`vecrender.functional.paints`). Layers are composited with "over" in path order, each
  path's fill below its stroke: ``out = layer + (1 - layer_alpha) * out``. The result is
  premultiplied RGBA.

Closest points are computed for pixel centres only (one evaluation per pixel), so nothing is random
and the gradient is that of the smooth coverage, dense over the anti-aliased band of every edge.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vecrender.functional.bezier import (
    Outline,
    Vec,
    box_share,
    chord_edge_coverage,
    chord_offset,
    closest_point,
    fills_left,
    hypot,
    newton_closest,
    path_dots,
    path_flags,
    path_segments,
    polyline,
    safe_norm,
    second_edge_coverage,
    segment_basin,
    stroke_coverage,
    subpath_first,
    winding_number,
)
from vecrender.functional.paints import FILL, STROKE, Gradients, paint_colors
from vecrender.functional.styles import (
    StrokeStyle,
    neighbour_directions,
    segments_before,
    styled_coverage,
    vertex_owner,
)

#: Chords per cubic of the fill polygon (part of the coverage model: both renderers use it).
SEGMENTS_PER_CURVE = 16


def pixel_centres(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``[H * W, 2]`` (x, y) pixel centres in row-major order."""
    ys = torch.arange(height, device=device, dtype=dtype) + 0.5
    xs = torch.arange(width, device=device, dtype=dtype) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)


def render_reference(
    points: Tensor,
    widths: Tensor,
    stroke_colors: Tensor,
    fill_colors: Tensor | None,
    closed: Tensor,
    num_segments: Tensor,
    even_odd: Tensor,
    height: int,
    width: int,
    *,
    subpath_starts: Tensor | None = None,
    stroke_style: Tensor | None = None,
    gradients: Gradients | None = None,
    segments_per_curve: int = SEGMENTS_PER_CURVE,
    samples: int = 64,
    newton_steps: int = 4,
    curvature: bool = True,
) -> Tensor:
    """Premultiplied RGBA ``[B, 4, H, W]`` of ``B`` scenes of ``N`` paths (see the module docstring).

    points ``[B, N, P, 2]``, widths ``[B, N]`` (full width), stroke_colors ``[B, N, 4]``,
    fill_colors ``[B, N, 4]`` or None, closed / num_segments / even_odd ``[N]`` or ``[B, N]``,
    subpath_starts ``[N, S]`` / ``[B, N, S]`` or None (one subpath per path; see
    :class:`vecrender.VectorScene`), stroke_style ``[N, 3]`` / ``[B, N, 3]`` (cap code, join code,
    miter limit; :mod:`vecrender.functional.styles`) or None (round caps and joins), gradients
    :class:`~vecrender.functional.paints.Gradients` ``[B, N, 2, ...]`` or None (flat paints).
    ``curvature``: add the outline's curvature inside a pixel (round caps, bends) to second
    order (``stroke_coverage``'s outline). Plain and slow (every path against every pixel); use it
    to check other renderers.
    """
    batch, num_paths = points.shape[:2]
    closed, num_segments, even_odd = (path_flags(f, batch, points.device) for f in (closed, num_segments, even_odd))
    if subpath_starts is not None:
        subpath_starts = path_flags(subpath_starts, batch, points.device, per_path_dims=1)
    pix = pixel_centres(height, width, points.device, points.dtype)  # [HW, 2]
    segs, seg_valid = path_segments(points, closed, num_segments, subpath_starts)
    subpaths = None if subpath_starts is None else subpath_first(subpath_starts)  # [B, N, S]
    dots = path_dots(segs.detach(), seg_valid)  # [B, N]
    if stroke_style is not None:
        stroke_style = path_flags(stroke_style, batch, points.device, per_path_dims=1)
        following, preceding = neighbour_directions(segs, closed, num_segments, subpath_starts)
        before = segments_before(segs.shape[2], closed, num_segments, subpath_starts)
    images = []
    for b in range(batch):
        out = torch.zeros(1, height * width, 4, device=points.device, dtype=points.dtype)
        for n in range(num_paths):
            ctrl = segs[b : b + 1, n, : int(num_segments[b, n])]  # [1, s, 4, 2]
            if fill_colors is not None and bool(closed[b, n]):
                cov = _fill_coverage(ctrl, pix, bool(even_odd[b, n]), segments_per_curve,
                                     None if subpaths is None else subpaths[b : b + 1, n, : ctrl.shape[1]])
                color = _paint(fill_colors[b, n], gradients, (b, n, FILL), pix)
                out = _over(out, cov * color[..., 3], color[..., :3])
            offset, ends, seg, best = _stroke_offset(ctrl, pix, bool(closed[b, n]), dots[b, n], samples,
                                                     newton_steps, None if stroke_style is None else before[b, n])
            cov = stroke_coverage(offset, widths[b, n] / 2, ends if curvature else None)
            if stroke_style is not None:
                cap, join, limit = stroke_style[b, n]
                cov = styled_coverage(cov, pix[None].unbind(-1), hypot(*offset), seg, ends, widths[b, n] / 2,
                                      StrokeStyle(cap, join, limit), preceding[b, n][best].unbind(-1),
                                      following[b, n][best].unbind(-1))
            color = _paint(stroke_colors[b, n], gradients, (b, n, STROKE), pix)
            out = _over(out, cov * color[..., 3], color[..., :3])
        images.append(out)
    if not images:
        return torch.zeros(0, 4, height, width, device=points.device, dtype=points.dtype)
    return torch.cat(images).transpose(1, 2).reshape(batch, 4, height, width)


def _paint(flat: Tensor, gradients: Gradients | None, index: tuple[int, int, int], pix: Tensor) -> Tensor:
    """Straight RGBA of one path's paint (``index``: scene, path, role) at the pixels ``pix``
    ``[HW, 2]``: ``[HW, 4]``, or its flat colour ``flat`` ``[4]``."""
    if gradients is None:
        return flat
    b, n, role = index
    return paint_colors(flat, Gradients(*(t[b, n] for t in gradients)).role(role), pix, pixel=1.0)


def _over(below: Tensor, alpha: Tensor, rgb: Tensor) -> Tensor:
    """Composite a layer of straight ``rgb`` ``[3]`` or ``[HW, 3]`` at ``alpha`` ``[1, HW]`` over
    premultiplied ``below``."""
    layer = torch.cat([rgb * alpha[..., None], alpha[..., None]], dim=-1)
    return layer + (1 - alpha[..., None]) * below


def _stroke_offset(ctrl: Tensor, pix: Tensor, closed: bool, dot: Tensor, samples: int, newton_steps: int,
                   before: Tensor | None = None) -> tuple[Vec, Outline, Tensor, Tensor]:
    """Pixel centre minus its closest point (``[B, HW]`` components) on the union of the segments
    ``[B, s, 4, 2]`` of one path (a zero-length one where ``dot``, a bool scalar tensor), the
    outline there (``closest_point``), and that point's segment (``[B, HW, 4, 2]``, and its index
    ``[B, HW]``). ``before`` ``[S]``: the path's :func:`segments_before`, for styled strokes: a
    join's vertex is the segment's that ends there (:func:`vertex_owner`)."""
    t_grid = torch.linspace(0, 1, samples, device=pix.device, dtype=pix.dtype)
    with torch.no_grad():  # Newton from every sample of every segment: finds every local minimum
        ts, d2s = [], []
        for k in range(ctrl.shape[1]):
            seg = ctrl[:, k, None, None].detach()  # [B, 1, 1, 4, 2]
            start = t_grid.expand(ctrl.shape[0], pix.shape[0], samples)
            t_all, d2, _ = newton_closest(seg, pix[None, :, None], start, newton_steps)
            t = t_all.gather(-1, d2.argmin(-1, keepdim=True))  # [B, HW, 1]
            # polish the winner: samples that reached the same minimum tie on distance up to
            # rounding, so the pick may be a less converged one
            t, d2, _ = newton_closest(seg, pix[None, :, None], t, newton_steps)
            ts.append(t)
            d2s.append(d2)
        best = torch.cat(d2s, -1).argmin(-1)  # [B, HW] segment
        t = torch.cat(ts, -1).gather(-1, best[..., None]).squeeze(-1)
        if before is not None:
            best, t = vertex_owner(best, t, before[best])
    # index_select, not advanced indexing: its CPU backward (index_add) sums in a fixed order
    rows = torch.arange(ctrl.shape[0], device=ctrl.device)[:, None] * ctrl.shape[1] + best  # [B, HW]
    seg = ctrl.flatten(0, 1).index_select(0, rows.reshape(-1)).view(*best.shape, 4, 2)  # [B, HW, 4, 2]
    at_start = (best == 0) & (not closed)
    at_end = (best == ctrl.shape[1] - 1) & (not closed)
    return *closest_point(seg, pix[None], t, at_start, at_end, dot.expand_as(t)), seg, best


def _fill_coverage(ctrl: Tensor, pix: Tensor, even_odd: bool, chords: int, subpaths: Tensor | None) -> Tensor:
    """``[B, HW]`` fill coverage of the closed outline made of segments ``ctrl`` ``[B, s, 4, 2]``
    (``subpaths`` ``[B, s]``: each one's subpath, :func:`~vecrender.functional.bezier.subpath_first`)."""
    halves = polyline(ctrl, 2 * chords)  # [B, s, 2L+1, 2]: the chords' ends and middles
    a, mid, b = (halves[:, :, k : k + 2 * chords : 2].reshape(ctrl.shape[0], -1, 2) for k in range(3))  # [B, C, 2]
    p = pix[None, :, None]  # [1, HW, 1, 2]
    winding = winding_number(p, a[:, None], b[:, None])  # [B, HW]
    with torch.no_grad():
        dist = safe_norm(chord_offset(p, a[:, None], b[:, None]))  # [B, HW, C]
        nearest = dist.argmin(-1, keepdim=True)  # [B, HW, 1]; then the closest outside its basin
        second = dist.scatter(-1, segment_basin(nearest, chords), torch.inf).argmin(-1, keepdim=True)
        left = fills_left(a, b, chords, subpaths=subpaths).gather(1, nearest[..., 0])  # [B, HW]
    first = _pick(nearest, a, mid, b)
    rule = torch.tensor(even_odd, device=pix.device)
    coverage, edge = chord_edge_coverage(pix[None], first, winding, rule)
    coverage = second_edge_coverage(coverage, edge, winding, rule, pix[None], first, _pick(second, a, mid, b),
                                    (nearest[..., 0], second[..., 0]), chords, left)
    return torch.minimum(coverage, box_share(pix[None], ctrl.amin((1, 2))[:, None], ctrl.amax((1, 2))[:, None]))


def _pick(index: Tensor, *points: Tensor) -> tuple[Tensor, ...]:
    """The rows ``index`` ``[B, HW, 1]`` of per-chord points ``[B, C, 2]``, each ``[B, HW, 2]``."""
    pick = index.expand(*index.shape[:-1], 2)
    return tuple(p.gather(1, pick) for p in points)


def composite(rgba: Tensor, background: tuple[float, float, float] | Tensor | None) -> Tensor:
    """Premultiplied ``[B, 4, H, W]`` over an opaque RGB background -> ``[B, 3, H, W]``.

    ``background``: one RGB colour (a tuple or a ``[3]`` tensor) for every image, a ``[B, 3]``
    tensor with one per image, or ``None``: the premultiplied colour unchanged (i.e. over black).
    """
    rgb, alpha = rgba.split([3, 1], dim=1)  # one gradient copy (slices would each zero-fill one)
    if background is None:
        return rgb
    if isinstance(background, Tensor):
        bg = background.to(rgba).reshape(-1, 3, 1, 1)
    else:  # filled on the device: no host-to-device copy (keeps CUDA renders synchronisation-free)
        bg = torch.cat([rgba.new_full((1, 1, 1, 1), float(c)) for c in background], dim=1)
    return rgb + (1 - alpha) * bg
