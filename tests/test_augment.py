"""Batched augmentations against torchvision (test-only dependency) and their parameter laws."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from vecrender.functional import augment as A

tvf = pytest.importorskip("torchvision.transforms.v2.functional")


def images(b=3, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g)


# float32 sampling: torchvision's and our sampling grids differ by rounding, which CPUs' vector
# kernels round differently (2.8e-5 seen on one machine, under 2e-5 on others)
SAMPLING_ATOL = 5e-5


def test_perspective_matches_torchvision_per_image():
    x = images()
    g = torch.Generator().manual_seed(1)
    start, end = A.perspective_params(3, 40, 48, 0.5, generator=g)
    ours = A.perspective(x, start, end, fill=0.0)
    for i in range(3):
        ref = tvf.perspective(x[i:i + 1], start[i].long().tolist(), end[i].long().tolist(),
                              interpolation=tvf.InterpolationMode.BILINEAR, fill=0.0)
        torch.testing.assert_close(ours[i:i + 1], ref, atol=SAMPLING_ATOL, rtol=0)


def test_perspective_fill_one_matches_torchvision():
    x = images(1, 32, 32, seed=3)
    start = torch.tensor([[[0., 0.], [31., 0.], [31., 31.], [0., 31.]]])
    end = torch.tensor([[[7., 3.], [25., 6.], [29., 27.], [2., 30.]]])
    ours = A.perspective(x, start, end, fill=1.0)
    ref = tvf.perspective(x, start[0].long().tolist(), end[0].long().tolist(), fill=1.0)
    torch.testing.assert_close(ours, ref, atol=SAMPLING_ATOL, rtol=0)
    assert ours[0, :, 0, 0].tolist() != x[0, :, 0, 0].tolist()


def test_resized_crop_matches_torchvision():
    x = images(4, 50, 50, seed=2)
    g = torch.Generator().manual_seed(5)
    boxes = A.resized_crop_params(4, 50, 50, scale=(0.7, 0.9), ratio=(1.0, 1.0), generator=g)
    ours = A.resized_crop(x, boxes, 56)
    for i in range(4):
        top, left, h, w = boxes[i].tolist()
        ref = tvf.resized_crop(x[i:i + 1], top, left, h, w, [56, 56],
                               interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
        torch.testing.assert_close(ours[i:i + 1], ref, atol=SAMPLING_ATOL, rtol=0)


def test_perspective_param_ranges_match_torchvision():
    g = torch.Generator().manual_seed(0)
    start, end = A.perspective_params(4000, 224, 224, 0.5, generator=g)
    assert start[0].tolist() == [[0, 0], [223, 0], [223, 223], [0, 223]]
    # torchvision: inner corners drawn from [0, 56] and [223 - 56, 223]
    lo = end[:, [0, 3], 0]
    hi = end[:, [1, 2], 0]
    assert lo.min() == 0 and lo.max() == 56 and hi.min() == 223 - 56 and hi.max() == 223
    assert len(torch.unique(lo)) == 57  # every integer value is reachable
    assert abs(lo.float().mean().item() - 28.0) < 1.0


def test_crop_params_clipasso_setting():
    g = torch.Generator().manual_seed(0)
    boxes = A.resized_crop_params(2000, 224, 224, scale=(0.8, 0.8), ratio=(1.0, 1.0), generator=g)
    side = round((0.8 * 224 * 224) ** 0.5)
    assert (boxes[:, 2] == side).all() and (boxes[:, 3] == side).all()
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 224 - side
    assert len(torch.unique(boxes[:, 1])) == 224 - side + 1


def test_crop_fallback_is_central():
    # an impossible aspect ratio never fits: torchvision falls back to the central crop
    boxes = A.resized_crop_params(3, 10, 40, scale=(1.0, 1.0), ratio=(0.1, 0.1))
    assert boxes.tolist() == [[0, 19, 10, 1]] * 3


def test_same_params_give_same_warp_and_each_image_its_own():
    g = torch.Generator().manual_seed(7)
    p = A.sample_augment_params(2, 64, 64, size=64, generator=g)
    x = images(1, 64, 64).expand(2, -1, -1, -1)
    out = A.apply_augment(x, p)
    assert not torch.allclose(out[0], out[1])  # different draws
    twice = A.apply_augment(torch.cat([x[:1], x[:1]]), p)
    torch.testing.assert_close(out, twice)


def test_gradients_reach_images():
    x = images(2, 32, 32).requires_grad_(True)
    p = A.sample_augment_params(2, 32, 32, size=32, generator=torch.Generator().manual_seed(0))
    A.apply_augment(x, p).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_resize_center_crop_is_identity_at_size_and_normalize():
    x = images(1, 32, 32)
    assert A.resize_center_crop(x, 32) is x
    assert A.resize_center_crop(images(1, 30, 60), 32).shape == (1, 3, 32, 32)
    n = A.normalize(torch.ones(1, 3, 2, 2))
    assert abs(n[0, 0, 0, 0].item() - (1 - 0.48145466) / 0.26862954) < 1e-6


def test_core_augment_does_not_import_torchvision():
    code = "import sys, vecrender.functional.augment; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
