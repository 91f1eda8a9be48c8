"""Random stroke geometry for initializers: uniform start points, chained random walks, colors.

Every function draws from an explicit ``torch.Generator`` on the CPU, so a scene is reproducible
from its seed whatever device it is later moved to.

Shapes:
    starts        ``[N, 2]``        canvas pixels (x, y)
    corners       ``[..., k, 2]``   a polygon's corners, canvas pixels
    points        ``[N, 1 + 3k, 2]`` canvas pixels, ``k`` cubic segments per path
    num_segments  ``[N]`` long      valid segments per path (padding repeats the last valid point)
    colors        ``[N, 4]``        RGBA in [0, 1]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor

from vecrender.scene import VectorScene


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed` (the sketch seed)."""
    return torch.Generator().manual_seed(int(seed))


def derived_generator(seed: int, purpose: str) -> torch.Generator:
    """A CPU generator for one use of a sketch's seed (`purpose`: ``"losses"``, ``"noise"``), its
    stream apart from :func:`make_generator`'s and from the other purposes'."""
    digest = hashlib.sha256(f"vecrender {purpose} {seed}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def uniform_points(n: int, width: int, height: int, generator: torch.Generator) -> Tensor:
    """``[n, 2]`` points uniform in the canvas ``[0, width) x [0, height)``."""
    scale = torch.tensor([float(width), float(height)])
    return torch.rand(n, 2, generator=generator) * scale


def random_walk_paths(starts: Tensor, num_segments: int, step_px: float | Sequence[float],
                      generator: torch.Generator) -> Tensor:
    """Chained random walk: each control point is the previous one plus ``U(-step, step)`` per axis.

    Arguments:
        starts: ``[N, 2]`` first point of every path, in pixels.
        num_segments: cubic segments per path ``k >= 1``; returns ``1 + 3k`` points per path.
        step_px: half-width of the uniform box per axis in pixels, a number or ``(sx, sy)``.
        generator: the random source.

    Returns:
        ``[N, 1 + 3k, 2]`` float points (same dtype as `starts`, CPU).
    """
    if starts.dim() != 2 or starts.shape[1] != 2:
        raise ValueError(f"starts must be [N, 2], got {list(starts.shape)}")
    if num_segments < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    step = torch.as_tensor(step_px, dtype=starts.dtype).reshape(-1)
    if step.numel() not in (1, 2) or bool((step < 0).any()):
        raise ValueError(f"step_px must be one or two non-negative numbers, got {step_px!r}")
    n, steps = starts.shape[0], 3 * num_segments
    offsets = (torch.rand(n, steps, 2, generator=generator, dtype=starts.dtype) * 2 - 1) * step
    walk = starts.cpu()[:, None, :] + torch.cumsum(offsets, dim=1)
    return torch.cat([starts.cpu()[:, None, :], walk], dim=1)


def random_segment_counts(n: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    """``[n]`` long segment counts uniform in ``[low, high]`` (inclusive)."""
    if not 1 <= low <= high:
        raise ValueError(f"segment counts need 1 <= low <= high, got {low}..{high}")
    return torch.randint(low, high + 1, (n,), generator=generator)


def pad_after_segments(points: Tensor, num_segments: Tensor) -> Tensor:
    """Replace the points after each path's last valid segment by its end point.

    ``points`` ``[N, P, 2]``, ``num_segments`` ``[N]``: keeps padding inert and the SVG clean.
    """
    index = torch.arange(points.shape[1], device=points.device)
    last = (3 * num_segments.to(points.device))[:, None]
    end = points.gather(1, last[..., None].expand(-1, 1, 2))
    return torch.where((index[None, :] > last)[..., None], end, points)


def random_colors(n: int, generator: torch.Generator, alpha_range: Sequence[float] = (0.0, 1.0)) -> Tensor:
    """``[n, 4]`` RGBA: RGB uniform in [0, 1), alpha uniform in `alpha_range`."""
    lo, hi = float(alpha_range[0]), float(alpha_range[1])
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"alpha_range must satisfy 0 <= low <= high <= 1, got {list(alpha_range)}")
    colors = torch.rand(n, 4, generator=generator)
    colors[:, 3] = lo + (hi - lo) * colors[:, 3]
    return colors


def polygon_points(corners: Tensor) -> Tensor:
    """``[..., 1 + 3k, 2]`` points of the closed polygons through ``corners`` ``[..., k, 2]``, as
    straight cubics (a closed path's last segment ends on its first corner)."""
    thirds = torch.tensor([1 / 3, 2 / 3, 1.0], dtype=corners.dtype, device=corners.device)[:, None, None]
    segments = corners[..., None, :, :] + thirds * (corners.roll(-1, -2) - corners)[..., None, :, :]  # [..., 3, k, 2]
    return torch.cat([corners[..., :1, :], segments.transpose(-3, -2).flatten(-3, -2)], -2)


def stroke_scene(points: Tensor, widths: Tensor | float, stroke_colors: Tensor, width: int, height: int,
                 num_segments: Tensor | None = None, closed: bool = False,
                 fill_colors: Tensor | None = None) -> VectorScene:
    """A scene of N paths (open strokes, or closed filled shapes when `closed`).

    ``widths`` is a number (same for all) or ``[N]``; ``stroke_colors`` ``[N, 4]``.
    """
    n = points.shape[0]
    widths_t = torch.as_tensor(widths, dtype=points.dtype)
    if widths_t.dim() == 0:
        widths_t = widths_t.expand(n).clone()
    if num_segments is not None:
        points = pad_after_segments(points, num_segments)
    return VectorScene(
        points=points.contiguous(),
        widths=widths_t,
        stroke_colors=stroke_colors.to(points.dtype),
        fill_colors=None if fill_colors is None else fill_colors.to(points.dtype),
        closed=torch.full((n,), bool(closed), dtype=torch.bool),
        num_segments=num_segments,
        width=int(width),
        height=int(height),
    )
