"""CLIPasso's saliency-driven stroke placement.

1. ``vit_cls_attention``: CLS-to-patch attention of a CLIP ViT, averaged over every head of every
   block (no gradients, no text, no rollout: what the reference code computes), bicubic to the
   canvas, min-max normalised. For a CLIP ResNet, ``resnet_gradcam``: Grad-CAM of its last stage
   towards a text's embedding (the reference's RN branch).
2. ``xdog``: binarised XDoG edges of the CLIP-normalised target (1 on paper, 0 on edge lines).
3. ``sampling_distribution``: ``softmax(a / tau)`` over the pixels where ``a = attn * (1 - xdog)``
   is positive, 0 elsewhere.
4. ``sample_start_points``: pixels drawn without replacement with ``numpy.random.RandomState(seed)``.
5. Each stroke continues from its start point by a random walk of +-0.025 x canvas per axis.

Degenerate inputs (documented in the bundle README): when fewer pixels have positive probability
than strokes are needed, all of them are taken and the rest are drawn (without replacement) from
``softmax(attn / tau)`` over the remaining pixels with positive attention, then uniformly from the
remaining pixels. A constant attention map normalises to 0 (not NaN), which falls back to uniform.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vecrender.functional.augment import normalize
from vecrender.models.clip import clip_precision, image_size

#: Reference XDoG parameters (gamma, phi, eps, sigma, k).
XDOG_PARAMS = {"gamma": 0.98, "phi": 200.0, "eps": -0.1, "sigma": 0.8, "k": 10.0}


# -- attention ------------------------------------------------------------------------------------
def attention_probs(attn: nn.MultiheadAttention, x: Tensor) -> Tensor:
    """Post-softmax self-attention ``[B, heads, T, T]`` of `attn` on its input `x` (float32).

    Recomputed from the in-projection weights, because open_clip calls the module with
    ``need_weights=False``. `x` is ``[B, T, D]`` when ``attn.batch_first`` else ``[T, B, D]``.
    """
    if not attn.batch_first:
        x = x.transpose(0, 1)
    b, t, d = x.shape
    heads = attn.num_heads
    qkv = F.linear(x.float(), attn.in_proj_weight.float(),
                   None if attn.in_proj_bias is None else attn.in_proj_bias.float())
    q, k, _ = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    return torch.softmax(q @ k.transpose(-1, -2) / (d // heads) ** 0.5, dim=-1)


@contextmanager
def capture_attention(visual: nn.Module) -> Iterator[list[Tensor]]:
    """Collect each ViT block's attention probabilities during forwards inside the block."""
    captured: list[Tensor] = []
    handles = []
    for block in visual.transformer.resblocks:
        def hook(module: nn.Module, args: tuple) -> None:
            captured.append(attention_probs(module, args[0]))

        handles.append(block.attn.register_forward_pre_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def vit_cls_attention(model: nn.Module, image: Tensor, size: tuple[int, int]) -> Tensor:
    """Mean CLS-to-patch attention over heads and blocks, bicubic to `size`, min-max: ``[H, W]``.

    `image` is the target ``[1, 3, h, w]`` in [0, 1]; it is resized (bicubic) to the model's input
    size when needed (a no-op on the default 224 canvas) and CLIP-normalised.
    """
    visual, grid = model.visual, model.visual.grid_size
    x = _model_input(model, image)
    with capture_attention(visual) as probs, clip_precision(x.device):
        visual(x)
    per_layer = torch.stack([p.mean(dim=1)[0, 0, 1:] for p in probs])   # [blocks, patches]
    cls = per_layer.mean(dim=0).reshape(1, 1, grid[0], grid[1])
    up = F.interpolate(cls.float(), size=size, mode="bicubic", align_corners=False)[0, 0]
    return min_max(up)


def resnet_gradcam(model: nn.Module, image: Tensor, text: Tensor, size: tuple[int, int]) -> Tensor:
    """Grad-CAM of a CLIP ResNet's last stage towards a text, bicubic to `size`, min-max: ``[H, W]``.

    The reference's saliency for RN models: the gradient of ``<image embedding, text embedding>``
    (neither normalised) with respect to ``layer4``'s output, averaged over space, weighs that
    output's channels; the weighted sum, clamped at 0, is the map. `image` is the target
    ``[1, 3, h, w]`` in [0, 1] (see :func:`_model_input`); `text` is the tokenised text ``[1, context]``.
    """
    visual = model.visual
    x = _model_input(model, image)
    with torch.no_grad(), clip_precision(x.device):
        target = model.encode_text(text.to(x.device)).float()
        stage3 = visual.layer3(visual.layer2(visual.layer1(visual.stem(x.to(visual.conv1.weight.dtype)))))
    with torch.enable_grad(), clip_precision(x.device):
        stage4 = visual.layer4(stage3).detach().requires_grad_()
        embedding = visual.attnpool(stage4).float()
        (grad,) = torch.autograd.grad((embedding * target).sum(), stage4)
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    cam = (stage4.detach().float() * weights).sum(dim=1, keepdim=True).clamp_min(0)
    up = F.interpolate(cam, size=size, mode="bicubic", align_corners=False)[0, 0]
    return min_max(up)


def _model_input(model: nn.Module, image: Tensor) -> Tensor:
    """`image` ``[1, 3, h, w]`` in [0, 1], resized (bicubic) to the model's input size when needed
    (a no-op on the default 224 canvas), CLIP-normalised, on the model's device."""
    side = image_size(model)
    if tuple(image.shape[-2:]) != (side, side):
        image = F.interpolate(image, size=(side, side), mode="bicubic", align_corners=False)
    return normalize(image).to(next(model.visual.parameters()).device)


def min_max(x: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Rescale to [0, 1]; a constant map becomes all zeros (not NaN)."""
    lo, hi = x.min(), x.max()
    span = hi - lo
    if float(span) <= 0:
        return x * 0
    return (x - lo) / span


# -- edges ----------------------------------------------------------------------------------------
def xdog(image_hwc: np.ndarray, gamma: float = 0.98, phi: float = 200.0, eps: float = -0.1,
         sigma: float = 0.8, k: float = 10.0) -> np.ndarray:
    """Binarised XDoG of an RGB image ``[H, W, 3]`` (any range): 1 on paper, 0 on edges.

    gray = rgb2gray; D = G(sigma) - gamma G(k sigma); E = 1 if D < eps else 1 + tanh(phi D);
    min-max; ``E >= otsu(E)``. The Gaussians mirror the image at its borders (scipy's default, as
    the reference), in the image's precision.
    """
    from scipy.ndimage import gaussian_filter
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu

    gray = rgb2gray(image_hwc)
    diff = gaussian_filter(gray, sigma) - gamma * gaussian_filter(gray, sigma * k)
    edges = np.where(diff < eps, 1.0, 1.0 + np.tanh(phi * diff))
    edges = min_max(edges)
    if edges.max() <= edges.min():
        return np.ones_like(edges)  # a flat image has no edges
    return (edges >= threshold_otsu(edges)).astype(np.float64)


def clip_xdog(target: Tensor) -> np.ndarray:
    """XDoG of the CLIP-normalised target ``[1, 3, H, W]`` in float32 (as the reference does): ``[H, W]``."""
    normed = normalize(target.detach().float().cpu())[0].permute(1, 2, 0).numpy()
    return xdog(normed, **XDOG_PARAMS)


# -- sampling -------------------------------------------------------------------------------------
def softmax_positive(values: np.ndarray, tau: float) -> np.ndarray:
    """``exp(v / tau)`` normalised over the pixels with ``v > 0``; 0 elsewhere (all 0 if none)."""
    v = np.asarray(values, dtype=np.float64)
    positive = v > 0
    out = np.zeros_like(v)
    if positive.any():
        e = np.exp((v[positive] - v[positive].max()) / tau)  # shifted: same softmax, no overflow
        out[positive] = e / e.sum()
    return out


def sampling_distribution(attn: np.ndarray, edges: np.ndarray | None, tau: float = 0.3) -> np.ndarray:
    """The start-point distribution ``[H, W]``: softmax(tau) of ``attn * (1 - edges)`` over its positives."""
    combined = attn if edges is None else (1.0 - edges) * min_max(attn)
    return softmax_positive(combined, tau)


def sample_start_points(prob: np.ndarray, attn: np.ndarray, num: int, seed: int,
                        tau: float = 0.3) -> np.ndarray:
    """``[num, 2]`` integer pixel (x, y) start points, drawn without replacement.

    Draws from `prob` with ``RandomState(seed).choice`` (the reference's sampler); when `prob` has
    fewer than `num` positive pixels, see the module docstring for the fallback.
    """
    h, w = prob.shape
    if num > h * w:
        raise ValueError(f"cannot place {num} strokes on a {w}x{h} canvas (one start pixel each)")
    rng = np.random.RandomState(seed)
    flat = prob.reshape(-1)
    available = int((flat > 0).sum())
    if available >= num:
        chosen = rng.choice(flat.size, size=num, replace=False, p=flat)
    else:
        chosen = _fallback_choice(rng, flat, attn.reshape(-1), num, tau)
    rows, cols = np.divmod(chosen, w)
    return np.stack([cols, rows], axis=1)


def _fallback_choice(rng: np.random.RandomState, prob: np.ndarray, attn: np.ndarray, num: int,
                     tau: float) -> np.ndarray:
    taken = list(np.flatnonzero(prob > 0))
    if taken:
        taken = list(rng.choice(prob.size, size=len(taken), replace=False, p=prob))
    for weights in (softmax_positive(attn, tau), np.ones_like(prob)):
        need = num - len(taken)
        if need <= 0:
            break
        weights = weights.copy()
        weights[taken] = 0
        pool = int((weights > 0).sum())
        if pool == 0:
            continue
        weights /= weights.sum()
        taken += list(rng.choice(prob.size, size=min(need, pool), replace=False, p=weights))
    return np.asarray(taken[:num], dtype=np.int64)


# -- figure ---------------------------------------------------------------------------------------
def attention_figure(target: Tensor, starts: np.ndarray, attn: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Three panels ``[H', W', 3]`` uint8: input with start points, attention map, distribution."""
    from PIL import Image, ImageDraw

    image = (target[0].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    h, w = image.shape[:2]
    scale = max(1, 224 // max(h, w))
    panels = [Image.fromarray(image), _heat(attn), _heat(min_max(prob))]
    panels = [p.resize((w * scale, h * scale), Image.NEAREST) for p in panels]
    draw = ImageDraw.Draw(panels[0])
    r = max(2, scale + 1)
    for x, y in starts:
        cx, cy = (x + 0.5) * scale, (y + 0.5) * scale
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 40, 40), outline=(255, 255, 255))
    titles = ["input + start points", "attention map", "sampling distribution"]
    pad, top = 6, 16
    sheet = Image.new("RGB", (3 * w * scale + 4 * pad, h * scale + top + pad), "white")
    text = ImageDraw.Draw(sheet)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        x0 = pad + i * (w * scale + pad)
        sheet.paste(panel, (x0, top))
        text.text((x0, 2), title, fill=(0, 0, 0))
    return np.asarray(sheet)


def _heat(values: np.ndarray):
    """A dark-blue -> red -> yellow colour ramp of a map in [0, 1]."""
    from PIL import Image

    stops = np.array([[0, 0, 40], [90, 20, 130], [220, 60, 40], [255, 230, 60]], dtype=np.float64)
    v = np.clip(np.nan_to_num(values), 0, 1) * (len(stops) - 1)
    i = np.minimum(v.astype(int), len(stops) - 2)
    f = (v - i)[..., None]
    rgb = stops[i] * (1 - f) + stops[i + 1] * f
    return Image.fromarray(rgb.astype(np.uint8))
