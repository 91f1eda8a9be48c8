"""The native renderer: the coverage model of :mod:`vecrender.functional.raster`, tiled and batched.

How it stays fast and bounded:

1. **Binning.** The canvas is cut into ``tile_size`` squares. A stroke overlaps a tile when a
   box around one of its chords (4 per segment, grown by the half-width, 1 px and the chords'
   error bound) meets the tile; a fill when its control-point box grown by 1 px does. Only
   (tile, path) pairs are ever evaluated, so the work follows what is drawn, not
   ``paths x pixels``. With dynamic shapes each box lists the tiles it meets; with static ones
   a difference array counts the boxes over every tile (no host read-back).
2. **Closest points, no gradient.** For each pair and pixel, the closest chord of the path's
   ``segments_per_curve``-chord flattening (polyline) gives a segment and a start parameter;
   ``newton_steps`` Newton steps on the cubic refine it. This is done in chunks of at most
   ``chunk_elements`` pixel-chord evaluations, so peak memory is bounded whatever the canvas
   and path count. With dynamic shapes, paths whose segment counts differ widely are evaluated
   in groups of similar length (:func:`_segment_buckets`), so short paths do not pay for the
   padding of the longest, and each pair of a long path searches only the segments within
   reach of its tile (:func:`_segment_windows`), so a 1000-segment outline costs per tile what
   its few nearby segments cost.
3. **Coverage, with gradient.** Only the offset ``p - B(t*)`` (and, for fills, the offset to
   the closest chord) is evaluated with autograd: one point per pixel and pair.
4. **Compositing.** Layers (fill then stroke per path) are combined with "over" by a balanced
   tree of pairwise merges (``log2`` levels, no Python loop over paths, exact gradients without
   divisions).

Dynamic shapes (the CPU, and paths of many segments anywhere: :func:`dynamic_shapes`): only
the (tile, path) pairs that overlap, inside them only the pixels a stroke can reach, and only
covered (pixel, layer) entries are kept; each pixel's entries are merged on their own
(:func:`_composite_entries`). Static shapes (GPUs, short paths): bins of the fixed size
``K = min(N, tile_capacity)`` per tile, merged per tile, and a render never synchronises with
the host; a tile overlapped by more paths than that cannot be drawn and comes out NaN, so a run
fails loudly instead of drawing a wrong image (``tile_capacity`` 0: exact bins at the cost of
reading one integer back from the device per render). :class:`TileCapacity` fits ``K`` to the
scenes as they change (the renderer's default), from :func:`tile_occupancy`.

Shapes as in :func:`vecrender.functional.raster.render_reference`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from vecrender.functional.bezier import (
    box_share,
    PIXEL_REACH,
    SECOND_EDGE_FAR,
    TINY,
    chord_edge_coverage,
    closest_point,
    evaluate,
    fills_left,
    hypot,
    inside,
    newton_closest,
    path_dots,
    path_flags,
    path_segments,
    polyline,
    ray_crossings,
    safe_norm,
    second_edge_coverage,
    segment_basin,
    stroke_coverage,
    subpath_first,
    unit_normal,
    winding_number,
)
from vecrender.functional.paints import FILL, STROKE, Gradients, paint_colors
from vecrender.functional.raster import SEGMENTS_PER_CURVE
from vecrender.functional.styles import (
    CAP_ROUND,
    CORNER_REACH,
    StrokeStyle,
    is_styled,
    longest_miters,
    neighbour_directions,
    reach_scale,
    segments_before,
    styled_coverage,
    vertex_owner,
)


def render_native(
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
    tile_size: int = 8,
    segments_per_curve: int = SEGMENTS_PER_CURVE,
    newton_steps: int = 3,
    tile_capacity: int = 64,
    chunk_elements: int | None = None,
    shapes: str = "auto",
    curvature: bool = True,
) -> Tensor:
    """Premultiplied RGBA ``[B, 4, H, W]``; same inputs and coverage as ``render_reference``.

    ``tile_size``: pixels per tile side; ``segments_per_curve``: chords of the flattening used to
    find closest points and as the fill outline; ``newton_steps``: closest-point refinement;
    ``tile_capacity``: GPU bin size (> 0: fixed, no host synchronisation; 0: exact, one read
    back; dynamic shapes always use exact bins; see the module docstring); ``chunk_elements``:
    pixel x chord evaluations per chunk (all chords with static shapes, the 4 per segment that
    pre-select pixels with dynamic ones; default 2**20 on the CPU, 2**26 on GPUs);
    ``shapes``: ``"dynamic"`` (exact bins, skips unreachable pixels, per-pixel compositing;
    data-dependent shapes), ``"static"`` (the GPU scheme) or ``"auto"`` (dynamic on the CPU and
    for long paths, static elsewhere: :func:`dynamic_shapes`); ``curvature``: the outline's
    curvature inside a pixel (round caps, bends) to second order, as in ``render_reference``;
    ``stroke_style``: caps, joins and miter limits as in ``render_reference`` (None: round caps
    and joins); ``gradients``: gradient paints as in ``render_reference`` (None: flat colours).
    """
    batch, num_paths = points.shape[:2]
    device = points.device
    if num_paths == 0:
        return _empty(points, widths, stroke_colors, fill_colors, height, width)
    dynamic = dynamic_shapes(points, shapes)
    if chunk_elements is None:
        chunk_elements = 1 << (20 if device.type == "cpu" else 26)
    paths = _Paths(points, widths, stroke_colors, fill_colors, closed, num_segments, even_odd, subpath_starts,
                   stroke_style, gradients)
    options = _PassOptions(height, width, tile_size, segments_per_curve, newton_steps, tile_capacity,
                           chunk_elements, dynamic, curvature)
    tiles_y, tiles_x = math.ceil(height / tile_size), math.ceil(width / tile_size)
    size = (batch, tiles_y * tile_size, tiles_x * tile_size)
    buckets = _segment_buckets(num_segments, points.shape[2]) if dynamic else None
    if buckets is not None:
        entries = _bucketed_entries(paths, buckets, options)
        image = None if entries is None else _composite_entries(*entries, size)
    else:
        drawn = _pair_pass(paths, options)
        if drawn is None:
            image = None
        elif dynamic:
            image = _composite_entries(*drawn[1][:2], size)
        else:
            tiles = _composite_tiles(drawn[1], drawn[0], batch * tiles_y * tiles_x)
            image = tiles.view(batch, tiles_y, tiles_x, tile_size, tile_size, 4)
            image = image.permute(0, 5, 1, 3, 2, 4).reshape(batch, 4, *size[1:])
    if image is None:
        return _empty(points, widths, stroke_colors, fill_colors, height, width)
    return image if size[1:] == (height, width) else image[:, :, :height, :width]


class _Paths(NamedTuple):
    """``render_native``'s per-path inputs (``[B, N, ...]``, the flags and styles ``[N, ...]`` or
    ``[B, N, ...]``)."""

    points: Tensor
    widths: Tensor
    stroke_colors: Tensor
    fill_colors: Tensor | None
    closed: Tensor
    num_segments: Tensor
    even_odd: Tensor
    subpath_starts: Tensor | None
    stroke_style: Tensor | None
    gradients: Gradients | None

    def select(self, index: Tensor, num_segments: int) -> _Paths:
        """The paths ``index`` (along N), with room for ``num_segments`` segments each (every one of
        them has at most that many)."""
        def batched(t: Tensor | None) -> Tensor | None:  # [B, N, ...]
            return None if t is None else t.index_select(1, index)

        def flags(t: Tensor | None, per_path_dims: int = 0) -> Tensor | None:  # [N, ...] or [B, N, ...]
            return None if t is None else t.index_select(0 if t.dim() == 1 + per_path_dims else 1, index)

        starts = flags(self.subpath_starts, 1)
        return _Paths(batched(self.points)[:, :, :3 * num_segments + 1], batched(self.widths),
                      batched(self.stroke_colors), batched(self.fill_colors), flags(self.closed),
                      flags(self.num_segments), flags(self.even_odd),
                      None if starts is None else starts[..., :num_segments], flags(self.stroke_style, 1),
                      None if self.gradients is None else Gradients(*(batched(t) for t in self.gradients)))


class _PassOptions(NamedTuple):
    height: int
    width: int
    tile_size: int
    segments_per_curve: int
    newton_steps: int
    tile_capacity: int
    chunk_elements: int
    dynamic: bool
    curvature: bool


def _pair_pass(paths: _Paths, o: _PassOptions) -> tuple[_Bins, Tensor | tuple[Tensor, Tensor, Tensor]] | None:
    """Bin the paths into tiles and evaluate the layers of every (tile, path) pair
    (:func:`_pair_layers`); None when no path meets the canvas."""
    p = paths
    lay = _layout(p.points, p.widths, p.fill_colors, p.closed, p.num_segments, p.even_odd, o.height, o.width,
                  p.subpath_starts, p.stroke_style, o.tile_size)
    tiles_y, tiles_x, ranges = lay.tiles_y, lay.tiles_x, lay.ranges
    if o.dynamic:
        bins = _pairs(*ranges, tiles_y, tiles_x)
    else:
        bins = _bins(_box_tiles(*ranges, tiles_y, tiles_x), o.tile_capacity)
    if bins is None:
        return None
    geometry = _Geometry(lay.segs, lay.seg_valid, lay.bend, lay.coarse, o.segments_per_curve, o.tile_size, tiles_x,
                         tiles_y * tiles_x, o.newton_steps, lay.closed, lay.num_segments, lay.even_odd, lay.fill_on,
                         lay.subpaths, p.fill_colors is not None, o.dynamic, o.curvature)
    if lay.style is not None:
        geometry.set_style(lay.style, lay.reach_widths / 2, lay.neighbours)
    if p.gradients is not None:
        geometry.gradients = Gradients(*(_flat(t) for t in p.gradients))
    if o.dynamic and lay.segs.shape[2] >= WINDOW_MIN_SEGMENTS and o.segments_per_curve >= 4:
        geometry.windows = _segment_windows(geometry, lay, bins, _flat(p.widths / 2))
    return bins, _pair_layers(geometry, bins, p.widths, p.stroke_colors, p.fill_colors, o.chunk_elements)


#: Paths are evaluated in groups of similar segment counts when padding every path to the longest
#: would cost more than this many times the grouped work (dynamic shapes only).
BUCKET_GAIN = 2.0


def _segment_buckets(num_segments: Tensor, num_points: int) -> list[tuple[Tensor, int]] | None:
    """Paths grouped by segment count rounded up to a power of two, as (path indices, segments),
    when that saves :data:`BUCKET_GAIN` of the work of padding all to the longest; else None.
    A search's work per (tile, path) pair grows with the padded segment count, so one path of
    2000 segments among paths of 10 would otherwise make each of them 200 times dearer."""
    counts = num_segments.reshape(-1, num_segments.shape[-1]).amax(0).clamp_min(1)  # [N], over the batch
    longest = (num_points - 1) // 3
    rounded = (2 ** torch.ceil(torch.log2(counts.double()))).long().clamp_max(longest)
    if BUCKET_GAIN * int(rounded.sum()) > longest * counts.numel():
        return None
    sizes = torch.unique(rounded).tolist()
    return [(torch.nonzero(rounded == s).squeeze(1).to(num_segments.device), int(s)) for s in sizes]


def _bucketed_entries(paths: _Paths, buckets: list[tuple[Tensor, int]], o: _PassOptions
                      ) -> tuple[Tensor, Tensor] | None:
    """The covered (pixel, layer) entries of every bucket of paths, in drawing order per pixel
    (dynamic shapes): each bucket is its own pass, whose entries name their path, so they can be
    put back in the paths' order."""
    num_paths, pixels, layers, keys = paths.points.shape[1], [], [], []
    for index, num_segments in buckets:
        drawn = _pair_pass(paths.select(index, num_segments), o)
        if drawn is None:
            continue
        pixel, layer, order = drawn[1]
        row, role = torch.div(order, 2, rounding_mode="floor"), order % 2  # row: b * len(index) + path
        path = index.index_select(0, row % len(index))
        pixels.append(pixel)
        layers.append(layer)
        keys.append((pixel * num_paths + path) * 2 + role)
    if not pixels:
        return None
    order = torch.argsort(torch.cat(keys))
    return torch.cat(pixels).index_select(0, order), torch.cat(layers).index_select(0, order)


class _Layout(NamedTuple):
    """What a render knows before it evaluates a pixel: per-path flags as ``[B, N, ...]``, the
    segments, stroke styles, and the tiles each path's boxes meet (:func:`_tile_ranges`)."""

    closed: Tensor
    num_segments: Tensor
    even_odd: Tensor
    segs: Tensor  #: [B, N, S, 4, 2], with gradient
    seg_valid: Tensor  #: [B, N, S]
    style: Tensor | None  #: [B, N, 3] cap, join, miter limit (None: round)
    #: :func:`neighbour_directions` and :func:`segments_before` (styled only)
    neighbours: tuple[Tensor, Tensor, Tensor] | None
    reach_widths: Tensor  #: [B, N] twice how far strokes reach: width, more for miters / squares
    fill_on: Tensor  #: [B, N]
    bend: Tensor  #: [B, N, S] :func:`_bend`
    coarse: Tensor  #: [B, N, S, 5, 2] 4-chord flattening
    subpaths: Tensor | None  #: [B, N, S] each segment's subpath (:func:`subpath_first`), None: one per path
    tiles_y: int
    tiles_x: int
    ranges: tuple[Tensor, Tensor, Tensor]  #: :func:`_tile_ranges`


def _layout(points: Tensor, widths: Tensor, fill_colors: Tensor | None, closed: Tensor, num_segments: Tensor,
            even_odd: Tensor, height: int, width: int, subpath_starts: Tensor | None,
            stroke_style: Tensor | None, tile_size: int) -> _Layout:
    """The :class:`_Layout` of ``render_native``'s inputs (at least one path)."""
    batch, device = points.shape[0], points.device
    closed, num_segments, even_odd = (path_flags(f, batch, device) for f in (closed, num_segments, even_odd))
    if subpath_starts is not None:
        subpath_starts = path_flags(subpath_starts, batch, device, per_path_dims=1)
    segs, seg_valid = path_segments(points, closed, num_segments, subpath_starts)
    style = neighbours = None
    reach_widths = widths.detach()
    if stroke_style is not None:
        style = path_flags(stroke_style, batch, device, per_path_dims=1).to(points.dtype)
        neighbours = (*neighbour_directions(segs, closed, num_segments, subpath_starts),
                      segments_before(segs.shape[2], closed, num_segments, subpath_starts))
        with torch.no_grad():
            miter = longest_miters(segs.detach(), seg_valid, neighbours[0].detach(), style[..., 2])
            # (r + PIXEL_REACH) * scale from the centre line (reach_scale), less the PIXEL_REACH
            # that the binning and the pixel searches add
            grown = 2 * ((reach_widths / 2 + PIXEL_REACH) * reach_scale(style, miter) - PIXEL_REACH)
        reach_widths = torch.where(reach_widths > 0, grown, reach_widths)
    fill_on = closed & (fill_colors is not None)  # [B, N]
    tiles_y, tiles_x = math.ceil(height / tile_size), math.ceil(width / tile_size)
    with torch.no_grad():  # shared by binning and the per-pixel searches
        bend = _bend(segs.detach(), seg_valid)
        coarse = polyline(segs.detach(), 4)  # [B, N, S, 5, 2]
    boxes = _path_boxes(segs.detach(), seg_valid, bend, coarse, reach_widths,
                        fill_on if fill_colors is not None else None)
    ranges = _tile_ranges(*boxes, tile_size, tiles_y, tiles_x)
    subpaths = None if subpath_starts is None else subpath_first(subpath_starts)
    return _Layout(closed, num_segments, even_odd, segs, seg_valid, style, neighbours, reach_widths, fill_on,
                   bend, coarse, subpaths, tiles_y, tiles_x, ranges)


def tile_occupancy(points: Tensor, widths: Tensor, stroke_colors: Tensor, fill_colors: Tensor | None,
                   closed: Tensor, num_segments: Tensor, even_odd: Tensor, height: int, width: int, *,
                   subpath_starts: Tensor | None = None, stroke_style: Tensor | None = None,
                   tile_size: int = 8) -> Tensor:
    """The most paths that any ``tile_size`` tile of any scene is binned with by ``render_native``
    (a 0-dim long tensor on the inputs' device, nothing read back): the smallest
    ``tile_capacity`` that draws these scenes. Same arguments as ``render_native``."""
    if points.shape[1] == 0:
        return torch.zeros((), dtype=torch.long, device=points.device)
    with torch.no_grad():
        lay = _layout(points.detach(), widths, fill_colors, closed, num_segments, even_odd, height, width,
                      subpath_starts, stroke_style, tile_size)
        return _box_tiles(*lay.ranges, lay.tiles_y, lay.tiles_x).sum(-1).amax()


#: ``shapes="auto"`` renders paths stored with this many segments or more with dynamic shapes on
#: any device. Static shapes search every chord of every path, padded to the longest, at every
#: pixel of every bin slot, so their work grows with the segment count: measured on the CPU (16
#: CLIPasso-like strokes, 224 px, 16 slots, fwd+bwd), 8x the one-segment time at 32 segments and
#: 15x at 64, while dynamic shapes group paths by length and search only the segments near each
#: tile (:func:`_segment_windows`). Scaled from the H200's 6 ms at one segment (graphed), static
#: shapes pass the ~35 ms of an eager render on a GPU near 32 segments (an estimate: not measured
#: on a GPU yet); an imported flag with one 2 000-segment outline renders in 1.9 s with dynamic
#: shapes on the CPU and did not finish in 10 minutes with static ones.
DYNAMIC_FROM_SEGMENTS = 32


def dynamic_shapes(points: Tensor, shapes: str = "auto") -> bool:
    """Whether :func:`render_native` renders ``points`` ``[B, N, P, 2]`` with dynamic shapes
    (data-dependent: exact bins, reading values back from the device) for its ``shapes``
    option: ``"auto"`` takes them on the CPU and for paths stored with
    :data:`DYNAMIC_FROM_SEGMENTS` segments or more (from the shape: no read-back)."""
    if shapes == "auto":
        return points.device.type == "cpu" or (points.shape[-2] - 1) // 3 >= DYNAMIC_FROM_SEGMENTS
    return shapes == "dynamic"


def _reads_back(points: Tensor, options: dict) -> bool:
    """Whether :func:`render_native` with these keyword ``options`` reads values back from the
    device (dynamic shapes, or exact bins: ``tile_capacity=0``), so that it can be neither
    compiled with fixed shapes nor captured as a CUDA graph."""
    return dynamic_shapes(points, options.get("shapes", "auto")) or options.get("tile_capacity", 64) <= 0


def _empty(points: Tensor, widths: Tensor, strokes: Tensor, fills: Tensor | None,
           height: int, width: int) -> Tensor:
    """A transparent image still connected to the inputs (so backward gives zero gradients)."""
    link = sum((t.reshape(-1)[:0].sum() for t in (points, widths, strokes, fills) if t is not None), 0.0)
    return torch.zeros(points.shape[0], 4, height, width, device=points.device, dtype=points.dtype) + link


# -- binning -------------------------------------------------------------------------------------
def _bend(segs: Tensor, seg_valid: Tensor) -> Tensor:
    """``[B, N, S]`` largest second difference ``M`` of each valid segment's control points (0 for
    padding): an ``L``-chord flattening is within ``0.75 M / L^2`` px of the curve."""
    p0, p1, p2, p3 = segs.unbind(-2)
    bend = torch.maximum(safe_norm(p0 - 2 * p1 + p2), safe_norm(p1 - 2 * p2 + p3))
    return torch.where(seg_valid, bend, torch.zeros_like(bend))


def _path_boxes(segs: Tensor, seg_valid: Tensor, bend: Tensor, coarse: Tensor, widths: Tensor,
                fill_on: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Boxes ``lo``, ``hi`` ``[B, N, C, 2]`` (where ``ok`` ``[B, N, C]``) outside which a path
    covers no pixel (``fill_on`` None: no fills).

    Strokes: a box around each chord of the path's 4-chord-per-segment flattening ``coarse``
    ``[B, N, S, 5, 2]``, grown by the half-width, 1 px and the flattening error bound
    ``0.75 M / 16`` (``bend``: :func:`_bend`). Fills: the control points' box grown by 1 px.
    """
    batch, num_paths, num_seg = segs.shape[:3]
    stroke_on = widths > 0
    half = torch.where(stroke_on, widths / 2, torch.zeros_like(widths))
    grow = (half[..., None] + 1.0 + 0.75 * bend / 16).repeat_interleave(4, dim=2)  # [B, N, S*4]
    ends = torch.stack([coarse[..., :-1, :], coarse[..., 1:, :]], dim=-1).reshape(batch, num_paths, -1, 2, 2)
    ok = seg_valid.repeat_interleave(4, dim=2) & stroke_on[..., None]  # [B, N, S*4]
    lo, hi = ends.amin(-1) - grow[..., None], ends.amax(-1) + grow[..., None]  # [B, N, S*4, 2]
    if fill_on is not None:
        valid = seg_valid.repeat_interleave(4, dim=2)[..., None]
        ctrl = segs.reshape(batch, num_paths, num_seg * 4, 2)
        fill_lo = torch.where(valid, ctrl, torch.full_like(ctrl, math.inf)).amin(2, keepdim=True) - 1.0
        fill_hi = torch.where(valid, ctrl, torch.full_like(ctrl, -math.inf)).amax(2, keepdim=True) + 1.0
        lo, hi = torch.cat([lo, fill_lo], 2), torch.cat([hi, fill_hi], 2)
        ok = torch.cat([ok, fill_on[..., None]], 2)
    return lo, hi, ok


def _tile_ranges(lo: Tensor, hi: Tensor, ok: Tensor, tile_size: int, tiles_y: int, tiles_x: int
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The tiles that the boxes ``[lo, hi]`` ``[B, N, C, 2]`` meet (closed intervals): first and
    one-past-last tile per axis ``[B, N, C, 2]`` (x, y; long) and ``ok`` ``[B, N, C]``, false
    where a box is off (``ok``) or meets no tile."""
    first = torch.ceil(lo / tile_size - 1)  # clamped per axis
    first = torch.stack([first[..., 0].clamp(0, tiles_x), first[..., 1].clamp(0, tiles_y)], -1)
    last = torch.floor(hi / tile_size)
    last = torch.stack([last[..., 0].clamp(-1, tiles_x - 1), last[..., 1].clamp(-1, tiles_y - 1)], -1)
    return first.long(), last.long() + 1, ok & (first <= last).all(-1)


def _pairs(first: Tensor, last: Tensor, ok: Tensor, tiles_y: int, tiles_x: int) -> _Bins | None:
    """The (tile, path) pairs that some box meets (:func:`_tile_ranges`), sorted by tile then
    path; None when there are none. Each box lists its tiles, so the work follows the boxes'
    areas, not ``tiles x paths`` (one host read-back: dynamic shapes only), unless the boxes
    cover more (tile, box) pairs than there are (tile, path) pairs: then :func:`_box_tiles`."""
    batch, num_paths, num_boxes = ok.shape
    listed = _listed_tiles(first, last, ok, limit=batch * tiles_y * tiles_x * num_paths)
    if listed is None:
        return None
    if not isinstance(listed, tuple):
        tile, path = torch.nonzero(_box_tiles(first, last, ok, tiles_y, tiles_x).reshape(-1, num_paths), as_tuple=True)
        return _Bins(tile, path)
    box, x, y = listed
    key = torch.unique(_pair_key(torch.div(box, num_boxes, rounding_mode="floor"), x, y, num_paths, tiles_y, tiles_x))
    return _Bins(torch.div(key, num_paths, rounding_mode="floor"), key % num_paths)


def _listed_tiles(first: Tensor, last: Tensor, ok: Tensor, limit: int | None = None
                  ) -> tuple[Tensor, Tensor, Tensor] | int | None:
    """Each (box, tile) entry of the boxes (:func:`_tile_ranges`, ``[..., 2]``): flat box index,
    tile column and row ``[K]``; None when there are none, and their count instead when it is
    over ``limit`` (one host read-back: dynamic shapes only)."""
    span = (last - first).clamp_min(0)
    count = (span[..., 0] * span[..., 1] * ok).reshape(-1)
    total = int(count.sum())
    if total == 0:
        return None
    if limit is not None and total > limit:
        return total
    box = torch.repeat_interleave(count, output_size=total)  # [K] box of each (box, tile) entry
    k = torch.arange(total, device=ok.device) - (torch.cumsum(count, 0) - count).index_select(0, box)
    width = span[..., 0].reshape(-1).index_select(0, box)
    x = first[..., 0].reshape(-1).index_select(0, box) + k % width
    y = first[..., 1].reshape(-1).index_select(0, box) + torch.div(k, width, rounding_mode="floor")
    return box, x, y


def _pair_key(row: Tensor, x: Tensor, y: Tensor, num_paths: int, tiles_y: int, tiles_x: int) -> Tensor:
    """``tile * N + path`` (tile over ``B * T``) of flat path ``row`` (``b * N + path``) on tile
    ``(x, y)``: the order of :class:`_Bins`' pairs."""
    b = torch.div(row, num_paths, rounding_mode="floor")
    return ((b * tiles_y + y) * tiles_x + x) * num_paths + row - b * num_paths


def _box_tiles(first: Tensor, last: Tensor, ok: Tensor, tiles_y: int, tiles_x: int) -> Tensor:
    """``[B, T, N]`` bool: some box meets the tile (:func:`_tile_ranges`).

    Each box adds 1 over its range of tiles in a difference array (four corner updates) and two
    cumulative sums count the boxes over every tile: the work is one entry per (tile, path) plus
    four per box, whatever the box sizes, and nothing is read back to the host.
    """
    batch, num_paths = ok.shape[:2]
    rows, cols = tiles_y + 1, tiles_x + 1
    b = torch.arange(batch, device=ok.device).view(batch, 1, 1)
    n = torch.arange(num_paths, device=ok.device).view(1, num_paths, 1)
    corners, signs = [], []
    for ys, xs, sign in ((first, first, 1), (first, last, -1), (last, first, -1), (last, last, 1)):
        corners.append(((b * rows + ys[..., 1]) * cols + xs[..., 0]) * num_paths + n)
        signs.append(ok.float() * sign)
    # floats: faster cumulative sums than integers on CPUs, exact for counts below 2**24
    diff = torch.zeros(batch * rows * cols * num_paths, device=ok.device)
    diff.scatter_add_(0, torch.cat(corners, 2).reshape(-1), torch.cat(signs, 2).reshape(-1))
    cover = diff.view(batch, rows, cols, num_paths).cumsum(1).cumsum(2)[:, :tiles_y, :tiles_x]
    return (cover > 0).reshape(batch, tiles_y * tiles_x, num_paths)


class _Bins:
    """(tile, path) pairs in drawing order.

    ``pair_tile`` / ``pair_path`` / ``pair_valid`` ``[P]`` (tile index over ``B * T``; valid None:
    all pairs are real). Fixed-size bins (static shapes) also have ``capacity`` K (pairs
    ``k * K .. k * K + K - 1`` are tile k's) and ``overflow`` ``[B * T]`` bool or None.
    """

    def __init__(self, pair_tile: Tensor, pair_path: Tensor, pair_valid: Tensor | None = None,
                 capacity: int = 0, overflow: Tensor | None = None) -> None:
        self.pair_tile, self.pair_path, self.pair_valid = pair_tile, pair_path, pair_valid
        self.capacity, self.overflow = capacity, overflow


def _bins(overlap: Tensor, tile_capacity: int) -> _Bins:
    """Fixed-size bins (static shapes) of the pairs that overlap (``[B, T, N]``)."""
    batch, num_tiles, num_paths = overlap.shape
    counts = overlap.sum(-1).reshape(-1)  # [B*T]
    if tile_capacity > 0:
        capacity = min(num_paths, tile_capacity)
        overflow = counts > capacity
    else:
        capacity = max(int(counts.max()), 1)  # the one host synchronisation (see module doc)
        overflow = None
    order = torch.arange(num_paths, device=overlap.device)
    key = torch.where(overlap, order, order + num_paths).reshape(-1, num_paths)
    first = key.topk(capacity, dim=-1, largest=False, sorted=True).values  # [B*T, K]
    pair_tile = torch.arange(batch * num_tiles, device=overlap.device).repeat_interleave(capacity)
    return _Bins(pair_tile, (first % num_paths).reshape(-1), (first < num_paths).reshape(-1),
                 capacity, overflow)


#: Dynamic shapes: passes whose paths have this many segments or more search, per (tile, path)
#: pair, only the segments within search reach of the tile (:func:`_segment_windows`) ...
WINDOW_MIN_SEGMENTS = 8
#: ... unless listing them would take more (segment, tile) entries than this (memory), or than
#: half of every pair's path (no gain).
WINDOW_MAX_ENTRIES = 1 << 24


class _Windows(NamedTuple):
    """Per (tile, path) pair, the segments of its path that can hold the closest chord of a pixel
    of its tile that is searched: pair ``p``'s are ``segment[start[p] : start[p] + count[p]]``,
    ascending (all ``[P]``, ``segment`` ``[M]``)."""

    start: Tensor
    count: Tensor
    segment: Tensor


def _segment_windows(g: _Geometry, lay: _Layout, bins: _Bins, half: Tensor) -> _Windows | None:
    """The :class:`_Windows` of the pairs ``bins`` (``half`` ``[B * N]``), so that a long path's
    pixels search the few segments near their tile, not all (the results are the same); None
    where they would be too many (`WINDOW_MAX_ENTRIES`).

    A searched pixel lies within the search radius ``R`` (:meth:`_Geometry.search_radius`) plus
    the coarse flattening's error ``e_c`` of the coarse polyline, so its closest fine chord (and
    any second one that counts) lies within ``R + 2 e_c + 3 e_f`` of it (``e_f``: the fine error),
    on a segment whose coarse chords come within ``R + 3 e_c + 4 e_f`` of the pixel: the
    segments' coarse boxes grown by that (and a margin for rounding) meet its tile.
    """
    batch, num_paths, num_seg = lay.seg_valid.shape
    every = torch.arange(batch * num_paths, device=half.device)
    radius = g.search_radius(every, half)
    grow = (radius + 3 * g.err_coarse + 4 * g.err + 0.05).view(batch, num_paths, 1, 1)
    lo, hi = lay.coarse.amin(-2) - grow, lay.coarse.amax(-2) + grow  # [B, N, S, 2]
    ok = lay.seg_valid & (radius > 0).view(batch, num_paths, 1)
    pair_key = bins.pair_tile * num_paths + bins.pair_path  # [P], ascending
    limit = min(pair_key.numel() * num_seg // 2, WINDOW_MAX_ENTRIES)
    listed = _listed_tiles(*_tile_ranges(lo, hi, ok, g.tile_size, lay.tiles_y, lay.tiles_x), limit=limit)
    if isinstance(listed, int):
        return None
    count = torch.zeros_like(pair_key)
    if listed is None:
        return _Windows(count, count, count[:0])
    box, x, y = listed
    row = torch.div(box, num_seg, rounding_mode="floor")
    key = _pair_key(row, x, y, num_paths, lay.tiles_y, lay.tiles_x) * num_seg + box - row * num_seg
    key = torch.sort(key).values
    entry_key = torch.div(key, num_seg, rounding_mode="floor")
    pair = torch.searchsorted(pair_key, entry_key).clamp_max(pair_key.numel() - 1)
    binned = pair_key.index_select(0, pair) == entry_key  # a window wider than the pair's boxes
    pair, segment = pair[binned], (key - entry_key * num_seg)[binned]
    count.index_add_(0, pair, torch.ones_like(pair))
    return _Windows(torch.cumsum(count, 0) - count, count, segment)


class _Chords(NamedTuple):
    """The chords that a chunk of pairs searches, as :func:`_chord_table`s: ``fine`` ``[C, 5, F]``
    and ``coarse`` ``[C, 5, F / chords * 4]``, of each pair's whole path, or only of its
    window's segments ``window`` ``[C, K]`` (padded with far chords), and then, in passes with
    fills, the fine chords' starts and ends ``ends`` ``[C, 4, F]``."""

    fine: Tensor
    coarse: Tensor
    window: Tensor | None = None
    ends: Tensor | None = None

    def in_path(self, pair: Tensor, index: Tensor, chords: int) -> Tensor:
        """The indices in their path's chords of the chords ``index`` ``[E, k]`` of these
        tables' rows ``pair`` ``[E]``."""
        if self.window is None:
            return index
        seg = torch.div(index, chords, rounding_mode="floor")
        picked = self.window.index_select(0, pair).gather(1, seg.flatten(1)).view_as(seg)
        return picked * chords + index - seg * chords


def _chunk_chords(g: _Geometry, row: Tensor, pairs: slice | Tensor) -> _Chords:
    """The :class:`_Chords` of the pairs ``pairs`` (of the bins: a slice, or with windows indices
    ``[C]``) of the paths ``row`` ``[C]`` (dynamic shapes)."""
    if g.windows is None:
        return _Chords(_take(g.table, row), _take(g.coarse, row))
    w = g.windows
    count = w.count.index_select(0, pairs)
    slot = torch.arange(max(int(count.max()), 1), device=row.device)
    valid = slot < count[:, None]  # [C, K]
    if w.segment.numel():
        entry = (w.start.index_select(0, pairs)[:, None] + slot).clamp_max(w.segment.numel() - 1)
        window = torch.where(valid, w.segment[entry], 0)
    else:
        window = torch.zeros_like(valid, dtype=torch.long)
    num_seg = g.segs.shape[1]
    flat = torch.where(valid, row[:, None] * num_seg + window, g.segs.shape[0] * num_seg)  # padding: far row
    return _Chords(g.windowed("table", flat), g.windowed("coarse", flat), window,
                   g.windowed("ends", flat) if g.fills else None)


# -- per-pair coverage ---------------------------------------------------------------------------
def _flat(t: Tensor) -> Tensor:
    """A per-path table ``[B, N, ...]`` as ``[B * N, ...]``, rows picked by flat path index."""
    return t.reshape(-1, *t.shape[2:])


def _take(table: Tensor, row: Tensor) -> Tensor:
    """``table[row]`` for a flat per-path table ``[B * N, ...]`` and flat path indices ``row`` of
    any shape (``index_select`` of whole rows: on CPUs several times faster than advanced
    indexing, or than ``index_select`` of a table with more than two dims)."""
    rows = table if table.dim() <= 2 else table.flatten(1)
    return rows.index_select(0, row.reshape(-1)).view(*row.shape, *table.shape[1:])


class _Geometry:
    """Per-call constants of the pair evaluation; per-path tables are flat (``[B * N, ...]``)."""

    def __init__(self, segs: Tensor, seg_valid: Tensor, bend: Tensor, coarse: Tensor, chords: int,
                 tile_size: int, tiles_x: int, num_tiles: int, newton_steps: int, closed: Tensor,
                 num_segments: Tensor, even_odd: Tensor, fill_on: Tensor, subpaths: Tensor | None, fills: bool,
                 compact: bool, curvature: bool) -> None:
        self.segs = _flat(segs)  # [B * N, S, 4, 2], with gradient
        self.num_paths = segs.shape[1]
        self.chords = chords
        self.chord_valid = _flat(seg_valid.repeat_interleave(chords, dim=2))  # [B * N, S*L]
        with torch.no_grad():
            flattening = polyline(segs.detach(), chords)
            self.chord_a, self.chord_b, inv = (_flat(c) for c in _chords(flattening, seg_valid))
            self.table = _chord_table(self.chord_a, self.chord_b, inv)  # as the searches read them
            # [B * N, S*L]: the hand of each chord's subpath, which only fills use
            self.fills_left = None if not fills else fills_left(
                self.chord_a, self.chord_b, chords, self.chord_valid, None if subpaths is None else _flat(subpaths))
            self.err = _flat(0.75 * bend.amax(-1) / chords**2 + 1e-3)  # chord-to-curve bound
        self.compact = compact
        if compact:  # the coarse pre-selecting polyline
            with torch.no_grad():
                self.coarse = _chord_table(*(_flat(c) for c in _chords(coarse, seg_valid)))
                self.err_coarse = _flat(0.75 * bend.amax(-1) / 16 + 1e-3)
        self.tile_size, self.tiles_x, self.num_tiles = tile_size, tiles_x, num_tiles
        self.newton_steps = newton_steps
        self.even_odd, self.fill_on = _flat(even_odd), _flat(fill_on)
        if fills:  # [B * N, 2, 2]: the control points' box, which holds the fill (with gradient)
            ctrl = self.segs.flatten(1, 2)
            valid = _flat(seg_valid).repeat_interleave(4, dim=1)[..., None]
            self.fill_box = torch.stack([torch.where(valid, ctrl, math.inf).amin(1),
                                         torch.where(valid, ctrl, -math.inf).amax(1)], 1)
        self.open, self.last_segment = _flat(~closed), _flat(num_segments - 1)  # where the round caps are
        with torch.no_grad():
            self.dot = _flat(path_dots(segs.detach(), seg_valid))  # zero-length paths (discs)
        self.curvature = curvature
        ys, xs = torch.meshgrid(torch.arange(tile_size, device=segs.device, dtype=segs.dtype),
                                torch.arange(tile_size, device=segs.device, dtype=segs.dtype),
                                indexing="ij")
        self.local = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1) + 0.5  # [Q, 2]
        self.style: Tensor | None = None
        self.gradients: Gradients | None = None  # [B * N, 2, ...]
        self.fills = fills
        self.windows: _Windows | None = None
        self._by_segment: dict[str, Tensor] = {}  # :meth:`windowed`'s tables

    def set_style(self, style: Tensor, reach: Tensor, neighbours: tuple[Tensor, Tensor, Tensor]) -> None:
        """Caps, joins and miter limits ``[B, N, 3]``, the half-widths the pixel searches use
        ``[B, N]`` (:meth:`stroke_reach`), the neighbouring segments' directions and straight
        lengths (:func:`neighbour_directions`) and the segments before (:func:`segments_before`)."""
        self.style, self.reach = _flat(style), _flat(reach)
        self.plain = _flat(~is_styled(style[..., 0], style[..., 1]))
        self.next_start, self.prev_end = (n.reshape(-1, 3) for n in neighbours[:2])  # [B * N * S, 3]
        self.before = neighbours[2].reshape(-1)  # [B * N * S]

    def stroke_reach(self, row: Tensor, half: Tensor) -> Tensor:
        """The half-width that bounds the coverage of the strokes of paths ``row`` (``half``, or
        for styled strokes ``(r + PIXEL_REACH) * reach_scale - PIXEL_REACH``): none reaches a
        pixel whose centre is farther than it plus ``PIXEL_REACH``."""
        return half.detach() if self.style is None else _take(self.reach, row)

    def search_radius(self, row: Tensor, half: Tensor) -> Tensor:
        """``[C]``: how far from the paths ``row``'s outline (their coarse polyline, plus its error
        bound) pixels are searched: the stroke's reach plus ``PIXEL_REACH``, in passes with fills
        at least a second fill edge's reach (``SECOND_EDGE_FAR``); -inf: none. Farther pixels are
        beyond any stroke and any fill edge's anti-aliasing."""
        reach = self.stroke_reach(row, half).clamp_min(0) + PIXEL_REACH
        if self.fills:
            return reach.clamp_min(SECOND_EDGE_FAR)
        return torch.where(half.detach() > 0, reach, -math.inf)

    def windowed(self, name: str, flat: Tensor) -> Tensor:
        """The chords of the segments ``flat`` ``[C, K]`` (flat index ``row * S + segment``; ``B * N
        * S``: padding, far away) in the per-path chord table ``name``: ``"table"`` or
        ``"coarse"`` (:func:`_chord_table`, ``[C, 5, K * n]``), or ``"ends"`` (starts and ends,
        ``[C, 4, K * L]``)."""
        if name not in self._by_segment:  # [B * N * S + 1, channels * n], the last row far away
            table = torch.stack([*self.chord_a.unbind(-1), *self.chord_b.unbind(-1)], 1) if name == "ends" \
                else getattr(self, name)
            rows, channels, size = table.shape
            per = size // self.segs.shape[1]
            split = table.view(rows, channels, -1, per).transpose(1, 2).reshape(-1, channels * per)
            far = split.new_tensor([1e18] * 2 + [1e18 if name == "ends" else 0.0] * (channels - 2))
            self._by_segment[name] = torch.cat([split, far.repeat_interleave(per)[None]])
        table = self._by_segment[name]
        channels = 4 if name == "ends" else 5
        picked = table.index_select(0, flat.reshape(-1)).view(*flat.shape, channels, -1)
        return picked.transpose(1, 2).reshape(flat.shape[0], channels, -1)

    @property
    def padded_size(self) -> tuple[int, int]:
        """Height and width of the tile-padded canvas."""
        return self.num_tiles // self.tiles_x * self.tile_size, self.tiles_x * self.tile_size

    @functools.cached_property
    def crossings(self) -> _RowCrossings:
        """:func:`_row_crossings` of the paths' chords (with windows and fills)."""
        return _row_crossings(self.chord_a, self.chord_b, *self.padded_size)

    def flat_row(self, tile: Tensor, path: Tensor) -> Tensor:
        """Flat path index ``b * N + path`` of pairs on ``tile`` (over ``B * T``)."""
        return torch.div(tile, self.num_tiles, rounding_mode="floor") * self.num_paths + path

    def local_index(self, width: int) -> Tensor:
        """``[Q]`` flat offsets of a tile's pixels from its top-left one, in a canvas ``width`` wide."""
        x, y = (self.local - 0.5).long().unbind(-1)
        return y * width + x


def _chords(verts: Tensor, seg_valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Chord starts and ends ``[B, N, S * L, 2]`` of a flattening ``verts`` ``[B, N, S, L + 1, 2]``
    (those of padding segments far away, so they never win a search) and 1 / length^2
    ``[B, N, S * L]`` (0 for degenerate chords)."""
    batch, num_paths, num_seg, size = verts.shape[:4]
    far = torch.full_like(verts[..., :-1, :], 1e18)
    ok = seg_valid[..., None, None]
    a = torch.where(ok, verts[..., :-1, :], far).reshape(batch, num_paths, num_seg * (size - 1), 2)
    b = torch.where(ok, verts[..., 1:, :], far).reshape(batch, num_paths, num_seg * (size - 1), 2)
    e = b - a
    len2 = (e * e).sum(-1)
    return a, b, torch.where(len2 > TINY, 1 / len2.clamp_min(TINY), torch.zeros_like(len2))


def _chord_table(a: Tensor, b: Tensor, inv: Tensor) -> Tensor:
    """``[B * N, 5, C]`` rows (start x, start y, direction x, direction y, 1 / length^2) of the
    chords ``a -> b`` ``[B * N, C, 2]``: one gather per pixel fetches a path's chords, laid out
    so the searches run along contiguous memory."""
    e = b - a
    return torch.stack([a[..., 0], a[..., 1], e[..., 0], e[..., 1], inv], dim=1)


def _pair_layers(g: _Geometry, bins: _Bins, widths: Tensor, stroke_colors: Tensor,
                 fill_colors: Tensor | None, chunk_elements: int) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Premultiplied layers (fill, stroke) of every pair, computed in chunks: ``[P, Q, nl, 4]``
    (static shapes), or (dynamic shapes) the layers that cover a pixel as entries: their pixel
    ``[E]`` (flat index into the tile-padded canvas ``[B, H', W']``), layer ``[E, 4]`` and
    ``2 * row + role`` ``[E]`` (row: flat path index ``b * N + path``; role 0 fill, 1 stroke), in
    drawing order per pixel."""
    half, strokes = _flat(widths / 2), _flat(stroke_colors)
    fills = None if fill_colors is None else _flat(fill_colors)
    out = []
    for pairs in _pair_chunks(g, bins, chunk_elements):
        valid = None if bins.pair_valid is None else bins.pair_valid[pairs]
        chords = _chunk_chords(g, g.flat_row(bins.pair_tile[pairs], bins.pair_path[pairs]), pairs) \
            if g.compact else None
        out.append(_chunk_layers(g, bins.pair_tile[pairs], bins.pair_path[pairs], valid, half, strokes, fills,
                                 chords))
    if not g.compact:
        return torch.cat(out) if len(out) > 1 else out[0]
    pixel, layer, order = (torch.cat([o[k] for o in out]) for k in range(3))
    if g.windows is not None:  # chunks by window size: back to drawing order per pixel
        keep = torch.argsort(pixel * (2 * g.segs.shape[0]) + order)
        pixel, layer, order = pixel[keep], layer[keep], order[keep]
    return pixel, layer, order


def _pair_chunks(g: _Geometry, bins: _Bins, chunk_elements: int) -> list[slice | Tensor]:
    """Chunks of the pairs of ``bins`` of at most ``chunk_elements`` pixel x chord evaluations
    (all chords with static shapes, the coarse pre-selecting ones with dynamic shapes: the full
    search then runs only on the ~15 % of pixels that pass): slices in order, or with windows
    (:func:`_segment_windows`) pair indices grouped by window size rounded up to a power of two
    (each chunk's windows are padded to its largest)."""
    num_pairs, pixels = bins.pair_tile.shape[0], g.local.shape[0]
    if g.windows is None:
        per_pair = pixels * (g.coarse.shape[2] if g.compact else g.chord_a.shape[1])
        step = max(1, chunk_elements // per_pair)
        return [slice(start, start + step) for start in range(0, num_pairs, step)]
    size = 2 ** torch.ceil(torch.log2(g.windows.count.clamp_min(1).double())).long()
    chunks = []
    for group in torch.unique(size).tolist():
        pairs = torch.nonzero(size == group).squeeze(1)
        step = max(1, chunk_elements // (pixels * 4 * group))
        chunks += [pairs[start:start + step] for start in range(0, pairs.numel(), step)]
    return chunks


def _chunk_layers(g: _Geometry, tile: Tensor, path: Tensor, valid: Tensor | None, half: Tensor,
                  stroke_colors: Tensor, fill_colors: Tensor | None, chords: _Chords | None
                  ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Layers of a chunk of pairs (tile over ``B * T``, path, valid), as ``_pair_layers``; ``half``
    ``[B * N]`` and the colours ``[B * N, 4]`` are flat per-path tables; ``chords``: what the
    compact searches (dynamic shapes) search."""
    b = torch.div(tile, g.num_tiles, rounding_mode="floor")
    t = tile - b * g.num_tiles
    row = g.flat_row(tile, path)
    origin = torch.stack([t % g.tiles_x, torch.div(t, g.tiles_x, rounding_mode="floor")], -1)
    pix = origin.to(g.local.dtype)[:, None] * g.tile_size + g.local  # [C, Q, 2]
    mask = None if valid is None else valid[:, None].to(pix.dtype)
    half = _take(half, row)  # [C]
    if g.compact:  # flat index of each pair's top-left pixel in the tile-padded canvas [B, H', W']
        height, width = g.padded_size
        corner = (b * height + origin[:, 1] * g.tile_size) * width + origin[:, 0] * g.tile_size  # [C]
        local = g.local_index(width)  # [Q]
    if g.compact and fill_colors is None:
        coverage, rows, cols = _sparse_stroke_coverage(g, chords, row, pix, half)
        pixel = corner.index_select(0, rows) + local.index_select(0, cols)
        entry_row = row.index_select(0, rows)
        colors = _path_colors(g, stroke_colors, entry_row, pix[rows, cols], STROKE)
        return pixel, _layer(coverage, colors, None), 2 * entry_row + STROKE
    if g.compact:  # with fills: only the pixels near the outline are searched
        with torch.no_grad():
            cand, u_cand, d2min, near = _search_near(g, chords, row, pix, half)
            winding = _tile_winding(g, chords, row, pix)
    else:
        cand, u_cand, d2min, winding = _closest_chord(g, row, pix, fill_colors is not None)
    alpha = _stroke_coverage(g, row, pix, cand, u_cand, d2min, half)
    stroke = _layer(alpha, _path_colors(g, stroke_colors, row, pix, STROKE), mask)
    if fill_colors is None:
        return stroke[:, :, None]
    cov = _near_fill_coverage(g, row, pix, cand, winding, near) if g.compact else _fill_coverage(
        g, row, pix, cand, winding)
    box = _take(g.fill_box, row)  # a shape smaller than a pixel covers at most its box's share of it
    cov = torch.minimum(cov, box_share(pix, box[:, None, 0], box[:, None, 1]))
    fill_mask = _take(g.fill_on, row)[:, None].to(pix.dtype)
    fill = _layer(cov, _path_colors(g, fill_colors, row, pix, FILL), fill_mask if mask is None else fill_mask * mask)
    layers = torch.stack([fill, stroke], dim=2)  # [C, Q, 2, 4]
    if not g.compact:
        return layers
    # entries in (pair, layer, pixel) order: drawing order once sorted by pixel (stable)
    pair, layer, col = torch.nonzero(torch.stack([cov * fill_mask, alpha], dim=1).detach() > 0, as_tuple=True)
    return corner[pair] + local[col], layers[pair, col, layer], 2 * row[pair] + layer


def _path_colors(g: _Geometry, colors: Tensor, row: Tensor, pix: Tensor, role: int) -> Tensor:
    """Straight RGBA of the paints (``role``: `FILL` or `STROKE`) of the paths ``row`` ``[R]`` at
    pixels ``pix`` ``[R, 2]`` or ``[R, Q, 2]``: ``[R, 4]`` or ``[R, Q, 4]``, or ``[R, 1, 4]``
    when every paint is flat (``colors`` ``[B * N, 4]``, the flat ones)."""
    flat = _take(colors, row)
    per_pixel = pix.dim() == 3
    if per_pixel:
        flat = flat[:, None]
    if g.gradients is None:
        return flat
    paints = Gradients(*(_take(t, row) for t in g.gradients)).role(role)
    if per_pixel:
        paints = Gradients(*(t[:, None] for t in paints))
    return paint_colors(flat, paints, pix, pixel=1.0)


def _fill_coverage(g: _Geometry, row: Tensor, pix: Tensor, cand: Tensor, winding: Tensor) -> Tensor:
    """Fill coverage ``[C, Q]`` of pixels ``pix`` ``[C, Q, 2]`` of the paths ``row`` ``[C]``, from
    their two candidate chords ``cand`` ``[C, Q, 2]`` and winding numbers ``[C, Q]``."""
    first = _chord_points(g, row, cand[..., 0], (0.0, 0.5, 1.0))
    even_odd = _take(g.even_odd, row)[:, None]
    coverage, edge = chord_edge_coverage(pix, first, winding, even_odd)
    second_valid = g.chord_valid[row[:, None], cand[..., 1]]  # a padding segment's chord is none
    left = g.fills_left[row[:, None], cand[..., 0]]
    second = _chord_points(g, row, cand[..., 1], (0.0, 0.5, 1.0))
    return second_edge_coverage(coverage, edge, winding, even_odd, pix, first, second, cand.unbind(-1), g.chords,
                                left, second_valid, compact=g.compact)


def _near_fill_coverage(g: _Geometry, row: Tensor, pix: Tensor, cand: Tensor, winding: Tensor,
                        near: tuple[Tensor, Tensor]) -> Tensor:
    """:func:`_fill_coverage` of the pixels ``near`` (pair ``[E]``, column ``[E]``: those
    :func:`_search_near` searched); the others are their inside-ness, which is what any chord
    that far from them gives."""
    rows, cols = near
    coverage = inside(winding, _take(g.even_odd, row)[:, None]).to(pix.dtype)
    if not rows.numel():
        return coverage
    picked = (pix[rows, cols][:, None], cand[rows, cols][:, None], winding[rows, cols][:, None])  # [E, 1, ...]
    return coverage.index_put((rows, cols), _fill_coverage(g, row.index_select(0, rows), *picked)[:, 0])


def _tile_winding(g: _Geometry, chords: _Chords, row: Tensor, pix: Tensor) -> Tensor:
    """Winding numbers ``[C, Q]`` (int32, as :func:`winding_number`) of the whole tiles of pixels
    ``pix`` ``[C, Q, 2]`` (row-major) around the paths ``row`` ``[C]``.

    A chord more than a pixel right of a tile's last column crosses the ray of every pixel of the
    rows it spans: those are counted once per pixel row (with windows, from
    :func:`_row_crossings`). The chords that meet the tile's rows and columns (a few; with
    windows, all are in the window) are tested per pixel; the others cross no ray.
    """
    size = g.tile_size
    xs, ys = pix[:, :size, 0], pix[:, ::size, 1]  # [C, T]: column and row centres
    if chords.window is None:
        a, b = _take(g.chord_a, row), _take(g.chord_b, row)  # [C, SL, 2]; padding: far away, a == b
    else:
        a, b = chords.ends.transpose(1, 2).unflatten(-1, (2, 2)).unbind(-2)
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    rows = (hi[..., 1] >= ys[:, :1]) & (lo[..., 1] <= ys[:, -1:])  # [C, SL]
    right = lo[..., 0] > xs[:, -1:] + 1
    if chords.window is None:
        per_row = ys.new_zeros(ys.shape, dtype=torch.int32)
        pair, chord = torch.nonzero(rows & right, as_tuple=True)  # [K]
        if pair.numel():
            starts = torch.stack([xs[:, :1].expand_as(ys), ys], -1).index_select(0, pair)  # [K, T, 2]
            up, down = ray_crossings(starts, a[pair, chord][:, None], b[pair, chord][:, None])
            per_row.index_add_(0, pair, up.to(torch.int32) - down.to(torch.int32))
    else:
        per_row = _crossings_right(g, row, ys, xs[:, -1])
    winding = per_row.repeat_interleave(size, dim=1)  # [C, Q]
    pair, chord = torch.nonzero(rows & ~right & (hi[..., 0] >= xs[:, :1] - 1), as_tuple=True)
    if pair.numel():
        up, down = ray_crossings(pix.index_select(0, pair), a[pair, chord][:, None], b[pair, chord][:, None])
        winding.index_add_(0, pair, up.to(torch.int32) - down.to(torch.int32))
    return winding


class _RowCrossings(NamedTuple):
    """The chords that cross each pixel row's centre line, per path: sorted integer ``key`` ``[M]``,
    ``(row * H' + y) * span + c`` with ``c = ceil(x - 0.5) + 2`` of the chord's smaller x (clamped
    to 1 .. W' + 4: a chord is right of ``k + 0.5`` exactly where ``c - 2 > k`` for whole ``k``),
    and ``before`` ``[M + 1]``: the up minus down crossings before each."""

    key: Tensor
    before: Tensor
    span: int


def _row_crossings(a: Tensor, b: Tensor, height: int, width: int) -> _RowCrossings:
    """The :class:`_RowCrossings` of the chords ``a -> b`` ``[R, SL, 2]`` of ``R`` paths on a
    ``height`` x ``width`` canvas (in float64, so that each comparison is exact). Crossings follow
    :func:`ray_crossings`: a chord crosses the rows whose centre ``y`` has ``min(ay, by) <= y <
    max(ay, by)``, up where ``ay < by``."""
    a, b = a.double(), b.double()
    lo_y, hi_y = torch.minimum(a[..., 1], b[..., 1]), torch.maximum(a[..., 1], b[..., 1])
    first = torch.ceil(lo_y - 0.5).clamp(0, height).long()  # rows first .. stop - 1
    count = (torch.ceil(hi_y - 0.5).clamp(0, height).long() - first).reshape(-1)
    column = torch.ceil(torch.minimum(a[..., 0], b[..., 0]) - 0.5).clamp(-1, width + 2).long() + 2
    sign = torch.where(a[..., 1] < b[..., 1], 1, -1).reshape(-1)
    chord = torch.repeat_interleave(count)
    y = first.reshape(-1).index_select(0, chord) + torch.arange(chord.numel(), device=chord.device) \
        - (torch.cumsum(count, 0) - count).index_select(0, chord)
    span = width + 5
    row = torch.div(chord, a.shape[1], rounding_mode="floor")
    key, order = torch.sort((row * height + y) * span + column.reshape(-1).index_select(0, chord))
    before = torch.cat([sign.new_zeros(1), torch.cumsum(sign.index_select(0, chord).index_select(0, order), 0)])
    return _RowCrossings(key, before, span)


def _crossings_right(g: _Geometry, row: Tensor, ys: Tensor, last_x: Tensor) -> Tensor:
    """Up minus down crossings ``[C, T]`` (int32) of the rays of pixel rows ``ys`` ``[C, T]`` (their
    centres) by the chords of the paths ``row`` ``[C]`` more than a pixel right of the column
    centre ``last_x`` ``[C]`` (:attr:`_Geometry.crossings`)."""
    crossings = g.crossings
    base = (row[:, None] * g.padded_size[0] + (ys - 0.5).long()) * crossings.span  # [C, T]
    beyond = base + ((last_x + 0.5).long() + 2)[:, None]  # right: x > last_x + 1, i.e. c - 2 > last_x + 0.5
    right = torch.searchsorted(crossings.key, beyond, right=True)
    end = torch.searchsorted(crossings.key, base + crossings.span)
    return (crossings.before[end] - crossings.before[right]).to(torch.int32)


def _chord_points(g: _Geometry, row: Tensor, index: Tensor, at: tuple[float, ...]) -> tuple[Tensor, ...]:
    """Curve points ``[C, Q, 2]`` (with gradient) at the fractions ``at`` of the chords ``index``
    ``[C, Q]`` of the paths ``row`` (0 and 1: its ends)."""
    seg = torch.div(index, g.chords, rounding_mode="floor")
    ctrl = _segment_ctrl(g, row[:, None], seg)  # [C, Q | 1, 4, 2]
    t = (index - seg * g.chords).to(ctrl.dtype) / g.chords
    return tuple(evaluate(ctrl, t + fraction / g.chords) for fraction in at)


def _segment_ctrl(g: _Geometry, row: Tensor, seg: Tensor) -> Tensor:
    """Control points (with gradient) of segment ``seg`` of the paths ``row``; one row per pixel
    for 1-segment paths (broadcast over ``seg``'s last dim)."""
    if g.segs.shape[1] == 1:
        return _take(g.segs[:, 0], row)
    # index_select, not advanced indexing: its CPU backward (index_add) sums in a fixed order
    return _take(g.segs.flatten(0, 1), row * g.segs.shape[1] + seg)


def _stroke_coverage(g: _Geometry, row: Tensor, pix: Tensor, cand: Tensor, u_cand: Tensor,
                     d2min: Tensor, half: Tensor) -> Tensor:
    """``[C, Q]`` stroke coverage (``half`` ``[C]``). On the CPU only pixels the stroke can reach
    are refined."""
    num, q = pix.shape[:2]
    if g.compact:
        with torch.no_grad():  # polyline distance - error bound > r + pixel reach => coverage 0
            reach = (g.stroke_reach(row, half).clamp_min(0) + PIXEL_REACH + _take(g.err, row))[:, None]  # else 0
            near = (d2min <= reach * reach) & (half.detach() > 0)[:, None]
            rows, cols = torch.nonzero(near, as_tuple=True)
        p, cand, u_cand = pix[rows, cols][:, None], cand[rows, cols], u_cand[rows, cols]  # [E, ...]
        row, half = row[rows], half[rows]
    else:  # every pixel of every pair, as [C, Q, ...]: per-pair data broadcasts over pixels
        p = pix[:, :, None]
        row, half = row[:, None], half[:, None]
    alpha = _refine(g, row, half, p, cand, u_cand)
    if not g.compact:
        return alpha
    return alpha.new_zeros(num * q).index_put((rows * q + cols,), alpha).view(num, q)


def _sparse_stroke_coverage(g: _Geometry, chords: _Chords, row: Tensor, pix: Tensor, half: Tensor
                            ) -> tuple[Tensor, Tensor, Tensor]:
    """Stroke coverage ``[E]`` of the pixels near the 4-chord-per-segment polyline, with their
    pair ``[E]`` (row of ``pix``) and pixel ``[E]`` (column); ``half`` ``[C]``; ``chords``: the
    pairs' (:class:`_Chords`).

    A pixel farther than ``r`` plus half a pixel diagonal plus that polyline's error bound cannot
    be covered; the others (typically 15 % of a tile) get the full search and refinement.
    """
    with torch.no_grad():
        rows, cols, p = _near_pixels(g, chords, row, pix, g.search_radius(row, half))
        row = row.index_select(0, rows)
        ax, ay, ex, ey, inv = _take(chords.fine, rows).unbind(1)  # [E, SL]
        cand, u_cand, d2c = _search(p[:, 0, None], p[:, 1, None], ax, ay, ex, ey, inv, g.chords, both=True)
        cand = chords.in_path(rows, cand, g.chords)
    coverage, keep = _refine_sparse(g, row, half.index_select(0, rows), p, cand, u_cand, d2c)
    return coverage, rows.index_select(0, keep), cols.index_select(0, keep)


def _chord_starts(g: _Geometry, cand: Tensor, u_cand: Tensor) -> tuple[Tensor, Tensor]:
    """Segment of the chords ``cand`` and the curve parameter on it of their points ``u_cand``."""
    seg = torch.div(cand, g.chords, rounding_mode="floor")
    return seg, ((cand - seg * g.chords).to(u_cand.dtype) + u_cand) / g.chords


def _refine_sparse(g: _Geometry, row: Tensor, half: Tensor, p: Tensor, cand: Tensor, u_cand: Tensor,
                   d2c: Tensor) -> tuple[Tensor, Tensor]:
    """``_refine`` for ``[E]`` points, returning the coverage of the covered ones and their
    indices."""
    seg, t0 = _chord_starts(g, cand, u_cand)  # [E, 2]
    with torch.no_grad():
        ctrl0 = _segment_ctrl(g, row[:, None], seg[:, :1]).detach()  # [E, 1, 4, 2]
        t, d0, offset = (r[:, 0] for r in newton_closest(ctrl0, p[:, None], t0[:, :1], g.newton_steps))
        # the second candidate can only win where its chord is within twice the chords' error
        # bound of the closest one: refined there only
        need = d2c[:, 1].sqrt() <= d2c[:, 0].sqrt() + 2 * _take(g.err, row)
        idx = torch.nonzero(need).squeeze(1)
        seg_best = seg[:, 0].clone()
        if idx.numel():
            ctrl1 = _segment_ctrl(g, row[idx, None], seg[idx, 1:]).detach()
            t1, d1, offset1 = (r[:, 0] for r in newton_closest(ctrl1, p[idx, None], t0[idx, 1:], g.newton_steps))
            better = d1 < d0[idx]
            win = idx[better]
            t[win], seg_best[win], offset[win] = t1[better], seg[win, 1], offset1[better]
        # Where the stroke's side misses the pixel's footprint the coverage is exactly 0 or 1,
        # with no gradient: only the pixels its side crosses go through the model, and the
        # uncovered ones are dropped
        (nx, ny), d = unit_normal(offset.unbind(-1))
        reach = 0.5 * (nx.abs() + ny.abs())  # the footprint's half-extent along n
        r = half.detach()
        inside, outside = d <= r - reach, d >= r + reach
        if g.style is not None:  # near flat caps and sharp joins: through the model, out to their reach
            styled = _styled_pixels(g, row, seg_best, p, t, r)
            inside &= ~styled
            outside = torch.where(styled, d >= g.stroke_reach(row, half) + PIXEL_REACH, outside)
        thin = r + d < PIXEL_REACH  # the far side crosses the pixel too
        edge = ~(inside | outside) | thin
        keep = torch.nonzero(~outside | thin).squeeze(1)
        # the styles go through their (dearer) model only where they can show
        groups = [(torch.nonzero(edge).squeeze(1), False)] if g.style is None else [
            (torch.nonzero(edge & ~styled).squeeze(1), False), (torch.nonzero(edge & styled).squeeze(1), True)]
    coverage = torch.ones_like(d)
    for index, with_style in groups:
        picked = [v.index_select(0, index) for v in (row, seg_best, p, t, half)]
        coverage = coverage.index_put((index,), _coverage(g, *picked, with_style))
    return coverage.index_select(0, keep), keep


def _styled_pixels(g: _Geometry, row: Tensor, seg: Tensor, p: Tensor, t: Tensor, r: Tensor) -> Tensor:
    """``[E]`` bool: the style of their path can change the coverage of pixels ``p`` ``[E, 2]``
    whose closest point is ``t`` on segment ``seg`` (elsewhere it is the round one): their
    closest point is a vertex (a join), or they lie within ``sqrt(2) (r + PIXEL_REACH)`` of an
    open end with a flat cap or within ``CORNER_REACH (r + PIXEL_REACH)`` of a join
    (``styled_coverage``'s zones)."""
    style = _take(g.style, row)
    ends = _segment_ctrl(g, row, seg).detach()[:, ::3]  # [E, 2, 2]: the segment's end points
    d2 = ((p[:, None] - ends) ** 2).sum(-1) / (r + PIXEL_REACH)[:, None] ** 2  # [E, 2], in (r + reach)^2
    at_cap = torch.stack(_open_ends(g, row, seg), -1)
    capped = (style[:, 0] != CAP_ROUND) & (at_cap & (d2 <= 2)).any(-1)
    cornered = (~at_cap & (d2 <= CORNER_REACH**2)).any(-1)
    return ~_take(g.plain, row) & ((t <= 0) | (t >= 1) | capped | cornered)


def _open_ends(g: _Geometry, row: Tensor, seg: Tensor) -> tuple[Tensor, Tensor]:
    """Whether segment ``seg`` of the paths ``row`` starts / ends an open path (a cap, not a join)."""
    is_open = _take(g.open, row)
    return is_open & (seg == 0), is_open & (seg == _take(g.last_segment, row))


def _refine(g: _Geometry, row: Tensor, half: Tensor, p: Tensor, cand: Tensor, u_cand: Tensor) -> Tensor:
    """Coverage from the candidate chords ``[..., 2]`` of points ``p`` ``[..., 1, 2]``: Newton on both
    candidates (no gradient), then the distance to the better one with gradient."""
    seg_cand, t0 = _chord_starts(g, cand, u_cand)  # [..., 2]
    ctrl = _segment_ctrl(g, row[..., None], seg_cand)  # [..., 2 | 1, 4, 2]
    t_cand, d2, _ = newton_closest(ctrl.detach(), p, t0, g.newton_steps)
    pick = (d2[..., 1] < d2[..., 0]).long()[..., None]  # [..., 1]
    t_star = t_cand.gather(-1, pick).squeeze(-1)
    if ctrl.shape[-3] > 1:
        ctrl = ctrl.gather(-3, pick[..., None, None].expand(*pick.shape, 4, 2))
    seg = seg_cand.gather(-1, pick).squeeze(-1)
    return _coverage(g, row, seg, p[..., 0, :], t_star, half, ctrl=ctrl[..., 0, :, :])


def _coverage(g: _Geometry, row: Tensor, seg: Tensor, p: Tensor, t: Tensor, half: Tensor, with_style: bool = True,
              ctrl: Tensor | None = None) -> Tensor:
    """Stroke coverage of points ``p`` ``[..., 2]`` whose closest point is ``B(t)`` on segment
    ``seg`` of the paths ``row``, with the paths' caps and joins unless not ``with_style``
    (round). ``ctrl``: that segment's control points ``[..., 4, 2]`` (with gradient) where the
    caller has them; gathered here otherwise."""
    styled = g.style is not None and with_style
    if styled:
        seg, t = vertex_owner(seg, t, _take(g.before, row * g.segs.shape[1] + seg))
    if ctrl is None or styled and g.segs.shape[1] > 1:  # (a path of one segment: none before it but itself)
        ctrl = _segment_ctrl(g, row, seg)
    offset, outline = closest_point(ctrl, p, t, *_open_ends(g, row, seg), _take(g.dot, row))
    cover = stroke_coverage(offset, half, outline if g.curvature else None)
    if not styled:
        return cover
    cap, join, limit = _take(g.style, row).unbind(-1)
    index = row * g.segs.shape[1] + seg
    following, preceding = (_take(table, index).unbind(-1) for table in (g.next_start, g.prev_end))
    return styled_coverage(cover, p.unbind(-1), hypot(*offset), ctrl, outline, half, StrokeStyle(cap, join, limit),
                           preceding, following)


def _layer(coverage: Tensor, colors: Tensor, mask: Tensor | None) -> Tensor:
    """``[..., 4]`` premultiplied layer of straight ``colors`` ``[..., 4]`` at ``coverage`` ``[...]``."""
    rgb, opacity = colors.split([3, 1], dim=-1)
    alpha = coverage[..., None] * opacity
    if mask is not None:
        alpha = alpha * mask[..., None]
    return torch.cat([rgb * alpha, alpha], dim=-1)


def _closest_chord(g: _Geometry, row: Tensor, pix: Tensor, want_winding: bool
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Candidate chords and parameters ``[C, Q, 2]``, squared polyline distance ``[C, Q]`` and the
    winding number ``[C, Q]`` (fills only), for the pairs' paths ``row`` ``[C]``.

    Candidate 0 is the closest chord; candidate 1 the closest one outside its Newton run's reach
    (:func:`_two_closest`), so a second part of the curve at nearly the same distance is refined
    too (chords are only within ``0.75 M / L^2`` of the curve, which can reorder near-ties).
    """
    with torch.no_grad():
        ax, ay, ex, ey, inv = _take(g.table, row)[:, :, None].unbind(1)  # [C, 1, SL]; invalid chords far away
        cand, u_cand, d2min = _search(pix[..., 0, None], pix[..., 1, None], ax, ay, ex, ey, inv, g.chords)
        winding = None
        if want_winding:
            a, bb = _take(g.chord_a, row), _take(g.chord_b, row)  # [C, SL, 2]; padding: far away, a == b
            winding = winding_number(pix[:, :, None], a[:, None], bb[:, None])
    return cand, u_cand, d2min, winding


def _near_pixels(g: _Geometry, chords: _Chords, row: Tensor, pix: Tensor, reach: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The pixels of ``pix`` ``[C, Q, 2]`` within ``reach`` ``[C]`` (-inf: none) of the pairs'
    4-chord-per-segment polylines ``chords.coarse``, plus their error bound: pair ``[E]``,
    column ``[E]`` and centre ``[E, 2]``."""
    ax, ay, ex, ey, inv = chords.coarse[..., None].unbind(1)  # [C, S*4, 1]
    px, py = (v.contiguous()[:, None] for v in pix.unbind(-1))  # [C, 1, Q]
    d2 = _chord_distances(px, py, ax, ay, ex, ey, inv)[1].amin(1)  # [C, Q] (pixels contiguous)
    reach = reach + _take(g.err_coarse, row)
    rows, cols = torch.nonzero((d2 <= (reach * reach)[:, None]) & (reach > 0)[:, None], as_tuple=True)
    return rows, cols, pix.view(-1, 2).index_select(0, rows * pix.shape[1] + cols)


def _search_near(g: _Geometry, chords: _Chords, row: Tensor, pix: Tensor, half: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor]]:
    """:func:`_search` over ``chords`` of the pixels ``pix`` ``[C, Q, 2]`` within the search
    radius (:meth:`_Geometry.search_radius`) of the 4-chord-per-segment polyline, as
    ``_closest_chord``'s first three results, and those pixels (pair ``[E]``, column ``[E]``);
    the others get chord 0 and an infinite distance."""
    rows, cols, p = _near_pixels(g, chords, row, pix, g.search_radius(row, half))
    ax, ay, ex, ey, inv = _take(chords.fine, rows).unbind(1)  # [E, SL]
    found = _search(p[:, 0, None], p[:, 1, None], ax, ay, ex, ey, inv, g.chords)
    index = (rows, cols)
    cand = torch.zeros(pix.shape, dtype=torch.long, device=pix.device)
    cand.index_put_(index, chords.in_path(rows, found[0], g.chords))
    u_cand = torch.zeros_like(pix).index_put_(index, found[1])
    d2min = torch.full(pix.shape[:2], math.inf, dtype=pix.dtype, device=pix.device).index_put_(index, found[2])
    return cand, u_cand, d2min, index


def _search(px: Tensor, py: Tensor, ax: Tensor, ay: Tensor, ex: Tensor, ey: Tensor, inv: Tensor,
            chords: int, both: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """The two candidate chords of :func:`_two_closest` ``[..., 2]``, their parameters ``[..., 2]``
    and the squared distance ``[...]`` (of both, ``[..., 2]``, with ``both``); chords run along
    the last dim of the broadcast inputs, ``chords`` per segment."""
    u, d2 = _chord_distances(px, py, ax, ay, ex, ey, inv)
    best, second = _two_closest(d2, chords)
    cand = torch.cat([best, second], dim=-1)
    dist = d2.gather(-1, cand)
    return cand, u.gather(-1, cand), dist if both else dist[..., 0]


def _chord_distances(px: Tensor, py: Tensor, ax: Tensor, ay: Tensor, ex: Tensor, ey: Tensor,
                     inv: Tensor) -> tuple[Tensor, Tensor]:
    """Parameter ``u`` in [0, 1] of the closest point and squared distance from points ``(px, py)``
    to chords starting at ``(ax, ay)`` with direction ``(ex, ey)`` and 1 / length^2 ``inv``
    (broadcast together; in-place arithmetic on the broadcast result)."""
    dx, dy = px - ax, py - ay
    u = (dx * ex).addcmul_(dy, ey).mul_(inv).clamp_(0, 1)
    rx, ry = dx.addcmul_(u, ex, value=-1), dy.addcmul_(u, ey, value=-1)
    return u, rx.mul_(rx).addcmul_(ry, ry)


#: Integer types of the same size as each float type: their bits order non-negative floats.
_SAME_SIZE_INT = {torch.float32: torch.int32, torch.float64: torch.int64}


def _two_closest(d2: Tensor, chords: int) -> tuple[Tensor, Tensor]:
    """Indices ``[..., 1]`` of the smallest of ``d2`` ``[..., C]`` (squared distances of a path's
    chords, ``chords`` per segment) along the last dim and of the smallest that is not it or its
    neighbour on the same segment: Newton from the closest chord explores those, but cannot
    cross into the next segment, whose closest point near a join can be the nearer one.

    Up to 256 chords, an integer minimum over keys (the distance's bits with the chord index in
    the lowest 8 bits or fewer) finds both, several times faster on CPUs than ``min`` / ``argmin``
    over a short last dim; near-ties (within 2^8 units in the last place) go to the first chord.
    """
    num = d2.shape[-1]
    bits = max(1, (num - 1).bit_length())
    if bits > 8 or d2.dtype not in _SAME_SIZE_INT:
        best = d2.argmin(-1, keepdim=True)
        return best, d2.clone().scatter_(-1, segment_basin(best, chords), math.inf).argmin(-1, keepdim=True)
    kind, low = _SAME_SIZE_INT[d2.dtype], (1 << bits) - 1
    key = (d2.view(kind) & ~low) | torch.arange(num, dtype=kind, device=d2.device)
    best = (key.amin(-1, keepdim=True) & low).long()
    near = segment_basin(best, chords)
    second = key.scatter_(-1, near, torch.iinfo(kind).max).amin(-1, keepdim=True) & low
    return best, second.long()


# -- compositing ---------------------------------------------------------------------------------
def over_reduce(layers: Tensor) -> Tensor:
    """Composite premultiplied layers ``[M, n, Q, 4]`` (bottom first) with "over" -> ``[M, Q, 4]``.

    Pairwise merges in a balanced tree ("over" is associative); transparent padding layers are
    neutral.
    """
    n = layers.shape[1]
    size = 1 << max(0, (n - 1).bit_length())
    if size > n:
        pad = layers.new_zeros(layers.shape[0], size - n, *layers.shape[2:])
        layers = torch.cat([layers, pad], dim=1)
    while layers.shape[1] > 1:
        bottom, top = layers[:, 0::2], layers[:, 1::2]
        layers = top + (1 - top[..., 3:]) * bottom
    return layers[:, 0]


def _composite_tiles(layers: Tensor, bins: _Bins, num_tiles: int) -> Tensor:
    """``[B * T, Q, 4]`` composited tiles from the fixed-size bins' layers ``[B * T * K, Q, nl, 4]``."""
    k = bins.capacity
    q, nl = layers.shape[1], layers.shape[2]
    stack = layers.view(num_tiles, k, q, nl, 4).permute(0, 1, 3, 2, 4).reshape(num_tiles, k * nl, q, 4)
    out = over_reduce(stack)
    if bins.overflow is not None:
        out = torch.where(bins.overflow[:, None, None], torch.full_like(out, math.nan), out)
    return out


def _composite_entries(pixel: Tensor, layers: Tensor, size: tuple[int, int, int]) -> Tensor:
    """``[B, 4, H, W]`` image of ``size`` ``(B, H, W)`` from the layers ``[E, 4]`` covering pixel
    ``[E]`` (flat index, in drawing order per pixel), so the work follows the covered pixels, not
    tiles x paths. A pixel's only layer is its colour (most pixels, even in dense scenes); the
    layers of the others are stacked as deep as the deepest and merged with ``over_reduce``."""
    batch, height, width = size
    num_pixels = height * width
    if pixel.numel() == 0:
        return layers.new_zeros(batch, 4, height, width) + layers.sum() * 0
    order = torch.sort(pixel, stable=True).indices  # stable: keeps the drawing order per pixel
    pixel, layers = pixel.index_select(0, order), layers.index_select(0, order)
    pixels, counts = torch.unique_consecutive(pixel, return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # each pixel's first (bottom) entry
    merged = layers.index_select(0, first)  # [P, 4]: final where a pixel has one layer
    deep = torch.nonzero(counts > 1).squeeze(1)
    if deep.numel():
        depth = int(counts.max())
        group = torch.repeat_interleave(counts)  # [E] pixel of each entry (0..P-1)
        stacked = torch.full_like(counts, -1).index_copy(0, deep, torch.arange(deep.numel(), device=pixel.device))
        entry = torch.nonzero(stacked.index_select(0, group) >= 0).squeeze(1)  # entries of deep pixels
        owner = group.index_select(0, entry)
        slot = stacked.index_select(0, owner) * depth + entry - first.index_select(0, owner)
        stack = layers.new_zeros(deep.numel() * depth, 4).index_copy(0, slot, layers.index_select(0, entry))
        merged = merged.index_copy(0, deep, over_reduce(stack.view(deep.numel(), depth, 1, 4))[:, 0])
    # channel-first output: pixel p's channel c goes to (b, c, y, x) = flat (b * 4 + c) * HW + yx
    b = torch.div(pixels, num_pixels, rounding_mode="floor")
    target = ((b * 4)[:, None] + torch.arange(4, device=pixel.device)) * num_pixels + (pixels - b * num_pixels)[:, None]
    image = layers.new_zeros(batch * 4 * num_pixels).index_copy(0, target.reshape(-1), merged.reshape(-1))
    return image.view(batch, 4, height, width)


# -- compiled and graphed renders ----------------------------------------------------------------
def render_compiled(points: Tensor, *args, **options) -> Tensor:
    """``render_native`` through ``torch.compile`` where its shapes are static (GPUs): inductor
    fuses the several hundred small element-wise kernels of a render into a few dozen. Same
    arguments and results (to float rounding). Each new input shape, dtype or grad mode compiles
    once (minutes cold on a small CPU; torch's on-disk inductor cache makes later processes
    take seconds) and is then cached for the process. Calls with data-dependent shapes
    (dynamic shapes, :func:`dynamic_shapes`, or ``tile_capacity=0``) run ``render_native`` as is,
    and so do new variants past torch's limit of compiled variants per function
    (``torch._dynamo.config.recompile_limit``, 8 by default; a run meets several: training and
    evaluation batches, stroke counts, grad modes, bin sizes), with one warning: raise that limit
    to compile them too."""
    if _reads_back(points, options):
        return render_native(points, *args, **options)
    try:
        return _compiled_render()(points, *args, **options)
    except torch._dynamo.exc.FailOnRecompileLimitHit:
        if not _recompile_limit_warned:
            _recompile_limit_warned.append(True)
            warnings.warn("native renderer, compile: torch's limit of compiled variants per function "
                          f"({torch._dynamo.config.recompile_limit}) is reached; new input shapes render "
                          "without compilation (raise torch._dynamo.config.recompile_limit to compile "
                          "them too).", RuntimeWarning, stacklevel=2)
        return render_native(points, *args, **options)


_recompile_limit_warned: list[bool] = []  # the warning above is given once per process


@functools.cache
def _compiled_render() -> Callable[..., Tensor]:
    return torch.compile(render_native, fullgraph=True, dynamic=False)


class TileCapacity:
    """Fits the fixed bins' ``tile_capacity`` to the scenes being rendered (GPUs): bins sized for
    the densest tile, not for the path count, so neither mostly empty (64 slots where 8 paths
    meet is 4-8 times the work) nor overflowing (a tile met by more paths than the capacity
    comes out NaN).

    Per key (device, batch and path count, canvas, tile size, style and subpath shapes) the
    first call counts the paths over every tile (:func:`tile_occupancy`) and reads the largest
    count back: one host synchronisation. The capacity is the smallest power of two at least
    ``headroom`` times that (at least ``minimum``, at most the path count, where no tile can
    overflow). Every ``interval`` calls after that, the count is taken again on the device and
    copied to pinned host memory without waiting; the first call that finds it arrived grows the
    capacity if the scenes are outgrowing it. It never shrinks (each size is its own CUDA graph).
    Only scenes whose densest tile more than doubles within ``interval`` calls can overflow.

    :meth:`capacity` takes ``render_native``'s arguments (``tile_size`` and the tensors that bin).
    """

    def __init__(self, headroom: float = 2.0, interval: int = 4, minimum: int = 8) -> None:
        self.headroom, self.interval, self.minimum = headroom, interval, minimum
        self.sizes: dict[tuple, int] = {}
        self.calls: dict[tuple, int] = {}
        self.pending: dict[tuple, tuple[Tensor, torch.cuda.Event | None]] = {}  # count on its way
        self.host: dict[tuple, Tensor] = {}  # pinned memory receiving a key's counts (CUDA)

    def capacity(self, points: Tensor, widths: Tensor, stroke_colors: Tensor, fill_colors: Tensor | None,
                 closed: Tensor, num_segments: Tensor, even_odd: Tensor, height: int, width: int, *,
                 subpath_starts: Tensor | None = None, stroke_style: Tensor | None = None,
                 gradients: Gradients | None = None, tile_size: int = 8) -> int:
        """The ``tile_capacity`` to render these scenes with (``gradients`` do not bin: ignored)."""
        count = functools.partial(tile_occupancy, points, widths, stroke_colors, fill_colors, closed, num_segments,
                                  even_odd, height, width, subpath_starts=subpath_starts,
                                  stroke_style=stroke_style, tile_size=tile_size)
        num_paths = points.shape[1]
        shapes = tuple(None if t is None else tuple(t.shape) for t in (subpath_starts, stroke_style))
        key = (points.device, tuple(points.shape), height, width, tile_size, shapes)
        if key not in self.sizes:
            self.calls[key] = 0
            self.sizes[key] = self._fit(int(count()), num_paths)
            if points.device.type == "cuda":
                self.host[key] = torch.empty((), dtype=torch.long, pin_memory=True)
        self._collect(key, num_paths)
        if self.sizes[key] < num_paths:
            self._watch(key, count)
        return self.sizes[key]

    def _fit(self, count: int, num_paths: int) -> int:
        wanted = max(self.minimum, math.ceil(self.headroom * count))
        return max(1, min(num_paths, 1 << (wanted - 1).bit_length()))

    def _collect(self, key: tuple, num_paths: int) -> None:
        """Grow the capacity from a count read back earlier, if it has arrived."""
        if key in self.pending:
            host, done = self.pending[key]
            if done is None or done.query():
                del self.pending[key]
                self.sizes[key] = max(self.sizes[key], self._fit(int(host), num_paths))

    def _watch(self, key: tuple, count: Callable[[], Tensor]) -> None:
        """Every ``interval`` calls, send this call's ``count()`` to the host without waiting for it."""
        self.calls[key] += 1
        if key in self.pending or self.calls[key] % self.interval:
            return
        value = count()
        if key not in self.host:  # the CPU: the count is already here
            self.pending[key] = (value, None)
            return
        self.host[key].copy_(value, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self.pending[key] = (self.host[key], done)


class CudaGraphs:
    """Replays ``render_native`` (forward, and backward when inputs require grad) as CUDA graphs.

    The fixed-shape GPU path launches several hundred small kernels per render and never
    synchronises with the host, so it can be captured once per *key* (input shapes, dtypes,
    device, which inputs require grad, canvas size, options) and replayed: the inputs are copied
    into static buffers, the recorded kernels run, and the output (and, in backward, the input
    gradients) are copied out, so results never alias the graph's buffers. The eager
    ``render_native`` is the specification; the graphs run the same kernels on the same shapes.

    Calls that cannot be captured run eagerly: CPU tensors, dynamic shapes (long paths,
    :func:`dynamic_shapes`), ``tile_capacity == 0`` (one host read-back), no paths, autocast, a
    stream that is already capturing, non-tensor flags, a key whose capture failed, or a new key
    once ``max_graphs`` keys are held. The first keys are kept, not the latest: a run's steps
    repeat its first shapes, and a dropped graph would be captured again at the next step (a
    scene with many layer runs, `render_layered`) while its memory is not given back (below).
    A backward whose forward was not the last replay of its graph re-runs that forward from the
    saved inputs first, so interleaved forwards and backwards still get their own gradients.

    ``render`` is the function captured: ``render_native`` or ``render_compiled`` (whose
    compilation then happens in the warm-up before the capture).

    Known limitation (measured on an H100, torch 2.11): the GPU memory of the graphs is not
    given back when this object is dropped (~64 MB per key at 16 strokes, 224 px), so keep one
    renderer (one ``CudaGraphs``) for a run rather than creating one per step.
    """

    def __init__(self, render: Callable[..., Tensor] = render_native, max_graphs: int = 8) -> None:
        self.render = render
        self.max_graphs = max_graphs
        self.graphs: dict[tuple, _GraphedRender | None] = {}
        self.errors: dict[tuple, Exception] = {}  # why a key's capture failed (it then runs eagerly)

    def __call__(self, points: Tensor, widths: Tensor, stroke_colors: Tensor, fill_colors: Tensor | None,
                 closed: Tensor, num_segments: Tensor, even_odd: Tensor, height: int, width: int,
                 subpath_starts: Tensor | None = None, stroke_style: Tensor | None = None,
                 gradients: Gradients | None = None, **options) -> Tensor:
        args = (points, widths, stroke_colors, fill_colors, closed, num_segments, even_odd, subpath_starts,
                stroke_style, *(gradients or (None,) * len(Gradients._fields)))
        if not self.capturable(args, options):
            return _render_args(self.render, args, height, width, options)
        grad = torch.is_grad_enabled()
        needs = tuple(a is not None and grad and a.requires_grad for a in args)
        key = (tuple(None if a is None else (tuple(a.shape), a.dtype, a.device) for a in args), needs,
               height, width, tuple(sorted(options.items())))
        if key not in self.graphs:
            if len(self.graphs) >= self.max_graphs:
                return _render_args(self.render, args, height, width, options)
            try:
                self.graphs[key] = _GraphedRender(self.render, args, needs, height, width, options)
            except Exception as exc:  # noqa: BLE001  (capture impossible, e.g. a host sync: stay eager)
                self.graphs[key] = None
                self.errors[key] = exc
        graphed = self.graphs[key]
        if graphed is None:
            return _render_args(self.render, args, height, width, options)
        present = [a for a in args if a is not None]
        return _GraphedFunction.apply(graphed, *present)

    @staticmethod
    def capturable(args: tuple, options: dict) -> bool:
        tensors = [a for a in args if a is not None]
        if not all(isinstance(a, Tensor) for a in tensors):
            return False
        device = args[0].device
        return (device.type == "cuda" and all(a.device == device for a in tensors)
                and not _reads_back(args[0], options)
                and args[0].shape[1] > 0 and not torch.is_autocast_enabled("cuda")
                and not torch.cuda.is_current_stream_capturing())


def _render_args(render: Callable[..., Tensor], args: tuple, height: int, width: int, options: dict
                 ) -> Tensor:
    """``render`` (``render_native``'s signature) of ``args`` = (its seven positional tensors,
    ``subpath_starts``, ``stroke_style``, the fields of ``gradients`` or as many None)."""
    gradients = None if args[9] is None else Gradients(*args[9:])
    return render(*args[:7], height, width, subpath_starts=args[7], stroke_style=args[8], gradients=gradients,
                  **options)


class _GraphedRender:
    """One captured forward graph (and backward graph when some input requires grad)."""

    def __init__(self, render: Callable[..., Tensor], args: tuple, needs: tuple, height: int, width: int,
                 options: dict) -> None:
        self.present = [i for i, a in enumerate(args) if a is not None]
        self.static = [args[i].detach().clone().requires_grad_(needs[i]) for i in self.present]
        grad_idx = [j for j, i in enumerate(self.present) if needs[i]]
        self.grad_idx = grad_idx

        def run() -> Tensor:
            full: list[Tensor | None] = [None] * len(args)
            for i, s in zip(self.present, self.static):
                full[i] = s
            return _render_args(render, tuple(full), height, width, options)

        grad_inputs = [self.static[j] for j in grad_idx]
        torch.cuda.synchronize()
        side = torch.cuda.Stream()  # warm-up, both captures and their buffers on one stream
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.set_grad_enabled(bool(grad_idx)):
            for _ in range(2):  # warm-up: lazy initialisation must not happen during capture
                out = run()
                if grad_idx:
                    torch.autograd.grad(out, grad_inputs, torch.ones_like(out), allow_unused=True)
                del out
            side.synchronize()
            self.fwd = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.fwd, stream=side):
                self.out = run()
            self.bwd = None
            if grad_idx:
                self.grad_out = torch.zeros_like(self.out)
                self.bwd = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.bwd, pool=self.fwd.pool(), stream=side):
                    grads = torch.autograd.grad(self.out, grad_inputs, self.grad_out, allow_unused=True)
                self.grads = grads
        torch.cuda.current_stream().wait_stream(side)
        self.out = self.out.detach()
        self.generation = 0  # counts forward replays (the saved activations are the last one's)
        torch.cuda.synchronize()

    def forward(self, inputs: tuple) -> Tensor:
        with torch.no_grad():
            for s, a in zip(self.static, inputs):
                if s.data_ptr() != a.data_ptr():
                    s.copy_(a)
            self.fwd.replay()
            self.generation += 1
            return self.out.clone()


class _GraphedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, graphed: _GraphedRender, *inputs: Tensor) -> Tensor:
        out = graphed.forward(inputs)
        ctx.graphed, ctx.generation = graphed, graphed.generation
        if graphed.bwd is not None:
            ctx.save_for_backward(*inputs)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        graphed: _GraphedRender = ctx.graphed
        inputs = ctx.saved_tensors
        if graphed.bwd is None:
            return (None,) * len(ctx.needs_input_grad)
        if graphed.generation != ctx.generation:  # another forward replayed since: redo ours
            graphed.forward(inputs)
            ctx.generation = graphed.generation
        with torch.no_grad():
            graphed.grad_out.copy_(grad_out)
            graphed.bwd.replay()
            grads: list[Tensor | None] = [None] * len(inputs)
            for j, g in zip(graphed.grad_idx, graphed.grads):
                grads[j] = None if g is None else g.clone()
        return (None, *grads)
