"""Batched, differentiable image augmentations with per-image random parameters (pure torch).

The parameter distributions and the warp maths are those of torchvision's ``RandomPerspective``
and ``RandomResizedCrop`` (tensor backend, bilinear), so losses that were designed with them
behave the same, but every image of a batch gets its own parameters in one vectorised call and
the same parameters can be applied to several images (a sketch and its target)::

    # in a loss: 4 views per sketch, each sketch's drawn from its own generator
    params = sample_sketch_views(batch.sketch_generators(), 4, 224, 224)      # S * 4 parameter sets
    sketch_views = apply_augment(sketches.repeat_interleave(4, 0), params)   # [S*4, 3, 224, 224]
    target_views = apply_augment(target.expand(S * 4, -1, -1, -1), params)   # the same warps

Shapes: images ``[B, C, H, W]`` float; corner points ``[B, 4, 2]`` pixel (x, y) in the order
top-left, top-right, bottom-right, bottom-left; crop boxes ``[B, 4]`` (top, left, height, width).
Gradients flow to the images (not to the sampled parameters).

Differences from torchvision: none in the maths for upscaling crops (the CLIPasso and CLIPDraw
settings); torchvision's anti-aliasing when a crop is *downscaled* is not applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

#: CLIP's image normalisation (the OpenAI models and most open_clip models).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# -- random perspective ------------------------------------------------------------------------
def perspective_params(num: int, height: int, width: int, distortion_scale: float = 0.5,
                       generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random corner displacements like ``RandomPerspective.get_params``, for `num` images.

    Returns ``(startpoints, endpoints)``, each ``[num, 4, 2]`` float64 pixel coordinates. Each
    corner moves inward by an integer drawn uniformly from ``[0, int(distortion_scale * half)]``.
    """
    dx = int(distortion_scale * (width // 2))
    dy = int(distortion_scale * (height // 2))
    # torch.randint(low, high) draws integers in [low, high): same ranges as torchvision.
    lo_x = _randint(0, dx + 1, (num, 2), generator)                      # top-left, bottom-left x
    hi_x = _randint(width - dx - 1, width, (num, 2), generator)          # top-right, bottom-right x
    lo_y = _randint(0, dy + 1, (num, 2), generator)                      # top-left, top-right y
    hi_y = _randint(height - dy - 1, height, (num, 2), generator)        # bottom-right, bottom-left y
    end = torch.stack([
        torch.stack([lo_x[:, 0], lo_y[:, 0]], -1),
        torch.stack([hi_x[:, 0], lo_y[:, 1]], -1),
        torch.stack([hi_x[:, 1], hi_y[:, 0]], -1),
        torch.stack([lo_x[:, 1], hi_y[:, 1]], -1),
    ], dim=1).double()
    start = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                         dtype=torch.float64).expand(num, 4, 2).clone()
    return start, end


def perspective_coeffs(startpoints: Tensor, endpoints: Tensor) -> Tensor:
    """``[B, 8]`` homography coefficients mapping output pixels (endpoints) to input pixels.

    (x, y) -> ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1)), solved in
    float64 by least squares exactly as torchvision's ``_get_perspective_coeffs``.
    """
    p1 = endpoints.double()
    p2 = startpoints.double()
    b = p1.shape[0]
    x, y = p1[..., 0], p1[..., 1]
    u, v = p2[..., 0], p2[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)    # [B, 4, 8]
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    a = torch.stack([rows_u, rows_v], dim=2).reshape(b, 8, 8)
    rhs = p2.reshape(b, 8, 1)
    return torch.linalg.lstsq(a, rhs).solution.squeeze(-1)


def perspective_grid(coeffs: Tensor, height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[B, H, W, 2]`` sampling grid (grid_sample, align_corners=False) of each homography."""
    c = coeffs.to(dtype)
    device = c.device
    xs = torch.arange(width, dtype=dtype, device=device) + 0.5
    ys = torch.arange(height, dtype=dtype, device=device) + 0.5
    y, x = torch.meshgrid(ys, xs, indexing="ij")                                  # [H, W]
    x, y = x[None], y[None]
    k = [c[:, i, None, None] for i in range(8)]
    denom = k[6] * x + k[7] * y + 1.0
    gx = (k[0] * x + k[1] * y + k[2]) / denom
    gy = (k[3] * x + k[4] * y + k[5]) / denom
    return torch.stack([gx / (0.5 * width) - 1.0, gy / (0.5 * height) - 1.0], dim=-1)


def perspective(images: Tensor, startpoints: Tensor, endpoints: Tensor, fill: float | None = 0.0,
                mode: str = "bilinear") -> Tensor:
    """Warp each image of ``[B, C, H, W]`` by its own corners (torchvision ``perspective`` maths).

    `fill` colours the area outside the source image (None: zeros without the coverage blend).
    """
    b, _, h, w = images.shape
    grid = perspective_grid(perspective_coeffs(startpoints, endpoints).to(images.device), h, w,
                            dtype=images.dtype if images.is_floating_point() else torch.float32)
    return grid_transform(images, grid, fill, mode)


def grid_transform(images: Tensor, grid: Tensor, fill: float | None, mode: str = "bilinear") -> Tensor:
    """grid_sample with torchvision's fill rule: a coverage channel blends in the fill colour."""
    if fill is None:
        return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(images[:, :1])
    out = F.grid_sample(torch.cat([images, ones], 1), grid, mode=mode, padding_mode="zeros",
                        align_corners=False)
    img, mask = out[:, :-1], out[:, -1:]
    if mode == "nearest":
        return torch.where(mask < 0.5, torch.full_like(img, fill), img)
    return img * mask + (1.0 - mask) * fill


# -- random resized crop -----------------------------------------------------------------------
def resized_crop_params(num: int, height: int, width: int, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), generator: torch.Generator | None = None,
                        attempts: int = 10) -> Tensor:
    """Crop boxes like ``RandomResizedCrop.get_params``: ``[num, 4]`` long (top, left, h, w).

    Up to `attempts` (area, aspect) draws per image, the first one that fits is used; images with
    none fall back to torchvision's central crop.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    target_area = area * _uniform(scale[0], scale[1], (num, attempts), generator)
    aspect = torch.exp(_uniform(log_lo, log_hi, (num, attempts), generator))
    w = torch.round(torch.sqrt(target_area * aspect)).long()
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(num, dtype=torch.long))
    rows = torch.arange(num)
    w, h, found = w[rows, first], h[rows, first], ok.any(1)
    fb_h, fb_w = _central_fallback(height, width, ratio)
    h = torch.where(found, h, torch.full_like(h, fb_h))
    w = torch.where(found, w, torch.full_like(w, fb_w))
    u = torch.rand(num, 2, generator=generator, dtype=torch.float64)
    top = torch.where(found, (u[:, 0] * (height - h + 1)).floor().long(), (height - h) // 2)
    left = torch.where(found, (u[:, 1] * (width - w + 1)).floor().long(), (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def _central_fallback(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    in_ratio = width / height
    if in_ratio < min(ratio):
        return int(round(width / min(ratio))), width
    if in_ratio > max(ratio):
        return height, int(round(height * max(ratio)))
    return height, width


def resized_crop(images: Tensor, boxes: Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> Tensor:
    """Crop each image to its box and resize to `size` (torchvision resized_crop, no antialias).

    Sampling positions are those of ``F.interpolate(align_corners=False)`` on the crop, clamped to
    the crop, so the result equals crop-then-resize.
    """
    oh, ow = (size, size) if isinstance(size, int) else size
    b, _, h, w = images.shape
    dtype = images.dtype if images.is_floating_point() else torch.float32
    boxes = boxes.to(images.device, dtype)
    top, left, bh, bw = (boxes[:, i, None] for i in range(4))
    oy = torch.arange(oh, dtype=dtype, device=images.device)[None] + 0.5
    ox = torch.arange(ow, dtype=dtype, device=images.device)[None] + 0.5
    sy = (oy * bh / oh - 0.5).clamp(min=0).minimum(bh - 1) + top        # [B, oh] source rows
    sx = (ox * bw / ow - 0.5).clamp(min=0).minimum(bw - 1) + left       # [B, ow]
    gy = (2 * sy + 1) / h - 1
    gx = (2 * sx + 1) / w - 1
    grid = torch.stack([gx[:, None, :].expand(b, oh, ow), gy[:, :, None].expand(b, oh, ow)], dim=-1)
    return F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=False)


# -- CLIP-style pair augmentation --------------------------------------------------------------
@dataclass
class AugmentParams:
    """Parameters of a perspective + resized-crop augmentation for B images."""

    startpoints: Tensor  # [B, 4, 2]
    endpoints: Tensor    # [B, 4, 2]
    boxes: Tensor        # [B, 4] (top, left, h, w)
    fill: float
    size: tuple[int, int]

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def tiled(self, times: int) -> AugmentParams:
        """These B augmentations repeated ``times`` times: ``[times * B]``, the whole run of B again
        and again (the same views for each of several images)."""
        return AugmentParams(self.startpoints.repeat(times, 1, 1), self.endpoints.repeat(times, 1, 1),
                             self.boxes.repeat(times, 1), self.fill, self.size)

    @staticmethod
    def cat(parts: Sequence[AugmentParams]) -> AugmentParams:
        """The parameter sets of `parts` (same fill and size), one after another."""
        return AugmentParams(torch.cat([p.startpoints for p in parts]), torch.cat([p.endpoints for p in parts]),
                             torch.cat([p.boxes for p in parts]), parts[0].fill, parts[0].size)


def sample_augment_params(num: int, height: int, width: int, *, distortion_scale: float = 0.5,
                          crop_scale: tuple[float, float] = (0.8, 0.8), crop_ratio: tuple[float, float] = (1.0, 1.0),
                          fill: float = 0.0, size: int | tuple[int, int] = 224,
                          generator: torch.Generator | None = None) -> AugmentParams:
    """Draw `num` independent parameter sets (CLIPasso defaults; CLIPDraw: fill=1, scale (0.7, 0.9)).

    The crop box is drawn on the canvas size, as torchvision does (perspective keeps the size).
    """
    start, end = perspective_params(num, height, width, distortion_scale, generator)
    boxes = resized_crop_params(num, height, width, crop_scale, crop_ratio, generator)
    out = (size, size) if isinstance(size, int) else tuple(size)
    return AugmentParams(start, end, boxes, fill, out)


def sample_sketch_views(generators: Sequence[torch.Generator | None], views: int, height: int, width: int,
                        **options: Any) -> AugmentParams:
    """`views` parameter sets for each sketch, sketch-major, each sketch's drawn from its own
    generator (`LossInput.sketch_generators`): ``[len(generators) * views]``. `options` are
    :func:`sample_augment_params`'s."""
    return AugmentParams.cat([sample_augment_params(views, height, width, generator=g, **options)
                              for g in generators])


def apply_augment(images: Tensor, params: AugmentParams) -> Tensor:
    """Random perspective (fill, bilinear) then resized crop (bilinear) with given parameters.

    ``images[i]`` gets ``params[i]``; call it on a sketch batch and on a target batch with the same
    params to augment pairs identically.
    """
    if images.shape[0] != len(params):
        raise ValueError(f"{images.shape[0]} images but {len(params)} parameter sets")
    warped = perspective(images, params.startpoints, params.endpoints, fill=params.fill)
    return resized_crop(warped, params.boxes, params.size)


def normalize(images: Tensor, mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD) -> Tensor:
    """(images - mean) / std per channel; defaults are CLIP's."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - m) / s


def resize_center_crop(images: Tensor, size: int) -> Tensor:
    """CLIP's deterministic preprocessing: bicubic resize of the short side to `size`, centre crop.

    The identity when the images are already ``size x size``.
    """
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = F.interpolate(images, size=(nh, nw), mode="bicubic", align_corners=False, antialias=scale < 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    return out[..., top:top + size, left:left + size]


# -- helpers -----------------------------------------------------------------------------------
def _randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.randint(low, high, shape, generator=generator)


def _uniform(lo: float, hi: float, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64) * (hi - lo) + lo
