"""The ``vecrender`` command line: run, list, describe, plugins (plus commands added by plugins).

Exit codes:
    0    success
    1    the run failed while optimising (e.g. a loss became NaN), an error in a plugin's code
         (named, with its file and line) or an internal error (a bug: rerun as ``vecrender --debug ...`` or
         ``VECRENDER_DEBUG=1`` for the traceback)
    2    a usage or input error: bad option, unknown method/component/key, invalid recipe value,
         unreadable input image, broken plugin in strict mode, missing weights, CUDA unavailable
    130  interrupted (Ctrl-C; 143 for SIGTERM, 129 for SIGHUP); a run keeps its best and final
         sketches and a checkpoint, continue it with ``--resume OUT``

User errors print one ``error: <message>`` paragraph on stderr, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vecrender import __version__
from vecrender.errors import (
    ConfigError,
    NonFiniteLossError,
    RunInterrupted,
    VecrenderError,
    VecrenderWarning,
    did_you_mean,
)
from vecrender.hookspecs import KINDS, PLURALS
from vecrender.recipe import Override

if TYPE_CHECKING:
    from vecrender.registry import Entry
    from vecrender.runner import RunResult

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
KIND_NAMES = {**{k: k for k in KINDS}, **{v: k for k, v in PLURALS.items()}}


def _debug_enabled() -> bool:
    return os.environ.get("VECRENDER_DEBUG", "") not in ("", "0") or _STATE["debug"]


_STATE = {"debug": False, "exiting": False}


def _on_ctrl_c(signum: int, frame: Any) -> None:
    """The command line's Ctrl-C handler (a run installs its own while it optimises): the first
    press stops the command; once it stops or ends, a press is ignored, so that the command ends
    with the message and exit code it has decided."""
    if not _STATE["exiting"]:
        _STATE["exiting"] = True
        raise KeyboardInterrupt


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


class VecrenderGroup(click.Group):
    """Turns vecrender errors into one-line messages and exit codes (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (KeyboardInterrupt, RunInterrupted) as exc:  # exit 128 + the signal: 130 for Ctrl-C, 143 SIGTERM
            from vecrender.runner import stopped_by

            _STATE["exiting"] = True
            signum = getattr(exc, "signum", signal.SIGINT)
            click.echo(f"\n{exc if isinstance(exc, RunInterrupted) else stopped_by(signum)}", err=True)
            raise click.exceptions.Exit(128 + signum) from None
        except VecrenderError as exc:  # bad input or options; a run whose losses diverged failed
            if _debug_enabled():
                traceback.print_exc()
            _fail(str(exc), EXIT_RUN_FAILED if isinstance(exc, NonFiniteLossError) else EXIT_USAGE)
        except Exception as exc:
            if _debug_enabled():
                raise
            _fail(unexpected_error_message(exc), EXIT_RUN_FAILED)


def unexpected_error_message(exc: Exception) -> str:
    """An exception no code turned into a message: blame the plugin whose code raised it, if any
    (a bug there is not vecrender's), else call it an internal error."""
    from vecrender.plugins import get_host

    if _out_of_memory(exc):
        return (f"out of memory ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
                "Ask for less at once: a smaller canvas (or --scale), fewer strokes or sketches (strokes, --seeds), "
                "or a GPU's work on the CPU (--device cpu); a run keeps its best sketches so far.")
    culprit = get_host().culprit(exc)
    if culprit is None:
        return (f"internal error: {type(exc).__name__}: {exc}. This is a bug; rerun as `vecrender --debug ...` (or "
                "VECRENDER_DEBUG=1) for the traceback and report it.")
    where = f"{culprit.component} of plugin" if culprit.component else "plugin"
    at = f" ({culprit.location})" if culprit.location else ""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        advice = (f"The plugin needs the module {exc.name.split('.')[0]!r}: install the package that "
                  f"provides it, or report the missing dependency to the plugin's author")
    else:
        advice = "This is probably a bug in that plugin, not in vecrender: report it to the plugin's author"
    return (f"{where} {culprit.plugin.label} failed: {type(exc).__name__}: {exc}{at}. {advice}; rerun "
            f"as `vecrender --debug ...` (or VECRENDER_DEBUG=1) for the traceback.")


def _out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure (host or GPU), whatever the library raised it as."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and any(s in text for s in ("out of memory", "can't allocate memory",
                                                                  "not enough memory")))


@click.group(cls=VecrenderGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                   "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="vecrender", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors (also VECRENDER_DEBUG=1).")
def cli(debug: bool) -> None:
    """vecrender: turn images into vector sketches with differentiable rendering.

    \b
    Examples:
      vecrender run painterly --input photo.jpg --steps 300
      vecrender list losses
      vecrender describe initializer random
    """
    _STATE["debug"] = debug


# -- run ------------------------------------------------------------------------------------------
def _parse_strokes(ctx: click.Context, param: click.Parameter, value: str | None) -> int | list[int] | None:
    if value is None:
        return None
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected a number or comma-separated numbers like 8,16,24, got {value!r}.") from None
    if not counts:
        raise click.BadParameter(f"expected a number or comma-separated numbers like 8,16,24, got {value!r}.")
    return counts[0] if len(counts) == 1 and "," not in value else counts


def _refuse_twice(sets: Sequence[str], shortcuts: Sequence[Override]) -> None:
    """A key given by a shortcut flag and by --set: one would silently win over the other."""
    flagged = {override.text.partition("=")[0]: override.origin for override in shortcuts}
    for text in sets:
        key = text.partition("=")[0].strip()
        if key in flagged:
            raise click.UsageError(f"{key} is given twice, by {flagged[key]} and by --set {text}; give one.")


def _input_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    if value is not None and not value.strip():
        raise click.BadParameter("empty; pass an image file (PNG, JPEG, WebP, ...).")
    return None if value is None else Path(value)


def _check_sets(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> list[str]:
    for text in values:
        key, eq, _ = text.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE (e.g. --set steps=100 or "
                                     f"--set losses.l2.weight=0.5), got {text!r}.")
    return list(values)


def shortcut_overrides(steps: int | None = None, seed: int | None = None, device: str | None = None,
                       strokes: int | list[int] | None = None, seeds: int | None = None,
                       prompt: str | None = None, video: bool = False) -> list[Override]:
    """The ``--set`` overrides the run shortcuts stand for (JSON is valid YAML, so text stays text)."""
    values = {"steps": steps, "seed": seed, "device": device, "strokes": strokes, "seeds": seeds,
              "prompt": prompt, "video": True if video else None}
    return [Override(f"{key}={json.dumps(value)}", f"--{key}") for key, value in values.items()
            if value is not None]


@cli.command()
@click.argument("recipe", required=False, metavar="METHOD|RECIPE.yaml")
@click.option("--input", "-i", "input_path", type=click.Path(), callback=_input_path,
              help="Input image.")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path),
              help="Output folder, absent or empty unless --overwrite (default: runs/<input>-<method>, "
                   "numbered if taken).")
@click.option("--set", "-s", "sets", multiple=True, metavar="KEY=VALUE", callback=_check_sets,
              help="Override a recipe value, e.g. --set losses.l2.weight=0.5 (repeatable).")
@click.option("--steps", type=click.IntRange(min=1), help="Optimisation steps (--set steps=N).")
@click.option("--seed", type=int, help="Base seed (--set seed=S).")
@click.option("--device", type=str, metavar="auto|cpu|cuda|cuda:N", help="Device (--set device=...).")
@click.option("--strokes", type=str, callback=_parse_strokes, metavar="N|N1,N2,...",
              help="Paths per sketch, one count or several: 8,16,24 (--set 'strokes=[8,16,24]').")
@click.option("--seeds", type=click.IntRange(min=1), help="Seeds per stroke count; the best is kept.")
@click.option("--prompt", type=str, help="Text prompt for prompt-driven methods.")
@click.option("--video", is_flag=True, help="Record the optimisation as optimization.gif.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar, notices or final summary (warnings and errors still show).")
@click.option("--overwrite", is_flag=True,
              help="Replace the run in an existing --out folder (its outputs are removed first; a non-empty "
                   "folder that holds no run is refused).")
@click.option("--resume", type=click.Path(path_type=Path), metavar="DIR",
              help="Continue a run from its folder, with its recipe (DIR/recipe.resolved.yaml) and input image.")
def run(recipe: str | None, input_path: Path | None, out_dir: Path | None, sets: list[str],
        steps: int | None, seed: int | None, device: str | None, strokes: Any, seeds: int | None,
        prompt: str | None, video: bool, quiet: bool, overwrite: bool, resume: Path | None) -> None:
    """Run a method (e.g. painterly) or a recipe file on an input image.

    --resume DIR continues the run in DIR from its checkpoint. Its recipe is DIR/recipe.resolved.yaml
    (METHOD may be left out, or be the run's own method) and its input image the one the run
    recorded (--input may only name that image). --set and the shortcuts apply on top where the
    checkpoint allows: more --steps, another learning rate or loss weight; another canvas, strokes,
    seeds, seed or stages is refused, and then nothing in DIR changes.

    Ctrl-C, SIGTERM or SIGHUP stop a run at the end of the current step, after saving its best and
    final sketches and a checkpoint (exit code 130, 143 or 129: 128 + the signal); the resumed run
    ends as the run would have. One run at a time writes into a folder.
    """
    from vecrender.plugins import get_host
    from vecrender.recipe import load_recipe
    from vecrender.runner import RunOptions, load_resume_recipe
    from vecrender.runner import run as run_recipe

    registry = get_host().registry
    shortcuts = shortcut_overrides(steps, seed, device, strokes, seeds, prompt, video)
    _refuse_twice(sets, shortcuts)
    overrides = sets + shortcuts
    if resume is not None:
        if overwrite:
            raise click.UsageError(f"--resume {resume} continues the run in that folder and --overwrite would "
                                   f"replace it; give one.")
        if out_dir is not None and out_dir.resolve() != resume.resolve():
            raise ConfigError(f"--resume {resume} continues the run in that folder; drop --out {out_dir}.")
        loaded = load_resume_recipe(resume, recipe, overrides, registry)
    elif recipe is None:
        raise click.UsageError("missing METHOD or RECIPE.yaml (see `vecrender list methods`).")
    else:
        loaded = load_recipe(recipe, overrides, registry)
    options = RunOptions(input_path=input_path, out_dir=out_dir, overwrite=overwrite, resume=resume,
                         quiet=quiet)
    result = run_recipe(loaded, options)
    if not quiet:
        click.echo(summary(result))


def summary(result: RunResult) -> str:
    """What a finished run wrote (one line per stroke count)."""
    lines = [f"done: {result.steps_done} steps, outputs in {result.out_dir}"]
    for count, path in sorted(result.outputs.items()):
        lines.append(f"  {count} paths: {path}")
    return "\n".join(lines)


# -- list / describe / plugins --------------------------------------------------------------------
def _kind(text: str) -> str:
    kind = KIND_NAMES.get(text.lower())
    if kind is None:
        raise ConfigError(f"unknown component kind {text!r}{did_you_mean(text, list(KIND_NAMES))}; choose "
                          f"from {', '.join(PLURALS.values())}.")
    return kind


def _provider(entry: Any) -> str:
    if entry.distribution:
        return f"{entry.distribution} {entry.version}" if entry.version else entry.distribution
    return entry.plugin


def _table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


@cli.command(name="list")
@click.argument("kind", required=False, metavar="[renderers|initializers|losses|optimizers|preprocessors|methods]")
def list_(kind: str | None) -> None:
    """List installed components: name, providing distribution, description."""
    from vecrender.plugins import get_host

    host = get_host()
    kinds = [_kind(kind)] if kind else list(KINDS)
    blocks = []
    for k in kinds:
        entries = host.registry.entries(k)
        lines = [f"{PLURALS[k]}:"]
        if entries:
            lines += _table([(e.name, f"[{_provider(e)}]", e.description) for e in entries])
        else:
            lines.append("  (none installed)")
        blocks.append("\n".join(lines))
    broken = [info for info in host.plugins.values() if info.error]
    if broken:
        lines = ["broken plugins (skipped; see `vecrender plugins`):"]
        lines += [f"  {info.name}: {info.error}" for info in broken]
        blocks.append("\n".join(lines))
    click.echo("\n\n".join(blocks))


@cli.command()
@click.argument("kind", metavar="KIND")
@click.argument("name")
def describe(kind: str, name: str) -> None:
    """Show a component's options (type, default, choices, range, doc) or a method's recipe."""
    from vecrender.plugins import get_host

    entry = get_host().registry.entry(_kind(kind), name)
    click.echo(describe_entry(entry))


def describe_entry(entry: Entry) -> str:
    """The text `vecrender describe` prints for one registry entry."""
    import inspect

    from vecrender.config import describe_config

    head = f"{entry.kind} {entry.name}  [{_provider(entry)}; plugin {entry.plugin}]"
    from vecrender.components import Method

    if isinstance(entry.obj, Method):
        method = entry.obj
        text = method.recipe_text()
        needs = "yes" if method.needs_input else "no (prompt only)"
        return f"{head}\n{method.description}\nneeds --input: {needs}\n\nrecipe:\n{text.rstrip()}"
    doc = inspect.cleandoc(entry.obj.__doc__ or "")
    lines = [head, doc]
    if getattr(entry.obj, "needs_target", False):
        lines.append("needs an input image (target).")
    fields = describe_config(entry.obj.Config)
    lines.append("\noptions:" if fields else "\noptions: none")
    for f in fields:
        default = "(required)" if f.default is dataclasses.MISSING else _yaml_value(f.default)
        lines.append(f"  {f.name}: {f.type} = {default}")
        lines.append(f"      {f.doc}")
        if f.choices:
            lines.append(f"      choices: {', '.join(map(str, f.choices))}")
        if f.bounds:
            lines.append(f"      range: {f.bounds}")
    return "\n".join(lines)


def _yaml_value(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, default=str)  # Path: text


@cli.command()
def plugins() -> None:
    """Installed plugins as JSON: name, version, distribution, hooks, error (broken plugins)."""
    from vecrender.plugins import get_host

    click.echo(json.dumps([info.as_dict() for info in get_host().plugins.values()], indent=2))


# -- entry point ----------------------------------------------------------------------------------
def build_cli(argv: Sequence[str] | None = None) -> click.Group:
    """The root group with the commands plugins add (a failing plugin is reported and skipped).

    Plugins load here, before click parses the command line, so a ``--debug`` in `argv` (the
    arguments to come) is looked for now: it shows the traceback of a plugin that fails to load.
    """
    from vecrender.plugins import get_host

    if _debug_requested(argv or ()):
        _STATE["debug"] = True
    try:
        get_host(debug=_debug_enabled()).add_commands(cli)
    except VecrenderError as exc:  # strict plugin mode
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    return cli


def _debug_requested(argv: Sequence[str]) -> bool:
    """``--debug`` among the root options, which come before the command name."""
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def _echo_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """vecrender's own warnings as one 'warning: ...' line (others as Python shows them)."""
    if issubclass(category, VecrenderWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line on `argv` (default: ``sys.argv[1:]``); returns the exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    _STATE["exiting"] = False
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main_thread else None
    if previous is signal.default_int_handler:  # not where SIGINT is ignored (a background job)
        signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        group = build_cli(args)
        with warnings.catch_warnings():
            warnings.showwarning = _echo_warning
            group.main(args=args, prog_name="vecrender", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        return EXIT_INTERRUPTED
    finally:
        _STATE["exiting"] = True
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)
    return 0


def console() -> None:
    """The ``vecrender`` console script: `main`, then exits ignoring Ctrl-C (the command has ended;
    a press while Python shuts down would otherwise change the exit code)."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    console()
