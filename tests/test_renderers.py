"""Renderer components: registration, batching by structure, configs, diffvg errors, CUDA."""

from __future__ import annotations

import functools
import sys
from dataclasses import replace

import pytest
import torch

from vecrender.builtins import renderers
from vecrender.builtins.renderers import (
    DiffvgRenderer,
    NativeRenderer,
    ReferenceRenderer,
    render_grouped,
    render_layered,
)
from vecrender.errors import ConfigError, VecrenderError
from vecrender.functional import render_native
from vecrender.functional.native import DYNAMIC_FROM_SEGMENTS
from vecrender.functional.paints import radial_frame
from vecrender.plugins import get_registry
from vecrender.scene import VectorScene, gradient_fields


def make_scene(seed: int, n: int = 5, segs: int = 1, size: int = 20, fill: bool = False,
               device: str = "cpu") -> VectorScene:
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(n, 1, 2, generator=g) * size
    points = torch.cat([start, start + ((torch.rand(n, 3 * segs, 2, generator=g) - 0.5) * 8).cumsum(1)], 1)
    closed = torch.rand(n, generator=g) < 0.5
    return VectorScene(
        points=points, widths=1 + 3 * torch.rand(n, generator=g),
        stroke_colors=torch.rand(n, 4, generator=g),
        fill_colors=torch.rand(n, 4, generator=g) if fill else None,
        closed=closed, width=size, height=size,
    ).to(device)


def test_builtin_renderers_are_registered():
    registry = get_registry()
    for name, cls in (("native", NativeRenderer), ("reference", ReferenceRenderer), ("diffvg", DiffvgRenderer)):
        assert registry.get("renderer", name) is cls


@pytest.mark.parametrize("cls", [NativeRenderer, ReferenceRenderer])
def test_mixed_structures_render_in_input_order(cls):
    scenes = [make_scene(0), make_scene(1, segs=2), make_scene(2), make_scene(3, fill=True),
              make_scene(4, segs=2)]
    renderer = cls()
    batch = renderer.render(scenes)
    assert batch.shape == (5, 4, 20, 20)
    for i, scene in enumerate(scenes):
        single = renderer.render([scene])[0]
        assert torch.allclose(batch[i], single, atol=1e-6), i
    assert not torch.allclose(batch[0], batch[2])


@pytest.mark.parametrize("cls", [NativeRenderer, ReferenceRenderer])
def test_scenes_with_and_without_subpaths_batch_together(cls):
    a, b = make_scene(7, segs=2, fill=True), make_scene(8, segs=2, fill=True)
    b.closed = torch.ones(5, dtype=torch.bool)
    b.subpath_starts = torch.tensor([[True, True], [True, False]] * 2 + [[True, True]])
    renderer = cls()
    both = renderer.render([a, b])
    assert torch.allclose(both[0], renderer.render([a])[0], atol=1e-6)
    assert torch.allclose(both[1], renderer.render([b])[0], atol=1e-6)
    single = replace(b, subpath_starts=None)  # two subpaths of one segment each differ from one path
    assert not torch.allclose(both[1], renderer.render([single])[0], atol=1e-3)


def test_batched_scenes_may_differ_in_flags():
    a, b = make_scene(5, segs=2, fill=True), make_scene(6, segs=2, fill=True)
    b.closed = ~a.closed
    b.num_segments = torch.tensor([1, 2, 1, 2, 1])
    b.even_odd = torch.ones(5, dtype=torch.bool)
    both = NativeRenderer().render([a, b])
    assert torch.allclose(both[1], NativeRenderer().render([b])[0], atol=1e-6)
    assert torch.allclose(both, ReferenceRenderer().render([a, b]), atol=1e-4)


def test_native_config_options():
    r = NativeRenderer.from_dict({"tile_size": 4, "segments_per_curve": 8, "newton_steps": 2})
    scene = make_scene(7)
    ref = ReferenceRenderer().render([scene])
    assert torch.allclose(r.render([scene]), ref, atol=1e-4)
    with pytest.raises(ConfigError, match="tile_siz"):
        NativeRenderer.from_dict({"tile_siz": 4})
    with pytest.raises(ConfigError, match="tile_size"):
        NativeRenderer.from_dict({"tile_size": 0})


def test_render_is_differentiable_through_component():
    scene = make_scene(8, fill=True)
    tensors = scene.requires_grad_(["points", "widths", "stroke_colors", "fill_colors"])
    NativeRenderer().render([scene]).square().sum().backward()
    for t in tensors:
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_diffvg_missing_gives_install_instructions(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydiffvg", None)  # import pydiffvg -> ImportError
    with pytest.raises(VecrenderError, match="Build it from source into this environment: clone https://github.com/BachiLi/diffvg"):
        DiffvgRenderer().render([make_scene(0)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_without_host_synchronisation():
    scenes_cpu = [make_scene(s, n=40, segs=2, size=64, fill=s == 1) for s in range(3)]
    scenes_gpu = [s.to("cuda") for s in scenes_cpu]
    for scenes in (scenes_cpu, scenes_gpu):
        for s in scenes:
            s.requires_grad_(["points", "widths", "stroke_colors"])
    renderer = NativeRenderer()
    cpu = renderer.render(scenes_cpu)
    cpu.square().sum().backward()
    renderer.render(scenes_gpu)  # warm-up (lazy CUDA initialisation may synchronise)
    for s in scenes_gpu:
        s.points.grad = None
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        gpu = renderer.render(scenes_gpu)
        gpu.square().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
    for a, b in zip(scenes_cpu, scenes_gpu):
        scale = a.points.grad.abs().max()
        assert (a.points.grad - b.points.grad.cpu()).abs().max() < 2e-3 * scale
    # the exact-bin mode agrees too (it reads one integer back from the device)
    exact = render_native(torch.stack([s.points for s in scenes_gpu[:1]]).detach(),
                          scenes_gpu[0].widths[None].detach(), scenes_gpu[0].stroke_colors[None].detach(),
                          None, scenes_gpu[0].closed, scenes_gpu[0].num_segments, scenes_gpu[0].even_odd,
                          64, 64, tile_capacity=0)
    assert torch.allclose(exact.cpu(), cpu[:1].detach(), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_auto_tile_capacity_follows_crowding_strokes():
    """'auto' bins on a GPU: one read-back at the first render, then counts watched without
    waiting (checked under the synchronisation debugger) and the bins grown as the strokes crowd
    together, so no render overflows (NaN); the last render equals the CPU's."""
    renderer = NativeRenderer()  # tile_capacity 'auto', CUDA graphs
    scene = make_scene(5, n=48, size=64, device="cuda")
    spread = scene.points.clone()
    renderer.render([scene])  # warm-up: the read-back and the graphs' capture
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:  # 8 renders of one key: two counts sent to the host and collected
        for _ in range(8):
            renderer.render([scene])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    (first,) = renderer.tile_capacity.sizes.values()
    for step in range(1, 41):  # the strokes gather around (32, 32)
        scene.points = spread + (32 - spread) * 0.9 * step / 40
        assert not renderer.render([scene]).isnan().any(), step
    (last,) = renderer.tile_capacity.sizes.values()
    assert last > first
    cpu = NativeRenderer().render([scene.to("cpu")])
    assert torch.allclose(renderer.render([scene]).cpu(), cpu, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_renders_long_paths_with_dynamic_shapes():
    """Paths of `DYNAMIC_FROM_SEGMENTS` segments or more render with dynamic shapes on a GPU too
    (no bins fitted, no graph captured), with the CPU's image and gradients."""
    scenes = [make_scene(s, n=6, segs=DYNAMIC_FROM_SEGMENTS, size=64, fill=True) for s in (4, 5)]
    scenes[0].num_segments[1] = 3  # short and long paths together: evaluated in length groups
    names = ["points", "widths", "stroke_colors", "fill_colors"]
    cpu, cpu_grads = _render_with_grads(NativeRenderer(), scenes, names)
    renderer = NativeRenderer()
    gpu, gpu_grads = _render_with_grads(renderer, [s.to("cuda") for s in scenes], names)
    assert renderer.graphs.graphs == {} and renderer.tile_capacity.sizes == {}
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)
    for g, c in zip(gpu_grads, cpu_grads):
        torch.testing.assert_close(g.cpu(), c, rtol=2e-3, atol=2e-3 * c.abs().max().item())


def test_cuda_graphs_option_is_skipped_cleanly_on_cpu():
    scene = make_scene(9, fill=True)
    tensors = scene.requires_grad_(["points", "widths", "stroke_colors", "fill_colors"])
    graphed = NativeRenderer.from_dict({"cuda_graphs": True})
    eager = NativeRenderer.from_dict({"cuda_graphs": False})
    a = graphed.render([scene])
    a.square().sum().backward()
    grads = [t.grad.clone() for t in tensors]
    for t in tensors:
        t.grad = None
    b = eager.render([scene])
    b.square().sum().backward()
    assert torch.equal(a, b)
    for g, t in zip(grads, tensors):
        assert torch.equal(g, t.grad)
    assert graphed.graphs.graphs == {}  # nothing was captured


def _render_with_grads(renderer, scenes, names):
    tensors = [t for s in scenes for t in s.requires_grad_(names)]
    for t in tensors:
        t.grad = None
    image = renderer.render(scenes)
    (image * torch.linspace(0, 1, image.numel(), device=image.device).view_as(image)).square().sum().backward()
    return image.detach(), [t.grad.clone() for t in tensors]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_match_eager():
    graphed = NativeRenderer.from_dict({"cuda_graphs": True})
    eager = NativeRenderer.from_dict({"cuda_graphs": False})
    names = ["points", "widths", "stroke_colors", "fill_colors"]
    for fill in (False, True):
        for step in range(4):  # consecutive calls with new values replay one captured graph
            scenes = [make_scene(10 * step + i + 20 * fill, n=24, segs=2, size=48, fill=fill, device="cuda")
                      for i in range(2)]
            used = [n for n in names if n != "fill_colors" or fill]
            ref, ref_grads = _render_with_grads(eager, scenes, used)
            out, grads = _render_with_grads(graphed, scenes, used)
            assert (out - ref).abs().max() < 1e-5, (fill, step)
            for g, r in zip(grads, ref_grads):  # atomics sum the gradients in any order: relative
                torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5, msg=lambda m: f"{fill} {step}: {m}")
            with torch.no_grad():  # forward-only graph
                assert (graphed.render(scenes) - ref).abs().max() < 1e-5
    assert len(graphed.graphs.graphs) == 4 and not graphed.graphs.errors, graphed.graphs.errors
    # interleaved forwards: each backward still gets its own gradients
    s1 = [make_scene(100, n=24, segs=2, size=48, device="cuda")]
    s2 = [make_scene(101, n=24, segs=2, size=48, device="cuda")]
    (r1, g1), (r2, _) = (_render_with_grads(eager, s, ["points"]) for s in (s1, s2))
    for s in (s1, s2):
        s[0].points.grad = None
    o1, o2 = graphed.render(s1), graphed.render(s2)
    o1.square().mul(torch.linspace(0, 1, o1.numel(), device="cuda").view_as(o1).square()).sum().backward()
    assert (o1 - r1).abs().max() < 1e-5 and (o2 - r2).abs().max() < 1e-5
    assert (s1[0].points.grad - g1[0]).abs().max() < 1e-5


def _fill_scenes(device: str = "cpu") -> list[VectorScene]:
    scenes = [make_scene(40 + i, n=12, segs=2, size=40, fill=True, device=device) for i in range(2)]
    for s in scenes:  # a compound path with a hole among them, and caps and joins of every kind
        s.closed = torch.arange(12, device=device) % 3 != 0
        s.subpath_starts = torch.tensor([True, False], device=device).repeat(12, 1)
        s.subpath_starts[1, 1] = True
        s.line_caps = torch.arange(12, device=device) % 3
        s.line_joins = torch.arange(12, device=device).flip(0) % 3
        s.miter_limits = torch.linspace(1, 6, 12, device=device)
        paints = gradient_fields(12, num_stops=3, device=device)  # flat, linear and radial paints
        paints["gradient_kinds"][:] = (torch.arange(24, device=device) % 3).view(12, 2)
        paints["gradient_frames"][:] = torch.tensor(radial_frame((20.0, 18.0), 15.0), device=device)
        paints["gradient_stops"][:] = torch.tensor([[0.0, 1, 0, 0, 1], [0.4, 0, 1, 0, 0.5], [1.0, 0, 0, 1, 1]],
                                                   device=device)
        for name, value in paints.items():
            setattr(s, name, value)
    return scenes


def test_static_render_traces_into_one_compiled_graph():
    """The fixed-shape path (the GPUs') must stay traceable as one graph for ``compile``: no host
    read-back, no data-dependent shape. Checked on the CPU with the ``aot_eager`` backend (the
    trace and autograd, without code generation)."""
    scenes = _fill_scenes()
    names = ["points", "widths", "stroke_colors", "fill_colors", "gradient_stops"]

    def render(fn):
        tensors = [t for s in scenes for t in s.requires_grad_(names)]
        for t in tensors:
            t.grad = None
        image = render_grouped(scenes, lambda *a, **k: fn(*a, **k, shapes="static"))
        (image * torch.linspace(0, 1, image.numel()).view_as(image)).square().sum().backward()
        return image.detach(), [t.grad.clone() for t in tensors]

    torch._dynamo.reset()
    compiled = torch.compile(render_native, fullgraph=True, dynamic=False, backend="aot_eager")
    ref, ref_grads = render(render_native)
    out, grads = render(compiled)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
    assert ref[:, 3].amax() > 0.9 and any(g.abs().sum() > 0 for g in ref_grads)


def test_compiled_render_runs_eagerly_past_the_recompile_limit(monkeypatch):
    """A run meets more input variants than torch compiles per function (8 by default): past
    the limit, new variants render eagerly, with one warning, instead of failing."""
    from vecrender.functional import native

    compiled = torch.compile(render_native, fullgraph=True, dynamic=False, backend="eager")
    monkeypatch.setattr(native, "_compiled_render", lambda: compiled)
    monkeypatch.setattr(native, "_recompile_limit_warned", [])
    torch._dynamo.reset()
    scenes = [[make_scene(s, n=n, size=16)] for s, n in ((0, 3), (1, 4), (2, 5))]
    with torch._dynamo.config.patch(recompile_limit=1):
        with pytest.warns(RuntimeWarning, match="limit of compiled variants") as record:
            images = [render_grouped(group, functools.partial(native.render_compiled, shapes="static"))
                      for group in scenes]
    assert len(record) == 1  # once, though two variants ran eagerly
    for group, image in zip(scenes, images):
        eager = render_grouped(group, functools.partial(render_native, shapes="static"))
        assert torch.allclose(image, eager, atol=1e-6), (image - eager).abs().max()
    torch._dynamo.reset()


def test_compile_option_runs_the_cpu_path_eagerly():
    scene = make_scene(9, fill=True)
    compiled = NativeRenderer.from_dict({"compile": True}).render([scene])
    assert torch.equal(compiled, NativeRenderer().render([scene]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compiled_cuda_render_matches_eager_without_host_synchronisation():
    scenes = _fill_scenes("cuda")
    names = ["points", "widths", "stroke_colors", "fill_colors"]
    eager = NativeRenderer.from_dict({"cuda_graphs": False})
    compiled = NativeRenderer.from_dict({"compile": True})  # with CUDA graphs
    ref, ref_grads = _render_with_grads(eager, scenes, names)
    out, grads = _render_with_grads(compiled, scenes, names)  # compiles and captures
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)
    assert not compiled.graphs.errors, compiled.graphs.errors
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:  # replays of the compiled kernels
        out, grads = _render_with_grads(compiled, scenes, names)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


def _over(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    return top + (1 - top[:, 3:4]) * bottom


@pytest.mark.parametrize("cls", [NativeRenderer, ReferenceRenderer, DiffvgRenderer])
def test_groups_composite_as_layers(cls):
    if cls is DiffvgRenderer:
        pytest.importorskip("pydiffvg")
    renderer = cls()
    flat = [replace(make_scene(s, n=5, fill=True), closed=torch.ones(5, dtype=torch.bool)) for s in (11, 12)]
    for scene in flat:  # opaque, overlapping paints: a group's paths hide each other
        scene.stroke_colors[:, 3] = 1.0
        scene.fill_colors[:, 3] = 1.0
    layered = [replace(s, groups=((1, 4, 0.5), (2, 3, 0.3))) for s in flat]
    together = renderer.render(layered)
    for scene, image in zip(flat, together):
        one = [renderer.render([scene.paths(slice(k, k + 1))]) for k in range(5)]
        inner = 0.3 * one[2]
        outer = 0.5 * _over(one[3], _over(inner, one[1]))
        expected = _over(one[4], _over(outer, one[0]))[0]
        assert torch.allclose(image, expected, atol=1e-5)
        assert (image - renderer.render([scene])[0]).abs().max() > 0.2  # not the flat render
    assert torch.allclose(together[1], renderer.render([layered[1]])[0], atol=1e-6)  # batched as alone


@pytest.mark.parametrize("cls", [NativeRenderer, ReferenceRenderer])
def test_group_runs_render_batched_as_one_at_a_time(cls, monkeypatch):
    """The built-in renderers draw a scene's runs of paths between group boundaries in one call
    per run length rounded up to a power of two, each padded with invisible paths (`batch_runs`):
    the images and gradients of one call per run, in fewer calls; one run at a time again where
    the runs' images would take more memory than `RUN_BATCH_ELEMENTS`."""
    scene = replace(make_scene(14, n=12, segs=2, size=24, fill=True), closed=torch.ones(12, dtype=torch.bool))
    scene.num_segments[::3] = 1  # runs of paths of different lengths
    # runs: [0, 1) [1, 2) mask, [2, 5) [5, 6) nested, [6, 9) [9, 12): lengths 1, 1, 3, 1, 3, 3
    scene = replace(scene, groups=((1, 9, 0.7, 1, True), (5, 6, 0.5), (9, 12, 0.8, 0, False)))
    calls = []

    def render_flat(batch):
        calls.append(len(batch))
        return cls().render(batch)

    images, grads = [], []
    for batch_runs in (False, True):
        calls.clear()
        points, colors = replace(scene.detach(), groups=scene.groups).requires_grad_(["points", "fill_colors"])
        current = replace(scene, points=points, fill_colors=colors)
        image = render_layered([current, current], render_flat, batch_runs=batch_runs)
        (image * torch.linspace(0, 1, image.numel()).view_as(image)).sum().backward()
        images.append(image.detach())
        grads.append((points.grad, colors.grad))
        assert calls == ([2] * 6 if not batch_runs else [6, 6])  # 3 runs of length 1, 3 padded to 4
    assert (images[0][:, 3] > 0.5).sum() > 50
    torch.testing.assert_close(images[1], images[0], rtol=0, atol=1e-5)
    for batched, alone in zip(grads[1], grads[0]):
        torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-5 * alone.abs().max().item())
        assert alone.abs().sum() > 0
    monkeypatch.setattr(renderers, "RUN_BATCH_ELEMENTS", 2 * 4 * 24 * 24 * 5)  # room for 5 runs of 6
    calls.clear()
    assert torch.equal(render_layered([scene, scene], render_flat, batch_runs=True), images[0])
    assert calls == [2] * 6


def test_gradients_flow_through_groups():
    scene = replace(make_scene(13, n=4, fill=True), closed=torch.ones(4, dtype=torch.bool), groups=((0, 3, 0.6),))
    points, colors = scene.requires_grad_(["points", "fill_colors"])
    target = torch.rand(4, 20, 20, generator=torch.Generator().manual_seed(0))
    ((NativeRenderer().render([scene])[0] - target) ** 2).sum().backward()
    assert torch.isfinite(points.grad).all() and torch.isfinite(colors.grad).all()
    assert (points.grad.abs().sum((1, 2)) > 0).all() and (colors.grad.abs().sum(1) > 0).all()
    reference = replace(scene.detach(), groups=scene.groups)
    ref_points, ref_colors = reference.requires_grad_(["points", "fill_colors"])
    ((ReferenceRenderer().render([reference])[0] - target) ** 2).sum().backward()
    assert torch.allclose(points.grad, ref_points.grad, atol=1e-3, rtol=1e-3)
    assert torch.allclose(colors.grad, ref_colors.grad, atol=1e-4)


def test_cuda_graphs_keep_their_first_keys_and_run_later_ones_eagerly(monkeypatch):
    """The policy, without a GPU: captures stand in for graphs that replay the eager render."""
    from vecrender.functional import native

    captured = []

    class Captured:
        def __init__(self, render, args, needs, height, width, options):
            captured.append(args[0].shape)
            self.render, self.size, self.options = render, (height, width), options
            self.present, self.count = [i for i, a in enumerate(args) if a is not None], len(args)
            self.bwd, self.generation = None, 0

        def forward(self, inputs):
            args = [None] * self.count
            for i, a in zip(self.present, inputs):
                args[i] = a
            return native._render_args(self.render, tuple(args), *self.size, self.options)

    monkeypatch.setattr(native, "_GraphedRender", Captured)
    monkeypatch.setattr(native.CudaGraphs, "capturable", staticmethod(lambda args, options: True))
    graphs = native.CudaGraphs(max_graphs=2)
    renderer = NativeRenderer()
    eager = NativeRenderer.from_dict({"cuda_graphs": False})
    renderer.graphs = graphs
    scenes = [make_scene(60 + n, n=n) for n in (3, 4, 5, 3, 4, 5)]  # three shapes, twice
    for scene in scenes:
        with torch.no_grad():
            assert torch.allclose(renderer.render([scene]), eager.render([scene]), atol=1e-6)
    assert captured == [(1, 3, 4, 2), (1, 4, 4, 2)]  # the first two shapes, once each; the third eagerly
    assert len(graphs.graphs) == 2


@pytest.mark.parametrize("luminance", [False, True])
@pytest.mark.parametrize("cls", [NativeRenderer, ReferenceRenderer])
def test_masked_groups_multiply_their_content_by_the_mask(cls, luminance):
    from vecrender.functional.paths import polygon_points

    renderer = cls()
    scene = replace(make_scene(14, n=5, segs=4, fill=True), closed=torch.ones(5, dtype=torch.bool))
    squares = [[(2.0, 3.0), (17.0, 3.0), (17.0, 12.0), (2.0, 12.0)],
               [(6.0, 7.0), (18.0, 7.0), (18.0, 18.0), (6.0, 18.0)]]
    scene.points[3:] = torch.stack([polygon_points(torch.tensor(square)) for square in squares])  # the content
    scene.fill_colors[1:3] = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.2, 0.6, 0.4, 0.8]])  # the mask's paints
    scene.widths[1:3] = 0.0
    layered = replace(scene, groups=((1, 5, 0.7, 2, luminance),))  # paths 1, 2: the mask; 3, 4: its content
    image = renderer.render([layered])[0]
    mask, content, below = (renderer.render([scene.paths(slice(a, b))]) for a, b in ((1, 3), (3, 5), (0, 1)))
    value = (mask[:, :3] * torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1)).sum(1, keepdim=True) \
        if luminance else mask[:, 3:]
    assert torch.allclose(image, _over(0.7 * content * value, below)[0], atol=1e-5)
    assert value.min() == 0 and value.max() > 0.3  # the mask hides some pixels and shows others
    points, = layered.requires_grad_(["points"])
    renderer.render([layered]).sum().backward()
    assert points.grad[1:3].abs().sum() > 0  # the mask's paths move it
