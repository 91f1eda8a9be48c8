"""Built-in losses, registered through the same hooks as any plugin: pixel L2 and L1 to the target."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from vecrender import hookimpl
from vecrender.components import Loss, LossInput


def check_against_target(images: Tensor, target: Tensor | None, loss_name: str) -> Tensor:
    """Validate ``images [S, 3, H, W]`` against ``target [1, 3, H, W]``; returns the target.

    Raises ValueError naming the loss and both shapes, so a recipe mixing canvas sizes fails clearly.
    """
    if target is None:
        raise ValueError(f"loss {loss_name!r} compares renders with the input image, but the run has no "
                         "target: pass --input IMAGE.")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"loss {loss_name!r}: images must be [S, 3, H, W], got {list(images.shape)}.")
    if target.dim() != 4 or target.shape[0] != 1 or target.shape[1] != 3:
        raise ValueError(f"loss {loss_name!r}: target must be [1, 3, H, W], got {list(target.shape)}.")
    if images.shape[2:] != target.shape[2:]:
        raise ValueError(f"loss {loss_name!r}: renders are {images.shape[3]}x{images.shape[2]} but the target "
                         f"is {target.shape[3]}x{target.shape[2]} (width x height); they must match.")
    return target.to(device=images.device, dtype=images.dtype)


class L2Loss(Loss):
    """Mean squared error between each render and the target image (per sketch)."""

    name = "l2"
    needs_target: ClassVar[bool] = True

    def forward(self, batch: LossInput) -> Tensor:
        target = check_against_target(batch.images, batch.target, self.name)
        return (batch.images - target).pow(2).mean(dim=(1, 2, 3))


class L1Loss(Loss):
    """Mean absolute error between each render and the target image (per sketch)."""

    name = "l1"
    needs_target: ClassVar[bool] = True

    def forward(self, batch: LossInput) -> Tensor:
        target = check_against_target(batch.images, batch.target, self.name)
        return (batch.images - target).abs().mean(dim=(1, 2, 3))


@hookimpl
def register_losses(register) -> None:
    register(L2Loss)
    register(L1Loss)
