"""Pure, differentiable loss functions with shape contracts (the components are thin wrappers).

Shapes used throughout:
    images  ``[S, 3, H, W]`` renders composited over the background, in [0, 1]
    target  ``[1, 3, H, W]`` or ``[S, 3, H, W]`` reference image in [0, 1] (broadcast over S)
    points  ``[N, P, 2]`` control points of N paths in canvas pixels, ``P = 1 + 3k``
    num_segments ``[N]`` long, closed ``[N]`` bool (see :class:`vecrender.VectorScene`)

Every image loss returns one value per sketch, ``[S]``; every geometry function returns one value
per path, ``[N]``. Bad shapes raise ``ValueError`` naming the argument. Third-party libraries
(pytorch-msssim, kornia, scipy) are imported inside the functions that use them, so importing
this module costs only torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from vecrender.functional.bezier import path_segments
from vecrender.scene import GRADIENT_FIELDS, VectorScene

#: Seed of the generators evaluation passes draw their random views and positions from, so an
#: eval loss is deterministic and comparable from one evaluation to the next.
EVAL_SEED = 0


def eval_generator() -> torch.Generator:
    """A fresh generator seeded with :data:`EVAL_SEED`, for an evaluation pass's random draws."""
    return torch.Generator().manual_seed(EVAL_SEED)


#: CLIPDraw's two negative prompts (used with weight 0.3 each).
CLIPDRAW_NEGATIVE_PROMPTS = ("A badly drawn sketch.", "Many ugly, messy drawings.")


# -- shape checks -------------------------------------------------------------------------------
def check_images(images: Tensor, name: str = "images", channels: int = 3) -> None:
    """Raise ValueError unless `images` is a floating ``[S, channels, H, W]`` tensor."""
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != channels:
        shape = list(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{name} must be [S, {channels}, H, W], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {images.dtype}")


def check_pair(images: Tensor, target: Tensor) -> Tensor:
    """Validate an (images, target) pair and return the target expanded to ``[S, 3, H, W]``."""
    check_images(images)
    check_images(target, "target")
    if target.shape[0] not in (1, images.shape[0]) or target.shape[2:] != images.shape[2:]:
        raise ValueError(
            f"target must be [1 or S, 3, H, W] matching images {list(images.shape)}, "
            f"got {list(target.shape)}"
        )
    return target.to(images.dtype).expand_as(images)


def check_points(points: Tensor, num_segments: Tensor, closed: Tensor) -> None:
    if points.dim() != 3 or points.shape[2] != 2 or (points.shape[1] - 1) % 3 or points.shape[1] < 4:
        raise ValueError(f"points must be [N, 1 + 3k, 2] with k >= 1, got {list(points.shape)}")
    n = points.shape[0]
    if tuple(num_segments.shape) != (n,) or tuple(closed.shape) != (n,):
        raise ValueError(
            f"num_segments and closed must be [{n}], got {list(num_segments.shape)} and {list(closed.shape)}"
        )


# -- CLIP guidance -----------------------------------------------------------------------------
def cosine_guidance(image_emb: Tensor, text_emb: Tensor, negative_emb: Tensor | None = None,
                    negative_weight: float = 0.3, reduction: str = "mean") -> Tensor:
    """CLIPDraw text guidance: ``1 - cos(text, view)`` (+ ``w * cos(negative, view)``) per view.

    Arguments:
        image_emb: ``[S, A, D]`` embeddings of A augmented views of each of S sketches.
        text_emb: ``[D]`` or ``[1, D]`` prompt embedding.
        negative_emb: ``[K, D]`` negative prompt embeddings, or None.
        negative_weight: weight of each negative prompt's cosine (CLIPDraw: 0.3).
        reduction: ``"sum"`` over views (CLIPDraw) or ``"mean"``.

    Returns:
        ``[S]``; with ``"mean"`` and no negatives the range is [0, 2].
    """
    if image_emb.dim() != 3:
        raise ValueError(f"image_emb must be [S, A, D], got {list(image_emb.shape)}")
    dim = image_emb.shape[-1]
    text = text_emb.reshape(-1, dim) if text_emb.numel() == dim else None
    if text is None:
        raise ValueError(f"text_emb must be [D] or [1, D] with D={dim}, got {list(text_emb.shape)}")
    per_view = 1.0 - F.cosine_similarity(image_emb, text.to(image_emb)[None], dim=-1)
    if negative_emb is not None and negative_emb.numel():
        if negative_emb.dim() != 2 or negative_emb.shape[1] != dim:
            raise ValueError(f"negative_emb must be [K, {dim}], got {list(negative_emb.shape)}")
        neg = F.cosine_similarity(image_emb[:, :, None], negative_emb.to(image_emb)[None, None], dim=-1)
        per_view = per_view + negative_weight * neg.sum(-1)
    return _reduce_views(per_view, reduction)


def embedding_distance(image_emb: Tensor, target_emb: Tensor, reduction: str = "mean") -> Tensor:
    """``1 - cos`` between paired embeddings of renders and target views.

    ``image_emb`` ``[S, A, D]``, ``target_emb`` ``[1 or S, A, D]`` (view a of the target pairs with
    view a of the render) -> ``[S]`` in [0, 2].
    """
    if image_emb.dim() != 3 or target_emb.dim() != 3 or target_emb.shape[1:] != image_emb.shape[1:] \
            or target_emb.shape[0] not in (1, image_emb.shape[0]):
        raise ValueError(
            f"expected image_emb [S, A, D] and target_emb [1 or S, A, D], got "
            f"{list(image_emb.shape)} and {list(target_emb.shape)}"
        )
    per_view = 1.0 - F.cosine_similarity(image_emb, target_emb.to(image_emb), dim=-1)
    return _reduce_views(per_view, reduction)


def _reduce_views(per_view: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return per_view.sum(dim=1)
    if reduction == "mean":
        return per_view.mean(dim=1)
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


# -- structural similarity (pytorch-msssim) ------------------------------------------------------
#: Scale weights of MS-SSIM (Wang et al. 2003), finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ssim_loss(images: Tensor, target: Tensor, win_size: int = 11, win_sigma: float = 1.5) -> Tensor:
    """``1 - SSIM`` per sketch (Gaussian window, data range 1) -> ``[S]`` in [0, 2].

    A window larger than the image is reduced to the largest odd size that fits.
    """
    from pytorch_msssim import ssim

    target = check_pair(images, target)
    side = min(images.shape[-2:])
    win_size = _check_window(min(win_size, side - 1 + side % 2), side)
    return 1.0 - ssim(images, target, data_range=1.0, size_average=False, win_size=win_size,
                      win_sigma=win_sigma)


def max_ms_ssim_window(height: int, width: int, limit: int = 11) -> int:
    """Largest odd window <= `limit` that pytorch-msssim accepts for an image of this size.

    MS-SSIM halves the image four times and needs ``min(H, W) > (win - 1) * 16``.
    """
    side = min(height, width)
    win = min(limit, (side - 1) // 16 + 1)
    win -= 1 - win % 2
    if win < 1:
        raise ValueError(f"images of {height}x{width} px are too small for MS-SSIM (need > 16 px)")
    return win


def ms_ssim_loss(images: Tensor, target: Tensor, win_size: int | None = None, win_sigma: float = 1.5,
                 weights: Sequence[float] = MS_SSIM_WEIGHTS) -> Tensor:
    """``1 - MS-SSIM`` per sketch -> ``[S]`` in [0, 1].

    ``win_size`` None picks the largest odd window up to 11 that fits (see
    :func:`max_ms_ssim_window`). Gradients are made finite where a scale's contrast-structure term
    is clipped to 0 (pytorch-msssim raises it to a fractional power, whose derivative at 0 is
    infinite); such a sketch's loss is 1 there and the other sketches are unaffected.
    """
    from pytorch_msssim import ms_ssim

    target = check_pair(images, target)
    limit = max_ms_ssim_window(*images.shape[-2:])
    win = limit if win_size is None else _check_window(win_size, limit, ms=True)
    if images.requires_grad:
        images = _finite_grad(images)
    return 1.0 - ms_ssim(images, target, data_range=1.0, size_average=False, win_size=win,
                         win_sigma=win_sigma, weights=list(weights))


def _finite_grad(x: Tensor) -> Tensor:
    """Identity whose backward replaces NaN/inf gradients by 0 (see :func:`ms_ssim_loss`)."""
    return _FiniteGrad.apply(x)


class _FiniteGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)


def _check_window(win_size: int, limit: int, ms: bool = False) -> int:
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd number, got {win_size}")
    if win_size > limit:
        what = "largest MS-SSIM window for this canvas" if ms else "smaller image side"
        raise ValueError(f"win_size {win_size} exceeds the {what} ({limit})")
    return win_size


# -- edges (kornia) ----------------------------------------------------------------------------
#: ImageNet normalisation of torchvision's classifiers (VGG16 input).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Indices of torchvision ``vgg16().features`` whose outputs DiffVG painterly's perceptual loss
#: compares: relu1_2, relu2_2, relu3_3, relu4_3 and conv5_3 (before its ReLU). Its loss splits the
#: stack before each ReLU, but torchvision's ReLUs work in place, so the first four features it
#: compares are the ReLUs' outputs.
PAINTERLY_VGG_TAPS = (3, 8, 15, 22, 28)


def vgg_features(features: torch.nn.Module, images: Tensor, taps: Sequence[int] = PAINTERLY_VGG_TAPS) -> list[Tensor]:
    """``images [B, 3, H, W]`` in [0, 1] -> the outputs of ``features`` (a VGG ``features``
    stack) at the module indices `taps`, on the ImageNet-normalised images."""
    check_images(images)
    return _taps(features, _imagenet_normalized(images), taps)


def _imagenet_normalized(images: Tensor) -> Tensor:
    mean, std = (images.new_tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (images - mean) / std


def _taps(features: torch.nn.Module, x: Tensor, taps: Sequence[int]) -> list[Tensor]:
    """The outputs of the ``features`` stack run on ``x`` at the module indices `taps`."""
    out = []
    for index, layer in enumerate(features[:max(taps) + 1]):
        x = layer(x)
        if index in taps:
            out.append(x)
    return out


def normalized_feature_distance(features: Sequence[Tensor], target: Sequence[Tensor], eps: float = 1e-10) -> Tensor:
    """Sum over layers of the spatial mean of the squared distance between unit-length (over the
    channels) feature vectors: ``[B, C_l, H_l, W_l]`` per layer (target batch 1 or B) -> ``[B]``.
    Each layer adds at most 4."""
    if len(features) != len(target) or not features:
        raise ValueError(f"features and target must list the same layers, got {len(features)} and {len(target)}")

    def unit(x: Tensor) -> Tensor:
        return x / (x.square().sum(dim=1, keepdim=True).sqrt() + eps)

    return sum((unit(f) - unit(t)).square().sum(dim=1).mean(dim=(1, 2)) for f, t in zip(features, target))


# -- STROTSS style loss (StyleCLIPDraw) ----------------------------------------------------------
#: Indices of torchvision ``vgg16().features`` whose outputs form STROTSS hypercolumns (every ReLU
#: of the first four blocks but relu4_1/4_2, and relu5_3), after the input image itself.
STROTSS_VGG_TAPS = (1, 3, 6, 8, 11, 13, 15, 22, 29)
#: StyleCLIPDraw samples render locations on a grid thinned to about this many positions.
STROTSS_GRID = 128 ** 2


def strotss_features(features: torch.nn.Module, images: Tensor, shift: bool = True) -> list[Tensor]:
    """``images [B, 3, H, W]`` in [0, 1] -> ``[input, relu1_1, ..., relu5_3]``: the ImageNet-normalised
    image and the outputs of ``features`` at :data:`STROTSS_VGG_TAPS` (2179 channels in all).
    ``shift`` maps the image to ``(x + 1) / 2`` first, as StyleCLIPDraw's extractor does (it
    expects [-1, 1] input but is given [0, 1] images, for the style image and the render alike)."""
    check_images(images)
    x = _imagenet_normalized((images + 1) / 2 if shift else images)
    return [x, *_taps(features, x, STROTSS_VGG_TAPS)]


def sample_hypercolumns(features: Sequence[Tensor], rows: Tensor, cols: Tensor, bilinear: bool) -> Tensor:
    """Hypercolumns at pixel positions ``rows``, ``cols`` (``[B, N]`` or ``[N]``, in pixels of the
    first layer): ``[B, sum C_l, N]``. Every layer smaller than the one before it halves the
    positions; ``bilinear`` interpolates there between the clamped neighbours (as STROTSS does for
    the render), otherwise the position is floored (nearest, as for the style image)."""
    batch = features[0].shape[0]
    rows, cols = (t.to(features[0].device, features[0].dtype).expand(batch, -1) for t in (rows, cols))
    out, scale = [], 1.0
    for i, layer in enumerate(features):
        if i > 0 and layer.shape[-2] < features[i - 1].shape[-2]:
            scale /= 2
        h, w = layer.shape[-2:]
        flat = layer.flatten(2)  # [B, C, h * w]

        def at(r: Tensor, c: Tensor) -> Tensor:
            index = (r.clamp(0, h - 1) * w + c.clamp(0, w - 1)).long()
            return flat.gather(2, index[:, None].expand(-1, flat.shape[1], -1))

        r, c = rows * scale, cols * scale
        r0, c0 = r.floor(), c.floor()
        if not bilinear:
            out.append(at(r0, c0))
            continue
        fr, fc = (r - r0)[:, None], (c - c0)[:, None]
        out.append(at(r0, c0) * (1 - fr) * (1 - fc) + at(r0, c0 + 1) * (1 - fr) * fc
                   + at(r0 + 1, c0) * fr * (1 - fc) + at(r0 + 1, c0 + 1) * fr * fc)
    return torch.cat(out, dim=1)


def strotss_grid(height: int, width: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """StyleCLIPDraw's sampling grid of a ``height x width`` render: every row, every column, thinned
    by strides that keep about :data:`STROTSS_GRID` positions, with random offsets."""
    thin = math.sqrt(height * width // STROTSS_GRID)
    stride_rows, stride_cols = max(math.floor(thin), 1), max(math.ceil(thin), 1)
    offsets = torch.randint(0, stride_rows * stride_cols, (1,), generator=generator).item()
    return (torch.arange(offsets % stride_rows, height, stride_rows),
            torch.arange(offsets // stride_rows, width, stride_cols))


def relaxed_emd(x: Tensor, y: Tensor, palette: bool = False) -> Tensor:
    """STROTSS's relaxed earth mover's distance between feature sets ``x [N, d]`` and ``y [M, d]``:
    the larger of the mean distance from each x to its nearest y and from each y to its nearest x.
    The distance is ``1 - cos``; with ``palette`` (d = 3, colours) both sets are rotated to YUV
    and the Euclidean distance over sqrt(3) is added."""
    if palette:
        yuv = x.new_tensor([[0.577350, 0.577350, 0.577350], [-0.577350, 0.788675, -0.211325],
                            [-0.577350, -0.211325, 0.788675]])
        x, y = x @ yuv.T, y @ yuv.T
    cost = 1 - (x @ y.T) / (x.norm(dim=1)[:, None] * y.norm(dim=1)[None]).clamp_min(1e-12)
    if palette:
        squared = x.square().sum(1)[:, None] + y.square().sum(1)[None] - 2 * x @ y.T
        cost = cost + (squared.clamp(1e-5, 1e5) / x.shape[1]).sqrt()
    return torch.maximum(cost.min(dim=1).values.mean(), cost.min(dim=0).values.mean())


def moment_distance(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute difference of the means plus that of the covariances of ``x [N, d]`` and ``y [M, d]``."""
    mean_x, mean_y = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cov_x = (x - mean_x).T @ (x - mean_x) / (x.shape[0] - 1)
    cov_y = (y - mean_y).T @ (y - mean_y) / (y.shape[0] - 1)
    return (mean_x - mean_y).abs().mean() + (cov_x - cov_y).abs().mean()


def strotss_style_loss(samples: Tensor, style: Tensor) -> Tensor:
    """StyleCLIPDraw's style loss (STROTSS without its content term): ``samples [S, d, N]``
    hypercolumns of the renders, ``style [d, M]`` of the style image, the first 3 channels being
    the (normalised) image -> ``[S]``: (relaxed EMD + moments + relaxed EMD of the colours) / 2."""
    if samples.dim() != 3 or style.dim() != 2 or samples.shape[1] != style.shape[0]:
        raise ValueError(f"samples must be [S, d, N] and style [d, M] with the same d, got "
                         f"{list(samples.shape)} and {list(style.shape)}")
    y = style.T.to(samples.dtype)
    values = []
    for x in samples.transpose(1, 2):  # [N, d] per sketch
        values.append((relaxed_emd(x, y) + moment_distance(x, y) + relaxed_emd(x[:, :3], y[:, :3], palette=True)) / 2)
    return torch.stack(values) if values else samples.new_zeros(0)


def edge_map(images: Tensor) -> Tensor:
    """Sobel gradient magnitude of the luminance: ``[S, 3, H, W]`` -> ``[S, 1, H, W]``."""
    from kornia.color import rgb_to_grayscale
    from kornia.filters import sobel

    check_images(images)
    return sobel(rgb_to_grayscale(images))


def edge_loss(images: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference of Sobel edge maps -> ``[S]``."""
    target = check_pair(images, target)
    return (edge_map(images) - edge_map(target)).abs().mean(dim=(1, 2, 3))


# -- LIVE's UDF-weighted L2 --------------------------------------------------------------------
def udf_weights(alpha: Tensor, max_distance: float = 10.0, threshold: float = 0.5) -> Tensor:
    """LIVE's unsigned-distance weight: 1 on shape contours, falling linearly to 0 at `max_distance`.

    ``alpha`` ``[S, H, W]`` coverage in [0, 1] -> ``[S, H, W]`` weights in [0, 1], no gradient.
    The contour is the ``alpha = threshold`` level set; a sketch without one (empty or full
    canvas) gets an all-zero map, as in LIVE. Distances come from scipy's exact Euclidean
    distance transform (half a pixel is subtracted so pixels on the contour get distance ~0).
    """
    from scipy.ndimage import distance_transform_edt

    if alpha.dim() != 3:
        raise ValueError(f"alpha must be [S, H, W], got {list(alpha.shape)}")
    if max_distance <= 0:
        raise ValueError(f"max_distance must be positive, got {max_distance}")
    inside = (alpha.detach() > threshold).cpu().numpy()
    out = torch.zeros(alpha.shape, dtype=alpha.dtype)
    for i, mask in enumerate(inside):
        if mask.all() or not mask.any():
            continue
        dist = torch.from_numpy(distance_transform_edt(mask) + distance_transform_edt(~mask))
        dist = (dist - 0.5).clamp(0.0, max_distance)
        lo, hi = dist.min(), dist.max()
        out[i] = ((hi - dist) / (hi - lo).clamp_min(1e-12)).to(alpha.dtype)
    return out.to(alpha.device)


def silhouettes(scene: VectorScene, first: int = 0) -> VectorScene:
    """The paths from index `first` on, painted opaque white, as LIVE's UDF renders the current
    stage's shapes: closed paths filled (whatever their fill's opacity has become), strokes where
    they are visible, no gradient paints. Their render's alpha is where the shapes are."""
    shapes = scene.paths(slice(first, None)).detach()
    white, none = torch.ones_like(shapes.stroke_colors), torch.zeros_like(shapes.stroke_colors)
    stroked = (shapes.stroke_colors[:, 3:] > 0) & (shapes.widths[:, None] > 0)
    filled = shapes.closed.to(white.device)[:, None]
    return replace(shapes, stroke_colors=torch.where(stroked, white, none),
                   fill_colors=torch.where(filled, white, none), **{name: None for name in GRADIENT_FIELDS})


def weighted_error(images: Tensor, target: Tensor, weight: Tensor, norm: str = "l2") -> Tensor:
    """``mean_pixels(weight * sum_channels(e))`` -> ``[S]`` (``weight`` ``[S, H, W]``), where the
    error ``e`` is ``(images - target)^2`` (``norm`` "l2") or ``|images - target|`` ("l1")."""
    target = check_pair(images, target)
    if weight.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"weight must be [S, H, W] = {[images.shape[0], *images.shape[2:]]}, "
                         f"got {list(weight.shape)}")
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    difference = images - target
    error = difference.pow(2) if norm == "l2" else difference.abs()
    return (weight.to(images) * error.sum(dim=1)).mean(dim=(1, 2))


# -- geometry ----------------------------------------------------------------------------------
def segment_controls(points: Tensor, num_segments: Tensor, closed: Tensor,
                     subpath_starts: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Control points of every cubic segment, each subpath of a closed path closing on its first
    point (as the renderers draw them: :func:`vecrender.functional.bezier.path_segments`).

    Returns ``controls [N, K, 4, 2]`` (K = max segments) and ``valid [N, K]`` bool; segments
    past ``num_segments`` are padding (``valid`` False).
    """
    check_points(points, num_segments, closed)
    device = points.device
    starts = None if subpath_starts is None else subpath_starts.to(device)[None]
    controls, valid = path_segments(points[None], closed.to(device)[None], num_segments.to(device)[None], starts)
    return controls[0], valid[0]


def path_lengths(points: Tensor, num_segments: Tensor, closed: Tensor, samples: int = 16,
                 subpath_starts: Tensor | None = None) -> Tensor:
    """Arc length of every path (polyline through `samples` points per segment) -> ``[N]`` px.

    Safe for coincident points: the norm uses ``sqrt(d^2 + 1e-12)``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    controls, valid = segment_controls(points, num_segments, closed, subpath_starts)
    t = torch.linspace(0.0, 1.0, samples + 1, dtype=points.dtype, device=points.device)
    basis = torch.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], dim=1)  # [T, 4]
    curve = torch.einsum("tj,nkjd->nktd", basis, controls)
    step = curve[:, :, 1:] - curve[:, :, :-1]
    lengths = (step.pow(2).sum(-1) + 1e-12).sqrt().sum(-1)  # [N, K]
    return (lengths * valid).sum(-1)


def xing_penalty(points: Tensor, num_segments: Tensor, closed: Tensor, eps: float = 1e-8,
                 penalise: Tensor | None = None, subpath_starts: Tensor | None = None) -> Tensor:
    """LIVE's self-intersection ("Xing") penalty per path -> ``[N]``.

    ``penalise`` ``[N]`` bool selects the paths (default: the closed ones, as LIVE); the others get 0.

    For each segment with controls P0..P3 and ``v1 = P1-P0, v2 = P2-P1, v3 = P3-P2``, let
    ``s(a, b)`` be the sine of the angle from a to b. Where ``s(v1, v2) >= 0`` the segment turns
    left and ``relu(-s(v1, v3))`` penalises v3 turning right (a loop), otherwise
    ``relu(s(v1, v3))``; averaged over the valid segments. The norms use ``sqrt(|a|^2 + eps)`` so
    coincident control points give 0, not NaN.
    """
    controls, valid = segment_controls(points, num_segments, closed, subpath_starts)
    v1, v2, v3 = (controls[:, :, i + 1] - controls[:, :, i] for i in range(3))

    def sine(a: Tensor, b: Tensor) -> Tensor:
        cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
        norms = ((a.pow(2).sum(-1) + eps) * (b.pow(2).sum(-1) + eps)).sqrt()
        return cross / norms

    left = (sine(v1, v2) >= 0).to(points.dtype).detach()
    s13 = sine(v1, v3)
    per_segment = left * F.relu(-s13) + (1 - left) * F.relu(s13)
    selected = closed if penalise is None else penalise
    if tuple(selected.shape) != tuple(closed.shape):
        raise ValueError(f"penalise must be [{closed.shape[0]}], got {list(selected.shape)}")
    valid = valid & selected.to(valid.device)[:, None]
    count = valid.sum(-1).clamp_min(1)
    return (per_segment * valid).sum(-1) / count


def sparsity(values: Tensor, power: float = 1.0, eps: float = 1e-8) -> Tensor:
    """Mean of ``(|v| + eps)^power`` over the last dimension (L1 for power 1, sparser for < 1).

    ``values`` ``[N]`` -> scalar tensor (0 for an empty tensor).
    """
    if values.dim() != 1:
        raise ValueError(f"values must be [N], got {list(values.shape)}")
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    if values.numel() == 0:
        return values.sum()
    return (values.abs() + eps).pow(power).mean()
