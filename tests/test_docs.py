"""The documentation builds, its generated pages are current, and its code runs as shown."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
EXAMPLE = DOCS / "plugins" / "example"
sys.path.insert(0, str(DOCS))
import extract_blocks  # noqa: E402
import gen_cli  # noqa: E402
import gen_hooks  # noqa: E402

sys.path.remove(str(DOCS))


def _bundles_installed() -> bool:
    try:
        gen_cli.first_party_plugins()
    except SystemExit:
        return False
    return True


def test_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    # No -q: quiet mode hides the warnings that --strict turns into errors.
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    walkthrough = (tmp_path / "site" / "plugins" / "walkthrough" / "index.html").read_text()
    assert "inkwell.soft_l2" in walkthrough
    example = (tmp_path / "site" / "plugins" / "example" / "index.html").read_text()
    assert "InkBudget" in example and "ink_coverage" in example  # snippets included the code


def test_hook_reference_is_current():
    assert gen_hooks.main(["--check"]) == 0


@pytest.mark.skipif(not _bundles_installed(), reason="the CLI reference includes the bundles' commands")
def test_cli_reference_is_current():
    assert gen_cli.main(["--check"]) == 0


def test_cli_reference_documents_every_command():
    from vecrender.cli import build_cli

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name in build_cli().commands:
        assert f"## `vecrender {name}`" in page, name


@pytest.mark.parametrize("module", [gen_cli, gen_hooks], ids=["gen_cli", "gen_hooks"])
def test_check_mode_fails_on_a_stale_file(module, tmp_path, capsys):
    if module is gen_cli and not _bundles_installed():
        pytest.skip("the CLI reference includes the bundles' commands")
    stale = tmp_path / "page.md"
    assert module.main(["--output", str(stale)]) == 0
    assert module.main(["--check", "--output", str(stale)]) == 0
    stale.write_text(stale.read_text() + "\nedited by hand\n")
    assert module.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err


def test_hook_markdown_conversion():
    doc = """Title line.

    Arguments:
        register: call ``register(X)`` for
            each :class:`~vecrender.components.Method`.

    Example::

        x = 1
    """
    md = gen_hooks.rst_to_markdown(doc)
    assert "- `register`: call `register(X)` for each `Method`." in md
    assert "Example:\n\n```python\nx = 1\n```" in md


# -- the walkthrough ------------------------------------------------------------------------------
WALKTHROUGH = DOCS / "plugins" / "walkthrough.md"


def test_walkthrough_files_are_valid():
    blocks = extract_blocks.titled_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    assert set(blocks) == {"inkwell/inkwell/soft.py", "inkwell/inkwell/plugin.py", "soft_sketch.yaml",
                           "inkwell/tests/test_soft.py"}
    for title, code in blocks.items():
        if title.endswith(".py"):
            compile(code, title, "exec")
    recipe = yaml.safe_load(blocks["soft_sketch.yaml"])
    assert recipe["extends"] == "painterly"
    assert any(loss["use"] == "inkwell.soft_l2" for loss in recipe["losses"])


def test_walkthrough_shows_the_commands_the_test_runs():
    page = WALKTHROUGH.read_text(encoding="utf-8")
    script = (DOCS / "walkthrough_test.sh").read_text(encoding="utf-8")
    for command in ("vecrender new-plugin inkwell", 'pip install -e "./inkwell[test]"', "cd inkwell && pytest",
                    "vecrender describe loss inkwell.soft_l2", "vecrender run soft_sketch.yaml --input"):
        assert command in page, command
    for command in ("vecrender new-plugin inkwell", '-e "./inkwell[test]"', "python -m pytest",
                    "vecrender describe loss inkwell.soft_l2", "vecrender run soft_sketch.yaml --input"):
        assert command in script, command


def test_walkthrough_loss_and_its_tests_pass(tmp_path, monkeypatch):
    """The loss the page teaches passes the tests the page writes for it (in-process, fast)."""
    extract_blocks.write_blocks(WALKTHROUGH, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "inkwell" / "tests"))
    monkeypatch.syspath_prepend(str(tmp_path / "inkwell"))
    (tmp_path / "inkwell" / "inkwell" / "__init__.py").write_text("")
    try:
        page_tests = importlib.import_module("test_soft")
        page_tests.test_contract()
        page_tests.test_blur_forgives_a_one_pixel_shift()
    finally:
        for name in [m for m in sys.modules if m in ("inkwell", "test_soft") or m.startswith("inkwell.")]:
            del sys.modules[name]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_walkthrough_as_a_new_user(tmp_path):
    """docs/walkthrough_test.sh: fresh venv, new-plugin, pip install, the page's files, a run, pytest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECRENDER_")}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(["bash", str(DOCS / "walkthrough_test.sh"), sys.executable], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "walkthrough OK" in proc.stdout


# -- the example plugin ---------------------------------------------------------------------------
def test_example_plugin_works_in_process(tmp_path, monkeypatch):
    """Its loss passes the contract and its method runs (CI also installs it and runs its own tests)."""
    from vecrender import testing

    monkeypatch.syspath_prepend(str(EXAMPLE))
    plugin = importlib.import_module("vecrender_example.plugin")
    with testing.registered(plugin, name="example") as host:
        ink = host.registry.get("loss", "example.ink")
        terms = testing.check_loss(ink, {"budget": 0.0})
        assert (terms["value"] > 0).all()
        result = testing.run_smoke("example.ink_sketch", tmp_path, steps=2, overrides=["strokes=4"])
    assert result.status == "finished"


def test_every_recipe_key_is_documented():
    from vecrender.recipe import DEFAULTS, KEYS, LOSS_KEYS

    page = (DOCS / "recipe-reference.md").read_text(encoding="utf-8")
    for key in KEYS + LOSS_KEYS:
        assert f"| `{key}` |" in page, key
    for key, default in DEFAULTS.items():
        if isinstance(default, (int, str)) and not isinstance(default, bool):
            row = next(line for line in page.splitlines() if line.startswith(f"| `{key}` |"))
            assert f"| {default} |" in row or f"| `{default}` |" in row, (key, default, row)


METHOD_PAGES = {"painterly": "painterly.md", "clipasso": "clipasso.md", "clipdraw": "clipdraw.md",
                "styleclipdraw": "styleclipdraw.md", "vectorize": "vectorize.md", "vectorize_live": "vectorize.md"}


@pytest.mark.parametrize("method", sorted(METHOD_PAGES))
def test_method_page_states_the_recipe_defaults(method):
    """A method page quotes its recipe's canvas, steps and stroke counts: a changed recipe fails here."""
    from vecrender.plugins import get_registry
    from vecrender.recipe import load_recipe

    registry = get_registry()
    if method not in registry.names("method"):
        pytest.skip(f"the bundle providing {method} is not installed")
    recipe = load_recipe(method, [], registry)
    page = (DOCS / "methods" / METHOD_PAGES[method]).read_text(encoding="utf-8")
    if method == "vectorize_live":
        page = page.split("## vectorize_live", 1)[1]
    if method == "vectorize_live":  # no table of its own: it extends vectorize
        assert all(str(count) in page for count in recipe.strokes)
        return

    def table_value(*names: str) -> str:
        rows = [line.split("|") for line in page.splitlines() if line.startswith("| ")]
        return " ".join(r[2] for r in rows if len(r) > 3 and any(n in r[1] for n in names))

    assert str(recipe.steps) in table_value("steps"), (method, recipe.steps)
    assert all(str(n) in table_value("strokes", "shapes") for n in recipe.strokes), (method, recipe.strokes)
    assert f"{recipe.width} × {recipe.height}" in page, (method, recipe.width)


def test_every_method_has_a_page():
    from vecrender.plugins import create_host

    pages = " ".join(p.read_text(encoding="utf-8") for p in (DOCS / "methods").glob("*.md"))
    ours = {"vecrender", "vecrender-clipasso", "vecrender-losses"}
    for entry in create_host().registry.entries("method"):
        if entry.distribution in ours:
            assert f"# {entry.name}" in pages or f"## {entry.name}" in pages, entry.name
