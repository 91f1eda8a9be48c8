"""CLIPasso's background masking (``mask_object``) as a preprocessor: U2Net foreground, white background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vecrender.components import Preprocessor
from vecrender.config import option
from vecrender.functional.augment import normalize


@torch.no_grad()
def u2net_mask(model: torch.nn.Module, image: Tensor, max_side: int = 320, threshold: float = 0.5) -> np.ndarray:
    """Binary foreground mask ``[h, w]`` (float64 0/1) of ``image [1, 3, h, w]`` in [0, 1].

    As the reference: short side resized (bicubic) to ``min(max_side, short side)``, CLIP
    normalisation, fused U2Net output min-max normalised and thresholded, resized back with
    ``skimage.transform.resize`` (order 1, no anti-aliasing) and thresholded again.
    """
    from skimage.transform import resize

    h, w = image.shape[-2:]
    short = min(max_side, h, w)
    if min(h, w) != short:
        scale = short / min(h, w)
        size = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
        x = F.interpolate(image.float(), size=size, mode="bicubic", align_corners=False, antialias=scale < 1)
        x = x.clamp(0, 1)
    else:
        x = image.float()
    device = next(model.parameters()).device
    pred = model(normalize(x).to(device))[0][0, 0].float().cpu().numpy().astype(np.float64)
    span = pred.max() - pred.min()
    pred = (pred - pred.min()) / span if span > 0 else np.zeros_like(pred)
    binary = (pred >= threshold).astype(np.float64)
    mask = resize(binary, (h, w), anti_aliasing=False)
    return (mask >= threshold).astype(np.float64)


def apply_mask(image: Tensor, mask: np.ndarray) -> Tensor:
    """Background (mask 0) -> white, as the reference: divide by max, mask, white, divide by max, uint8."""
    x = image[0].permute(1, 2, 0).detach().cpu().double().numpy()
    x = x / max(x.max(), 1e-12)
    m = mask[..., None]
    x = np.where(m == 0, 1.0, x * m)
    x = np.floor(x / x.max() * 255.0) / 255.0
    return torch.from_numpy(x).permute(2, 0, 1).unsqueeze(0).to(image)


@dataclass
class U2NetMaskConfig:
    weights: str | None = option(None, "Path to u2net.pth, or 'none' for random weights (tests); null "
                                       "looks at $VECRENDER_U2NET, ./checkpoint/u2net/u2net.pth, the cache, "
                                       "then downloads.")
    width: float = option(1.0, "Channel multiplier of the network (1 for the published weights).", above=0)
    max_side: int = option(320, "The short side is resized to at most this before U2Net.", min=1)
    threshold: float = option(0.5, "Foreground threshold on the min-max normalised U2Net output.", min=0, max=1)


class U2NetMask(Preprocessor):
    """Paints the background white using a U2Net foreground mask (CLIPasso's mask_object)."""

    name = "clipasso.u2net_mask"
    Config = U2NetMaskConfig

    def __call__(self, image: Tensor) -> Tensor:
        from vecrender_clipasso.u2net import load_u2net

        # Used once per run: loaded here and dropped afterwards rather than kept in the model cache.
        model = load_u2net(self.config.weights, self.config.width, self.context.device)
        mask = u2net_mask(model, image, self.config.max_side, self.config.threshold)
        del model
        path = self.context.artifact("mask.png")
        if path is not None:
            from vecrender.images import save_png

            save_png(path, mask.astype(np.float32))
        return apply_mask(image, mask)
