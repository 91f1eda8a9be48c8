"""The bundle as users see it: cheap entry point, `vecrender list`, and life without the bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from losses_helpers import NAMES, TINY_CLIPASSO, clipasso_installed

from vecrender.testing import write_test_image

VECRENDER = str(Path(sys.executable).with_name("vecrender"))


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "VECRENDER_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                   "VECRENDER_CACHE": str(cwd / "cache"), **env}
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def test_entry_point_module_is_cheap():
    code = ("import sys, vecrender_losses.plugin; "
            "heavy = ['open_clip', 'kornia', 'lpips', 'pytorch_msssim', 'scipy', 'torchvision', 'timm']; "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch, disabled: str | None = None):
    """Run the CLI in-process with a fresh plugin host (optionally with plugins disabled)."""
    from click.testing import CliRunner

    from vecrender.cli import build_cli
    from vecrender.plugins import create_host, use_host

    if disabled is not None:
        monkeypatch.setenv("VECRENDER_DISABLE_PLUGINS", disabled)
    with use_host(create_host()):
        return CliRunner().invoke(build_cli(), args)


def test_list_losses_shows_each_loss_with_plugin_and_description(monkeypatch):
    result = _cli(["list", "losses"], monkeypatch)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    for name in NAMES:
        assert "vecrender-losses" in lines[name], lines.get(name)
        assert len(lines[name].split("]", 1)[1].strip()) > 20  # the description
    assert "losses.live" in _cli(["list", "initializers"], monkeypatch).output


def test_describe_lists_documented_options(monkeypatch):
    result = _cli(["describe", "loss", "clip_text"], monkeypatch)
    assert result.exit_code == 0, result.output
    for option in ("prompt", "negative_prompts", "clipdraw_negatives", "augmentations", "normalize"):
        assert option in result.output


def test_methods_of_the_bundle_are_unknown_without_it(monkeypatch, tmp_path):
    write_test_image(tmp_path / "in.png", 16)
    listing = _cli(["list", "losses"], monkeypatch, disabled="losses")
    assert listing.exit_code == 0 and "l2" in listing.output
    assert not any(name in listing.output.split() for name in NAMES)
    missing = _cli(["run", "vectorize", "--input", str(tmp_path / "in.png"), "--out", str(tmp_path / "o")],
                   monkeypatch, disabled="losses")
    assert missing.exit_code == 2 and "vectorize" in missing.output and "Traceback" not in missing.output


def test_core_works_without_the_bundle(tmp_path):
    write_test_image(tmp_path / "in.png", 16)
    disabled = {"VECRENDER_DISABLE_PLUGINS": "losses"}
    run = _run([VECRENDER, "run", "painterly", "--input", "in.png", "--out", "out", "--set", "canvas=16",
                "--set", "steps=2", "--set", "strokes=3", "--device", "cpu"], tmp_path, **disabled)
    assert run.returncode == 0, run.stderr
    resolved = (tmp_path / "out" / "recipe.resolved.yaml").read_text()
    assert "vecrender-losses" not in resolved and "painterly" in resolved


@pytest.mark.skipif(not clipasso_installed(), reason="vecrender-clipasso is not installed")
def test_clipasso_works_without_the_bundle(tmp_path):
    write_test_image(tmp_path / "in.png", 32)
    sets = [arg for override in [*TINY_CLIPASSO, "canvas=32", "steps=2", "strokes=[4]"]
            for arg in ("--set", override)]
    result = _run([VECRENDER, "run", "clipasso", "--input", "in.png", "--out", "out", "--device", "cpu", *sets],
                  tmp_path, VECRENDER_DISABLE_PLUGINS="losses")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert "geometric" in json.loads(lines[0])["sketches"]["4paths-seed0"]["terms"]
