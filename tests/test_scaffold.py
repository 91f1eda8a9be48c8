"""`vecrender new-plugin`: names, refusal to overwrite, and generated projects that work."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vecrender import testing
from vecrender.scaffold import KINDS, ScaffoldError, create_plugin, plugin_names

CHECKS = {"loss": "check_loss", "renderer": "check_renderer", "initializer": "check_initializer"}
FIRST_COMPONENT = {"loss": "darkness", "renderer": "silhouette", "initializer": "grid", "method": "sketch"}


def _cli():
    from vecrender.cli import build_cli

    return build_cli()


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, package, prefix", [
    ("inkwell", "inkwell", "inkwell"),
    ("vecrender-inkwell", "vecrender_inkwell", "inkwell"),
    ("Ink.Well_2", "ink_well_2", "ink_well_2"),
])
def test_names_derived_from_the_distribution_name(name, package, prefix):
    names = plugin_names(name)
    assert (names.dist, names.package, names.prefix) == (name, package, prefix)


@pytest.mark.parametrize("name, message", [
    ("3d-ink", "starting with a letter"),
    ("ink--well", "single '-'"),
    ("ink well", "invalid plugin name"),
    ("", "invalid plugin name"),
    ("class", "Python keyword"),
    ("json", "already importable"),
    ("vecrender", "already importable"),
])
def test_invalid_names_are_refused_with_a_reason(name, message):
    with pytest.raises(ScaffoldError, match=message):
        plugin_names(name)


@pytest.mark.parametrize("name, dist", [("losses", "vecrender-losses"), ("clipasso", "vecrender-clipasso")])
def test_refuses_an_entry_point_name_an_installed_plugin_uses(name, dist, tmp_path):
    with pytest.raises(ScaffoldError, match=rf"plugin name '{name}' would use the entry point '{name}', which the "
                                            rf"installed distribution '{dist}' already uses; choose another name, "
                                            rf"for example 'my-{name}'"):
        plugin_names(name)
    result = CliRunner().invoke(_cli(), ["new-plugin", name, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2 and "already uses" in result.output and not (tmp_path / "p").exists()


def test_refuses_a_non_empty_directory(tmp_path):
    target = tmp_path / "inkwell"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="not empty"):
        create_plugin("inkwell", "loss", target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_an_empty_existing_directory_is_used(tmp_path):
    written = create_plugin("inkwell", "loss", tmp_path)
    assert (tmp_path / "pyproject.toml") in written


def test_unknown_kind(tmp_path):
    with pytest.raises(ScaffoldError, match="choose from loss, method"):
        create_plugin("inkwell", "sampler", tmp_path / "x")


# -- the command ----------------------------------------------------------------------------------
def test_command_creates_the_project(tmp_path):
    result = CliRunner().invoke(_cli(), ["new-plugin", "vecrender-inkwell", "--kind", "method",
                                         "--dir", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    assert "inkwell.sketch" in result.output and "pip install -e" in result.output
    assert (tmp_path / "proj" / "vecrender_inkwell" / "sketch.yaml").is_file()


def test_command_errors_are_one_line_without_traceback(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    runner = CliRunner()
    bad_dir = runner.invoke(_cli(), ["new-plugin", "inkwell", "--dir", str(tmp_path / "taken")])
    bad_name = runner.invoke(_cli(), ["new-plugin", "9lives", "--dir", str(tmp_path / "n")])
    bad_kind = runner.invoke(_cli(), ["new-plugin", "inkwell", "--kind", "sampler"])
    assert bad_dir.exit_code == 2 and bad_dir.output.startswith("error: ") and "refusing to write" in bad_dir.output
    assert bad_name.exit_code == 2 and "starting with a letter" in bad_name.output
    assert bad_kind.exit_code == 2 and "sampler" in bad_kind.output
    assert not (tmp_path / "n").exists()
    for result in (bad_dir, bad_name, bad_kind):
        assert "Traceback" not in result.output


# -- generated projects ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_generated_project_layout(tmp_path, kind):
    root = tmp_path / "proj"
    create_plugin("vecrender-inkwell", kind, root)
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "vecrender-inkwell"
    assert meta["project"]["entry-points"]["vecrender"] == {"inkwell": "vecrender_inkwell.plugin"}
    assert "runs/" in (root / ".gitignore").read_text()
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # valid Python, no leftover placeholders
    for path in root.rglob("*"):
        if path.is_file():
            assert "$" not in path.read_text().replace("$ ", ""), path


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Generate a project of a kind and import its plugin module (as if installed)."""
    counter = iter(range(100))

    def make(kind: str):
        name = f"scaffoldtest{kind}{next(counter)}"
        root = tmp_path / name
        create_plugin(name, kind, root)
        monkeypatch.syspath_prepend(str(root))
        return importlib.import_module(f"{name}.plugin"), name

    yield make
    for mod in [m for m in sys.modules if m.startswith("scaffoldtest")]:
        del sys.modules[mod]


@pytest.mark.parametrize("kind", ["loss", "renderer", "initializer"])
def test_generated_component_passes_the_contract_checks(plugin_module, kind):
    module, name = plugin_module(kind)
    with testing.registered(module, name=name) as host:
        entries = [e for e in host.registry.entries(kind) if e.plugin == name]
        assert [e.name for e in entries] == [f"{name}.{FIRST_COMPONENT[kind]}"]
        getattr(testing, CHECKS[kind])(entries[0].obj)


def test_generated_method_runs(plugin_module, tmp_path):
    module, name = plugin_module("method")
    with testing.registered(module, name=name):
        result = testing.run_smoke(f"{name}.sketch", tmp_path / "out", steps=2, overrides=["strokes=3"])
    assert result.status == "finished" and result.steps_done == 2
    resolved = yaml.safe_load((tmp_path / "out" / "recipe.resolved.yaml").read_text())
    assert [loss["label"] for loss in resolved["losses"]] == ["l2", "l1"]  # painterly's l2 + the method's l1
    assert resolved["losses"][1]["weight"] == 0.5 and resolved["method"] == f"{name}.sketch"


def _fake_install(root: Path, dist: str, package: str, prefix: str, site: Path) -> None:
    """What `pip install -e` leaves behind, without pip: dist-info with the entry point + a path."""
    info = site / f"{package}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[vecrender]\n{prefix} = {package}.plugin\n")
    (site / f"{package}.pth").write_text(str(root) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_generated_tests_pass_once_installed(tmp_path, kind):
    """The promise of new-plugin: the project's own tests pass right after installation."""
    name = f"inkwell-{kind}"
    root = tmp_path / name
    create_plugin(name, kind, root)
    names = plugin_names(name)
    site = tmp_path / "site"
    _fake_install(root, name, names.package, names.prefix, site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECRENDER_")}
    env["VECRENDER_STRICT_PLUGINS"] = "1"
    # site.addsitedir processes the .pth file, as the interpreter does for site-packages.
    code = (f"import site, sys; site.addsitedir({str(site)!r}); import pytest; "
            f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(root)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout and "failed" not in proc.stdout
