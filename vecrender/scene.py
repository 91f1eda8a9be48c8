"""VectorScene: a batch of paths made of cubic Bézier segments, as tensors.

Conventions (every renderer, initializer, loss and the SVG reader/writer follow them):

* ``points``       ``[N, P, 2]`` float, canvas pixels (x right, y down), ``P = 1 + 3 * max_segments``.
  Segment ``k`` of path ``n`` uses ``points[n, 3k : 3k + 4]``.
* ``num_segments`` ``[N]`` long, the number of valid segments of each path (``1 <= s <= (P-1)//3``).
  Points after ``points[n, 3 * s]`` are padding: renderers ignore them and the SVG writer drops them.
* ``closed``       ``[N]`` bool. A closed path's last valid segment ends at ``points[n, 0]``
  (its stored end point ``points[n, 3 * s]`` is ignored), so the outline cannot open up while
  the points are optimised. The SVG writer ends a closed path with ``Z``.
* ``widths``       ``[N]`` float, stroke width in SVG convention (full width in pixels; diffvg and
  the CLIPasso paper use half of this). 0 means no stroke.
* ``stroke_colors`` ``[N, 4]`` float RGBA in [0, 1], not premultiplied. Alpha is the stroke opacity.
* ``fill_colors``  ``[N, 4]`` float RGBA or ``None`` (no path is filled). Only closed paths are
  filled; alpha 0 means no fill.
* ``even_odd``     ``[N]`` bool fill rule per path (False: nonzero, the SVG default).
* ``subpath_starts`` ``[N, S]`` bool or ``None`` (every path is one subpath), ``S = (P-1)//3``:
  segment ``k`` of a closed path starts a new subpath (segment 0 always does). Each subpath of a
  closed path is closed on its own first point (its last segment's stored end point is ignored,
  and the next subpath starts at that stored point), the fill rule applies to all subpaths
  together, so a subpath inside another with the opposite orientation (nonzero) or any
  orientation (even-odd) is a hole: SVG's compound paths (``M ... Z M ... Z``), e.g. letters and
  rings. Only closed paths have subpaths.
* ``line_caps`` / ``line_joins`` ``[N]`` long or ``None`` (round): the stroke's caps (0 round,
  1 butt, 2 square) and joins (0 round, 1 miter, 2 bevel); names in ``LINE_CAPS`` /
  ``LINE_JOINS``. ``miter_limits`` ``[N]`` float (>= 1) or ``None`` (4, SVG's default): a miter
  longer than this many stroke widths is drawn as a bevel. Vector-sketch methods draw round
  strokes (diffvg's); SVG files default to butt caps and miter joins.
* ``gradient_kinds`` ``[N, 2]`` long, ``gradient_frames`` ``[N, 2, 2, 3]``, ``gradient_focals``
  ``[N, 2, 2]``, ``gradient_stops`` ``[N, 2, K, 5]``, ``gradient_spreads`` ``[N, 2]`` long,
  ``gradient_focal_radii`` ``[N, 2]``, all set or all ``None`` (flat paints only; focal radii
  left out with the others set are 0, focal points, as scenes had before them): per path, the
  fill's (role 0) and the stroke's (role 1) gradient paint, which replaces ``fill_colors`` /
  ``stroke_colors`` where its kind is not 0 (flat); see :mod:`vecrender.functional.paints` for
  the fields. There the colour and alpha come from the gradient, and the flat colour is only a
  fallback (the SVG reader sets it to the gradient's mean; diffvg draws it for paints it cannot
  represent).
* ``width``, ``height``: canvas size in pixels; ``background``: RGB in [0, 1] the scene is
  composited over, or ``None`` for a transparent canvas.
* ``groups``: ``((first, end, opacity, mask_paths, luminance), ...)``, SVG's group opacity,
  clip paths and masks: paths ``first`` to ``end - 1`` are composited over a transparent layer,
  which is then composited with ``opacity`` (in [0, 1]), so overlapping paths of a group do not
  show through each other. Where ``mask_paths`` is above 0, the group's first ``mask_paths``
  paths are not drawn but make its mask, on a layer of their own: the rest of the group is
  multiplied by that layer's alpha (a clip path: its shapes filled opaque), or by its luminance
  where ``luminance`` (an SVG ``<mask>``; ``0.2125 r + 0.7154 g + 0.0721 b`` of the premultiplied
  colour). ``(first, end, opacity)`` is short for no mask. Ranges are non-empty, nest or are
  disjoint (a group inside a mask stays inside it), and are kept sorted by ``first``, outer group
  first (``()``: none, every path straight onto the canvas). Renderers honour them
  (`render_layered`); methods that optimise strokes have none.

Paths are drawn in order: path ``n + 1`` is composited over path ``n``. For each path the fill is
drawn first and the stroke over it, as in SVG.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
from torch import Tensor

from vecrender.functional.paints import FLAT, LINEAR, PAD, RADIAL, REFLECT, REPEAT, Gradients
from vecrender.functional.styles import DEFAULT_MITER_LIMIT, LINE_CAPS, LINE_JOINS

#: Names of the tensors an optimizer may update (recipes choose among them).
OPTIMIZABLE = ("points", "widths", "stroke_colors", "fill_colors", "gradient_frames", "gradient_stops")
#: The scene fields of gradient paints, in the order of :class:`Gradients`.
GRADIENT_FIELDS = ("gradient_kinds", "gradient_frames", "gradient_focals", "gradient_stops", "gradient_spreads",
                   "gradient_focal_radii")

WHITE = (1.0, 1.0, 1.0)


@dataclass
class VectorScene:
    points: Tensor
    widths: Tensor
    stroke_colors: Tensor
    width: int
    height: int
    fill_colors: Tensor | None = None
    closed: Tensor | None = None
    num_segments: Tensor | None = None
    even_odd: Tensor | None = None
    background: tuple[float, float, float] | None = field(default=WHITE)
    subpath_starts: Tensor | None = None
    line_caps: Tensor | None = None
    line_joins: Tensor | None = None
    miter_limits: Tensor | None = None
    gradient_kinds: Tensor | None = None
    gradient_frames: Tensor | None = None
    gradient_focals: Tensor | None = None
    gradient_stops: Tensor | None = None
    gradient_spreads: Tensor | None = None
    gradient_focal_radii: Tensor | None = None
    groups: tuple[tuple[int, int, float, int, bool], ...] = ()

    def __post_init__(self) -> None:
        n, p = self.points.shape[0], self.points.shape[1] if self.points.dim() == 3 else 0
        if self.points.dim() != 3 or self.points.shape[2] != 2 or (p - 1) % 3 != 0 or p < 4 and n:
            raise ValueError(
                f"points must be [N, 1 + 3k, 2] with k >= 1, got {tuple(self.points.shape)}"
            )
        device = self.points.device
        if self.closed is None:
            self.closed = torch.zeros(n, dtype=torch.bool, device=device)
        if self.num_segments is None:
            self.num_segments = torch.full((n,), max((p - 1) // 3, 0), dtype=torch.long, device=device)
        if self.even_odd is None:
            self.even_odd = torch.zeros(n, dtype=torch.bool, device=device)
        if self.gradient_focal_radii is None and self.gradient_focals is not None:
            self.gradient_focal_radii = self.gradient_focals.new_zeros(self.gradient_focals.shape[:-1])
        expected = {
            "widths": (n,),
            "stroke_colors": (n, 4),
            "closed": (n,),
            "num_segments": (n,),
            "even_odd": (n,),
        }
        if self.fill_colors is not None:
            expected["fill_colors"] = (n, 4)
        if self.subpath_starts is not None:
            expected["subpath_starts"] = (n, max((p - 1) // 3, 0))
        for name in ("line_caps", "line_joins", "miter_limits"):
            if getattr(self, name) is not None:
                expected[name] = (n,)
        expected.update(self._gradient_shapes(n))
        for name, shape in expected.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise ValueError(f"{name} must have shape {list(shape)} for {n} paths, got {list(actual)}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"canvas size must be positive, got {self.width}x{self.height}")
        if self.subpath_starts is not None:
            if self.subpath_starts.dtype != torch.bool:
                raise ValueError(f"subpath_starts must be bool, got {self.subpath_starts.dtype}")
            open_split = self.subpath_starts[:, 1:].any(-1) & ~self.closed.to(self.subpath_starts.device)
            if bool(open_split.any()):
                paths = torch.nonzero(open_split).flatten().tolist()
                raise ValueError(f"only closed paths can have several subpaths; paths {paths[:10]} are open "
                                 "(close them, or split their subpaths into separate paths)")
        self._check_styles()
        self._check_gradients()
        self.groups = _checked_groups(self.groups, n)

    def _gradient_shapes(self, n: int) -> dict[str, tuple[int, ...]]:
        given = [name for name in GRADIENT_FIELDS if getattr(self, name) is not None]
        if not given:
            return {}
        if len(given) < len(GRADIENT_FIELDS):
            missing = ", ".join(name for name in GRADIENT_FIELDS if name not in given)
            raise ValueError(f"gradient paints need all of {', '.join(GRADIENT_FIELDS)}; missing {missing} "
                             "(gradient_fields() makes flat defaults to start from)")
        stops = self.gradient_stops
        if stops.dim() != 4 or stops.shape[2] < 1:
            raise ValueError(f"gradient_stops must be [N, 2, K, 5] with K >= 1, got {list(stops.shape)}")
        return {"gradient_kinds": (n, 2), "gradient_frames": (n, 2, 2, 3), "gradient_focals": (n, 2, 2),
                "gradient_stops": (n, 2, stops.shape[2], 5), "gradient_spreads": (n, 2), "gradient_focal_radii": (n, 2)}

    def _check_gradients(self) -> None:
        for name, codes in (("gradient_kinds", (FLAT, LINEAR, RADIAL)), ("gradient_spreads", (PAD, REFLECT, REPEAT))):
            values = getattr(self, name)
            if values is None:
                return
            if values.is_floating_point() or values.dtype == torch.bool:
                raise ValueError(f"{name} must be integer codes, got {values.dtype}")
            if values.numel() and bool(((values < min(codes)) | (values > max(codes))).any()):
                raise ValueError(f"{name} must hold codes {codes} (vecrender.functional.paints); "
                                 f"got {sorted(set(values.flatten().tolist()))}")

    @property
    def gradients(self) -> Gradients | None:
        """The gradient paints as one :class:`~vecrender.functional.paints.Gradients` (None: flat)."""
        if self.gradient_kinds is None:
            return None
        return Gradients(*(getattr(self, name) for name in GRADIENT_FIELDS))

    def _check_styles(self) -> None:
        for name, names in (("line_caps", LINE_CAPS), ("line_joins", LINE_JOINS)):
            codes = getattr(self, name)
            if codes is None:
                continue
            if codes.is_floating_point() or codes.dtype == torch.bool:
                raise ValueError(f"{name} must be integer codes, got {codes.dtype}")
            if codes.numel() and bool(((codes < 0) | (codes >= len(names))).any()):
                choices = ", ".join(f"{i} {n}" for i, n in enumerate(names))
                raise ValueError(f"{name} must hold codes {choices}; got {sorted(set(codes.tolist()))}")
        limits = self.miter_limits
        if limits is not None and limits.numel() and bool((limits < 1).any()):
            raise ValueError(f"miter_limits must be >= 1 (SVG's stroke-miterlimit), got {limits.min().item()}")

    @property
    def has_stroke_style(self) -> bool:
        """Caps, joins or miter limits are set, so the renderers apply them (all None: round caps
        and joins, the cheaper default)."""
        return any(t is not None for t in (self.line_caps, self.line_joins, self.miter_limits))

    # -- sizes -----------------------------------------------------------------------------
    @property
    def num_paths(self) -> int:
        return self.points.shape[0]

    @property
    def max_segments(self) -> int:
        return (self.points.shape[1] - 1) // 3

    @property
    def device(self) -> torch.device:
        return self.points.device

    def structure_key(self) -> tuple:
        """Scenes with equal keys can be stacked and rendered in one batched call."""
        return (
            tuple(self.points.shape),
            self.fill_colors is not None,
            None if self.gradient_stops is None else self.gradient_stops.shape[2],
            self.width,
            self.height,
            self.groups,
        )

    # -- tensors ---------------------------------------------------------------------------
    def tensors(self) -> Iterator[tuple[str, Tensor]]:
        """(name, tensor) for every tensor field that is set."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                yield f.name, value

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> VectorScene:
        """A copy on `device`; floating tensors are cast to `dtype` when given."""
        changes = {}
        for name, t in self.tensors():
            if t.is_floating_point():
                changes[name] = t.to(device=device, dtype=dtype or t.dtype)
            else:
                changes[name] = t.to(device=device)
        return replace(self, **changes)

    def resized(self, width: int, height: int) -> VectorScene:
        """The drawing stretched onto a `width` x `height` canvas: points scaled per axis, widths
        by the geometric mean of the two scales, gradients' frames with the points."""
        if (self.width, self.height) == (width, height):
            return self
        sx, sy = width / self.width, height / self.height
        changes: dict = {"points": self.points * self.points.new_tensor([sx, sy]),
                         "widths": self.widths * (sx * sy) ** 0.5, "width": width, "height": height}
        if self.gradient_frames is not None:  # frames map canvas pixels: they take the old pixel, x / s
            changes["gradient_frames"] = self.gradient_frames * self.gradient_frames.new_tensor([1 / sx, 1 / sy, 1.0])
        return replace(self, **changes)

    def paths(self, index: slice | Tensor) -> VectorScene:
        """The paths ``index`` selects (a slice, indices or a bool mask), every per-path field
        with them; groups keep the selected paths they held (indices in increasing order only,
        where the scene has groups)."""
        tensors = {name: t[index] for name, t in self.tensors()}
        if not self.groups:
            return replace(self, **tensors)
        kept = torch.arange(self.num_paths)[index.cpu() if isinstance(index, Tensor) else index]
        if kept.numel() > 1 and not bool((kept[1:] > kept[:-1]).all()):
            raise ValueError("paths() of a scene with groups needs the paths in increasing order; "
                             "reordering them would break the groups")
        return replace(self, **tensors, groups=_selected_groups(self.groups, kept.tolist()))

    def detach(self) -> VectorScene:
        return replace(self, **{name: t.detach().clone() for name, t in self.tensors()})

    def requires_grad_(self, names: Sequence[str]) -> list[Tensor]:
        """Mark the named tensors as optimised and return them (order of `names`)."""
        out = []
        for name in names:
            if name not in OPTIMIZABLE:
                raise ValueError(f"cannot optimise {name!r}; choose from {', '.join(OPTIMIZABLE)}")
            t = getattr(self, name)
            if t is None:
                raise ValueError(f"cannot optimise {name!r}: this scene has no {name}")
            t.requires_grad_(True)
            out.append(t)
        return out

    # -- SVG -------------------------------------------------------------------------------
    def to_svg(self) -> str:
        """SVG 1.1 text of this scene (see `vecrender.svg.scene_to_svg`)."""
        from vecrender.svg import scene_to_svg

        return scene_to_svg(self)

    def save_svg(self, path: str | Path) -> None:
        """Write the scene as SVG, atomically."""
        from vecrender.io import atomic_write_text

        atomic_write_text(Path(path), self.to_svg())

    @staticmethod
    def from_svg(source: str | Path, device: torch.device | str = "cpu") -> VectorScene:
        """Read an SVG file (see `vecrender.svg.svg_to_scene`)."""
        from vecrender.svg import load_svg

        return load_svg(source, device=device)


def concat_scenes(scenes: Sequence[VectorScene]) -> VectorScene:
    """Paths of several scenes on one canvas, in order (used to add strokes to a loaded scene)."""
    if not scenes:
        raise ValueError("concat_scenes needs at least one scene")
    first = scenes[0]
    max_p = max(s.points.shape[1] for s in scenes)
    padded = [_pad_points(s.points, max_p) for s in scenes]
    any_fill = any(s.fill_colors is not None for s in scenes)
    any_subpaths = any(s.subpath_starts is not None for s in scenes)
    styles = [stroke_style_of(s) for s in scenes] if any(s.has_stroke_style for s in scenes) else None
    num_stops = max((s.gradient_stops.shape[2] for s in scenes if s.gradient_stops is not None), default=0)

    def fills(s: VectorScene) -> Tensor:
        if s.fill_colors is not None:
            return s.fill_colors
        return torch.zeros(s.num_paths, 4, dtype=s.stroke_colors.dtype, device=s.device)

    return VectorScene(
        points=torch.cat(padded),
        widths=torch.cat([s.widths for s in scenes]),
        stroke_colors=torch.cat([s.stroke_colors for s in scenes]),
        fill_colors=torch.cat([fills(s) for s in scenes]) if any_fill else None,
        closed=torch.cat([s.closed for s in scenes]),
        num_segments=torch.cat([s.num_segments for s in scenes]),
        even_odd=torch.cat([s.even_odd for s in scenes]),
        width=first.width,
        height=first.height,
        background=first.background,
        subpath_starts=torch.cat([subpath_starts_of(s, max_p) for s in scenes]) if any_subpaths else None,
        **({} if styles is None else _style_fields(torch.cat(styles))),
        **({} if not num_stops else {name: torch.cat(tables) for name, tables in
                                     zip(GRADIENT_FIELDS, zip(*(gradients_of(s, num_stops) for s in scenes)))}),
        groups=tuple((first + offset, end + offset, *rest)
                     for s, offset in zip(scenes, itertools.accumulate((s.num_paths for s in scenes), initial=0))
                     for first, end, *rest in s.groups),
    )


def _checked_groups(groups: Sequence[Sequence[float]] | None, num_paths: int
                    ) -> tuple[tuple[int, int, float, int, bool], ...]:
    """`groups` as a scene holds them (``(first, end, opacity, mask_paths, luminance)`` sorted by
    first, outer first), after checking that each is a non-empty range of the `num_paths` paths
    with an opacity in [0, 1] and fewer mask paths than paths, and that no two overlap without
    nesting (nor a group straddle the end of a mask)."""
    out = []
    for group in groups or ():
        if len(group) not in (3, 5):
            raise ValueError(f"each group must be (first, end, opacity) or (first, end, opacity, mask_paths, "
                             f"luminance), got {tuple(group)!r}")
        first, end, opacity = int(group[0]), int(group[1]), float(group[2])
        mask_paths, luminance = (int(group[3]), bool(group[4])) if len(group) == 5 else (0, False)
        if not (0 <= first < end <= num_paths and 0 <= opacity <= 1 and 0 <= mask_paths < end - first):
            raise ValueError(f"group {tuple(group)!r}: paths first..end-1 must be a non-empty range of the "
                             f"{num_paths} paths (0 <= first < end <= {num_paths}), opacity in [0, 1] and "
                             f"0 <= mask_paths < end - first")
        out.append((first, end, opacity, mask_paths, luminance))
    out.sort(key=lambda g: (g[0], -g[1]))
    bounds: list[int] = []  # ends of the ranges (groups and masks) enclosing the current group
    for first, end, _, mask_paths, _ in out:
        while bounds and bounds[-1] <= first:
            bounds.pop()
        if bounds and end > bounds[-1]:
            raise ValueError(f"groups must nest or be disjoint; paths {first}..{end - 1} overlap the end of an "
                             f"enclosing group or mask at path {bounds[-1] - 1}")
        bounds.append(end)
        if mask_paths:
            bounds.append(first + mask_paths)
    return tuple(out)


def _selected_groups(groups: Sequence[tuple[int, int, float, int, bool]], kept: Sequence[int]
                     ) -> tuple[tuple[int, int, float, int, bool], ...]:
    """`groups` over the paths `kept` (old indices, increasing) renumbered as a scene of those
    paths; a group left with no path to draw is dropped."""
    out = []
    for first, end, opacity, mask_paths, luminance in groups:
        new_first, new_mask_end, new_end = (bisect.bisect_left(kept, k) for k in (first, first + mask_paths, end))
        if new_mask_end < new_end:
            out.append((new_first, new_end, opacity, new_mask_end - new_first, luminance))
    return tuple(out)


def gradient_fields(num_paths: int, num_stops: int = 2, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Gradient fields of ``num_paths`` paths whose paints are all flat, with room for
    ``num_stops`` stops: set a path's kind, frame, stops (and focal, focal radius, spread) to give it a
    gradient (`vecrender.functional.paints`: ``linear_frame``, ``radial_frame``)."""
    frame = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=device, dtype=dtype)
    return {"gradient_kinds": torch.zeros(num_paths, 2, dtype=torch.long, device=device),
            "gradient_frames": frame.expand(num_paths, 2, 2, 3).clone(),
            "gradient_focals": torch.zeros(num_paths, 2, 2, device=device, dtype=dtype),
            "gradient_stops": torch.zeros(num_paths, 2, num_stops, 5, device=device, dtype=dtype),
            "gradient_spreads": torch.zeros(num_paths, 2, dtype=torch.long, device=device),
            "gradient_focal_radii": torch.zeros(num_paths, 2, device=device, dtype=dtype)}


def gradients_of(scene: VectorScene, num_stops: int) -> Gradients:
    """The scene's gradient paints (flat ones where it has none), with ``num_stops`` stops (its
    last stop repeated: the same colours)."""
    if scene.gradients is None:
        flat = gradient_fields(scene.num_paths, num_stops, scene.device, scene.points.dtype)
        return Gradients(*(flat[name] for name in GRADIENT_FIELDS))
    stops = scene.gradient_stops
    missing = num_stops - stops.shape[2]
    if missing:
        stops = torch.cat([stops, stops[:, :, -1:].expand(-1, -1, missing, -1)], dim=2)
    return scene.gradients._replace(stops=stops)


def stroke_style_of(scene: VectorScene) -> Tensor:
    """``[N, 3]`` (cap code, join code, miter limit) of every path, defaults filled in: the
    renderers' ``stroke_style``."""
    n, device, dtype = scene.num_paths, scene.device, scene.points.dtype
    caps = torch.zeros(n, device=device) if scene.line_caps is None else scene.line_caps.to(device)
    joins = torch.zeros(n, device=device) if scene.line_joins is None else scene.line_joins.to(device)
    limits = torch.full((n,), DEFAULT_MITER_LIMIT, device=device) if scene.miter_limits is None \
        else scene.miter_limits.to(device)
    return torch.stack([caps.to(dtype), joins.to(dtype), limits.detach().to(dtype)], -1)


def _style_fields(style: Tensor) -> dict[str, Tensor]:
    """The scene fields of a ``[N, 3]`` stroke style."""
    caps, joins, limits = style.unbind(-1)
    return {"line_caps": caps.long(), "line_joins": joins.long(), "miter_limits": limits}


def subpath_starts_of(scene: VectorScene, num_points: int | None = None) -> Tensor:
    """``scene.subpath_starts`` (one subpath per path where None) ``[N, S]``, padded to
    ``(num_points - 1) // 3`` segments when given."""
    segments = ((num_points or scene.points.shape[1]) - 1) // 3
    starts = torch.zeros(scene.num_paths, segments, dtype=torch.bool, device=scene.device)
    starts[:, 0] = True
    if scene.subpath_starts is not None:
        starts[:, : scene.subpath_starts.shape[1]] |= scene.subpath_starts.to(scene.device)
    return starts


def subpath_ranges(scene: VectorScene) -> list[list[tuple[int, int]]]:
    """Per path, the ``(first, end)`` segment ranges of its subpaths (valid segments only)."""
    ranges = []
    for starts, count in zip(subpath_starts_of(scene).tolist(), scene.num_segments.tolist()):
        bounds = [k for k in range(count) if k == 0 or starts[k]] + [count]
        ranges.append(list(itertools.pairwise(bounds)))
    return ranges


def _pad_points(points: Tensor, num_points: int) -> Tensor:
    """Pad [N, P, 2] to [N, num_points, 2] by repeating each path's last point."""
    missing = num_points - points.shape[1]
    if missing == 0:
        return points
    return torch.cat([points, points[:, -1:].expand(-1, missing, -1)], dim=1)
