"""Where one native fwd+bwd spends its time: the kernels (GPU) or operators (CPU) it runs.

Profiles one eager forward+backward (CUDA graphs off, so every kernel is seen) of the scenes of
`benchmarks/render.py` with `torch.profiler` and prints their count, total time and the most
expensive operators. On GPUs the count times ~2-3 us is the floor a replayed CUDA graph cannot go
below (see benchmarks/README.md).

    python benchmarks/profile_render.py --device cuda [--compile] [--strokes 16 64] [--size 224]
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from render import make_scene, target_image  # this folder's table script (it puts the repo on the path)
from vecrender.builtins.renderers import NativeRenderer
from vecrender.functional import composite


def profile_step(strokes: int, size: int, variant: str, device: str, options: dict, rows: int) -> None:
    renderer = NativeRenderer.from_dict({**options, "cuda_graphs": False})
    scene = make_scene(strokes, size, variant).to(device)
    target = target_image(size).to(device)
    scene.points.requires_grad_(True)

    def step() -> None:
        loss = (composite(renderer.render([scene]), scene.background) - target).square().sum()
        loss.backward()
        scene.points.grad = None

    for _ in range(3):  # warm-up (and compilation)
        step()
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
        kernels = [e for e in prof.events() if e.cpu_parent is None and e.name.startswith("aten::")]
        total, unit, sort = sum(e.cpu_time_total for e in kernels), "top-level operators", "self_cpu_time_total"
    print(f"\n{variant} {strokes} strokes @ {size} px, {options or 'defaults'}: {len(kernels)} {unit}, "
          f"{total / 1e3:.2f} ms")
    print(prof.key_averages().table(sort_by=sort, row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strokes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--variant", choices=["black", "colored"], default="black")
    parser.add_argument("--tile-capacity", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="native's compile option (GPUs)")
    parser.add_argument("--rows", type=int, default=15, help="operators listed")
    args = parser.parse_args()
    options = {}
    if args.tile_capacity is not None:
        options["tile_capacity"] = args.tile_capacity
    if args.compile:
        options["compile"] = True
    for strokes in args.strokes:
        profile_step(strokes, args.size, args.variant, args.device, options, args.rows)


if __name__ == "__main__":
    main()
