"""``losses.live``: LIVE's component-wise initialisation of closed filled shapes.

LIVE adds shapes where the current drawing is most wrong: it quantises the per-pixel error into
levels, and for each new shape takes the level covering the most pixels, the largest 4-connected
region of that level, and the region pixel nearest its centroid. A small circle-like closed path
is placed there, filled with the target colour at that pixel. All shapes of one stage are placed
from one error map (the drawing so far against the target), as LIVE does. Layer-wise addition
within a run: a recipe's ``stages`` makes the runner call ``add_paths`` with the current render at
every stage start. Earlier shapes can also be given as an SVG (``base``), so stages can still be
a chain of runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

import vecrender
from vecrender.components import Initializer
from vecrender.errors import ConfigError, InputImageError
from vecrender.functional import paths as fp
from vecrender.scene import VectorScene, concat_scenes


# -- pure helpers ---------------------------------------------------------------------------------
def error_levels(error: np.ndarray, threshold: float = 0.1, levels: int = 200) -> np.ndarray:
    """Quantise an ``[H, W]`` error map into integer levels; the lowest level gets -1 (left out).

    Errors below `threshold` count as 0. Level edges are the error quantiles without the lowest
    and highest (LIVE uses 200), so every level holds about as many pixels. As LIVE, the lowest
    level is left out: the pixels already right, or where none is, the least wrong ones. Where
    that leaves nothing (the map holds two values, or one), LIVE places shapes at random; here
    the wrong pixels form the one level instead.
    """
    error = np.where(error < threshold, 0.0, error)
    edges = np.unique(np.quantile(error, np.linspace(0.0, 1.0, levels)))[1:-1]
    labels = np.digitize(error, edges).astype(np.int64)
    labels[labels == labels.min()] = -1
    if (labels < 0).all():
        labels[error > 0] = 0
    return labels


def component_positions(labels: np.ndarray, count: int, generator: torch.Generator) -> list[tuple[float, float]]:
    """`count` (x, y) pixel positions, one per largest error region (LIVE's "sparse" placement).

    Each pick removes its region from `labels` (a copy is used); once no level is left the
    remaining positions are uniform random on the canvas.
    """
    from scipy import ndimage

    labels = labels.copy()
    height, width = labels.shape
    values, sizes = np.unique(labels[labels >= 0], return_counts=True)
    remaining = dict(zip(values.tolist(), sizes.tolist()))
    out: list[tuple[float, float]] = []
    while len(out) < count:
        if not remaining:
            x, y = (torch.rand(2, generator=generator) * torch.tensor([width, height])).tolist()
            out.append((x, y))
            continue
        level = max(remaining, key=lambda k: (remaining[k], -k))
        regions, n = ndimage.label(labels == level)  # 4-connected in 2-D
        if n == 0:
            del remaining[level]
            continue
        region_sizes = np.bincount(regions.ravel())[1:]
        region = regions == (int(np.argmax(region_sizes)) + 1)
        ys, xs = np.nonzero(region)
        cy, cx = ys.mean(), xs.mean()
        nearest = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        out.append((float(xs[nearest]), float(ys[nearest])))
        remaining[level] -= int(region.sum())
        if remaining[level] <= 0:
            del remaining[level]
        labels[region] = -1
    return out


def largest_error_pixels(error: np.ndarray, count: int) -> Tensor:
    """``[count, 2]`` (x, y) pixel positions of the `count` largest values of ``error`` ``[H, W]``,
    largest first, ties in row-major order (LIVE's naive placement, which takes the maximum and
    marks it taken, shape after shape)."""
    order = np.argsort(-error.ravel(), kind="stable")[:count]
    rows, cols = np.unravel_index(order, error.shape)
    return torch.tensor(np.stack([cols, rows], axis=-1), dtype=torch.float32).reshape(-1, 2)


def circle_paths(centers: Tensor, segments: int, radius: float) -> Tensor:
    """Closed paths whose ``3 * segments`` control points lie evenly on a circle around each centre.

    ``centers`` ``[N, 2]`` -> points ``[N, 1 + 3 * segments, 2]`` (the stored last point repeats the
    first; closed paths ignore it).
    """
    k = 3 * segments
    angles = torch.arange(k + 1, dtype=centers.dtype) * (2 * math.pi / k)
    ring = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1) * radius
    return centers[:, None, :] + ring[None]


def sample_colors(target: Tensor, positions: Tensor) -> Tensor:
    """Target RGB at integer pixel positions ``[N, 2]`` (clamped to the image), alpha 1 -> ``[N, 4]``."""
    _, _, height, width = target.shape
    x = positions[:, 0].long().clamp(0, width - 1)
    y = positions[:, 1].long().clamp(0, height - 1)
    rgb = target[0, :, y, x].T.float()
    return torch.cat([rgb, torch.ones(rgb.shape[0], 1)], dim=1)


# -- the component --------------------------------------------------------------------------------
class LiveInit(Initializer):
    """LIVE: closed filled shapes placed at the largest regions of error (needs an input image)."""

    name = "losses.live"

    @dataclass
    class Config:
        segments: int = vecrender.option(4, "Cubic segments per closed shape (LIVE: 4).", min=2)
        radius: float = vecrender.option(5.0, "Initial shape radius in pixels (LIVE: 5).", above=0)
        shape: str = vecrender.option(
            "circle", "circle: control points on a circle; random: a chained random walk of steps "
            "U(-radius/2, radius/2) from the position.", choices=("circle", "random"))
        placement: str = vecrender.option(
            "sparse", "sparse: largest error regions (LIVE's default); naive: the pixels of largest "
            "error, one per shape (LIVE's naive); random: uniform on the canvas.",
            choices=("sparse", "naive", "random"))
        error_threshold: float = vecrender.option(
            0.1, "Per-pixel squared error (summed over RGB) below which a pixel counts as correct.")
        levels: int = vecrender.option(200, "Number of error quantiles used to group pixels.", min=3)
        base: str | None = vecrender.option(
            None, "SVG of shapes from earlier stages: they are kept first and the error map is computed "
            "against their render (layer-wise addition as a chain of runs).")
        renderer: str = vecrender.option(
            "native", "Renderer used to draw `base` for the error map.")
        even_odd: bool = vecrender.option(
            False, "Fill the shapes by the even-odd rule, diffvg's default in the reference LIVE code "
            "(where a shape crosses itself it has a hole); false: nonzero, SVG's default. The SVG "
            "output says which (fill-rule).")

    def initialize(self, num_paths: int, seed: int, target: Tensor | None) -> VectorScene:
        if target is None:
            raise ConfigError("initializer 'losses.live' places shapes where the drawing differs from the "
                              "input image: pass --input IMAGE.")
        width, height = self.context.width, self.context.height
        target = target.detach().float().cpu()
        base = self._base(width, height)
        new = max(num_paths - (0 if base is None else base.num_paths), 0)
        generator = fp.make_generator(seed)
        positions = self.positions(self._current(base, target), target, new, generator)
        scene = self.shapes(positions, target, generator, width, height)
        if base is not None:
            scene = concat_scenes([base, scene]) if new else base
        return scene.to(self.context.device)

    def add_paths(self, scene: VectorScene, num_new: int, seed: int, target: Tensor | None,
                  current: Tensor) -> VectorScene:
        """`scene` plus `num_new` shapes placed at the largest error regions of `current` (a stage)."""
        if target is None:
            raise ConfigError("initializer 'losses.live' places shapes where the drawing differs from the "
                              "input image: pass --input IMAGE.")
        target = target.detach().float().cpu()
        generator = fp.make_generator(seed)
        positions = self.positions(current.detach().float().cpu(), target, num_new, generator)
        new = self.shapes(positions, target, generator, scene.width, scene.height)
        if scene.fill_colors is None:
            scene = replace(scene, fill_colors=torch.zeros(scene.num_paths, 4, device=scene.device))
        return concat_scenes([scene, new.to(scene.device, dtype=scene.points.dtype)])

    def positions(self, current: Tensor, target: Tensor, count: int, generator: torch.Generator) -> Tensor:
        """``[count, 2]`` positions from the error between `current` and `target` (both ``[1, 3, H, W]``)."""
        _, _, height, width = target.shape
        if self.config.placement == "random" or count == 0:
            return fp.uniform_points(count, width, height, generator)
        error = (current - target).pow(2).sum(dim=1)[0].numpy()
        if self.config.placement == "naive":
            return largest_error_pixels(error, count)
        labels = error_levels(error, self.config.error_threshold, self.config.levels)
        return torch.tensor(component_positions(labels, count, generator), dtype=torch.float32).reshape(-1, 2)

    def shapes(self, positions: Tensor, target: Tensor, generator: torch.Generator, width: int,
               height: int) -> VectorScene:
        c, n = self.config, positions.shape[0]
        if c.shape == "circle":
            points = circle_paths(positions, c.segments, c.radius)
        else:
            points = fp.random_walk_paths(positions, c.segments, c.radius / 2, generator)
            points[:, -1] = points[:, 0]
        fills = sample_colors(target, positions)
        scene = VectorScene(
            points=points.contiguous(), widths=torch.zeros(n), stroke_colors=torch.zeros(n, 4),
            fill_colors=fills, closed=torch.ones(n, dtype=torch.bool),
            even_odd=torch.full((n,), c.even_odd, dtype=torch.bool), width=width, height=height)
        return scene

    def _base(self, width: int, height: int) -> VectorScene | None:
        if self.config.base is None:
            return None
        path = Path(self.config.base).expanduser()
        if not path.is_file():
            raise InputImageError(f"initializer (losses.live).base: SVG file {str(path)!r} not found.")
        from vecrender.svg import load_svg

        scene = load_svg(path).resized(width, height).detach().to("cpu", dtype=torch.float32)
        if scene.fill_colors is None:
            scene = replace(scene, fill_colors=torch.zeros(scene.num_paths, 4))
        return scene

    def _current(self, base: VectorScene | None, target: Tensor) -> Tensor:
        """The drawing so far composited over white, ``[1, 3, H, W]``."""
        if base is None or base.num_paths == 0:
            return torch.ones_like(target)
        from vecrender.plugins import get_registry

        renderer = get_registry().build("renderer", {"use": self.config.renderer}, self.context,
                                        "initializer (losses.live).renderer")
        with torch.no_grad():
            rgba = renderer.render([base]).cpu().float()
        background = torch.tensor(base.background or (1.0, 1.0, 1.0)).view(1, 3, 1, 1)
        return rgba[:, :3] + (1 - rgba[:, 3:4]) * background  # premultiplied over the background
