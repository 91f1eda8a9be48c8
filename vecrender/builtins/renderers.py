"""Built-in renderers, registered through the same hooks as any plugin: ``native``, ``reference``, ``diffvg``.

Each takes a list of scenes, renders scenes with the same ``structure_key()`` in one batched call
and returns premultiplied RGBA ``[S, 4, H, W]`` in input order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from vecrender import hookimpl
from vecrender.components import Renderer, RunContext
from vecrender.config import option
from vecrender.errors import VecrenderError
from vecrender.functional import render_native, render_reference
from vecrender.functional.native import (
    DYNAMIC_FROM_SEGMENTS,
    CudaGraphs,
    TileCapacity,
    dynamic_shapes,
    render_compiled,
)
from vecrender.functional.paints import FILL, FLAT, LINEAR, PAD, STROKE, Gradients
from vecrender.scene import VectorScene, stroke_style_of, subpath_ranges, subpath_starts_of

DIFFVG_INSTALL = (
    "The 'diffvg' renderer needs pydiffvg, which is not installed (it is not on PyPI). Build it "
    "from source into this environment: clone https://github.com/BachiLi/diffvg with its "
    "submodules and run `python setup.py install` there (DIFFVG_CUDA=1 for GPUs; it needs cmake "
    "and a C++ compiler). The built-in 'native' renderer needs nothing extra."
)


#: Weights of red, green and blue in a luminance mask (of the colour values as they are, as resvg
#: and browsers take them).
LUMINANCE = (0.2125, 0.7154, 0.0721)


#: `render_layered` with ``batch_runs`` renders the runs together only while all their images hold
#: at most this many numbers (1 GiB in float32); beyond it, one run at a time.
RUN_BATCH_ELEMENTS = 1 << 28


def render_layered(scenes: Sequence[VectorScene], render_flat: Callable[[list[VectorScene]], Tensor],
                   batch_runs: bool = False) -> Tensor:
    """Render scenes that share their ``groups`` (`VectorScene.groups`: group opacity, clip paths
    and masks), given `render_flat`, which renders scenes without groups to premultiplied
    ``[S, 4, H, W]``.

    Each group's paths are rendered onto their own transparent layer, which is multiplied by its
    mask (the alpha, or the luminance, of its mask paths' own layer) and composited ("over") with
    the group's opacity, so a group's overlapping paths hide each other as in SVG. The paths
    between group boundaries are rendered together, a run of paths at a time. Scenes without
    groups are one call.

    ``batch_runs``: `render_flat` takes scenes of any path count at once, and invisible paths
    (zero width, off the canvas) draw nothing in it, as in `native` and `reference`: then the runs
    are rendered in one call per run length rounded up to a power of two, each run padded to that
    length with invisible paths (:func:`_batched_runs`), instead of one call per run: a few
    batched renders, the same few input shapes at every step of a run (the CUDA graphs' keys).
    """
    scenes = list(scenes)
    groups = scenes[0].groups
    if any(s.groups != groups for s in scenes):
        raise ValueError("scenes rendered together by render_layered must share their groups")
    if not groups:
        return render_flat(scenes)

    batched = _batched_runs(scenes, render_flat) if batch_runs else {}

    def run(a: int, b: int) -> Tensor:
        if (a, b) in batched:
            return batched[(a, b)]
        return render_flat([replace(s.paths(slice(a, b)), groups=()) for s in scenes])

    def masked(first: int, end: int, mask_paths: int, luminance: bool, groups: tuple) -> Tensor:
        """The group's content times its mask; `groups`: the groups nested in it."""
        split = first + mask_paths
        content = layer(split, end, tuple(g for g in groups if g[0] >= split))
        if not mask_paths:
            return content
        mask = layer(first, split, tuple(g for g in groups if g[0] < split))
        weights = mask.new_tensor(LUMINANCE)[None, :, None, None]
        return content * ((mask[:, :3] * weights).sum(1, keepdim=True) if luminance else mask[:, 3:])

    def layer(first: int, end: int, groups: tuple) -> Tensor:
        """Paths first..end-1 over a transparent canvas; `groups`: the groups among them."""
        image: Tensor | None = None

        def add(top: Tensor) -> None:
            nonlocal image
            image = top if image is None else top + (1 - top[:, 3:4]) * image

        cursor, i = first, 0
        while i < len(groups):
            start, stop, opacity, mask_paths, luminance = groups[i]
            inner = i + 1
            while inner < len(groups) and groups[inner][0] < stop:  # nested in this one (sorted, outer first)
                inner += 1
            if cursor < start:
                add(run(cursor, start))
            add(opacity * masked(start, stop, mask_paths, luminance, groups[i + 1 : inner]))
            cursor, i = stop, inner
        if cursor < end or image is None:
            add(run(cursor, end))
        return image  # type: ignore[return-value]

    return layer(0, scenes[0].num_paths, groups)


def _batched_runs(scenes: list[VectorScene], render_flat: Callable[[list[VectorScene]], Tensor]
                  ) -> dict[tuple[int, int], Tensor]:
    """The images ``[S, 4, H, W]`` of every run ``(a, b)`` of paths that `render_layered` draws
    (the ranges between the groups' first paths, mask splits and ends), rendered in one
    `render_flat` call per run length rounded up to a power of two (a run of one path does not
    pay for one of hundreds), each run padded to it with invisible paths; none when they would
    hold more than `RUN_BATCH_ELEMENTS` numbers."""
    first = scenes[0]
    cuts = {0, first.num_paths}
    for start, stop, _, mask_paths, _ in first.groups:
        cuts |= {start, start + mask_paths, stop}
    edges = sorted(cuts)
    runs = [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
    if len(runs) * len(scenes) * 4 * first.width * first.height > RUN_BATCH_ELEMENTS:
        return {}
    by_length: dict[int, list[tuple[int, int]]] = {}
    for a, b in runs:
        by_length.setdefault(1 << (b - a - 1).bit_length(), []).append((a, b))
    flat = [replace(s, groups=()) for s in scenes]
    images: dict[tuple[int, int], Tensor] = {}
    for length, members in by_length.items():
        rendered = render_flat([_padded_run(s, a, b, length) for a, b in members for s in flat])
        for k, key in enumerate(members):
            images[key] = rendered[k * len(flat) : (k + 1) * len(flat)]
    return images


def _padded_run(scene: VectorScene, a: int, b: int, length: int) -> VectorScene:
    """Paths a..b-1 of `scene` (without groups) and, up to `length` paths, copies of path a made
    invisible: zero width, one segment, every point at one place off the canvas (a path of
    coincident points draws a disc of its width: nothing; its fill has no area)."""
    run = scene.paths(torch.cat([torch.arange(a, b, device=scene.device),
                                 torch.full((length - (b - a),), a, device=scene.device)]))
    if length == b - a:
        return run
    padding = torch.arange(length, device=scene.device) >= b - a
    far = -2.0 * (scene.width + scene.height)
    return replace(run, points=run.points.masked_fill(padding[:, None, None], far),
                   widths=run.widths.masked_fill(padding, 0.0),
                   num_segments=run.num_segments.masked_fill(padding, 1))


def render_grouped(scenes: Sequence[VectorScene], fn: Callable[..., Tensor]) -> Tensor:
    """Render scenes in batches of equal ``structure_key()`` with the functional renderer ``fn``,
    their ``groups`` by `render_layered`.

    Returns ``[S, 4, H, W]`` in input order. Per-path flags are stacked to ``[B, N]``, so scenes
    of one batch may differ in closed / num_segments / even_odd / subpath_starts / stroke styles
    (passed as the ``subpath_starts`` and ``stroke_style`` keywords, None when no scene of the
    batch has them); scenes with gradient paints pass them as ``gradients`` (stacked
    :class:`~vecrender.functional.paints.Gradients`, ``[B, N, 2, ...]``).
    """
    if not scenes:
        raise ValueError("render() needs at least one scene")
    sizes = {(s.width, s.height) for s in scenes}
    if len(sizes) > 1:
        raise ValueError(f"scenes rendered together must share one canvas size, got {sorted(sizes)}")
    batches: dict[tuple, list[int]] = {}
    for i, scene in enumerate(scenes):
        batches.setdefault(scene.structure_key(), []).append(i)
    out: list[Tensor | None] = [None] * len(scenes)
    for indices in batches.values():
        images = render_layered([scenes[i] for i in indices], lambda batch: _render_batch(batch, fn),
                                batch_runs=True)
        for j, i in enumerate(indices):
            out[i] = images[j]
    return torch.stack(out)  # type: ignore[arg-type]


def _render_batch(group: list[VectorScene], fn: Callable[..., Tensor]) -> Tensor:
    """Scenes of one structure (their groups aside) in one call of ``fn``."""
    first = group[0]
    fills = torch.stack([s.fill_colors for s in group]) if first.fill_colors is not None else None
    subpaths = None
    if any(s.subpath_starts is not None for s in group):
        subpaths = torch.stack([subpath_starts_of(s) for s in group])
    style = None
    if any(s.has_stroke_style for s in group):
        style = torch.stack([stroke_style_of(s) for s in group])
    extra = {}
    if first.gradients is not None:  # the same stop count in the group (structure_key)
        extra["gradients"] = Gradients(*(torch.stack(fields) for fields in zip(*(s.gradients for s in group))))
    return fn(
        torch.stack([s.points for s in group]),
        torch.stack([s.widths for s in group]),
        torch.stack([s.stroke_colors for s in group]),
        fills,
        torch.stack([s.closed for s in group]),
        torch.stack([s.num_segments for s in group]),
        torch.stack([s.even_odd for s in group]),
        first.height,
        first.width,
        subpath_starts=subpaths,
        stroke_style=style,
        **extra,
    )


@dataclass
class NativeConfig:
    tile_size: int = option(8, "Tile side in pixels: paths are only evaluated on tiles they can reach "
                            "(larger tiles evaluate more pixels per path, at up to tile_size^2 memory each).",
                            min=1, max=256)
    segments_per_curve: int = option(
        16, "Chords per cubic: the fill outline and the start of the closest-point search "
        "(fill error <= 0.75 M / n^2 px, M the largest second difference of the control points).",
        min=1)
    newton_steps: int = option(3, "Newton steps refining each closest point on the cubic.", min=0)
    curvature: bool = option(
        True, "Add the curvature of stroke outlines inside a pixel to the coverage (round caps, "
        "bends; second order): several times closer to the exact pixel area at round caps, about "
        "20 % slower on dense scenes on CPUs.")
    tile_capacity: int | Literal["auto"] = option(
        "auto", "GPU only: paths per tile bin. 'auto': fitted to the scenes (the densest tile's "
        "count read back once per input shape, then watched without waiting, with twice the room; "
        "see TileCapacity). A number: fixed bins that never synchronise with the host, and a tile "
        "overlapped by more paths comes out NaN. 0: exact bins, one integer read back per render. "
        f"The CPU, and paths of {DYNAMIC_FROM_SEGMENTS} segments or more on any device, always use "
        "exact bins (dynamic shapes).", min=0)
    cuda_graphs: bool = option(
        True, "CUDA only: capture the render (forward, and backward when inputs require grad) as "
        "CUDA graphs once per input shape / dtype / requires-grad pattern and replay them (same "
        "kernels and results as the eager path, far fewer launches). Capturing costs a few eager "
        "renders the first time a key is seen; the first 8 keys are captured, later ones run "
        f"eagerly. CPU tensors, paths of {DYNAMIC_FROM_SEGMENTS} segments or more, autocast and "
        "tile_capacity 0 always run eagerly.")
    compile: bool = option(
        False, "CUDA only: run the render through torch.compile, so that inductor can fuse its "
        "~1 900 small kernels, which bound the GPU render (its speed-up is not measured yet: see "
        "benchmarks/README.md). Each new input shape, dtype or grad mode compiles once (minutes "
        "cold on a small CPU, seconds from torch's on-disk cache in later processes): meant for "
        "runs of thousands of steps, not for a few renders. The CPU path and paths of "
        f"{DYNAMIC_FROM_SEGMENTS} segments or more, whose shapes depend on the data, always run eagerly.")


class NativeRenderer(Renderer):
    """Fast tiled analytic anti-aliasing (default): exact distance-based coverage, CPU and CUDA."""

    name = "native"
    Config = NativeConfig

    def __init__(self, config: NativeConfig | None = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self.function = render_compiled if self.config.compile else render_native
        self.graphs = CudaGraphs(self.function)  # captured CUDA graphs, by input key (used when cuda_graphs)
        self.tile_capacity = TileCapacity()  # fitted bin sizes (tile_capacity 'auto', GPUs)

    def render(self, scenes: Sequence[VectorScene]) -> Tensor:
        c = self.config
        render = self.graphs if c.cuda_graphs else self.function

        def fn(*args, **kwargs):
            capacity = c.tile_capacity
            if capacity == "auto" and dynamic_shapes(args[0]):
                capacity = 0  # dynamic shapes' exact bins take no capacity
            elif capacity == "auto":
                capacity = self.tile_capacity.capacity(*args, tile_size=c.tile_size, **kwargs)
            return render(*args, **kwargs, tile_size=c.tile_size, segments_per_curve=c.segments_per_curve,
                          newton_steps=c.newton_steps, tile_capacity=capacity, curvature=c.curvature)

        return render_grouped(scenes, fn)


@dataclass
class ReferenceConfig:
    samples: int = option(64, "Closest-point start samples per cubic segment (Newton from each).")
    curvature: bool = option(True, "Outline curvature inside a pixel, as the native renderer's option.")


class ReferenceRenderer(Renderer):
    """Plain, slow specification of the coverage model (every path against every pixel)."""

    name = "reference"
    Config = ReferenceConfig

    def render(self, scenes: Sequence[VectorScene]) -> Tensor:
        c = self.config

        def fn(*args, **kwargs):
            return render_reference(*args, **kwargs, samples=c.samples, curvature=c.curvature)

        return render_grouped(scenes, fn)


@dataclass
class DiffvgConfig:
    samples: int = option(2, "Anti-aliasing samples per pixel along each axis (diffvg's num_samples_x/y).")
    seed: int = option(0, "Jitter seed: fixed, so the sample pattern is the same every step (as CLIPasso).")
    seed_per_render: bool = option(
        False, "A new jitter pattern each render: seed + the renders so far, as CLIPDraw, diffvg's "
        "painterly and LIVE pass the iteration (the count starts over on --resume).")
    use_gpu: bool = option(True, "Render on the GPU when diffvg was built with CUDA and one is available.")


class DiffvgRenderer(Renderer):
    """diffvg (pydiffvg) backend, for comparisons; needs diffvg built from source."""

    name = "diffvg"
    Config = DiffvgConfig

    def __init__(self, config: DiffvgConfig | None = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self.renders = 0  # calls so far (seed_per_render)

    def render(self, scenes: Sequence[VectorScene]) -> Tensor:
        pydiffvg = import_pydiffvg()
        pydiffvg.set_use_gpu(self.config.use_gpu and torch.cuda.is_available())
        dropped: list[str] = []  # what diffvg cannot draw, warned of once, at the caller
        try:
            images = torch.stack([self._render_one(pydiffvg, s, dropped) for s in scenes])
        except RuntimeError as exc:
            if "GPU" not in str(exc):
                raise
            pydiffvg.set_use_gpu(False)  # diffvg built without CUDA: use its CPU path
            dropped.clear()
            images = torch.stack([self._render_one(pydiffvg, s, dropped) for s in scenes])
        for message in dict.fromkeys(dropped):
            warnings.warn(message, stacklevel=2)
        self.renders += 1
        return images

    def _render_one(self, pydiffvg, scene: VectorScene, dropped: list[str]) -> Tensor:
        return render_layered([scene], lambda flat: self._render_flat(pydiffvg, flat[0], dropped)[None])[0]

    def _render_flat(self, pydiffvg, scene: VectorScene, dropped: list[str]) -> Tensor:
        shapes, groups = diffvg_shapes(pydiffvg, scene, dropped)
        args = pydiffvg.RenderFunction.serialize_scene(scene.width, scene.height, shapes, groups)
        n = self.config.samples
        seed = self.config.seed + (self.renders if self.config.seed_per_render else 0)
        img = pydiffvg.RenderFunction.apply(scene.width, scene.height, n, n, seed, None, *args)
        img = img.to(scene.device)  # [H, W, 4]: straight colour and coverage alpha
        rgba = torch.cat([img[..., :3] * img[..., 3:], img[..., 3:]], dim=-1)
        return rgba.permute(2, 0, 1)


def import_pydiffvg():
    """The pydiffvg module, or a VecrenderError explaining how to install it."""
    try:
        import pydiffvg
    except ImportError as exc:
        raise VecrenderError(DIFFVG_INSTALL) from exc
    return pydiffvg


def diffvg_shapes(pydiffvg, scene: VectorScene, dropped: list[str]) -> tuple[list, list]:
    """pydiffvg Paths and ShapeGroups of `scene` (half-widths; closed paths without a repeated end;
    a path's subpaths as one Path each, filled together by one ShapeGroup). diffvg draws round
    caps and joins only: the scene's ``line_caps`` / ``line_joins`` are not passed on. Gradient
    paints become diffvg's (:func:`diffvg_paint`; what they lose is added to `dropped`)."""
    shapes, groups = [], []
    closed = scene.closed.tolist()
    even_odd = scene.even_odd.tolist()
    for n, subpaths in enumerate(subpath_ranges(scene)):
        ids = []
        for first, end in subpaths:  # segments [first, end) of one subpath
            pts = scene.points[n, 3 * first : 3 * end if closed[n] else 3 * end + 1]
            ids.append(len(shapes))
            shapes.append(pydiffvg.Path(
                num_control_points=torch.full((end - first,), 2, dtype=torch.int32),
                points=pts,
                stroke_width=scene.widths[n] / 2,
                is_closed=bool(closed[n]),
            ))
        fill = None
        if scene.fill_colors is not None and closed[n]:
            fill = diffvg_paint(pydiffvg, scene, n, FILL, dropped)
        stroke = diffvg_paint(pydiffvg, scene, n, STROKE, dropped)
        groups.append(pydiffvg.ShapeGroup(shape_ids=torch.tensor(ids), fill_color=fill, stroke_color=stroke,
                                          use_even_odd_rule=bool(even_odd[n])))
    return shapes, groups


def diffvg_paint(pydiffvg, scene: VectorScene, path: int, role: int, dropped: list[str]):
    """diffvg's paint of one path's fill or stroke (``role``): its flat colour, or a
    ``LinearGradient`` / ``RadialGradient`` (differentiable in the frame and stops). diffvg pads
    and draws radial gradients centred, from their centre point and axis-aligned only: a focal
    point, a focal radius, a rotated or skewed frame and the other spread methods are dropped.
    Stroke gradients crash diffvg (85802a7, CPU: a segmentation fault once a scene has one and any
    other paint): strokes get their flat colour.
    What is lost is told in `dropped` (a message for a warning)."""
    flat = (scene.fill_colors if role == FILL else scene.stroke_colors)[path]
    paints = scene.gradients
    kind = FLAT if paints is None else int(paints.kinds[path, role])
    if kind != FLAT and role == STROKE:
        dropped.append(f"diffvg draws path {path}'s stroke gradient as its flat colour (diffvg crashes on stroke "
                       "gradients); render with 'native' for the exact paint.")
        return flat
    if kind == FLAT:
        return flat
    frame, focal, stops = (t[path, role] for t in (paints.frames, paints.focals, paints.stops))
    # diffvg needs increasing offsets (it aborts on equal ones, a step or a repeated last stop)
    step = torch.arange(stops.shape[0], dtype=stops.dtype, device=stops.device) * 1e-6
    offsets, colors = (stops[:, 0].cummax(0).values + step).contiguous(), stops[:, 1:].contiguous()
    lost = ["its spread method"] if int(paints.spreads[path, role]) != PAD else []
    if kind == LINEAR:  # t = a x + c y + e: from the point where t = 0 along (a, c), a unit step in t
        direction = frame[0, :2] / frame[0, :2].square().sum()
        begin = -frame[0, 2] * direction
        paint = pydiffvg.LinearGradient(begin.contiguous(), (begin + direction).contiguous(), offsets, colors)
    else:
        if bool(focal.abs().max() > 1e-6):
            lost.append("its focal point")
        if bool(paints.focal_radii[path, role].abs() > 1e-6):
            lost.append("its focal radius")
        if bool(frame[0, 1].abs() + frame[1, 0].abs() > 1e-6):
            lost.append("its rotation or skew")
        linear, shift = frame[:, :2], frame[:, 2]
        center = torch.linalg.solve(linear, -shift)
        radius = 1 / linear.square().sum(-1).sqrt()
        paint = pydiffvg.RadialGradient(center.contiguous(), radius.contiguous(), offsets, colors)
    if lost:
        dropped.append(f"diffvg draws path {path}'s {('fill', 'stroke')[role]} gradient without "
                       f"{' and '.join(lost)}, which it cannot represent; render with 'native' for the exact paint.")
    return paint


@hookimpl
def register_renderers(register) -> None:
    register(NativeRenderer)
    register(ReferenceRenderer)
    register(DiffvgRenderer)
