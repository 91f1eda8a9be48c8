"""Where one native fwd+bwd spends its time: the kernels (GPU) or operators (CPU) it runs.

Profiles one eager forward+backward (CUDA graphs off, so every kernel is seen) of the scenes of
`benchmarks/render.py` with `torch.profiler` and prints their count, total time and the most
expensive operators. On GPUs the count times ~2-3 us is the floor a replayed CUDA graph cannot go
below (see benchmarks/README.md). ``--static`` profiles the GPUs' fixed-shape scheme on any device
(one chunk, as on GPUs), so its operator count, and with ``--compile`` the number of kernels
inductor fuses it into, can be followed on a machine without a GPU.

    python benchmarks/profile_render.py --device cuda [--compile] [--strokes 16 64] [--size 224]
    python benchmarks/profile_render.py --static [--compile]      # the GPU scheme, on the CPU
"""

from __future__ import annotations

import argparse
import functools

import torch
from torch._inductor import metrics as inductor_metrics
from torch.profiler import ProfilerActivity, profile

from render import make_scene, target_image  # this folder's table script (it puts the repo on the path)
from vecrender.builtins.renderers import NativeRenderer, render_grouped
from vecrender.functional import composite
from vecrender.functional.native import render_compiled, render_native


def static_renderer(options: dict) -> NativeRenderer:
    """A native renderer running the GPUs' fixed-shape scheme on any device, in one chunk."""
    renderer = NativeRenderer.from_dict(options)
    config = renderer.config
    render = functools.partial(
        render_compiled if config.compile else render_native, shapes="static", chunk_elements=1 << 26,
        tile_size=config.tile_size, segments_per_curve=config.segments_per_curve,
        newton_steps=config.newton_steps, curvature=config.curvature)

    def function(*args, **kwargs):
        capacity = config.tile_capacity
        if capacity == "auto":  # fitted as on GPUs (the renderer leaves it to the CPU's exact bins)
            capacity = renderer.tile_capacity.capacity(*args, tile_size=config.tile_size, **kwargs)
        return render(*args, **kwargs, tile_capacity=capacity)

    renderer.render = lambda scenes: render_grouped(scenes, function)
    return renderer


def profile_step(strokes: int, size: int, variant: str, device: str, options: dict, rows: int,
                 static: bool) -> None:
    options = {**options, "cuda_graphs": False}
    renderer = static_renderer(options) if static else NativeRenderer.from_dict(options)
    scene = make_scene(strokes, size, variant).to(device)
    target = target_image(size).to(device)
    scene.points.requires_grad_(True)

    def step() -> None:
        loss = (composite(renderer.render([scene]), scene.background) - target).square().sum()
        loss.backward()
        scene.points.grad = None

    inductor_metrics.reset()
    for _ in range(4):  # warm-up (and compilation); 4: the profiled render is not a TileCapacity count
        step()
    fused = inductor_metrics.generated_kernel_count  # kernels inductor generated (compile)
    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize()
    with profile(activities=activities) as prof:
        step()
        if cuda:
            torch.cuda.synchronize()
    if cuda:
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        total, unit, sort = sum(e.device_time for e in kernels), "kernels", "self_cuda_time_total"
    else:
        kernels = [e for e in prof.events() if e.name.startswith("aten::")  # not inside another operator
                   and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
        total, unit, sort = sum(e.cpu_time_total for e in kernels), "top-level operators", "self_cpu_time_total"
    scheme = "fixed-shape scheme, " if static else ""
    print(f"\n{variant} {strokes} strokes @ {size} px, {scheme}{options}: {len(kernels)} {unit}, "
          f"{total / 1e3:.2f} ms" + (f"; inductor generated {fused} kernels" if fused else ""))
    print(prof.key_averages().table(sort_by=sort, row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strokes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--variant", choices=["black", "colored"], default="black")
    parser.add_argument("--tile-capacity", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="native's compile option (GPUs, or --static)")
    parser.add_argument("--static", action="store_true",
                        help="the GPUs' fixed-shape scheme on any device (the CPU's own is dynamic)")
    parser.add_argument("--rows", type=int, default=15, help="operators listed")
    args = parser.parse_args()
    options = {}
    if args.tile_capacity is not None:
        options["tile_capacity"] = args.tile_capacity
    if args.compile:
        options["compile"] = True
    for strokes in args.strokes:
        profile_step(strokes, args.size, args.variant, args.device, options, args.rows, args.static)


if __name__ == "__main__":
    main()
