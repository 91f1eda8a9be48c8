"""The pure loss functions of vecrender_losses.functional: values, shapes, gradients (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck

from vecrender_losses import functional as fn


def _images(s: int = 2, size: int = 16, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.1 + 0.8 * torch.rand(s, 3, size, size, generator=gen, dtype=dtype)


# -- CLIP guidance ------------------------------------------------------------------------------
def test_cosine_guidance_values_and_reductions():
    text = torch.tensor([1.0, 0.0])
    views = torch.tensor([[[1.0, 0.0], [0.0, 1.0]],      # cos 1 and 0
                          [[-2.0, 0.0], [3.0, 3.0]]])    # cos -1 and 1/sqrt(2)
    mean = fn.cosine_guidance(views, text)
    total = fn.cosine_guidance(views, text[None], reduction="sum")
    expected_sum = torch.tensor([0.0 + 1.0, 2.0 + (1 - 1 / math.sqrt(2))])
    assert torch.allclose(total, expected_sum)
    assert torch.allclose(mean, expected_sum / 2)


def test_cosine_guidance_negative_prompts_add_weighted_cosine():
    text = torch.tensor([1.0, 0.0])
    negatives = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    views = torch.tensor([[[0.0, 2.0]]])  # cos(text)=0, cos(neg1)=1, cos(neg2)=-1
    assert torch.allclose(fn.cosine_guidance(views, text, negatives[:1], 0.3), torch.tensor([1.3]))
    assert torch.allclose(fn.cosine_guidance(views, text, negatives, 0.3), torch.tensor([1.0]))


def test_cosine_guidance_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[S, A, D\]"):
        fn.cosine_guidance(torch.zeros(2, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="text_emb"):
        fn.cosine_guidance(torch.zeros(2, 3, 4), torch.zeros(5))
    with pytest.raises(ValueError, match="negative_emb"):
        fn.cosine_guidance(torch.zeros(2, 3, 4), torch.ones(4), torch.ones(2, 5))
    with pytest.raises(ValueError, match="reduction"):
        fn.cosine_guidance(torch.ones(2, 3, 4), torch.ones(4), reduction="max")


def test_embedding_distance_pairs_views():
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    b = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    assert torch.allclose(fn.embedding_distance(a, b), torch.tensor([0.5]))
    with pytest.raises(ValueError):
        fn.embedding_distance(a, torch.ones(1, 3, 2))


def test_clip_functions_gradcheck():
    gen = torch.Generator().manual_seed(0)
    views = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    text, neg = torch.randn(5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    assert gradcheck(lambda v: fn.cosine_guidance(v, text, neg, 0.3, "sum"), (views,))
    other = torch.randn(1, 3, 5, generator=gen, dtype=torch.float64)
    assert gradcheck(lambda v: fn.embedding_distance(v, other), (views,))


# -- SSIM / MS-SSIM / edges ----------------------------------------------------------------------
def test_ssim_zero_for_identical_and_positive_otherwise():
    target = _images(1, 16, seed=1)
    images = torch.cat([target, _images(1, 16, seed=2)])
    loss = fn.ssim_loss(images, target, win_size=7)
    assert loss.shape == (2,)
    assert abs(loss[0].item()) < 1e-6 and loss[1].item() > 0.3


def test_ssim_gradcheck_float64():
    target = _images(1, 8, seed=1)
    images = _images(2, 8, seed=2).requires_grad_()
    assert gradcheck(lambda x: fn.ssim_loss(x, target, win_size=3), (images,), eps=1e-6, atol=1e-5)


def test_ms_ssim_window_fits_canvas():
    assert fn.max_ms_ssim_window(224, 224) == 11
    assert fn.max_ms_ssim_window(64, 64) == 3
    assert fn.max_ms_ssim_window(16, 40) == 1
    target = _images(1, 64, seed=1)
    images = torch.cat([target, _images(1, 64, seed=3)])
    loss = fn.ms_ssim_loss(images, target)
    assert abs(loss[0].item()) < 1e-6 and 0 < loss[1].item() <= 1
    with pytest.raises(ValueError, match="exceeds"):
        fn.ms_ssim_loss(images, target, win_size=5)


def test_ms_ssim_gradient_is_finite_where_contrast_term_clips():
    # Anti-correlated images: some scale's contrast-structure term is <= 0 and pytorch-msssim's
    # fractional power has an infinite derivative there; the sketch's gradient must stay finite.
    target = _images(1, 32, seed=4)
    images = (1.0 - target).repeat(2, 1, 1, 1).requires_grad_()
    fn.ms_ssim_loss(images, target).sum().backward()
    assert torch.isfinite(images.grad).all()


def test_edge_loss_sees_edges_not_flat_offsets():
    flat = torch.full((1, 3, 16, 16), 0.5, dtype=torch.float64)
    square = flat.clone()
    square[..., 4:12, 4:12] = 0.0
    shifted = flat + 0.2  # same (no) edges as flat
    loss = fn.edge_loss(torch.cat([shifted, square]), flat)
    assert loss[0].item() < 1e-6 and loss[1].item() > 0.01
    images = _images(2, 8).requires_grad_()
    assert gradcheck(lambda x: fn.edge_loss(x, _images(1, 8, seed=5)), (images,), eps=1e-6, atol=1e-5)


def test_image_losses_reject_mismatched_shapes():
    target = _images(1, 16)
    for bad in (torch.rand(2, 3, 20, 16), torch.rand(2, 2, 16, 16), torch.rand(3, 16, 16)):
        for loss in (fn.ssim_loss, fn.edge_loss, fn.ms_ssim_loss):
            with pytest.raises(ValueError):
                loss(bad, target)
    with pytest.raises(ValueError, match="target"):
        fn.edge_loss(torch.rand(2, 3, 16, 16), torch.rand(3, 3, 16, 16))


# -- UDF -----------------------------------------------------------------------------------------
def test_udf_weights_peak_on_contour_and_vanish_far_away():
    alpha = torch.zeros(2, 40, 40)
    alpha[0, 10:30, 10:30] = 1.0  # a square; sketch 1 is empty
    w = fn.udf_weights(alpha, max_distance=5.0)
    assert w.shape == alpha.shape
    assert w[0, 10, 20].item() > 0.9 and w[0, 9, 20].item() > 0.9     # both sides of the edge
    assert w[0, 20, 20].item() == 0.0 and w[0, 0, 0].item() == 0.0     # > 5 px from the edge
    assert 0.3 < w[0, 12, 20].item() < 0.8                             # falls off linearly
    assert w[1].abs().sum().item() == 0.0                              # no contour: no weight


def test_weighted_error_and_gradcheck():
    target = _images(1, 8, seed=1)
    images = _images(2, 8, seed=2).requires_grad_()
    weight = torch.zeros(2, 8, 8, dtype=torch.float64)
    weight[1] = torch.linspace(0, 1, 64, dtype=torch.float64).view(8, 8)
    value = fn.weighted_error(images, target, weight)
    assert value[0].item() == 0.0
    assert torch.allclose(value[1], (weight[1] * (images[1] - target[0]).pow(2).sum(0)).mean())
    l1 = fn.weighted_error(images, target, weight, "l1")
    assert torch.allclose(l1[1], (weight[1] * (images[1] - target[0]).abs().sum(0)).mean())
    for norm in ("l1", "l2"):
        assert gradcheck(lambda x: fn.weighted_error(x, target, weight, norm), (images,))
    with pytest.raises(ValueError, match="weight"):
        fn.weighted_error(images, target, weight[:1])
    with pytest.raises(ValueError, match="norm"):
        fn.weighted_error(images, target, weight, "l3")


# -- geometry ------------------------------------------------------------------------------------
def _square(closed: bool, side: float = 10.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One path: a square as 4 straight cubic segments (control points at thirds)."""
    corners = torch.tensor([[0, 0], [side, 0], [side, side], [0, side], [0, 0]], dtype=torch.float64)
    pts = [corners[0]]
    for a, b in zip(corners[:-1], corners[1:]):
        pts += [a + (b - a) / 3, a + 2 * (b - a) / 3, b]
    points = torch.stack(pts)[None]
    return points, torch.tensor([4]), torch.tensor([closed])


def test_segment_controls_close_on_first_point_and_mark_padding():
    points = torch.arange(26, dtype=torch.float64).reshape(1, 13, 2).repeat(2, 1, 1)
    controls, valid = fn.segment_controls(points, torch.tensor([2, 4]), torch.tensor([True, False]))
    assert controls.shape == (2, 4, 4, 2)
    assert valid.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert torch.equal(controls[0, 1, 3], points[0, 0])   # closed: last valid segment ends at point 0
    assert torch.equal(controls[1, 3, 3], points[1, 12])  # open: ends at its stored point


def test_path_lengths_of_subpaths_close_each_on_its_start():
    points, segs, closed = _square(closed=True)  # 4 straight segments, 40 px
    inner = points[:, :12] * 0.5 + 2.0  # a 5 px square inside: 20 px
    both = torch.cat([points[:, :12], inner, inner[:, :1]], 1)  # [1, 25, 2]: 8 segments
    starts = torch.tensor([[True, False, False, False, True, False, False, False]])
    length = fn.path_lengths(both, torch.tensor([8]), closed, subpath_starts=starts)
    assert torch.allclose(length, torch.tensor([60.0], dtype=torch.float64))


def test_path_lengths_of_square_and_padding():
    points, segs, closed = _square(closed=False)
    assert torch.allclose(fn.path_lengths(points, segs, closed), torch.tensor([40.0], dtype=torch.float64))
    assert torch.allclose(fn.path_lengths(points, torch.tensor([2]), closed),
                          torch.tensor([20.0], dtype=torch.float64))
    # closed: the last segment goes back to point 0 whatever the stored end point is
    moved = points.clone()
    moved[0, 12] = torch.tensor([50.0, 50.0])
    assert torch.allclose(fn.path_lengths(moved, segs, torch.tensor([True])),
                          torch.tensor([40.0], dtype=torch.float64))


def test_path_lengths_nan_safe_and_gradcheck():
    points = torch.zeros(1, 4, 2, dtype=torch.float64, requires_grad=True)  # all points coincide
    length = fn.path_lengths(points, torch.tensor([1]), torch.tensor([False]))
    length.sum().backward()
    assert torch.isfinite(points.grad).all() and length.item() < 1e-4
    gen = torch.Generator().manual_seed(0)
    pts = (torch.rand(3, 7, 2, generator=gen, dtype=torch.float64) * 10).requires_grad_()
    args = (torch.tensor([1, 2, 2]), torch.tensor([False, True, False]))
    assert gradcheck(lambda p: fn.path_lengths(p, *args), (pts,))


def test_xing_penalty_zero_for_convex_and_positive_for_a_loop():
    points, segs, closed = _square(closed=True)
    gen = torch.Generator().manual_seed(1)
    bumped = points + 0.01 * torch.rand(points.shape, generator=gen, dtype=torch.float64)
    assert fn.xing_penalty(bumped, segs, closed).item() < 1e-3
    # a segment whose last leg crosses back over its first leg (a loop)
    loop = torch.tensor([[[0, 0], [10, 0], [10, 10], [-5, -5], [0, 20], [-10, 10], [0, 0]]], dtype=torch.float64)
    value = fn.xing_penalty(loop, torch.tensor([2]), torch.tensor([True]))
    assert value.item() > 0.1
    assert fn.xing_penalty(loop, torch.tensor([2]), torch.tensor([False])).item() == 0.0  # open: no penalty


def test_xing_penalty_nan_safe_for_coincident_points_and_gradcheck():
    points = torch.zeros(2, 7, 2, dtype=torch.float64, requires_grad=True)
    value = fn.xing_penalty(points, torch.tensor([2, 2]), torch.tensor([True, True]))
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(points.grad).all()
    gen = torch.Generator().manual_seed(3)
    pts = (torch.rand(3, 10, 2, generator=gen, dtype=torch.float64) * 20).requires_grad_()
    args = (torch.tensor([3, 2, 3]), torch.tensor([True, True, True]))
    assert fn.xing_penalty(pts, *args).sum().item() > 0  # random shapes do loop somewhere
    assert gradcheck(lambda p: fn.xing_penalty(p, *args), (pts,))


def test_geometry_rejects_bad_shapes():
    with pytest.raises(ValueError, match="points"):
        fn.path_lengths(torch.zeros(2, 5, 2), torch.tensor([1, 1]), torch.tensor([False, False]))
    with pytest.raises(ValueError, match="num_segments"):
        fn.xing_penalty(torch.zeros(2, 4, 2), torch.tensor([1]), torch.tensor([False, False]))


def test_sparsity_values_and_gradcheck():
    values = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    assert torch.allclose(fn.sparsity(values, 1.0, eps=0.0), torch.tensor(5 / 3, dtype=torch.float64))
    assert torch.allclose(fn.sparsity(values, 0.5, eps=0.0), torch.tensor(1.0, dtype=torch.float64))
    x = torch.tensor([0.5, 1.5, 2.0], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda v: fn.sparsity(v, 0.5), (x,))
    with pytest.raises(ValueError):
        fn.sparsity(torch.ones(2, 2))


def test_vgg_features_taps_and_normalized_distance():
    from torchvision.models import vgg16

    torch.manual_seed(0)
    features = vgg16(weights=None).features.eval()
    images = torch.rand(2, 3, 32, 32)
    taps = fn.vgg_features(features, images)
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert all(t.min() >= 0 for t in taps[:4]) and taps[4].min() < 0  # four after a ReLU, conv5_3 before
    distance = fn.normalized_feature_distance(taps, [t[1:] for t in taps])  # target batch of 1 broadcasts
    assert distance[1].item() == pytest.approx(0.0, abs=1e-6) and 0 < distance[0].item() <= 4 * len(taps)
    opposite = fn.normalized_feature_distance([torch.ones(1, 3, 2, 2)], [-torch.ones(1, 3, 2, 2)])
    assert opposite.item() == pytest.approx(4.0)  # unit vectors pointing opposite ways
    with pytest.raises(ValueError, match="same layers"):
        fn.normalized_feature_distance(taps, taps[:2])


# -- STROTSS style loss ----------------------------------------------------------------------------
def test_sample_hypercolumns_nearest_and_bilinear():
    full = torch.arange(16.0).reshape(1, 1, 4, 4)  # value = 4 * row + col
    half = torch.arange(4.0).reshape(1, 1, 2, 2) * 10  # 10 * (2 * row + col)
    rows, cols = torch.tensor([[0.0, 3.0, 1.0]]), torch.tensor([[0.0, 3.0, 2.0]])
    nearest = fn.sample_hypercolumns([full, half], rows, cols, bilinear=False)
    assert nearest.shape == (1, 2, 3)
    assert nearest[0, 0].tolist() == [0, 15, 6]          # full resolution: exact
    assert nearest[0, 1].tolist() == [0, 30, 10]         # halved and floored: (0,0), (1,1), (0,1)
    smooth = fn.sample_hypercolumns([full, half], rows, cols, bilinear=True)
    assert smooth[0, 0].tolist() == [0, 15, 6]
    # (1.5, 1.5) clamps to the last cell; (0.5, 1.0) averages rows 0 and 1 of column 1: (10 + 30) / 2
    assert smooth[0, 1].tolist() == pytest.approx([0, 30, 20])


def test_strotss_grid_thins_large_canvases():
    rows, cols = fn.strotss_grid(224, 224, torch.Generator().manual_seed(0))
    assert len(rows) == 224 and len(cols) == 112  # sqrt(50176 // 16384) = 1.7: strides 1 and 2
    rows, cols = fn.strotss_grid(64, 48)
    assert rows.tolist() == list(range(64)) and cols.tolist() == list(range(48))


def test_relaxed_emd_and_moments():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert fn.relaxed_emd(x, x).item() == pytest.approx(0.0, abs=1e-6)
    # y holds only x's first vector: x's second is 1 away (orthogonal); every y has a match
    assert fn.relaxed_emd(x, x[:1]).item() == pytest.approx(0.5)
    assert fn.relaxed_emd(x[:1], -x[:1]).item() == pytest.approx(2.0)  # opposite directions
    assert fn.relaxed_emd(x, -x).item() == pytest.approx(1.0)  # each nearest to an orthogonal one
    colours = torch.rand(6, 3, generator=torch.Generator().manual_seed(0))
    assert fn.relaxed_emd(colours, colours, palette=True).item() == pytest.approx((1e-5 / 3) ** 0.5, rel=1e-3)
    assert fn.moment_distance(x, x).item() == 0.0
    shifted = x + torch.tensor([1.0, 3.0])  # the means differ by (1, 3), the covariances not
    assert fn.moment_distance(x, shifted).item() == pytest.approx(2.0)


def test_strotss_style_loss_combines_its_three_terms():
    gen = torch.Generator().manual_seed(0)
    samples, style = torch.randn(2, 5, 40, generator=gen), torch.randn(5, 60, generator=gen)
    values = fn.strotss_style_loss(samples, style)
    for i in range(2):
        x, y = samples[i].T, style.T
        expected = (fn.relaxed_emd(x, y) + fn.moment_distance(x, y)
                    + fn.relaxed_emd(x[:, :3], y[:, :3], palette=True)) / 2
        assert values[i].item() == pytest.approx(expected.item(), rel=1e-6)
    assert fn.strotss_style_loss(style.T[None].transpose(1, 2), style).item() < 0.01  # its own samples
    with pytest.raises(ValueError, match="same d"):
        fn.strotss_style_loss(samples, style[:4])
