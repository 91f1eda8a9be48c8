"""Plugins from the outside: a throwaway plugin in a run, broken plugins, selection by environment,
cheap imports, and the painterly acceptance run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

import vecrender
import vecrender.plugins
from vecrender.errors import PluginError
from vecrender.plugins import PluginHost, create_host
from vecrender.testing import plugin_module, registered, run_smoke, write_test_image


# -- a throwaway plugin used in a recipe run ------------------------------------------------------
class CenterWeightedL2(vecrender.Loss):
    """Squared error to the target, weighted toward the canvas center (test plugin)."""

    name = "tp.center_l2"
    needs_target = True

    def forward(self, batch):
        h, w = batch.images.shape[2:]
        y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        weight = (1.5 - (x ** 2 + y ** 2) / 2).to(batch.images)
        return ((batch.images - batch.target) ** 2 * weight).mean(dim=(1, 2, 3))


def test_plugin_loss_in_a_recipe_run(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(textwrap.dedent("""\
        extends: painterly
        strokes: 3
        losses:
          - {use: tp.center_l2, weight: 0.5, label: center}
    """))
    with registered(plugin_module(CenterWeightedL2), name="tp"):
        result = run_smoke(recipe, tmp_path / "out", steps=3)
    assert result.status == "finished"
    resolved = (tmp_path / "out" / "recipe.resolved.yaml").read_text()
    assert "use: tp.center_l2" in resolved and "label: center" in resolved
    lines = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert any("center" in json.dumps(line) for line in lines)


# -- broken plugins -------------------------------------------------------------------------------
def fake_entry_points(monkeypatch, tmp_path: Path, modules: dict[str, str]) -> None:
    """Entry points `name = name` for modules written to tmp_path (imported on load)."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name, name, "vecrender") for name in modules]
    monkeypatch.setattr(vecrender.plugins, "entry_points", lambda group: eps if group == "vecrender" else [])
    for name in modules:
        sys.modules.pop(name, None)


GOOD = """
    import vecrender

    class Dark(vecrender.Loss):
        \"\"\"Darkness.\"\"\"
        name = "good.dark"
        def forward(self, batch):
            return 1 - batch.images.mean(dim=(1, 2, 3))

    @vecrender.hookimpl
    def register_losses(register):
        register(Dark)
"""
RAISES = "raise RuntimeError('boom: missing dependency')\n"
MISSPELLED = """
    import vecrender

    @vecrender.hookimpl
    def register_losss(register):
        pass
"""
CLASH = GOOD.replace('"good.dark"', '"l2"')


def test_plugin_raising_on_import_is_skipped_with_warning(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"goodplug": GOOD, "badplug": RAISES})
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append)
    host.load_builtins()
    host.load_entry_points()
    assert "good.dark" in host.registry.names("loss") and "l2" in host.registry.names("loss")
    assert host.plugins["badplug"].error == "RuntimeError: boom: missing dependency"
    assert warnings == ["vecrender: skipping plugin 'badplug': RuntimeError: boom: missing dependency"]


def test_strict_mode_makes_a_broken_plugin_fatal(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"badplug": RAISES})
    monkeypatch.setenv("VECRENDER_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'badplug' failed to load: RuntimeError: boom"):
        create_host()


def test_load_and_disable_plugins_env(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"goodplug": GOOD, "badplug": RAISES})
    monkeypatch.setenv("VECRENDER_LOAD_PLUGINS", "goodplug")
    host = create_host()
    assert "good.dark" in host.registry.names("loss") and "badplug" not in host.plugins
    monkeypatch.setenv("VECRENDER_LOAD_PLUGINS", "")
    host = create_host()
    assert "goodplug" not in host.plugins and "l2" in host.registry.names("loss")
    monkeypatch.delenv("VECRENDER_LOAD_PLUGINS")
    monkeypatch.setenv("VECRENDER_DISABLE_PLUGINS", "badplug, other")
    host = create_host()
    assert "goodplug" in host.plugins and "badplug" not in host.plugins


def test_misspelled_hook_is_caught(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"typoplug": MISSPELLED})
    host = PluginHost(warn=lambda m: None)
    host.load_entry_points()
    assert "register_losss" in host.plugins["typoplug"].error
    with pytest.raises(PluginError, match="register_losss"):
        with registered(plugin_module(CenterWeightedL2, hook="register_losss")):
            pass


def test_two_plugins_with_the_same_name(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"clashplug": CLASH})
    host = PluginHost(warn=lambda m: None)
    host.load_builtins()
    host.load_entry_points()
    error = host.plugins["clashplug"].error
    assert "loss 'l2' is registered by both plugin 'vecrender.builtins.losses' and plugin 'clashplug'" in error
    assert host.registry.entry("loss", "l2").plugin == "vecrender.builtins.losses"  # the built-in stays


# -- the CLI with a broken plugin installed (a real dist-info on sys.path, in a subprocess) ---------
@pytest.fixture
def broken_dist(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "brokenplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vecrender]\nbrokenplug = brokenplug_mod\n")
    (site / "brokenplug_mod.py").write_text(RAISES)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vecrender.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_survives_a_broken_plugin(broken_dist):
    proc = cli(broken_dist, "list", "losses")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "vecrender: skipping plugin 'brokenplug': RuntimeError: boom" in proc.stderr
    assert "l2" in proc.stdout and "brokenplug: RuntimeError: boom: missing dependency" in proc.stdout
    plugins = json.loads(cli(broken_dist, "plugins").stdout)
    broken = next(p for p in plugins if p["name"] == "brokenplug")
    assert broken["distribution"] == "brokenplug" and broken["version"] == "0.1"
    assert broken["error"] == "RuntimeError: boom: missing dependency"


def test_cli_strict_and_disabled(broken_dist):
    proc = cli({**broken_dist, "VECRENDER_STRICT_PLUGINS": "1"}, "list")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: plugin 'brokenplug' failed to load: RuntimeError: boom" in proc.stderr
    proc = cli({**broken_dist, "VECRENDER_DISABLE_PLUGINS": "brokenplug"}, "list", "losses")
    assert proc.returncode == 0 and "brokenplug" not in proc.stderr + proc.stdout


# -- cheap imports --------------------------------------------------------------------------------
HEAVY = ("open_clip", "clip", "pydiffvg", "diffvg", "torchvision.models", "lpips", "kornia", "skimage")


def imported_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_importing_vecrender_is_cheap():
    modules = imported_after("import vecrender, vecrender.cli, vecrender.testing, vecrender.images")
    assert not [m for m in modules if m.split(".")[0] in HEAVY or m.startswith("torchvision.models")]
    assert "vecrender.builtins.losses" not in modules  # no plugin is loaded by importing


def test_loading_every_installed_plugin_is_cheap():
    modules = imported_after("from vecrender.plugins import get_host; get_host()")
    heavy = [m for m in modules if m.split(".")[0] in HEAVY or m.startswith("torchvision.models")]
    assert not heavy, f"entry-point modules import heavy libraries: {heavy}"


# -- acceptance: painterly fits the image ---------------------------------------------------------
@pytest.mark.slow
def test_painterly_acceptance(tmp_path):
    """`vecrender run painterly --steps 200` on CPU: the fitted sketch is far closer to the target."""
    from vecrender.images import load_image
    from vecrender.plugins import get_registry
    from vecrender.recipe import load_recipe
    from vecrender.runner import composite

    image = write_test_image(tmp_path / "shapes.png", 96)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "vecrender.cli", "run", "painterly", "--input", str(image), "--out", str(out),
         "--steps", "200", "--strokes", "32", "--set", "canvas=48", "--device", "cpu", "--quiet"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    for name in ("shapes-32paths.svg", "shapes-32paths.png", "best.svg", "best.png", "target.png"):
        assert (out / name).is_file(), name
    target = load_image(out / "target.png")
    fitted = load_image(out / "best.png")
    assert fitted.shape == target.shape == (1, 3, 48, 48)
    # the initial scene, rebuilt from the resolved recipe (same initializer, seed and renderer)
    registry = get_registry()
    recipe = load_recipe(out / "recipe.resolved.yaml", [], registry)
    context = vecrender.RunContext(width=48, height=48, seed=recipe.seed, steps=recipe.steps)
    init = registry.build("initializer", recipe["initializer"], context, "initializer")
    renderer = registry.build("renderer", recipe["renderer"], context, "renderer")
    scene = init.initialize(32, recipe.seed, target)
    with torch.no_grad():
        initial = composite(renderer.render([scene]), [scene])
    initial_l2 = (initial - target).pow(2).mean().item()
    fitted_l2 = (fitted - target).pow(2).mean().item()
    assert fitted_l2 < 0.5 * initial_l2, (fitted_l2, initial_l2)
    assert (out / "best.svg").read_text().count("<path") == 32
