"""The plugin author's test kit: registration helpers, contract checks and a smoke runner.

Use it from a plugin's own pytest suite::

    from vecrender.testing import check_loss, registered, run_smoke

    def test_installed():
        registered("loss", "myplugin.darkness", plugin="myplugin")   # installed entry point works

    def test_contract():
        check_loss(Darkness)                # shapes, finiteness, gradients, per-sketch independence

    def test_in_a_run(tmp_path):
        with registered(my_plugin_module):  # a host with built-ins + installed plugins + this one
            result = run_smoke("myplugin.method", tmp_path)

Every ``check_*`` raises :class:`ContractError` (an ``AssertionError``, so pytest shows it as a
failed assertion) with a message saying which rule was broken. The checks use tiny canvases and run
on the CPU in well under a second for simple components.
"""

from __future__ import annotations

import copy
import tempfile
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from vecrender.components import (
    Component,
    Initializer,
    Loss,
    LossInput,
    Optimizer,
    Preprocessor,
    Renderer,
    RunContext,
)
from vecrender import hookimpl
from vecrender.errors import PluginError, did_you_mean
from vecrender.hookspecs import KINDS
from vecrender.scene import OPTIMIZABLE, VectorScene

__all__ = [
    "ContractError",
    "check_initializer",
    "check_loss",
    "check_optimizer",
    "check_preprocessor",
    "check_renderer",
    "make_test_image",
    "random_scene",
    "registered",
    "run_smoke",
    "write_test_image",
]


class ContractError(AssertionError):
    """A component breaks the vecrender component contract (the message says which rule)."""


def _ensure(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


# -- registration ---------------------------------------------------------------------------------
def registered(plugin_or_kind: Any, name: str | None = None, *, plugin: str | None = None) -> Any:
    """Two uses, told apart by the first argument.

    ``with registered(plugin_module, name="test-plugin") as host:`` activates a fresh plugin host
    (built-ins, installed entry-point plugins, then `plugin_module`) for the block, so
    ``vecrender.plugins.get_registry()``, recipes and runs see the plugin. A plugin that fails to
    register raises PluginError. An installed entry point that is the same module is not loaded twice.

    ``registered("loss", "myplugin.darkness", plugin="myplugin")`` asserts that the installed
    plugins (a fresh host, as the CLI builds it) register that component, optionally from the
    entry point named `plugin`; returns its registry entry.
    """
    if isinstance(plugin_or_kind, str) and plugin_or_kind in KINDS:
        if name is None:
            raise TypeError("registered(kind, name): give the component name")
        return _assert_registered(plugin_or_kind, name, plugin)
    return _activate(plugin_or_kind, name or "test-plugin")


def plugin_module(*components: Any, hook: str | None = None,
                  name: str = "throwaway_plugin") -> types.ModuleType:
    """A plugin module registering `components` (classes, or Method instances), for ``registered``.

    Each component goes through the ``register_*`` hook of its kind; `hook` forces one hook name for
    all of them (e.g. a misspelled one, to test that hosts reject it).
    """
    from vecrender.plugins import REGISTER_HOOKS

    hook_of_kind = {kind: hook_name for hook_name, kind in REGISTER_HOOKS.items()}
    by_hook: dict[str, list[Any]] = {}
    for component in components:
        by_hook.setdefault(hook or hook_of_kind[component.kind], []).append(component)
    module = types.ModuleType(name)
    for hook_name, members in by_hook.items():
        def register_all(register: Any, _members: list[Any] = members) -> None:
            for component in _members:
                register(component)

        register_all.__name__ = hook_name
        setattr(module, hook_name, hookimpl(register_all))
    return module


def _assert_registered(kind: str, name: str, plugin: str | None) -> Any:
    from vecrender.plugins import create_host

    host = create_host()
    broken = {n: info.error for n, info in host.plugins.items() if info.error}
    if plugin is not None and plugin in broken:
        raise ContractError(f"plugin {plugin!r} failed to load: {broken[plugin]}")
    if name not in host.registry.names(kind):
        installed = ", ".join(n for n in host.plugins if not host.plugins[n].builtin) or "none"
        raise ContractError(f"no installed plugin registers the {kind} {name!r}"
                            f"{did_you_mean(name, host.registry.names(kind))} (external plugins loaded: "
                            f"{installed}); is the package installed (pip install -e .) with an entry point "
                            "in the 'vecrender' group?")
    entry = host.registry.entry(kind, name)
    if plugin is not None and entry.plugin != plugin:
        raise ContractError(f"{kind} {name!r} is registered by plugin {entry.plugin!r}, not {plugin!r}.")
    return entry


@contextmanager
def _activate(plugin: Any, name: str) -> Iterator[Any]:
    from vecrender.plugins import ENTRY_POINT_GROUP, PluginHost, _env_set, use_host

    host = PluginHost()
    host.load_builtins()
    module_name = getattr(plugin, "__name__", None)
    same = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value == module_name}
    disabled = (_env_set("VECRENDER_DISABLE_PLUGINS") or set()) | same | {name}
    host.load_entry_points(only=_env_set("VECRENDER_LOAD_PLUGINS"), disabled=disabled)
    host.strict = True  # the plugin under test must load cleanly: raise instead of warning
    host.add(plugin, name)
    with use_host(host):
        yield host


# -- test data ------------------------------------------------------------------------------------
def make_test_image(size: int | tuple[int, int] = 32) -> Tensor:
    """A deterministic RGB test image ``[1, 3, H, W]`` in [0, 1]: shapes in color on white.

    `size` is a side or ``(height, width)``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    image = torch.ones(3, h, w)
    disc = (x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.2 ** 2
    bar = (x > 0.55) & (x < 0.85) & (y > 0.15) & (y < 0.85)
    band = (y > 0.75) & (y < 0.9) & (x < 0.6)
    for mask, color in ((disc, (0.9, 0.2, 0.1)), (bar, (0.1, 0.3, 0.8)), (band, (0.2, 0.6, 0.2))):
        for c in range(3):
            image[c][mask] = color[c]
    return image[None]


def write_test_image(path: str | Path, size: int | tuple[int, int] = 32) -> Path:
    """Write :func:`make_test_image` as a PNG and return its path."""
    from vecrender.images import save_png

    save_png(path, make_test_image(size))
    return Path(path)


def random_scene(num_paths: int = 4, size: int | tuple[int, int] = 16, seed: int = 0, fills: bool = False,
                 segments: int = 2, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> VectorScene:
    """A random, clearly visible scene on a `size` canvas (side, or ``(height, width)``).

    Strokes stay inside the canvas, widths are 1.5-3 px, alphas 0.5-1. With ``fills`` every other
    path is closed and filled (`segments` >= 2 needed), so the scene has ``fill_colors``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    gen = torch.Generator().manual_seed(seed)
    scale = torch.tensor([w, h], dtype=torch.float64)
    starts = 0.25 + 0.5 * torch.rand(num_paths, 1, 2, generator=gen, dtype=torch.float64)
    offsets = (torch.rand(num_paths, 3 * segments, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.3
    points = torch.cat([starts, starts + offsets.cumsum(dim=1)], dim=1).clamp(0.05, 0.95) * scale
    widths = 1.5 + 1.5 * torch.rand(num_paths, generator=gen, dtype=torch.float64)
    colors = torch.rand(num_paths, 4, generator=gen, dtype=torch.float64)
    colors[:, 3] = 0.5 + 0.5 * colors[:, 3]
    closed, fill_colors = torch.zeros(num_paths, dtype=torch.bool), None
    if fills:
        if segments < 2:
            raise ValueError("random_scene(fills=True) needs segments >= 2 for closed paths")
        closed = torch.arange(num_paths) % 2 == 0
        fill_colors = torch.rand(num_paths, 4, generator=gen, dtype=torch.float64)
        fill_colors[:, 3] = 0.5 + 0.5 * fill_colors[:, 3]
    scene = VectorScene(points=points, widths=widths, stroke_colors=colors, fill_colors=fill_colors,
                        closed=closed, width=w, height=h)
    return scene.to(device, dtype=dtype)


# -- building -------------------------------------------------------------------------------------
def _instance(component: Any, base: type, options: dict[str, Any] | None, context: RunContext) -> Any:
    if isinstance(component, type):
        _ensure(issubclass(component, base), f"{component!r} is not a subclass of vecrender.{base.__name__}")
        _check_declaration(component)
        return component.from_dict(options or {}, context)
    _ensure(isinstance(component, base), f"{component!r} is not a vecrender.{base.__name__}")
    _ensure(options is None, "options apply to a component class; pass the class, or an instance only")
    return component


def _check_declaration(cls: type) -> None:
    """The registry's own rules (name, docstring, documented Config)."""
    from vecrender.registry import validate_component

    try:
        validate_component(cls.kind, cls)
    except PluginError as exc:
        raise ContractError(str(exc)) from None


def _fresh(component: Any, options: dict[str, Any] | None, context: RunContext) -> Component:
    """A second, independent instance (same class and config)."""
    if isinstance(component, type):
        return component.from_dict(options or {}, context)
    return type(component)(copy.deepcopy(component.config), context)


def _composite(rgba: Tensor, background: Sequence[float] | None) -> Tensor:
    if background is None:
        return rgba[:, :3]
    bg = torch.tensor(background, dtype=rgba.dtype, device=rgba.device).view(1, 3, 1, 1)
    return rgba[:, :3] + (1 - rgba[:, 3:4]) * bg


def _default_renderer(name: str, context: RunContext) -> Renderer:
    from vecrender.plugins import get_registry

    return get_registry().build("renderer", {"use": name}, context, where="check renderer")


def _terms(value: Any, num_sketches: int, what: str) -> dict[str, Tensor]:
    """Validate a loss output: a tensor [S] or a dict of tensors [S], all finite."""
    terms = value if isinstance(value, dict) else {"value": value}
    _ensure(bool(terms), f"{what} returned an empty dict")
    for key, term in terms.items():
        _ensure(isinstance(term, Tensor), f"{what}: term {key!r} is {type(term).__name__}, expected a Tensor")
        _ensure(tuple(term.shape) == (num_sketches,),
                f"{what}: term {key!r} has shape {list(term.shape)}, expected [{num_sketches}] (one value per "
                "sketch)")
        _ensure(bool(torch.isfinite(term).all()), f"{what}: term {key!r} is not finite: {term.tolist()}")
    return terms


def _expect_error(fn: Callable[[], Any], message: str) -> None:
    try:
        fn()
    except Exception:
        return
    raise ContractError(message)


# -- losses ---------------------------------------------------------------------------------------
def check_loss(loss: type[Loss] | Loss, options: dict[str, Any] | None = None, *,
               needs_target: bool | None = None,
               params: Sequence[str] = ("points", "widths", "stroke_colors"),
               deterministic: bool = False, strict_shapes: bool | None = None, size: int = 16,
               renderer: str = "native", prompt: str | None = None) -> dict[str, Tensor]:
    """Check a loss class (built with `options`) or instance against the Loss contract.

    * ``needs_target`` (when given) matches the class attribute; a target is passed only if needed;
    * the output is ``[S]`` (or a dict of ``[S]`` terms), finite, for S = 2 rendered sketches;
    * gradients of sketch 0's value reach every tensor in `params` of sketch 0 and none of sketch 1;
    * the evaluation pass (``training=False``) is deterministic, and gives each sketch the same
      value when it is scored alone (``sketches=[i]``: a run leaves out the sketches ``early_stop``
      stopped), unless the loss has state; so does the training pass given the same per-sketch
      ``generators`` (a loss draws sketch i's random numbers from ``sketch_generators()[i]``);
    * ``deterministic=True``: float64 ``torch.autograd.gradcheck`` of the evaluation pass w.r.t. the
      images on an 8 px canvas;
    * ``strict_shapes`` (default: ``needs_target``): renders whose size or channels differ from the
      target raise an error instead of being silently broadcast.

    `prompt` is given to the loss through its RunContext (prompt-driven losses). Returns the terms
    of the training pass (detached).
    """
    context = RunContext(width=size, height=size, steps=10, prompt=prompt)
    instance = _instance(loss, Loss, options, context)
    if needs_target is not None:
        _ensure(instance.needs_target == needs_target,
                f"{instance.name}: needs_target is {instance.needs_target}, expected {needs_target}")
    bad = [p for p in params if p not in OPTIMIZABLE]
    _ensure(not bad, f"check_loss params: unknown tensor(s) {bad}; choose from {OPTIMIZABLE}")
    target = make_test_image(size) if instance.needs_target else None
    instance.prepare(target)
    scenes = [random_scene(3, size, seed=s, fills="fill_colors" in params) for s in (1, 2)]
    for scene in scenes:
        scene.requires_grad_(list(params))
    draw = _default_renderer(renderer, context)

    def batch(training: bool) -> LossInput:
        rgba = draw.render(scenes)
        return LossInput(_composite(rgba, scenes[0].background), rgba, scenes, target, 0, training)

    terms = _terms(instance(batch(True)), 2, f"{instance.name} (training pass)")
    total = torch.stack(list(terms.values())).sum(dim=0)
    _ensure(total.requires_grad, f"{instance.name}: the output does not depend on the renders (no gradient)")
    total[0].backward()
    for name in params:
        grad = getattr(scenes[0], name).grad
        _ensure(grad is not None and bool(grad.abs().sum() > 0),
                f"{instance.name}: no gradient reaches sketch 0's {name}: a loss that does not depend on them "
                f"takes check_loss(..., params=[...]) with the tensors it does use; one that is flat on the "
                f"test's random sketches (a penalty not yet active) takes options=... that make it active")
        _ensure(bool(torch.isfinite(grad).all()), f"{instance.name}: gradient of {name} is not finite")
        other = getattr(scenes[1], name).grad
        _ensure(other is None or bool((other == 0).all()),
                f"{instance.name}: sketch 0's value depends on sketch 1's {name}; each sketch's loss must "
                "depend on that sketch only")
    with torch.no_grad():
        first = _terms(instance(batch(False)), 2, f"{instance.name} (evaluation pass)")
        second = _terms(instance(batch(False)), 2, f"{instance.name} (evaluation pass)")
    for key in first:
        _ensure(torch.allclose(first[key], second[key]),
                f"{instance.name}: evaluation pass (training=False) is not deterministic for {key!r}")
    if not instance.state_dict():  # as a run scores the sketches early_stop has not stopped
        _check_alone_as_beside(instance, draw, scenes, target, first)
    if deterministic:
        _gradcheck_loss(instance, options, loss)
    if strict_shapes if strict_shapes is not None else instance.needs_target:
        _check_loss_shapes(instance, scenes, size)
    return {k: v.detach() for k, v in terms.items()}


def _check_alone_as_beside(instance: Loss, draw: Renderer, scenes: list[VectorScene], target: Tensor | None,
                           evaluated: dict[str, Tensor]) -> None:
    """Each sketch scored alone (as once early_stop has stopped the other, or in a run of its own)
    gets the value it gets beside the other: in the evaluation pass, and in the training pass with
    the same per-sketch generators."""
    def score(chosen: list[int], training: bool) -> dict[str, Tensor]:
        rgba = draw.render([scenes[i] for i in chosen])
        generators = [torch.Generator().manual_seed(i) for i in chosen]
        batch = LossInput(_composite(rgba, scenes[chosen[0]].background), rgba, [scenes[i] for i in chosen], target, 0,
                          training, sketches=chosen, generators=generators)
        return _terms(instance(batch), len(chosen), f"{instance.name} ({len(chosen)} sketches)")

    with torch.no_grad():
        beside = {False: evaluated, True: score([0, 1], True)}
        for training, advice in ((False, "each sketch's value must depend on that sketch only"),
                                 (True, "draw sketch i's random numbers from batch.sketch_generators()[i], so a "
                                        "sketch draws the same whatever runs beside it")):
            for i in (0, 1):
                alone = score([i], training)
                for key, together in beside[training].items():
                    _ensure(torch.allclose(alone[key][0], together[i]),
                            f"{instance.name}: in the {'training' if training else 'evaluation'} pass, sketch {i} "
                            f"scored alone (as once early_stop has stopped the other; with the same generators) "
                            f"differs from its value beside sketch {1 - i} for {key!r}; {advice}")


def _gradcheck_loss(instance: Loss, options: dict[str, Any] | None, loss: Any) -> None:
    small = 8
    checked = _fresh(loss, options, RunContext(width=small, height=small, steps=10,
                                               prompt=instance.context.prompt))
    target = make_test_image(small).double() if checked.needs_target else None
    checked.prepare(target)
    gen = torch.Generator().manual_seed(0)
    images = (0.1 + 0.8 * torch.rand(2, 3, small, small, generator=gen, dtype=torch.float64)).requires_grad_()
    rgba = torch.cat([images.detach(), torch.ones(2, 1, small, small, dtype=torch.float64)], dim=1)
    scenes = [random_scene(2, small, seed=s, dtype=torch.float64) for s in (1, 2)]

    def fn(imgs: Tensor) -> Tensor:
        out = checked(LossInput(imgs, rgba, scenes, target, 0, False))
        terms = out if isinstance(out, dict) else {"value": out}
        return torch.stack(list(terms.values())).sum(dim=0)

    try:
        ok = torch.autograd.gradcheck(fn, (images,), eps=1e-6, atol=1e-5, rtol=1e-3)
    except Exception as exc:  # gradcheck raises GradcheckError with the mismatching Jacobians
        raise ContractError(f"{instance.name}: float64 gradcheck failed: {exc}") from None
    _ensure(ok, f"{instance.name}: float64 gradcheck failed")


def _check_loss_shapes(instance: Loss, scenes: list[VectorScene], size: int) -> None:
    target = make_test_image(size)
    wrong_size = torch.rand(2, 3, size + 4, size)
    wrong_channels = torch.rand(2, 2, size, size)
    for images, what in ((wrong_size, f"renders of {size}x{size + 4} for a {size}x{size} target"),
                         (wrong_channels, "renders with 2 channels")):
        rgba = torch.ones(2, 4, *images.shape[2:])
        _expect_error(lambda i=images, r=rgba: instance(LossInput(i, r, scenes, target, 0, False)),
                      f"{instance.name}: {what} were accepted; a loss comparing with the target must reject "
                      "mismatched shapes with an error")


# -- renderers ------------------------------------------------------------------------------------
def check_renderer(renderer: type[Renderer] | Renderer, options: dict[str, Any] | None = None, *,
                   params: Sequence[str] = ("points",), size: int = 16, fills: bool = False,
                   atol: float = 1e-5) -> Tensor:
    """Check a renderer against the Renderer contract on two random scenes (``size`` x ``size``+4).

    Output ``[S, 4, H, W]`` float in [0, 1], finite, premultiplied (``rgb <= alpha``), something drawn,
    deterministic, the same whether scenes are rendered together or one by one, a scene with zero
    widths (and no fill) transparent, and gradients reaching `params` of every scene. ``fills`` uses
    scenes with closed filled paths, and checks their fills are drawn. Returns the render of the two
    scenes.
    """
    h, w = size, size + 4  # non-square: catches swapped width/height
    context = RunContext(width=w, height=h)
    instance = _instance(renderer, Renderer, options, context)
    scenes = [random_scene(3, (h, w), seed=s, fills=fills) for s in (1, 2)]
    for scene in scenes:
        scene.requires_grad_(list(params))
    rgba = instance.render(scenes)
    name = instance.name
    _ensure(isinstance(rgba, Tensor) and tuple(rgba.shape) == (2, 4, h, w),
            f"{name}: expected a tensor [2, 4, {h}, {w}], got {getattr(rgba, 'shape', type(rgba).__name__)}")
    _ensure(rgba.is_floating_point() and bool(torch.isfinite(rgba).all()), f"{name}: output is not finite float")
    _ensure(bool((rgba >= -atol).all() and (rgba <= 1 + atol).all()), f"{name}: values outside [0, 1]")
    _ensure(bool((rgba[:, :3] <= rgba[:, 3:4] + 1e-4).all()),
            f"{name}: rgb exceeds alpha; the output must be premultiplied RGBA")
    _ensure(bool((rgba[:, 3].amax(dim=(1, 2)) > 0.1).all()), f"{name}: nothing drawn for a visible scene")
    with torch.no_grad():
        again = instance.render(scenes)
        _ensure(torch.allclose(rgba, again, atol=atol), f"{name}: rendering twice gives different images")
        for i, scene in enumerate(scenes):
            alone = instance.render([scene])
            _ensure(torch.allclose(rgba[i:i + 1], alone, atol=1e-4),
                    f"{name}: scene {i} renders differently alone than in a batch (max difference "
                    f"{(rgba[i:i + 1] - alone).abs().max().item():.2e})")
        empty = scenes[0].detach()
        empty.widths.zero_()
        if empty.fill_colors is not None:
            empty.fill_colors[:, 3] = 0
        blank = instance.render([empty])
        _ensure(bool(blank.abs().max() < 1e-3), f"{name}: a scene with zero-width strokes is not transparent")
        if fills:
            filled = scenes[0].detach()
            filled.widths.zero_()
            _ensure(bool(instance.render([filled])[:, 3].max() > 0.1),
                    f"{name}: fills are not drawn (filled paths with zero-width strokes render transparent); draw "
                    "fill_colors, or check the renderer without fills=True")
    weights = torch.rand(rgba.shape, generator=torch.Generator().manual_seed(0))
    (rgba * weights).sum().backward()
    for i, scene in enumerate(scenes):
        for p in params:
            grad = getattr(scene, p).grad
            _ensure(grad is not None and bool(grad.abs().sum() > 0), f"{name}: no gradient reaches scene {i}'s {p}")
            _ensure(bool(torch.isfinite(grad).all()), f"{name}: gradient of scene {i}'s {p} is not finite")
    return rgba.detach()


# -- initializers ---------------------------------------------------------------------------------
def check_initializer(initializer: type[Initializer] | Initializer, options: dict[str, Any] | None = None,
                      *, num_paths: int = 4, size: int = 32, target: Tensor | None | str = "image",
                      exact_count: bool = True) -> VectorScene:
    """Check an initializer against the Initializer contract on a ``size`` x ``3/4 size`` canvas.

    It returns a VectorScene with `num_paths` paths (``exact_count``) on the context's canvas, finite
    points, non-negative widths, colors in [0, 1]; equal scenes for equal seeds and different points
    for different seeds; ``finish()`` runs. ``target="image"`` passes a generated test image, None
    none. Returns the scene of seed 0.
    """
    width, height = size, max(size * 3 // 4, 1)
    context = RunContext(width=width, height=height, seed=0, steps=10)
    instance = _instance(initializer, Initializer, options, context)
    image = make_test_image((height, width)) if isinstance(target, str) else target
    name = instance.name
    scene = instance.initialize(num_paths, 0, image)
    _ensure(isinstance(scene, VectorScene), f"{name}: initialize returned {type(scene).__name__}, not a VectorScene")
    if exact_count:
        _ensure(scene.num_paths == num_paths, f"{name}: {scene.num_paths} paths for num_paths={num_paths}")
    _ensure((scene.width, scene.height) == (width, height),
            f"{name}: scene canvas {scene.width}x{scene.height}, expected the context's {width}x{height}")
    _ensure(scene.points.is_floating_point() and bool(torch.isfinite(scene.points).all()),
            f"{name}: points must be finite floats")
    _ensure(bool((scene.widths >= 0).all()), f"{name}: negative widths")
    for colors_name in ("stroke_colors", "fill_colors"):
        colors = getattr(scene, colors_name)
        if colors is not None:
            _ensure(bool(((colors >= 0) & (colors <= 1)).all()), f"{name}: {colors_name} outside [0, 1]")
    again = instance.initialize(num_paths, 0, image)
    for tensor_name, tensor in scene.tensors():
        other = getattr(again, tensor_name)
        _ensure(other is not None and torch.equal(tensor, other),
                f"{name}: two calls with seed 0 give different {tensor_name}; initialize must be deterministic "
                "for a seed (use a torch.Generator seeded with it)")
    different = instance.initialize(num_paths, 1, image)
    _ensure(different.points.shape != scene.points.shape or not torch.equal(different.points, scene.points),
            f"{name}: seeds 0 and 1 give the same points; the seed must change the initialisation")
    instance.finish()
    return scene


# -- optimizers -----------------------------------------------------------------------------------
def _objective(scenes: Sequence[VectorScene]) -> Tensor:
    """A smooth objective of every optimised tensor (pulls points to the center, values to mid-range)."""
    total = torch.zeros((), dtype=torch.float64)
    for scene in scenes:
        goals = {"points": torch.tensor([scene.width / 2, scene.height / 2]), "widths": torch.tensor(2.0),
                 "stroke_colors": torch.tensor(0.5), "fill_colors": torch.tensor(0.5),
                 "gradient_frames": torch.tensor(0.0), "gradient_stops": torch.tensor(0.5)}
        for name in OPTIMIZABLE:
            t = getattr(scene, name)
            if t is not None and t.requires_grad:
                total = total + (t.double() - goals[name].to(t.device).double()).pow(2).mean()
    return total


def check_optimizer(optimizer: type[Optimizer] | Optimizer, options: dict[str, Any] | None = None, *,
                    steps: int = 20, size: int = 16, fills: bool = False) -> None:
    """Check an optimizer against the Optimizer contract on two random scenes.

    ``setup`` marks at least one scene tensor ``requires_grad``; ``steps`` updates decrease a smooth
    objective; ``zero_grad`` clears the gradients; ``state_dict`` survives a round trip into a fresh
    instance (``load_state_dict``): both then take the same next step.
    """
    context = RunContext(width=size, height=size, steps=steps)
    instance = _instance(optimizer, Optimizer, options, context)
    name = instance.name
    scenes = [random_scene(3, size, seed=s, fills=fills) for s in (1, 2)]
    instance.setup(scenes)
    optimised = [t for s in scenes for _, t in s.tensors() if t.requires_grad]
    _ensure(bool(optimised), f"{name}: setup() marked no scene tensor requires_grad")
    start = _objective(scenes).item()
    for step in range(steps):
        instance.zero_grad()
        _objective(scenes).backward()
        instance.step(step)
    end = _objective(scenes).item()
    _ensure(end < start, f"{name}: {steps} steps did not decrease a smooth objective ({start:.4g} -> {end:.4g})")
    instance.zero_grad()
    _ensure(all(t.grad is None or bool((t.grad == 0).all()) for t in optimised),
            f"{name}: zero_grad() left gradients")
    state = copy.deepcopy(instance.state_dict())
    copies = [s.detach() for s in scenes]
    restored = _fresh(optimizer, options, context)
    restored.setup(copies)
    restored.load_state_dict(state)
    for opt, group in ((instance, scenes), (restored, copies)):
        opt.zero_grad()
        _objective(group).backward()
        opt.step(steps)
    for a, b in zip(scenes, copies):
        for tensor_name, tensor in a.tensors():
            _ensure(torch.allclose(tensor, getattr(b, tensor_name), atol=1e-6),
                    f"{name}: after load_state_dict the next step differs for {tensor_name}; state_dict must "
                    "hold everything a resumed run needs")


# -- preprocessors --------------------------------------------------------------------------------
def check_preprocessor(preprocessor: type[Preprocessor] | Preprocessor, options: dict[str, Any] | None = None,
                       *, size: tuple[int, int] = (20, 30)) -> Tensor:
    """Check a preprocessor on a non-square ``(height, width)`` test image.

    The output is ``[1, 3, h', w']`` float, finite, in [0, 1], deterministic, and the input is not
    modified in place. Returns the output.
    """
    context = RunContext(width=32, height=32)
    instance = _instance(preprocessor, Preprocessor, options, context)
    name = instance.name
    image = make_test_image(size)
    original = image.clone()
    out = instance(image)
    _ensure(torch.equal(image, original), f"{name}: modified its input in place")
    _ensure(isinstance(out, Tensor) and out.dim() == 4 and out.shape[:2] == (1, 3),
            f"{name}: expected [1, 3, h, w], got {getattr(out, 'shape', type(out).__name__)}")
    _ensure(out.is_floating_point() and bool(torch.isfinite(out).all()), f"{name}: output is not finite float")
    _ensure(bool((out >= -1e-6).all() and (out <= 1 + 1e-6).all()), f"{name}: values outside [0, 1]")
    _ensure(torch.allclose(out, instance(image.clone())), f"{name}: not deterministic")
    return out


# -- runs -----------------------------------------------------------------------------------------
def run_smoke(recipe: str | Path, out_dir: str | Path | None = None, *, steps: int = 2, size: int = 32,
              input_image: str | Path | None = None, overrides: Sequence[str] = ()) -> Any:
    """Run a method or recipe file for a few steps on a tiny CPU canvas; returns the RunResult.

    A generated test image is used when the recipe needs an input and `input_image` is None; outputs
    go to `out_dir` (a new temporary folder when None). `overrides` (``"key=value"``) come last.
    """
    from vecrender.plugins import get_registry
    from vecrender.recipe import load_recipe
    from vecrender.runner import RunOptions, run

    registry = get_registry()
    base = [f"steps={steps}", f"canvas={size}", "eval_every=1", "log_every=1", "save_every=0", "device=cpu"]
    loaded = load_recipe(str(recipe), [*base, *overrides], registry)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vecrender-smoke-"))
    if input_image is None and _needs_input(loaded, registry):
        input_image = write_test_image(Path(tempfile.mkdtemp(prefix="vecrender-input-")) / "input.png", size)
    options = RunOptions(input_path=None if input_image is None else Path(input_image), out_dir=out,
                         overwrite=True, quiet=True)
    return run(loaded, options)


def _needs_input(recipe: Any, registry: Any) -> bool:
    """True when the recipe's method needs an input or one of its (non-zero) losses needs a target."""
    method = recipe.method
    if method is not None and method in registry.names("method") and registry.get("method", method).needs_input:
        return True
    return any(entry["weight"] != 0 and entry["use"] in registry.names("loss")
               and registry.get("loss", entry["use"]).needs_target for entry in recipe.losses)
