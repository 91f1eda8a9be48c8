"""The optimisation loop: one run of a recipe, its outputs, checkpoints and resume.

A run optimises S = len(strokes) x seeds sketches together: one renderer call per step, every loss
sees all S renders and returns one value per sketch, and ``backward`` runs on the sum of the
weighted per-sketch totals (sketches never influence one another).

Step numbering: step ``k`` (0-based) renders the scenes after ``k`` updates, computes the losses and
applies update ``k + 1``. An evaluation at step ``k`` (every ``eval_every`` steps) scores that same
pre-update render with ``training=False`` and, when it improves on the best by more than
``MIN_DELTA``, keeps a copy of exactly the evaluated scene (not the one after the update). After the
last step the final scenes are evaluated too (reported as step ``steps``), so the best is never
worse than the final result by more than ``MIN_DELTA`` (an absolute margin, as CLIPasso's: losses
whose values are that small, such as random-weight test models', see no improvements). A loss
that starts or stops changes the sum, so the best is chosen again from then on. With recipe
``result: final`` every evaluation replaces the best, so the result is the state evaluated last.

Early stop (recipe ``early_stop: true``, CLIPasso's): an evaluation within ``MIN_DELTA`` of a
sketch's best, without improving on it, is "flat"; the second flat one since its last improvement
stops that sketch. A stopped sketch keeps the state after that step's update (it is held there
while the others go on) and its best; from the next step on it is neither rendered nor scored
(its metrics lines have no loss or eval; with a stateful loss or ``video`` every sketch still
is), and the run ends when every sketch has stopped. The final evaluation scores every sketch and
is reported at the step the run ended.

Stages (recipe ``stages: [n1, n2, ...]``, LIVE's layer-wise addition): each sketch starts with
``n1`` paths; stage ``k`` runs ``steps`` steps (global steps ``k * steps`` to ``(k + 1) * steps - 1``,
so a run has ``steps * len(stages)`` steps). At the start of every later stage the initializer's
``add_paths`` appends ``n_k`` paths given the current render, the optimizer is set up again on the
grown scenes (Adam moments and the learning-rate schedule restart; ``Optimizer.step`` gets the step
within the stage) and the best-so-far is reset, so the best comes from the last stage and has every
path. Loss ``start``/``stop`` and ``LossInput.step`` use the global step. Checkpoints record the
stage, so ``--resume`` continues mid-stage (with the same ``steps`` and ``stages``).

Resume (``--resume DIR``): the recipe is ``DIR/recipe.resolved.yaml`` (plus any ``--set``, see
`load_resume_recipe`) and the input image the one the checkpoint recorded (its absolute path and
SHA-256; another image is refused). Whether the recipe fits the checkpoint (sketches, canvas,
stages, steps, optimizer and loss states) is checked before anything in ``DIR`` is written, so a
refused resume leaves the folder as it was. With ``video`` the frames before the checkpoint are
read back from ``optimization.gif``.

Stopping: Ctrl-C, SIGTERM and SIGHUP during the loop (and any error in it) keep the best and final
sketches and write a checkpoint; while those outputs are written further signals are deferred.
`RunInterrupted.signum` says which signal it was (the CLI exits 128 + signum).

Outputs (see CONTRACT "Run outputs"): ``recipe.resolved.yaml``, ``metrics.jsonl``, ``target.png``,
``checkpoint.pt``, ``<stem>-<N>paths.svg|png`` (best seed per stroke count), ``best``/``final``
``.svg|png`` for single stroke count runs, ``sketches/<N>paths-seed<S>/...`` and, with ``video``,
``optimization.gif`` (+ ``.mp4`` when imageio-ffmpeg is installed). Every file is written atomically.
An explicit ``out_dir`` must be absent or empty; only the default ``runs/<name>`` is numbered when
taken (not empty, or locked by a run still starting). ``overwrite`` first removes those outputs
(and nothing else) from a folder that holds a run, and refuses any other non-empty folder.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor

from vecrender.components import Loss, LossInput, ModelCache, RunContext
from vecrender.errors import (
    ConfigError,
    InputImageError,
    NonFiniteLossError,
    OutputError,
    RunInterrupted,
    VecrenderError,
    VecrenderWarning,
)
from vecrender.functional import composite as functional_composite
from vecrender.functional.paths import derived_generator
from vecrender.io import atomic_write, atomic_write_bytes, atomic_write_text, lock_folder, make_dirs, output_error
from vecrender.recipe import (
    Components,
    LossTerm,
    Override,
    Recipe,
    build_components,
    check_device,
    dump_yaml,
    load_recipe,
    plugin_version_warnings,
    resolved_dict,
    safe_load,
    sketch_seeds,
)
from vecrender.scene import VectorScene
from vecrender.weights import file_digest

if TYPE_CHECKING:
    from vecrender.plugins import PluginHost
    from vecrender.registry import Registry

#: An eval loss must beat the best by more than this to count as an improvement (as CLIPasso).
MIN_DELTA = 1e-5
CHECKPOINT_FORMAT = 1
RESOLVED = "recipe.resolved.yaml"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
VIDEO = "optimization.gif"
#: The files a run writes at the top of its folder (with SKETCHES and `_WINNER`): what ``overwrite`` removes.
RUN_FILES = (RESOLVED, METRICS, CHECKPOINT, "target.png", "best.svg", "best.png", "final.svg", "final.png",
             VIDEO, "optimization.mp4")
SKETCHES = "sketches"
_WINNER = re.compile(r".+-\d+paths\.(svg|png)")  # <stem>-<N>paths.svg|png
#: Signals that end a run as Ctrl-C does, where the platform has them.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@dataclass
class RunOptions:
    """How to run a recipe (the CLI's flags). ``device`` and ``progress=None`` (auto) override the recipe."""

    input_path: Path | None = None
    out_dir: Path | None = None
    overwrite: bool = False
    resume: Path | None = None
    quiet: bool = False
    device: str | None = None
    progress: bool | None = None


@dataclass
class SketchResult:
    """One optimised sketch (a stroke count and a seed) and its files."""

    num_paths: int
    seed: int
    name: str
    best_loss: float | None
    best_step: int | None
    final_loss: float | None
    best_svg: Path
    best_png: Path
    final_svg: Path
    final_png: Path


@dataclass
class RunResult:
    """status: "finished", "interrupted" or "failed" (non-finite loss, an error). ``outputs``: stroke count ->
    the best SVG over seeds (``<stem>-<N>paths.svg``)."""

    out_dir: Path
    status: str
    steps_done: int
    sketches: list[SketchResult]
    outputs: dict[int, Path] = field(default_factory=dict)


# -- public entry point ---------------------------------------------------------------------------
def run(recipe: Recipe | None, options: RunOptions | None = None, host: PluginHost | None = None) -> RunResult:
    """Run `recipe` (None with ``options.resume``: the run directory's resolved recipe).

    Raises RunInterrupted on Ctrl-C, SIGTERM or SIGHUP, NonFiniteLossError on NaN/inf losses and
    any other error of the loop as it is, all after writing the best and final outputs and a
    checkpoint; ConfigError/InputImageError/OutputError before anything is written.
    """
    options = options or RunOptions()
    if host is None:
        from vecrender.plugins import get_host

        host = get_host()
    checkpoint = None
    if options.resume is not None:
        resume_dir = Path(options.resume)
        checkpoint = load_checkpoint(resume_dir)
        if recipe is None:
            recipe = load_resume_recipe(resume_dir, registry=host.registry)
    if recipe is None:
        raise ConfigError("run: no recipe given (pass a recipe, or options.resume=DIR).")
    return _Run(recipe, options, host, checkpoint).execute()


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; a requested but unavailable device is an error."""
    check_device(name, "device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was requested but CUDA is not available on this machine; "
                              f"use --device cpu (or device: auto).")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' was requested but MPS is not available; use --device cpu.")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sketch_name(num_paths: int, seed: int) -> str:
    return f"{num_paths}paths-seed{seed}"


def load_resume_recipe(run_dir: Path, source: str | None = None, overrides: Sequence[str | Override] = (),
                       registry: Registry | None = None) -> Recipe:
    """The recipe a resume of `run_dir` runs: its ``recipe.resolved.yaml`` with `overrides` on top
    (the resume checks they fit the checkpoint: e.g. more ``steps``, another learning rate).

    `source`, a METHOD or RECIPE argument given with ``--resume``, may only name the method the run
    was made with (then it changes nothing): another one would silently start a different run.
    """
    check_run_dir(run_dir, RESOLVED)
    recipe = load_recipe(run_dir / RESOLVED, overrides, registry=registry)
    if source is not None and source != recipe.method and not _same_file(source, run_dir / RESOLVED):
        recorded = f"method {recipe.method!r}" if recipe.method else "its own recipe"
        raise ConfigError(f"--resume {run_dir} continues the run recorded in {run_dir / RESOLVED} ({recorded}), "
                          f"so {source!r} cannot be given with it: drop {source!r} (change values with --set), "
                          f"or start a new run without --resume.")
    return recipe


def _same_file(source: str, path: Path) -> bool:
    return Path(source).is_file() and Path(source).resolve() == path.resolve()


def check_run_dir(run_dir: Path, needed: str) -> None:
    """`run_dir` is an existing folder holding `needed` (the checkpoint or the resolved recipe)."""
    if not run_dir.exists():
        raise ConfigError(f"--resume {run_dir}: the folder does not exist; pass the output folder of an "
                          f"earlier run (where its {CHECKPOINT} is).")
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: it is a file; pass the output folder of an earlier run.")
    if not (run_dir / needed).is_file():
        what = "nothing to resume" if needed == CHECKPOINT else "the run's recipe is gone"
        raise ConfigError(f"--resume {run_dir}: no {needed} there, so {what} (is it a vecrender run "
                          f"folder? pass the output folder of an earlier run).")


def is_run_dir(path: Path) -> bool:
    """A folder a run wrote to (``overwrite`` may only clear such a folder)."""
    return (path / RESOLVED).is_file() or (path / METRICS).is_file()


def clear_run_outputs(path: Path) -> None:
    """Remove what an earlier run wrote in `path` (its files, sketches/ and winners), nothing else.
    Nothing is removed unless all of it can be: every folder it is removed from is writable."""
    try:
        sketches = path / SKETCHES
        files = [c for c in path.iterdir() if c.is_file() and (c.name in RUN_FILES or _WINNER.fullmatch(c.name))]
        folders = [path, *(sketches.glob("**/") if sketches.is_dir() else ())]
        for folder in folders:
            if folder.is_dir() and not folder.is_symlink() and not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        if sketches.is_dir():
            shutil.rmtree(sketches)
        for file in files:
            file.unlink()
    except OSError as exc:
        failed = Path(exc.filename) if exc.filename else path
        raise output_error(failed, exc) from None


def unique_dir(path: Path, taken: Collection[Path] = ()) -> Path:
    """`path` when it is free (absent or empty, and not `taken`), else the first free ``path-2``,
    ``path-3``, ..."""
    def free(p: Path) -> bool:
        return p not in taken and (not p.exists() or (p.is_dir() and not any(p.iterdir())))

    if free(path):
        return path
    i = 2
    while not free(path.with_name(f"{path.name}-{i}")):
        i += 1
    return path.with_name(f"{path.name}-{i}")


def compute_terms(terms: list[LossTerm], batch: LossInput,
                  active_step: int | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted per-sketch total ``[S]`` and every (unweighted) term ``[S]`` by name.

    A loss returning a dict logs ``label.term`` for each entry and ``label`` for their sum.
    """
    step = batch.step if active_step is None else active_step
    num = batch.num_sketches
    total = batch.images.new_zeros(num)
    values: dict[str, Tensor] = {}
    for term in terms:
        if not term.active(step):
            continue
        out = term.loss(batch)
        parts = out if isinstance(out, dict) else {None: out}
        summed = batch.images.new_zeros(num)
        for key, value in parts.items():
            name = term.label if key is None else f"{term.label}.{key}"
            value = _per_sketch(value, num, name, term.loss)
            if key is not None:
                values[name] = value
            summed = summed + value
        values[term.label] = summed
        total = total + term.weight * summed
    return total, values


def active_terms(terms: list[LossTerm], step: int) -> frozenset[str]:
    """Labels of the loss terms that score `step`."""
    return frozenset(term.label for term in terms if term.active(step))


def _per_sketch(value: Any, num: int, name: str, loss: Loss) -> Tensor:
    """`value` checked to be one value per sketch; the error (built only then) names the loss's
    class, whose forward is to be fixed."""
    if isinstance(value, Tensor) and tuple(value.shape) == (num,):
        return value
    cls = type(loss)
    where = f"loss {name!r} ({cls.__module__}.{cls.__qualname__}.forward)"
    if not isinstance(value, Tensor):
        raise VecrenderError(f"{where} returned {type(value).__name__}; expected a tensor [S] (one value per sketch).")
    hint = (" Reduce over every dimension but the first, e.g. .mean(dim=(1, 2, 3)), not .mean(): with "
            "several sketches (--seeds, several stroke counts) each needs its own value." if value.dim() == 0 else "")
    raise VecrenderError(f"{where} returned shape {list(value.shape)}; expected [{num}] (one value per "
                         f"sketch).{hint}")


def composite(rgba: Tensor, scenes: list[VectorScene]) -> Tensor:
    """Premultiplied ``[S, 4, H, W]`` over each scene's background -> ``[S, 3, H, W]``."""
    backgrounds = [s.background for s in scenes]
    if all(b == backgrounds[0] for b in backgrounds):  # the usual case: no host-to-device copy
        return functional_composite(rgba, backgrounds[0])
    return functional_composite(rgba, torch.tensor([b or (0.0, 0.0, 0.0) for b in backgrounds]))


# -- checkpoints ----------------------------------------------------------------------------------
def scene_state(scene: VectorScene) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(scene):
        value = getattr(scene, f.name)
        out[f.name] = value.detach().cpu().clone() if isinstance(value, Tensor) else value
    if out.get("background") is not None:
        out["background"] = [float(v) for v in out["background"]]
    return out


def scene_from_state(state: dict[str, Any], device: torch.device) -> VectorScene:
    values = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in state.items()}
    if values.get("background") is not None:
        values["background"] = tuple(values["background"])
    return VectorScene(**values)


def rng_state(device: torch.device, sketches: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """The global generators' states and those of the `sketches`' generators."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate()),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "sketches": [g.get_state() for g in sketches]}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], sketches: Sequence[torch.Generator] = ()) -> None:
    """Restores `rng_state`'s states (a checkpoint from before per-sketch generators leaves
    `sketches` as seeded)."""
    for generator, saved in zip(sketches, state.get("sketches", ())):
        generator.set_state(saved)
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    check_run_dir(run_dir, CHECKPOINT)
    check_run_dir(run_dir, RESOLVED)
    try:  # torch's own message is paragraphs about weights_only, not what went wrong here
        state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    except Exception:
        state = None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"--resume {run_dir}: {CHECKPOINT} is damaged (cut short or overwritten) or not a "
                          f"vecrender checkpoint (format {CHECKPOINT_FORMAT}), so this run cannot be resumed; "
                          f"its sketches so far are still in {run_dir}. Start the run again with --overwrite "
                          f"(or another --out).")
    return state


# -- output helpers -------------------------------------------------------------------------------
def save_png(path: Path, image: Tensor) -> None:
    """Atomic PNG of ``[3, H, W]`` / ``[1, 3, H, W]`` in [0, 1]."""
    from vecrender.images import save_png as images_save_png

    images_save_png(path, image.detach().cpu())


def save_svg(path: Path, scene: VectorScene) -> None:
    scene.detach().to("cpu").save_svg(path)


def frame_grid(images: Tensor) -> np.ndarray:
    """``[S, 3, H, W]`` -> one uint8 ``[H', W', 3]`` image: the sketches in a near-square grid."""
    num, _, h, w = images.shape
    cols = math.ceil(math.sqrt(num))
    rows = math.ceil(num / cols)
    grid = images.new_ones(3, rows * h, cols * w)
    for i in range(num):
        r, c = divmod(i, cols)
        grid[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
    return (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def read_gif(path: Path) -> list[np.ndarray]:
    """The frames of a GIF as uint8 ``[H, W, 3]`` arrays ([] when it cannot be read)."""
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as gif:
            return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    except (OSError, ValueError, SyntaxError):
        return []


def write_gif(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    from PIL import Image

    pil = [Image.fromarray(f) for f in frames]
    atomic_write(path, lambda fh: pil[0].save(fh, format="GIF", save_all=True, append_images=pil[1:],
                                              duration=int(1000 / fps), loop=0))


def write_mp4(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> bool:
    """Write an H.264 video when imageio-ffmpeg is installed; False when it is not."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return False
    h, w = frames[0].shape[:2]
    pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sizes
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    writer = imageio_ffmpeg.write_frames(str(tmp), (w + pad_w, h + pad_h), fps=fps, macro_block_size=1,
                                         quality=8, ffmpeg_log_level="error")
    try:
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")))
        writer.close()
        os.replace(tmp, path)
    finally:
        writer.close()  # a no-op once closed; after a failure, ends ffmpeg
        tmp.unlink(missing_ok=True)  # gone after the rename; a failed video leaves no partial file
    return True


def _first_non_finite(items: list[tuple[int, str, Tensor]]) -> tuple[int, str, Tensor] | None:
    """The first (sketch, name, tensor) holding a NaN or an infinity; one host read when none does."""
    if not items or torch.stack([torch.isfinite(t).all() for _, _, t in items]).all():
        return None
    return next(item for item in items if not torch.isfinite(item[2]).all())


def _steps_shape_the_run(resolved: dict[str, Any]) -> bool:
    """Whether the number of steps changes what each step does: a learning-rate schedule over the
    run, loss bounds given as shares of it, stages."""
    optimizer = resolved.get("optimizer") or {}
    shares = any(isinstance(entry.get(key), str) for entry in resolved.get("losses") or [] for key in ("start", "stop"))
    return optimizer.get("schedule", "none") != "none" or shares or resolved.get("stages") is not None


# -- signals --------------------------------------------------------------------------------------
class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP during the loop (or any stop signal held back by `_signals_deferred`):
    raised where the loop is, so it stops as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


class _Deferred:
    """A handler that only notes the first signal (while a step is applied or outputs are written),
    calling `notice` with it."""

    def __init__(self, notice: Callable[[int], None] | None = None) -> None:
        self.signum: int | None = None
        self.notice = notice

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum is None and self.notice is not None:
            self.notice(signum)
        self.signum = self.signum or signum


@contextlib.contextmanager
def _signal_handlers(handler: Callable[[int, Any], None], signums: Iterable[int]) -> Iterator[None]:
    """`handler` for `signums` inside the block, the previous handlers again after it. Only in the
    main thread: Python runs handlers there, and elsewhere cannot install them. An ignored signal
    stays ignored (``nohup`` ignores SIGHUP, a shell's background job SIGINT)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signums if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)  # None: set outside Python


@contextlib.contextmanager
def _signals_deferred(notice: Callable[[int], None] | None = None) -> Iterator[_Deferred]:
    """Ctrl-C, SIGTERM and SIGHUP only noted inside the block (`_Deferred.signum`), so what it
    changes is done whole."""
    deferred = _Deferred(notice)
    with _signal_handlers(deferred, (signal.SIGINT, *STOP_SIGNALS)):
        yield deferred


def stopped_by(signum: int) -> str:
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


# -- the run --------------------------------------------------------------------------------------
class _Run:
    def __init__(self, recipe: Recipe, options: RunOptions, host: Any, checkpoint: dict | None) -> None:
        self.recipe = recipe
        self.options = options
        self.host = host
        self.registry = host.registry
        self.checkpoint = checkpoint
        self.bar: Any = None
        self.metrics_file: Any = None
        self.out_dir_lock: int | None = None  # see `lock_folder`
        self.frames: list[np.ndarray] = []
        self.inert_terms: set[str] = set()  # loss terms already reported as giving no gradient
        self.final_eval: Tensor | None = None

    # -- logging -----------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """Progress and notices on stderr; ``quiet`` keeps only the warnings."""
        if self.options.quiet and not message.startswith("warning:"):
            return
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    # -- setup -------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        self.created_out_dir: Path | None = None
        with _signal_handlers(_raise_stopped, STOP_SIGNALS):  # SIGTERM/SIGHUP: as Ctrl-C
            try:
                self.prepare()
            except BaseException:
                try:
                    self._discard_unstarted_output()
                finally:
                    self.close()  # the folder lock goes last: no other run takes a folder being removed
                raise
            try:
                return self._loop_and_finish()
            finally:
                self.close()

    def _loop_and_finish(self) -> RunResult:
        """The loop, then the outputs; an interruption or an error keeps what the run has so far."""
        try:
            self.loop()
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            result, _ = self.finish_shielded("interrupted")
            raise RunInterrupted(
                f"{stopped_by(signum)} at step {self.completed} of {self.steps}; best and final "
                f"sketches and a checkpoint are in {self.out_dir}. Continue with `vecrender run --resume "
                f"{self.out_dir}`.", result, signum) from None
        except NonFiniteLossError:
            self.finish_shielded("failed")
            raise
        except Exception:
            self._save_after_error()
            raise
        result, deferred = self.finish_shielded("finished")
        if deferred is not None:  # the run is complete, but whoever sent it still wants it to stop
            raise RunInterrupted(f"{stopped_by(deferred)} while the finished run was saved; every output is "
                                 f"complete in {self.out_dir}.", result, deferred)
        return result

    def finish_shielded(self, status: str) -> tuple[RunResult, int | None]:
        """`finish` with Ctrl-C, SIGTERM and SIGHUP deferred (a second Ctrl-C while the outputs are
        written would leave them half-written); returns the deferred signal, if any."""
        with _signals_deferred() as deferred:
            result = self.finish(status)
        return result, deferred.signum

    def _save_after_error(self) -> None:
        """After an unexpected error in the loop, keep the best and final sketches and a checkpoint as
        an interruption does; a failure to save them is reported but does not hide the error."""
        try:
            self.finish_shielded("failed")
        except Exception as exc:
            self.log(f"warning: the outputs could not be saved after the error: {exc}")

    def prepare(self) -> None:
        recipe, options = self.recipe, self.options
        self.device = resolve_device(options.device or recipe.device)
        self.stage_steps = recipe.steps
        self.stages = recipe.stages
        self.steps = recipe.total_steps
        self.stage = 0
        self.stage_start = 0  # the first path of the current stage
        for message in plugin_version_warnings(recipe, self.host.plugin_versions()):
            self.log(f"warning: {message}")
        self.input_path = self._input_path()
        self.image = self.input_sha256 = None
        if self.input_path is not None:  # before any output exists: a bad image fails cleanly
            from vecrender.images import load_image

            self.image = load_image(self.input_path)
            # a resumed run's input was checked against its recorded digest (`_resume_input`)
            self.input_sha256 = (self.checkpoint or {}).get("input_sha256") or file_digest(self.input_path)
        self._claim_out_dir()
        seed_everything(recipe.seed)
        height, width = self.image.shape[-2:] if recipe.canvas_from_input else (recipe.height, recipe.width)
        self.specs = [(n, seed) for n in recipe.strokes for seed in sketch_seeds(recipe.seed, recipe.seeds)]
        self.context = RunContext(device=self.device, width=int(width), height=int(height),
                                  seed=recipe.seed, steps=recipe.steps, out_dir=self.out_dir,
                                  input_path=self.input_path, prompt=recipe.prompt, models=ModelCache(),
                                  log=self.log, sketch_seeds=tuple(seed for _, seed in self.specs))
        self.c: Components = build_components(recipe, self.context, self.registry)
        self._warn_unread_prompt(recipe.prompt)
        if self.stages is not None and len(self.stages) > 1 and not self.c.initializer.supports_stages():
            raise self.c.initializer.stages_unsupported()  # before the first step
        self.target = self._target()
        resolved = resolved_dict(recipe, self.registry, self.host.plugin_versions())
        for term in self.c.losses:
            term.loss.prepare(self.target)
        self.names = [sketch_name(n, s) for n, s in self.specs]
        # what each sketch's losses draw from (LossInput.generators)
        self.loss_generators = [derived_generator(seed, "losses") for _, seed in self.specs]
        self._reset_best()
        self.flat = [False] * len(self.specs)  # a flat evaluation since the last improvement (early_stop)
        self.stopped_step: list[int | None] = [None] * len(self.specs)
        self.held: list[VectorScene | None] = [None] * len(self.specs)  # a stopped sketch's state
        self.start_step, self.elapsed0 = 0, 0.0
        if self.checkpoint is None:
            self.scenes = self._initialize()
            self._check_strokes(f"initializer {self.c.initializer.name!r}")
            self.c.optimizer.setup(self.scenes)
        else:
            self._check_resume(self.checkpoint)
            self._restore(self.checkpoint)
            self._check_strokes(f"the checkpoint in {self.out_dir}", "start the run again without --resume")
        # Only now, with the run known to be consistent, does anything in the folder change.
        if self.checkpoint is None or (self.start_step < self.steps and not self.all_stopped()):
            self._write_run_header(resolved)  # a resume with nothing to optimise keeps the recorded recipe
        if recipe["video"] and self.checkpoint is not None:
            self.frames = self._earlier_frames()
        self.completed = self.current = self.start_step
        self._note_step_start()
        self.t0 = time.perf_counter()
        self._open_metrics()

    def _warn_unread_prompt(self, prompt: str | None) -> None:
        parts = [self.c.renderer, self.c.initializer, self.c.optimizer, *self.c.preprocessors,
                 *(term.loss for term in self.c.losses)]
        if prompt and not any(part.uses_prompt for part in parts):
            warnings.warn(f"the prompt {prompt!r} is ignored: no component of this run reads a prompt (the "
                          f"clip_text loss of clipdraw does).", VecrenderWarning, stacklevel=2)

    def _discard_unstarted_output(self) -> None:
        """A run that failed before its first step (missing weights, bad options) leaves no folder
        behind, so the next attempt writes to the same place instead of a numbered one."""
        if self.created_out_dir is None or self.checkpoint is not None:
            return
        if not self.out_dir_existed:
            shutil.rmtree(self.created_out_dir, ignore_errors=True)
            for parent in self.created_parents:  # runs/ too, when this run made it and it is empty
                try:
                    parent.rmdir()
                except OSError:
                    break
            return
        for child in self.created_out_dir.iterdir():  # it was empty when the run began
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def _write_run_header(self, resolved: dict[str, Any]) -> None:
        """The run's first writes: the earlier run's outputs gone (overwrite), target, resolved recipe."""
        if self.replace_outputs:
            clear_run_outputs(self.out_dir)
        if self.target is not None:
            save_png(self.out_dir / "target.png", self.target)
        if self.checkpoint is not None:
            self._warn_changed_on_resume(resolved)
        atomic_write_text(self.out_dir / RESOLVED, dump_yaml(resolved))

    def _warn_changed_on_resume(self, resolved: dict[str, Any]) -> None:
        """A resume given other values (more steps, another learning rate) records them in place of
        the old ones: a rerun of the recipe then uses them from step 0, which is another run."""
        try:
            recorded = safe_load((self.out_dir / RESOLVED).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):  # then there is nothing to compare with
            return
        changed = [key for key in resolved if key != "plugins" and recorded.get(key) != resolved[key]]
        if changed == ["steps"] and not _steps_shape_the_run(resolved):
            return  # more (or fewer) steps of the same run: a rerun with them goes through the same states
        if changed:
            self.log(f"warning: resumed at step {self.start_step} with other values for {', '.join(changed)}; "
                     f"{RESOLVED} now records them, so a run of it uses them from step 0 and does not "
                     f"reproduce this run exactly.")

    def _input_path(self) -> Path | None:
        path = self.options.input_path
        path = None if path is None else Path(path).expanduser()  # `--input=~/x.png`: the shell leaves that ~
        if self.checkpoint is not None:
            path = self._resume_input(path)
        if path is not None:
            return path
        if self.recipe.canvas_from_input:
            raise InputImageError(f"{self.recipe.where('canvas')}: canvas: input gives the canvas the input image's "
                                  "size, and this run has no input image: pass --input IMAGE, or give the canvas "
                                  "a size (--set canvas=224).")
        method = self.recipe.method
        if method in self.registry.names("method") and self.registry.get("method", method).needs_input:
            what = f"method {method!r}" if self.recipe.source == f"method {method!r}" else (
                f"{self.recipe.source} (a recipe on method {method!r})")
            raise InputImageError(f"{what} needs an input image: pass --input IMAGE.")
        for entry in self.recipe.losses:
            if entry["weight"] != 0 and getattr(self.registry.get("loss", entry["use"]), "needs_target", False):
                raise InputImageError(f"loss {entry['label']!r} ({entry['use']}) compares against an input "
                                      f"image: pass --input IMAGE.")
        return None

    def _resume_input(self, given: Path | None) -> Path | None:
        """The input image of a resumed run: the one its checkpoint recorded (by absolute path and
        content); ``--input`` may name it again (or a copy of it), never another image."""
        recorded, digest = self.checkpoint.get("input_path"), self.checkpoint.get("input_sha256")
        where = f"--resume {self.options.resume}"
        if given is None:
            if recorded is None:
                return None
            if not Path(recorded).is_file():
                raise InputImageError(f"{where}: the run's input image {recorded} is gone (moved or deleted); pass "
                                      f"it again with --input.")
            if digest and file_digest(Path(recorded)) != digest:
                raise InputImageError(f"{where}: the run's input image {recorded} changed since the run started; "
                                      f"restore it, or start a new run for the changed image.")
            return Path(recorded)
        if recorded is None:
            raise InputImageError(f"{where}: the run had no input image; drop --input {given}.")
        if not Path(given).is_file():
            return Path(given)  # load_image says what is wrong with it
        if digest:
            same = file_digest(Path(given)) == digest
        else:  # a checkpoint from before digests; its path may be relative to a folder it does not name
            same = not Path(recorded).is_absolute() or Path(given).resolve() == Path(recorded).resolve()
        if not same:
            raise InputImageError(f"{where}: --input {given} is not the image the run started from ({recorded}); "
                                  f"a resume goes on towards the same image: drop --input, or start a new run for "
                                  f"{given}.")
        return Path(given)

    def _claim_out_dir(self) -> None:
        """Choose the output folder (`_out_dir`), create it and lock it (`lock_folder`). A default
        folder that another run holds, even while still empty, is taken: the next number is tried."""
        self.replace_outputs = False  # overwrite: an earlier run's outputs are removed before writing
        taken: set[Path] = set()
        while True:
            self.out_dir = self._out_dir(taken)
            if not self.out_dir.exists() or not any(self.out_dir.iterdir()):
                self.created_out_dir = self.out_dir
                self.out_dir_existed = self.out_dir.exists()
                self.created_parents = [p for p in self.out_dir.resolve().parents if not p.exists()]  # nearest first
            make_dirs(self.out_dir)
            try:
                self.out_dir_lock = lock_folder(self.out_dir)
                return
            except OutputError:
                self.created_out_dir = None  # another run's folder: never removed by this one
                if self.options.resume is not None or self.options.out_dir is not None or self.options.overwrite:
                    raise
                taken.add(self.out_dir)

    def _out_dir(self, taken: set[Path]) -> Path:
        """The output folder. An explicit one is never renumbered; the default one is when it is not
        empty or is `taken`. With overwrite, only a folder holding a run (whose outputs are then
        replaced)."""
        if self.options.resume is not None:
            return Path(self.options.resume)
        explicit = self.options.out_dir is not None
        path = Path(self.options.out_dir) if explicit else Path("runs") / (
            f"{self.input_path.stem}-{self.method_name}" if self.input_path else self.method_name)
        if path.exists() and not path.is_dir():
            raise OutputError(f"--out {path} is a file; --out names the folder for the run's outputs: choose "
                              f"another.")
        if path not in taken and (not path.exists() or not any(path.iterdir())):
            return path
        if self.options.overwrite:
            if not is_run_dir(path):
                raise ConfigError(f"--overwrite: {path} is not empty and holds no vecrender run (no {RESOLVED} "
                                  f"or {METRICS}), so nothing in it is replaced; choose another --out.")
            self.replace_outputs = True
            return path
        if explicit:
            raise ConfigError(f"--out {path} already exists and is not empty: use --overwrite (to replace the run "
                              f"there) or another --out.")
        free = unique_dir(path, taken)
        if path in taken:
            self.log(f"{path} is in use by another run: writing to {free} instead.")
        else:
            self.log(f"{path} already exists and is not empty: writing to {free} instead "
                     f"(pass --overwrite to reuse it).")
        return free

    @property
    def method_name(self) -> str:
        if self.recipe.method:
            return self.recipe.method
        stem = Path(self.recipe.source).stem
        return stem.removesuffix(".resolved")

    @property
    def stem(self) -> str:
        """The outputs' name stem: the input image's; a resume keeps the run's, whatever the path of
        the image it is given now (a moved copy)."""
        recorded = self.checkpoint.get("input_path") if self.checkpoint else None
        source = Path(recorded) if recorded else self.input_path
        return source.stem if source is not None else self.method_name

    def _target(self) -> Tensor | None:
        if self.image is None:
            return None
        image = self.image.to(self.device)
        for pre in self.c.preprocessors:
            image = pre(image)
        if self.recipe.canvas_from_input:  # components read the size when they first draw or score
            from vecrender.images import check_pixels

            check_pixels(image.shape[-1], image.shape[-2], "canvas: input: the preprocessed input image",
                         "downscale it (e.g. preprocess: [{use: fit, size: 512}]), or if this machine has "
                         "the memory", ConfigError)
            self.context.height, self.context.width = image.shape[-2:]
            self.log(f"canvas: {self.context.width} x {self.context.height} px (the input's size)")
        size = (self.context.height, self.context.width)
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
        return image.clamp(0, 1).contiguous()

    def _initialize(self) -> list[VectorScene]:
        scenes = []
        for num_paths, seed in self.specs:
            first = num_paths if self.stages is None else self.stages[0]
            scene = self.c.initializer.initialize(first, seed, self.target)
            scenes.append(scene.to(self.device))
        self.c.initializer.finish()
        return scenes

    def _check_resume(self, state: dict[str, Any]) -> None:
        """Refuse a recipe that does not fit the checkpoint (before anything in the folder changes)."""
        where = f"--resume {self.out_dir}"
        if state["sketches"] != self.names:
            raise ConfigError(f"{where}: the checkpoint holds sketches {', '.join(state['sketches'])} but the "
                              f"recipe asks for {', '.join(self.names)}; a run resumes with the strokes, seeds and "
                              f"seed it started with (drop the --set/--strokes/--seed/--seeds that change them).")
        stages = state.get("stages")
        if (stages or self.stages) and (stages != self.stages or state.get("stage_steps") != self.stage_steps):
            raise ConfigError(f"{where}: the checkpoint was made with stages {stages} and "
                              f"{state.get('stage_steps', state['steps'])} steps per stage, but the recipe asks "
                              f"for stages {self.stages} and {self.stage_steps}; a staged run resumes only "
                              f"with the same stages and steps.")
        size = (state["scenes"][0]["width"], state["scenes"][0]["height"])
        if size != (self.context.width, self.context.height):
            raise ConfigError(f"{where}: the checkpoint's sketches are {size[0]}x{size[1]} px but the recipe asks "
                              f"for a {self.context.width}x{self.context.height} canvas; a run resumes on the "
                              f"canvas it started with (drop the --set that changes canvas or preprocess).")
        if int(state["step"]) > self.steps:
            raise ConfigError(f"{where}: the checkpoint is at step {state['step']}, past the {self.steps} steps the "
                              f"recipe now asks for; give at least {state['step']} steps (--steps), or none to "
                              f"keep the run's.")

    def _restore(self, state: dict[str, Any]) -> None:
        self.stage = int(state.get("stage", 0))
        self.stage_start = int(state.get("stage_start", 0))
        self.scenes = [scene_from_state(s, self.device) for s in state["scenes"]]
        self.c.initializer.finish()
        self.c.optimizer.setup(self.scenes)
        self._load_state("optimizer", self.c.optimizer, state["optimizer"])
        for term in self.c.losses:
            if term.label in state.get("losses", {}):
                self._load_state(f"loss {term.label!r}", term.loss, state["losses"][term.label])
        for i, best in enumerate(state["best"]):
            if best is not None:
                self.best_loss[i], self.best_step[i] = best["loss"], best["step"]
                self.best_scene[i] = scene_from_state(best["scene"], self.device)
                # (checkpoints from before "terms": the terms of its step; the final one's differ at a
                # loss that stops at the last step)
                terms = best.get("terms")
                self.best_terms[i] = active_terms(self.c.losses, best["step"]) if terms is None else frozenset(terms)
        self.start_step, self.elapsed0 = int(state["step"]), float(state.get("elapsed", 0.0))
        set_rng_state(state["rng"], self.loss_generators)
        if self.recipe["early_stop"] and "early_stop" in state:
            self.flat, self.stopped_step = list(state["early_stop"]["flat"]), list(state["early_stop"]["stopped"])
            self.held = [None if st is None else s.detach() for st, s in zip(self.stopped_step, self.scenes)]
        if self.all_stopped():
            self.log(f"{self.out_dir}: every sketch of this run stopped early (early_stop); nothing to optimise. "
                     f"Resume with --set early_stop=false to go on optimising them.")
        elif self.start_step >= self.steps and self.stages is not None:
            self.log(f"{self.out_dir}: this staged run already finished ({self.start_step} steps); nothing "
                     f"to optimise (a staged run cannot be extended).")
        elif self.start_step >= self.steps:
            self.log(f"{self.out_dir}: this run already finished ({self.start_step} steps); nothing to "
                     f"optimise. Resume with --set steps=N (N > {self.start_step}) to continue it.")
        else:
            self.log(f"resuming {self.out_dir} at step {self.start_step} of {self.steps}.")

    def _load_state(self, what: str, component: Any, state: dict[str, Any]) -> None:
        try:
            component.load_state_dict(state)
        except Exception as exc:  # another optimizer or loss than the run's: its state is not this one's
            raise ConfigError(f"--resume {self.out_dir}: the checkpoint's {what} state does not fit the recipe's "
                              f"{component.name!r} ({type(exc).__name__}: {exc}); a run resumes with the optimizer "
                              f"and losses it started with.") from None

    def _earlier_frames(self) -> list[np.ndarray]:
        """The video frames of the steps before the checkpoint's (every ``video_every`` steps from 0),
        read back from the GIF the run wrote: the checkpoint does not hold them."""
        wanted = -(-self.start_step // self.recipe["video_every"])
        frames = read_gif(self.out_dir / VIDEO) if wanted else []
        if len(frames) < wanted:
            self.log(f"warning: {VIDEO} holds {len(frames)} of the {wanted} frames before step {self.start_step} "
                     f"(it is written when a run ends); the video misses the others.")
        return frames[:wanted]

    def _open_metrics(self) -> None:
        path = self.out_dir / METRICS
        kept = []
        if self.checkpoint is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["step"] < self.start_step:
                        kept.append(line + "\n")
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
        try:
            atomic_write_text(path, "".join(kept))  # a kill here keeps the old lines, never none
            self.metrics_file = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise output_error(path, exc) from None

    def close(self) -> None:
        self.close_progress()
        if self.metrics_file is not None:
            self.metrics_file.close()
            self.metrics_file = None
        if self.out_dir_lock is not None:
            os.close(self.out_dir_lock)
            self.out_dir_lock = None

    # -- the loop ----------------------------------------------------------------------------
    def loop(self) -> None:
        self._start_progress()
        for step in range(self.start_step, self.steps):
            if self.all_stopped():
                break
            # A step is applied whole (strokes, best, early stop, metrics line) or, on an error, not
            # at all: a stop signal waits for the step's end.
            with _signals_deferred(self._stopping_notice) as deferred:
                self.run_step(step)
            if deferred.signum is not None:
                raise _Stopped(deferred.signum)
        self.close_progress()

    def run_step(self, step: int) -> None:
        """Step `step`: a stage start if one is due, a periodic checkpoint, the update, its metrics."""
        r = self.recipe
        self.current = step
        self._note_step_start()
        if self.stages is not None and step // self.stage_steps > self.stage:
            self.next_stage(step // self.stage_steps)
            self._note_step_start()
        if r["save_every"] and step % r["save_every"] == 0 and step not in (0, self.start_step):
            self.save_checkpoint(step, self.step_rng, self.step_losses, self.step_early_stop)
            self.save_snapshots(step)
        values, evaluated = self.train_step(step)
        self.completed = step + 1
        if step % r["log_every"] == 0 or evaluated is not None:
            self.write_metrics(step, values, evaluated)
        self._progress(step, values, evaluated)

    def _stopping_notice(self, signum: int) -> None:
        if self.options.quiet:
            return
        print(f"\n{stopped_by(signum)}: finishing step {self.current + 1} of {self.steps}, then saving the "
              f"best sketches and a checkpoint...", file=sys.stderr, flush=True)

    def _note_step_start(self) -> None:
        """The RNG, loss and early-stop states at the start of the current step: what `finish`
        saves when the step is not applied, so a resume replays it exactly."""
        self.step_rng = self._rng_state()
        self.step_losses = self.loss_states()
        self.step_early_stop = self.early_stop_state()

    def _check_gradient_sources(self, values: dict[str, Tensor], step: int) -> None:
        """A loss term whose value carries no gradient (a ``.detach()``, ``.item()`` or an operation
        without one) is logged but steers nothing: said once per term. With no term carrying one,
        nothing can be optimised."""
        inert = [name for name, value in values.items() if name != "total" and not value.requires_grad]
        if not values["total"].requires_grad:
            raise VecrenderError(f"no loss gives a gradient at step {step} ({', '.join(inert)}): their values do not "
                                 f"depend on the strokes (a .detach(), .item() or an operation without a gradient "
                                 f"in the loss), so nothing can be optimised.")
        for name in inert:
            if name not in self.inert_terms:
                self.inert_terms.add(name)
                self.log(f"warning: loss {name!r} gives no gradient at step {step}: its value does not depend on "
                         f"the strokes (a .detach(), .item() or an operation without a gradient in the loss), so "
                         f"it is logged but steers nothing.")

    def _check_gradients(self, step: int) -> None:
        """Stop before a non-finite gradient reaches the strokes, so the state on disk stays the
        last finite one (one host read per step)."""
        bad = _first_non_finite([(i, name, t.grad) for i, name, t in self._stroke_tensors() if t.grad is not None])
        if bad is None:
            return
        i, name, _ = bad
        raise NonFiniteLossError(
            f"the gradient of the {name} is not finite at step {step} (sketch {self.names[i]}), though every loss "
            f"is; the strokes were not updated, and the best sketch so far and "
            f"the last finite state are in {self.out_dir}. A loss or the renderer has no finite gradient "
            f"at these strokes: check the losses (e.g. a square root or a norm at 0).")

    def _update(self, step: int) -> None:
        """The optimizer's step; one that makes strokes non-finite (a learning rate far too high, an
        ``eps`` of 0) is undone on the strokes and fails the run, before any evaluation keeps them
        as the best (strokes far off the canvas draw nothing, so no loss would see them)."""
        tensors = self._stroke_tensors()
        before = [t.detach().clone() for _, _, t in tensors]
        self.c.optimizer.step(step if self.stages is None else step - self.stage * self.stage_steps)
        bad = _first_non_finite(tensors)
        if bad is None:
            return
        i, name, _ = bad
        with torch.no_grad():
            for (_, _, t), old in zip(tensors, before):
                t.copy_(old)
        raise NonFiniteLossError(
            f"the optimizer's update at step {step} made the {name} of sketch {self.names[i]} non-finite, though "
            f"the losses and gradients are finite; the strokes are kept as they were before it, and the best "
            f"sketch so far and that last finite state are in {self.out_dir}. Lower the learning rate, or check "
            f"the optimizer's options (e.g. eps > 0).")

    def _stroke_tensors(self) -> list[tuple[int, str, Tensor]]:
        """(sketch, name, tensor) of every floating-point tensor of the sketches."""
        return [(i, name, t) for i, s in enumerate(self.scenes) for name, t in s.tensors() if t.is_floating_point()]

    def _check_strokes(self, source: str, advice: str = "check its options (e.g. a step or width far too "
                                                           "large)") -> None:
        """The strokes that `source` gave are finite: every update keeps them so (`_update`), so a
        non-finite value is never blamed on the optimizer or a loss."""
        bad = _first_non_finite(self._stroke_tensors())
        if bad is not None:
            i, name, _ = bad
            raise NonFiniteLossError(f"{source} gave sketch {self.names[i]} non-finite {name}: {advice}.")

    def _non_finite_advice(self, rgba: Tensor | None) -> str:
        """Where the outputs are and what to do about a non-finite loss, from the first of its
        inputs that is not finite (the strokes are, see `_check_strokes`)."""
        kept = f"the best sketch so far and the last finite state are in {self.out_dir}."
        if rgba is not None and not torch.isfinite(rgba).all():
            return (f"{kept} The strokes are finite but their render is not: the renderer could not draw them "
                    "(for 'native' on a GPU, a tile met by more paths than its tile_capacity: set "
                    "renderer.tile_capacity higher, or 0 for exact bins).")
        return f"{kept} Lower the learning rate or the loss weight, or check the loss."

    def train_step(self, step: int) -> tuple[dict[str, Tensor], Tensor | None]:
        """One step: the loss terms ``[S]`` of every sketch (NaN: stopped, not scored) and the
        evaluation ``[S]`` if this step has one."""
        c = self.c
        c.optimizer.zero_grad()
        active = self.active_sketches()
        scenes = [self.scenes[i] for i in active]
        rgba = c.renderer.render(scenes)
        images = composite(rgba, scenes)
        batch = LossInput(images, rgba, scenes, self.target, step, True, self.stage_start, active,
                          [self.loss_generators[i] for i in active])
        total, values = compute_terms(c.losses, batch)
        values = {**values, "total": total}  # named terms first: the error names the culprit
        for name, value in values.items():
            if not torch.isfinite(value).all():
                bad = [self.names[i] for i, v in zip(active, value.tolist()) if not math.isfinite(v)]
                raise NonFiniteLossError(
                    f"loss {name!r} is {value[~torch.isfinite(value)][0].item()} at step {step} "
                    f"(sketch {', '.join(bad)}); {self._non_finite_advice(rgba)}")
        self._check_gradient_sources(values, step)
        evaluated = None
        if step % self.recipe["eval_every"] == 0:
            evaluated = self.evaluate(rgba.detach(), images.detach(), step, step, active=active)
        if self.recipe["video"] and step % self.recipe["video_every"] == 0:
            self.frames.append(frame_grid(images.detach()))
        total.sum().backward()
        self._check_gradients(step)
        self._update(step)
        self._hold_stopped()
        return {k: self._every_sketch(v.detach(), active) for k, v in values.items()}, evaluated

    def active_sketches(self) -> list[int]:
        """The sketches a step renders and scores: those early_stop has not stopped, or all with
        ``video`` (its frames show every sketch) or a stateful loss (its state is per sketch)."""
        every = range(len(self.scenes))
        if self.recipe["video"] or any(term.loss.state_dict() for term in self.c.losses):
            return list(every)
        return [i for i in every if self.stopped_step[i] is None]

    def _every_sketch(self, values: Tensor, active: list[int]) -> Tensor:
        """``[S]`` from the values ``[len(active)]`` of the sketches `active`, NaN for the others."""
        if len(active) == len(self.scenes):
            return values
        index = torch.tensor(active, device=values.device)
        return values.new_full((len(self.scenes),), math.nan).index_copy(0, index, values)

    def all_stopped(self) -> bool:
        return all(st is not None for st in self.stopped_step)

    @torch.no_grad()
    def _hold_stopped(self) -> None:
        """Keep each stopped sketch at its state after the update of the step it stopped at (its
        gradients are still computed with the others', and discarded here)."""
        for i, held in enumerate(self.held):
            if self.stopped_step[i] is None:
                continue
            if held is None:
                self.held[i] = self.scenes[i].detach()
                continue
            for (_, tensor), (_, kept) in zip(self.scenes[i].tensors(), held.tensors()):
                tensor.copy_(kept)

    def next_stage(self, stage: int) -> None:
        """Start `stage` (0-based): save each sketch's end of the previous stage, append the
        stage's paths (``Initializer.add_paths``), set the optimizer up again, reset the best."""
        self.save_stage_svgs()
        num_new = self.stages[stage]
        with torch.no_grad():
            images = composite(self.c.renderer.render(self.scenes), self.scenes)
        grown = []
        for i, ((_, seed), scene) in enumerate(zip(self.specs, self.scenes)):
            scene = scene.detach()
            new = self.c.initializer.add_paths(scene, num_new, seed + stage, self.target,
                                               images[i:i + 1].detach())
            if not isinstance(new, VectorScene) or new.num_paths != scene.num_paths + num_new:
                got = new.num_paths if isinstance(new, VectorScene) else type(new).__name__
                raise VecrenderError(f"initializer {self.c.initializer.name!r}: add_paths returned {got} "
                                     f"paths, expected {scene.num_paths} + {num_new}.")
            grown.append(new.detach().to(self.device))
        self.stage_start = self.scenes[0].num_paths
        self.scenes, self.stage = grown, stage
        self._check_strokes(f"initializer {self.c.initializer.name!r} (add_paths)")
        self.c.optimizer.setup(self.scenes)
        self._reset_best()
        self.log(f"stage {stage + 1}/{len(self.stages)}: added {num_new} paths per sketch "
                 f"({self.scenes[0].num_paths} in all).")

    def _rng_state(self) -> dict[str, Any]:
        """The random generators' states, global and per sketch (see `rng_state`)."""
        return rng_state(self.device, self.loss_generators)

    def _reset_best(self) -> None:
        """Forgets each sketch's best: its evaluation loss, step, scene and the loss terms it was scored by."""
        self.best_loss = [math.inf] * len(self.specs)
        self.best_step: list[int | None] = [None] * len(self.specs)
        self.best_scene: list[VectorScene | None] = [None] * len(self.specs)
        self.best_terms: list[frozenset[str] | None] = [None] * len(self.specs)

    def save_stage_svgs(self) -> None:
        """``sketches/<name>/stages/stage<k>.svg``: each sketch at the end of stage k (1-based)."""
        for i, scene in enumerate(self.scenes):
            save_svg(self.sketch_dir(i) / "stages" / f"stage{self.stage + 1}.svg", scene)

    @torch.no_grad()
    def evaluate(self, rgba: Tensor, images: Tensor, step: int, active_step: int, final: bool = False,
                 active: list[int] | None = None) -> Tensor:
        """Eval loss ``[S]`` of the given (pre-update) render of the sketches ``active`` (None:
        all; NaN for the others); keeps the best scene per sketch (recipe ``result: final``: the
        scene evaluated last) and, with ``early_stop``, stops the sketches whose best stopped
        falling (not at the ``final`` evaluation). A best scored by other loss terms (a loss that
        starts or stops since) is replaced: totals of different sums are not comparable."""
        active = list(range(len(self.scenes))) if active is None else active
        batch = LossInput(images, rgba, [self.scenes[i] for i in active], self.target, step, False, self.stage_start,
                          active, [self.loss_generators[i] for i in active])
        total, _ = compute_terms(self.c.losses, batch, active_step)
        latest = self.recipe["result"] == "final"
        terms = active_terms(self.c.losses, active_step)
        for i, value in zip(active, total.tolist()):
            if latest or terms != self.best_terms[i] or value < self.best_loss[i] - MIN_DELTA:
                self.best_loss[i], self.best_step[i], self.best_terms[i] = value, step, terms
                self.best_scene[i] = self.scenes[i].detach()
                self.flat[i] = False
            elif self.recipe["early_stop"] and not final and self.stopped_step[i] is None \
                    and abs(value - self.best_loss[i]) <= MIN_DELTA:
                if self.flat[i]:
                    self.stopped_step[i] = step
                    self.log(f"{self.names[i]}: stopped early at step {step} (two evaluations within "
                             f"{MIN_DELTA:g} of its best, {self.best_loss[i]:.6g} at step {self.best_step[i]}).")
                self.flat[i] = True
        return self._every_sketch(total, active)

    @torch.no_grad()
    def evaluate_final(self) -> Tensor:
        rgba = self.c.renderer.render(self.scenes)
        images = composite(rgba, self.scenes)
        if self.recipe["video"]:
            self.frames.append(frame_grid(images))
        return self.evaluate(rgba, images, self.completed, max(self.completed - 1, 0), final=True)

    # -- progress & metrics ------------------------------------------------------------------
    def _start_progress(self) -> None:
        show_bar = self.options.progress if self.options.progress is not None else sys.stderr.isatty()
        if show_bar and not self.options.quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=self.steps, initial=self.start_step, file=sys.stderr, unit="step",
                            dynamic_ncols=True, desc=self.method_name)

    def close_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _summary(self, values: dict[str, Tensor], evaluated: Tensor | None) -> dict[str, str]:
        """Mean terms (and eval) over the sketches scored."""
        out = {name: f"{v.nanmean().item():.4g}" for name, v in values.items()}
        if evaluated is not None:
            out["eval"] = f"{evaluated.nanmean().item():.4g}"
        return out

    def _progress(self, step: int, values: dict[str, Tensor], evaluated: Tensor | None) -> None:
        if self.options.quiet:
            return
        logged = step % self.recipe["log_every"] == 0 or step == self.steps - 1
        if self.bar is not None:
            if logged:
                self.bar.set_postfix(self._summary(values, evaluated), refresh=False)
            self.bar.update(1)
        elif logged:
            done = step + 1 - self.start_step
            elapsed = time.perf_counter() - self.t0
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (self.steps - step - 1) / rate if rate > 0 else 0.0
            terms = " ".join(f"{k}={v}" for k, v in self._summary(values, evaluated).items())
            self.log(f"step {step + 1}/{self.steps} {terms} ({rate:.2f} it/s, ETA {eta:.0f}s)")

    def write_metrics(self, step: int, values: dict[str, Tensor] | None, evaluated: Tensor | None,
                      final: bool = False) -> None:
        sketches = {}
        for i, name in enumerate(self.names):
            entry: dict[str, Any] = {}
            if values is not None and not math.isnan(values["total"][i].item()):  # NaN: stopped
                entry["loss"] = values["total"][i].item()
                entry["terms"] = {k: v[i].item() for k, v in values.items() if k != "total"}
            if evaluated is not None and not math.isnan(evaluated[i].item()):
                entry["eval"] = evaluated[i].item()
                if not final and self.stopped_step[i] == step:
                    entry["stopped"] = True  # early_stop: this sketch's last update was this step's
            sketches[name] = entry
        line: dict[str, Any] = {"step": step, "elapsed": round(self.elapsed(), 4)}
        if final:
            line["final"] = True
        if self.stages is not None:  # the stage and its path count per sketch
            line["stage"] = self.stage
            for i, name in enumerate(self.names):
                sketches[name]["paths"] = self.scenes[i].num_paths
        line["sketches"] = sketches
        try:
            self.metrics_file.write(json.dumps(line) + "\n")
            self.metrics_file.flush()
        except OSError as exc:
            raise output_error(self.out_dir / METRICS, exc) from None

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    # -- outputs -----------------------------------------------------------------------------
    def sketch_dir(self, i: int) -> Path:
        return self.out_dir / SKETCHES / self.names[i]

    def save_snapshots(self, step: int) -> None:
        for i, scene in enumerate(self.scenes):
            save_svg(self.sketch_dir(i) / "snapshots" / f"step_{step:06d}.svg", scene)

    def loss_states(self) -> dict[str, dict[str, Any]]:
        """Each stateful loss's ``state_dict``, by label (a copy: the losses go on changing theirs)."""
        states = {term.label: term.loss.state_dict() for term in self.c.losses}
        return copy.deepcopy({label: state for label, state in states.items() if state})

    def early_stop_state(self) -> dict[str, list]:
        return {"flat": list(self.flat), "stopped": list(self.stopped_step)}

    def save_checkpoint(self, step: int, rng: dict[str, Any], losses: dict[str, dict[str, Any]],
                        early_stop: dict[str, list]) -> None:
        best = [None if s is None else {"loss": loss, "step": st, "terms": sorted(terms), "scene": scene_state(s)}
                for s, loss, st, terms in zip(self.best_scene, self.best_loss, self.best_step, self.best_terms)]
        state = {"format": CHECKPOINT_FORMAT, "step": step, "steps": self.steps, "sketches": self.names,
                 "scenes": [scene_state(s) for s in self.scenes], "optimizer": self.c.optimizer.state_dict(),
                 "best": best, "rng": rng, "elapsed": self.elapsed(), "stage": self.stage,
                 "stages": self.stages, "stage_steps": self.stage_steps, "stage_start": self.stage_start,
                 "losses": losses, "early_stop": early_stop,
                 # absolute, so a resume from another folder finds it; the digest tells a changed image
                 "input_path": None if self.input_path is None else str(self.input_path.resolve()),
                 "input_sha256": self.input_sha256}
        atomic_write(self.out_dir / CHECKPOINT, lambda f: torch.save(state, f))

    @torch.no_grad()
    def render_image(self, scene: VectorScene) -> Tensor:
        rgba = self.c.renderer.render([scene])
        return composite(rgba, [scene])[0]

    def finish(self, status: str) -> RunResult:
        """Write best/final outputs and the checkpoint (also after an interruption or a failure)."""
        self.close_progress()
        unapplied = self.completed == self.current  # then the states of `_note_step_start`
        rng = self.step_rng if unapplied else self._rng_state()
        losses = self.step_losses if unapplied else self.loss_states()
        early_stop = self.step_early_stop if unapplied else self.early_stop_state()
        final_eval = None
        if status == "finished":
            final_eval = self.evaluate_final()
            self.write_metrics(self.completed, None, final_eval, final=True)
            self.save_snapshots(self.completed)
            if self.stages is not None:
                self.save_stage_svgs()
        self.save_checkpoint(self.completed, rng, losses, early_stop)
        results = [self._write_sketch(i, final_eval, strict=status == "finished")
                   for i in range(len(self.scenes))]
        outputs = self._write_winners(results)
        if self.frames:
            write_gif(self.out_dir / VIDEO, self.frames)
            try:
                write_mp4(self.out_dir / "optimization.mp4", self.frames)
            except Exception as exc:  # the GIF is the guaranteed video; mp4 depends on ffmpeg
                self.log(f"warning: could not write optimization.mp4: {exc}")
        self.close()
        return RunResult(self.out_dir, status, self.completed, results, outputs)

    def _write_sketch(self, i: int, final_eval: Tensor | None, strict: bool) -> SketchResult:
        num_paths, seed = self.specs[i]
        folder = self.sketch_dir(i)
        best = self.best_scene[i] if self.best_scene[i] is not None else self.scenes[i]
        paths = {}
        for kind, scene in (("best", best), ("final", self.scenes[i])):
            paths[f"{kind}_svg"] = folder / f"{kind}.svg"
            paths[f"{kind}_png"] = folder / f"{kind}.png"
            try:
                save_svg(paths[f"{kind}_svg"], scene)
                save_png(paths[f"{kind}_png"], self.render_image(scene))
            except Exception as exc:  # e.g. NaN points after a failure: keep the other files
                if strict:
                    raise
                self.log(f"warning: {self.names[i]}: {kind} not written: {exc}")
        best_loss = self.best_loss[i] if math.isfinite(self.best_loss[i]) else None
        final_loss = None if final_eval is None else final_eval[i].item()
        return SketchResult(num_paths, seed, self.names[i], best_loss, self.best_step[i], final_loss, **paths)

    def _write_winners(self, results: list[SketchResult]) -> dict[int, Path]:
        outputs = {}
        counts = self.recipe.strokes
        for n in counts:
            group = [r for r in results if r.num_paths == n]
            winner = min(group, key=lambda r: math.inf if r.best_loss is None else r.best_loss)
            outputs[n] = self.out_dir / f"{self.stem}-{n}paths.svg"
            _copy(winner.best_svg, outputs[n])
            _copy(winner.best_png, outputs[n].with_suffix(".png"))
            if len(counts) == 1:
                for kind in ("best", "final"):
                    _copy(getattr(winner, f"{kind}_svg"), self.out_dir / f"{kind}.svg")
                    _copy(getattr(winner, f"{kind}_png"), self.out_dir / f"{kind}.png")
        return outputs


def _copy(src: Path, dst: Path) -> None:
    if src.is_file():  # missing only when a failed run could not write it
        atomic_write_bytes(dst, src.read_bytes())


__all__ = ["RunOptions", "RunResult", "SketchResult", "clear_run_outputs", "compute_terms", "composite",
           "is_run_dir", "load_checkpoint", "load_resume_recipe", "resolve_device", "run", "unique_dir"]
