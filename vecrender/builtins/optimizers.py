"""Built-in optimizers, registered through the same hooks as any plugin: ``adam``.

One ``torch.optim.Adam`` with a parameter group per optimised tensor name (points, widths,
stroke_colors, fill_colors) holding that tensor of every sketch, so each name has its own learning
rate, as in CLIPDraw / diffvg painterly (points 1.0, widths 0.1, colors 0.01).

Schedules (a factor applied to the base learning rates of the `schedule_params` groups):

* ``none``: constant.
* ``linear``: from 1 at step 0 to ``final_lr_factor`` at the last step (LIVE / SVGRender, 0.4).
* ``steps``: multiply by ``factors[i]`` from step ``int(milestones[i] * steps)`` on (CLIPDraw: points
  1.0 -> 0.4 at 50 % -> 0.1 at 75 %; factors are absolute, not cumulative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vecrender import hookimpl
from vecrender.components import Optimizer
from vecrender.config import option
from vecrender.errors import ConfigError
from vecrender.scene import OPTIMIZABLE, VectorScene

#: Tensors whose values live in [0, 1] (colours, and gradient stops' offsets and colours): clamped after each step.
COLOR_PARAMS = ("stroke_colors", "fill_colors", "gradient_stops")


@dataclass
class AdamConfig:
    params: list[str] = option(["points"], f"Scene tensors to optimise, among {', '.join(OPTIMIZABLE)}.")
    lr: float = option(1.0, "Learning rate of the points, in pixels.")
    width_lr: float = option(0.1, "Learning rate of the widths, in pixels.")
    color_lr: float = option(0.01, "Learning rate of stroke_colors, fill_colors and gradient_stops.")
    frame_lr: float = option(
        1e-4, "Learning rate of gradient_frames (maps from canvas pixels to a gradient's frame: their "
        "linear part is about 1 / the gradient's length in pixels).")
    width_range: list[float] = option(
        [0.0, 100.0], "Widths are clamped to [min, max] pixels after each step (when optimised).")
    betas: list[float] = option([0.9, 0.999], "Adam betas.")
    eps: float = option(1e-8, "Adam epsilon.")
    schedule: str = option("none", "Learning-rate schedule.", choices=("none", "linear", "steps"))
    final_lr_factor: float = option(0.4, "linear: the factor reached at the last step.")
    milestones: list[float] = option([0.5, 0.75], "steps: fractions of the run where a factor starts.")
    factors: list[float] = option([0.4, 0.1], "steps: the factor from each milestone on.")
    schedule_params: list[str] = option(
        ["points"], "Which tensors the schedule applies to (CLIPDraw anneals the points only).")


class Adam(Optimizer):
    """Adam with a learning rate per tensor kind, clamping of widths and colors, optional schedule."""

    name = "adam"
    Config = AdamConfig

    def __init__(self, config: AdamConfig | None = None, context=None) -> None:
        super().__init__(config, context)
        self._check()
        self.opt: torch.optim.Adam | None = None
        self._tensors: dict[str, list[torch.Tensor]] = {}

    def _check(self) -> None:
        c, where = self.config, "optimizer (adam)"
        for key in ("params", "schedule_params"):
            bad = [p for p in getattr(c, key) if p not in OPTIMIZABLE]
            if bad:
                raise ConfigError(f"{where}.{key}: unknown tensor(s) {', '.join(map(repr, bad))}; choose from "
                                  f"{', '.join(OPTIMIZABLE)}.")
        if not c.params:
            raise ConfigError(f"{where}.params: empty; optimise at least one of {', '.join(OPTIMIZABLE)}.")
        if len(c.width_range) != 2 or not 0 <= c.width_range[0] <= c.width_range[1]:
            raise ConfigError(f"{where}.width_range: expected [min, max] with 0 <= min <= max, got {c.width_range}.")
        if len(c.betas) != 2 or not all(0 <= b < 1 for b in c.betas):
            raise ConfigError(f"{where}.betas: expected two values in [0, 1), got {c.betas}.")
        if len(c.milestones) != len(c.factors):
            raise ConfigError(f"{where}: milestones ({len(c.milestones)}) and factors ({len(c.factors)}) must "
                              "have the same length.")
        if list(c.milestones) != sorted(c.milestones) or not all(0 <= m <= 1 for m in c.milestones):
            raise ConfigError(f"{where}.milestones: expected increasing fractions in [0, 1], got {c.milestones}.")

    def base_lr(self, name: str) -> float:
        if name == "points":
            return self.config.lr
        if name == "widths":
            return self.config.width_lr
        if name == "gradient_frames":
            return self.config.frame_lr
        return self.config.color_lr

    def setup(self, scenes: Sequence[VectorScene]) -> None:
        self._tensors = {}
        for name in self.config.params:
            tensors = [s.requires_grad_([name])[0] for s in scenes if getattr(s, name) is not None]
            if not tensors:
                raise ConfigError(f"optimizer (adam).params: {name!r} is optimised but no scene has {name} "
                                  "(initialise closed filled paths, or remove it from params).")
            self._tensors[name] = tensors
        groups = [{"params": ts, "lr": self.base_lr(n), "name": n} for n, ts in self._tensors.items()]
        self.opt = torch.optim.Adam(groups, betas=tuple(self.config.betas), eps=self.config.eps)

    def lr_factor(self, step: int) -> float:
        """The schedule factor at `step` (0-based) of a run of ``context.steps`` steps."""
        c, total = self.config, max(int(self.context.steps), 1)
        if c.schedule == "linear":
            return 1.0 + (c.final_lr_factor - 1.0) * min(step / max(total - 1, 1), 1.0)
        if c.schedule == "steps":
            factor = 1.0
            for milestone, value in zip(c.milestones, c.factors):
                if step >= int(milestone * total):
                    factor = value
            return factor
        return 1.0

    def _require_setup(self) -> torch.optim.Adam:
        if self.opt is None:
            raise RuntimeError("adam: call setup(scenes) before zero_grad/step/state_dict")
        return self.opt

    def zero_grad(self) -> None:
        self._require_setup().zero_grad(set_to_none=True)

    def step(self, step: int) -> None:
        opt = self._require_setup()
        factor = self.lr_factor(step)
        for group in opt.param_groups:
            scheduled = group["name"] in self.config.schedule_params
            group["lr"] = self.base_lr(group["name"]) * (factor if scheduled else 1.0)
        opt.step()
        self._clamp()

    @torch.no_grad()
    def _clamp(self) -> None:
        lo, hi = self.config.width_range
        for t in self._tensors.get("widths", []):
            t.clamp_(lo, hi)
        for name in COLOR_PARAMS:
            for t in self._tensors.get(name, []):
                t.clamp_(0.0, 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"adam": self._require_setup().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._require_setup().load_state_dict(state["adam"])


@hookimpl
def register_optimizers(register) -> None:
    register(Adam)
