"""The functional renderers: reference vs a supersampled ground truth, native vs reference, gradients."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch

from vecrender.functional import composite, render_native, render_reference
from vecrender.functional.bezier import fill_edge, footprint_cdf, wedge_share, winding_number
from vecrender.functional.paints import FLAT, LINEAR, RADIAL, Gradients, linear_frame, radial_frame
from vecrender.functional.paths import polygon_points
from vecrender.functional.native import (
    DYNAMIC_FROM_SEGMENTS,
    TileCapacity,
    _box_tiles,
    _layout,
    _pairs,
    _tile_ranges,
    _Chords,
    _row_crossings,
    _tile_winding,
    _two_closest,
    dynamic_shapes,
    tile_occupancy,
)

RENDERERS = {"reference": render_reference, "native": render_native}



def scene_args(points, widths, strokes, fills=None, closed=None, num_segments=None, even_odd=None):
    """Batched functional arguments from [B, N, ...] tensors with defaulted flags."""
    n, p = points.shape[1:3]
    closed = torch.zeros(n, dtype=torch.bool) if closed is None else closed
    num_segments = torch.full((n,), (p - 1) // 3) if num_segments is None else num_segments
    even_odd = torch.zeros(n, dtype=torch.bool) if even_odd is None else even_odd
    return points, widths, strokes, fills, closed, num_segments, even_odd


def circle(cx: float, cy: float, r: float) -> torch.Tensor:
    """[13, 2] points: a circle as 4 cubics (closed path: the last point is ignored)."""
    k = 0.5523 * r
    pts = [(cx + r, cy), (cx + r, cy + k), (cx + k, cy + r), (cx, cy + r), (cx - k, cy + r),
           (cx - r, cy + k), (cx - r, cy), (cx - r, cy - k), (cx - k, cy - r), (cx, cy - r),
           (cx + k, cy - r), (cx + r, cy - k), (cx + r, cy)]
    return torch.tensor(pts, dtype=torch.float64)


def random_scene(seed: int, batch: int = 2, n: int = 6, segs: int = 2, size: int = 24,
                 dtype=torch.float64):
    """Random overlapping, semi-transparent strokes and fills with mixed flags."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(batch, n, 1, 2, generator=g, dtype=dtype) * size
    steps = (torch.rand(batch, n, 3 * segs, 2, generator=g, dtype=dtype) - 0.5) * size * 0.6
    points = torch.cat([start, start + steps.cumsum(2)], dim=2)
    widths = torch.rand(batch, n, generator=g, dtype=dtype) * 4
    strokes = torch.rand(batch, n, 4, generator=g, dtype=dtype)
    fills = torch.rand(batch, n, 4, generator=g, dtype=dtype)
    closed = torch.rand(batch, n, generator=g) < 0.5
    num_segments = torch.randint(1, segs + 1, (batch, n), generator=g)
    even_odd = torch.rand(batch, n, generator=g) < 0.5
    return points, widths, strokes, fills, closed, num_segments, even_odd


# -- ground truth ---------------------------------------------------------------------------------
def supersampled(points, widths, strokes, fills, closed, height, width, k=8, dense=400, even_odd=False):
    """Hard-coverage k x k supersampling in float64, written independently of the renderers.

    Curves are densely sampled (``dense`` points per segment); a sample is in a stroke when it is
    closer than half the width to a curve sample, and in a fill by the crossing-number test of the
    dense polygon (nonzero rule, or even-odd).
    """
    ys = (torch.arange(height * k, dtype=torch.float64) + 0.5) / k
    xs = (torch.arange(width * k, dtype=torch.float64) + 0.5) / k
    sy, sx = torch.meshgrid(ys, xs, indexing="ij")
    s = torch.stack([sx.reshape(-1), sy.reshape(-1)], -1)
    out = torch.zeros(s.shape[0], 4, dtype=torch.float64)
    t = torch.linspace(0, 1, dense, dtype=torch.float64)[:, None]
    for n in range(len(points)):
        p = points[n].double()
        nseg = (p.shape[0] - 1) // 3
        curve = []
        for i in range(nseg):
            c = p[3 * i: 3 * i + 4].clone()
            if closed[n] and i == nseg - 1:
                c[3] = p[0]
            curve.append((1 - t) ** 3 * c[0] + 3 * (1 - t) ** 2 * t * c[1] + 3 * (1 - t) * t**2 * c[2] + t**3 * c[3])
        curve = torch.cat(curve)
        layers = []
        if fills is not None and closed[n]:
            a, b = curve, curve.roll(-1, 0)
            cond = (a[:, 1] <= s[:, None, 1]) != (b[:, 1] <= s[:, None, 1])
            x_at = a[:, 0] + (s[:, None, 1] - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1] + 1e-300)
            crossings = (cond & (x_at > s[:, None, 0])).sum(-1)
            up = cond & (x_at > s[:, None, 0]) & (b[:, 1] > a[:, 1])
            wind = up.sum(-1) - (crossings - up.sum(-1))
            inside = wind % 2 != 0 if even_odd else wind != 0
            layers.append((inside.double() * fills[n, 3], fills[n]))
        d = torch.cdist(s, curve).amin(-1)
        layers.append(((d < widths[n] / 2).double() * strokes[n, 3], strokes[n]))
        for alpha, color in layers:
            layer = torch.cat([color[:3].double() * alpha[:, None], alpha[:, None]], -1)
            out = layer + (1 - alpha[:, None]) * out
    img = out.reshape(height, k, width, k, 4).mean((1, 3))
    return img.permute(2, 0, 1)


def test_reference_matches_supersampled_ground_truth():
    size = 28
    strokes_pts = torch.tensor([
        [[3, 4], [10, 2], [14, 20], [24, 22]],
        [[4, 24], [9, 14], [18, 10], [25, 5]],
        [[6, 12], [6, 12], [6, 12], [6, 12]],  # a dot: round caps
    ], dtype=torch.float64)
    pts = torch.cat([strokes_pts, torch.zeros(1, 4, 2, dtype=torch.float64)])
    pts = torch.cat([pts, pts[:, -1:].expand(-1, 9, -1)], 1)  # pad to 4 segments
    pts[3] = circle(16, 16, 6)
    widths = torch.tensor([3.0, 1.5, 5.0, 2.0], dtype=torch.float64)
    strokes = torch.tensor([[0, 0, 0, 1], [0.9, 0.2, 0.1, 0.7], [0.1, 0.5, 0.9, 1], [0, 0, 0, 1]],
                           dtype=torch.float64)
    fills = torch.tensor([[0, 0, 0, 0]] * 3 + [[0.2, 0.8, 0.3, 0.6]], dtype=torch.float64)
    closed = torch.tensor([False, False, False, True])
    nseg = torch.tensor([1, 1, 1, 4])
    img = render_reference(pts[None], widths[None], strokes[None], fills[None], closed, nseg,
                           torch.zeros(4, dtype=torch.bool), size, size)[0]
    truth = supersampled([p[: 1 + 3 * s] for p, s in zip(pts, nseg.tolist())], widths, strokes, fills,
                         closed, size, size)
    err = (img - truth).abs()
    # The footprint coverage is exact for straight edges at any angle, the outline's curvature is
    # added to second order; the rest and the ground truth's 64 hard samples leave small errors.
    # measured 0.76e-3 / 0.052 (without the outline curvature 1.16e-3 / 0.085; with the 1-D box
    # footprint used before, 1.8e-3 / 0.08)
    assert err.mean() < 1e-3, err.mean()
    assert err.max() < 0.07, err.max()


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "native"])
def test_gradcheck_float64(name):
    fn = RENDERERS[name]
    pts = torch.tensor([[[1.3, 2.2], [5.1, 9.4], [8.2, 1.7], [10.6, 8.3]],
                        [[2.4, 9.1], [6.3, 11.8], [11.2, 4.3], [6.1, 3.2]]], dtype=torch.float64)
    widths = torch.tensor([2.3, 1.7], dtype=torch.float64)
    strokes = torch.tensor([[0.2, 0.4, 0.6, 0.8], [0.7, 0.1, 0.3, 0.6]], dtype=torch.float64)
    fills = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.1, 0.9, 0.4, 0.7]], dtype=torch.float64)
    closed = torch.tensor([False, True])
    nseg = torch.tensor([1, 1])
    eo = torch.tensor([False, False])

    # the coverage depends on the direction to the closest point, so finite differences need the
    # closest parameter converged to float64 precision: more Newton steps than float32 renders use
    def f(p, w, s, fl):
        return fn(p[None], w[None], s[None], fl[None], closed, nseg, eo, 12, 12, newton_steps=8)

    inputs = tuple(t.clone().requires_grad_(True) for t in (pts, widths, strokes, fills))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# -- native == reference --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shapes", ["dynamic", "static"])
@pytest.mark.parametrize("curvature", [True, False])
def test_native_matches_reference_values_and_gradients(seed, shapes, curvature):
    args = list(random_scene(seed, batch=3))
    pts, widths = args[0], args[1]
    pts[0, 0] = pts[0, 0, :1]  # zero-length stroke (all points coincide)
    pts[1, 1] += 200  # off canvas
    widths[2, 2] = 0  # no stroke
    args[3][0, 3, 3] = 0  # alpha-0 fill
    leaves = [t.clone().requires_grad_(True) for t in args[:4]]
    weights = torch.rand(3, 4, 24, 26, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    grads, images = [], []
    for fn, kw in ((render_reference, {"curvature": curvature}),
                   (render_native, {"shapes": shapes, "curvature": curvature})):
        img = fn(*leaves, *args[4:], 24, 26, **kw)
        grads.append(torch.autograd.grad((img * weights).sum(), leaves))
        images.append(img.detach())
    assert (images[0] - images[1]).abs().max() < 1e-4
    assert images[0].abs().sum() > 10  # something was drawn
    assert_gradients_match(*grads)


@pytest.mark.parametrize("seed, styled", [(0, False), (1, False), (2, True)])
def test_paths_of_very_different_lengths_are_drawn_in_order(seed, styled, monkeypatch):
    """A 40-segment path among 1-2 segment ones: the CPU evaluates the paths in groups by segment
    count (`_segment_buckets`) and puts their layers back in drawing order, so the image and its
    gradients are the reference's, and the image is the one drawn without grouping (``styled``:
    per-path caps, joins and subpaths, given once for the batch)."""
    import vecrender.functional.native as native
    from vecrender.functional.styles import CAP_BUTT, CAP_SQUARE, JOIN_BEVEL, JOIN_MITER

    args = list(random_scene(seed, n=8, segs=40))
    args[5] = torch.randint(1, 3, (2, 8), generator=torch.Generator().manual_seed(seed))
    args[5][:, 3] = 40  # between the others: its layers must land between theirs
    assert native._segment_buckets(args[5], args[0].shape[2]) is not None
    extra = {}
    if styled:
        style = torch.tensor([[CAP_BUTT, JOIN_MITER, 4.0], [CAP_SQUARE, JOIN_BEVEL, 4.0]] * 4, dtype=torch.float64)
        starts = torch.zeros(8, 40, dtype=torch.bool)
        starts[:, 0] = starts[3, 20] = True  # the long path: two subpaths
        extra = {"stroke_style": style, "subpath_starts": starts}
    leaves = [t.clone().requires_grad_(True) for t in args[:4]]
    weights = torch.rand(2, 4, 24, 26, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    grads, images = [], []
    for fn in (render_reference, render_native):
        img = fn(*leaves, *args[4:], 24, 26, **extra)
        grads.append(torch.autograd.grad((img * weights).sum(), leaves))
        images.append(img.detach())
    assert (images[0] - images[1]).abs().max() < 1e-4
    assert_gradients_match(*grads)
    monkeypatch.setattr(native, "BUCKET_GAIN", math.inf)
    assert (render_native(*args, 24, 26, **extra) - images[1]).abs().max() < 1e-4


def test_auto_shapes_are_dynamic_on_the_cpu_and_for_long_paths():
    """``shapes="auto"`` keeps the GPUs' static scheme for short paths only: static shapes search
    every chord of every path, padded to the longest, at every bin slot, so paths stored with
    `DYNAMIC_FROM_SEGMENTS` segments or more are rendered with dynamic shapes (length groups,
    segment windows) on any device. The choice is read off the shape: no read-back."""
    def points(segments: int, device: str) -> torch.Tensor:
        return torch.empty(2, 5, 3 * segments + 1, 2, device=device)

    long = DYNAMIC_FROM_SEGMENTS
    assert dynamic_shapes(points(1, "cpu")) and dynamic_shapes(points(long, "cpu"))
    assert not dynamic_shapes(points(long - 1, "meta")) and dynamic_shapes(points(long, "meta"))
    assert not dynamic_shapes(points(long, "meta"), "static") and not dynamic_shapes(points(1, "cpu"), "static")
    assert dynamic_shapes(points(1, "meta"), "dynamic")


@pytest.mark.parametrize("styled", [False, True])
def test_long_paths_search_only_the_segments_near_each_tile(styled, monkeypatch):
    """Paths of 12-24 segments wandering over the canvas (fills and strokes, both fill rules,
    subpaths; ``styled``: flat caps and miter joins): each (tile, path) pair searches only its
    window of segments (`_segment_windows`), a small share of the path, and the image and its
    gradients are the reference's and those of searching whole paths."""
    import vecrender.functional.native as native
    from vecrender.functional.styles import CAP_BUTT, CAP_SQUARE, JOIN_BEVEL, JOIN_MITER

    args = list(random_scene(3, n=5, segs=24, size=64))
    args[5] = torch.randint(12, 25, (2, 5), generator=torch.Generator().manual_seed(3))
    args[1] = args[1] + 1.0
    extra = {}
    if styled:
        caps_joins = [[CAP_BUTT, JOIN_MITER, 10.0], [CAP_SQUARE, JOIN_BEVEL, 4.0]] * 3
        style = torch.tensor(caps_joins[:5], dtype=torch.float64)
        starts = torch.zeros(5, 24, dtype=torch.bool)
        starts[:, 0] = starts[1, 8] = starts[4, 10] = True
        extra = {"stroke_style": style, "subpath_starts": starts}
    shares = []
    windows = native._segment_windows

    def recorded(g, lay, bins, half):
        found = windows(g, lay, bins, half)
        shares.append(found.count.double().mean().item() / lay.seg_valid.shape[2])
        return found

    monkeypatch.setattr(native, "_segment_windows", recorded)
    leaves = [t.clone().requires_grad_(True) for t in args[:4]]
    weights = torch.rand(2, 4, 64, 60, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads, images = [], []
    for fn in (render_reference, render_native):
        img = fn(*leaves, *args[4:], 64, 60, **extra)
        grads.append(torch.autograd.grad((img * weights).sum(), leaves))
        images.append(img.detach())
    assert shares and max(shares) < 0.25  # windows were searched, each a small share of its path
    assert (images[0] - images[1]).abs().max() < 1e-4
    assert_gradients_match(*grads)
    monkeypatch.setattr(native, "WINDOW_MIN_SEGMENTS", math.inf)
    whole = render_native(*leaves, *args[4:], 64, 60, **extra)
    assert (whole.detach() - images[1]).abs().max() < 1e-6
    assert_gradients_match(torch.autograd.grad((whole * weights).sum(), leaves), grads[1])


def test_segment_windows_are_skipped_where_they_would_not_pay(monkeypatch):
    """A scribble whose 16 segments each cross the canvas: every tile is near most of them, so
    listing windows would cost more than searching whole paths; the render is the same."""
    import vecrender.functional.native as native

    points = torch.rand(1, 1, 49, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 40
    args = scene_args(points, torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[[0, 0, 0, 1.0]]]),
                      torch.tensor([[[1, 0, 0, 0.5]]]), closed=torch.tensor([True]))
    found = []
    windows = native._segment_windows
    monkeypatch.setattr(native, "_segment_windows", lambda *a: found.append(windows(*a)) or found[-1])
    image = render_native(*args, 40, 40)
    assert found == [None]
    monkeypatch.setattr(native, "WINDOW_MIN_SEGMENTS", math.inf)
    assert torch.equal(render_native(*args, 40, 40), image)


def assert_gradients_match(reference: tuple, native: tuple) -> None:
    """Gradients of the leaves (points, then per-path tensors) agree within 2e-3 of the largest;
    path 0 of scene 0 is a zero-length stroke, which has no closest parameter: only the total of
    its points' gradients is compared."""
    for g_ref, g_nat in zip(reference, native):
        assert torch.isfinite(g_nat).all()
        if g_ref.dim() == 4:
            assert torch.allclose(g_ref[0, 0].sum(0), g_nat[0, 0].sum(0), atol=1e-3)
            g_ref, g_nat = g_ref.clone(), g_nat.clone()
            g_ref[0, 0] = g_nat[0, 0] = 0
        assert ((g_ref - g_nat).abs().max() / g_ref.abs().max().clamp_min(1)) < 2e-3


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_gradients_are_bitwise_reproducible_with_several_threads(name):
    """The same scene twice gives the same gradients bit for bit, whatever the CPU threads do (the
    backward of advanced indexing sums duplicates in thread order; a run would drift by pixels)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        # enough pixels per segment for the threads to share the backward out (the reference is slow)
        n, size = (64, 224) if name == "native" else (8, 64)
        args = random_scene(3, batch=2, n=n, segs=3, size=size, dtype=torch.float32)
        target = torch.rand(2, 4, size, size, generator=torch.Generator().manual_seed(0))

        def grads():
            leaves = [a.detach().requires_grad_(True) if a is not None and a.is_floating_point() else a
                      for a in args]
            ((RENDERERS[name](*leaves, size, size) - target) ** 2).sum().backward()
            return [a.grad for a in leaves if a is not None and a.grad is not None]

        first = grads()
        for _ in range(3):
            assert all(torch.equal(a, b) for a, b in zip(first, grads()))
    finally:
        torch.set_num_threads(threads)


def test_native_matches_reference_float32_strokes():
    g = torch.Generator().manual_seed(7)
    start = torch.rand(2, 20, 1, 2, generator=g) * 48
    pts = torch.cat([start, start + ((torch.rand(2, 20, 3, 2, generator=g) - 0.5) * 6).cumsum(2)], 2)
    args = scene_args(pts, torch.full((2, 20), 3.0), torch.rand(2, 20, 4, generator=g))
    ref = render_reference(*args, 40, 48)
    nat = render_native(*args, 40, 48)
    assert (ref - nat).abs().max() < 1e-4


@pytest.mark.parametrize("segs", [1, 2, 3])
def test_native_matches_reference_on_tight_random_curves(segs):
    """Random loops, cusps and self-crossings: pixels near a centre of curvature (flat distance
    minima) and near-ties between segments at a join are where two closest-point searches part."""
    for seed in range(20):
        args = random_scene(seed, segs=segs)
        error = (render_reference(*args, 24, 26) - render_native(*args, 24, 26)).abs().max()
        assert error < 1e-4, (seed, float(error))


@pytest.mark.parametrize("name", ["reference", "native"])
@pytest.mark.parametrize("closed", [False, True])
def test_zero_length_paths_are_discs_whatever_their_segments(name, closed):
    """A path whose points all coincide is a disc, open or closed, of one segment or several."""
    fn = RENDERERS[name]
    dot = torch.full((1, 1, 4, 2), 8.3, dtype=torch.float64)
    several = torch.full((1, 1, 10, 2), 8.3, dtype=torch.float64)
    ink = torch.tensor([[[0.0, 0.0, 0.0, 1.0]]], dtype=torch.float64)
    widths = torch.tensor([[5.0]], dtype=torch.float64)
    one = fn(*scene_args(dot, widths, ink), 16, 16)
    many = fn(*scene_args(several, widths, ink, closed=torch.tensor([closed])), 16, 16)
    assert (one - many).abs().max() < 1e-9
    assert many[0, 3].sum().item() == pytest.approx(math.pi * 2.5**2, rel=0.02)


def ring_scene(inner_reversed: bool, even_odd: bool, dtype=torch.float64):
    """A filled, stroked ring: one closed path of two circle subpaths (4 segments each), the
    inner one optionally reversed."""
    inner = circle(14, 13, 5)
    if inner_reversed:
        inner = inner.flip(0)
    points = torch.cat([circle(14, 13, 10)[:-1], inner])[None, None].to(dtype)  # [1, 1, 25, 2]
    starts = torch.tensor([[True, False, False, False, True, False, False, False]])
    args = scene_args(points, torch.tensor([[1.5]], dtype=dtype), torch.tensor([[[0.1, 0.2, 0.7, 0.9]]], dtype=dtype),
                      torch.tensor([[[0.9, 0.5, 0.1, 0.8]]], dtype=dtype), torch.tensor([True]),
                      torch.tensor([8]), torch.tensor([even_odd]))
    return args, starts


@pytest.mark.parametrize("name", ["reference", "native"])
@pytest.mark.parametrize("inner_reversed, even_odd, hole", [(True, False, True), (False, True, True),
                                                             (False, False, False)])
def test_subpaths_fill_together(name, inner_reversed, even_odd, hole):
    # nonzero: a hole only where the inner subpath winds the other way; even-odd: always
    args, starts = ring_scene(inner_reversed, even_odd)
    img = RENDERERS[name](*args, 28, 28, subpath_starts=starts)[0]
    assert img[3, 13, 14] == pytest.approx(0.0 if hole else 0.8, abs=1e-6)  # the centre
    assert img[3, 13, 21] == pytest.approx(0.8, abs=1e-6)  # between the circles: fill only
    # against the supersampled truth of the ring (two separate paths cannot give it: a fill
    # covers its inside)
    size, k = 28, 8
    ys = (torch.arange(size * k, dtype=torch.float64) + 0.5) / k
    sy, sx = torch.meshgrid(ys, ys, indexing="ij")
    radius = ((sx - 14) ** 2 + (sy - 13) ** 2).sqrt()
    fill = ((radius < 10) & ((radius > 5) | (not hole))).double() * 0.8
    stroke = (((radius - 10).abs() < 0.75) | ((radius - 5).abs() < 0.75)).double() * 0.9
    alpha = (stroke + (1 - stroke) * fill).reshape(size, k, size, k).mean((1, 3))
    err = (img[3] - alpha).abs()
    assert err.mean() < 4e-3 and err.max() < 0.15


@pytest.mark.parametrize("name", ["reference", "native"])
def test_subpath_starts_move_the_closing_points(name):
    # each subpath closes on its own first point: its stored end point (the next one's start in
    # the points layout) and the padding are ignored
    args, starts = ring_scene(True, False)
    two = torch.cat([args[0], args[0]], 1)  # [1, 2, 25, 2]: the ring twice, the copy padded
    two[0, 1, 13:] = two[0, 1, 12]
    flags = [torch.cat([a, a], 1) if a.dim() > 1 else torch.cat([a, a]) for a in args[1:4]]
    closed, num_segments, even_odd = torch.tensor([True, True]), torch.tensor([8, 4]), torch.tensor([False, False])
    starts2 = torch.cat([starts, torch.zeros_like(starts)])
    img = RENDERERS[name](two, *flags, closed, num_segments, even_odd, 28, 28, subpath_starts=starts2)
    ring = RENDERERS[name](*args, 28, 28, subpath_starts=starts)
    disc = RENDERERS[name](args[0][:, :, :13], *args[1:5], torch.tensor([4]), args[6], 28, 28)
    expected = disc + (1 - disc[:, 3:]) * ring  # the disc (path 1) over the ring (path 0)
    assert (img - expected).abs().max() < 1e-6


def test_subpaths_native_matches_reference_and_gradcheck():
    args, starts = ring_scene(True, False)
    leaves = [t.clone().requires_grad_(True) for t in args[:4]]
    grads, images = [], []
    for fn in (render_reference, render_native):
        img = fn(*leaves, *args[4:], 28, 28, subpath_starts=starts)
        grads.append(torch.autograd.grad((img * img.detach()).sum(), leaves))
        images.append(img.detach())
    assert (images[0] - images[1]).abs().max() < 1e-4
    for g_ref, g_nat in zip(*grads):
        assert ((g_ref - g_nat).abs().max() / g_ref.abs().max().clamp_min(1)) < 2e-3
    small = [t.clone().requires_grad_(True) for t in args[:2]]
    small[0].data = small[0].data * 0.5 + 0.137  # a 14 px ring (cheaper), off the pixel grid's symmetry

    def f(points, widths):
        return render_native(points, widths, *args[2:], 14, 14, subpath_starts=starts, newton_steps=8)

    assert torch.autograd.gradcheck(f, tuple(small), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_closed_end_point_and_padding_are_ignored():
    args = list(random_scene(3, batch=1, n=4, segs=3))
    args[4][:] = torch.tensor([[True, False, True, False]])
    args[5][:] = torch.tensor([[2, 1, 3, 2]])
    base = render_native(*args, 24, 24)
    moved = args[0].clone()
    moved[0, 0, 6] += 5.0  # stored end of closed path 0 (2 segments)
    moved[0, 1, 4:] += 7.0  # padding of path 1 (1 segment)
    moved[0, 3, 7:] -= 3.0  # padding of path 3 (2 segments)
    for fn in RENDERERS.values():
        a = fn(*args, 24, 24)
        b = fn(moved, *args[1:], 24, 24)
        assert torch.equal(a, b)
    assert torch.allclose(base, render_reference(*args, 24, 24), atol=1e-4)


def test_fill_rules():
    # one path going round twice: winding 2 -> filled with nonzero, empty with even-odd
    twice = torch.cat([circle(10, 10, 7)[:12], circle(10, 10, 7)], 0)[None, None]
    fills = torch.tensor([[[0, 0, 1, 1.0]]], dtype=torch.float64)
    nothing = torch.zeros(1, 1, 4, dtype=torch.float64)
    common = (torch.zeros(1, 1, dtype=torch.float64), nothing, fills, torch.tensor([True]), torch.tensor([8]))
    for fn in RENDERERS.values():
        nonzero = fn(twice, *common, torch.tensor([False]), 20, 20)
        even_odd = fn(twice, *common, torch.tensor([True]), 20, 20)
        assert nonzero[0, 3, 10, 10] == 1 and nonzero[0, 2, 10, 10] == 1
        assert even_odd[0, 3, 10, 10] == 0
        assert even_odd[0, 3].max() < 0.6  # only the anti-aliased rim


LEFT = [(2.3, 2.3), (10.7, 3.1), (9.2, 12.6), (2.3, 11.8)]
RIGHT = [(10.7, 3.1), (20.2, 2.3), (19.1, 12.6), (9.2, 12.6)]  # shares the slanted edge 10.7,3.1 - 9.2,12.6


@pytest.mark.parametrize("name", ["reference", "native"])
@pytest.mark.parametrize("case", ["adjacent", "adjacent, one reversed", "doubled", "doubled, reversed"])
@pytest.mark.parametrize("even_odd", [False, True])
def test_subpaths_on_one_line_are_one_edge_or_none(name, case, even_odd):
    """Subpaths that share an edge (shapes drawn side by side in one path, a clip's cut) fill
    across it without a seam, and an outline drawn twice is an edge where the winding numbers
    across both copies say so: the same under nonzero, none under even-odd or reversed (before:
    a seam of 0.3-0.47 through adjacent shapes, the doubled outlines 0.5 off)."""
    size = (24, 16)
    first, second = LEFT, (RIGHT if case.startswith("adjacent") else LEFT)
    if case.endswith("reversed"):
        second = second[::-1]
    points = torch.cat([polygon(first)[:-1], polygon(second)])[None, None]
    starts = torch.zeros(1, 8, dtype=torch.bool)
    starts[0, [0, 4]] = True
    fills = torch.tensor([[[0.2, 0.4, 0.9, 1.0]]], dtype=torch.float64)
    args = (points, torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, 4, dtype=torch.float64), fills,
            torch.tensor([True]), torch.tensor([8]), torch.tensor([even_odd]))
    alpha = RENDERERS[name](*args, size[1], size[0], subpath_starts=starts)[0, 3]
    union = [(2.3, 2.3), (10.7, 3.1), (20.2, 2.3), (19.1, 12.6), (9.2, 12.6), (2.3, 11.8)]
    shape = union if case.startswith("adjacent") else LEFT
    truth = supersampled([polygon(shape)], torch.zeros(1), torch.zeros(1, 4), fills[0], [True], size[1], size[0],
                         k=32, dense=2)[3]
    if case.startswith("doubled") and (even_odd or case.endswith("reversed")):
        truth = torch.zeros_like(truth)
    err = (alpha - truth).abs()
    # measured: at most 0.02 but at corners where three or four chords meet (up to 0.22 there
    # for the same outline twice under nonzero)
    assert err.mean() < 2e-3 and (err > 0.05).sum() <= 4, (err.mean(), err.max())


def pentagram(cx: float, cy: float, r: float) -> torch.Tensor:
    """[16, 2] points: a five-pointed star drawn in one stroke (a self-crossing closed path of 5
    straight cubics), winding 2 in its inner pentagon."""
    corners = [(cx + r * math.sin(math.radians(144 * k)), cy - r * math.cos(math.radians(144 * k)))
               for k in range(6)]
    points = [corners[0]]
    for (ax, ay), (bx, by) in zip(corners, corners[1:]):
        points += [(ax + (bx - ax) / 3, ay + (by - ay) / 3), (ax + 2 * (bx - ax) / 3, ay + 2 * (by - ay) / 3), (bx, by)]
    return torch.tensor(points, dtype=torch.float64)


@pytest.mark.parametrize("name", ["reference", "native"])
def test_self_crossing_fill_has_no_inner_seams(name):
    # under nonzero the star's inner pentagon (winding 2) and its points (winding 1) are one
    # fill: the chords between them are no edge and get no anti-aliasing (before: a half-covered
    # seam, 0.5 off); under even-odd they are edges
    size = 32
    points = pentagram(16.2, 16.7, 14)
    fills = torch.tensor([[[0.2, 0.4, 0.9, 1.0]]], dtype=torch.float64)
    args = (points[None, None], torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, 4, dtype=torch.float64),
            fills, torch.tensor([True]), torch.tensor([5]))
    nonzero = RENDERERS[name](*args, torch.tensor([False]), size, size)[0, 3]
    even_odd = RENDERERS[name](*args, torch.tensor([True]), size, size)[0, 3]
    # measured 8.0e-5 / 1.7e-3 and 1.0e-4 / 2.9e-3 (with seams: 8.8e-3 / 0.46 under nonzero; one
    # edge in a pixel where the sides cross: 6.7e-4 / 0.27 and 5.2e-4 / 0.16)
    for alpha, rule in ((nonzero, False), (even_odd, True)):
        truth = supersampled([points], torch.zeros(1), torch.zeros(1, 4), fills[0], [True], size, size, k=32,
                             dense=2, even_odd=rule)[3]
        err = (alpha - truth).abs()
        assert err.mean() < 2e-4 and err.max() < 5e-3, (rule, err.mean(), err.max())
    inner = pentagram(16.2, 16.7, 14 * math.cos(math.radians(72)) / math.cos(math.radians(36)))[::3]
    centres = torch.stack(torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="xy"), -1)
    near_inner_edges = torch.zeros(size, size, dtype=torch.bool)
    for a, b in zip(inner[:-1], inner[1:]):
        u = ((centres - a) @ (b - a) / (b - a).square().sum()).clamp(0.2, 0.8)  # away from the corners
        near_inner_edges |= (centres - a - u[..., None] * (b - a)).norm(dim=-1) < 0.7
    assert near_inner_edges.sum() > 20
    assert (nonzero[near_inner_edges] == 1).all()
    assert even_odd[near_inner_edges].min() < 0.9  # the pentagon's edges are anti-aliased


def polygon(corners: list[tuple[float, float]]) -> torch.Tensor:
    """[3 k + 1, 2] points: a closed polygon of k straight cubics (float64)."""
    return polygon_points(torch.tensor(corners, dtype=torch.float64))


# corners, supersampling, (mean, max) bounds on the alpha error; axis-aligned edges on multiples
# of 1/8 px, where 8 x 8 supersampling is exact (slanted ones need 64 x 64 to resolve 1e-3)
FILL_SHAPES = {
    "rectangle on pixel centres": ([(4.5, 4.5), (15.5, 4.5), (15.5, 12.5), (4.5, 12.5)], 8, (1e-6, 1e-5)),
    # exact but at its ends, 3 edges in a pixel of which the closest two count: 0.094 there
    "0.375 px sliver": ([(1.25, 8.25), (18.75, 8.25), (18.75, 8.625), (1.25, 8.625)], 8, (1e-3, 0.1)),
    "reflex corner": ([(2.25, 2.375), (8.375, 2.375), (8.375, 12.625), (17.75, 12.625), (17.75, 17.5), (2.25, 17.5)],
                      8, (1e-6, 1e-5)),
    # smaller than a pixel: the box of its control points bounds the coverage, exactly here (one
    # tangent line, or two, gave 0.53 for the first, whose area is 0.14)
    "square inside a pixel": ([(4.25, 4.375), (4.625, 4.375), (4.625, 4.75), (4.25, 4.75)], 8, (1e-6, 1e-5)),
    "square across four pixels": ([(4.75, 4.625), (5.25, 4.625), (5.25, 5.125), (4.75, 5.125)], 8, (1e-6, 1e-5)),
    # a triangle inside a pixel, bounded by its box only: 0.42 for its area 0.195 (0.67 unbounded)
    "triangle inside a pixel": ([(4.2, 4.2), (4.8, 4.3), (4.5, 4.9)], 64, (1e-3, 0.25)),
    "slanted 0.4 px sliver": ([(1.0, 8.0), (19.0, 8.3), (19.0, 8.7), (1.0, 8.4)], 64, (1e-4, 2e-3)),
    "triangle": ([(2.2, 18.1), (10.3, 2.4), (18.1, 17.6)], 64, (1e-4, 2e-3)),
    "20 degree tip": ([(1.7, 4.2), (18.4, 9.9), (1.3, 13.3)], 64, (1e-4, 2e-3)),
    # a figure eight: its lobes fill opposite sides of their edges, which cross (an X)
    "bow tie": ([(1.3, 6.1), (18.6, 13.8), (16.9, 2.2), (4.1, 18.2)], 64, (1e-4, 2e-3)),
    # the outline of a stroke that turns down for a short way, as stroke outlines are traced:
    # it runs inside itself at the join, so the closest edge to a centre may have fill on both
    # sides (y = 10.375) with the outline's own edge beyond (y = 10.75), which alone bounds the
    # fill there; then on pixel centres (y = 10.5), where the centre's winding number is one
    # side's. Exact but in three or four pixels at its vertices, where a third edge or vertex is near:
    # 0.03 to 0.25 there (both were 1.95e-3 / 1.33e-3 in the mean while the inner edges counted
    # as outline)
    "outline overlapping itself": ([(2.0, 10.375), (12.0, 10.375), (12.0, 9.625), (9.25, 9.625), (9.25, 10.75),
                                    (14.875, 10.75), (14.875, 9.625), (14.875, 8.5), (12.0, 8.5), (2.0, 8.5)],
                                   8, (8e-4, 0.2)),
    "outline overlapping itself on pixel centres": ([(2.0, 10.5), (12.0, 10.5), (12.0, 9.625), (9.25, 9.625),
                                                     (9.25, 10.75), (14.875, 10.75), (14.875, 9.625),
                                                     (14.875, 8.5), (12.0, 8.5), (2.0, 8.5)], 8, (1.1e-3, 0.26)),
}


@functools.cache
def fill_shape(shape: str) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """A `FILL_SHAPES` polygon, its alpha supersampled (computed once for both renderers), and
    the error bounds."""
    corners, k, bounds = FILL_SHAPES[shape]
    points = polygon(corners)
    truth = supersampled([points], torch.zeros(1), torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.float64), [True],
                         20, 20, k=k, dense=2)[3]
    return points, truth, bounds


@pytest.mark.parametrize("name", ["reference", "native"])
@pytest.mark.parametrize("shape", FILL_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fill_corners_and_slivers_count_both_edges(name, shape, dtype):
    # one tangent line is exact along an edge; where a second edge crosses the pixel (a corner,
    # a sliver thinner than a pixel, an X) the coverage counts both, with the pixel's exact area
    # between two lines (one edge alone: max errors 0.25, 0.34, 0.23, 0.29, 0.17, 0.10 and 0.20
    # on these shapes; that area estimated from the two shares: 0.021 on the triangle, 0.034 at
    # the 20 degree tip; the bow tie's lobes taken to fill the same side: 0.20)
    # (in float32, collinear chords of one straight side must not be taken for crossing ones)
    points, truth, (mean_bound, max_bound) = fill_shape(shape)
    args = scene_args(points[None, None].to(dtype), torch.zeros(1, 1, dtype=dtype), torch.zeros(1, 1, 4, dtype=dtype),
                      torch.ones(1, 1, 4, dtype=dtype), closed=torch.tensor([True]))
    err = (RENDERERS[name](*args, 20, 20)[0, 3] - truth).abs()
    assert err.mean() < mean_bound and err.max() < max_bound, (err.mean(), err.max())


@pytest.mark.parametrize("name", ["reference", "native"])
def test_fill_gap_between_subpaths_of_opposite_hands(name):
    # two rectangles of one path, drawn in opposite directions (so both are filled under
    # nonzero), 0.75 px apart: the edges facing each other run the same way but fill opposite
    # sides; each chord takes its side from the winding numbers beside it, or at a corner whose
    # centre is on a side, from its subpath (the side that fits the centre, else the whole
    # path's hand: max error 0.375). Edges on 1/8 px: exact areas.
    upper, lower = (2.125, 2.25, 17.875, 9.375), (2.125, 10.125, 17.875, 16.5)  # x0, y0, x1, y1
    clockwise = polygon([(upper[0], upper[1]), (upper[2], upper[1]), (upper[2], upper[3]), (upper[0], upper[3])])
    anticlockwise = polygon([(lower[2], lower[1]), (lower[0], lower[1]), (lower[0], lower[3]), (lower[2], lower[3])])
    points = torch.cat([clockwise[:-1], anticlockwise])[None, None]
    starts = torch.tensor([[True, False, False, False, True, False, False, False]])
    args = scene_args(points, torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, 4, dtype=torch.float64),
                      torch.ones(1, 1, 4, dtype=torch.float64), closed=torch.tensor([True]),
                      num_segments=torch.tensor([8]))
    alpha = RENDERERS[name](*args, 20, 20, subpath_starts=starts)[0, 3]
    cells = torch.arange(20, dtype=torch.float64)

    def overlap(lo: float, hi: float) -> torch.Tensor:  # of each pixel row or column with [lo, hi]
        return (torch.clamp(cells + 1, max=hi) - torch.clamp(cells, min=lo)).clamp(min=0)

    truth = sum(overlap(y0, y1)[:, None] * overlap(x0, x1)[None] for x0, y0, x1, y1 in (upper, lower))
    assert (alpha - truth).abs().max() < 1e-6, (alpha - truth).abs().max()


@functools.cache
def big_circle_arc(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """An arc of a filled circle of radius 100 px (4 cubics) across a canvas, and its alpha
    supersampled 16 x 16 from the curve (computed once for both renderers)."""
    points = circle(-84.3, 8.2, 100)
    truth = supersampled([points], torch.zeros(1), torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.float64), [True],
                         size, size, k=16, dense=500)[3]
    return points, truth


@pytest.mark.parametrize("name", ["reference", "native"])
def test_fill_edges_follow_the_curve_not_its_chords(name):
    # the arc's 16-chord polygon lies up to 0.13 px inside the curve (with the chords' distance:
    # mean 6.0e-3, max 0.13); the parabola through each chord's ends and the curve's middle
    # follows the curve (measured 3.5e-4 / 0.021)
    points, truth = big_circle_arc()
    args = scene_args(points[None, None], torch.zeros(1, 1, dtype=torch.float64),
                      torch.zeros(1, 1, 4, dtype=torch.float64), torch.ones(1, 1, 4, dtype=torch.float64),
                      closed=torch.tensor([True]))
    err = (RENDERERS[name](*args, 16, 16)[0, 3] - truth).abs()
    assert err.mean() < 5e-4 and err.max() < 0.03, (err.mean(), err.max())


def test_fill_edge_follows_the_winding_number_across_the_chord():
    direction = torch.tensor([[1.0, 0.0]] * 5, dtype=torch.float64)
    offset = torch.tensor([[0.0, 0.3], [0.0, -0.3], [0.0, 0.3], [0.0, 1e-5], [0.0, 1e-5]], dtype=torch.float64)
    winding = torch.tensor([2, 2, 1, 2, 1])  # across: 1, 3, 0, then within rounding of the line: 1 or 3, 0 or 2
    nonzero, even_odd = torch.tensor(False), torch.tensor(True)
    assert fill_edge(winding, nonzero, direction, offset).tolist() == [False, False, True, False, True]
    assert fill_edge(winding, even_odd, direction, offset).tolist() == [True, True, True, True, True]


def test_fill_edge_of_a_centre_exactly_on_the_line_takes_the_side_ray_crossings_counts():
    # a 2 x 1 rectangle over a 2 x 2 square in one nonzero outline: the rectangle's lower edge
    # (y = 1) runs inside the square, centres on it are inside on both sides, not on an edge; the
    # square's own edges are edges whichever side a centre on them counts as
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    rectangle = [(0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (0.0, 1.0)]
    a = torch.tensor(square + rectangle, dtype=torch.float64)
    b = torch.tensor(square[1:] + square[:1] + rectangle[1:] + rectangle[:1], dtype=torch.float64)
    centres = torch.tensor([[1.0, 1.0], [0.5, 2.0], [2.0, 0.5], [0.0, 1.5]], dtype=torch.float64)
    chords = [6, 2, 1, 3]  # the chord each centre lies on
    winding = winding_number(centres[:, None], a, b)
    edge = fill_edge(winding, torch.tensor(False), (b - a)[chords], centres - a[chords])
    assert edge.tolist() == [False, True, True, True]


def test_coverage_model_values():
    """Axis-aligned edges and thin lines: the footprint is the 1-D box, so the coverage is exact."""
    # a horizontal line y = 10.3 across the canvas, width 4: rows 8.3..12.3
    pts = torch.tensor([[[[-5, 10.3], [10, 10.3], [20, 10.3], [40, 10.3]]]], dtype=torch.float64)
    args = scene_args(pts, torch.tensor([[4.0]], dtype=torch.float64),
                      torch.tensor([[[0, 0, 0, 1.0]]], dtype=torch.float64))
    for fn in RENDERERS.values():
        a = fn(*args, 16, 16)[0, 3, :, 8]
        assert torch.allclose(a[8], torch.tensor(0.7, dtype=torch.float64))  # centre 8.5: d=1.8
        assert torch.allclose(a[12], torch.tensor(0.3, dtype=torch.float64))  # centre 12.5: d=2.2
        assert a[9:12].eq(1).all() and a[:8].eq(0).all() and a[13:].eq(0).all()
        thin = fn(pts, torch.tensor([[0.5]], dtype=torch.float64), *args[2:], 16, 16)[0, 3, :, 8]
        assert torch.allclose(thin[10], torch.tensor(0.5, dtype=torch.float64))  # d=0.2: 0.5 wide


def test_footprint_cdf_is_the_exact_pixel_area():
    g = torch.Generator().manual_seed(0)
    angles = torch.rand(12, generator=g, dtype=torch.float64) * 2 * math.pi
    offsets = torch.linspace(-0.8, 0.8, 17, dtype=torch.float64)
    grid = (torch.arange(600, dtype=torch.float64) + 0.5) / 600 - 0.5
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    for angle in angles:
        normal = torch.stack([torch.cos(angle), torch.sin(angle)])
        area = torch.stack([((gx * normal[0] + gy * normal[1]) < x).double().mean() for x in offsets])
        ours = footprint_cdf(offsets, tuple(normal.expand(len(offsets), 2).unbind(-1)))
        assert (ours - area).abs().max() < 2e-3  # 600x600 samples resolve the area to ~1e-3


def clipped_square_area(lines: list[tuple[float, float, float]]) -> float:
    """Exact area of the unit square centred at 0 where ``z . (nx, ny) <= x`` for every line
    ``(x, nx, ny)``: the square clipped polygon by polygon (Sutherland-Hodgman), then the shoelace."""
    polygon = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    for x, nx, ny in lines:
        clipped = []
        for (px, py), (qx, qy) in zip(polygon, polygon[1:] + polygon[:1]):
            dp, dq = px * nx + py * ny - x, qx * nx + qy * ny - x
            if dp <= 0:
                clipped.append((px, py))
            if dp * dq < 0:
                f = dp / (dp - dq)
                clipped.append((px + f * (qx - px), py + f * (qy - py)))
        polygon = clipped
        if not polygon:
            return 0.0
    return 0.5 * abs(sum(px * qy - qx * py for (px, py), (qx, qy) in zip(polygon, polygon[1:] + polygon[:1])))


def test_wedge_share_is_the_exact_area_and_its_derivative():
    # random pairs of lines, parallel and opposite pairs, axis-aligned ones, and corners on the
    # pixel's border and at its corners (integer vertex coordinates), where the clipping's own
    # derivatives are off by up to 0.63
    g = torch.Generator().manual_seed(1)
    n = 64
    angles = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 * math.pi
    angles[:8, 1] = angles[:8, 0]
    angles[8:16, 1] = angles[8:16, 0] + math.pi
    angles[16:20] = torch.tensor([0.0, math.pi / 2], dtype=torch.float64)
    apex = torch.rand(n, 2, generator=g, dtype=torch.float64) * 1.6 - 0.8
    apex[20:28, 0] = 0.5
    apex[28:32] = torch.tensor([-0.5, 0.5], dtype=torch.float64)
    offsets = (torch.stack([angles.cos(), angles.sin()], -1) * apex[:, None]).sum(-1)  # lines through the apex
    offsets[:16] = torch.rand(16, 2, generator=g, dtype=torch.float64) * 1.6 - 0.8  # parallel pairs: apart
    offsets[16:20, 0] = torch.tensor([-0.5, 0.5, 0.5, -0.5], dtype=torch.float64)  # on the pixel's sides

    def share(offsets, angles):  # [n, 2] each
        cos, sin = angles.cos(), angles.sin()
        return wedge_share(offsets[:, 0], (cos[:, 0], sin[:, 0]), offsets[:, 1], (cos[:, 1], sin[:, 1]))

    exact = torch.tensor([clipped_square_area([(offsets[i, k].item(), math.cos(angles[i, k]), math.sin(angles[i, k]))
                                               for k in range(2)]) for i in range(n)], dtype=torch.float64)
    assert (share(offsets, angles) - exact).abs().max() < 1e-12
    inputs = (offsets.requires_grad_(True), angles.requires_grad_(True))
    grads = torch.autograd.grad(share(*inputs).sum(), inputs)
    eps = 1e-7
    for which, line in itertools.product(range(2), range(2)):
        step = torch.zeros(n, 2, dtype=torch.float64)
        step[:, line] = eps
        with torch.no_grad():
            moved = [tuple(t + sign * step if k == which else t for k, t in enumerate(inputs)) for sign in (1, -1)]
            central = (share(*moved[0]) - share(*moved[1])) / (2 * eps)
        err = (grads[which][:, line] - central).abs()
        err[16:20] = 0  # axis-aligned lines on the pixel's sides: a kink of the box filter itself
        assert err.max() < 1e-5, (which, line, err.max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_wedge_share_of_opposite_lines_is_the_band_between_them(dtype):
    # one line with both hands (a chord and its reverse: an outline that doubles back on itself):
    # a band of no width, where rounding of the normals' dot product used to cut one line's
    # piece of the boundary and keep the other, leaving areas down to -0.19; and narrow bands
    g = torch.Generator().manual_seed(2)
    n = 256
    angle = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    x1 = torch.rand(n, generator=g, dtype=torch.float64) * 1.4 - 0.7
    width = torch.where(torch.arange(n) % 2 == 0, 0.0, torch.rand(n, generator=g, dtype=torch.float64) * 0.02 - 0.01)
    x2 = -x1 + width
    exact = torch.tensor([clipped_square_area([(x1[i].item(), math.cos(angle[i]), math.sin(angle[i])),
                                               (x2[i].item(), -math.cos(angle[i]), -math.sin(angle[i]))])
                          for i in range(n)], dtype=torch.float64)
    normal = (angle.cos().to(dtype), angle.sin().to(dtype))
    share = wedge_share(x1.to(dtype), normal, x2.to(dtype), tuple(-c for c in normal)).double()
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    assert (share - exact).abs().max() < tolerance


def test_straight_oblique_stroke_is_exact_away_from_its_caps():
    # a 2.6 px stroke at ~27 degrees; the 1-D box filter was off by up to ~0.1 on such edges
    pts = torch.tensor([[[[-10, 2.3], [10, 12.3], [30, 22.3], [50, 32.3]]]], dtype=torch.float64)
    args = scene_args(pts, torch.tensor([[2.6]], dtype=torch.float64),
                      torch.tensor([[[0, 0, 0, 1.0]]], dtype=torch.float64))
    k = 32
    sub = (torch.arange(24 * k, dtype=torch.float64) + 0.5) / k
    sy, sx = torch.meshgrid(sub, sub, indexing="ij")
    direction = torch.tensor([2.0, 1.0], dtype=torch.float64) / math.sqrt(5)
    dist = ((sx - 10) * direction[1] - (sy - 12.3) * direction[0]).abs()  # to the infinite line
    truth = (dist < 1.3).double().reshape(24, k, 24, k).mean((1, 3))
    for fn in RENDERERS.values():
        alpha = fn(*args, 24, 24)[0, 3]
        assert (alpha - truth).abs().max() < 4e-3  # the 32x32 ground truth's own resolution


@pytest.mark.parametrize("name", ["reference", "native"])
def test_round_caps_and_dots_match_the_exact_area(name):
    """The outline curvature makes round caps (and a dot, all cap) close to their exact area."""
    k, size = 48, 24
    sub = (torch.arange(size * k, dtype=torch.float64) + 0.5) / k
    sy, sx = torch.meshgrid(sub, sub, indexing="ij")
    g = torch.Generator().manual_seed(1)
    for length in (0.0, 8.0):  # a dot, then a straight 8 px stroke with two caps
        errors = {}
        for curvature in (True, False):
            total = 0.0
            for _ in range(4):
                a = 8 + 4 * torch.rand(2, generator=g, dtype=torch.float64)
                angle = math.pi * torch.rand((), generator=g, dtype=torch.float64)
                b = a + length * torch.stack([torch.cos(angle), torch.sin(angle)])
                pts = torch.stack([a, a + (b - a) / 3, a + 2 * (b - a) / 3, b])[None, None]
                args = scene_args(pts, torch.tensor([[3.0]], dtype=torch.float64),
                                  torch.tensor([[[0, 0, 0, 1.0]]], dtype=torch.float64))
                alpha = RENDERERS[name](*args, size, size, curvature=curvature)[0, 3]
                e = b - a
                u = (((sx - a[0]) * e[0] + (sy - a[1]) * e[1]) / (e @ e).clamp_min(1e-12)).clamp(0, 1)
                inside = ((sx - a[0] - u * e[0]) ** 2 + (sy - a[1] - u * e[1]) ** 2) < 1.5**2
                truth = inside.double().reshape(size, k, size, k).mean((1, 3))
                total += (alpha - truth).abs().sum().item() / 4
            errors[curvature] = total
        # summed over the stroke's pixels: measured 0.023 (dot) / 0.033 with the curvature, 0.26
        # without (48x48 samples per pixel resolve the area to ~0.005 here)
        assert errors[True] < 0.05 and errors[False] > 5 * errors[True], errors


def test_composite():
    rgba = torch.tensor([0.2, 0.1, 0.0, 0.5]).reshape(1, 4, 1, 1)
    assert torch.allclose(composite(rgba, (1.0, 1.0, 1.0))[0, :, 0, 0], torch.tensor([0.7, 0.6, 0.5]))
    assert torch.allclose(composite(rgba, torch.tensor([0.0, 1.0, 0.0]))[0, :, 0, 0],
                          torch.tensor([0.2, 0.6, 0.0]))
    assert torch.equal(composite(rgba, None), rgba[:, :3])
    pair = torch.cat([rgba, rgba])  # one background per image
    per_image = composite(pair, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))[:, :, 0, 0]
    assert torch.allclose(per_image, torch.tensor([[0.7, 0.6, 0.5], [0.2, 0.1, 0.0]]))


# -- degenerate input -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "native"])
def test_degenerate_inputs_are_finite(name):
    fn = RENDERERS[name]
    pts = torch.tensor([
        [[5.0, 5.0]] * 4,  # all control points coincide
        [[8.5, 8.5], [8.5, 8.5], [12.5, 8.5], [12.5, 8.5]],  # on pixel centres, doubled points
        [[1e6, 1e6], [1e6 + 1, 1e6], [1e6, 1e6 + 1], [1e6, 1e6]],  # far off canvas
        [[-30.0, 4.0], [50.0, 4.0], [-30.0, 12.0], [50.0, 12.0]],  # crosses the whole canvas
        [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0], [3.0, 3.0]],  # closed, degenerate fill
    ], dtype=torch.float64)[None]
    widths = torch.tensor([[3.0, 0.0, 2.0, 40.0, 1.0]], dtype=torch.float64)
    strokes = torch.tensor([[[0, 0, 0, 1.0], [1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0.0], [1, 1, 0, 1]]],
                           dtype=torch.float64)
    fills = torch.zeros(1, 5, 4, dtype=torch.float64)
    closed = torch.tensor([False, True, False, True, True])
    leaves = [t.clone().requires_grad_(True) for t in (pts, widths, strokes, fills)]
    img = fn(*leaves, closed, torch.ones(5, dtype=torch.long), torch.zeros(5, dtype=torch.bool), 16, 16)
    img.square().sum().backward()
    assert torch.isfinite(img).all()
    for t in leaves:
        assert torch.isfinite(t.grad).all()
    assert img[0, 3].max() > 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_degenerate_scenes_are_finite(dtype):
    """Random mixes of coincident points, control points on their ends, cusps, collinear and
    integer (pixel-centre tie) coordinates, far-away points, zero and huge widths, caps and
    joins: every value and gradient is finite, in both renderers and both native schemes."""
    for trial in range(12):
        g = torch.Generator().manual_seed(trial)
        segs = 1 + trial % 3
        pts = torch.rand(1, 4, 1 + 3 * segs, 2, generator=g, dtype=dtype) * 24
        pts[0, 0, 1:] = pts[0, 0, :1]  # coincident
        pts[0, 1, 1], pts[0, 1, 2] = pts[0, 1, 0], pts[0, 1, 3]  # control points on the ends
        pts[0, 2, 2], pts[0, 2, 1] = pts[0, 2, 0], pts[0, 2, 3]  # a cusp
        pts[0, 3] = pts[0, 3].round() if trial % 2 else pts[0, 3] * 1e5 - 5e4  # ties / far away
        pts[0, :, :, 1] = torch.where(torch.arange(4)[:, None] == trial % 4, 12.0, pts[0, :, :, 1])  # collinear
        widths = torch.rand(1, 4, generator=g, dtype=dtype) * 6
        widths[0, trial % 4] = 0.0
        widths[0, (trial + 1) % 4] = 200.0 if trial % 3 == 0 else widths[0, (trial + 1) % 4]
        colors = torch.rand(2, 1, 4, 4, generator=g, dtype=dtype)
        closed = torch.rand(4, generator=g) < 0.5
        style = None
        if trial % 2:
            style = torch.stack([torch.randint(0, 3, (4,), generator=g).to(dtype),
                                 torch.randint(0, 3, (4,), generator=g).to(dtype),
                                 1 + 5 * torch.rand(4, generator=g, dtype=dtype)], -1)
        for fn, options in ((render_reference, {}), (render_native, {"shapes": "dynamic"}),
                            (render_native, {"shapes": "static"})):
            leaves = [t.clone().requires_grad_(True) for t in (pts, widths, *colors)]
            img = fn(*leaves, closed, torch.full((4,), segs), torch.zeros(4, dtype=torch.bool), 24, 24,
                     stroke_style=style, **options)
            img.square().sum().backward()
            assert torch.isfinite(img).all(), (trial, fn.__name__, options)
            for leaf in leaves:
                assert leaf.grad is None or torch.isfinite(leaf.grad).all(), (trial, fn.__name__, options)


@pytest.mark.parametrize("name", ["reference", "native"])
def test_empty_scene_is_transparent(name):
    pts = torch.zeros(2, 0, 4, 2, requires_grad=True)
    args = scene_args(pts, torch.zeros(2, 0), torch.zeros(2, 0, 4))
    img = RENDERERS[name](*args, 9, 7)
    assert img.shape == (2, 4, 9, 7) and img.eq(0).all()


def test_native_nothing_visible_keeps_graph():
    pts = torch.full((1, 2, 4, 2), -500.0, requires_grad=True)
    args = scene_args(pts, torch.full((1, 2), 2.0), torch.ones(1, 2, 4))
    img = render_native(*args, 8, 8)
    img.sum().backward()
    assert img.eq(0).all() and pts.grad.eq(0).all()


@pytest.mark.parametrize("box_size", [3.0, 40.0])  # 40 px boxes list more (tile, box) than (tile, path) pairs
def test_dynamic_binning_lists_the_pairs_the_difference_array_counts(box_size):
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        lo = torch.rand(2, 5, 3, 2, generator=g) * 100 - 20  # [B, N, boxes, 2], partly off-canvas
        hi = lo + torch.rand(2, 5, 3, 2, generator=g) * box_size
        ranges = _tile_ranges(lo, hi, torch.rand(2, 5, 3, generator=g) > 0.3, 8, 7, 9)
        tile, path = torch.nonzero(_box_tiles(*ranges, 7, 9).reshape(-1, 5), as_tuple=True)
        bins = _pairs(*ranges, 7, 9)
        assert bins is not None and torch.equal(bins.pair_tile, tile) and torch.equal(bins.pair_path, path)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chords, per_segment", [(16, 4), (300, 20)])  # 300: more than the keys' 8 index bits
def test_two_closest_chords(dtype, chords, per_segment):
    """The closest chord, and the closest outside its basin: itself and its neighbours on its own
    segment (a neighbour across a join is a candidate: Newton cannot cross into it)."""
    g = torch.Generator().manual_seed(0)
    d2 = torch.rand(2000, chords, generator=g, dtype=dtype) * 9
    d2[:100, 5] = d2[:100, 3] = d2[:100].amin(-1) / 2  # exact ties go to the first
    d2[100:200, per_segment - 1] = d2[100:200].amin(-1) / 2  # closest: a segment's last chord ...
    d2[100:200, per_segment] = d2[100:200, per_segment - 1] * 1.01  # ... next to the next one's first
    best, second = _two_closest(d2, per_segment)
    assert best[:100].eq(3).all()
    assert best[100:200].eq(per_segment - 1).all() and second[100:200].eq(per_segment).all()
    true_min = d2.amin(-1, keepdim=True)
    assert (d2.gather(-1, best) - true_min).abs().le(true_min * 2**-14).all()  # within 2^8 ulps
    near = best + torch.arange(-1, 2)
    same_segment = near.div(per_segment, rounding_mode="floor") == best.div(per_segment, rounding_mode="floor")
    basin = torch.where(same_segment, near, best)
    assert not (second == basin).any()
    rest = d2.scatter(-1, basin, math.inf).amin(-1, keepdim=True)
    assert (d2.gather(-1, second) - rest).abs().le(rest * 2**-14).all()


@pytest.mark.parametrize("windowed", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tile_winding_equals_the_winding_number(dtype, windowed):
    """Per-row counting of the chords right of a tile (per pair, or with windows from the sorted
    row crossings of all paths) gives every pixel the winding number the per-chord test gives,
    to the integer: vertices on pixel centres, rows and tile borders, horizontal and vertical
    chords, chords far outside and padding (a == b, far away)."""
    g = torch.Generator().manual_seed(0)
    size, tiles = 8, 4
    corners = torch.rand(40, 12, 2, generator=g, dtype=dtype) * 48 - 8  # [paths, vertices, 2]: closed polygons
    corners[10:20] = (corners[10:20] * 2).round() / 2  # on pixel centres and borders
    corners[20:25, :, 1] = corners[20:25, :1, 1]  # horizontal
    corners[25:30, :, 0] = corners[25:30, :1, 0] + 0.5  # vertical through centres
    corners[30:33] *= 100  # far outside
    a, b = corners, corners.roll(-1, dims=1)
    a[33:, 8:] = b[33:, 8:] = 1e18  # padding chords
    row = torch.arange(40).repeat_interleave(tiles * tiles)  # every path over every tile
    origin = torch.stack(torch.meshgrid(torch.arange(tiles), torch.arange(tiles), indexing="xy"), -1).reshape(-1, 2)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    local = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1) + 0.5
    pix = ((origin * size).repeat(40, 1)[:, None] + local).to(dtype)  # [C, Q, 2]
    canvas = (tiles * size, tiles * size)
    geometry = type("Geometry", (), {"tile_size": size, "chord_a": a, "chord_b": b, "padded_size": canvas,
                                     "crossings": _row_crossings(a, b, *canvas)})
    chords = _Chords(None, None)
    if windowed:  # every chord in the window: the near ones are tested per pixel, the right ones counted
        chords = _Chords(None, None, torch.zeros(len(row), 1), torch.cat([a[row], b[row]], -1).transpose(1, 2))
    winding = _tile_winding(geometry, chords, row, pix)
    truth = winding_number(pix[:, :, None], a[row][:, None], b[row][:, None])
    assert winding.dtype == torch.int32 and torch.equal(winding, truth)
    assert truth.ne(0).sum() > 1000 and truth.abs().max() >= 2  # insides and overlaps were counted


def test_native_static_bins_overflow_is_nan():
    pts = torch.tensor([[[4.0, 4.0], [5.0, 4.0], [6.0, 4.0], [7.0, 4.0]]]).expand(1, 3, 4, 2)
    args = scene_args(pts, torch.full((1, 3), 2.0), torch.ones(1, 3, 4))
    img = render_native(*args, 16, 16, shapes="static", tile_capacity=2)
    assert img[0, :, :8, :8].isnan().all() and img[0, :, 8:, 8:].eq(0).all()
    ok = render_native(*args, 16, 16, shapes="static", tile_capacity=3)
    assert torch.allclose(ok, render_native(*args, 16, 16), atol=1e-5)


@pytest.mark.parametrize("styled", [False, True])
def test_tile_occupancy_is_the_densest_bin(styled):
    """The count the fixed bins need: the most pairs on one tile in the exact (dynamic) binning,
    with fills, subpaths and miters (which reach farther) included."""
    args = list(random_scene(3, batch=2, n=9, segs=2, size=40))
    subpaths = torch.rand(2, 9, 2, generator=torch.Generator().manual_seed(1)) < 0.5
    style = None
    if styled:
        style = torch.tensor([[1.0, 1.0, 10.0], [2.0, 2.0, 4.0], [0.0, 1.0, 4.0]] * 3, dtype=torch.float64)
    kwargs = {"subpath_starts": subpaths, "stroke_style": style}
    count = tile_occupancy(*args, 40, 44, tile_size=8, **kwargs)
    assert count.shape == () and count.dtype == torch.long
    lay = _layout(*args[:2], *args[3:], 40, 44, subpaths, style, 8)
    pairs = _pairs(*lay.ranges, lay.tiles_y, lay.tiles_x)
    assert int(count) == int(pairs.pair_tile.bincount().max()) > 2
    exact = render_native(*args, 40, 44, **kwargs)
    assert torch.allclose(render_native(*args, 40, 44, shapes="static", tile_capacity=int(count), **kwargs),
                          exact, atol=1e-6)
    assert render_native(*args, 40, 44, shapes="static", tile_capacity=int(count) - 1, **kwargs).isnan().any()


def test_tile_capacity_fits_the_scenes_and_grows_ahead_of_them():
    """'auto' bins: twice the densest tile (a power of two, >= 8, <= the path count), grown from
    counts taken every few calls as the strokes crowd together, never shrunk."""
    g = torch.Generator().manual_seed(0)
    n = 96
    spread = torch.rand(1, n, 1, 2, generator=g, dtype=torch.float64) * 120 + 4
    points = (spread + torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)[:, None]).contiguous()
    args = scene_args(points, torch.full((1, n), 2.0, dtype=torch.float64), torch.rand(1, n, 4, generator=g))
    fitter = TileCapacity(interval=2)

    def capacity(pts):
        return fitter.capacity(pts, *args[1:], 128, 128, tile_size=8)

    first = capacity(points)
    densest = int(tile_occupancy(points, *args[1:], 128, 128))
    assert first == max(8, 1 << (2 * densest - 1).bit_length()) < n
    crowd = points.clone()
    crowd[:, : n // 4] = points[:, : n // 4] * 0.08 + 60  # a quarter of the strokes crowd together
    denser = int(tile_occupancy(crowd, *args[1:], 128, 128))
    assert denser > first
    sizes = [capacity(crowd) for _ in range(4)]  # counted on call 2, grown on call 3
    assert sizes[0] == first and sizes[-1] == 1 << (2 * denser - 1).bit_length()
    assert denser <= sizes[-1] // 2 < n
    assert capacity(points) == sizes[-1]  # sparse again: kept (each size is a CUDA graph)
    static = render_native(crowd, *args[1:], 128, 128, shapes="static", tile_capacity=sizes[-1])
    assert torch.allclose(static, render_native(crowd, *args[1:], 128, 128), atol=1e-6)


# -- inverse rendering ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "native"])
def test_inverse_rendering_recovers_control_points(name):
    fn = RENDERERS[name]
    kw = {"samples": 16} if name == "reference" else {}  # fewer search starts: faster, same optimum
    size, steps = 24, 200
    truth = torch.tensor([[[4.0, 6.0], [8.0, 1.0], [16.0, 12.0], [20.0, 5.0]],
                          [[5.0, 19.0], [7.0, 11.0], [16.0, 21.0], [19.0, 12.0]]])[None]
    flags = (torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.long), torch.zeros(2, dtype=torch.bool))
    widths = torch.full((1, 2), 4.0)
    colors = torch.tensor([[[0, 0, 0, 1.0], [0, 0, 0, 1.0]]])
    target = fn(truth, widths, colors, None, *flags, size, size, **kw).detach()
    g = torch.Generator().manual_seed(0)
    offset = torch.randn(truth.shape, generator=g)
    start = truth + 3.0 * offset / offset.norm(dim=-1, keepdim=True)  # every point moved by 3 px
    pts = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([pts], lr=0.2)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - 0.9 * i / steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = (fn(pts, widths, colors, None, *flags, size, size, **kw) - target).square().sum()
        loss.backward()
        opt.step()
        schedule.step()
    error = (pts.detach() - truth).norm(dim=-1)
    assert error.max() < 0.5, error  # stated tolerance: every control point within 0.5 px
    assert math.isfinite(loss.item())


@pytest.mark.parametrize("name", ["reference", "native"])
def test_inverse_rendering_recovers_a_filled_polygon(name):
    # the corners of a filled quadrilateral, each moved by 1 px, come back from the gradient of
    # the exact corner areas (measured: within 0.04 px after 60 steps)
    truth = torch.tensor([[3.2, 4.1], [16.7, 2.9], [15.3, 16.2], [5.1, 13.8]])
    flat = (torch.zeros(1, 1), torch.zeros(1, 1, 4), torch.tensor([[[0.2, 0.3, 0.8, 1.0]]]))

    def render(corners: torch.Tensor) -> torch.Tensor:
        points = polygon_points(corners)
        return RENDERERS[name](*scene_args(points[None, None], *flat, closed=torch.tensor([True])), 20, 20)

    target = render(truth).detach()
    offset = torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    corners = (truth + offset / offset.norm(dim=-1, keepdim=True)).requires_grad_(True)
    steps = 60
    opt = torch.optim.Adam([corners], lr=0.08)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - 0.9 * i / steps)
    for _ in range(steps):
        opt.zero_grad()
        (render(corners) - target).square().sum().backward()
        opt.step()
        schedule.step()
    error = (corners.detach() - truth).norm(dim=-1)
    assert error.max() < 0.1, error  # stated tolerance: every corner within 0.1 px


# -- gradient paints --------------------------------------------------------------------------------
def random_gradients(seed: int, batch: int, n: int, size: int, stops: int = 3, dtype=torch.float64) -> Gradients:
    """Linear, radial (with focal circles, some reaching outside the end circle: cones) and flat
    paints for fills and strokes, all spreads."""
    g = torch.Generator().manual_seed(seed)
    kinds = torch.randint(0, 3, (batch, n, 2), generator=g)
    frames = torch.zeros(batch, n, 2, 2, 3, dtype=dtype)
    for index in itertools.product(range(batch), range(n), range(2)):
        a, b = (torch.rand(2, generator=g, dtype=dtype) * size).tolist(), (torch.rand(2, generator=g) * size).tolist()
        frame = linear_frame(a, b) if kinds[index] != RADIAL else radial_frame(a, 3 + b[0] / 2)
        frames[index] = torch.tensor(frame, dtype=dtype)
    offsets = torch.rand(batch, n, 2, stops, generator=g, dtype=dtype).sort(-1).values
    colors = torch.rand(batch, n, 2, stops, 4, generator=g, dtype=dtype)
    return Gradients(kinds, frames, (torch.rand(batch, n, 2, 2, generator=g, dtype=dtype) - 0.5) * 1.6,
                     torch.cat([offsets[..., None], colors], -1), torch.randint(0, 3, (batch, n, 2), generator=g),
                     torch.rand(batch, n, 2, generator=g, dtype=dtype) * 0.4)


@pytest.mark.parametrize("shapes", ["dynamic", "static"])
def test_native_matches_reference_with_gradient_paints(shapes):
    """Gradient fills and strokes: values, and gradients of the points, colours, stops, frames,
    focal points and focal radii."""
    args = list(random_scene(3, batch=2))
    paints = random_gradients(3, 2, 6, 24)
    leaves = [t.clone().requires_grad_(True)
              for t in (*args[:4], paints.frames, paints.focals, paints.stops, paints.focal_radii)]
    weights = torch.rand(2, 4, 24, 26, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grads, images = [], []
    for fn, kw in ((render_reference, {}), (render_native, {"shapes": shapes})):
        gradients = paints._replace(frames=leaves[4], focals=leaves[5], stops=leaves[6], focal_radii=leaves[7])
        img = fn(*leaves[:4], *args[4:], 24, 26, gradients=gradients, **kw)
        grads.append(torch.autograd.grad((img * weights).sum(), leaves))
        images.append(img.detach())
    assert (images[0] - images[1]).abs().max() < 1e-4
    flat = render_native(*args, 24, 26)
    assert (images[1] - flat).abs().max() > 0.3  # the paints changed the image
    assert all(torch.isfinite(g).all() for g in grads[1])
    for g_ref, g_nat in zip(*grads):
        assert ((g_ref - g_nat).abs().max() / g_ref.abs().max().clamp_min(1)) < 2e-3
    assert all(g.abs().sum() > 0 for g in grads[1][4:])  # the frames, focal circles and stops learn


def test_gradcheck_float64_with_gradient_paints():
    pts = torch.tensor([[[1.3, 2.2], [5.1, 9.4], [8.2, 1.7], [10.6, 8.3]],
                        [[2.4, 9.1], [6.3, 11.8], [11.2, 4.3], [6.1, 3.2]]], dtype=torch.float64)
    flags = (torch.tensor([False, True]), torch.tensor([1, 1]), torch.tensor([False, False]))
    paints = random_gradients(5, 1, 2, 12)
    paints = paints._replace(kinds=torch.tensor([[[LINEAR, RADIAL], [RADIAL, LINEAR]]]))
    colors = torch.rand(2, 4, dtype=torch.float64), torch.rand(2, 4, dtype=torch.float64)

    def f(p, frames, focals, stops, focal_radii):
        gradients = paints._replace(frames=frames, focals=focals, stops=stops, focal_radii=focal_radii)
        return render_native(p[None], torch.tensor([[2.3, 1.7]], dtype=torch.float64), colors[0][None],
                             colors[1][None], *flags, 12, 12, newton_steps=8, gradients=gradients)

    inputs = tuple(t.clone().requires_grad_(True)
                   for t in (pts, paints.frames, paints.focals, paints.stops, paints.focal_radii))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_inverse_rendering_recovers_gradient_stops_and_vector():
    # a square filled by a linear gradient: its stop colours and its end point come back from a
    # render of the true paint (stated tolerance: colours within 0.02, the end within 0.3 px)
    square = polygon_points(torch.tensor([[2.0, 2.0], [18.0, 2.0], [18.0, 18.0], [2.0, 18.0]]))
    args = scene_args(square[None, None], torch.zeros(1, 1), torch.zeros(1, 1, 4), torch.ones(1, 1, 4),
                      closed=torch.tensor([True]))

    def render(stops: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        ex, ey = end - 2.0  # from (2, 2): the frame's first row is the direction over its squared length
        scale = ex * ex + ey * ey
        row = torch.stack([ex / scale, ey / scale, -(2 * ex + 2 * ey) / scale])
        frames = torch.stack([row, torch.tensor([0.0, 1.0, 0.0])])[None, None, None].expand(1, 1, 2, 2, 3)
        paint = Gradients(torch.tensor([[[LINEAR, FLAT]]]), frames, torch.zeros(1, 1, 2, 2),
                          stops[None, None, None].expand(1, 1, 2, 3, 5), torch.zeros(1, 1, 2, dtype=torch.long),
                          torch.zeros(1, 1, 2))
        return render_native(*args, 20, 20, gradients=paint)

    truth = torch.tensor([[0.0, 0.9, 0.1, 0.2, 1.0], [0.5, 0.2, 0.7, 0.3, 1.0], [1.0, 0.1, 0.2, 0.9, 1.0]])
    target = render(truth, torch.tensor([18.0, 12.0])).detach()
    stops = truth.clone()
    stops[:, 1:4] = 0.5
    stops.requires_grad_(True)
    end = torch.tensor([15.0, 16.0], requires_grad=True)
    opt = torch.optim.Adam([{"params": [stops], "lr": 0.02}, {"params": [end], "lr": 0.1}])
    for _ in range(300):
        opt.zero_grad()
        (render(stops, end) - target).square().sum().backward()
        stops.grad[:, 0] = 0  # the offsets stay
        opt.step()
    assert (stops.detach()[:, 1:4] - truth[:, 1:4]).abs().max() < 0.02
    assert (end.detach() - torch.tensor([18.0, 12.0])).norm() < 0.3
