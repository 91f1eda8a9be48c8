"""Built-in preprocessors, registered through the same hooks as any plugin."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vecrender import hookimpl
from vecrender.components import Preprocessor
from vecrender.config import option
from vecrender.errors import ConfigError


@dataclass
class PadSquareConfig:
    margin: int = option(20, "Extra pixels added to the longer side (CLIPasso's fix_scale uses 20).", min=0)
    color: list[float] = option([1.0, 1.0, 1.0], "RGB of the padding, in [0, 1] (white by default).",
                                min=0, max=1)

    def __post_init__(self) -> None:
        if len(self.color) != 3:
            raise ValueError(f"color: expected 3 values in [0, 1] (RGB), got {self.color}")


class PadSquare(Preprocessor):
    """Centers the image on a square of side max(h, w) + margin, so resizing keeps its aspect."""

    name = "pad_square"
    Config = PadSquareConfig

    def __call__(self, image: Tensor) -> Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"pad_square expects an image [1, 3, h, w], got {list(image.shape)}")
        h, w = image.shape[2], image.shape[3]
        side = max(h, w) + self.config.margin
        from vecrender.images import check_pixels  # before the allocation: a huge margin is a kill

        check_pixels(side, side, f"preprocess pad_square: the padded image (margin {self.config.margin})",
                     "lower the margin, or if this machine has the memory", ConfigError)
        top, left = side // 2 - h // 2, side // 2 - w // 2
        color = torch.tensor(self.config.color, dtype=image.dtype, device=image.device)
        out = color.view(1, 3, 1, 1).expand(image.shape[0], 3, side, side).clone()
        out[:, :, top:top + h, left:left + w] = image
        return out


@dataclass
class FitConfig:
    size: int = option(512, "Longest side in pixels the image may keep; a larger one is scaled down to it.", min=1)


class Fit(Preprocessor):
    """Scales the image down (never up), keeping its aspect, until its longer side is at most
    ``size``: with ``canvas: input``, a bound on the canvas a large photo gets."""

    name = "fit"
    Config = FitConfig

    def __call__(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        scale = self.config.size / max(h, w)
        if scale >= 1:
            return image
        size = (max(round(h * scale), 1), max(round(w * scale), 1))
        return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


@hookimpl
def register_preprocessors(register) -> None:
    register(PadSquare)
    register(Fit)
