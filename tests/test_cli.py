"""The command line: commands, shortcuts, and one clear message (no traceback) for every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vecrender
from vecrender import __version__
from vecrender.cli import build_cli, shortcut_overrides

FAST = ["--set", "canvas=16", "--strokes", "2", "--steps", "1", "--quiet"]


def invoke(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(build_cli(), list(args), env=env)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def assert_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") or "Error: " in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# -- informational commands -----------------------------------------------------------------------
def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"vecrender {__version__}"


def test_list_all_kinds_with_distribution():
    result = invoke("list")
    assert result.exit_code == 0
    for header in ("renderers:", "initializers:", "losses:", "optimizers:", "preprocessors:", "methods:"):
        assert header in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("l2 "))
    assert f"[vecrender {__version__}]" in line and "Mean squared error" in line


def test_list_one_kind_singular_or_plural():
    assert invoke("list", "losses").stdout == invoke("list", "loss").stdout
    out = invoke("list", "optimizers").stdout
    assert out.startswith("optimizers:") and "adam" in out and "losses:" not in out


def test_list_unknown_kind_suggests():
    assert_error(invoke("list", "lossez"), 2, "unknown component kind 'lossez'", "did you mean 'losses'")


def test_describe_component_fields():
    result = invoke("describe", "optimizer", "adam")
    assert result.exit_code == 0
    assert "schedule: str = \"none\"" in result.stdout and "choices: none, linear, steps" in result.stdout
    assert "lr: float = 1.0" in result.stdout and "Learning rate of the points" in result.stdout
    svg = invoke("describe", "initializers", "svg").stdout
    assert "path: str = (required)" in svg


def test_describe_method_prints_recipe():
    result = invoke("describe", "method", "painterly")
    assert result.exit_code == 0
    assert "needs --input: yes" in result.stdout and "- {use: l2, weight: 1.0}" in result.stdout


def test_describe_unknown_name_suggests():
    assert_error(invoke("describe", "loss", "l3"), 2, "unknown loss 'l3'", "'l2'", "vecrender list losses")


def test_plugins_json():
    result = invoke("plugins")
    assert result.exit_code == 0
    plugins = json.loads(result.stdout)
    losses = next(p for p in plugins if p["name"] == "vecrender.builtins.losses")
    assert losses["distribution"] == "vecrender" and losses["hooks"] == ["register_losses"]
    assert losses["builtin"] is True and "error" not in losses


# -- run: shortcuts -------------------------------------------------------------------------------
def test_shortcut_overrides_are_yaml_safe():
    assert [o.text for o in shortcut_overrides(steps=5, strokes=[8, 16], prompt="a: cat, #1", video=True)] == [
        "steps=5", "strokes=[8, 16]", 'prompt="a: cat, #1"', "video=true"]
    import yaml

    assert yaml.safe_load('"a: cat, #1"') == "a: cat, #1"


def test_run_writes_outputs(input_png, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", "painterly", "--input", str(input_png), "--out", str(out), "--set", "canvas=16",
                    "--strokes", "2,3", "--steps", "2", "--seed", "4")
    assert result.exit_code == 0, result.output
    assert "done: 2 steps" in result.stdout and "2 paths:" in result.stdout
    assert (out / "photo-2paths.svg").is_file() and (out / "photo-3paths.png").is_file()
    resolved = (out / "recipe.resolved.yaml").read_text()
    assert "seed: 4" in resolved and "steps: 2" in resolved


# -- run: every bad input is one message, no traceback -------------------------------------------
def test_run_missing_input(tmp_path):
    assert_error(invoke("run", "painterly", "--input", str(tmp_path / "nope.png"), *FAST), 2,
                 "nope.png' does not exist")


def test_run_input_is_directory(tmp_path):
    assert_error(invoke("run", "painterly", "--input", str(tmp_path), *FAST), 2, "is a directory")


def test_run_input_not_an_image(tmp_path):
    (tmp_path / "a.png").write_text("text")
    assert_error(invoke("run", "painterly", "--input", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                        *FAST), 2, "not an image format Pillow can read")


def test_svg_import_warnings_are_one_line(input_png, tmp_path, capsys):
    """The console script shows what an SVG import left out as one 'warning:' line."""
    from vecrender.cli import main

    drawing = tmp_path / "start.svg"
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
                       '<path d="M1 1 C5 5 9 1 14 14" stroke="black" fill="none"/><text x="2" y="9">a</text></svg>')
    code = main(["run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "out"), *FAST,
                 "--set", "initializer.use=svg", "--set", f"initializer.path={drawing}"])
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "out" / "best.svg").is_file()
    assert f"warning: {drawing}: vecrender imports paths" in err and "1 text element" in err
    assert "SvgImportWarning" not in err and "warnings.warn" not in err


def test_run_truncated_png(tmp_path, input_png):
    data = input_png.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert_error(invoke("run", "painterly", "--input", str(tmp_path / "cut.png"), "--out", str(tmp_path / "o"),
                        *FAST), 2, "corrupt or truncated")


def test_run_decompression_bomb(input_png, tmp_path):
    result = invoke("run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "o"), *FAST,
                    env={"VECRENDER_MAX_IMAGE_PIXELS": "1000"})  # the 16 px canvas fits, the image not
    assert_error(result, 2, "40x30 = 1200 pixels", "decompression-bomb", "downscale")


def test_run_missing_input_flag(tmp_path):
    assert_error(invoke("run", "painterly", *FAST), 2, "method 'painterly' needs an input image", "--input IMAGE")
    (tmp_path / "mine.yaml").write_text("extends: painterly\n")
    assert_error(invoke("run", str(tmp_path / "mine.yaml"), *FAST), 2,
                 "mine.yaml (a recipe on method 'painterly') needs an input image")


def test_run_unknown_method_suggests(input_png):
    assert_error(invoke("run", "paintrly", "--input", str(input_png), *FAST), 2,
                 "unknown method 'paintrly'", "Did you mean 'painterly'?")


def test_run_unknown_key_suggests(input_png):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "stepz=3"), 2,
                 "unknown key 'stepz'", "did you mean 'steps'")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "optimizer.lrr=3"), 2,
                 "has no option 'lrr'", "did you mean 'lr'")


def test_run_unknown_loss_suggests(input_png):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "losses.l2.use=l3"), 2,
                 "unknown loss 'l3'", "Did you mean 'l2'")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "losses.l3.weight=1"), 2,
                 "no loss labelled 'l3'", "did you mean 'l2'")


def test_run_wrong_type(input_png):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "steps=many"), 2,
                 "steps", "expected int", "'many'")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "initializer.width=thick",
                        *FAST), 2, "width: expected float, got 'thick'")


def test_run_bad_set_syntax(input_png):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "steps"), 2,
                 "expected KEY=VALUE", "'steps'")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--set", "=3"), 2, "expected KEY=VALUE")


def test_run_bad_shortcuts(input_png):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--strokes", "8,x"), 2,
                 "comma-separated numbers")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--steps", "0"), 2, "--steps")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--steps", "3", "--set", "steps=abc"), 2,
                 "steps is given twice, by --steps and by --set steps=abc; give one")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--device", "gpu"), 2,
                 "error: --device: expected auto, cpu, cuda")  # named as typed, not as --set device
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--seed", str(2**40)), 2,
                 "error: --seed: must lie in [0, 4294967295], got 1099511627776.")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--seeds", "5000000"), 2,
                 "error: --seeds: 5000000 sketches take the seeds 0..4999999000 (1000 apart)", "ask for fewer seeds")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--input", ""), 2,
                 "'--input'", "empty; pass an image file")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_run_cuda_without_cuda(input_png, tmp_path):
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "o"),
                        "--device", "cuda", *FAST[:-1]), 2, "'cuda'", "not available")


def test_run_missing_recipe_and_bad_resume(tmp_path):
    assert_error(invoke("run"), 2, "missing METHOD or RECIPE.yaml")
    assert_error(invoke("run", "--resume", str(tmp_path)), 2, "no recipe.resolved.yaml there")


def test_run_recipe_file_errors(tmp_path, input_png):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: painterly\nsteps: [1\n")
    assert_error(invoke("run", str(bad), "--input", str(input_png)), 2, "bad.yaml", "YAML syntax error")
    assert_error(invoke("run", str(tmp_path / "missing.yaml"), "--input", str(input_png)), 2,
                 "missing.yaml does not exist")


# -- exit codes of failures -----------------------------------------------------------------------
def test_interrupt_exits_130(monkeypatch, input_png, tmp_path):
    import vecrender.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vecrender.runner, "run", interrupted)
    result = invoke("run", "painterly", "--input", str(input_png), *FAST)
    assert result.exit_code == 130 and "interrupted" in result.stderr


def test_run_interrupted_error_exits_130(monkeypatch, input_png):
    import vecrender.runner
    from vecrender.errors import RunInterrupted

    def interrupted(*args, **kwargs):
        raise RunInterrupted("interrupted at step 3 of 10; continue with `vecrender run --resume out`")

    monkeypatch.setattr(vecrender.runner, "run", interrupted)
    result = invoke("run", "painterly", "--input", str(input_png), *FAST)
    assert result.exit_code == 130 and "interrupted at step 3 of 10" in result.stderr


def _console(script: str, *args: str) -> subprocess.CompletedProcess:
    """The console script run in a fresh process after `script` (which patches it)."""
    code = f"import sys\n{script}\nsys.argv = ['vecrender', *{list(args)!r}]\n"
    code += "from vecrender.cli import console\nconsole()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


# a second Ctrl-C as the command line reports the first stop
CTRL_C_AGAIN_ON_ECHO = """import os, signal, click
real_echo = click.echo
def echo(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    real_echo(*args, **kwargs)
click.echo = echo
"""


def test_command_line_starts_without_torch():
    """torch takes seconds to import: the command line's own modules (and its Ctrl-C handling)
    load first, so an early Ctrl-C ends it cleanly."""
    code = "import sys, vecrender, vecrender.cli; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
    assert vecrender.Loss.__module__ == "vecrender.components"  # the public names still resolve


def test_ctrl_c_while_plugins_load_exits_130_without_traceback():
    """Ctrl-C in the first seconds (plugins import torch), and again while it is reported."""
    patch = CTRL_C_AGAIN_ON_ECHO + """import vecrender.plugins
vecrender.plugins.get_host = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGINT)"""
    out = _console(patch, "list")
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip() == "interrupted" and "Traceback" not in out.stderr


def test_second_ctrl_c_while_a_stopped_run_reports_keeps_exit_130(input_png, tmp_path):
    patch = CTRL_C_AGAIN_ON_ECHO + """import vecrender.runner
from vecrender.errors import RunInterrupted
def run(*args, **kwargs):
    raise RunInterrupted("interrupted at step 3 of 10")
vecrender.runner.run = run"""
    out = _console(patch, "run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "out"))
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip() == "interrupted at step 3 of 10" and "Traceback" not in out.stderr


def test_non_finite_loss_exits_1(monkeypatch, input_png):
    import vecrender.runner
    from vecrender.errors import NonFiniteLossError

    def failing(*args, **kwargs):
        raise NonFiniteLossError("loss 'l2' became nan at step 3")

    monkeypatch.setattr(vecrender.runner, "run", failing)
    assert_error(invoke("run", "painterly", "--input", str(input_png), *FAST), 1, "became nan at step 3")


def test_internal_error_hides_traceback_unless_debug(monkeypatch, input_png):
    import vecrender.runner

    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(vecrender.runner, "run", broken)
    assert_error(invoke("run", "painterly", "--input", str(input_png), *FAST), 1,
                 "internal error: ZeroDivisionError: oops", "--debug")
    result = CliRunner().invoke(build_cli(), ["--debug", "run", "painterly", "--input", str(input_png), *FAST])
    assert isinstance(result.exception, ZeroDivisionError)


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you "
                                                                 "tried to allocate 324000000000 bytes."),
                                   torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")])
def test_out_of_memory_says_what_to_lower(monkeypatch, input_png, error):
    import vecrender.runner

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(vecrender.runner, "run", broken)
    result = invoke("run", "painterly", "--input", str(input_png), *FAST)
    assert_error(result, 1, "error: out of memory", "smaller canvas")
    assert "internal error" not in result.stderr


class Divides(vecrender.Loss):
    """Fails in forward, as a buggy third-party loss would (test plugin)."""

    name = "tp.divides"

    def forward(self, batch):
        return batch.images.mean(dim=(1, 2, 3)) * (1 // 0)


class NeedsMissing(vecrender.Loss):
    """Imports a missing optional dependency when it prepares (test plugin)."""

    name = "tp.needs_missing"

    def prepare(self, target):
        import vecrender_missing_dependency_xyz  # noqa: F401

    def forward(self, batch):
        return batch.images.mean(dim=(1, 2, 3))


def test_an_exception_in_plugin_code_blames_the_plugin(input_png, tmp_path):
    from vecrender.testing import plugin_module, registered

    with registered(plugin_module(Divides, NeedsMissing), name="tp"):
        result = invoke("run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "a"), *FAST,
                        "--set", "losses.x.use=tp.divides")
        assert_error(result, 1, "error: loss 'tp.divides' of plugin 'tp' failed: ZeroDivisionError: integer division "
                     "or modulo by zero (test_cli.py:", "This is probably a bug in that plugin, not in vecrender: "
                     "report it to the plugin's author; rerun as `vecrender --debug ...`")
        assert "internal error" not in result.stderr
        result = invoke("run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "b"), *FAST,
                        "--set", "losses.x.use=tp.needs_missing")
        assert_error(result, 1, "error: loss 'tp.needs_missing' of plugin 'tp' failed: ModuleNotFoundError: No module "
                     "named 'vecrender_missing_dependency_xyz'", "The plugin needs the module "
                     "'vecrender_missing_dependency_xyz': install the package that provides it")


def test_debug_flag_before_the_command_is_seen_before_plugins_load():
    from vecrender.cli import _debug_requested

    assert _debug_requested(["--debug", "list"]) and _debug_requested(["-h", "--debug"])
    assert not _debug_requested(["run", "x", "--debug"]) and not _debug_requested([])


# -- the installed console script -----------------------------------------------------------------
def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("vecrender")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "vecrender.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_console_script_version_and_error():
    proc = script("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"vecrender {__version__}"
    proc = script("run", "painterly", "--input", "/nonexistent/photo.png")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: input image '/nonexistent/photo.png'")
    assert "Traceback" not in proc.stderr


def test_console_script_debug_env_shows_traceback():
    proc = script("run", "painterly", "--input", "/nonexistent/photo.png", env={"VECRENDER_DEBUG": "1"})
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "error: input image" in proc.stderr


def test_resume_continues_a_run(input_png, tmp_path):
    out = tmp_path / "out"
    first = invoke("run", "painterly", "--input", str(input_png), "--out", str(out), *FAST)
    assert first.exit_code == 0, first.output
    result = invoke("run", "--resume", str(out), "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "done: 3 steps" in result.stdout
    assert "steps: 3" in (out / "recipe.resolved.yaml").read_text()
    assert_error(invoke("run", "--resume", str(out), "--out", str(tmp_path / "elsewhere")), 2,
                 "continues the run in that folder")


# -- render ---------------------------------------------------------------------------------------
SKETCH = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><path d="M5 5 C15 25 25 0 35 25" '
          'stroke="#c00" stroke-width="3" fill="none"/></svg>')


def test_render_draws_an_svg_at_a_scale_as_the_renderer_does(tmp_path):
    """--scale 2 is the drawing on a canvas twice the size (widths too), over its background."""
    from PIL import Image

    from vecrender.builtins.renderers import NativeRenderer
    from vecrender.images import image_to_uint8
    from vecrender.svg import svg_to_scene

    svg = tmp_path / "sketch.svg"
    svg.write_text(SKETCH)
    result = invoke("render", str(svg), "--scale", "2")
    assert result.exit_code == 0, result.output
    png = Image.open(tmp_path / "sketch@2x.png")  # beside sketch.png, a run's own, not over it
    assert png.size == (80, 60) and png.mode == "RGB"
    assert invoke("render", str(svg), "--width", "20").exit_code == 0
    assert Image.open(tmp_path / "sketch-20px.png").size == (20, 15) and not (tmp_path / "sketch.png").exists()
    scene = svg_to_scene(SKETCH).resized(80, 60)
    expected = image_to_uint8(1 - NativeRenderer().render([scene])[:, 3:].expand(1, 3, 60, 80) * torch.tensor(
        [0.2, 1.0, 1.0]).view(1, 3, 1, 1))  # #c00 over white: (1 - 0.2 a, 1 - a, 1 - a)
    drawn = torch.from_numpy(np.array(png)).short()
    assert (drawn - torch.from_numpy(expected).short()).abs().max() <= 1
    assert drawn[:, :, 1].min() < 10  # the stroke is there, red


def test_render_captures_no_cuda_graphs_for_drawings_drawn_once(tmp_path, monkeypatch):
    from vecrender.builtins.renderers import NativeRenderer

    seen, original = [], NativeRenderer.render

    def render(self, scenes):
        seen.append(self.config)
        return original(self, scenes)

    monkeypatch.setattr(NativeRenderer, "render", render)
    (tmp_path / "a.svg").write_text(SKETCH)
    assert invoke("render", str(tmp_path / "a.svg")).exit_code == 0
    assert [c.cuda_graphs for c in seen] == [False] and seen[0].tile_capacity == "auto"  # the rest: defaults
    assert invoke("render", str(tmp_path / "a.svg"), "--renderer", "reference").exit_code == 0  # has no such option


def test_render_options_and_errors(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / f"{name}.svg").write_text(SKETCH)
    svgs = [str(tmp_path / "a.svg"), str(tmp_path / "b.svg")]
    result = invoke("render", *svgs, "-o", str(tmp_path / "pngs"), "--width", "20", "--transparent")
    assert result.exit_code == 0, result.output
    for name in ("a", "b"):
        png = Image.open(tmp_path / "pngs" / f"{name}.png")
        assert png.size == (20, 15) and png.mode == "RGBA"
        alpha = np.asarray(png)[..., 3]
        assert alpha.min() == 0 and alpha.max() >= 250  # empty canvas stays transparent
    assert_error(invoke("render", *svgs, "-o", str(tmp_path / "one.png")), 2, "several SVGs go to a folder")
    assert_error(invoke("render", str(tmp_path / "missing.svg")), 2, "missing.svg", "not found")
    assert_error(invoke("render", svgs[0], "--renderer", "nativ"), 2, "unknown renderer 'nativ'", "native")
    assert_error(invoke("render", svgs[0], "--scale", "0"), 2, "scale")
    for bad in ("nan", "inf"):
        assert_error(invoke("render", svgs[0], "--scale", bad), 2, "scale", "not a finite number")
    assert_error(invoke("render", svgs[0], "--scale", "2", "--width", "30"), 2, "--scale and --width")


# -- resume, output folders, size guards ----------------------------------------------------------------
def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_runs_the_recorded_recipe_and_refuses_another(input_png, tmp_path):
    """A METHOD with --resume is the run's own (not its defaults); what does not fit changes nothing."""
    out = tmp_path / "out"
    assert invoke("run", "painterly", "--input", str(input_png), "--out", str(out), *FAST).exit_code == 0
    result = invoke("run", "painterly", "--resume", str(out), "--steps", "2", "--quiet")
    assert result.exit_code == 0, result.output
    resolved = (out / "recipe.resolved.yaml").read_text()
    assert "width: 16" in resolved and "steps: 2" in resolved and "strokes: 2" in resolved
    before = files(out)
    assert_error(invoke("run", "--resume", str(out), "--overwrite"), 2, "--overwrite would replace it; give one")
    assert_error(invoke("run", "--resume", str(out), "--set", "canvas=24", "--steps", "3"), 2,
                 "16x16 px but the recipe asks for a 24x24 canvas")
    other = tmp_path / "other.yaml"
    other.write_text("extends: painterly\nsteps: 5\n")
    assert_error(invoke("run", str(other), "--resume", str(out)), 2, "cannot be given with it", "drop")
    assert files(out) == before
    assert_error(invoke("run", "--resume", str(tmp_path / "nowhere")), 2, "nowhere: the folder does not exist")
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = invoke("run", "--resume", str(out))
    assert_error(result, 2, "checkpoint.pt is damaged", "--overwrite")
    assert len(result.stderr.strip().splitlines()) == 1


def test_sigterm_stops_a_run_with_its_outputs_and_exit_143(input_png, tmp_path):
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("vecrender")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "vecrender.cli"]
    proc = subprocess.Popen([*command, "run", "painterly", "--input", str(input_png), "--out", str(out),
                             "--set", "canvas=16", "--strokes", "2", "--steps", "100000", "--set", "log_every=1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the loop has started: it logs every step
            if line.startswith("step "):
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM at step" in err and "--resume" in err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] >= 1
    assert (out / "best.svg").is_file() and (out / "photo-2paths.svg").is_file()


def test_an_explicit_out_is_never_renumbered(input_png, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert invoke("run", "painterly", "--input", str(input_png), "--out", str(out), *FAST).exit_code == 0
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--out", str(out), *FAST), 2,
                 "already exists and is not empty: use --overwrite", "or another --out")
    assert not (tmp_path / "out-2").exists()
    monkeypatch.chdir(tmp_path)
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--out", ".", *FAST), 2,
                 "--out . already exists")
    assert_error(invoke("run", "painterly", "--input", str(input_png), "--out", ".", "--overwrite", *FAST), 2,
                 "holds no vecrender run", "choose another --out")
    result = invoke("run", "painterly", "--input", str(input_png), "--out", str(out), "--overwrite", *FAST)
    assert result.exit_code == 0, result.output


def test_output_path_errors_are_one_line_usage_errors(input_png, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("mine")
    run = ["run", "painterly", "--input", str(input_png), *FAST, "--out"]
    assert_error(invoke(*run, str(tmp_path / "afile")), 2, "afile is a file")
    assert_error(invoke(*run, str(tmp_path / "afile" / "sub")), 2, "afile/sub: Not a directory")
    import vecrender.io

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vecrender.io.tempfile, "mkstemp", denied)  # a read-only folder, even for root
    assert_error(invoke(*run, str(tmp_path / "ro")), 2, "cannot write", "ro/", "Permission denied")
    (tmp_path / "a.svg").write_text(SKETCH)
    assert_error(invoke("render", str(tmp_path / "a.svg"), "-o", str(tmp_path / "pngs")), 2,
                 "a.png: Permission denied")


def test_render_output_names(tmp_path):
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.svg").write_text(SKETCH)
    a, other = str(tmp_path / "d1" / "a.svg"), str(tmp_path / "d2" / "a.svg")
    assert_error(invoke("render", a, other, "-o", str(tmp_path / "coll")), 2, "would both be written to")
    assert not (tmp_path / "coll").exists()
    assert_error(invoke("render", a, "-o", str(tmp_path / "out.jpg")), 2, "PNG only")
    assert_error(invoke("render", a, "-o", a), 2, "PNG only")
    assert not (tmp_path / "out.jpg").exists() and (tmp_path / "d1" / "a.svg").read_text() == SKETCH
    assert_error(invoke("render", str(tmp_path)), 2, "is a directory", "*.svg")
    os.mkfifo(tmp_path / "pipe.svg")
    assert_error(invoke("render", str(tmp_path / "pipe.svg")), 2, "pipe.svg' is not a regular file")
    (tmp_path / "afile").write_text("mine")
    assert_error(invoke("render", a, "-o", str(tmp_path / "afile" / "sub")), 2, "afile", "a file, not a folder")
    result = invoke("render", a, a, "-o", str(tmp_path / "coll"))  # the same SVG twice: once
    assert result.exit_code == 0 and result.stdout.count("a.png") == 1


def test_oversized_canvases_are_refused_before_allocating(input_png, tmp_path):
    run = ["run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "o"), "--quiet", "--steps", "1"]
    assert_error(invoke(*run, "--set", "canvas=20000"), 2, "20000x20000 = 400000000 pixels", "smaller canvas")
    assert_error(invoke(*run, "--set", "canvas=input", "--set", "preprocess=[{use: pad_square, margin: 100000}]"),
                 2, "pad_square", "over the safety limit", "lower the margin")
    (tmp_path / "huge.svg").write_text(SKETCH.replace('width="40" height="30"', 'width="100000" height="100000"'))
    assert_error(invoke("render", str(tmp_path / "huge.svg")), 2, "100000x100000", "--scale")
    (tmp_path / "a.svg").write_text(SKETCH)
    assert_error(invoke("render", str(tmp_path / "a.svg"), "--scale", "1000"), 2, "40000x30000")
    assert not (tmp_path / "o").exists() and not (tmp_path / "a.png").exists()


def test_negative_learning_rate_and_weight_are_refused(input_png, tmp_path):
    run = ["run", "painterly", "--input", str(input_png), "--out", str(tmp_path / "o"), *FAST]
    assert_error(invoke(*run, "--set", "optimizer.lr=-1"), 2, "lr: must be >= 0")
    assert_error(invoke(*run, "--set", "losses.l2.weight=-1"), 2, "weight: must be >= 0")
    assert_error(invoke(*run, "--set", "losses.l2.start=1"), 2, "no loss with a non-zero weight is active at step 0")
