"""The ink-budget loss: a penalty on how much of the canvas the strokes darken."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

import vecrender

# Rec. 709 luma weights: how bright each RGB channel looks.
LUMA = (0.2126, 0.7152, 0.0722)


def ink_coverage(batch: vecrender.LossInput, measure: str) -> Tensor:
    """Per-sketch ink in [0, 1]: mean darkness of the composited image, or mean stroke opacity."""
    if measure == "alpha":
        return batch.rgba[:, 3].mean(dim=(1, 2))
    luma = torch.tensor(LUMA, device=batch.images.device, dtype=batch.images.dtype)
    brightness = torch.einsum("schw,c->shw", batch.images, luma)
    return (1.0 - brightness).clamp(min=0.0).mean(dim=(1, 2))


class InkBudget(vecrender.Loss):
    """Ink budget: penalises ink covering more than `budget` of the canvas (zero below it)."""

    name = "example.ink"

    @dataclass
    class Config:
        budget: float = vecrender.option(
            0.1, "Fraction of the canvas the strokes may darken for free (0 penalises any ink).")
        measure: str = vecrender.option(
            "darkness", "How ink is measured: `darkness` of the composited image (1 - luma) or "
            "`alpha`, the stroke opacity regardless of color.", choices=("darkness", "alpha"))
        power: float = vecrender.option(
            2.0, "Exponent on the excess ink; 2 is gentle near the budget, 1 a constant push.")

    def forward(self, batch: vecrender.LossInput) -> Tensor:
        excess = (ink_coverage(batch, self.config.measure) - self.config.budget).clamp(min=0.0)
        return excess.pow(self.config.power)
