"""Built-in initializers, registered through the same hooks as any plugin.

* ``random``: strokes (or closed blobs) starting at uniform points, shaped by a chained random walk.
* ``svg``: the paths of an SVG file, plus random strokes up to the requested count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from vecrender import hookimpl
from vecrender.components import Initializer, RunContext
from vecrender.config import check_interval, option
from vecrender.errors import InputImageError
from vecrender.functional import paths as fp
from vecrender.scene import VectorScene, concat_scenes


@dataclass
class RandomConfig:
    segments: int = option(1, "Cubic segments per path (the minimum when max_segments is set).", min=1)
    max_segments: int | None = option(
        None, "When set, each path gets a uniform random number of segments in segments..max_segments "
        "(CLIPDraw uses 1..3).", min=1)
    step: float = option(
        0.025, "Random-walk bound: each control point moves U(-step, step) from the previous one, as a "
        "fraction of the canvas width (x) and height (y). CLIPasso 0.025, CLIPDraw 0.05.", min=0)
    width: float = option(3.0, "Stroke width in pixels (full SVG width). 0 draws no outline.", min=0)
    color: list[float] = option([0.0, 0.0, 0.0, 1.0], "RGBA color of every path when random_color is false.",
                                min=0, max=1)
    random_color: bool = option(False, "Random RGBA per path (RGB uniform, alpha in alpha_range), as CLIPDraw.")
    alpha_range: list[float] = option([0.0, 1.0], "Alpha range [low, high] of random colors.", min=0, max=1)
    closed: bool = option(
        False, "Closed filled blobs instead of open strokes; the fill uses the path color (random or "
        "`color`), the outline uses the same color with `width`.")
    even_odd: bool = option(
        False, "Closed blobs: fill by the even-odd rule, diffvg's default in the reference painterly "
        "code (where a blob crosses itself it has a hole); false: nonzero, SVG's default. The SVG "
        "output says which (fill-rule).")

    def __post_init__(self) -> None:
        if self.max_segments is not None and self.max_segments < self.segments:
            raise ValueError(f"max_segments: must be >= segments ({self.segments}), got {self.max_segments}")
        if self.closed and self.segments < 2:
            raise ValueError(f"segments: closed blobs need at least 2 segments, got {self.segments}")
        if len(self.color) != 4:
            raise ValueError(f"color: expected 4 values in [0, 1] (RGBA), got {self.color}")
        check_interval("alpha_range", self.alpha_range)


def random_scene_from_config(config: RandomConfig, num_paths: int, seed: int, width: int,
                             height: int) -> VectorScene:
    """The scene the ``random`` initializer builds (shared with ``svg`` for its extra strokes)."""
    gen = fp.make_generator(seed)
    starts = fp.uniform_points(num_paths, width, height, gen)
    k_max = config.max_segments or config.segments
    points = fp.random_walk_paths(starts, k_max, (config.step * width, config.step * height), gen)
    counts = None
    if config.max_segments is not None:
        counts = fp.random_segment_counts(num_paths, config.segments, config.max_segments, gen)
    if config.random_color:
        colors = fp.random_colors(num_paths, gen, config.alpha_range)
    else:
        colors = torch.tensor(config.color, dtype=torch.float32).expand(num_paths, 4).clone()
    scene = fp.stroke_scene(points, config.width, colors, width, height, num_segments=counts,
                            closed=config.closed, fill_colors=colors.clone() if config.closed else None)
    return replace(scene, even_odd=torch.full((num_paths,), config.closed and config.even_odd, dtype=torch.bool))


class RandomInit(Initializer):
    """Random strokes (or blobs): uniform start points, chained random walk (CLIPasso/CLIPDraw style)."""

    name = "random"
    Config = RandomConfig

    def initialize(self, num_paths: int, seed: int, target: Tensor | None) -> VectorScene:
        scene = random_scene_from_config(self.config, num_paths, seed, self.context.width, self.context.height)
        return scene.to(self.context.device)


@dataclass(kw_only=True)
class SvgConfig(RandomConfig):
    path: str = option(
        doc="SVG file to start from (required); relative paths are resolved against the working directory.")
    rescale: bool = option(True, "Scale the file's drawing to the canvas when their sizes differ.")
    truncate: bool = option(
        False, "When the file has more paths than requested, keep only the first ones (default: keep all "
        "file paths, so the sketch may have more paths than requested).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.path:
            raise ValueError("path: empty; give the SVG file to start from, e.g. --set initializer.path=drawing.svg")


class SvgInit(Initializer):
    """Paths loaded from an SVG file, plus random strokes up to the requested number of paths."""

    name = "svg"
    Config = SvgConfig

    def __init__(self, config: SvgConfig | None = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._loaded: VectorScene | None = None

    def _load(self) -> VectorScene:
        if self._loaded is None:
            path = Path(self.config.path).expanduser()
            if not path.is_file():
                raise InputImageError(f"initializer (svg): SVG file {str(path)!r} not found; check "
                                      "initializer.path.")
            from vecrender.svg import load_svg  # lazy: SVG parsing only when this initializer runs

            self._loaded = load_svg(path)
        return self._loaded

    def initialize(self, num_paths: int, seed: int, target: Tensor | None) -> VectorScene:
        width, height = self.context.width, self.context.height
        scene = self._load().resized(width, height) if self.config.rescale else self._load()
        scene = replace(scene, width=width, height=height).detach()
        if scene.num_paths > num_paths and self.config.truncate:
            scene = scene.paths(slice(0, num_paths))
        extra = num_paths - scene.num_paths
        if extra > 0:
            scene = concat_scenes([scene, random_scene_from_config(self.config, extra, seed, width, height)])
        return scene.to(self.context.device, dtype=torch.float32)


@hookimpl
def register_initializers(register) -> None:
    register(RandomInit)
    register(SvgInit)
