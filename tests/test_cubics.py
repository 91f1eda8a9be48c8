"""vecrender.cubics: regions, winding numbers, and fills and strokes clipped to a region."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from vecrender.cubics import (clip_fill, cut_stroke, hole_complement, line, outline_gap, region_relation,
                              simple_region, split, stroke_outline, sub_cubic, winding)
from vecrender.functional.styles import CAP_BUTT, CAP_ROUND, CAP_SQUARE, JOIN_BEVEL, JOIN_MITER, JOIN_ROUND


def polygon_chain(corners: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The closed chain of straight cubics through `corners`."""
    chain = [corners[0]]
    for corner in [*corners[1:], corners[0]]:
        chain += line(chain[-1], corner)
    return chain


def circle_chain(cx: float, cy: float, r: float, clockwise: bool = False) -> list[tuple[float, float]]:
    """A circle as 4 cubics (within 3e-4 r of it), counter-clockwise unless `clockwise`."""
    k = 0.5523 * r
    sign = -1 if clockwise else 1
    chain = [(cx + r, cy)]
    for q in range(4):
        a0, a1 = sign * q * math.pi / 2, sign * (q + 1) * math.pi / 2
        p0, p3 = (cx + r * math.cos(a0), cy + r * math.sin(a0)), (cx + r * math.cos(a1), cy + r * math.sin(a1))
        t0, t1 = (-math.sin(a0) * sign, math.cos(a0) * sign), (-math.sin(a1) * sign, math.cos(a1) * sign)
        chain += [(p0[0] + k * t0[0], p0[1] + k * t0[1]), (p3[0] - k * t1[0], p3[1] - k * t1[1]), p3]
    return chain


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
L_SHAPE = [(2.0, 1.0), (14.0, 1.0), (14.0, 13.0), (8.0, 13.0), (8.0, 6.0), (2.0, 6.0)]


def test_split_and_sub_cubic_trace_the_same_curve():
    cubic = [(0.0, 0.0), (1.0, 3.0), (4.0, -1.0), (5.0, 2.0)]
    left, right = split(cubic, 0.3)
    assert left[-1] == right[0] and left[0] == cubic[0] and right[-1] == cubic[-1]
    middle = sub_cubic(cubic, 0.2, 0.7)
    assert middle[0] == pytest.approx(split(cubic, 0.2)[0][-1])
    assert middle[-1] == pytest.approx(split(cubic, 0.7)[0][-1])


def test_simple_region_orients_and_tidies_polygons():
    clockwise = simple_region(SQUARE[::-1] + [SQUARE[-1]])  # repeated closing point
    assert clockwise is not None and clockwise.convex
    corners = clockwise.corners
    area = sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(corners, corners[1:] + corners[:1]))
    assert area == pytest.approx(200)  # counter-clockwise (positive), twice the area
    with_midpoints = simple_region([(0, 0), (5, 0), (10, 0), (10, 10), (0, 10)])
    assert len(with_midpoints.corners) == 4  # a corner straight on is no corner
    ell = simple_region(L_SHAPE)
    assert ell is not None and not ell.convex
    assert ell.contains((11, 10)) and not ell.contains((4, 10)) and ell.contains((5, 3.5))


@pytest.mark.parametrize("other, relation, reverse", [
    ([(30, 1), (40, 1), (40, 9), (30, 9)], "apart", "apart"),
    ([(3, 8), (7, 8), (7, 12), (3, 12)], "apart", "apart"),  # in the L's notch: the bounding boxes overlap
    ([(3, 6), (7, 6), (7, 12), (3, 12)], "meet", "meet"),  # touching the L along an edge
    ([(7, 8), (9, 8), (9, 12), (7, 12)], "meet", "meet"),  # crossing its outline
    ([(10, 2), (12, 2), (12, 4), (10, 4)], "around", "inside"),  # inside it
    ([(0, 0), (20, 0), (20, 20), (0, 20)], "inside", "around"),  # around it
])
def test_region_relation(other, relation, reverse):
    ell, region = simple_region(L_SHAPE), simple_region(other)
    assert region_relation(ell, region) == relation and region_relation(region, ell) == reverse


@pytest.mark.parametrize("hole", [
    [(4.3, 3.2), (7.6, 3.9), (6.8, 7.7), (3.9, 6.5)],  # a quadrilateral: split at x = 6
    [(5.2, 2.5), (5.7, 2.5), (5.7, 3.0), (5.2, 3.0)],  # narrower than a pixel: split at its middle
    L_SHAPE,
])
def test_hole_complement_is_the_box_less_the_hole(hole):
    box = (0.0, 0.0, 16.0, 16.0)
    region = simple_region(hole)
    left, right = hole_complement(region, box)
    assert all(p[0] <= q for p in left.corners for q in [max(c[0] for c in left.corners)])
    for x in np.linspace(0.05, 15.95, 41):
        for y in np.linspace(0.05, 15.95, 41):
            point = (float(x), float(y))
            inside = [left.contains(point), right.contains(point)]
            assert sum(inside) == (0 if region.contains(point) else 1), (point, inside)
    seam = max(c[0] for c in left.corners)
    assert seam == min(c[0] for c in right.corners)
    lo, hi = min(c[0] for c in hole), max(c[0] for c in hole)
    assert seam == round(seam) if hi - lo > 1 else seam == pytest.approx((lo + hi) / 2)


def test_hole_complement_needs_a_line_that_crosses_the_hole_twice():
    letter_s = [(0, 0), (9, 0), (9, 1), (1, 1), (1, 4), (9, 4), (9, 9), (0, 9), (0, 8), (8, 8), (8, 5), (0, 5)]
    assert hole_complement(simple_region([(x + 2.5, y + 2.5) for x, y in letter_s]), (0.0, 0.0, 16.0, 16.0)) is None


@pytest.mark.parametrize("corners", [
    [(0, 0), (10, 10), (10, 0), (0, 10)],  # a bow tie
    [(0, 0), (10, 0), (10, 10), (0, 0), (0, 10), (-5, 5)],  # two loops through one point
    [(0, 0), (10, 0), (5, 0)],  # no area
    [(0, 0), (10, 0), (10, 10), (10, 5)],  # turns straight back
    [(math.cos(4 * math.pi * k / 5), math.sin(4 * math.pi * k / 5)) for k in range(5)],  # a pentagram
])
def test_simple_region_refuses_polygons_that_meet_themselves(corners):
    assert simple_region(corners) is None


def test_winding_numbers_of_cubic_chains():
    ring = [circle_chain(0, 0, 10), circle_chain(0, 0, 4, clockwise=True)]
    assert winding(ring, (7, 0.5)) == 1 and winding(ring, (0.5, 0.5)) == 0 and winding(ring, (20, 0)) == 0
    assert winding([circle_chain(0, 0, 10, clockwise=True)], (1, 2)) == -1
    twice = [circle_chain(0, 0, 10), circle_chain(0, 0, 4)]
    assert winding(twice, (1, 1)) == 2
    # a ray through a corner and along an edge counts once
    assert winding([polygon_chain(SQUARE)], (-5, 0)) == 0 and winding([polygon_chain(SQUARE)], (5, 10 - 1e-9)) == 1
    assert winding([polygon_chain(SQUARE)], (5, 5)) == 1


def random_fill(rng: random.Random) -> list[list[tuple[float, float]]]:
    """Two to four closed chains of random cubics (self-crossing, either direction), in 0..16."""
    chains = []
    for _ in range(rng.randint(2, 4)):
        chain = [(rng.uniform(0, 16), rng.uniform(0, 16))]
        for _ in range(rng.randint(1, 4)):
            chain += [(rng.uniform(0, 16), rng.uniform(0, 16)) for _ in range(3)]
        chain[-1] = chain[0]
        chains.append(chain)
    return chains


REGIONS = {
    "square": [(3.0, 2.5), (12.5, 2.5), (12.5, 11.0), (3.0, 11.0)],
    "triangle": [(8.0, -1.0), (17.0, 15.0), (1.0, 12.0)],
    "L": L_SHAPE,
    "circle": [(8 + 6 * math.cos(k * math.pi / 40), 8 + 6 * math.sin(k * math.pi / 40)) for k in range(80)],
    "beyond": [(-5.0, -5.0), (25.0, -5.0), (25.0, 25.0), (-5.0, 25.0)],
}


@pytest.mark.parametrize("name", REGIONS)
@pytest.mark.parametrize("even_odd", [False, True])
def test_clipped_fill_winds_as_the_fill_inside_and_not_outside(name, even_odd):
    """At sample points, the clipped chains' winding number is the fill's in the region (even-odd:
    of the same parity) and 0 outside, for random self-crossing fills."""
    region = simple_region(REGIONS[name])
    rng = random.Random(f"{name}-{even_odd}")
    checked = 0
    for _ in range(12):
        chains = random_fill(rng)
        clipped = clip_fill(chains, region, even_odd)
        assert all(chain[-1] == chain[0] for chain in clipped)  # closed chains of cubics
        assert all(len(chain) % 3 == 1 for chain in clipped)
        for _ in range(40):
            p = (rng.uniform(-1, 17), rng.uniform(-1, 17))
            if abs(region.gap(p)[0]) < 1e-3:
                continue  # on the outline: either side
            expected = winding(chains, p) if region.contains(p) else 0
            got = winding(clipped, p)
            assert (got % 2 == expected % 2) if even_odd else (got == expected), (p, got, expected)
            checked += 1
    assert checked > 400


def test_clipped_even_odd_fill_draws_the_outline_once_where_it_winds_twice():
    """A ring whose contours run the same way winds twice in its hole, which even-odd leaves
    empty: where the clip cuts the hole no outline is drawn (two copies would be a seam), where it
    cuts the band once."""
    ring = [polygon_chain([(0, 0), (20, 0), (20, 20), (0, 20)]), polygon_chain([(5, 5), (15, 5), (15, 15), (5, 15)])]
    region = simple_region([(10.0, -5.0), (30.0, -5.0), (30.0, 25.0), (10.0, 25.0)])
    on_cut = [(chain[i][1], chain[i + 3][1]) for chain in clip_fill(ring, region, even_odd=True)
              for i in range(0, len(chain) - 1, 3) if abs(chain[i][0] - 10) + abs(chain[i + 3][0] - 10) < 1e-9]
    assert sorted(tuple(sorted(span)) for span in on_cut) == [pytest.approx((0, 5)), pytest.approx((15, 20))]


def test_fill_inside_comes_back_as_it_is():
    chains = [circle_chain(8, 8, 3)]
    assert clip_fill(chains, simple_region(REGIONS["square"]))[0] is chains[0]
    assert clip_fill([circle_chain(30, 30, 3)], simple_region(REGIONS["square"])) == []


@pytest.mark.parametrize("even_odd", [False, True])
def test_fill_edges_along_the_outline_are_drawn_once(even_odd):
    """A flag clipped to its own canvas, or to part of it: the fill's edges that lie on the
    outline and the outline between them bound it once."""
    for corners in ([(0, 0), (10, 0), (10, 5), (0, 5)], SQUARE, [(0, 0), (10, 0), (10, 10), (5, 10), (5, 5), (0, 5)]):
        region = simple_region(corners)
        clipped = clip_fill([polygon_chain(SQUARE)], region, even_odd)
        for x in (1.5, 4.5, 7.5, 9.5):
            for y in (0.5, 2.5, 4.5, 5.5, 7.5, 9.5):
                assert winding(clipped, (x, y)) == int(region.contains((x, y))), (corners, x, y)


def test_clip_fill_covering_the_region_gives_its_outline():
    region = simple_region(REGIONS["square"])
    twice = [circle_chain(8, 8, 20), circle_chain(8, 8, 30)]
    outline, = clip_fill(twice, region)  # once: a second copy would change nothing but draw a seam
    assert winding([outline], (5, 5)) == 1 and winding([outline], (2, 2)) == 0
    assert clip_fill(twice, region, even_odd=True) == []
    hole = circle_chain(8, 8, 1, clockwise=True)  # with more drawn inside, the outline counts twice
    assert winding(clip_fill([*twice, hole], region), (8, 8)) == 1


@pytest.mark.parametrize("corners", [
    [(0, 0), (10, 5), (0, 10)],  # an arrowhead filling its box: two corners and an edge's middle
    [(5, 0), (10, 5), (5, 10), (0, 5)],  # a diamond touching every edge at its middle
])
def test_clip_fill_keeps_a_fill_that_touches_the_outline_at_points(corners):
    """Where the fill only touches the region's edges, the outline between its entry and exit
    must not be taken for inside at the touching vertex (the whole box came out)."""
    region = simple_region(SQUARE)
    clipped = clip_fill([polygon_chain(corners)], region)
    for point in ((9.0, 1.0), (1.0, 9.0), (9.0, 9.0), (5.0, 5.0), (1.0, 5.0), (5.0, 1.5)):
        assert winding(clipped, point) == winding([polygon_chain(corners)], point), point


def test_cut_stroke_splits_at_the_outline_and_flags_the_cuts():
    region = simple_region(L_SHAPE)
    across = [(0.0, 10.0), *line((0.0, 10.0), (16.0, 10.0))]  # crosses the L's right arm only
    (part, start_cut, end_cut), = cut_stroke(across, region)
    assert part[0] == pytest.approx((8, 10)) and part[-1] == pytest.approx((14, 10)) and start_cut and end_cut
    from_inside = [(10.0, 3.0), *line((10.0, 3.0), (20.0, 3.0))]
    (part, start_cut, end_cut), = cut_stroke(from_inside, region)
    assert part[0] == (10.0, 3.0) and part[-1] == pytest.approx((14, 3)) and not start_cut and end_cut
    loop = polygon_chain([(4, 3), (12, 3), (12, 11), (4, 11)])  # leaves through the notch
    parts = cut_stroke(loop, region, closed=True)
    assert len(parts) == 1 and parts[0][1] and parts[0][2]
    assert parts[0][0][0] == pytest.approx((4, 6)) and parts[0][0][-1] == pytest.approx((8, 11))
    inside = polygon_chain([(10, 3), (12, 3), (12, 11)])
    assert cut_stroke(inside, region, closed=True) == [(inside, False, False)]
    assert cut_stroke([(20.0, 20.0), *line((20.0, 20.0), (30.0, 20.0))], region) == []


# -- stroke outlines -----------------------------------------------------------------------------
def _covered(polygons: list[list[tuple[float, float]]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where the polygons' summed winding number is nonzero (numpy, for grids of points)."""
    total = np.zeros(x.shape, dtype=np.int64)
    for polygon in polygons:
        for (ax, ay), (bx, by) in zip(polygon, polygon[1:] + polygon[:1]):
            cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            total += ((ay <= y) & (by > y) & (cross > 0)).astype(np.int64)
            total -= ((by <= y) & (ay > y) & (cross < 0)).astype(np.int64)
    return total != 0


def _area(polygons, box=(-4.0, 16.0), step=0.02) -> float:
    """Area of the nonzero fill of the polygons, by counting grid points."""
    ticks = np.arange(box[0] + step / 2, box[1], step)
    x, y = np.meshgrid(ticks, ticks)
    return float(_covered(polygons, x, y).sum()) * step * step


def _polyline(*corners):
    chain = [corners[0]]
    for a, b in zip(corners, corners[1:]):
        chain += line(a, b)
    return chain


@pytest.mark.parametrize("spread", [40.0, 3.0])
def test_round_stroke_outline_covers_what_is_within_half_the_width(spread):
    """Round caps and joins: the outline's nonzero fill is exactly the points within half the
    width of the curve, on random curves that loop, cusp and cross themselves, and on curves much
    shorter than the stroke is wide (where the inner offsets fold back past the vertices)."""
    rng = random.Random(1)
    for _ in range(12):
        chain = [(rng.uniform(0, spread), rng.uniform(0, spread)) for _ in range(7)]
        width = rng.uniform(1, 12)
        polygons = stroke_outline(chain, width, cap=CAP_ROUND, join=JOIN_ROUND, tolerance=0.005)
        curve = np.array([split(chain[i:i + 4], t)[0][-1] for i in (0, 3) for t in np.linspace(0, 1, 2001)])
        x, y = np.random.default_rng(0).uniform(-8, spread + 8, (2, 400))
        distance = np.hypot(x[:, None] - curve[None, :, 0], y[:, None] - curve[None, :, 1]).min(1)
        clear = np.abs(distance - width / 2) > 0.05
        assert (_covered(polygons, x, y) == (distance < width / 2))[clear].all()


@pytest.mark.parametrize("cap, area", [(CAP_BUTT, 20.0), (CAP_SQUARE, 24.0), (CAP_ROUND, 20.0 + math.pi)])
def test_stroke_outline_caps(cap, area):
    assert _area(stroke_outline(_polyline((0, 5), (10, 5)), 2.0, cap=cap, tolerance=0.001)) == \
        pytest.approx(area, abs=0.03)


@pytest.mark.parametrize("join, limit, area", [
    (JOIN_MITER, 4.0, 40.0), (JOIN_BEVEL, 4.0, 39.5), (JOIN_ROUND, 4.0, 39.0 + math.pi / 4),
    (JOIN_MITER, 1.4, 39.5),  # a right angle's miter is sqrt(2) widths long: beyond 1.4, a bevel
])
def test_stroke_outline_joins(join, limit, area):
    """A right angle of two 10 px legs, 2 px wide, butt caps: 39 px^2 plus the outer corner's piece."""
    polygons = stroke_outline(_polyline((0, 0), (10, 0), (10, 10)), 2.0, join=join, miter_limit=limit,
                              tolerance=0.001)
    assert _area(polygons) == pytest.approx(area, abs=0.03)


@pytest.mark.parametrize("join, area", [(JOIN_MITER, 130.0), (JOIN_BEVEL, 117.5)])
def test_stroke_outline_inner_corner_of_a_leg_shorter_than_the_width(join, area):
    """(0, 0) -> (10, 0) -> (10, 1), 10 px wide, butt caps: the first leg's 10 x 10 square, the
    second's 10 x 1 (half inside the first) and the outer corner's piece. The second leg ends
    before the first's offset: the inner side must join through the vertex to cover it all."""
    polygons = stroke_outline(_polyline((0, 0), (10, 0), (10, 1)), 10.0, join=join)
    assert _area(polygons, box=(-6.0, 22.0), step=0.05) == pytest.approx(area, abs=0.2)


def test_closed_stroke_outline_is_a_ring_and_dots_follow_the_cap():
    square = _polyline((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))
    ring = stroke_outline(square, 2.0, closed=True, join=JOIN_MITER)
    assert len(ring) == 2 and _area(ring) == pytest.approx(144 - 64, abs=0.03)  # 12 x 12 minus the 8 x 8 hole
    assert _area(stroke_outline([(5, 5)] * 4, 4.0, cap=CAP_ROUND, tolerance=0.001)) == pytest.approx(4 * math.pi,
                                                                                                     abs=0.03)
    assert _area(stroke_outline([(5, 5)] * 4, 4.0, cap=CAP_SQUARE)) == pytest.approx(16.0, abs=0.03)
    assert stroke_outline([(5, 5)] * 4, 4.0) == [] and stroke_outline(square, 0.0) == []


def test_outline_gap_is_the_distance_between_a_polyline_and_the_outline():
    square = simple_region([(0, 0), (10, 0), (10, 10), (0, 10)])
    assert outline_gap(square, [(-5, 5), (15, 5)]) == 0  # crosses through, both ends outside
    assert outline_gap(square, [(2, 2), (8, 3)]) == pytest.approx(2.0)  # inside, nearest at an end
    assert outline_gap(square, [(12, -5), (12, 15)]) == pytest.approx(2.0)  # alongside an edge
    assert outline_gap(square, [(13, 13), (20, 20), (11, 14)]) == pytest.approx(math.hypot(1, 4))
    assert outline_gap(square, [(14, 14)]) == pytest.approx(math.hypot(4, 4))
    diamond = simple_region([(5, -3), (13, 5), (5, 13), (-3, 5)])
    assert outline_gap(diamond, [(-10, 14), (20, 14)]) == pytest.approx(1.0)  # a corner 1 below the line


@pytest.mark.parametrize("join, area", [(JOIN_MITER, 20.0), (JOIN_ROUND, 20.0 + math.pi / 2)])
def test_stroke_outline_of_a_path_that_turns_back(join, area):
    """Out and back along one line (the way back a hair off it, so the turn's sine is tiny but
    its cosine rounds to -1): the 10 x 2 bar, with a round tip or none (a miter that long is a
    bevel)."""
    polygons = stroke_outline(_polyline((0, 5), (10, 5), (0, 5 + 1e-8)), 2.0, join=join, tolerance=0.001)
    assert _area(polygons) == pytest.approx(area, abs=0.03)


def test_stroke_outline_of_huge_widths_stays_finite_and_bounded():
    for cap in (CAP_ROUND, CAP_SQUARE, CAP_BUTT):
        polygons = stroke_outline(_polyline((0, 0), (1, 0), (1, 1)), 1e30, cap=cap, join=JOIN_ROUND)
        assert all(math.isfinite(v) for polygon in polygons for p in polygon for v in p)
        assert sum(map(len, polygons)) < 2000  # arcs of a huge radius: at most MAX_CHORDS chords each
