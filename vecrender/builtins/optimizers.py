"""Built-in optimizers, registered through the same hooks as any plugin: ``adam``.

One ``torch.optim.Adam`` with a parameter group per optimised tensor name (points, widths,
stroke_colors, fill_colors) holding that tensor of every sketch, so each name has its own learning
rate, as in CLIPDraw / diffvg painterly (points 1.0, widths 0.1, colors 0.01).

Schedules (a factor applied to the base learning rates of the `schedule_params` groups):

* ``none``: constant.
* ``linear``: from 1 at step 0 to ``final_lr_factor`` at the last step (LIVE / SVGRender, 0.4).
* ``steps``: multiply by ``factors[i]`` from step ``int(milestones[i] * steps)`` on (CLIPDraw: points
  1.0 -> 0.4 at 50 % -> 0.1 at 75 %; factors are absolute, not cumulative).

Staged runs (recipe ``stages``): ``stage_state: restart`` sets one fresh Adam up for every path at
each stage start. ``stage_state: keep`` is LIVE's optimiser per stage: each stage's paths keep their
Adam moments and their own step count (bias correction) and schedule, which goes on through later
stages (``linear``: 1 -> f over a stage, f -> f^2 over the next, ..., LIVE's decay with f = 0.4;
``steps``: its last factor); new paths start fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vecrender import hookimpl
from vecrender.components import Optimizer, RunContext
from vecrender.config import check_interval, option
from vecrender.errors import ConfigError
from vecrender.functional.paths import derived_generator
from vecrender.recipe import sketch_seeds
from vecrender.scene import OPTIMIZABLE, VectorScene

#: Tensors whose values live in [0, 1] (colours, and gradient stops' offsets and colours): clamped after each step.
COLOR_PARAMS = ("stroke_colors", "fill_colors", "gradient_stops")


@dataclass
class AdamConfig:
    params: list[str] = option(["points"], "Scene tensors to optimise.", choices=OPTIMIZABLE)
    # Negative rates climb the loss; 0 keeps that kind as initialised (the points: moved by noise only).
    lr: float = option(1.0, "Learning rate of the points, in pixels.", min=0)
    width_lr: float = option(
        0.2, "Learning rate of the widths (full widths), in pixels: diffvg-based methods' 0.1 on their "
        "half-widths.", min=0)
    color_lr: float = option(0.01, "Learning rate of stroke_colors, fill_colors and gradient_stops.", min=0)
    frame_lr: float = option(
        1e-4, "Learning rate of gradient_frames (maps from canvas pixels to a gradient's frame: their "
        "linear part is about 1 / the gradient's length in pixels).", min=0)
    opacity_only: bool = option(
        False, "stroke_colors / fill_colors: optimise their alpha only; the RGB keeps its initial value "
        "(CLIPasso's force_sparse: black strokes whose opacity is learnt).")
    width_range: list[float] = option(
        [0.0, 100.0], "Widths are clamped to [min, max] pixels after each step (when optimised).", min=0)
    betas: list[float] = option([0.9, 0.999], "Adam betas, each in [0, 1).", min=0)
    eps: float = option(1e-8, "Adam epsilon.", above=0)
    schedule: str = option("none", "Learning-rate schedule.", choices=("none", "linear", "steps"))
    final_lr_factor: float = option(0.4, "linear: the factor reached at the last step.", min=0)
    milestones: list[float] = option([0.5, 0.75], "steps: increasing fractions of the run where a factor starts.",
                                     min=0, max=1)
    factors: list[float] = option([0.4, 0.1], "steps: the factor from each milestone on.", min=0)
    schedule_params: list[str] = option(
        ["points"], "Which tensors the schedule applies to (CLIPDraw anneals the points only).",
        choices=OPTIMIZABLE)
    noise: float = option(
        0.0, "After each step, move every point by Gaussian noise of this standard deviation, as a "
        "fraction of the canvas's shorter side (CLIPasso's 'noise' augmentation: 0.01); 0: off.", min=0)
    noise_probability: float = option(
        0.5, "The chance, per step and sketch, that the noise is added (CLIPasso: 1 - noise_thresh = 0.5).",
        min=0, max=1)
    stage_state: str = option(
        "restart", "At a stage start (recipe stages): restart: fresh Adam state and schedule for every "
        "path; keep: as LIVE, each stage's paths keep their moments, step count and schedule (which "
        "goes on decaying), new paths start fresh.", choices=("restart", "keep"))

    def __post_init__(self) -> None:
        if not self.params:
            raise ValueError(f"params: empty; optimise at least one of {', '.join(OPTIMIZABLE)}")
        check_interval("width_range", self.width_range)
        if len(self.betas) != 2 or not all(b < 1 for b in self.betas):
            raise ValueError(f"betas: expected two values in [0, 1), got {self.betas}")
        if len(self.milestones) != len(self.factors):
            raise ValueError(f"milestones ({len(self.milestones)}) and factors ({len(self.factors)}) must have "
                             f"the same length")
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones: expected increasing fractions in [0, 1], got {self.milestones}")


class Adam(Optimizer):
    """Adam with a learning rate per tensor kind, clamping of widths and colors, optional schedule."""

    name = "adam"
    Config = AdamConfig

    def __init__(self, config: AdamConfig | None = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self.opt: torch.optim.Adam | StagedAdam | None = None
        self._tensors: dict[str, list[torch.Tensor]] = {}
        self._noise_rngs: list[torch.Generator] = []  # one per sketch, made at setup

    def base_lr(self, name: str) -> float:
        if name == "points":
            return self.config.lr
        if name == "widths":
            return self.config.width_lr
        if name == "gradient_frames":
            return self.config.frame_lr
        return self.config.color_lr

    def setup(self, scenes: Sequence[VectorScene]) -> None:
        if len(self._noise_rngs) != len(scenes):  # (a staged run's later setups keep the streams)
            seeds = self.context.sketch_seeds
            if len(seeds) != len(scenes):  # outside a run: the sketch seeds a run would have
                seeds = sketch_seeds(self.context.seed, len(scenes))
            self._noise_rngs = [derived_generator(seed, "noise") for seed in seeds]
        self._tensors = {}
        for name in self.config.params:
            tensors = [s.requires_grad_([name])[0] for s in scenes if getattr(s, name) is not None]
            if not tensors:
                raise ConfigError(f"optimizer (adam).params: {name!r} is optimised but no scene has {name} "
                                  "(initialise closed filled paths, or remove it from params).")
            self._tensors[name] = tensors
        if self.config.stage_state == "keep":
            grown = self.opt if isinstance(self.opt, StagedAdam) else None
            self.opt = StagedAdam(self._tensors, tuple(self.config.betas), self.config.eps,
                                  max(int(self.context.steps), 1), grown)
            return
        groups = [{"params": ts, "lr": self.base_lr(n), "name": n} for n, ts in self._tensors.items()]
        self.opt = torch.optim.Adam(groups, betas=tuple(self.config.betas), eps=self.config.eps)

    def lr_factor(self, step: int) -> float:
        """The schedule factor at `step` (0-based) of a run of ``context.steps`` steps."""
        c, total = self.config, max(int(self.context.steps), 1)
        if c.schedule == "linear" and c.stage_state == "keep":  # LIVE's decay, going on past a stage
            return c.final_lr_factor ** (step // total) * (1.0 + (c.final_lr_factor - 1.0) * (step % total) / total)
        if c.schedule == "linear":
            return 1.0 + (c.final_lr_factor - 1.0) * min(step / max(total - 1, 1), 1.0)
        if c.schedule == "steps":
            factor = 1.0
            for milestone, value in zip(c.milestones, c.factors):
                if step >= int(milestone * total):
                    factor = value
            return factor
        return 1.0

    def _require_setup(self) -> torch.optim.Adam | StagedAdam:
        if self.opt is None:
            raise RuntimeError("adam: call setup(scenes) before zero_grad/step/state_dict")
        return self.opt

    def zero_grad(self) -> None:
        self._require_setup().zero_grad(set_to_none=True)

    def step(self, step: int) -> None:
        opt = self._require_setup()
        if self.config.opacity_only:
            self._freeze_rgb()
        if isinstance(opt, StagedAdam):
            opt.step(step, lambda name, ages: self.base_lr(name) * (
                ages.double().apply_(self.lr_factor) if name in self.config.schedule_params else 1.0))
        else:
            factor = self.lr_factor(step)
            for group in opt.param_groups:
                scheduled = group["name"] in self.config.schedule_params
                group["lr"] = self.base_lr(group["name"]) * (factor if scheduled else 1.0)
            opt.step()
        self._clamp()
        self._jitter()

    @torch.no_grad()
    def _jitter(self) -> None:
        """CLIPasso's "noise" augmentation: with probability `noise_probability` per sketch, every
        point moves by N(0, (noise x the canvas's shorter side)^2), drawn on the host (no device sync)."""
        c = self.config
        if c.noise <= 0:
            return
        scale = c.noise * min(self.context.width, self.context.height)
        for t, rng in zip(self._tensors.get("points", []), self._noise_rngs):  # each sketch its own draws
            if torch.rand((), generator=rng).item() < c.noise_probability:
                t.add_(torch.randn(t.shape, generator=rng, dtype=torch.float64).to(t) * scale)

    @torch.no_grad()
    def _freeze_rgb(self) -> None:
        """Zeroes the colours' RGB gradients: their Adam moments stay zero, so the RGB never moves."""
        for name in ("stroke_colors", "fill_colors"):
            for t in self._tensors.get(name, []):
                if t.grad is not None:
                    t.grad[..., :3] = 0

    @torch.no_grad()
    def _clamp(self) -> None:
        lo, hi = self.config.width_range
        for t in self._tensors.get("widths", []):
            t.clamp_(lo, hi)
        for name in COLOR_PARAMS:
            for t in self._tensors.get(name, []):
                t.clamp_(0.0, 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"adam": self._require_setup().state_dict(), "noise_rngs": [g.get_state() for g in self._noise_rngs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._require_setup().load_state_dict(state["adam"])
        # (older checkpoints hold one shared "noise_rng": its sketches' streams start afresh)
        for rng, saved in zip(self._noise_rngs, state.get("noise_rngs", ())):
            rng.set_state(saved)


class StagedAdam:
    """Adam whose paths (rows of the scene tensors) belong to the stages that added them, each
    stage's rows with their own step count and learning rate, as one torch Adam per stage (LIVE).
    Same update as ``torch.optim.Adam`` (no weight decay, no amsgrad).

    `tensors`: the optimised tensors by name (one per sketch, paths first); `stage_steps`: the
    steps of a stage; `grown`: the state of the previous stage, whose rows carry over to the
    first rows of the new tensors."""

    def __init__(self, tensors: dict[str, list[torch.Tensor]], betas: tuple[float, float], eps: float,
                 stage_steps: int, grown: StagedAdam | None = None) -> None:
        self.tensors, self.betas, self.eps, self.stage_steps = tensors, betas, eps, stage_steps
        self.stage = 0 if grown is None else grown.stage + 1
        self.state: dict[str, list[dict[str, torch.Tensor]]] = {}
        for name, ts in tensors.items():
            before = [] if grown is None else grown.state.get(name, [])
            self.state[name] = [self._grown(t, before[i] if i < len(before) else None) for i, t in enumerate(ts)]

    def _grown(self, t: torch.Tensor, old: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        state = {"exp_avg": torch.zeros_like(t), "exp_avg_sq": torch.zeros_like(t),
                 "stages": torch.full((t.shape[0],), self.stage, dtype=torch.long)}  # on the host: no sync
        if old is not None:
            for key, value in old.items():
                state[key][: value.shape[0]] = value
        return state

    def zero_grad(self, set_to_none: bool = True) -> None:
        for ts in self.tensors.values():
            for t in ts:
                t.grad = None

    @torch.no_grad()
    def step(self, step: int, lr: Callable[[str, torch.Tensor], torch.Tensor | float]) -> None:
        """One update at `step` (0-based) of the current stage; ``lr(name, ages)`` gives each
        row's learning rate from the steps its stage has taken before this one (``ages`` [N])."""
        beta1, beta2 = self.betas
        for name, ts in self.tensors.items():
            for t, state in zip(ts, self.state[name]):
                if t.grad is None:
                    continue
                ages = (self.stage - state["stages"]) * self.stage_steps + step
                rows = (-1,) + (1,) * (t.dim() - 1)
                count = _to_device((ages + 1).to(t.dtype), t).view(rows)
                rate = _to_device(torch.as_tensor(lr(name, ages), dtype=t.dtype), t)
                rate = rate.view(rows) if rate.dim() else rate
                state["exp_avg"].lerp_(t.grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(t.grad, t.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**count).sqrt()).add_(self.eps)
                t.sub_(rate / (1 - beta1**count) * state["exp_avg"] / denom)

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        for name, ts in self.tensors.items():
            self.state[name] = [{key: value if key == "stages" else value.to(t) for key, value in saved.items()}
                                for t, saved in zip(ts, state["state"][name])]


def _to_device(host: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`host` on `like`'s device; to a GPU through pinned memory, so the copy does not wait for
    the GPU's queued work (a plain copy from pageable memory synchronises the stream)."""
    if like.device.type != "cuda":
        return host.to(like.device)
    return host.pin_memory().to(like.device, non_blocking=True)


@hookimpl
def register_optimizers(register) -> None:
    register(Adam)
