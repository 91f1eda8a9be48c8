"""The plugin author's test kit: it passes the built-ins and catches broken components."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import torch

import vecrender
from vecrender.builtins.initializers import RandomInit
from vecrender.builtins.losses import L1Loss, L2Loss
from vecrender.builtins.optimizers import Adam
from vecrender.builtins.preprocessors import PadSquare
from vecrender.errors import PluginError
from vecrender.plugins import get_registry
from vecrender.testing import (
    ContractError,
    check_initializer,
    check_loss,
    check_optimizer,
    check_preprocessor,
    check_renderer,
    make_test_image,
    plugin_module,
    random_scene,
    registered,
    run_smoke,
)


# -- the built-ins pass ---------------------------------------------------------------------------
@pytest.mark.parametrize("loss", [L1Loss, L2Loss])
def test_pixel_losses_pass(loss):
    terms = check_loss(loss, needs_target=True, deterministic=True)
    assert terms["value"].shape == (2,) and (terms["value"] > 0).all()


def test_builtin_renderers_pass():
    native = get_registry().get("renderer", "native")
    check_renderer(native, params=("points", "widths", "stroke_colors"))
    check_renderer(native, params=("points", "fill_colors"), fills=True)
    # the reference renderer is the slow specification: a smaller canvas and fewer closest-point samples
    check_renderer(get_registry().get("renderer", "reference"), {"samples": 8}, size=10,
                   params=("points", "widths", "stroke_colors"))


def test_builtin_initializers_optimizer_preprocessor_pass():
    check_initializer(RandomInit)
    check_initializer(RandomInit, {"closed": True, "segments": 3, "max_segments": 4, "random_color": True})
    check_optimizer(Adam, {"params": ["points", "widths", "stroke_colors"], "schedule": "steps"})
    out = check_preprocessor(PadSquare)
    assert out.shape == (1, 3, 50, 50)


def test_random_scene_and_test_image():
    scene = random_scene(5, (12, 20), seed=3, fills=True)
    assert scene.points.shape == (5, 7, 2) and (scene.width, scene.height) == (20, 12)
    assert scene.closed.tolist() == [True, False, True, False, True] and scene.fill_colors is not None
    assert scene.points[..., 0].max() <= 19 and scene.points[..., 1].max() <= 11.4
    assert torch.equal(random_scene(5, 16, seed=3).points, random_scene(5, 16, seed=3).points)
    image = make_test_image((10, 14))
    assert image.shape == (1, 3, 10, 14) and image.min() >= 0 and image.max() == 1.0 and image.std() > 0.1


# -- broken components are caught ----------------------------------------------------------------
class MixesSketches(vecrender.Loss):
    """Normalises by the batch mean: sketch values depend on each other."""

    name = "broken.mixes"

    def forward(self, batch):
        per = batch.images.mean(dim=(1, 2, 3))
        return per / per.mean()


class ScaledByTheMax(vecrender.Loss):
    """Divides by the batch's largest value, without a gradient through it: a sketch's value
    depends on the other's, which no gradient shows."""

    name = "broken.max"

    def forward(self, batch):
        per = batch.images.mean(dim=(1, 2, 3))
        return per / per.detach().max()


class NoisyTraining(vecrender.Loss):
    """Adds noise in training drawn for the whole batch at once, from the global generator."""

    name = "broken.batch_noise"

    def forward(self, batch):
        per = batch.images.mean(dim=(1, 2, 3))
        return per + 0.1 * torch.rand(per.shape[0]) if batch.training else per


class PerSketchNoise(vecrender.Loss):
    """The same noise, each sketch's drawn from its own generator: the contract holds."""

    name = "fine.sketch_noise"

    def forward(self, batch):
        per = batch.images.mean(dim=(1, 2, 3))
        if not batch.training:
            return per
        return per + 0.1 * torch.stack([torch.rand((), generator=g) for g in batch.sketch_generators()])


class Scalar(vecrender.Loss):
    """Returns one number for the whole batch."""

    name = "broken.scalar"

    def forward(self, batch):
        return batch.images.mean()


class NotFinite(vecrender.Loss):
    """Divides by zero."""

    name = "broken.nan"

    def forward(self, batch):
        return batch.images.mean(dim=(1, 2, 3)) / 0.0


class Detached(vecrender.Loss):
    """Loses the graph."""

    name = "broken.detached"

    def forward(self, batch):
        return batch.images.detach().mean(dim=(1, 2, 3))


class GeometryOnly(vecrender.Loss):
    """Only looks at the points, so widths get no gradient."""

    name = "broken.geometry"

    def forward(self, batch):
        return torch.stack([scene.points.mean() for scene in batch.scenes])


class Broadcasts(vecrender.Loss):
    """L2 that silently broadcasts mismatched renders."""

    name = "broken.broadcasts"
    needs_target = True

    def forward(self, batch):
        target = torch.nn.functional.interpolate(batch.target, size=batch.images.shape[2:])
        return (batch.images[:, :1] - target[:, :1]).pow(2).mean(dim=(1, 2, 3))


class NoisyEval(vecrender.Loss):
    """Random even when training is False."""

    name = "broken.noisy"

    def forward(self, batch):
        return batch.images.mean(dim=(1, 2, 3)) + torch.rand(batch.images.shape[0])


class WrongGradient(vecrender.Loss):
    """A custom autograd function whose backward is off by a factor."""

    name = "broken.wrong_grad"

    class _Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x

    def forward(self, batch):
        return self._Square.apply(batch.images).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("loss, kwargs, message", [
    (MixesSketches, {}, "depends on sketch 1"),
    (ScaledByTheMax, {}, "scored alone .* differs from its value beside"),
    (NoisyTraining, {}, "in the training pass, sketch 0 scored alone .* differs from its value beside sketch 1"),
    (Scalar, {}, "has shape [], expected [2]"),
    (NotFinite, {}, "is not finite"),
    (Detached, {}, "does not depend on the renders"),
    (GeometryOnly, {}, "no gradient reaches sketch 0's widths"),
    (Broadcasts, {}, "must reject mismatched shapes"),
    (NoisyEval, {}, "not deterministic"),
    (WrongGradient, {"deterministic": True}, "gradcheck failed"),
    (L2Loss, {"needs_target": False}, "needs_target is True, expected False"),
])
def test_broken_losses_fail(loss, kwargs, message):
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_loss(loss, **kwargs)


def test_a_loss_drawing_from_each_sketchs_generator_passes():
    check_loss(PerSketchNoise)


def test_undocumented_config_fails():
    class Undocumented(vecrender.Loss):
        """A loss with an undocumented option."""

        name = "broken.undocumented"

        @dataclass
        class Config:
            power: float = 1.0

        def forward(self, batch):
            return batch.images.mean(dim=(1, 2, 3))

    with pytest.raises(ContractError, match="without documentation: power"):
        check_loss(Undocumented)


class Unseeded(vecrender.Initializer):
    """Ignores the seed."""

    name = "broken.unseeded"

    def initialize(self, num_paths, seed, target):
        return random_scene(num_paths, (self.context.height, self.context.width), seed=int(torch.randint(99, ())))


class IgnoresSeed(vecrender.Initializer):
    """Same scene for every seed."""

    name = "broken.same"

    def initialize(self, num_paths, seed, target):
        return random_scene(num_paths, (self.context.height, self.context.width), seed=0)


class SwapsCanvas(vecrender.Initializer):
    """Width and height swapped."""

    name = "broken.swap"

    def initialize(self, num_paths, seed, target):
        return random_scene(num_paths, (self.context.width, self.context.height), seed=seed)


@pytest.mark.parametrize("init, message", [
    (Unseeded, "must be deterministic"),
    (IgnoresSeed, "seeds 0 and 1 give the same points"),
    (SwapsCanvas, "expected the context's 32x24"),
])
def test_broken_initializers_fail(init, message):
    with pytest.raises(ContractError, match=message):
        check_initializer(init)


class Straight(vecrender.Renderer):
    """Straight (not premultiplied) alpha."""

    name = "broken.straight"

    def render(self, scenes):
        rgba = get_registry().get("renderer", "native")().render(scenes)
        return torch.cat([rgba[:, :3] / rgba[:, 3:].clamp(min=1e-3), rgba[:, 3:]], dim=1).clamp(0, 1)


class StrokesOnly(vecrender.Renderer):
    """Leaves the fills out."""

    name = "broken.strokes_only"

    def render(self, scenes):
        return get_registry().get("renderer", "native")().render([replace(s, fill_colors=None) for s in scenes])


def test_broken_renderer_fails():
    with pytest.raises(ContractError, match="premultiplied"):
        check_renderer(Straight)
    check_renderer(StrokesOnly)
    with pytest.raises(ContractError, match="fills are not drawn"):
        check_renderer(StrokesOnly, fills=True)


class ForgetfulAdam(Adam):
    """Adam without a state dict: a resumed run restarts its moments."""

    name = "broken.forgetful"

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class NoOp(vecrender.Optimizer):
    """Never changes anything."""

    name = "broken.noop"

    def setup(self, scenes):
        self.tensors = [s.requires_grad_(["points"])[0] for s in scenes]

    def zero_grad(self):
        pass

    def step(self, step):
        pass


@pytest.mark.parametrize("opt, message", [(ForgetfulAdam, "after load_state_dict the next step differs"),
                                          (NoOp, "did not decrease")])
def test_broken_optimizers_fail(opt, message):
    with pytest.raises(ContractError, match=message):
        check_optimizer(opt)


class InPlace(vecrender.Preprocessor):
    """Darkens its input in place."""

    name = "broken.inplace"

    def __call__(self, image):
        return image.mul_(0.5)


def test_broken_preprocessor_fails():
    with pytest.raises(ContractError, match="modified its input in place"):
        check_preprocessor(InPlace)


# -- registered -----------------------------------------------------------------------------------
class Darkness(vecrender.Loss):
    """Mean darkness (test plugin)."""

    name = "kit.darkness"

    def forward(self, batch):
        return 1 - batch.images.mean(dim=(1, 2, 3))


def test_registered_context_activates_and_restores():
    plugin = plugin_module(Darkness)
    with registered(plugin, name="kit") as host:
        assert get_registry() is host.registry
        entry = get_registry().entry("loss", "kit.darkness")
        assert entry.plugin == "kit" and "l2" in get_registry().names("loss")
        check_loss(entry.obj)
    assert "kit.darkness" not in get_registry().names("loss")


def test_registered_rejects_broken_plugin():
    with pytest.raises(PluginError, match="plugin 'kit' registers the loss 'kit.darkness' twice"):
        with registered(plugin_module(Darkness, Darkness), name="kit"):
            pass


def test_registered_assertion_form():
    entry = registered("loss", "l2", plugin="vecrender.builtins.losses")
    assert entry.obj is L2Loss
    with pytest.raises(ContractError, match="no installed plugin registers the loss 'nope.loss' \\(external"):
        registered("loss", "nope.loss")
    with pytest.raises(ContractError, match="registers the loss 'l3' \\(did you mean 'l2'"):
        registered("loss", "l3")
    with pytest.raises(ContractError, match="registered by plugin 'vecrender.builtins.losses', not 'other'"):
        registered("loss", "l2", plugin="other")


def test_run_smoke_painterly(tmp_path):
    result = run_smoke("painterly", tmp_path / "run", overrides=["strokes=3"])
    assert result.status == "finished" and result.steps_done == 2
    assert (tmp_path / "run" / "recipe.resolved.yaml").is_file()
    assert (tmp_path / "run" / "input-3paths.svg").is_file()
    assert (tmp_path / "run" / "target.png").is_file()


def test_plugin_module_routes_each_component_to_its_kinds_hook():
    from vecrender.components import Method

    method = Method("kit.dark", "Darkness only.", {"losses": [{"use": "kit.darkness"}]})
    plugin = plugin_module(Darkness, method)
    assert hasattr(plugin, "register_losses") and hasattr(plugin, "register_methods")
    with registered(plugin, name="kit") as host:
        assert host.registry.entry("loss", "kit.darkness").plugin == "kit"
        assert host.registry.get("method", "kit.dark") is method
