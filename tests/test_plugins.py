"""Plugins from the outside: a throwaway plugin in a run, broken plugins, selection by environment,
cheap imports, and the painterly acceptance run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

import vecrender
import vecrender.plugins
from vecrender.errors import PluginError, UnknownComponentError
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
    assert host.plugins["badplug"].error == "RuntimeError: boom: missing dependency (badplug.py:1)"
    assert warnings == ["vecrender: skipping plugin 'badplug': RuntimeError: boom: missing dependency "
                        "(badplug.py:1)"]


def test_strict_mode_makes_a_broken_plugin_fatal(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"badplug": RAISES})
    monkeypatch.setenv("VECRENDER_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'badplug' failed to load: RuntimeError: boom"):
        create_host()


def test_load_and_disable_plugins_env(monkeypatch, tmp_path, capsys):
    fake_entry_points(monkeypatch, tmp_path, {"goodplug": GOOD, "badplug": RAISES})
    monkeypatch.setenv("VECRENDER_LOAD_PLUGINS", "goodplug")
    host = create_host()
    assert "good.dark" in host.registry.names("loss") and "badplug" not in host.plugins
    monkeypatch.setenv("VECRENDER_LOAD_PLUGINS", "")
    host = create_host()
    assert "goodplug" not in host.plugins and "l2" in host.registry.names("loss")
    monkeypatch.delenv("VECRENDER_LOAD_PLUGINS")
    monkeypatch.setenv("VECRENDER_DISABLE_PLUGINS", "badplug, other")
    capsys.readouterr()
    host = create_host()
    assert "goodplug" in host.plugins and "badplug" not in host.plugins
    assert capsys.readouterr().err == ("vecrender: warning: VECRENDER_DISABLE_PLUGINS names 'other', but no installed "
                                       "plugin has that entry point (installed entry points: badplug, goodplug).\n")


@pytest.mark.parametrize(("hook", "message"), [
    ("def register_losses(reg):\n    pass", "register_losses declares arguments the hook does not pass: declare it as "
                                           "def register_losses(register)."),
    ("def register_losses():\n    pass", "register_losses takes no `register` argument: declare it as "
                                        "def register_losses(register)."),
    ("def register_commands(group):\n    pass", "declare it as def register_commands(cli)."),
    ("def register_losses(register):\n    register(Dark())", "register_losses expects the class, got an instance "
                                                           "of Dark: call register(Dark); a run builds the instances."),
])
def test_a_hook_declared_wrongly_is_explained(monkeypatch, tmp_path, hook, message):
    source = GOOD.replace("def register_losses(register):\n        register(Dark)", textwrap.indent(hook, "    ")[4:])
    assert hook.split("(")[0] in source
    fake_entry_points(monkeypatch, tmp_path, {"wrongplug": source})
    host = PluginHost(warn=lambda m: None)
    host.load_entry_points()
    assert host.plugins["wrongplug"].error.endswith(message), host.plugins["wrongplug"].error


def test_misspelled_hook_is_caught(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"typoplug": MISSPELLED})
    host = PluginHost(warn=lambda m: None)
    host.load_entry_points()
    assert host.plugins["typoplug"].error.startswith("unknown hook 'register_losss' (did you mean 'register_losses'?): "
                                                     "vecrender's hooks are register_commands, register_initializers")
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


def fake_distributions(monkeypatch, tmp_path: Path, dists: list[tuple[str, str, str, str]]) -> None:
    """Installed distributions (name, entry-point name, module, source), in this order, each with a
    dist-info, so their entry points know their distribution."""
    eps = []
    for dist, ep_name, module, source in dists:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[vecrender]\n{ep_name} = {module}\n")
        eps += list(PathDistribution(info).entry_points)
        sys.modules.pop(module, None)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(vecrender.plugins, "entry_points", lambda group: eps if group == "vecrender" else [])


def test_a_second_distribution_with_a_taken_entry_point_name_is_skipped(monkeypatch, tmp_path):
    other = GOOD.replace('"good.dark"', '"other.dark"')
    fake_distributions(monkeypatch, tmp_path, [("dist-a", "dup", "dup_a", GOOD), ("dist-b", "dup", "dup_b", other)])
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append)
    host.load_builtins()
    host.load_entry_points()
    first = host.plugins["dup"]
    assert first.distribution == "dist-a" and first.error is None
    assert host.registry.entry("loss", "good.dark").plugin == "dup"  # the first one is intact
    assert "other.dark" not in host.registry.names("loss") and "dup_b" not in sys.modules  # never imported
    error = host.plugins["dup (dist-b)"].error
    assert error.startswith("two installed distributions have the entry point 'dup': dist-a 0.1 (loaded) and "
                            "dist-b 0.1 (skipped).")
    assert "rename it in the [project.entry-points.vecrender] table of dist-b's pyproject.toml" in error
    assert warnings == [f"vecrender: skipping plugin 'dup': {error}"] and "ValueError" not in error
    assert host.plugin_versions()["dist-a"] == "0.1" and "dist-b" not in host.plugin_versions()


@pytest.mark.parametrize("listed_first", ["bundle", "newcomer"])
def test_a_plugin_taking_a_bundled_name_is_the_one_skipped(monkeypatch, tmp_path, listed_first):
    """A newcomer sorting before a bundle (its entry-point name, or the order the environment lists
    distributions in) never knocks the bundle out: the bundles load first."""
    bundle = ("vecrender-losses", "losses", "bundled_losses", GOOD)
    newcomer = ("aardvark", "aardvark", "aardvark_plugin", GOOD)  # the bundle's loss name, unprefixed
    same_ep = ("zz-dist", "losses", "zz_losses", GOOD.replace('"good.dark"', '"zz.dark"'))
    dists = [bundle, newcomer, same_ep] if listed_first == "bundle" else [same_ep, newcomer, bundle]
    fake_distributions(monkeypatch, tmp_path, dists)
    host = PluginHost(warn=lambda m: None)
    host.load_builtins()
    host.load_entry_points()
    assert host.plugins["losses"].distribution == "vecrender-losses" and host.plugins["losses"].error is None
    assert host.registry.entry("loss", "good.dark").plugin == "losses"
    assert "is registered by both plugin 'losses' and plugin 'aardvark'" in host.plugins["aardvark"].error
    assert "zz-dist 0.1 (skipped)" in host.plugins["losses (zz-dist)"].error


UNDECORATED = GOOD.replace("    @vecrender.hookimpl\n", "")
RETURNS_A_LIST = GOOD.replace("register(Dark)", "return [Dark]")


def test_a_plugin_that_registers_nothing_is_warned_about(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"plainplug": UNDECORATED, "listplug": RETURNS_A_LIST})
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append)
    host.load_entry_points()
    assert warnings == [
        "vecrender: warning: plugin 'listplug' registers nothing: register_losses returned a value: call "
        "register(Cls) for each class instead.",
        "vecrender: warning: plugin 'plainplug' registers nothing: register_losses is not decorated with "
        "@vecrender.hookimpl.",
    ]
    assert host.plugins["plainplug"].error is None
    fake_entry_points(monkeypatch, tmp_path, {"listplug": RETURNS_A_LIST})
    with pytest.raises(PluginError, match="plugin 'listplug' registers nothing: register_losses returned"):
        PluginHost(strict=True).load_entry_points()


def test_register_takes_the_component_only():
    module = types.ModuleType("extraplug")

    @vecrender.hookimpl
    def register_losses(register):
        register(CenterWeightedL2, "extra")

    module.register_losses = register_losses
    with pytest.raises(PluginError, match=r"register_losses: register takes the component only, got also "
                                          r"'extra'; call register\(Cls\) once per class"):
        with registered(module, name="extraplug"):
            pass


def test_the_same_class_registered_twice_by_one_plugin():
    with pytest.raises(PluginError, match="plugin 'twice' registers the loss 'tp.center_l2' twice; call "
                                          "register once per class"):
        with registered(plugin_module(CenterWeightedL2, CenterWeightedL2), name="twice"):
            pass


def _commands_plugin(name: str, *commands: str, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType(name)

    @vecrender.hookimpl
    def register_commands(cli):
        for command in commands:
            cli.command(name=command)(lambda command=command: click.echo(f"{name} {command}"))
        if fail:
            raise RuntimeError("broken after adding")

    module.register_commands = register_commands
    return module


def test_a_plugin_cannot_replace_a_command():
    group = click.Group("vecrender")
    group.command(name="run")(lambda: click.echo("core run"))
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append)
    host.add(_commands_plugin("hijack", "run", "extra"), "hijack")
    host.add(_commands_plugin("other", "extra"), "other")
    host.add_commands(group)
    assert [CliRunner().invoke(group, [c]).output for c in ("run", "extra")] == ["core run\n", "hijack extra\n"]
    assert warnings == [
        "vecrender: warning: plugin 'hijack' adds the command 'run', which vecrender itself already provides; "
        "the plugin's command is skipped. Rename it in the plugin (e.g. @cli.command(name=\"hijack-run\")).",
        "vecrender: warning: plugin 'other' adds the command 'extra', which plugin 'hijack' already provides; "
        "the plugin's command is skipped. Rename it in the plugin (e.g. @cli.command(name=\"other-extra\")).",
    ]
    warnings.clear()
    host.add_commands(group)  # build_cli runs again: a plugin may add its own command again
    assert len(warnings) == 2 and CliRunner().invoke(group, ["extra"]).output == "hijack extra\n"
    strict = PluginHost(strict=True)  # the clash is fatal: nothing is "skipped"
    strict.add(_commands_plugin("late", "run"), "late")
    with pytest.raises(PluginError, match=r"^plugin 'late' adds the command 'run', which vecrender itself already "
                                          r"provides. Rename it in the plugin"):
        strict.add_commands(group)


def test_a_failing_register_commands_leaves_no_command_behind():
    group = click.Group("vecrender")
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append)
    host.add(_commands_plugin("halfway", "half", fail=True), "halfway")
    host.add_commands(group)
    assert "half" not in group.commands
    assert host.plugins["halfway"].error == "RuntimeError: broken after adding"


NAME_TYPO = """
    import vecrender

    scale: flaot = 1.0
"""


def test_load_errors_name_the_plugin_file_and_line_and_debug_shows_the_traceback(monkeypatch, tmp_path):
    fake_entry_points(monkeypatch, tmp_path, {"typoplug": NAME_TYPO})
    warnings: list[str] = []
    host = PluginHost(warn=warnings.append, debug=True)
    host.load_entry_points()
    assert host.plugins["typoplug"].error == "NameError: name 'flaot' is not defined (typoplug.py:4)"
    assert warnings[0].startswith("Traceback") and 'typoplug.py", line 4' in warnings[0]
    assert warnings[1] == f"vecrender: skipping plugin 'typoplug': {host.plugins['typoplug'].error}"


def test_an_unknown_component_names_the_plugins_that_failed_to_load(monkeypatch, tmp_path):
    from vecrender.recipe import load_recipe

    fake_entry_points(monkeypatch, tmp_path, {"badplug": RAISES})
    host = PluginHost(warn=lambda m: None)
    host.load_builtins()
    host.load_entry_points()
    with pytest.raises(UnknownComponentError) as err:
        load_recipe("painterly", ["losses.x.use=bad.x"], host.registry)
    assert "unknown loss 'bad.x'" in str(err.value)
    assert "or failed to load: plugin 'badplug' was skipped (see `vecrender plugins` for the error)" in str(err.value)


def test_load_plugins_env_naming_no_entry_point_warns(monkeypatch, tmp_path, capsys):
    fake_entry_points(monkeypatch, tmp_path, {"goodplug": GOOD, "badplug": RAISES})
    monkeypatch.setenv("VECRENDER_LOAD_PLUGINS", "godplug")
    host = create_host()
    assert "goodplug" not in host.plugins
    assert capsys.readouterr().err == (
        "vecrender: warning: VECRENDER_LOAD_PLUGINS names 'godplug', but no installed plugin has that entry "
        "point (installed entry points: badplug, goodplug).\n")


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
    assert broken["error"] == "RuntimeError: boom: missing dependency (brokenplug_mod.py:1)"


@pytest.mark.parametrize("how", ["--debug", "VECRENDER_DEBUG"])
def test_cli_debug_shows_the_traceback_of_a_plugin_that_fails_to_load(broken_dist, how):
    args, env = (["--debug"], broken_dist) if how == "--debug" else ([], {**broken_dist, "VECRENDER_DEBUG": "1"})
    proc = cli(env, *args, "list", "losses")
    assert proc.returncode == 0 and "Traceback" in proc.stderr
    assert 'brokenplug_mod.py", line 1' in proc.stderr and "RuntimeError: boom: missing dependency" in proc.stderr
    assert "vecrender: skipping plugin 'brokenplug': RuntimeError: boom" in proc.stderr


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
