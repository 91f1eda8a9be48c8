"""Caps and joins other than round: exact areas of straight strokes, native == reference, gradients,
degenerate input, scenes and SVG."""

from __future__ import annotations

import math

import pytest
import torch
from test_functional_render import assert_gradients_match

from vecrender.builtins.renderers import NativeRenderer, ReferenceRenderer
from vecrender.functional import render_native, render_reference
from vecrender.functional.styles import (
    CAP_BUTT,
    CAP_ROUND,
    CAP_SQUARE,
    JOIN_BEVEL,
    JOIN_MITER,
    JOIN_ROUND,
    neighbour_directions,
    segments_before,
    straight_length,
    vertex_owner,
)
from vecrender.runner import scene_from_state, scene_state
from vecrender.scene import VectorScene, concat_scenes, stroke_style_of
from vecrender.svg import svg_to_scene

RENDERERS = {"reference": render_reference, "native": render_native}
F64 = torch.float64


def polygon_alpha(polygon: list[torch.Tensor], size: int, k: int = 16) -> torch.Tensor:
    """``[size, size]`` share of each pixel inside a simple polygon (k x k samples, even-odd)."""
    c = (torch.arange(size * k, dtype=F64) + 0.5) / k
    y, x = torch.meshgrid(c, c, indexing="ij")
    inside = torch.zeros_like(x, dtype=torch.bool)
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        if y1 != y2:
            inside ^= ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / (y2 - y1) + x1)
    return inside.double().reshape(size, k, size, k).mean((1, 3))


def straight(*corners: torch.Tensor) -> torch.Tensor:
    """``[1 + 3 (len - 1), 2]`` points of the polyline through ``corners`` as straight cubics."""
    out = [corners[0]]
    for a, b in zip(corners, corners[1:]):
        out += [a + (b - a) / 3, a + 2 * (b - a) / 3, b]
    return torch.stack(out)


def perp(d: torch.Tensor) -> torch.Tensor:
    return torch.stack([-d[1], d[0]])


def styled_scene(points: torch.Tensor, half: float, cap: int, join: int = JOIN_ROUND, limit: float = 4.0,
                 size: int = 40) -> VectorScene:
    return VectorScene(points=points[None].float(), widths=torch.tensor([2 * half]),
                       stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]), width=size, height=size,
                       line_caps=torch.tensor([cap]), line_joins=torch.tensor([join]),
                       miter_limits=torch.tensor([limit]))


def alpha_errors(scene: VectorScene, truth: torch.Tensor) -> dict[str, float]:
    """Mean absolute alpha error per renderer, and of the same scene with round caps and joins."""
    out = {}
    for name, renderer in (("native", NativeRenderer()), ("reference", ReferenceRenderer())):
        out[name] = (renderer.render([scene])[0, 3].double() - truth).abs().mean().item()
    round_scene = VectorScene(points=scene.points, widths=scene.widths, stroke_colors=scene.stroke_colors,
                              width=scene.width, height=scene.height)
    out["round"] = (NativeRenderer().render([round_scene])[0, 3].double() - truth).abs().mean().item()
    return out


# -- exact areas ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cap", [CAP_BUTT, CAP_SQUARE])
def test_flat_caps_of_a_straight_stroke_match_its_rectangle(cap):
    a, b, half = torch.tensor([6.3, 9.1], dtype=F64), torch.tensor([25.2, 21.7], dtype=F64), 2.5
    d = (b - a) / (b - a).norm()
    n = perp(d)
    extend = half if cap == CAP_SQUARE else 0.0
    a, b = a - d * extend, b + d * extend
    truth = polygon_alpha([a + n * half, b + n * half, b - n * half, a - n * half], 32)
    errors = alpha_errors(styled_scene(straight(a + d * extend, b - d * extend), half, cap, size=32), truth)
    # measured: butt 2.5e-4, square 3.0e-4 (the cap corners: a product of the two edges' areas)
    assert errors["native"] < 4e-4 and errors["reference"] < 4e-4, errors
    assert errors["round"] > 10 * errors["native"] if cap == CAP_BUTT else errors["round"] > 5 * errors["native"]


@pytest.mark.parametrize("angle, join, limit, bound", [
    (90, JOIN_MITER, 4.0, 5e-4),  # measured 3.7e-4
    (30, JOIN_MITER, 4.0, 4e-4),  # a 3.9-width miter: 2.6e-4
    (30, JOIN_MITER, 2.0, 4e-4),  # beyond its limit: a bevel, 3.0e-4
    (60, JOIN_BEVEL, 4.0, 5e-4),  # 3.3e-4
])
def test_sharp_joins_of_straight_strokes_match_their_outline(angle, join, limit, bound):
    half = 2.0
    a, v = torch.tensor([8.2, 30.3], dtype=F64), torch.tensor([20.1, 18.7], dtype=F64)
    d1 = (v - a) / (v - a).norm()
    turn = math.radians(180 - angle)  # angle: between the two segments
    d2 = torch.tensor([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], dtype=F64) @ d1
    c = v + 14 * d2
    n1, n2 = perp(d1), perp(d2)
    side = -1.0 if float(n1 @ d2) > 0 else 1.0  # the outer side of the corner
    miter = (n1 + n2) / (1 + n1 @ n2) * half  # from the vertex to the sides' crossings
    beyond_limit = 1 / math.cos(math.radians(180 - angle) / 2) > limit
    outer = [v + side * miter] if join == JOIN_MITER and not beyond_limit else [v + side * n1 * half,
                                                                                 v + side * n2 * half]
    polygon = [a + side * n1 * half, *outer, c + side * n2 * half, c - side * n2 * half, v - side * miter,
               a - side * n1 * half]
    errors = alpha_errors(styled_scene(straight(a, v, c), half, CAP_BUTT, join, limit), polygon_alpha(polygon, 40))
    assert errors["native"] < bound and errors["reference"] < bound, errors
    assert errors["round"] > 2 * errors["native"], errors


def test_closed_path_joins_at_its_closing_vertex():
    """A closed rectangle with miter joins is the difference of two rectangles, corners included
    (edges on sixteenths of a pixel, where the 16 x 16 samples of the truth are exact)."""
    size, half = 32, 2.0
    x0, y0, x1, y1 = 8.3125, 8.625, 24.3125, 23.625
    corners = [torch.tensor(p, dtype=F64) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    scene = VectorScene(points=straight(*corners, corners[0])[None].float(), widths=torch.tensor([2 * half]),
                        stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]), width=size, height=size,
                        closed=torch.tensor([True]), line_joins=torch.tensor([JOIN_MITER]))

    def rectangle(grow: float) -> torch.Tensor:
        return polygon_alpha([(x0 - grow, y0 - grow), (x1 + grow, y0 - grow), (x1 + grow, y1 + grow),
                              (x0 - grow, y1 + grow)], size)

    errors = alpha_errors(scene, rectangle(half) - rectangle(-half))
    # exact, the inner corners too (a pixel there, closest to one side, is covered by the other
    # side's band as well: the union of the two)
    assert errors["native"] < 1e-6 and errors["reference"] < 1e-6, errors
    assert errors["round"] > 3e-3


# -- native == reference, gradients ---------------------------------------------------------------
def random_styled(seed: int, batch: int = 2, n: int = 8, segs: int = 3, size: int = 26):
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(batch, n, 1, 2, generator=g, dtype=F64) * size
    steps = (torch.rand(batch, n, 3 * segs, 2, generator=g, dtype=F64) - 0.5) * size * 0.5
    points = torch.cat([start, start + steps.cumsum(2)], dim=2)
    widths = 0.5 + torch.rand(batch, n, generator=g, dtype=F64) * 4
    strokes = torch.rand(batch, n, 4, generator=g, dtype=F64)
    closed = torch.rand(batch, n, generator=g) < 0.4
    num_segments = torch.randint(1, segs + 1, (batch, n), generator=g)
    even_odd = torch.zeros(batch, n, dtype=torch.bool)
    style = torch.stack([torch.randint(0, 3, (batch, n), generator=g).double(),
                         torch.randint(0, 3, (batch, n), generator=g).double(),
                         1 + 4 * torch.rand(batch, n, generator=g, dtype=F64)], -1)
    return [points, widths, strokes, None, closed, num_segments, even_odd], style


# seeds whose round strokes agree to 1e-6 (on some others the native search, two candidate
# chords, misses a self-crossing path's closest point at single pixels, styled or not)
@pytest.mark.parametrize("seed", [2, 4])
@pytest.mark.parametrize("shapes", ["dynamic", "static"])
def test_native_matches_reference_with_styles(seed, shapes):
    args, style = random_styled(seed)
    args[0][0, 0] = args[0][0, 0, :1]  # a zero-length stroke (one segment: a dot)
    args[5][0, 0] = 1
    leaves = [t.clone().requires_grad_(True) for t in args[:3]]
    weights = torch.rand(2, 4, 26, 26, generator=torch.Generator().manual_seed(seed), dtype=F64)
    images, grads = [], []
    for fn, kw in ((render_reference, {}), (render_native, {"shapes": shapes})):
        img = fn(*leaves, *args[3:], 26, 26, stroke_style=style, **kw)
        grads.append(torch.autograd.grad((img * weights).sum(), leaves))
        images.append(img.detach())
    assert (images[0] - images[1]).abs().max() < 1e-4
    plain = render_native(*args, 26, 26)
    assert (plain - images[1]).abs().amax((1, 2, 3)).min() > 0.1  # the styles show
    assert_gradients_match(*grads)


def test_gradcheck_float64_with_caps_and_joins():
    points = torch.tensor([[[1.3, 2.2], [4.1, 6.4], [6.2, 2.7], [8.6, 5.3], [9.1, 9.8], [4.2, 11.1], [2.3, 8.2]],
                           [[10.4, 1.1], [7.3, 3.8], [11.2, 5.3], [6.1, 7.2], [3.2, 4.4], [9.5, 2.1], [10.4, 1.1]]],
                          dtype=F64)
    widths = torch.tensor([2.3, 1.7], dtype=F64)
    strokes = torch.tensor([[0.2, 0.4, 0.6, 0.8], [0.7, 0.1, 0.3, 0.6]], dtype=F64)
    flags = (torch.tensor([False, True]), torch.tensor([2, 2]), torch.tensor([False, False]))
    style = torch.tensor([[CAP_BUTT, JOIN_MITER, 4.0], [CAP_SQUARE, JOIN_BEVEL, 4.0]], dtype=F64)

    def f(p, w, s):
        return render_native(p[None], w[None], s[None], None, *flags, 12, 12, stroke_style=style, newton_steps=8)

    inputs = tuple(t.clone().requires_grad_(True) for t in (points, widths, strokes))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# -- degenerate input -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "native"])
def test_degenerate_styled_strokes(name):
    fn = RENDERERS[name]
    dot = torch.tensor([[6.5, 6.5]] * 4, dtype=F64)
    hairpin = straight(torch.tensor([2.0, 12.5], dtype=F64), torch.tensor([12.0, 12.5], dtype=F64),
                       torch.tensor([2.0, 12.5], dtype=F64))
    doubled = torch.tensor([[3.0, 3.0], [3.0, 3.0], [9.0, 3.0], [9.0, 3.0]] * 1 + [[9.0, 3.0], [9.0, 9.0],
                                                                                   [9.0, 9.0]], dtype=F64)
    points = torch.stack([torch.cat([dot, dot[:3]]), torch.cat([dot, dot[:3]]), hairpin, doubled])[None]
    widths = torch.tensor([[3.0, 3.0, 2.0, 0.0]], dtype=F64)
    strokes = torch.ones(1, 4, 4, dtype=F64)
    flags = (torch.zeros(4, dtype=torch.bool), torch.tensor([1, 1, 2, 2]), torch.zeros(4, dtype=torch.bool))
    style = torch.tensor([[CAP_BUTT, JOIN_MITER, 4.0], [CAP_SQUARE, JOIN_MITER, 4.0],
                          [CAP_BUTT, JOIN_MITER, 1.0], [CAP_BUTT, JOIN_MITER, 4.0]], dtype=F64)
    leaves = [t.clone().requires_grad_(True) for t in (points, widths, strokes)]
    layers = [fn(*(t[:, i : i + 1] for t in leaves), None, *(f[i : i + 1] for f in flags), 16, 16,
                 stroke_style=style[i : i + 1]) for i in range(4)]
    sum(img.square().sum() for img in layers).backward()
    for t in (*layers, *(leaf.grad for leaf in leaves)):
        assert torch.isfinite(t).all()
    assert layers[0].abs().max() == 0  # a zero-length subpath with butt caps draws nothing
    square = layers[1][0, 3]  # with square caps: an axis-aligned 3 x 3 square (5..8 x 5..8)
    assert square[5:8, 5:8].min().item() == pytest.approx(1.0) and square.sum().item() == pytest.approx(9.0, abs=1e-6)
    # the hairpin: beyond its limit, so a bevel through the turning point (nothing past x = 12)
    assert layers[2][0, 3, :, 13:].abs().max() < 1e-6 and layers[2][0, 3, 12, 10].item() == pytest.approx(1.0)
    assert layers[3].abs().max() == 0  # zero width


def test_neighbour_directions():
    points = straight(*(torch.tensor(p, dtype=F64) for p in ((0, 0), (4, 0), (4, 4), (0, 4), (0, 0))))
    segs = torch.stack([points[3 * k: 3 * k + 4] for k in range(4)])[None, None].expand(1, 2, 4, 4, 2)
    closed, count = torch.tensor([[False, True]]), torch.tensor([[4, 4]])
    following, preceding = neighbour_directions(segs, closed, count, None)
    assert following[0, 0, :, 2].tolist() == [4.0, 4.0, 4.0, 0.0]  # the sides run straight for 4 px
    following, preceding = following[..., :2], preceding[..., :2]
    east, south, west, north = ([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0])
    assert following[0, 0].tolist() == [south, west, north, [0.0, 0.0]]  # open: no segment after the last
    assert preceding[0, 0].tolist() == [[0.0, 0.0], east, south, west]
    assert following[0, 1].tolist() == [south, west, north, east]  # closed: around
    assert preceding[0, 1].tolist() == [north, east, south, west]
    starts = torch.tensor([[[True, False, True, False]] * 2])  # two subpaths of 2 segments each
    following, preceding = neighbour_directions(segs, closed, count, starts)
    assert following[0, 1, :, :2].tolist() == [south, east, north, west]
    assert preceding[0, 1, :, :2].tolist() == [south, east, north, west]
    assert segments_before(4, closed, count, None).tolist() == [[[-1, 0, 1, 2], [3, 0, 1, 2]]]
    assert segments_before(4, closed, count, starts).tolist() == [[[-1, 0, -1, 2], [1, 0, 3, 2]]]


# Paths whose join vertices are the closest points of pixels that another part of a segment
# meeting there also covers (short or hooked segments); each is a path of 41 px scenes that
# `render_native` and `render_reference` drew up to 0.16 apart: (points, closed, width, cap,
# join, miter limit, subpath starts).
VERTEX_TIES = [
    ([[16.05, 15.73], [12.0, 19.29], [6.12, 14.91], [11.7, 13.93], [14.98, 11.39], [16.49, 12.06], [15.55, 16.2],
      [16.69, 19.13], [20.06, 24.11], [14.93, 19.81], [13.36, 22.77], [8.67, 27.63], [14.26, 26.04]],
     True, 1.906, CAP_ROUND, JOIN_BEVEL, 5.64, [True, False, True, False]),
    ([[19.81, 37.66], [20.73, 37.93], [21.3, 38.11], [22.06, 38.64], [21.88, 38.27], [22.9, 37.55], [22.05, 37.3],
      [23.01, 37.04], [23.19, 36.26], [22.42, 37.27], [21.78, 36.67], [20.97, 35.92], [20.92, 36.81]],
     False, 2.945, CAP_SQUARE, JOIN_MITER, 2.44, [True, False, False, False]),
]


@pytest.mark.parametrize("case", range(len(VERTEX_TIES)))
def test_a_join_vertex_belongs_to_the_segment_ending_there(case):
    # a pixel whose closest point is a join's vertex ties between the two segments meeting there,
    # and each sees another inner corner at its other end: both renderers give it to the segment
    # ending there (`vertex_owner`), so they agree where either pick could win by rounding
    points, closed, width, cap, join, limit, starts = VERTEX_TIES[case]
    scene = VectorScene(points=torch.tensor([points]), widths=torch.tensor([width]),
                        stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]), closed=torch.tensor([closed]),
                        width=41, height=41, line_caps=torch.tensor([cap]), line_joins=torch.tensor([join]),
                        miter_limits=torch.tensor([limit]), subpath_starts=torch.tensor([starts]))
    native, reference = NativeRenderer().render([scene]), ReferenceRenderer().render([scene])
    assert (native - reference).abs().max() < 1e-4
    seg, t = vertex_owner(torch.tensor([2, 0, 1]), torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1, -1, 0]))
    assert seg.tolist() == [1, 0, 1] and t.tolist() == [1.0, 0.0, 1.0]  # an open start stays


def test_straight_length_stops_where_a_curve_leaves_its_tangent():
    k = 0.5523 * 10  # a quarter circle of radius 10 leaving (0, 0) along +x, and a straight segment
    arc = torch.tensor([[0.0, 0.0], [k, 0.0], [10.0, 10 - k], [10.0, 10.0]], dtype=F64)
    line = straight(torch.tensor([0.0, 0.0], dtype=F64), torch.tensor([6.0, 8.0], dtype=F64))
    lengths = straight_length(torch.stack([arc, line]), torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64))
    # the arc is within 0.25 px of its tangent for sqrt(2 * 0.25 * 10) = 2.24 px (sampled: a bit less)
    assert 1.5 < lengths[0].item() <= 2.24 and lengths[1].item() == pytest.approx(10.0)


def test_inner_corner_band_follows_a_curve_that_bends_away():
    """At a sharp (beveled) join between curved segments the inner-corner model must not draw
    the other segment's straight tangent band where the segment has bent away: a bevel covers no
    more than the round join anywhere (a pixel 6 px past the join, beside no stroke, used to get 1)."""
    points = torch.tensor([[9.1192, 10.8120], [8.4880, 10.9255], [11.9868, 8.7967], [9.3930, 14.2725],
                           [9.7584, 9.9512], [15.1511, 11.0134], [18.5754, 5.4550]], dtype=F64)
    args = (points[None, None], torch.tensor([[3.0]], dtype=F64), torch.tensor([[[0.0, 0, 0, 1]]], dtype=F64), None,
            torch.tensor([False]), torch.tensor([2]), torch.tensor([False]), 24, 24)
    for fn in (render_native, render_reference):
        round_join = fn(*args)[0, 3]
        beveled = fn(*args, stroke_style=torch.tensor([[CAP_ROUND, JOIN_BEVEL, 4.0]], dtype=F64))[0, 3]
        assert (beveled - round_join).max() < 0.05


# -- scenes and SVG -------------------------------------------------------------------------------
def test_scene_style_fields():
    base = dict(points=torch.zeros(2, 4, 2), widths=torch.ones(2), stroke_colors=torch.zeros(2, 4), width=8, height=8)
    scene = VectorScene(**base, line_caps=torch.tensor([1, 2]))
    assert scene.has_stroke_style and not VectorScene(**base).has_stroke_style
    assert stroke_style_of(scene).tolist() == [[1, 0, 4], [2, 0, 4]]
    for bad, message in (({"line_caps": torch.tensor([0, 3])}, "line_caps must hold codes 0 round, 1 butt, 2 square"),
                         ({"line_joins": torch.tensor([0.0, 1.0])}, "line_joins must be integer codes"),
                         ({"miter_limits": torch.tensor([4.0, 0.5])}, "miter_limits must be >= 1"),
                         ({"line_joins": torch.tensor([1])}, r"line_joins must have shape \[2\]")):
        with pytest.raises(ValueError, match=message):
            VectorScene(**base, **bad)
    joined = concat_scenes([VectorScene(**base), scene])
    assert joined.line_caps.tolist() == [0, 0, 1, 2] and joined.miter_limits.tolist() == [4.0] * 4
    restored = scene_from_state(scene_state(joined), torch.device("cpu"))
    assert torch.equal(restored.line_caps, joined.line_caps) and torch.equal(restored.line_joins, joined.line_joins)


def test_styled_and_plain_scenes_render_together():
    size, half = 24, 2.0
    points = straight(torch.tensor([4.0, 12.0], dtype=F64), torch.tensor([20.0, 12.0], dtype=F64))
    plain = VectorScene(points=points[None].float(), widths=torch.tensor([2 * half]),
                        stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]), width=size, height=size)
    butt = styled_scene(points, half, CAP_BUTT, size=size)
    batch = NativeRenderer().render([plain, butt])
    for i, scene in enumerate((plain, butt)):
        assert torch.allclose(batch[i], NativeRenderer().render([scene])[0], atol=1e-6)
    assert batch[0, 3].sum() - batch[1, 3].sum() == pytest.approx(math.pi * half**2, abs=0.05)  # two half discs


def test_svg_reads_and_writes_caps_and_joins():
    text = """<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">
      <g stroke="black" fill="none">
        <path d="M 2 2 L 10 2 L 10 10"/>
        <path d="M 2 5 L 8 5" stroke-linecap="square" stroke-linejoin="bevel"/>
        <path d="M 2 8 L 8 8 L 2 9" style="stroke-linejoin: miter-clip; stroke-miterlimit: 2.5"/>
        <path d="M 2 12 L 8 12" stroke-linecap="round" stroke-linejoin="round"/>
        <path d="M 2 14 L 8 14" stroke-linecap="bogus" stroke-miterlimit="0.5"/>
      </g>
      <g stroke-linecap="square" stroke="red"><path d="M 2 16 L 8 16"/></g>
    </svg>"""
    scene = svg_to_scene(text)
    assert scene.line_caps.tolist() == [CAP_BUTT, CAP_SQUARE, CAP_BUTT, CAP_ROUND, CAP_BUTT, CAP_SQUARE]
    assert scene.line_joins.tolist() == [JOIN_MITER, JOIN_BEVEL, JOIN_MITER, JOIN_ROUND, JOIN_MITER, JOIN_MITER]
    assert scene.miter_limits.tolist() == [4.0, 4.0, 2.5, 4.0, 4.0, 4.0]
    again = svg_to_scene(scene.to_svg())
    for name in ("line_caps", "line_joins", "miter_limits"):
        assert torch.equal(getattr(again, name), getattr(scene, name)), name
    assert 'stroke-miterlimit="2.5"' in scene.to_svg()
    round_only = svg_to_scene('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
                              '<path d="M1 1 L8 8" stroke="red" stroke-linecap="round" stroke-linejoin="round"/></svg>')
    assert not round_only.has_stroke_style  # the renderers' cheaper default
