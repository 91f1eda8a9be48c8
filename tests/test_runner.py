"""End-to-end tests of the runner with tiny test components on a 24 px canvas (CPU, a few steps)."""

from __future__ import annotations

import dataclasses
import json
import re
import os
import signal
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import vecrender
from vecrender import Initializer, Loss, Method, Optimizer, Preprocessor, Renderer, VectorScene, option
from vecrender.errors import (
    ConfigError,
    InputImageError,
    NonFiniteLossError,
    OutputError,
    RunInterrupted,
    VecrenderError,
    VecrenderWarning,
)
from vecrender.plugins import PluginHost, use_host
from vecrender.recipe import LossTerm, load_recipe
from vecrender.runner import RunOptions, composite, compute_terms, run, unique_dir
from vecrender.scene import concat_scenes


# -- test components ------------------------------------------------------------------------------
class Dots(Renderer):
    """Soft gaussian dots at every control point (a tiny differentiable test renderer)."""

    name = "toy.dots"

    @dataclass
    class Config:
        sigma: float = option(1.5, "Dot radius in pixels.")
        nan_after: int = option(-1, "Renders after which one pixel is NaN (a renderer limit; -1: never).")

    def render(self, scenes):
        self.renders = getattr(self, "renders", 0) + 1
        out = []
        for s in scenes:
            ys = torch.arange(s.height, dtype=torch.float32, device=s.device) + 0.5
            xs = torch.arange(s.width, dtype=torch.float32, device=s.device) + 0.5
            pts = s.points.reshape(-1, 2)
            color = s.stroke_colors.repeat_interleave(s.points.shape[1], 0)
            d2 = (xs[None, None, :] - pts[:, 0, None, None]) ** 2 + (ys[None, :, None] - pts[:, 1, None, None]) ** 2
            cover = color[:, 3, None, None] * torch.exp(-d2 / (2 * self.config.sigma ** 2))
            alpha = 1 - torch.prod(1 - cover, dim=0)
            rgb = (cover[:, None] * color[:, :3, None, None]).sum(0) / cover.sum(0).clamp_min(1e-8) * alpha
            out.append(torch.cat([rgb, alpha[None]]))
        out = torch.stack(out)
        if 0 <= self.config.nan_after < self.renders:
            out = out.clone()
            out[:, :, 0, 0] = float("nan")
        return out


class Init(Initializer):
    """Random points and colors from the seed."""

    name = "toy.init"

    @dataclass
    class Config:
        segments: int = option(1, "Segments per path.")

    def initialize(self, num_paths, seed, target):
        g = torch.Generator().manual_seed(seed)
        w, h = self.context.width, self.context.height
        points = torch.rand(num_paths, 1 + 3 * self.config.segments, 2, generator=g) * torch.tensor([w, h])
        colors = torch.cat([torch.rand(num_paths, 3, generator=g), torch.ones(num_paths, 1)], dim=1)
        return VectorScene(points, torch.full((num_paths,), 2.0), colors, w, h)

    def add_paths(self, scene, num_new, seed, target, current):
        # Init.added is reset by the host fixture
        Init.added.append((scene.num_paths, num_new, seed, tuple(current.shape)))
        new = self.initialize(num_new, seed, target).to(scene.device)
        return concat_scenes([scene, new])


class Torus(Initializer):
    """Like toy.init, but draws from the global torch RNG (the run seeds it)."""

    name = "toy.global"

    def initialize(self, num_paths, seed, target):
        w, h = self.context.width, self.context.height
        points = torch.rand(num_paths, 4, 2) * torch.tensor([w, h])
        return VectorScene(points, torch.full((num_paths,), 2.0), torch.rand(num_paths, 4), w, h)


class L2(Loss):
    """Mean squared error against the target."""

    name = "toy.l2"
    needs_target = True

    @dataclass
    class Config:
        scale: float = option(1.0, "Multiplier.")
        train_sign: float = option(1.0, "Extra factor of the training pass (-1: make things worse).")

    def forward(self, batch):
        sign = self.config.train_sign if batch.training else 1.0
        return ((batch.images - batch.target) ** 2).mean(dim=(1, 2, 3)) * self.config.scale * sign


class Noisy(Loss):
    """Two terms; the training pass adds noise from each sketch's generator (like augmentations)."""

    name = "toy.noisy"
    needs_target = True

    def forward(self, batch):
        diff = batch.images - batch.target
        if batch.training:
            noise = [torch.randn(diff.shape[1:], generator=g) for g in batch.sketch_generators()]
            diff = diff + 0.05 * torch.stack(noise).to(diff)
        return {"abs": diff.abs().mean(dim=(1, 2, 3)), "sq": (diff ** 2).mean(dim=(1, 2, 3))}


class Ink(Loss):
    """Amount of ink (needs no target)."""

    name = "toy.ink"

    def forward(self, batch):
        return batch.rgba[:, 3].mean(dim=(1, 2))


class Memory(Loss):
    """Ink times the number of training passes seen (state that ``--resume`` must restore);
    records (step, stage_start) of each training pass."""

    name = "toy.memory"
    seen: list[tuple[int, int]] = []

    def __init__(self, config=None, context=None) -> None:
        super().__init__(config, context)
        self.passes = 0

    def forward(self, batch):
        if batch.training:
            self.passes += 1
            Memory.seen.append((batch.step, batch.stage_start))
        return batch.rgba[:, 3].mean(dim=(1, 2)) * 0.05 * self.passes

    def state_dict(self):
        return {"passes": self.passes}

    def load_state_dict(self, state):
        self.passes = state["passes"]


class Bomb(Loss):
    """Zero, except at training step `at`: NaN (value or gradient), a wrong shape, a RuntimeError,
    or (once per test) a KeyboardInterrupt in the loss or, after the step's evaluation, in its
    backward, or a SIGTERM / SIGHUP sent to this process."""

    name = "toy.bomb"
    fired = False

    @dataclass
    class Config:
        at: int = option(3, "Step that fails.")
        kind: str = option("nan", "What happens.",
                           choices=("nan", "nan_grad", "interrupt", "interrupt_backward", "shape", "error",
                                    "sigterm", "sighup", "detached"))

    def forward(self, batch):
        zero = batch.images.mean(dim=(1, 2, 3)) * 0
        if self.config.kind == "detached":  # at every step
            return zero.detach()
        if batch.training and batch.step == self.config.at:
            if self.config.kind == "nan":
                return zero + float("nan")
            if self.config.kind == "shape":
                return zero[None]
            if self.config.kind == "error":
                raise RuntimeError("a bug in a loss")
            if self.config.kind in ("sigterm", "sighup") and not Bomb.fired:
                Bomb.fired = True
                signal.raise_signal(getattr(signal, self.config.kind.upper()))
            if self.config.kind == "nan_grad":  # value 0, gradient NaN: the strokes diverge
                return (batch.images - batch.images.detach()).abs().sum(dim=(1, 2, 3)).sqrt()
            if self.config.kind == "interrupt_backward":
                zero.register_hook(Bomb.interrupt)
            else:
                Bomb.interrupt()
        return zero

    @staticmethod
    def interrupt(*_):
        if not Bomb.fired:
            Bomb.fired = True
            raise KeyboardInterrupt


class Plateau(Loss):
    """Training: the amount of ink (the strokes move). Evaluation: ``1 - 0.1 * step`` down to a
    floor per sketch (``floors[i]``), then flat: a schedule that early stopping can be checked on."""

    name = "toy.plateau"

    @dataclass
    class Config:
        floors: list[float] = option([0.5], "Each sketch's last value.")

    def forward(self, batch):
        ink = batch.rgba[:, 3].mean(dim=(1, 2))
        if batch.training:
            return ink
        floors = torch.tensor(self.config.floors)[list(batch.sketches or range(len(self.config.floors)))]
        return torch.clamp(1.0 - 0.1 * torch.full_like(floors, batch.step), min=floors) + 0 * ink


class Weightless(Loss):
    """Needs a weight file that is missing (fails while the run prepares)."""

    name = "toy.weightless"

    def prepare(self, target):
        raise vecrender.WeightsNotFoundError("toy weights are missing")

    def forward(self, batch):
        raise AssertionError("never reached: prepare fails")


class Adam(Optimizer):
    """torch Adam on the points."""

    name = "toy.adam"

    @dataclass
    class Config:
        lr: float = option(0.5, "Learning rate.")
        diverge_at: int = option(-1, "Step whose update makes the points infinite (-1: none).")

    def setup(self, scenes):
        self.points = [t for s in scenes for t in s.requires_grad_(["points"])]
        self.opt = torch.optim.Adam(self.points, lr=self.config.lr)

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self, step):
        self.opt.step()
        if step == self.config.diverge_at:
            with torch.no_grad():
                for t in self.points:
                    t.fill_(float("inf"))

    def state_dict(self):
        return self.opt.state_dict()

    def load_state_dict(self, state):
        self.opt.load_state_dict(state)


class Flip(Preprocessor):
    """Mirror left-right."""

    name = "toy.flip"

    def __call__(self, image):
        return image.flip(-1)


@vecrender.hookimpl
def register_renderers(register):
    register(Dots)


@vecrender.hookimpl
def register_initializers(register):
    register(Init)
    register(Torus)


@vecrender.hookimpl
def register_losses(register):
    for cls in (L2, Noisy, Ink, Memory, Bomb, Plateau, Weightless):
        register(cls)


@vecrender.hookimpl
def register_optimizers(register):
    register(Adam)


@vecrender.hookimpl
def register_preprocessors(register):
    register(Flip)


BASE = {
    "canvas": 24, "steps": 6, "strokes": 3, "eval_every": 2, "log_every": 2, "save_every": 3, "device": "cpu",
    "renderer": {"use": "toy.dots"}, "initializer": {"use": "toy.init"},
    "losses": [{"use": "toy.l2"}], "optimizer": {"use": "toy.adam", "lr": 0.5},
}


@vecrender.hookimpl
def register_methods(register):
    register(Method("toy.free", "Draws without an input.", {**BASE, "losses": [{"use": "toy.ink"}]},
                    needs_input=False))


@pytest.fixture
def host():
    h = PluginHost(strict=True)
    h.add(sys.modules[__name__], "toy", distribution="toy-plugin", version="1.0")
    Bomb.fired = False
    Init.added = []
    Memory.seen = []
    with use_host(h):
        yield h


def write_recipe(tmp_path: Path, name: str = "toy", **changes) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


def go(host, recipe_path, input_png, out, overrides=(), **opts):
    recipe = load_recipe(recipe_path, overrides, registry=host.registry)
    options = RunOptions(input_path=input_png, out_dir=out, quiet=True, progress=False, **opts)
    return run(recipe, options, host=host)


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def ckpt(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


# -- tests ----------------------------------------------------------------------------------------
def test_result_final_keeps_the_last_evaluated_scene(host, tmp_path, input_png):
    """``result: final``: the result is the state evaluated last, though its loss is the worst."""
    losses = [{"use": "toy.l2", "train_sign": -1.0}]
    out = tmp_path / "out"
    result = go(host, write_recipe(tmp_path, steps=7, eval_every=3, losses=losses, result="final"), input_png, out)
    evals = [m["sketches"]["3paths-seed0"]["eval"] for m in metrics(out) if "eval" in m["sketches"]["3paths-seed0"]]
    assert result.sketches[0].best_step == 7 and evals[-1] > evals[0]
    assert (out / "best.svg").read_text() == (out / "final.svg").read_text()
    assert result.sketches[0].best_loss == pytest.approx(evals[-1])
    with pytest.raises(ConfigError, match="result: expected one of best, final, got 'last'"):
        load_recipe(write_recipe(tmp_path, result="last"), registry=host.registry)


def test_end_to_end_outputs(host, tmp_path, input_png):
    out = tmp_path / "out"
    result = go(host, write_recipe(tmp_path), input_png, out)
    assert result.status == "finished" and result.out_dir == out and result.steps_done == 6
    for name in ("recipe.resolved.yaml", "metrics.jsonl", "target.png", "checkpoint.pt", "photo-3paths.svg",
                 "photo-3paths.png", "best.svg", "best.png", "final.svg", "final.png"):
        assert (out / name).is_file(), name
    sketch = out / "sketches" / "3paths-seed0"
    for name in ("best.svg", "best.png", "final.svg", "final.png", "snapshots/step_000003.svg",
                 "snapshots/step_000006.svg"):
        assert (sketch / name).is_file(), name
    assert ET.parse(out / "best.svg").getroot().tag.endswith("svg")
    assert VectorScene.from_svg(out / "final.svg").num_paths == 3
    assert Image.open(out / "best.png").size == (24, 24)
    assert Image.open(out / "target.png").size == (24, 24)
    lines = metrics(out)
    assert [m["step"] for m in lines] == [0, 2, 4, 6]  # log_every 2 + final eval
    assert lines[-1]["final"] is True
    terms = lines[0]["sketches"]["3paths-seed0"]
    assert set(terms) == {"loss", "terms", "eval"} and terms["terms"] == {"toy.l2": pytest.approx(terms["loss"])}
    evals = [m["sketches"]["3paths-seed0"]["eval"] for m in lines]
    res = result.sketches[0]
    assert res.best_loss == pytest.approx(min(evals)) and res.best_loss <= res.final_loss
    assert res.final_loss == pytest.approx(evals[-1])
    assert evals[-1] < evals[0]  # it optimised
    state = ckpt(out)
    assert state["step"] == 6 and state["sketches"] == ["3paths-seed0"]
    resolved = yaml.safe_load((out / "recipe.resolved.yaml").read_text())
    assert resolved["plugins"] == {"toy-plugin": "1.0"}
    assert resolved["renderer"] == {"use": "toy.dots", "sigma": 1.5, "nan_after": -1}
    assert resolved["losses"] == [{"use": "toy.l2", "weight": 1.0, "label": "toy.l2", "start": 0, "stop": None,
                                   "scale": 1.0, "train_sign": 1.0}]
    assert "extends" not in resolved and resolved["canvas"] == {"width": 24, "height": 24}


def test_best_is_the_evaluated_scene(host, tmp_path, input_png):
    """The kept best is the scene that was evaluated, not the one after that step's update."""
    out = tmp_path / "out"
    # training climbs the loss the evaluation measures, so the first evaluation stays the best
    losses = [{"use": "toy.l2", "train_sign": -1.0}]
    result = go(host, write_recipe(tmp_path, steps=7, eval_every=3, losses=losses), input_png, out)
    best = ckpt(out)["best"][0]
    assert best["step"] == result.sketches[0].best_step == 0
    scene = VectorScene(**{**best["scene"], "background": tuple(best["scene"]["background"])})
    target = torch.from_numpy(np.asarray(Image.open(out / "target.png"), dtype=np.float32) / 255).permute(2, 0, 1)
    with torch.no_grad():
        image = composite(Dots().render([scene]), [scene])
    # recomputed on the stored scene == the stored eval loss (up to target.png's 8-bit rounding)
    assert ((image - target) ** 2).mean().item() == pytest.approx(best["loss"], abs=2e-4)
    assert best["loss"] == pytest.approx(result.sketches[0].best_loss)


def test_best_is_scored_by_the_losses_in_force(host, tmp_path, input_png):
    """A loss that starts later adds to every total from there: the best is chosen again from then on."""
    out = tmp_path / "out"
    # training climbs the l2 term, so without the new term the first evaluation would stay the best
    losses = [{"use": "toy.l2", "train_sign": -1.0}, {"use": "toy.ink", "start": 3}]
    result = go(host, write_recipe(tmp_path, steps=7, eval_every=3, losses=losses, log_every=1), input_png, out)
    best = ckpt(out)["best"][0]
    evals = {m["step"]: m["sketches"]["3paths-seed0"]["eval"] for m in metrics(out)
             if "eval" in m["sketches"]["3paths-seed0"]}
    assert sorted(evals) == [0, 3, 6, 7]
    assert evals[0] < min(evals[3], evals[6], evals[7])
    assert best["step"] == result.sketches[0].best_step >= 3 and best["terms"] == ["toy.ink", "toy.l2"]
    assert best["loss"] == pytest.approx(min(evals[3], evals[6], evals[7]))


def test_a_sketch_runs_alone_as_beside_others(host, tmp_path, input_png):
    """Each sketch's random draws come from its own generator: seed 1000's sketch is the same in
    a run of seeds 0, 1000 and 2000 as in a run of its own."""
    losses = [{"use": "toy.noisy"}]
    together = go(host, write_recipe(tmp_path, losses=losses, seeds=3, strokes=[3, 4]), input_png, tmp_path / "a")
    alone = go(host, write_recipe(tmp_path, losses=losses, seed=1000, strokes=4), input_png, tmp_path / "b")
    mine = [s for s in together.sketches if s.name == "4paths-seed1000"]
    assert len(mine) == 1 and alone.sketches[0].name == "4paths-seed1000"
    assert mine[0].final_loss == pytest.approx(alone.sketches[0].final_loss, rel=1e-6)
    scenes = {run: ckpt(tmp_path / run)["scenes"] for run in ("a", "b")}
    torch.testing.assert_close(scenes["a"][together.sketches.index(mine[0])]["points"], scenes["b"][0]["points"])


def test_resolved_recipe_reproduces_the_run(host, tmp_path, input_png):
    first = go(host, write_recipe(tmp_path, losses=[{"use": "toy.noisy"}]), input_png, tmp_path / "a")
    second = go(host, first.out_dir / "recipe.resolved.yaml", input_png, tmp_path / "b")
    assert [s.best_loss for s in second.sketches] == [s.best_loss for s in first.sketches]
    resolved = [(tmp_path / run / "recipe.resolved.yaml").read_text() for run in ("a", "b")]
    assert resolved[0] == resolved[1]
    for name in ("best.svg", "final.svg", "photo-3paths.svg"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    strip = [{k: v for k, v in m.items() if k != "elapsed"} for m in metrics(tmp_path / "a")]
    assert strip == [{k: v for k, v in m.items() if k != "elapsed"} for m in metrics(tmp_path / "b")]
    # a different seed gives a different sketch
    third = go(host, write_recipe(tmp_path, seed=5), input_png, tmp_path / "c")
    assert (third.out_dir / "final.svg").read_text() != (tmp_path / "a" / "final.svg").read_text()


def test_nan_loss_names_term_and_step_and_keeps_best(host, tmp_path, input_png):
    out = tmp_path / "out"
    path = write_recipe(tmp_path, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "label": "boom", "at": 3}])
    with pytest.raises(NonFiniteLossError) as info:
        go(host, path, input_png, out)
    message = str(info.value)
    assert "'boom'" in message and "step 3" in message and str(out) in message
    assert (out / "best.svg").is_file() and (out / "final.svg").is_file()
    assert VectorScene.from_svg(out / "best.svg").num_paths == 3
    assert ckpt(out)["step"] == 3


def test_nan_loss_names_its_cause(host, tmp_path, input_png):
    """A non-finite loss or gradient names its cause (the render, the gradient, the loss), and a
    non-finite gradient never reaches the strokes."""
    path = write_recipe(tmp_path, renderer={"use": "toy.dots", "nan_after": 2})
    with pytest.raises(NonFiniteLossError, match="The strokes are finite but their render is not.*tile_capacity"):
        go(host, path, input_png, tmp_path / "render")
    path = write_recipe(tmp_path, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "nan_grad", "at": 2}])
    with pytest.raises(NonFiniteLossError, match="gradient of the points is not finite at step 2.*not updated"):
        go(host, path, input_png, tmp_path / "gradient")
    state = ckpt(tmp_path / "gradient")
    assert state["step"] == 2 and all(torch.isfinite(t).all() for t in state["scenes"][0].values()
                                      if isinstance(t, torch.Tensor))
    path = write_recipe(tmp_path, losses=[{"use": "toy.bomb", "at": 2}])
    with pytest.raises(NonFiniteLossError, match="last finite state .* Lower the learning rate or the loss weight"):
        go(host, path, input_png, tmp_path / "loss")
    # an update that makes the strokes non-finite is undone (strokes off the canvas draw nothing, so
    # no loss would see it), also in the last step, and never becomes the best
    for at in (3, 5):
        path = write_recipe(tmp_path, optimizer={"use": "toy.adam", "diverge_at": at})
        with pytest.raises(NonFiniteLossError, match=rf"the optimizer's update at step {at} made the points of sketch "
                                                     r"3paths-seed0 non-finite.*kept as they were before it"):
            go(host, path, input_png, tmp_path / f"strokes{at}")
        state = ckpt(tmp_path / f"strokes{at}")
        assert state["step"] == at and all(torch.isfinite(t).all() for t in state["scenes"][0].values()
                                           if isinstance(t, torch.Tensor))
        assert "NaN" not in (tmp_path / f"strokes{at}" / "best.svg").read_text()


def test_non_finite_strokes_from_the_initializer_are_blamed_on_it(host, tmp_path, input_png, monkeypatch):
    """Not on the optimizer's first update, which keeps the strokes as they were (`_update`)."""
    initialize = Init.initialize

    def nan_points(self, num_paths, seed, target):
        scene = initialize(self, num_paths, seed, target)
        scene.points[0, 0, 0] = float("nan")
        return scene

    monkeypatch.setattr(Init, "initialize", nan_points)
    with pytest.raises(NonFiniteLossError, match=r"^initializer 'toy.init' gave sketch 3paths-seed0 non-finite "
                                                 r"points: check its options"):
        go(host, write_recipe(tmp_path), input_png, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # before the first step: nothing written


def test_wrong_loss_shape_is_reported(host, tmp_path, input_png):
    path = write_recipe(tmp_path, losses=[{"use": "toy.bomb", "kind": "shape", "at": 0}])
    with pytest.raises(VecrenderError, match=r"loss 'toy.bomb' \(\S*test_runner.Bomb.forward\) returned shape "
                                             r"\[1, 1\]; expected \[1\] \(one value per sketch\).$"):
        go(host, path, input_png, tmp_path / "out")


def test_a_loss_without_gradient_is_reported(host, tmp_path, input_png, capsys):
    """Beside others: a warning, once; alone: nothing can be optimised."""
    path = write_recipe(tmp_path, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "detached"}])
    options = RunOptions(input_path=input_png, out_dir=tmp_path / "beside", progress=False)
    assert run(load_recipe(path, registry=host.registry), options, host=host).status == "finished"
    err = capsys.readouterr().err
    assert err.count("warning: loss 'toy.bomb' gives no gradient at step 0: its value does not depend on the "
                     "strokes (a .detach(), .item() or an operation without a gradient in the loss)") == 1
    path = write_recipe(tmp_path, losses=[{"use": "toy.bomb", "kind": "detached"}])
    with pytest.raises(VecrenderError, match=r"no loss gives a gradient at step 0 \(toy.bomb\)"):
        go(host, path, input_png, tmp_path / "alone")


def test_a_loss_returning_one_number_for_all_sketches_is_refused_even_for_one():
    """A scalar would pass with one sketch and fail once ``--seeds`` or several stroke counts are
    used: it is refused from the start, with the fix."""
    images = torch.rand(1, 3, 8, 8)
    batch = vecrender.LossInput(images, torch.rand(1, 4, 8, 8), [], None, 0, training=True)
    scalar = type("Scalar", (Loss,), {"name": "t.scalar", "forward": lambda self, b: b.images.mean()})()
    with pytest.raises(VecrenderError, match=r"returned shape \[\]; expected \[1\] \(one value per sketch\). Reduce "
                                             r"over every dimension but the first, e.g. .mean\(dim=\(1, 2, 3\)\)"):
        compute_terms([LossTerm("s", 1.0, 0, None, scalar)], batch)


def test_interrupt_then_resume_equals_uninterrupted(host, tmp_path, input_png):
    losses = [{"use": "toy.noisy"}, {"use": "toy.bomb", "kind": "interrupt", "at": 4}]
    path = write_recipe(tmp_path, steps=9, save_every=0, losses=losses)
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted) as info:
        go(host, path, input_png, out)
    assert "step 4" in str(info.value) and "--resume" in str(info.value)
    assert info.value.result.status == "interrupted"
    assert (out / "best.svg").is_file() and (out / "final.svg").is_file()
    assert ckpt(out)["step"] == 4
    assert max(m["step"] for m in metrics(out)) == 2

    resumed = run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert resumed.status == "finished" and resumed.out_dir == out
    straight = go(host, path, input_png, tmp_path / "straight")  # Bomb already fired: no interrupt
    a, b = ckpt(out), ckpt(straight.out_dir)
    assert a["step"] == b["step"] == 9
    for key in ("points", "stroke_colors"):
        torch.testing.assert_close(a["scenes"][0][key], b["scenes"][0][key], rtol=1e-6, atol=1e-6)
    assert a["best"][0]["step"] == b["best"][0]["step"]
    assert a["best"][0]["loss"] == pytest.approx(b["best"][0]["loss"], rel=1e-6)
    ma, mb = metrics(out), metrics(straight.out_dir)
    assert [m["step"] for m in ma] == [m["step"] for m in mb] == [0, 2, 4, 6, 8, 9]
    for x, y in zip(ma, mb):
        assert x["sketches"]["3paths-seed0"].get("loss") == pytest.approx(y["sketches"]["3paths-seed0"].get("loss"))


@pytest.mark.parametrize("old_checkpoint", [False, True])
def test_resume_keeps_the_terms_that_scored_the_best(host, tmp_path, input_png, old_checkpoint):
    # the l2 term climbs from step 3 on, so the best stays at step 3, where the ink term started
    losses = [{"use": "toy.l2", "train_sign": -1.0}, {"use": "toy.ink", "weight": 0.01, "start": 3},
              {"use": "toy.bomb", "kind": "interrupt", "at": 6}]
    path = write_recipe(tmp_path, steps=9, eval_every=3, save_every=0, losses=losses)
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted):
        go(host, path, input_png, out)
    state = ckpt(out)
    assert state["best"][0]["step"] == 3 and state["best"][0]["terms"] == ["toy.bomb", "toy.ink", "toy.l2"]
    if old_checkpoint:  # written before checkpoints named the terms: those active at the best's step
        del state["best"][0]["terms"]
        torch.save(state, out / "checkpoint.pt")
    run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    straight = go(host, path, input_png, tmp_path / "straight")
    assert ckpt(out)["best"][0]["step"] == ckpt(straight.out_dir)["best"][0]["step"] == 3


def test_resume_finished_run_says_so(host, tmp_path, input_png, capsys):
    out = tmp_path / "out"
    go(host, write_recipe(tmp_path), input_png, out)
    before = (out / "final.svg").read_text()
    result = run(None, RunOptions(resume=out, progress=False), host=host)
    assert "already finished" in capsys.readouterr().err
    assert result.steps_done == 6 and (out / "final.svg").read_text() == before
    assert [m["step"] for m in metrics(out)] == [0, 2, 4, 6]
    # a finished run given another learning rate: nothing runs, so the recorded recipe stays as it was
    recorded = (out / "recipe.resolved.yaml").read_text()
    changed = load_recipe(out / "recipe.resolved.yaml", ["optimizer.lr=0.5"], registry=host.registry)
    run(changed, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert (out / "recipe.resolved.yaml").read_text() == recorded
    # more steps continue the same run
    longer = load_recipe(out / "recipe.resolved.yaml", ["steps=8"], registry=host.registry)
    result = run(longer, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert result.steps_done == 8 and [m["step"] for m in metrics(out)] == [0, 2, 4, 6, 8]


def test_staged_run_adds_paths_per_stage(host, tmp_path, input_png):
    """stages [1, 2, 3]: 3 stages of `steps` steps; each later stage appends paths from add_paths."""
    out = tmp_path / "out"
    path = write_recipe(tmp_path, steps=4, strokes=6, stages=[1, 2, 3], save_every=0)
    result = go(host, path, input_png, out)
    assert result.status == "finished" and result.steps_done == 12
    # add_paths got the scene so far, the new count, seed + stage and the current render
    assert Init.added == [(1, 2, 1, (1, 3, 24, 24)), (3, 3, 2, (1, 3, 24, 24))]
    lines = metrics(out)
    by_step = {m["step"]: (m["stage"], m["sketches"]["6paths-seed0"]["paths"]) for m in lines}
    assert by_step == {0: (0, 1), 2: (0, 1), 4: (1, 3), 6: (1, 3), 8: (2, 6), 10: (2, 6), 12: (2, 6)}
    sketch = out / "sketches" / "6paths-seed0"
    stages = [VectorScene.from_svg(sketch / "stages" / f"stage{k}.svg") for k in (1, 2, 3)]
    assert [s.num_paths for s in stages] == [1, 3, 6]
    for name in ("best.svg", "final.svg", "photo-6paths.svg"):
        assert VectorScene.from_svg(out / name).num_paths == 6, name
    # earlier paths keep being optimised in later stages
    assert (stages[1].points[:1] - stages[0].points).abs().max() > 1e-2  # stage 1's path, in stage 2
    assert (stages[2].points[:1] - stages[1].points[:1]).abs().max() > 1e-2  # ... and in stage 3
    assert (stages[2].points[1:3] - stages[1].points[1:3]).abs().max() > 1e-2  # stage 2's paths, in stage 3
    # the best comes from the last stage (reset at each stage start)
    assert 8 <= result.sketches[0].best_step <= 12
    state = ckpt(out)
    assert (state["stage"], state["stages"], state["stage_steps"]) == (2, [1, 2, 3], 4)


def test_staged_run_resumes_mid_stage(host, tmp_path, input_png):
    """Losses see the stage's first path; their state (``state_dict``) survives the resume."""
    losses = [{"use": "toy.l2"}, {"use": "toy.memory"}, {"use": "toy.bomb", "kind": "interrupt", "at": 5}]
    path = write_recipe(tmp_path, steps=4, strokes=3, stages=[1, 2], save_every=0, losses=losses)
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted):
        go(host, path, input_png, out)
    assert (ckpt(out)["step"], ckpt(out)["stage"], ckpt(out)["stage_start"]) == (5, 1, 1)
    assert ckpt(out)["losses"] == {"toy.memory": {"passes": 5}}
    resumed = run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert Memory.seen == [(0, 0), (1, 0), (2, 0), (3, 0), (4, 1), (5, 1), (5, 1), (6, 1), (7, 1)]
    straight = go(host, path, input_png, tmp_path / "straight")
    assert resumed.steps_done == straight.steps_done == 8
    torch.testing.assert_close(ckpt(out)["scenes"][0]["points"], ckpt(tmp_path / "straight")["scenes"][0]["points"],
                               rtol=1e-5, atol=1e-5)
    assert VectorScene.from_svg(out / "final.svg").num_paths == 3
    changed = load_recipe(out / "recipe.resolved.yaml", ["steps=6"], registry=host.registry)
    with pytest.raises(ConfigError, match="same stages and steps"):
        run(changed, RunOptions(resume=out, quiet=True, progress=False), host=host)


@pytest.mark.parametrize("how", ["raised", "signal"])
def test_a_stop_while_a_stage_starts_resumes_exactly(host, tmp_path, input_png, monkeypatch, how):
    """Stopped while the next stage's paths are placed: a raised interrupt leaves the stage change
    undone (the checkpoint holds the state at the end of the last step, not the step before), a
    signal waits until the step is whole; either way the resume ends where a run never stopped does."""
    losses = [{"use": "toy.l2"}, {"use": "toy.memory"}]
    path = write_recipe(tmp_path, steps=4, strokes=3, stages=[1, 2], save_every=0, losses=losses)
    add_paths = Init.add_paths

    def stopped(self, *args):
        if how == "raised":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        return add_paths(self, *args)

    monkeypatch.setattr(Init, "add_paths", stopped)
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted) as info:
        go(host, path, input_png, out)
    assert info.value.exit_code == (130 if how == "raised" else 143)
    state = ckpt(out)
    passes = 4 if how == "raised" else 5  # steps 0-3 (not 0-2), or 0-4
    assert (state["step"], state["stage"]) == (passes, 0 if how == "raised" else 1)
    assert state["losses"] == {"toy.memory": {"passes": passes}}
    monkeypatch.undo()
    run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    straight = go(host, path, input_png, tmp_path / "straight")
    a, b = ckpt(out), ckpt(straight.out_dir)
    assert a["losses"] == b["losses"] == {"toy.memory": {"passes": 8}}
    torch.testing.assert_close(a["scenes"][0]["points"], b["scenes"][0]["points"], rtol=1e-5, atol=1e-5)


def test_stages_validation_and_unsupported_initializer(host, tmp_path, input_png):
    with pytest.raises(ConfigError, match=r"stages \[1, 2\] add 3 paths in all, but .*strokes is 4"):
        load_recipe(write_recipe(tmp_path, strokes=4, stages=[1, 2]), registry=host.registry)
    with pytest.raises(ConfigError, match="one stroke count"):
        load_recipe(write_recipe(tmp_path, strokes=[3, 4], stages=[1, 2]), registry=host.registry)
    with pytest.raises(ConfigError, match=r"stages\[1\]: each stage must add >= 1"):
        load_recipe(write_recipe(tmp_path, strokes=1, stages=[1, 0]), registry=host.registry)
    with pytest.raises(ConfigError, match="non-empty list"):
        load_recipe(write_recipe(tmp_path, stages=[]), registry=host.registry)
    recipe = load_recipe(write_recipe(tmp_path, strokes=3), ["stages=[1, 2]"], registry=host.registry)
    assert (recipe.stages, recipe.steps, recipe.total_steps) == ([1, 2], 6, 12)
    assert load_recipe(write_recipe(tmp_path), registry=host.registry).stages is None
    path = write_recipe(tmp_path, strokes=3, stages=[1, 2], initializer={"use": "toy.global"})
    with pytest.raises(ConfigError, match="'toy.global' does not support stages"):
        go(host, path, input_png, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before the first step
    with pytest.raises(ConfigError):
        go(host, path, input_png, tmp_path / "runs" / "deeper" / "out")
    assert not (tmp_path / "runs").exists()  # nor the folders made above it
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "earlier").mkdir()
    with pytest.raises(ConfigError):
        go(host, path, input_png, tmp_path / "runs" / "deeper" / "out")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["earlier"]  # runs/ was there: kept


def test_resume_errors(host, tmp_path, input_png):
    with pytest.raises(ConfigError, match="no checkpoint.pt"):
        run(None, RunOptions(resume=tmp_path), host=host)
    with pytest.raises(ConfigError, match="nowhere: the folder does not exist"):
        run(None, RunOptions(resume=tmp_path / "nowhere"), host=host)
    out = tmp_path / "out"
    go(host, write_recipe(tmp_path), input_png, out)
    (out / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes()[:300])  # cut short
    with pytest.raises(ConfigError) as info:
        run(None, RunOptions(resume=out), host=host)
    message = str(info.value)
    assert "checkpoint.pt is damaged" in message and "--overwrite" in message
    assert "\n" not in message and "weights_only" not in message  # one paragraph, not torch's


def test_output_directory_is_never_overwritten_silently(host, tmp_path, input_png, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path)
    first = go(host, path, input_png, None)
    assert first.out_dir == Path("runs/photo-toy")
    second = run(load_recipe(path, registry=host.registry),
                 RunOptions(input_path=input_png, progress=False), host=host)
    assert second.out_dir == Path("runs/photo-toy-2")
    assert "writing to runs/photo-toy-2" in capsys.readouterr().err
    assert go(host, path, input_png, None).out_dir == Path("runs/photo-toy-3")
    assert go(host, path, input_png, None, overwrite=True).out_dir == Path("runs/photo-toy")
    (tmp_path / "empty").mkdir()
    assert unique_dir(tmp_path / "empty") == tmp_path / "empty"


def test_failure_before_the_first_step_leaves_no_output(host, tmp_path, input_png, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, losses=[{"use": "toy.weightless"}])
    with pytest.raises(vecrender.WeightsNotFoundError):
        go(host, path, input_png, None)
    assert not Path("runs/photo-toy").exists()  # the next attempt is not pushed to photo-toy-2
    (tmp_path / "mine").mkdir()
    with pytest.raises(vecrender.WeightsNotFoundError):
        go(host, path, input_png, tmp_path / "mine")
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())


def test_multi_sketch_run(host, tmp_path, input_png):
    out = tmp_path / "out"
    result = go(host, write_recipe(tmp_path, strokes=[2, 3], seeds=2, steps=4), input_png, out)
    names = sorted(p.name for p in (out / "sketches").iterdir())
    assert names == ["2paths-seed0", "2paths-seed1000", "3paths-seed0", "3paths-seed1000"]
    assert set(result.outputs) == {2, 3}
    for n in (2, 3):
        svg = out / f"photo-{n}paths.svg"
        assert svg.is_file() and (out / f"photo-{n}paths.png").is_file()
        group = [s for s in result.sketches if s.num_paths == n]
        winner = min(group, key=lambda s: s.best_loss)
        assert svg.read_text() == winner.best_svg.read_text()
        assert VectorScene.from_svg(svg).num_paths == n
    assert not (out / "best.svg").exists() and not (out / "final.svg").exists()
    line = metrics(out)[0]["sketches"]
    assert set(line) == {"2paths-seed0", "2paths-seed1000", "3paths-seed0", "3paths-seed1000"}
    assert len({v["loss"] for v in line.values()}) == 4


def test_sketches_do_not_influence_each_other(host):
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 16, 16, generator=g)

    def scene(seed):
        gen = torch.Generator().manual_seed(seed)
        return VectorScene(torch.rand(3, 4, 2, generator=gen) * 16, torch.ones(3), torch.rand(3, 4, generator=gen),
                           16, 16)

    terms = [LossTerm("l2", 2.0, 0, None, L2()), LossTerm("noisy", 0.5, 0, None, Noisy())]

    def grads(scenes):
        for s in scenes:
            s.points.requires_grad_(True)
        rgba = Dots().render(scenes)
        batch = vecrender.LossInput(composite(rgba, scenes), rgba, scenes, target, 0, training=False)
        total, values = compute_terms(terms, batch)
        total.sum().backward()
        return total.detach(), scenes[0].points.grad.clone(), values

    t1, g1, values = grads([scene(1), scene(2)])
    t2, g2, _ = grads([scene(1), scene(3)])
    assert torch.equal(g1, g2) and t1[0] == t2[0] and t1[1] != t2[1]
    assert set(values) == {"l2", "noisy", "noisy.abs", "noisy.sq"}
    torch.testing.assert_close(values["noisy"], values["noisy.abs"] + values["noisy.sq"])
    torch.testing.assert_close(t1, 2.0 * values["l2"] + 0.5 * values["noisy"])


def test_loss_schedule_start_stop(host, tmp_path, input_png):
    out = tmp_path / "out"
    losses = [{"use": "toy.l2"}, {"use": "toy.ink", "start": 2, "stop": 4}]
    go(host, write_recipe(tmp_path, losses=losses, log_every=1), input_png, out)
    seen = [set(m["sketches"]["3paths-seed0"].get("terms", {})) for m in metrics(out)]
    assert seen[:6] == [{"toy.l2"}, {"toy.l2"}, {"toy.l2", "toy.ink"}, {"toy.l2", "toy.ink"}, {"toy.l2"}, {"toy.l2"}]


def test_a_prompt_no_component_reads_is_reported_as_ignored(host, tmp_path, input_png):
    with pytest.warns(VecrenderWarning, match="the prompt 'a cat' is ignored: no component of this run reads"):
        go(host, write_recipe(tmp_path, prompt="a cat", steps=1), input_png, tmp_path / "out")


def test_input_requirements(host, tmp_path, input_png, monkeypatch):
    with pytest.raises(InputImageError, match="'toy.l2'.*--input"):
        go(host, write_recipe(tmp_path), None, tmp_path / "x")
    monkeypatch.chdir(tmp_path)
    result = run(load_recipe("toy.free", registry=host.registry), RunOptions(quiet=True, progress=False), host=host)
    assert result.out_dir == Path("runs/toy.free")
    assert (result.out_dir / "toy.free-3paths.svg").is_file() and not (result.out_dir / "target.png").exists()
    with pytest.raises(InputImageError):
        go(host, write_recipe(tmp_path), tmp_path / "missing.png", tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_preprocess_then_resize(host, tmp_path, input_png):
    out = tmp_path / "out"
    go(host, write_recipe(tmp_path, preprocess=[{"use": "toy.flip"}], canvas={"width": 20, "height": 15}, steps=1),
       input_png, out)
    target = np.asarray(Image.open(out / "target.png"), dtype=np.float32)
    source = np.asarray(Image.open(input_png), dtype=np.float32)
    assert target.shape == (15, 20, 3)
    # red grows left to right in the input, so right to left after the flip
    assert target[:, 0, 0].mean() > target[:, -1, 0].mean() + 100
    assert abs(target[..., 2].mean() - source[..., 2].mean()) < 2


def test_canvas_from_the_input(host, tmp_path, input_png):
    # canvas: input takes the 40 x 30 image's size after the preprocessors, and a resume keeps it
    losses = [{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "interrupt", "at": 2}]
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted):
        go(host, write_recipe(tmp_path, canvas="input", preprocess=[{"use": "toy.flip"}], losses=losses),
           input_png, out)
    resumed = run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert resumed.status == "finished"
    assert Image.open(out / "target.png").size == (40, 30)
    svg = ET.parse(out / "photo-3paths.svg").getroot()
    assert (svg.get("width"), svg.get("height")) == ("40", "30")
    assert (ckpt(out)["scenes"][0]["width"], ckpt(out)["scenes"][0]["height"]) == (40, 30)
    assert yaml.safe_load((out / "recipe.resolved.yaml").read_text())["canvas"] == "input"
    with pytest.raises(InputImageError, match="canvas: input .* no input image: pass --input"):
        go(host, write_recipe(tmp_path, canvas="input"), None, tmp_path / "none")
    assert not (tmp_path / "none").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_unavailable_is_a_clear_error(host, tmp_path, input_png):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        go(host, write_recipe(tmp_path), input_png, tmp_path / "out", device="cuda")


def test_video(host, tmp_path, input_png):
    out = tmp_path / "out"
    go(host, write_recipe(tmp_path, video=True, video_every=2, strokes=[2, 3]), input_png, out)
    gif = Image.open(out / "optimization.gif")
    assert gif.n_frames == 4 and gif.size == (48, 24)  # steps 0, 2, 4 + final; 2 sketches side by side
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return
    assert (out / "optimization.mp4").stat().st_size > 0


def test_progress_lines_without_terminal(host, tmp_path, input_png, capsys):
    recipe = load_recipe(write_recipe(tmp_path), registry=host.registry)
    run(recipe, RunOptions(input_path=input_png, out_dir=tmp_path / "out", progress=False), host=host)
    err = capsys.readouterr().err
    assert "step 1/6" in err and "step 5/6" in err and "it/s" in err and "ETA" in err
    run(recipe, RunOptions(input_path=input_png, out_dir=tmp_path / "q", quiet=True), host=host)
    assert capsys.readouterr().err == ""


def test_builtin_painterly_smoke(tmp_path, input_png):
    """The built-in method runs for two steps on a tiny canvas (with the built-in components)."""
    from vecrender.plugins import PluginHost

    builtin = PluginHost(strict=True)
    builtin.load_builtins()
    reg = builtin.registry
    missing = [(k, n) for k, n in (("renderer", "native"), ("initializer", "random"), ("loss", "l2"),
                                   ("optimizer", "adam"), ("method", "painterly"), ("preprocessor", "pad_square"))
               if n not in reg.names(k)]
    if missing:
        pytest.skip(f"built-in components not written yet: {missing}")
    overrides = ["canvas=24", "steps=2", "strokes=4", "device=cpu", "eval_every=1", "save_every=0"]
    recipe = load_recipe("painterly", overrides, registry=reg)
    result = run(recipe, RunOptions(input_path=input_png, out_dir=tmp_path / "out", quiet=True, progress=False),
                 host=builtin)
    assert VectorScene.from_svg(result.out_dir / "photo-4paths.svg").num_paths == 4
    assert result.sketches[0].best_loss <= result.sketches[0].final_loss
    again = load_recipe(result.out_dir / "recipe.resolved.yaml", registry=reg)
    assert again.data["plugins"] == builtin.plugin_versions()


def test_run_seeds_the_global_rngs(host, tmp_path, input_png):
    path = write_recipe(tmp_path, initializer={"use": "toy.global"}, steps=1)
    a = go(host, path, input_png, tmp_path / "a")
    b = go(host, path, input_png, tmp_path / "b")
    c = go(host, path, input_png, tmp_path / "c", overrides=["seed=1"])
    text = (a.out_dir / "final.svg").read_text()
    assert text == (b.out_dir / "final.svg").read_text() != (c.out_dir / "final.svg").read_text()


def test_progress_bar_on_request(host, tmp_path, input_png, capsys):
    recipe = load_recipe(write_recipe(tmp_path), registry=host.registry)
    run(recipe, RunOptions(input_path=input_png, out_dir=tmp_path / "out", progress=True), host=host)
    err = capsys.readouterr().err
    assert "6/6" in err and "step/s" in err and "toy.l2=" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_and_resume(host, tmp_path, input_png):
    losses = [{"use": "toy.noisy"}, {"use": "toy.bomb", "kind": "interrupt", "at": 3}]
    path = write_recipe(tmp_path, steps=6, losses=losses, device="cuda")
    with pytest.raises(RunInterrupted):
        go(host, path, input_png, tmp_path / "out")
    assert "cuda" in ckpt(tmp_path / "out")["rng"]
    resumed = run(None, RunOptions(resume=tmp_path / "out", quiet=True, progress=False), host=host)
    straight = go(host, path, input_png, tmp_path / "straight")
    a, b = ckpt(resumed.out_dir), ckpt(straight.out_dir)
    torch.testing.assert_close(a["scenes"][0]["points"], b["scenes"][0]["points"])
    assert a["scenes"][0]["points"].device.type == "cpu"


def test_composite_puts_each_scene_over_its_own_background():
    from vecrender.testing import random_scene

    rgba = torch.tensor([0.2, 0.1, 0.0, 0.5]).reshape(1, 4, 1, 1).repeat(2, 1, 1, 1)
    white, black = (dataclasses.replace(random_scene(1, 1), background=b) for b in ((1.0, 1.0, 1.0), None))
    out = composite(rgba, [white, black])[:, :, 0, 0]
    assert torch.allclose(out, torch.tensor([[0.7, 0.6, 0.5], [0.2, 0.1, 0.0]]))


def test_early_stop_stops_each_sketch_after_two_flat_evaluations(host, tmp_path, input_png, capsys):
    """Sketch 0's evaluation is flat from step 6 on, sketch 1's from step 10 (toy.plateau): each
    stops at its second flat evaluation (10 and 14), is held at its state after that step's
    update and no longer scored, and the run ends when both have stopped."""
    losses = [{"use": "toy.plateau", "floors": [0.5, 0.0]}]
    out = tmp_path / "out"
    path = write_recipe(tmp_path, steps=40, seeds=2, save_every=1, losses=losses, early_stop=True)
    result = go(host, path, input_png, out)
    assert result.status == "finished" and result.steps_done == 15
    stops = {name: m["step"] for m in metrics(out) for name, e in m["sketches"].items() if e.get("stopped")}
    assert stops == {"3paths-seed0": 10, "3paths-seed1000": 14}
    assert [s.best_step for s in result.sketches] == [6, 10]
    assert metrics(out)[-1]["step"] == 15 and metrics(out)[-1]["final"]
    after = [m["sketches"] for m in metrics(out) if 10 < m["step"] < 15]  # sketch 0 stopped: not scored
    assert after and all("loss" not in m["3paths-seed0"] and "loss" in m["3paths-seed1000"] for m in after)
    assert all("eval" in e for e in metrics(out)[-1]["sketches"].values())  # the final evaluation: all

    def points(name, step):
        return VectorScene.from_svg(out / "sketches" / name / "snapshots" / f"step_{step:06d}.svg").points

    held = points("3paths-seed0", 11)  # after the update of step 10
    assert not torch.equal(points("3paths-seed0", 10), held)
    for step in (13, 15):
        assert torch.equal(points("3paths-seed0", step), held)
    assert torch.equal(VectorScene.from_svg(out / "sketches" / "3paths-seed0" / "final.svg").points, held)
    assert not torch.equal(points("3paths-seed1000", 11), points("3paths-seed1000", 15))  # still moving

    # resuming a run whose sketches all stopped does nothing; early_stop=false goes on
    capsys.readouterr()
    again = run(None, RunOptions(resume=out, progress=False), host=host)
    assert again.steps_done == 15 and "stopped early" in capsys.readouterr().err
    going_on = load_recipe(out / "recipe.resolved.yaml", ["early_stop=false"], registry=host.registry)
    assert run(going_on, RunOptions(resume=out, quiet=True, progress=False), host=host).steps_done == 40


def test_early_stop_survives_an_interrupted_step(host, tmp_path, input_png):
    """Interrupted in the step whose evaluation stops a sketch (after it), the resumed run replays
    the step and stops the sketch there, as an uninterrupted run does."""
    bomb = {"use": "toy.bomb", "kind": "interrupt_backward", "at": 10}
    losses = [{"use": "toy.plateau", "floors": [0.5]}, bomb]
    path = write_recipe(tmp_path, steps=40, save_every=0, losses=losses, early_stop=True)
    with pytest.raises(RunInterrupted):
        go(host, path, input_png, tmp_path / "out")
    assert ckpt(tmp_path / "out")["step"] == 10
    resumed = run(None, RunOptions(resume=tmp_path / "out", quiet=True, progress=False), host=host)
    straight = go(host, path, input_png, tmp_path / "straight")
    assert resumed.steps_done == straight.steps_done == 11
    torch.testing.assert_close(ckpt(tmp_path / "out")["scenes"][0]["points"],
                               ckpt(straight.out_dir)["scenes"][0]["points"])


@pytest.mark.parametrize("changes", [{"result": "final"}, {"stages": [1, 2], "strokes": 3}])
def test_early_stop_needs_the_best_result_and_no_stages(host, tmp_path, changes):
    with pytest.raises(ConfigError, match="early_stop: stops a sketch when"):
        load_recipe(write_recipe(tmp_path, early_stop=True, **changes), registry=host.registry)


# -- resume: the run's own recipe, canvas and image -------------------------------------------------
def interrupted_run(host, tmp_path, input_png, out=None, **changes):
    """A run stopped by Ctrl-C at step 4 of 9 (checkpoint at 4)."""
    out = out or tmp_path / "out"
    losses = [{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "interrupt", "at": 4}]
    path = write_recipe(tmp_path, steps=9, save_every=0, losses=losses, **changes)
    with pytest.raises(RunInterrupted):
        go(host, path, input_png, out)
    return out


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("overrides, pattern", [
    (["canvas=32"], "24x24 px but the recipe asks for a 32x32 canvas"),
    (["strokes=4"], "the strokes, seeds and seed it started with"),
    (["seed=5"], "the strokes, seeds and seed it started with"),
    (["steps=3"], "at step 4, past the 3 steps"),
    (["stages=[1, 2]"], "same stages and steps"),
])
def test_a_refused_resume_leaves_the_folder_as_it_was(host, tmp_path, input_png, overrides, pattern):
    out = interrupted_run(host, tmp_path, input_png)
    before = snapshot(out)
    recipe = load_recipe(out / "recipe.resolved.yaml", overrides, registry=host.registry)
    with pytest.raises(ConfigError, match=pattern):
        run(recipe, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert snapshot(out) == before
    assert run(None, RunOptions(resume=out, quiet=True, progress=False), host=host).steps_done == 9


def test_resume_refuses_another_optimizer_state(host, tmp_path, input_png):
    out = interrupted_run(host, tmp_path, input_png)
    before = snapshot(out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["optimizer"] = {"state": {}, "param_groups": []}  # not toy.adam's
    torch.save(state, out / "checkpoint.pt")
    before = snapshot(out)
    with pytest.raises(ConfigError, match="optimizer state does not fit the recipe's 'toy.adam'"):
        run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    assert snapshot(out) == before


def test_resume_recipe_is_the_resolved_one(host, tmp_path, input_png):
    """A METHOD given with --resume may only be the run's own; --set applies on top of the run's."""
    from vecrender.runner import load_resume_recipe

    out = tmp_path / "out"
    go(host, write_recipe(tmp_path), input_png, out, overrides=["canvas=20", "steps=3"])
    recipe = load_resume_recipe(out, None, ["steps=5"], host.registry)
    assert (recipe.width, recipe.steps) == (20, 5)
    resolved = (out / "recipe.resolved.yaml").read_text()
    assert load_resume_recipe(out, str(out / "recipe.resolved.yaml"), (), host.registry).steps == 3
    with pytest.raises(ConfigError, match="'toy.free' cannot be given with it: drop 'toy.free'"):
        load_resume_recipe(out, "toy.free", (), host.registry)
    assert (out / "recipe.resolved.yaml").read_text() == resolved


def test_what_makes_the_number_of_steps_change_each_step():
    from vecrender.runner import _steps_shape_the_run

    plain = {"optimizer": {"use": "adam", "schedule": "none"}, "losses": [{"start": 0, "stop": 40}], "stages": None}
    assert not _steps_shape_the_run(plain)
    assert _steps_shape_the_run({**plain, "optimizer": {"use": "adam", "schedule": "linear"}})
    assert _steps_shape_the_run({**plain, "losses": [{"start": 0, "stop": "50%"}]})
    assert _steps_shape_the_run({**plain, "stages": [8, 8]})


@pytest.mark.parametrize(("overrides", "warned"), [
    (["steps=5"], None),  # the same run, longer: a rerun with 5 steps goes through the same states
    (["steps=5", "optimizer.lr=0.05"], "steps, optimizer"),
    (["steps=5", "losses.toy.l2.stop=100%"], "steps, losses"),
])
def test_a_resume_with_other_values_warns_that_the_recipe_no_longer_reproduces_it(
        host, tmp_path, input_png, capsys, overrides, warned):
    from vecrender.runner import load_resume_recipe

    out = tmp_path / "out"
    go(host, write_recipe(tmp_path, losses=[{"use": "toy.l2"}]), input_png, out, overrides=["steps=3"])
    capsys.readouterr()
    run(load_resume_recipe(out, None, overrides, host.registry), RunOptions(resume=out, progress=False), host=host)
    err = capsys.readouterr().err
    if warned is None:
        assert "warning" not in err
    else:
        assert f"warning: resumed at step 3 with other values for {warned}; recipe.resolved.yaml now records them, " \
               f"so a run of it uses them from step 0 and does not reproduce this run exactly." in err


def test_resume_from_another_folder_finds_the_input(host, tmp_path, input_png, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, steps=9, save_every=0,
                        losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "interrupt", "at": 4}])
    with pytest.raises(RunInterrupted):
        go(host, path, Path("photo.png"), Path("out"))  # the input as typed: relative
    assert ckpt(tmp_path / "out")["input_path"] == str(input_png.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "photo.png").write_bytes(b"another image entirely")
    monkeypatch.chdir(elsewhere)
    result = run(None, RunOptions(resume=tmp_path / "out", quiet=True, progress=False), host=host)
    assert result.steps_done == 9 and result.outputs[3].name == "photo-3paths.svg"


def test_resume_refuses_another_input_image(host, tmp_path, input_png):
    out = interrupted_run(host, tmp_path, input_png)
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(other)
    before = snapshot(out)

    def resume(input_path=None):
        return run(None, RunOptions(resume=out, input_path=input_path, quiet=True, progress=False), host=host)

    with pytest.raises(InputImageError, match="other.png is not the image the run started from"):
        resume(other)
    assert snapshot(out) == before
    copy = tmp_path / "moved" / "renamed.png"  # the same image elsewhere, by any name, is the same image
    copy.parent.mkdir()
    copy.write_bytes(input_png.read_bytes())
    input_png.write_bytes(other.read_bytes())  # ... while the recorded file has changed
    with pytest.raises(InputImageError, match="photo.png changed since the run started"):
        resume()
    result = resume(copy)
    assert result.steps_done == 9 and result.outputs[3].name == "photo-3paths.svg"  # the run's own names
    assert not list(out.glob("renamed*"))


def test_video_resume_keeps_the_frames_before_the_interruption(host, tmp_path, input_png):
    out = interrupted_run(host, tmp_path, input_png, video=True, video_every=2)
    assert Image.open(out / "optimization.gif").n_frames == 2  # steps 0, 2
    run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    straight = go(host, write_recipe(tmp_path, steps=9, save_every=0, video=True, video_every=2), input_png,
                  tmp_path / "straight")
    resumed_gif, straight_gif = Image.open(out / "optimization.gif"), Image.open(straight.out_dir / "optimization.gif")
    assert resumed_gif.n_frames == straight_gif.n_frames == 6  # steps 0, 2, 4, 6, 8 + final
    first = [np.asarray(g.convert("RGB")).astype(int) for g in (resumed_gif, straight_gif)]
    assert np.abs(first[0] - first[1]).max() <= 8  # step 0's frame, through the GIF palette twice


# -- failures keep what the run has ---------------------------------------------------------------------
def test_an_error_in_the_loop_keeps_the_outputs_and_a_checkpoint(host, tmp_path, input_png):
    out = tmp_path / "out"
    path = write_recipe(tmp_path, save_every=0, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "error"}])
    with pytest.raises(RuntimeError, match="a bug in a loss"):
        go(host, path, input_png, out)
    assert ckpt(out)["step"] == 3
    for name in ("best.svg", "final.png", "photo-3paths.svg", "sketches/3paths-seed0/best.png"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize("kind", ["sigterm", "sighup"])
def test_sigterm_and_sighup_stop_the_run_like_ctrl_c(host, tmp_path, input_png, kind):
    signum = getattr(signal, kind.upper(), None)
    if signum is None:
        pytest.skip(f"no {kind.upper()} on this platform")
    previous = signal.getsignal(signum)
    out = tmp_path / "out"
    path = write_recipe(tmp_path, save_every=0, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": kind}])
    # sent during step 3: the step is applied whole, then the run stops
    with pytest.raises(RunInterrupted, match=f"stopped by {signal.Signals(signum).name} at step 4") as info:
        go(host, path, input_png, out)
    assert info.value.exit_code == 128 + signum and info.value.result.status == "interrupted"
    assert ckpt(out)["step"] == 4 and (out / "best.svg").is_file()
    assert signal.getsignal(signum) is previous  # only while the run is in progress
    assert run(None, RunOptions(resume=out, quiet=True, progress=False), host=host).steps_done == 6


def test_a_signal_after_the_update_stops_after_the_whole_step(host, tmp_path, input_png, monkeypatch):
    """Ctrl-C right after the optimizer moved the strokes: the step is finished (its metrics line
    written) and counted, so the resume does not apply its update twice."""
    import vecrender.runner

    hold = vecrender.runner._Run._hold_stopped

    def interrupted_hold(self):
        hold(self)
        if self.current == 4 and not Bomb.fired:
            Bomb.fired = True
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(vecrender.runner._Run, "_hold_stopped", interrupted_hold)
    path = write_recipe(tmp_path, steps=9, save_every=0, losses=[{"use": "toy.noisy"}])
    out = tmp_path / "out"
    with pytest.raises(RunInterrupted, match="interrupted at step 5") as info:
        go(host, path, input_png, out)
    assert info.value.exit_code == 130 and ckpt(out)["step"] == 5
    assert [m["step"] for m in metrics(out)] == [0, 2, 4]  # step 4's line too
    monkeypatch.undo()
    run(None, RunOptions(resume=out, quiet=True, progress=False), host=host)
    straight = go(host, path, input_png, tmp_path / "straight")
    torch.testing.assert_close(ckpt(out)["scenes"][0]["points"], ckpt(straight.out_dir)["scenes"][0]["points"],
                               rtol=1e-6, atol=1e-6)
    assert [m["step"] for m in metrics(out)] == [m["step"] for m in metrics(straight.out_dir)]


def test_an_ignored_hangup_stays_ignored(host, tmp_path, input_png):
    """``nohup vecrender run ...``: SIGHUP is ignored, and the run must not turn it into a stop."""
    if not hasattr(signal, "SIGHUP"):
        pytest.skip("no SIGHUP on this platform")
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        path = write_recipe(tmp_path, save_every=0, losses=[{"use": "toy.l2"}, {"use": "toy.bomb", "kind": "sighup"}])
        assert go(host, path, input_png, tmp_path / "out").status == "finished"
        assert Bomb.fired and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sigterm_before_the_first_step_leaves_no_folder(host, tmp_path, input_png, monkeypatch):
    def terminated(self, num_paths, seed, target):
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(Init, "initialize", terminated)
    out = tmp_path / "runs" / "out"
    with pytest.raises(KeyboardInterrupt) as info:
        go(host, write_recipe(tmp_path), input_png, out)
    assert info.value.signum == signal.SIGTERM and not (tmp_path / "runs").exists()


def test_one_run_at_a_time_writes_into_a_folder(host, tmp_path, input_png):
    from vecrender.io import lock_folder

    out = tmp_path / "out"
    out.mkdir()
    other = lock_folder(out)  # another run, writing into `out`
    try:
        with pytest.raises(OutputError, match="another vecrender run is writing into this folder"):
            go(host, write_recipe(tmp_path), input_png, out)
        assert out.is_dir()  # the other run's folder stays
    finally:
        os.close(other)
    assert go(host, write_recipe(tmp_path), input_png, out).status == "finished"  # the lock went with the run
    assert go(host, write_recipe(tmp_path), input_png, out, overwrite=True).status == "finished"


def test_a_default_folder_in_use_by_another_run_is_numbered(host, tmp_path, input_png, monkeypatch, capsys):
    """Two runs started at once pick the same default folder, still empty while the first loads
    its models: the second writes to the next number instead of failing."""
    from vecrender.io import lock_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "photo-toy").mkdir(parents=True)
    other = lock_folder(tmp_path / "runs" / "photo-toy")  # the first run, not written yet
    try:
        second = run(load_recipe(write_recipe(tmp_path), registry=host.registry),
                     RunOptions(input_path=input_png, progress=False), host=host)
        assert second.status == "finished" and second.out_dir == Path("runs/photo-toy-2")
        assert "runs/photo-toy is in use by another run: writing to runs/photo-toy-2" in capsys.readouterr().err
        assert not any((tmp_path / "runs" / "photo-toy").iterdir())  # the first run's folder untouched
        with pytest.raises(OutputError, match="another vecrender run"):  # overwrite means that folder
            go(host, write_recipe(tmp_path), input_png, None, overwrite=True)
    finally:
        os.close(other)


def test_a_second_ctrl_c_while_saving_waits_for_the_outputs(host, tmp_path, input_png, monkeypatch):
    import vecrender.runner

    save_png, pressed = vecrender.runner.save_png, []

    def impatient(path, image):  # Ctrl-C again as the first PNG after the interruption is written
        if Bomb.fired and not pressed:
            pressed.append(path)
            signal.raise_signal(signal.SIGINT)
        save_png(path, image)

    monkeypatch.setattr(vecrender.runner, "save_png", impatient)
    handler = signal.getsignal(signal.SIGINT)  # (ignored where pytest runs in the background)
    try:
        interrupted_run(host, tmp_path, input_png)
    except KeyboardInterrupt:  # caught here, or pytest would take it for the user's own
        pytest.fail("the second Ctrl-C escaped while the outputs were written")
    out = tmp_path / "out"
    assert pressed
    for name in ("best.png", "final.png", "photo-3paths.png", "checkpoint.pt", "sketches/3paths-seed0/final.png"):
        assert (out / name).is_file(), name
    assert ckpt(out)["step"] == 4
    assert signal.getsignal(signal.SIGINT) is handler


# -- the output folder ------------------------------------------------------------------------------------
def test_an_explicit_out_is_never_renumbered(host, tmp_path, input_png):
    out = tmp_path / "out"
    path = write_recipe(tmp_path)
    go(host, path, input_png, out)
    with pytest.raises(ConfigError, match="already exists and is not empty: use --overwrite .* or another --out"):
        go(host, path, input_png, out)
    assert not (tmp_path / "out-2").exists()
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(OutputError, match="afile is a file"):
        go(host, path, input_png, tmp_path / "afile")
    with pytest.raises(OutputError, match=r"afile/sub: Not a directory"):
        go(host, path, input_png, tmp_path / "afile" / "sub")
    assert (tmp_path / "afile").read_text() == "mine"
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(OutputError, match=r"dangling: File exists \(it is a link to .*gone, which does not exist\)"):
        go(host, path, input_png, tmp_path / "dangling")


def test_overwrite_replaces_the_earlier_run_and_nothing_else(host, tmp_path, input_png):
    out = tmp_path / "out"
    go(host, write_recipe(tmp_path, strokes=[2, 3], video=True), input_png, out)
    (out / "notes.txt").write_text("mine")
    go(host, write_recipe(tmp_path, strokes=4), input_png, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["best.png", "best.svg", "final.png", "final.svg", "checkpoint.pt", "metrics.jsonl", "notes.txt",
         "photo-4paths.png", "photo-4paths.svg", "recipe.resolved.yaml", "sketches", "target.png"])
    assert [p.name for p in (out / "sketches").iterdir()] == ["4paths-seed0"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ConfigError, match="mine is not empty and holds no vecrender run"):
        go(host, write_recipe(tmp_path), input_png, mine, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


def test_overwrite_removes_nothing_when_it_cannot_remove_everything(host, tmp_path, input_png, monkeypatch):
    """A read-only folder among the old run's sketches: the old run stays whole, and the error
    names that folder (root passes permission bits, so the check itself is made to say no)."""
    import vecrender.runner

    out = tmp_path / "out"
    go(host, write_recipe(tmp_path, strokes=[2, 3]), input_png, out)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    locked = out / "sketches" / "3paths-seed0"
    real_access = os.access
    monkeypatch.setattr(vecrender.runner.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    with pytest.raises(OutputError, match=rf"cannot write {re.escape(str(locked))}: Permission denied"):
        go(host, write_recipe(tmp_path, strokes=4), input_png, out, overwrite=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_output_errors_are_one_line(host, tmp_path, input_png, monkeypatch):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"cannot write .*out.*: No space left on device; check the path"):
        go(host, write_recipe(tmp_path), input_png, tmp_path / "out")
