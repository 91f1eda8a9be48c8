"""Gradient paints (vecrender.functional.paints): parameters, spreads and stop colours against
hand-computed values, and gradients that flow to the stops and the frame."""

from __future__ import annotations

import itertools

import math

import pytest
import torch

from vecrender.functional.paints import (
    FILL,
    FLAT,
    LINEAR,
    PAD,
    RADIAL,
    REFLECT,
    REPEAT,
    STROKE,
    Gradients,
    gradient_parameter,
    linear_frame,
    paint_colors,
    radial_frame,
    spread,
    stop_color,
)

RED, GREEN, BLUE = [1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.5]


def parameter(kind: int, frame: list, points: list, focal=(0.0, 0.0), focal_radius: float = 0.0) -> list[float]:
    """The parameter at `points`; None where it is undefined (outside a cone)."""
    t, defined = gradient_parameter(torch.tensor(kind), torch.tensor(frame, dtype=torch.float64),
                                    torch.tensor(focal, dtype=torch.float64),
                                    torch.tensor(focal_radius, dtype=torch.float64),
                                    torch.tensor(points, dtype=torch.float64))
    return [round(v, 9) if ok else None for v, ok in zip(t.tolist(), defined.tolist())]


def test_linear_parameter_runs_from_start_to_end():
    frame = linear_frame((10.0, 5.0), (30.0, 25.0))
    # along the vector, and constant across it
    assert parameter(LINEAR, frame, [[10, 5], [20, 15], [30, 25], [40, 35], [30, 5], [10, 25]]) == [
        0.0, 0.5, 1.0, 1.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="two different end points"):
        linear_frame((1.0, 1.0), (1.0, 1.0))


def test_radial_parameter_is_the_ratio_along_the_ray_from_the_focal_point():
    frame = radial_frame((20.0, 10.0), 8.0)
    diagonal = 8 / math.sqrt(2)
    assert parameter(RADIAL, frame, [[20, 10], [28, 10], [20, 2], [24, 10], [20 + diagonal, 10 + diagonal]]) == [
        0.0, 1.0, 1.0, 0.5, 1.0]
    # focal point at (16, 10) (half a radius left of the centre): 0 there, 1 on the circle, and on
    # the ray through (24, 10) to the circle's right end (28, 10), the ratio of the distances
    focal = (-0.5, 0.0)
    t = parameter(RADIAL, frame, [[16, 10], [28, 10], [12, 10], [22, 10], [20, 2]], focal)
    assert t[:3] == [0.0, 1.0, 1.0] and t[3] == pytest.approx(6 / 12)
    # (20, 2): on the circle, straight above the centre
    assert t[4] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="radius above 0"):
        radial_frame((0.0, 0.0), 0.0)


def test_radial_parameter_runs_from_the_focal_circle():
    """SVG 2's ``fr``: 0 on the focal circle, 1 on the end circle; inside the focal circle the
    parameter goes below 0 (padded: the first stop), down to the circle of no radius."""
    frame = radial_frame((20.0, 10.0), 8.0)
    # concentric, the focal circle a quarter of the radius (2 px): t = (|q| - 1/4) / (3/4)
    assert parameter(RADIAL, frame, [[22, 10], [28, 10], [25, 10], [20, 10], [21, 10]], focal_radius=0.25) == (
        pytest.approx([0.0, 1.0, 0.5, -1 / 3, -1 / 6]))
    # focal circle around (16, 10): its right end (18, 10) is 0; the centre (20, 10) is on the
    # circle of t = 0.2 (centre (17, 10) + 3 t, radius 2 + 6 t)
    assert parameter(RADIAL, frame, [[18, 10], [28, 10], [20, 10], [12, 10]], (-0.5, 0.0), 0.25) == (
        pytest.approx([0.0, 1.0, 0.2, 1.0]))
    # anywhere: the point is on its circle, and no circle of a larger t passes through it
    points = torch.rand(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 30 - 5
    focal, radius = torch.tensor([0.3, -0.4], dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64)
    t, defined = gradient_parameter(torch.tensor(RADIAL), torch.tensor(frame, dtype=torch.float64), focal, radius,
                                    points)
    q = (points - torch.tensor([20.0, 10.0], dtype=torch.float64)) / 8
    assert bool(defined.all())  # a focal circle inside the end circle: every point has a parameter
    on_circle = (q - focal * (1 - t[:, None])).norm(dim=-1) - (radius + t * (1 - radius))
    assert on_circle.abs().max() < 1e-9
    larger = t[:, None] + torch.linspace(1e-3, 20, 200, dtype=torch.float64)  # further circles: all miss
    gaps = (q[:, None] - focal * (1 - larger[..., None])).norm(dim=-1) - (radius + larger * (1 - radius))
    assert bool((gaps < 0).all())


def test_radial_parameter_of_a_focal_point_outside_the_circle_is_a_cone():
    """As SVG 2 and resvg draw it: a focal point outside the end circle is the apex of the cone
    of circles to it, and outside the cone (behind the apex too) the paint is undefined; a
    focal point on the circle leaves a half-plane."""
    frame = radial_frame((0.0, 0.0), 10.0)
    # focal point 3 radii right of the centre: the centre lies on the circles of t = 0.75 and
    # 1.5 (the larger counts); (20, 0), between apex and circle, on those of 0.25 and 0.5
    assert parameter(RADIAL, frame, [[0, 0], [40, 0], [0, 20], [20, 0], [-50, 0]], (3.0, 0.0)) == [
        1.5, None, None, 0.5, 4.0]
    assert parameter(RADIAL, frame, [[0, 0], [20, 0], [10, 10], [-10, 0]], (1.0, 0.0)) == [0.5, None, None, 1.0]
    paint = Gradients(torch.tensor(RADIAL), torch.tensor(frame), torch.tensor([3.0, 0.0]),
                      torch.tensor([[0.0, *RED], [1.0, *GREEN]]), torch.tensor(PAD), torch.tensor(0.0))
    colors = paint_colors(torch.zeros(4), paint, torch.tensor([[20.0, 0.0], [40.0, 0.0], [0.0, 20.0]]), pixel=1.0)
    assert colors[0].tolist() == [0.5, 0.5, 0.0, 1.0] and colors[1:, 3].tolist() == [0.0, 0.0]  # none outside


OPAQUE = [[0.1, 1, 1, 0, 1], [0.7, 0, 0.5, 1, 1], [0.9, 0, 0, 0, 1]]


@pytest.mark.parametrize("focal, focal_radius", [((3.0, 0.0), 0.0), ((2.5, 0.5), 0.2), ((1.5, -0.5), 0.6)])
def test_pixel_alphas_cover_a_cone_like_its_area(focal, focal_radius):
    """Near a cone's edge a pixel's alpha is the part of its square inside (the edge taken as
    straight): against 16 x 16 samples the mean error over the canvas is 1.3e-3 to 1.7e-3 (1.5e-2
    to 1.7e-2 with the paint at pixel centres), the largest 0.06 to 0.24, next to the apex."""
    paint = Gradients(torch.tensor(RADIAL), torch.tensor(radial_frame((20.0, 15.0), 6.0), dtype=torch.float64),
                      torch.tensor(focal, dtype=torch.float64), torch.tensor(OPAQUE, dtype=torch.float64),
                      torch.tensor(PAD), torch.tensor(focal_radius, dtype=torch.float64))
    centres = torch.tensor([[x + 0.5, y + 0.5] for x in range(40) for y in range(30)], dtype=torch.float64)
    alphas = paint_colors(torch.zeros(4, dtype=torch.float64), paint, centres, pixel=1.0)[:, 3]
    error = (alphas - supersampled(paint, centres, n=16)[:, 3]).abs()
    assert error.mean() < 2e-3 and error.max() < 0.25


def test_gradients_flow_to_focal_circles_and_cones():
    """Inside the end circle and as a cone (whose edge pixels are covered in part)."""
    points = torch.rand(16, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 16
    frame = torch.tensor(radial_frame((6.0, 5.0), 5.0), dtype=torch.float64).requires_grad_(True)
    stops = torch.tensor(SMOOTH, dtype=torch.float64, requires_grad=True)
    for (focal, radius), pixel in itertools.product((([0.2, -0.3], 0.3), ([1.6, 0.4], 0.05)), (0.0, 1.0)):
        def colors(s, f, fo, r):
            paint = Gradients(torch.tensor(RADIAL), f, fo, s, torch.tensor(REFLECT), r)
            return paint_colors(torch.zeros(4, dtype=torch.float64), paint, points, pixel)

        inputs = (stops, frame, torch.tensor(focal, dtype=torch.float64, requires_grad=True),
                  torch.tensor(radius, dtype=torch.float64, requires_grad=True))
        assert torch.autograd.gradcheck(colors, inputs, eps=1e-6, atol=1e-6)


def test_spread_methods():
    t = torch.tensor([-1.25, -0.25, 0.25, 1.25, 2.75])
    assert spread(t, torch.tensor(PAD)).tolist() == t.tolist()
    assert spread(t, torch.tensor(REFLECT)).tolist() == [0.75, 0.25, 0.25, 0.75, 0.75]
    assert spread(t, torch.tensor(REPEAT)).tolist() == [0.75, 0.75, 0.25, 0.25, 0.75]


def test_stop_colors_interpolate_straight_and_pad():
    stops = torch.tensor([[0.2, *RED], [0.6, *GREEN], [1.0, *BLUE]], dtype=torch.float64)
    at = stop_color(stops, torch.tensor([-1.0, 0.2, 0.4, 0.6, 0.8, 1.0, 3.0], dtype=torch.float64))
    expected = [RED, RED, [0.5, 0.5, 0, 1], GREEN, [0, 0.5, 0.5, 0.75], BLUE, BLUE]
    assert torch.allclose(at, torch.tensor(expected, dtype=torch.float64))


def test_equal_offsets_step_and_decreasing_offsets_clamp():
    # a hard stop at 0.5 (red up to it); the blue stop's smaller offset counts as 0.5 (SVG clamps
    # offsets to the one before), so after 0.5 the last of the three stops there, blue, holds
    step = torch.tensor([[0.0, *RED], [0.5, *RED], [0.5, *GREEN], [0.3, *BLUE]], dtype=torch.float64)
    at = stop_color(step, torch.tensor([0.25, 0.4999, 0.5, 0.75], dtype=torch.float64))
    assert torch.allclose(at, torch.tensor([RED, RED, BLUE, BLUE], dtype=torch.float64))
    padded = torch.tensor([[0.0, *RED], [1.0, *GREEN], [1.0, *GREEN]], dtype=torch.float64)  # last stop repeated
    assert torch.allclose(stop_color(padded, torch.tensor([0.5], dtype=torch.float64)),
                          torch.tensor([[0.5, 0.5, 0, 1]], dtype=torch.float64))


def test_paint_colors_keep_flat_paints_and_select_a_role():
    paints = Gradients(kinds=torch.tensor([[LINEAR, FLAT], [FLAT, RADIAL]]),
                       frames=torch.tensor([linear_frame((0.0, 0.0), (10.0, 0.0)), radial_frame((5.0, 5.0), 5.0)]
                                           ).expand(2, 2, 2, 3).transpose(0, 1).contiguous(),
                       focals=torch.zeros(2, 2, 2),
                       stops=torch.tensor([[0.0, *RED], [1.0, *BLUE]]).expand(2, 2, 2, 5),
                       spreads=torch.zeros(2, 2, dtype=torch.long), focal_radii=torch.zeros(2, 2))
    flat = torch.tensor([[0.3, 0.3, 0.3, 1.0], [0.6, 0.6, 0.6, 1.0]])
    p = torch.tensor([[5.0, 5.0], [10.0, 5.0]])  # one point per path
    fills = paint_colors(flat, paints.role(FILL), p)
    strokes = paint_colors(flat, paints.role(STROKE), p)
    assert torch.allclose(fills, torch.tensor([[0.5, 0, 0.5, 0.75], [0.6, 0.6, 0.6, 1.0]]))  # path 0 halfway
    assert torch.allclose(strokes, torch.tensor([[0.3, 0.3, 0.3, 1.0], BLUE]))  # path 1 on its circle


def test_gradients_flow_to_stops_frames_and_focal_points():
    torch.manual_seed(0)
    stops = torch.tensor([[0.1, 0.9, 0.2, 0.3, 1.0], [0.5, 0.1, 0.8, 0.4, 0.7], [0.9, 0.3, 0.3, 0.9, 0.9]],
                         dtype=torch.float64, requires_grad=True)
    frame = torch.tensor(radial_frame((6.0, 5.0), 7.0), dtype=torch.float64).requires_grad_(True)
    focal = torch.tensor([0.2, -0.3], dtype=torch.float64, requires_grad=True)
    p = torch.rand(40, 2, dtype=torch.float64) * 12
    for (kind, mode), pixel in itertools.product(((LINEAR, PAD), (RADIAL, REFLECT), (RADIAL, REPEAT)), (0.0, 1.0)):
        def colors(s, f, fo):
            paint = Gradients(torch.tensor(kind), f, fo, s, torch.tensor(mode), torch.tensor(0.0, dtype=torch.float64))
            return paint_colors(torch.zeros(4, dtype=torch.float64), paint, p, pixel)

        assert torch.autograd.gradcheck(colors, (stops, frame, focal), eps=1e-6, atol=1e-6)


HARD = [[0.0, 1, 0, 0, 1], [0.5, 1, 0, 0, 1], [0.5, 0, 0, 1, 1], [1.0, 0, 1, 0, 0.5]]  # a step at 0.5
SMOOTH = [[0.1, 1, 1, 0, 1], [0.7, 0, 0.5, 1, 0.2], [0.9, 0, 0, 0, 1]]


def supersampled(paint: Gradients, centres: torch.Tensor, n: int = 64) -> torch.Tensor:
    """The mean colour of n x n points spread evenly over each unit pixel."""
    sub = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5
    dy, dx = torch.meshgrid(sub, sub, indexing="ij")
    points = centres[:, None] + torch.stack([dx.flatten(), dy.flatten()], -1)
    return paint_colors(torch.zeros(4, dtype=torch.float64), paint, points).mean(1)


@pytest.mark.parametrize("stops", [HARD, SMOOTH], ids=["hard-stop", "smooth"])
@pytest.mark.parametrize("spread_method", [PAD, REFLECT, REPEAT])
def test_pixel_colours_are_the_mean_over_the_pixel(stops, spread_method):
    """A pixel's colour is the gradient's mean over its square: against 64 x 64 samples within
    1e-4 for linear gradients (a step and a repeat's seam included, periods down to 3 px), 1e-2
    for radial ones (taken as linear across the pixel: their curvature is left); the colour at the
    centre is off by up to 0.58 there."""
    centres = torch.tensor([[x + 0.5, y + 0.5] for x in range(0, 40, 3) for y in range(0, 30, 4)], dtype=torch.float64)
    zero = torch.zeros(4, dtype=torch.float64)
    for length in (3.0, 7.3, 40.0):
        frame = linear_frame((5.0, 3.0), (5.0 + 0.8 * length, 3.0 + 0.6 * length))
        paint = Gradients(torch.tensor(LINEAR), torch.tensor(frame, dtype=torch.float64),
                          torch.zeros(2, dtype=torch.float64), torch.tensor(stops, dtype=torch.float64),
                          torch.tensor(spread_method), torch.tensor(0.0, dtype=torch.float64))
        mean = paint_colors(zero, paint, centres, pixel=1.0)
        assert (mean - supersampled(paint, centres)).abs().max() < 1e-4
    radial = Gradients(torch.tensor(RADIAL), torch.tensor(radial_frame((20.0, 15.0), 9.0), dtype=torch.float64),
                       torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor(stops, dtype=torch.float64),
                       torch.tensor(spread_method), torch.tensor(0.0, dtype=torch.float64))
    assert (paint_colors(zero, radial, centres, pixel=1.0) - supersampled(radial, centres)).abs().max() < 1e-2
    tiny = paint_colors(zero, radial, centres, pixel=1e-6)  # a vanishing square: the centre's colour
    assert torch.allclose(tiny, paint_colors(zero, radial, centres), atol=1e-6)


@pytest.mark.parametrize("period, tolerance", [(0.25, 2e-3), (0.3, 0.06)])
def test_pixel_colours_of_sub_pixel_periods_are_the_period_mean(period, tolerance):
    """A repeat whose period is under half a pixel gets the mean colour of one period: exact when
    a pixel holds whole periods (0.25 px), off by the part of a period left over otherwise (a
    third of one at 0.3 px)."""
    frame = torch.tensor(linear_frame((0.0, 0.0), (period, 0.0)), dtype=torch.float64)
    paint = Gradients(torch.tensor(LINEAR), frame, torch.zeros(2, dtype=torch.float64),
                      torch.tensor(SMOOTH, dtype=torch.float64), torch.tensor(REPEAT), torch.tensor(0.0))
    centres = torch.tensor([[x + 0.5, 2.5] for x in range(8)], dtype=torch.float64)
    mean = paint_colors(torch.zeros(4, dtype=torch.float64), paint, centres, pixel=1.0)
    assert (mean - supersampled(paint, centres, n=300)).abs().max() < tolerance
