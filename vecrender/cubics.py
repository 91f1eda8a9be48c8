"""Cubic Bézier chains as lists of points: cutting, flattening, winding numbers, and clipping
to the inside of a simple polygon.

SVG import works on plain Python points before building tensors; this module is its geometry.

Shapes:
    cubic  ``[p0, p1, p2, p3]``           one cubic's control points
    chain  ``[p0, c1, c2, p1, c3, ...]``  ``1 + 3k`` control points of ``k`` joined cubics; a closed
                                          chain ends on its first point
    region `Region`                       a simple polygon, its corners counter-clockwise

A fill clipped to a region (`clip_fill`) keeps its winding number inside the region and is 0
outside, so it draws exactly the fill's part in the region under either fill rule. Where the
outline is drawn it is drawn once per unit of winding (once at most under even-odd), and nothing
is drawn back and forth along it: a renderer anti-aliasing each chord would show such doubled
edges as seams. A stroke is cut where its centre line leaves the region (`cut_stroke`).
Regions relate as apart, nested or meeting (`region_relation`); the rest of a box around a hole
is two regions that meet along a vertical line at a pixel boundary (`hole_complement`), so a
region with holes clips as an intersection of unions of simple regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vecrender.functional.styles import CAP_BUTT, CAP_ROUND, CAP_SQUARE, DEFAULT_MITER_LIMIT, JOIN_MITER, JOIN_ROUND

Point = tuple[float, float]

#: Distance (px) from a line or an outline that still counts as on it.
ON_BOUNDARY = 1e-7
#: Most chords `flatten` draws per cubic.
MAX_CHORDS = 256


def split(cubic: list[Point], t: float) -> tuple[list[Point], list[Point]]:
    """The cubic cut at `t` into its two cubics (de Casteljau)."""
    def mix(p: Point, q: Point) -> Point:
        return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)

    a, b, c = mix(cubic[0], cubic[1]), mix(cubic[1], cubic[2]), mix(cubic[2], cubic[3])
    d, e = mix(a, b), mix(b, c)
    f = mix(d, e)
    return [cubic[0], a, d, f], [f, e, c, cubic[3]]


def point_at(cubic: list[Point], t: float) -> Point:
    """The cubic at `t`."""
    return split(cubic, t)[0][-1]


def sub_cubic(cubic: list[Point], t0: float, t1: float) -> list[Point]:
    """The part of the cubic between `t0` <= `t1`, as a cubic of the same curve."""
    piece = split(cubic, t1)[0] if t1 < 1 else cubic
    if t0 <= 0:
        return piece
    return split(piece, t0 / t1)[1] if t1 > 0 else [piece[0]] * 4


def line(a: Point, b: Point) -> list[Point]:
    """The straight cubic from `a` to `b`, without `a`: ``[c1, c2, b]``, to append to a chain."""
    return [(a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3),
            (a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3), b]


def cubics_of(chain: list[Point]) -> list[list[Point]]:
    return [chain[i : i + 4] for i in range(0, len(chain) - 1, 3)]


def bend(cubic: list[Point]) -> float:
    """The largest second difference ``|p_k - 2 p_k+1 + p_k+2|`` of the control points: ``n``
    equal-``t`` chords stay within ``0.75 bend / n^2`` of the cubic."""
    return max(math.hypot(cubic[k][0] - 2 * cubic[k + 1][0] + cubic[k + 2][0],
                          cubic[k][1] - 2 * cubic[k + 1][1] + cubic[k + 2][1]) for k in range(2))


def flatten(chain: list[Point], tolerance: float) -> list[Point]:
    """Points along the chain, its first included, whose polygon is within `tolerance` of it
    (`bend`), at most `MAX_CHORDS` per cubic."""
    out = [chain[0]]
    for cubic in cubics_of(chain):
        chords = min(MAX_CHORDS, max(1, math.ceil(math.sqrt(0.75 * bend(cubic) / tolerance))))
        out += [point_at(cubic, i / chords) for i in range(1, chords)] + [cubic[3]]
    return out


def stroke_outline(chain: list[Point], width: float, closed: bool = False, cap: int = CAP_BUTT,
                   join: int = JOIN_MITER, miter_limit: float = DEFAULT_MITER_LIMIT,
                   tolerance: float = 0.02) -> list[list[Point]]:
    """Polygons whose nonzero fill is the area the stroke of `chain` covers (SVG's caps and joins,
    curves within `tolerance`): for an open chain one polygon, out along its left side, round the
    end cap and back along its right side; for a closed one a loop per side.

    Each polygon adds up the stroke's convex pieces, all turning the same way: a rectangle per
    chord, the join's piece (round, miter, bevel) on the outer side of each vertex, the caps. Its
    inner joins pass through the vertex, so its winding number counts the pieces over a point:
    nonzero exactly on the stroke, however the offsets cross (tight curves, loops). A chain of
    one point is a dot: a disc (round caps), a square along x (square caps), or nothing."""
    half = width / 2
    points = _distinct(flatten(chain, tolerance))
    if closed and len(points) > 2 and math.dist(points[0], points[-1]) <= ON_BOUNDARY:
        points = points[:-1]
    if not half > 0:
        return []
    if len(points) == 1:
        return [] if cap == CAP_BUTT else [_dot(points[0], half, cap, tolerance)]
    if closed:
        return [_polygon(_side(points, half, join, miter_limit, tolerance, loop=True)),
                _polygon(_side(points[::-1], half, join, miter_limit, tolerance, loop=True))]
    outline = []
    for way in (points, points[::-1]):  # out along the left side, back along the right
        outline += _side(way, half, join, miter_limit, tolerance)
        outline += _cap(way[-1], _direction(way[-2], way[-1]), half, cap, tolerance)
    return [_polygon(outline)]


def _distinct(points: list[Point]) -> list[Point]:
    """The points without repeats of the one before."""
    out = [points[0]]
    for p in points[1:]:
        if math.dist(p, out[-1]) > ON_BOUNDARY:
            out.append(p)
    return out


def _polygon(points: list[Point]) -> list[Point]:
    """The polygon's corners without repeats, the last not repeating the first."""
    out = _distinct(points)
    return out[:-1] if len(out) > 1 and math.dist(out[0], out[-1]) <= ON_BOUNDARY else out


def _direction(a: Point, b: Point) -> Point:
    length = math.dist(a, b)
    return ((b[0] - a[0]) / length, (b[1] - a[1]) / length)


def _side(points: list[Point], half: float, join: int, limit: float, tolerance: float, loop: bool = False
          ) -> list[Point]:
    """The polyline's offset by `half` to the left of its direction (``(-dy, dx)``), its vertices
    joined (`_join`); a `loop` joins its last chord to its first."""
    count = len(points) if loop else len(points) - 1
    chords = [(points[i], points[(i + 1) % len(points)]) for i in range(count)]
    directions = [_direction(a, b) for a, b in chords]
    lengths = [math.dist(a, b) for a, b in chords]
    out = [] if loop else [_offset(points[0], directions[0], half)]
    for i in range(0 if loop else 1, count):  # vertex i, between chords i - 1 and i
        out += _join(points[i], directions[i - 1], directions[i], min(lengths[i - 1], lengths[i]), half, join,
                     limit, tolerance)
    return out if loop else out + [_offset(points[-1], directions[-1], half)]


def _offset(p: Point, direction: Point, half: float) -> Point:
    return (p[0] - direction[1] * half, p[1] + direction[0] * half)


def _join(p: Point, before: Point, after: Point, shorter: float, half: float, join: int, limit: float,
          tolerance: float) -> list[Point]:
    """The left side at vertex `p` from the chord with direction `before` to the one with `after`
    (`shorter`: the shorter chord's length): on the outer side of a turn the join's piece; on the
    inner side the offsets' crossing where both chords reach well past it (so the corner it cuts
    off lies in both chords' rectangles), else a detour through the vertex."""
    start, end = _offset(p, before, half), _offset(p, after, half)
    turn = before[0] * after[1] - before[1] * after[0]  # sin of the turn
    cosine = before[0] * after[0] + before[1] * after[1]
    if turn == 0 and cosine > 0:
        return [start]
    if turn > 0:  # the left side is the inner one
        reach = half * max(turn, 2 * turn / (1 + cosine)) if cosine > -1 else math.inf
        return [_crossing(p, before, after, half, cosine)] if shorter >= reach else [start, p, end]
    if join == JOIN_ROUND:  # clockwise, as the turn (-pi for a reversal)
        sweep = math.atan2(turn, cosine)
        return [start] + _arc(p, half, math.atan2(before[0], -before[1]), sweep - 2 * math.pi if sweep > 0 else sweep,
                              tolerance)
    if join == JOIN_MITER and math.sqrt(max((1 + cosine) / 2, 0.0)) * limit >= 1:  # miter / width <= limit
        return [start, _crossing(p, before, after, half, cosine), end]
    return [start, end]


def _crossing(p: Point, before: Point, after: Point, half: float, cosine: float) -> Point:
    """Where the left offsets of the two chords at `p` meet (a miter's tip on the outer side)."""
    scale = half / (1 + cosine)
    return (p[0] - (before[1] + after[1]) * scale, p[1] + (before[0] + after[0]) * scale)


def _cap(p: Point, direction: Point, half: float, cap: int, tolerance: float) -> list[Point]:
    """From the left offset at the end `p` of a chord with `direction` round to its right offset,
    both included."""
    dx, dy = direction
    left, right = _offset(p, direction, half), _offset(p, (-dx, -dy), half)
    if cap == CAP_ROUND:
        return [left] + _arc(p, half, math.atan2(dx, -dy), -math.pi, tolerance)
    if cap == CAP_SQUARE:
        return [left, (left[0] + dx * half, left[1] + dy * half), (right[0] + dx * half, right[1] + dy * half), right]
    return [left, right]


def _dot(p: Point, half: float, cap: int, tolerance: float) -> list[Point]:
    """The stroke of a single point: a disc (round caps) or a square along x (square caps),
    turning as the outlines' pieces do."""
    if cap == CAP_ROUND:
        return _arc(p, half, math.pi / 2, -2 * math.pi, tolerance)
    return [(p[0] - half, p[1] + half), (p[0] + half, p[1] + half), (p[0] + half, p[1] - half),
            (p[0] - half, p[1] - half)]


def _arc(center: Point, radius: float, start: float, sweep: float, tolerance: float) -> list[Point]:
    """Points of the circle arc from angle `start` turning by `sweep` (radians), the first
    excluded, the chords within `tolerance` of the arc (at most `MAX_CHORDS` of them)."""
    step = 2 * math.acos(1 - tolerance / radius) if tolerance < radius else math.pi / 2
    count = min(max(1, math.ceil(abs(sweep) / step)), MAX_CHORDS) if step > 0 else MAX_CHORDS  # (0: a huge radius)
    return [(center[0] + radius * math.cos(start + sweep * k / count),
             center[1] + radius * math.sin(start + sweep * k / count)) for k in range(1, count + 1)]


@dataclass(frozen=True)
class HalfPlane:
    """The points ``p`` with ``normal . (p - origin) <= 0`` (`normal`: unit, pointing out)."""

    origin: Point
    normal: Point

    def distance(self, p: Point) -> float:
        """Signed distance of `p` outside the boundary (negative inside)."""
        return self.normal[0] * (p[0] - self.origin[0]) + self.normal[1] * (p[1] - self.origin[1])


@dataclass(frozen=True)
class Region:
    """The inside of a simple polygon (no edge meets another but its neighbours at their shared
    corner), `corners` counter-clockwise: positive shoelace area, the orientation whose inside has
    winding number +1. A point of the outline is addressed by its position ``i + u``: ``u`` of the
    way along edge ``i`` (corner ``i`` to ``i + 1``)."""

    corners: tuple[Point, ...]

    @property
    def convex(self) -> bool:
        n = len(self.corners)
        return all(_cross(self.corners[i - 1], self.corners[i], self.corners[(i + 1) % n]) > 0 for i in range(n))

    def edge(self, i: int) -> tuple[Point, Point]:
        return self.corners[i % len(self.corners)], self.corners[(i + 1) % len(self.corners)]

    def holds(self, points: Sequence[Point], margin: float = 0.0) -> bool:
        """Whether every point lies inside at least `margin` from the outline (or on it, with a
        margin of 0). A convex region only: there, so does every curve they are the control points of."""
        if not self.convex:
            raise ValueError("Region.holds needs a convex region")
        a = np.asarray(self.corners, dtype=np.float64)
        edges = np.roll(a, -1, axis=0) - a
        p = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2) - a
        inward = (edges[:, 0] * p[..., 1] - edges[:, 1] * p[..., 0]) / np.hypot(edges[:, 0], edges[:, 1])
        return bool((inward >= margin - 1e-9).all())

    def gap(self, p: Point) -> tuple[float, float]:
        """(distance from `p` to the outline, position of the outline's point closest to it)."""
        best, where = math.inf, 0.0
        for i in range(len(self.corners)):
            (ax, ay), (bx, by) = self.edge(i)
            ex, ey = bx - ax, by - ay
            u = min(max(((p[0] - ax) * ex + (p[1] - ay) * ey) / (ex * ex + ey * ey), 0.0), 1.0)
            gap = math.hypot(ax + u * ex - p[0], ay + u * ey - p[1])
            if gap < best:
                best, where = gap, i + u
        return best, where % len(self.corners)

    def contains(self, p: Point, margin: float = 0.0) -> bool:
        """Whether `p` lies inside at least `margin` from the outline (a negative margin: or
        outside by at most that much)."""
        gap = self.gap(p)[0]
        return (-gap if winding([[*self.corners, self.corners[0]]], p, straight=True) else gap) <= -margin

    def point(self, position: float) -> Point:
        a, b = self.edge(int(position))
        u = position - int(position)
        return (a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]))

    def inward(self, position: float, step: float) -> Point:
        """The outline's point at `position` moved `step` inwards (square to its edge)."""
        (ax, ay), (bx, by) = self.edge(int(position))
        length = math.hypot(bx - ax, by - ay)
        x, y = self.point(position)
        return (x - (by - ay) / length * step, y + (bx - ax) / length * step)

    def outline(self, start: Point, stop: Point, s0: float, s1: float) -> list[Point]:
        """The straight cubics along the outline from `start` (at position `s0`) forward to `stop`
        (at `s1`, once round when ``s1 <= s0``), as a chain."""
        count = len(self.corners)
        end = s1 if s1 > s0 else s1 + count
        out = [start]
        for k in range(math.floor(s0) + 1, math.ceil(end)):
            out += line(out[-1], self.corners[k % count])
        return out + line(out[-1], stop)


def outline_gap(region: Region, points: list[Point], rows: int = 256) -> float:
    """The distance between the polyline `points` and the region's outline, 0 where they meet."""
    if len(points) == 1:
        return region.gap(points[0])[0]
    corners = np.asarray(region.corners, dtype=np.float64)
    c, d = corners[None], np.roll(corners, -1, axis=0)[None]  # the outline's edges, [1, N, 2]
    polyline = np.asarray(points, dtype=np.float64)
    best = math.inf
    for start in range(0, len(points) - 1, rows):  # chords in blocks: [rows, N] pairs at a time
        a, b = polyline[start:start + rows, None], polyline[start + 1:start + rows + 1, None]
        a = a[: len(b)]
        if _segments_meet(a, b, c, d).any():
            return 0.0
        best = min(best, float(np.min([_to_segment(a, c, d), _to_segment(b, c, d), _to_segment(c, a, b),
                                       _to_segment(d, a, b)])))
    return best


def _to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points `p` to the segments from `a` to `b` (broadcast, last axis x, y)."""
    e = b - a
    length = np.maximum((e * e).sum(-1), 1e-300)
    u = np.clip(((p - a) * e).sum(-1) / length, 0.0, 1.0)
    return np.hypot(*np.moveaxis(a + u[..., None] * e - p, -1, 0))


#: Most corners of a polygon `simple_region` checks for being simple (every pair of edges is tested).
MAX_CORNERS = 4096


def signed_area(polygon: Sequence[Point]) -> float:
    """The closed polygon's shoelace area: positive when its corners run counter-clockwise."""
    return sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(polygon, [*polygon[1:], *polygon[:1]])) / 2


def simple_region(polygon: list[Point]) -> Region | None:
    """The inside of a simple polygon (either orientation; repeated and straight-through corners
    allowed); None when its edges cross or touch, or it has no area or over `MAX_CORNERS` corners."""
    points = _corners(polygon)
    if not 3 <= len(points) <= MAX_CORNERS:
        return None
    area = signed_area(points)
    if area < 0:
        points.reverse()
    return Region(tuple(points)) if area != 0 and _simple(points) else None


def _corners(polygon: list[Point]) -> list[Point]:
    """The polygon without repeated points (its closing point included) and straight-through corners."""
    points: list[Point] = []
    for p in polygon:
        if not points or math.dist(p, points[-1]) > ON_BOUNDARY:
            points.append(p)
    while len(points) > 1 and math.dist(points[0], points[-1]) <= ON_BOUNDARY:
        points.pop()
    i = 0
    while len(points) >= 3 and i < len(points):
        a, b, c = points[i - 1], points[i], points[(i + 1) % len(points)]
        cross = _cross(a, b, c)
        dot = (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1])
        if abs(cross) <= ON_BOUNDARY * (math.dist(a, b) + math.dist(b, c)) and dot >= 0:
            del points[i]  # straight on (a turn back stays, and makes the polygon not simple)
            i = max(i - 1, 0)
        else:
            i += 1
    return points


def _cross(a: Point, b: Point, c: Point) -> float:
    """The cross product of the turn a -> b -> c (positive: counter-clockwise)."""
    return (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])


def _simple(points: list[Point], rows: int = 256) -> bool:
    """Whether no two edges of the closed polygon meet but neighbours at their shared corner (a
    neighbour turning straight back overlaps); all pairs tested, `rows` edges against all at once."""
    a = np.asarray(points, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    n = len(a)
    following = np.roll(b, -1, axis=0)
    if ((_turn(a, b, following) == 0) & (((b - a) * (following - b)).sum(-1) < 0)).any():
        return False
    index = np.arange(n)
    for first in range(0, n, rows):  # edges i (rows) against edges j (columns)
        i = index[first : first + rows, None]
        meet = _segments_meet(a[i[:, 0], None], b[i[:, 0], None], a[None], b[None])
        apart = np.abs(i - index[None])
        if (meet & (apart > 1) & (apart < n - 1)).any():
            return False
    return True


def region_relation(first: Region, second: Region, rows: int = 256) -> str:
    """How two regions lie: "apart" (no point shared), "inside" (`first` within `second`),
    "around" (`second` within `first`) or "meet" (their outlines touch or cross)."""
    a, b = np.asarray(first.corners, dtype=np.float64), np.asarray(second.corners, dtype=np.float64)
    if (a.max(0) < b.min(0)).any() or (b.max(0) < a.min(0)).any():
        return "apart"
    a_next, b_next = np.roll(a, -1, axis=0), np.roll(b, -1, axis=0)
    for start in range(0, len(a), rows):  # edges of `first` (rows) against those of `second`
        rows_a, rows_next = a[start : start + rows, None], a_next[start : start + rows, None]
        if _segments_meet(rows_a, rows_next, b[None], b_next[None]).any():
            return "meet"
    if second.contains(first.corners[0]):
        return "inside"
    return "around" if first.contains(second.corners[0]) else "apart"


def hole_complement(hole: Region, box: tuple[float, float, float, float]) -> tuple[Region, Region] | None:
    """The box ``(x0, y0, x1, y1)`` less the `hole` (inside it) as two simple regions, left and
    right of a vertical line through the hole at a whole x where it can (a pixel boundary, along
    which two fills meet without a seam). None when no vertical line crosses the hole's outline
    exactly twice."""
    corners = hole.corners
    lo, hi = min(p[0] for p in corners), max(p[0] for p in corners)
    middle = (lo + hi) / 2
    whole = sorted(range(math.floor(lo) + 1, math.ceil(hi)), key=lambda x: abs(x - middle))[:32]
    for x in [*whole, middle]:  # (the 32 whole x nearest the middle: a hole no line crosses twice is rare)
        pieces = _split_around(corners, float(x), box)
        if pieces is not None:
            return pieces
    return None


def _split_around(corners: tuple[Point, ...], x: float, box: tuple[float, float, float, float]
                  ) -> tuple[Region, Region] | None:
    """`hole_complement` along the line at `x`, or None where it does not cross the hole twice."""
    n = len(corners)
    if any(abs(p[0] - x) <= ON_BOUNDARY for p in corners):
        return None
    cuts = []  # (edge, crossing point)
    for i in range(n):
        (ax, ay), (bx, by) = corners[i], corners[(i + 1) % n]
        if (ax - x) * (bx - x) < 0:
            cuts.append((i, (x, ay + (by - ay) * (x - ax) / (bx - ax))))
    if len(cuts) != 2:
        return None
    (i, p), (j, q) = cuts
    one = [p, *corners[i + 1 : j + 1], q]  # the outline from the first crossing to the second...
    other = [q, *corners[j + 1 :], *corners[: i + 1], p]  # ... and back
    left, right = (one, other) if one[1][0] < x else (other, one)
    x0, y0, x1, y1 = box
    if left[0][1] < left[-1][1]:  # each side walked from its lower crossing (larger y) up
        left = left[::-1]
    if right[0][1] > right[-1][1]:  # ... and from its upper crossing down
        right = right[::-1]
    first = simple_region([(x, y0), (x0, y0), (x0, y1), (x, y1), *left])
    second = simple_region([(x, y1), (x1, y1), (x1, y0), (x, y0), *right])
    return None if first is None or second is None else (first, second)


def _segments_meet(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether segments a-b and c-d share a point (broadcast, last axis x, y)."""
    boxes = (np.maximum(np.minimum(a, b), np.minimum(c, d)) <= np.minimum(np.maximum(a, b), np.maximum(c, d))).all(-1)
    return boxes & (_turn(a, b, c) * _turn(a, b, d) <= 0) & (_turn(c, d, a) * _turn(c, d, b) <= 0)


def _turn(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The sign of the turn p -> q -> r (points on the last axis)."""
    u, v = q - p, r - p
    return np.sign(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])


def crossings(cubic: list[Point], plane: HalfPlane) -> list[float]:
    """The parameters in (0, 1) where the cubic crosses or touches the plane's boundary, sorted."""
    d0, d1, d2, d3 = (plane.distance(p) for p in cubic)
    coefficients = [-d0 + 3 * d1 - 3 * d2 + d3, 3 * d0 - 6 * d1 + 3 * d2, 3 * (d1 - d0), d0]
    scale = max(abs(d0), abs(d1), abs(d2), abs(d3))
    if not all(map(math.isfinite, coefficients)):
        return []  # a curve that overflows, which import leaves out
    while coefficients and abs(coefficients[0]) <= 1e-12 * scale:
        coefficients.pop(0)
    if len(coefficients) < 2:
        return []
    slope = np.polyder(coefficients)
    roots = []
    for root in np.roots(coefficients):
        if abs(root.imag) > 1e-6:
            continue
        t = min(max(float(root.real), 0.0), 1.0)
        for _ in range(3):  # Newton steps: np.roots loses digits on clustered roots
            derivative = np.polyval(slope, t)
            if derivative == 0:
                break
            t = min(max(t - np.polyval(coefficients, t) / derivative, 0.0), 1.0)
        if 1e-9 < t < 1 - 1e-9:
            roots.append(t)
    roots.sort()
    return [t for i, t in enumerate(roots) if i == 0 or t - roots[i - 1] > 1e-9]


def _cut(cubic: list[Point], cuts: list[float], keep: Callable[[Point], bool]) -> list[tuple[list[Point], bool]]:
    """The cubic cut at the parameters `cuts`: ``(piece, keep(its middle))`` in order, with
    neighbours of the same class merged."""
    bounds = [0.0, *sorted(cuts), 1.0]
    spans: list[tuple[float, float, bool]] = []
    for t0, t1 in zip(bounds, bounds[1:]):
        if t1 - t0 <= 1e-12:
            continue
        kept = keep(point_at(cubic, (t0 + t1) / 2))
        if spans and spans[-1][2] == kept:
            spans[-1] = (spans[-1][0], t1, kept)
        else:
            spans.append((t0, t1, kept))
    return [(sub_cubic(cubic, t0, t1), kept) for t0, t1, kept in spans]


def _region_pieces(chain: list[Point], region: Region, margin: float) -> list[tuple[list[Point], bool]]:
    """The chain's cubics cut where they cross the outline: ``(piece, inside by `margin`)`` in order."""
    corners = np.asarray(region.corners)
    ends = np.roll(corners, -1, axis=0)
    lo, hi = np.minimum(corners, ends) - ON_BOUNDARY, np.maximum(corners, ends) + ON_BOUNDARY
    out = []
    for cubic in cubics_of(chain):
        box_lo, box_hi = np.min(cubic, axis=0), np.max(cubic, axis=0)
        cuts = []
        for i in np.flatnonzero(((lo <= box_hi) & (hi >= box_lo)).all(-1)).tolist():  # edges near the cubic
            a, b = region.edge(i)
            length = math.dist(a, b)
            plane = HalfPlane(a, ((b[1] - a[1]) / length, (a[0] - b[0]) / length))
            for t in crossings(cubic, plane):
                q = point_at(cubic, t)
                along = ((q[0] - a[0]) * (b[0] - a[0]) + (q[1] - a[1]) * (b[1] - a[1])) / (length * length)
                if -1e-9 <= along <= 1 + 1e-9:  # on the edge, not only its line
                    cuts.append(t)
        out += _cut(cubic, cuts, lambda p: region.contains(p, margin))
    return out


def winding(chains: list[list[Point]], p: Point, straight: bool = False) -> int:
    """The winding number of the closed chains around `p` (counter-clockwise positive): their
    signed crossings of the ray from `p` towards +x. `straight`: the chains are polygons (each
    point a corner), not cubics."""
    total = 0
    for chain in chains:
        if straight:
            for (x0, y0), (x1, y1) in zip(chain, chain[1:]):
                if (y0 <= p[1]) != (y1 <= p[1]) and x0 + (p[1] - y0) * (x1 - x0) / (y1 - y0) > p[0]:
                    total += 1 if y1 > y0 else -1
            continue
        plane = HalfPlane(p, (0.0, 1.0))  # distance: y - p.y
        runs = [piece for cubic in cubics_of(chain) for piece in _cut(cubic, crossings(cubic, plane),
                                                                      lambda q: q[1] > p[1])]
        for (_, above_before), (after, above) in zip(runs[-1:] + runs[:-1], runs):
            if above != above_before and after[0][0] > p[0]:
                total += 1 if above else -1
    return total


def cut_stroke(chain: list[Point], region: Region, closed: bool = False) -> list[tuple[list[Point], bool, bool]]:
    """The parts of a stroke's centre line (a chain) in the region, outline included:
    ``(chain, starts at a cut, ends at a cut)`` each. A `closed` chain that lies inside comes back
    whole, flags False."""
    runs = _region_pieces(chain, region, -ON_BOUNDARY)
    if all(is_inside for _, is_inside in runs):
        return [(chain, False, False)]
    if closed:
        first = next((i for i, (_, is_inside) in enumerate(runs) if is_inside and not runs[i - 1][1]), None)
        if first is None:
            return []
        runs = runs[first:] + runs[:first]
    out: list[tuple[list[Point], bool, bool]] = []
    current: list[Point] | None = None
    for index, (piece, is_inside) in enumerate(runs):
        if is_inside:
            if current is None:
                current = list(piece)
                starts_cut = closed or index > 0
            else:
                current += piece[1:]
        elif current is not None:
            out.append((current, starts_cut, True))
            current = None
    if current is not None:
        out.append((current, starts_cut, closed))
    return out


def clip_fill(chains: list[list[Point]], region: Region, even_odd: bool = False) -> list[list[Point]]:
    """The closed chains (one fill's subpaths) clipped to the region: closed chains whose winding
    number is the fill's inside the region (`even_odd`: of the same parity) and 0 outside. They
    are made of the fill's curves inside the region and of the region's outline, taken as many
    times (and in the direction) as the fill winds just inside it (`even_odd`: once where that is
    odd)."""
    kept: list[list[Point]] = []
    arcs: list[tuple[Point, Point, list[Point]]] = []  # (entry, exit, curve between)
    for chain in chains:
        runs = _region_pieces(chain, region, ON_BOUNDARY)  # a piece along the outline is outside
        if all(is_inside for _, is_inside in runs):
            kept.append(chain)
            continue
        first = next((i for i, (_, is_inside) in enumerate(runs) if is_inside and not runs[i - 1][1]), None)
        if first is None:
            continue
        current: list[Point] | None = None
        for piece, is_inside in runs[first:] + runs[:first]:
            if is_inside:
                current = list(piece) if current is None else current + piece[1:]
            elif current is not None:
                arcs.append((current[0], current[-1], current))
                current = None
        if current is not None:
            arcs.append((current[0], current[-1], current))
    return kept + _close_arcs(arcs, chains, region, even_odd, alone=not kept)


def _close_arcs(arcs: list[tuple[Point, Point, list[Point]]], chains: list[list[Point]],
                region: Region, even_odd: bool, alone: bool) -> list[list[Point]]:
    """Closed chains of the `arcs` (the fill's curves inside the region, from an entry to an
    exit on the outline) and of the outline between the ends, counted by winding number. With
    no arcs and nothing else drawn (`alone`), a fill that covers the region is its outline once."""
    # nodes: the ends on the outline, by position (ends closer than 1e-9 merged); walking the
    # outline forward, the winding number just inside drops by 1 where an arc enters, rises where one leaves
    ends = sorted((region.gap(end)[1], k, is_exit)
                  for k, arc in enumerate(arcs) for is_exit, end in enumerate(arc[:2]))
    nodes: list[list] = []  # [position, point, winding step]
    node_of: dict[tuple[int, int], int] = {}  # (arc, is_exit) -> node
    for position, k, is_exit in ends:
        if not nodes or position - nodes[-1][0] > 1e-9:
            nodes.append([position, arcs[k][is_exit], 0])
        nodes[-1][2] += 1 if is_exit else -1
        node_of[(k, is_exit)] = len(nodes) - 1
    count = len(region.corners)
    if not nodes:
        base = _winding_inside(chains, region, 0.0, 1.0)
        loop = region.outline(region.corners[0], region.corners[0], 0.0, 0.0)
        copies = base % 2 if even_odd else min(abs(base), 1) if alone else abs(base)
        return [loop if base > 0 else loop[::-1]] * copies
    n = len(nodes)
    lengths = [((nodes[(k + 1) % n][0] - nodes[k][0]) % count) or count for k in range(n)]  # stretch k: node k -> k + 1
    widest = max(range(n), key=lengths.__getitem__)
    windings = [0] * n
    windings[widest] = _winding_inside(chains, region, nodes[widest][0], nodes[widest][0] + lengths[widest])
    for k in range(widest + 1, widest + n):
        windings[k % n] = windings[(k - 1) % n] + nodes[k % n][2]
    edges = [(node_of[(k, 0)], node_of[(k, 1)], [nodes[node_of[(k, 0)]][1], *curve[1:-1], nodes[node_of[(k, 1)]][1]])
             for k, (_, _, curve) in enumerate(arcs)]
    for k, w in enumerate(windings):
        following = (k + 1) % n
        stretch = region.outline(nodes[k][1], nodes[following][1], nodes[k][0], nodes[following][0])
        copies = w % 2 if even_odd else abs(w)  # even-odd: only the parity shows, and a second copy would be a seam
        edges += [(k, following, stretch) if w > 0 else (following, k, stretch[::-1])] * copies
    return _loops(edges, n, directed=not even_odd)


def _loops(edges: list[tuple[int, int, list[Point]]], count: int, directed: bool) -> list[list[Point]]:
    """The edges ``(from node, to node, chain)`` joined into closed chains. Every node must have as
    many edges in as out (`directed`) or an even number (not: edges may then be walked backwards)."""
    incident: list[list[int]] = [[] for _ in range(count)]
    for index, (a, b, _) in enumerate(edges):
        incident[a].append(index)
        if not directed:
            incident[b].append(index)
    used = [False] * len(edges)
    loops = []
    for start in range(count):
        while True:
            node, chain = start, None
            while True:
                while incident[node] and used[incident[node][-1]]:
                    incident[node].pop()
                if not incident[node]:
                    break
                index = incident[node].pop()
                used[index] = True
                a, b, piece = edges[index]
                if a != node:  # walked backwards
                    a, b, piece = b, a, piece[::-1]
                chain = piece if chain is None else chain + piece[1:]
                node = b
                if node == start:
                    break
            if chain is None:
                break
            loops.append(chain)
    return loops


def _winding_inside(chains: list[list[Point]], region: Region, s0: float, s1: float) -> int:
    """The chains' winding number just inside the outline between positions `s0` < `s1`, where no
    curve crosses the outline: the most common of its values at three points of the stretch away
    from corners. (A fill may touch the outline at a point, a vertex on an edge's middle as
    symmetric shapes do: one point read there is wrong.)"""
    points = [p for u in (0.29, 0.53, 0.77) if 0.01 <= (p := s0 + u * (s1 - s0)) % 1 <= 0.99]
    if not points:  # a stretch at a corner: the middle of an edge in it
        middle = (s0 + s1) / 2
        points = [next((c for c in (math.floor(middle) + 0.5, math.floor(middle) - 0.5) if s0 < c < s1), middle)]
    values = [winding(chains, region.inward(p % len(region.corners), 4 * ON_BOUNDARY)) for p in points]
    return max(values, key=values.count)
