"""Built-in losses, registered through the same hooks as any plugin: pixel L2 and L1 to the target."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from vecrender import hookimpl
from vecrender.components import Loss, LossInput


class L2Loss(Loss):
    """Mean squared error between each render and the target image (per sketch)."""

    name = "l2"
    needs_target: ClassVar[bool] = True

    def forward(self, batch: LossInput) -> Tensor:
        target = batch.target_for(self.name)
        return (batch.images - target).pow(2).mean(dim=(1, 2, 3))


class L1Loss(Loss):
    """Mean absolute error between each render and the target image (per sketch)."""

    name = "l1"
    needs_target: ClassVar[bool] = True

    def forward(self, batch: LossInput) -> Tensor:
        target = batch.target_for(self.name)
        return (batch.images - target).abs().mean(dim=(1, 2, 3))


@hookimpl
def register_losses(register) -> None:
    register(L2Loss)
    register(L1Loss)
