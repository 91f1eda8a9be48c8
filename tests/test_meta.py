"""Meta-tests: the plugin system keeps its promises for every hook, component, method and bundle.

* every hook spec is documented in the generated hook reference and exercised by a test below
  (``HOOK_TESTS`` is asserted complete);
* every installed component has a description and documented options, and no plugin is broken;
* every installed method runs 2 steps on a tiny canvas, or (when it needs pretrained weights that
  are not here) its bundle has its own smoke test;
* importing a plugin's entry-point module is cheap: no CLIP, torchvision, LPIPS or kornia;
* `vecrender plugins` / `vecrender list` show each component's distribution, and a broken plugin
  appears with its error instead of breaking the command.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

import vecrender
from vecrender import hookspecs, testing
from vecrender.config import describe_config
from vecrender.errors import ConfigError, WeightsNotFoundError
from vecrender.plugins import BUILTIN_PLUGINS, PluginHost, create_host
from vecrender.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "vecrender_spec"))
#: Modules a plugin's entry point must not import (they load seconds of code or model weights).
HEAVY_MODULES = ("open_clip", "clip", "torchvision", "lpips", "kornia", "pytorch_msssim", "skimage", "scipy")
#: Where the tests of our own bundles live (a bundle method that needs weights is smoke-tested there).
BUNDLE_DIRS = {
    "vecrender-clipasso": REPO / "plugins" / "clipasso",
    "vecrender-losses": REPO / "plugins" / "losses",
    "vecrender-example": REPO / "docs" / "plugins" / "example",
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECRENDER_")}
    env.update(extra)
    return env


# -- a plugin implementing every hook ------------------------------------------------------------
CALLS: dict[str, int] = {}


def _count(what: str) -> None:
    CALLS[what] = CALLS.get(what, 0) + 1


class MetaFlat(vecrender.Renderer):
    """The native rasteriser with every stroke's alpha scaled by `opacity`."""

    name = "meta.flat"

    @dataclass
    class Config:
        opacity: float = vecrender.option(1.0, "Factor on every stroke's alpha.")

    def render(self, scenes):
        from vecrender.functional import render_native

        _count("render")
        out = []
        for s in scenes:
            colors = s.stroke_colors * torch.tensor([1.0, 1.0, 1.0, self.config.opacity], dtype=s.points.dtype)
            out.append(render_native(s.points[None], s.widths[None], colors[None], None, s.closed,
                                        s.num_segments, s.even_odd, s.height, s.width))
        return torch.cat(out)


class MetaDiagonal(vecrender.Initializer):
    """Black strokes along the canvas diagonal, jittered by the seed."""

    name = "meta.diagonal"

    @dataclass
    class Config:
        width: float = vecrender.option(2.0, "Stroke width in pixels.")

    def initialize(self, num_paths, seed, target):
        _count("initialize")
        gen = torch.Generator().manual_seed(seed)
        w, h = self.context.width, self.context.height
        t = (torch.arange(num_paths)[:, None] + torch.linspace(0, 0.8, 4)[None]) / max(num_paths, 1)
        points = torch.stack([t * w, t * h], dim=-1) + torch.rand(num_paths, 4, 2, generator=gen)
        return vecrender.VectorScene(points=points, widths=torch.full((num_paths,), self.config.width),
                                     stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(num_paths, 1),
                                     width=w, height=h)


class MetaMeanInk(vecrender.Loss):
    """Mean darkness of each sketch."""

    name = "meta.mean_ink"

    def forward(self, batch):
        _count("loss")
        return 1.0 - batch.images.mean(dim=(1, 2, 3))


class MetaSgd(vecrender.Optimizer):
    """Plain gradient descent on the points."""

    name = "meta.sgd"

    @dataclass
    class Config:
        lr: float = vecrender.option(0.5, "Step size.")

    def setup(self, scenes):
        self.opt = torch.optim.SGD([t for s in scenes for t in s.requires_grad_(["points"])], lr=self.config.lr)

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self, step):
        _count("step")
        self.opt.step()

    def state_dict(self):
        return self.opt.state_dict()

    def load_state_dict(self, state):
        self.opt.load_state_dict(state)


class MetaGray(vecrender.Preprocessor):
    """Converts the target to gray."""

    name = "meta.gray"

    def __call__(self, image):
        _count("preprocess")
        return image.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).clone()


META_RECIPE = {
    "extends": "painterly",
    "description": "Every component of the meta plugin.",
    "strokes": 3,
    "preprocess": [{"use": "meta.gray"}],
    "renderer": {"use": "meta.flat", "opacity": 0.9},
    "initializer": {"use": "meta.diagonal"},
    "losses": [{"use": "meta.mean_ink", "label": "ink", "weight": 0.1}],
    "optimizer": {"use": "meta.sgd"},
}


def _meta_plugin() -> types.ModuleType:
    module = types.ModuleType("vecrender_meta_plugin")

    @vecrender.hookimpl
    def register_renderers(register):
        register(MetaFlat)

    @vecrender.hookimpl
    def register_initializers(register):
        register(MetaDiagonal)

    @vecrender.hookimpl
    def register_losses(register):
        register(MetaMeanInk)

    @vecrender.hookimpl
    def register_optimizers(register):
        register(MetaSgd)

    @vecrender.hookimpl
    def register_preprocessors(register):
        register(MetaGray)

    @vecrender.hookimpl
    def register_methods(register):
        register(vecrender.Method(name="meta.all", description="Every meta component.", recipe=META_RECIPE))

    @vecrender.hookimpl
    def register_commands(cli):
        @cli.command(name="meta-hello")
        @click.argument("who")
        def hello(who):
            """Say hello."""
            click.echo(f"hello {who}")

    for fn in (register_renderers, register_initializers, register_losses, register_optimizers,
               register_preprocessors, register_methods, register_commands):
        setattr(module, fn.__name__, fn)
    return module


@pytest.fixture
def meta_host():
    with testing.registered(_meta_plugin(), name="meta") as host:
        yield host


# -- one test per hook ----------------------------------------------------------------------------
def test_hook_register_renderers(meta_host):
    assert meta_host.registry.entry("renderer", "meta.flat").plugin == "meta"
    half = testing.check_renderer(MetaFlat, {"opacity": 0.5})
    full = testing.check_renderer(MetaFlat, {"opacity": 1.0})
    assert half[:, 3].sum() < 0.8 * full[:, 3].sum()  # the option reached the component


def test_hook_register_initializers(meta_host):
    assert meta_host.registry.get("initializer", "meta.diagonal") is MetaDiagonal
    scene = testing.check_initializer(MetaDiagonal, {"width": 3.0})
    assert torch.all(scene.widths == 3.0)


def test_hook_register_losses(meta_host):
    assert meta_host.registry.get("loss", "meta.mean_ink") is MetaMeanInk
    terms = testing.check_loss(MetaMeanInk)
    assert ((terms["value"] > 0) & (terms["value"] < 1)).all()


def test_hook_register_optimizers(meta_host):
    assert meta_host.registry.get("optimizer", "meta.sgd") is MetaSgd
    testing.check_optimizer(MetaSgd)


def test_hook_register_preprocessors(meta_host):
    assert meta_host.registry.get("preprocessor", "meta.gray") is MetaGray
    out = testing.check_preprocessor(MetaGray)
    assert torch.allclose(out[:, 0], out[:, 1])


def test_hook_register_methods(meta_host, tmp_path):
    """The method's recipe uses every meta component; the run really calls each of them."""
    CALLS.clear()
    result = testing.run_smoke("meta.all", tmp_path, steps=2)
    assert result.status == "finished" and result.steps_done == 2
    assert CALLS["preprocess"] == 1 and CALLS["initialize"] >= 1
    assert CALLS["step"] == 2 and CALLS["loss"] >= 2 and CALLS["render"] >= 2
    resolved = (tmp_path / "recipe.resolved.yaml").read_text()
    assert "meta.flat" in resolved and "opacity: 0.9" in resolved


def test_hook_register_commands(meta_host):
    group = click.Group("vecrender")
    meta_host.add_commands(group)
    assert "new-plugin" in group.commands  # the built-in commands plugin uses the same hook
    result = CliRunner().invoke(group, ["meta-hello", "world"])
    assert result.exit_code == 0 and result.output == "hello world\n"


HOOK_TESTS = {
    "register_renderers": test_hook_register_renderers,
    "register_initializers": test_hook_register_initializers,
    "register_losses": test_hook_register_losses,
    "register_optimizers": test_hook_register_optimizers,
    "register_preprocessors": test_hook_register_preprocessors,
    "register_methods": test_hook_register_methods,
    "register_commands": test_hook_register_commands,
}


def test_every_hook_is_exercised_by_a_test():
    assert sorted(HOOK_TESTS) == HOOKS, "add a test for the new hook to HOOK_TESTS"
    for hook, test in HOOK_TESTS.items():
        assert test.__name__ == f"test_hook_{hook}"


def test_every_hook_is_implemented_by_a_builtin_plugin():
    """Built-ins are plugins: each hook is proven by our own code."""
    host = PluginHost()
    host.load_builtins()
    implemented = {hook for info in host.plugins.values() for hook in info.hooks}
    assert set(HOOKS) <= implemented, sorted(set(HOOKS) - implemented)
    assert set(host.plugins) == set(BUILTIN_PLUGINS)


def test_every_hook_is_documented_in_the_reference():
    sys.path.insert(0, str(REPO / "docs"))
    try:
        import gen_hooks
    finally:
        sys.path.pop(0)
    page = gen_hooks.render()
    for name in HOOKS:
        section = page.split(f"\n## {name}\n", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n## ", 1)[0]
        first_line = gen_hooks.rst_to_markdown(inspect.getdoc(getattr(hookspecs, name))).splitlines()[0]
        assert first_line in body and "Example" in body and "```python" in body
    committed = (REPO / "docs" / "plugins" / "hooks.md").read_text(encoding="utf-8")
    assert committed == page, "docs/plugins/hooks.md is stale: run python docs/gen_hooks.py"


# -- installed components and methods -------------------------------------------------------------
HOST = create_host()


def test_no_installed_plugin_is_broken():
    broken = {name: info.error for name, info in HOST.plugins.items() if info.error}
    assert not broken


@pytest.mark.parametrize("entry", [e for kind in ("renderer", "initializer", "loss", "optimizer", "preprocessor")
                                   for e in HOST.registry.entries(kind)], ids=lambda e: f"{e.kind}:{e.name}")
def test_every_component_is_documented(entry):
    from vecrender.cli import describe_entry

    assert len(entry.description) > 10, entry.description
    for field in describe_config(entry.obj.Config):
        assert len(field.doc) > 5, f"{entry.name}.{field.name} has no documentation"
    assert entry.distribution, f"{entry.name}: no providing distribution recorded"
    assert entry.name in describe_entry(entry)


def _bundle_smoke_tested(method: str, distribution: str | None) -> bool:
    folder = BUNDLE_DIRS.get(distribution or "")
    if folder is None or not (folder / "tests").is_dir():
        return False
    quoted = re.compile(rf"""["']{re.escape(method)}["']""")
    return any(quoted.search(text) and ("run_smoke" in text or "RunOptions" in text)
               for text in (p.read_text(encoding="utf-8") for p in (folder / "tests").rglob("test_*.py")))


@pytest.mark.parametrize("entry", HOST.registry.entries("method"), ids=lambda e: e.name)
def test_every_method_runs_two_steps(entry, tmp_path, monkeypatch):
    """Methods without pretrained weights run here; the others (and those that need an option the
    user gives, such as styleclipdraw's style image) must be smoke-tested in their bundle."""
    monkeypatch.setenv("VECRENDER_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.chdir(tmp_path)  # no ./checkpoint folder
    overrides = ["strokes=4"] + ([] if entry.obj.needs_input else ["prompt=a red apple"])
    staged = load_recipe(entry.name, registry=HOST.registry).stages is not None
    if staged:  # a staged method (e.g. vectorize_live): 2 stages of 2 paths, 2 steps each
        overrides.append("stages=[2, 2]")
    try:
        result = testing.run_smoke(entry.name, tmp_path / "out", steps=2, size=32, overrides=overrides)
    except (WeightsNotFoundError, ConfigError) as exc:
        assert _bundle_smoke_tested(entry.name, entry.distribution), (
            f"method {entry.name!r} does not run as it is ({exc}); its bundle ({entry.distribution}) must "
            "smoke-run it in its own tests (run_smoke), with tiny random-weight models and the options it needs")
        return
    assert result.status == "finished" and result.steps_done == (4 if staged else 2)
    assert result.outputs and all(p.is_file() for p in result.outputs.values())
    assert (tmp_path / "out" / "recipe.resolved.yaml").is_file()


# -- cheap imports -------------------------------------------------------------------------------
def test_entry_point_modules_import_no_heavy_library():
    modules = ["vecrender", "vecrender.plugins", *BUILTIN_PLUGINS]
    modules += sorted({ep.value.split(":")[0] for ep in entry_points(group="vecrender")})
    code = textwrap.dedent(f"""
        import importlib, json, sys
        heavy = {HEAVY_MODULES!r}
        report = {{}}
        for name in {modules!r}:
            importlib.import_module(name)
            report[name] = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        json.dump(report, sys.stdout)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    offenders = {name: mods for name, mods in report.items() if mods}
    assert not offenders, f"entry-point modules import heavy libraries at import time: {offenders}"


# -- plugins / list with a broken plugin ------------------------------------------------------------
BROKEN_CASES = {
    "import_error": ("import missing_dependency_xyz\n", "ModuleNotFoundError"),
    "misspelled_hook": ("import vecrender\n\n@vecrender.hookimpl\ndef register_loss(register):\n    pass\n",
                        "register_loss"),
    "no_docstring": (
        "import vecrender\n\nclass Bare(vecrender.Loss):\n    name = 'broken.bare'\n\n"
        "    def forward(self, batch):\n        return batch.images.mean(dim=(1, 2, 3))\n\n"
        "@vecrender.hookimpl\ndef register_losses(register):\n    register(Bare)\n",
        "no docstring"),
}

GOOD_PLUGIN = '''
from dataclasses import dataclass
import vecrender

class Ink(vecrender.Loss):
    """Mean ink of each sketch (a working third-party loss)."""
    name = "good.ink"

    def forward(self, batch):
        return 1.0 - batch.images.mean(dim=(1, 2, 3))

@vecrender.hookimpl
def register_losses(register):
    register(Ink)
'''


def _install_fake(site: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    """A distribution as pip leaves it: a module plus dist-info with an entry point."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[vecrender]\n{ep_name} = {module}\n")


def _vecrender(site: Path, *args: str, strict: bool = False) -> subprocess.CompletedProcess:
    env = _env(PYTHONPATH=str(site))
    if strict:
        env["VECRENDER_STRICT_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-m", "vecrender.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=site)


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    _install_fake(site, "good-plugin", "good", "good_plugin_mod", GOOD_PLUGIN)
    for case, (source, _) in BROKEN_CASES.items():
        _install_fake(site, f"broken-{case.replace('_', '-')}", f"broken_{case}", f"broken_{case}_mod", source)
    return site


@pytest.mark.slow
def test_plugins_command_reports_broken_plugins_and_keeps_working(fake_site):
    proc = _vecrender(fake_site, "plugins")
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    for case, (_, needle) in BROKEN_CASES.items():
        info = plugins[f"broken_{case}"]
        assert info["distribution"] == f"broken-{case.replace('_', '-')}" and info["version"] == "0.3"
        assert needle in info["error"], info
        assert f"broken_{case}" in proc.stderr  # also warned about on stderr
    assert plugins["good"]["distribution"] == "good-plugin" and "error" not in plugins["good"]
    assert plugins["good"]["hooks"] == ["register_losses"]
    assert plugins["vecrender.builtins.losses"]["builtin"] is True


@pytest.mark.slow
def test_list_shows_distributions_and_broken_plugins(fake_site):
    proc = _vecrender(fake_site, "list", "losses")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^\s+good\.ink\s+\[good-plugin 0\.3\]\s+Mean ink of each sketch", out, re.M), out
    assert re.search(r"^\s+l2\s+\[vecrender [\d.]+\]", out, re.M), out
    assert not re.search(r"^\s+broken\.bare\s+\[", out, re.M)  # the invalid component is not registered...
    for case, (_, needle) in BROKEN_CASES.items():  # ...and its plugin is reported with the reason
        assert re.search(rf"^\s+broken_{case}: .*{re.escape(needle)}", out, re.M), out


@pytest.mark.slow
def test_strict_mode_makes_a_broken_plugin_an_error(fake_site):
    proc = _vecrender(fake_site, "list", strict=True)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "broken_" in proc.stderr and "Traceback" not in proc.stderr
