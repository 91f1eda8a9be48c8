"""Renderer benchmark: speed, peak memory and accuracy of `native` (and `diffvg` when installed).

Scenes are CLIPasso-like: N open cubic strokes (random start, 3-step random walk of +-0.025*size,
1 segment), black, opaque and 3 px wide ("black"), or with random colours and opacities in
[0.3, 0.9] ("colored"). For each scene and renderer it reports the median forward time, the median
forward+backward time (loss: squared error of the render composited over white against a fixed
target), the peak memory (CPU: peak RSS of a fresh process that only builds the scene and runs
that renderer: its RSS high-water mark, reset after the imports, so it is the RSS at import
(torch alone is ~500 MB) plus what rendering adds; GPU: torch.cuda.max_memory_allocated) and the
mean / max absolute error of the composited image against an 8x8-supersampled ground truth.

The ground truth is computed here, independently of both renderers, in float64: a sub-sample is
inside a stroke when it is closer than half the width to one of 512 points sampled along the
curve (hard coverage, no anti-aliasing), layers are composited per sub-sample and the 64
sub-samples of a pixel are averaged.

    python benchmarks/render.py                      # full grid on the CPU
    python benchmarks/render.py --device cuda        # GPU (diffvg column when it has CUDA)
    python benchmarks/render.py --quick              # 2 scenes, 3 repetitions: a smoke test
    python benchmarks/render.py --strokes 256 --sizes 224 --no-curvature   # one grid point, an option
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vecrender.builtins.renderers import DiffvgRenderer, NativeRenderer
from vecrender.functional import composite
from vecrender.scene import VectorScene

STROKES = (16, 64, 256)
SIZES = (224, 512)
VARIANTS = ("black", "colored")


def make_scene(strokes: int, size: int, variant: str, seed: int = 0) -> VectorScene:
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(strokes, 1, 2, generator=g) * size
    steps = (torch.rand(strokes, 3, 2, generator=g) * 2 - 1) * 0.025 * size
    points = torch.cat([start, start + steps.cumsum(1)], dim=1)
    colors = torch.zeros(strokes, 4)
    colors[:, 3] = 1
    if variant == "colored":
        colors[:, :3] = torch.rand(strokes, 3, generator=g)
        colors[:, 3] = 0.3 + 0.6 * torch.rand(strokes, generator=g)
    return VectorScene(points=points, widths=torch.full((strokes,), 3.0), stroke_colors=colors,
                       width=size, height=size)


def target_image(size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return torch.rand(1, 3, size, size, generator=g)


# -- ground truth ---------------------------------------------------------------------------------
def ground_truth(scene: VectorScene, k: int = 8, dense: int = 512) -> torch.Tensor:
    """``[3, H, W]`` float64 hard-coverage supersampled render over white (see module docstring),
    computed on the scene's device and returned on the CPU."""
    h, w = scene.height, scene.width
    dev = scene.points.device
    canvas = torch.ones(3, h * k, w * k, dtype=torch.float64, device=dev)  # white, composited in place
    t = torch.linspace(0, 1, dense, dtype=torch.float64, device=dev)[:, None]
    for n in range(scene.num_paths):
        c = scene.points[n, :4].double()
        curve = (1 - t) ** 3 * c[0] + 3 * (1 - t) ** 2 * t * c[1] + 3 * (1 - t) * t**2 * c[2] + t**3 * c[3]
        r = float(scene.widths[n]) / 2
        lo = ((curve.amin(0) - r) * k).floor().long().clamp_min(0)
        hi = ((curve.amax(0) + r) * k).ceil().long() + 1
        x0, y0 = int(lo[0]), int(lo[1])
        x1, y1 = min(int(hi[0]), w * k), min(int(hi[1]), h * k)
        if x1 <= x0 or y1 <= y0:
            continue
        ys = (torch.arange(y0, y1, dtype=torch.float64, device=dev) + 0.5) / k
        xs = (torch.arange(x0, x1, dtype=torch.float64, device=dev) + 0.5) / k
        sy, sx = torch.meshgrid(ys, xs, indexing="ij")
        samples = torch.stack([sx.reshape(-1), sy.reshape(-1)], -1)
        inside = torch.cat([torch.cdist(part, curve).amin(-1) < r for part in samples.split(65536)])
        color = scene.stroke_colors[n].double()
        alpha = (inside.double() * color[3]).reshape(1, y1 - y0, x1 - x0)
        region = canvas[:, y0:y1, x0:x1]
        canvas[:, y0:y1, x0:x1] = color[:3, None, None] * alpha + (1 - alpha) * region
    return canvas.reshape(3, h, k, w, k).mean((2, 4)).cpu()


# -- measurement ----------------------------------------------------------------------------------
def build(name: str, options: dict | None = None):
    """The renderer ``name``; ``options`` configure ``native`` (its Config fields)."""
    if name == "diffvg":
        return DiffvgRenderer()
    return NativeRenderer.from_dict(options or {})


def measure(name: str, strokes: int, size: int, variant: str, device: str, reps: int,
            threads: int | None, options: dict | None = None) -> dict:
    """Timings, peak memory and the (detached, CPU) composited image of one renderer on one scene."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    renderer = build(name, options)
    if name == "diffvg":
        import pydiffvg  # noqa: F401  (its import is part of the baseline, not of the render)
    reset_peak_rss()
    scene = make_scene(strokes, size, variant).to(dev)
    target = target_image(size).to(dev)
    scene.points.requires_grad_(True)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def forward() -> torch.Tensor:
        return composite(renderer.render([scene]), scene.background)

    def forward_backward() -> None:
        loss = (forward() - target).square().sum()
        loss.backward()
        scene.points.grad = None

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    for _ in range(2):  # warm-up (and, with CUDA graphs, the captures of both passes)
        forward_backward()
        with torch.no_grad():
            forward()
    sync()
    warm_up = time.perf_counter() - start
    fwd, fb = [], []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            forward()
        sync()
        fwd.append(time.perf_counter() - start)
        start = time.perf_counter()
        forward_backward()
        sync()
        fb.append(time.perf_counter() - start)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_rss_mb()
    with torch.no_grad():
        image = forward()[0].double().cpu()
    return {"fwd": statistics.median(fwd) * 1e3, "fb": statistics.median(fb) * 1e3, "peak": peak,
            "image": image, "warm_up": warm_up}


def reset_peak_rss() -> None:
    """Restart the kernel's RSS high-water mark (VmHWM) at the current RSS (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """VmHWM (peak RSS since the last reset) in MB, or ru_maxrss where /proc is unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_isolated(*args) -> dict:
    """CPU: run `measure` in a fresh process so its peak RSS is its own."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def diffvg_available() -> bool:
    try:
        import pydiffvg  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2 scenes, 3 repetitions")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions (median; default 10)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--tile-capacity", type=int, default=None,
                        help="native's GPU bin size (default: the renderer's, 'auto': fitted to each scene)")
    parser.add_argument("--no-cuda-graphs", action="store_true",
                        help="native: run the eager CUDA path (cuda_graphs=False)")
    parser.add_argument("--compile", action="store_true",
                        help="native: torch.compile the render (compile=True; GPUs)")
    parser.add_argument("--no-curvature", action="store_true",
                        help="native: tangent-line coverage only (curvature=False)")
    parser.add_argument("--strokes", type=int, nargs="+", default=None, help="only these stroke counts")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="only these canvas sizes")
    parser.add_argument("--no-diffvg", action="store_true", help="skip diffvg even when installed")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 10)
    grid = [(16, 224, "black"), (64, 224, "colored")] if args.quick else [
        (n, s, v) for v in VARIANTS for s in args.sizes or SIZES for n in args.strokes or STROKES]
    options = {}
    if args.tile_capacity is not None:
        options["tile_capacity"] = args.tile_capacity
    if args.no_cuda_graphs:
        options["cuda_graphs"] = False
    if args.no_curvature:
        options["curvature"] = False
    if args.compile:
        options["compile"] = True
    names = ["native"]
    if diffvg_available() and not args.no_diffvg and (args.device == "cpu" or _diffvg_has_gpu()):
        names.append("diffvg")
    run = measure_isolated if args.device == "cpu" else measure
    threads = args.threads or torch.get_num_threads()
    print(f"device: {args.device}, torch {torch.__version__}, threads {threads}, reps {reps}, "
          f"renderers: {', '.join(names)}, native options {options or 'default'}\n")
    header = "| scene | strokes | size | renderer | forward ms | fwd+bwd ms | peak MB | mean err | max err |"
    print(header)
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for strokes, size, variant in grid:
        truth = ground_truth(make_scene(strokes, size, variant).to(args.device))
        rows = {}
        for name in names:
            r = run(name, strokes, size, variant, args.device, reps, args.threads, options)
            err = (r["image"] - truth).abs()
            r["mean"], r["max"] = err.mean().item(), err.max().item()
            rows[name] = r
            print(f"| {variant} | {strokes} | {size} | {name} | {r['fwd']:.2f} | {r['fb']:.2f} | "
                  f"{r['peak']:.0f} | {r['mean']:.5f} | {r['max']:.3f} |", flush=True)
            if options.get("compile"):
                print(f"  ({name}: warm-up with compilation and capture {r['warm_up']:.1f} s)", flush=True)
        if "diffvg" in rows:
            a, b = rows["native"], rows["diffvg"]
            ratios.append((variant, strokes, size, a["fwd"] / b["fwd"], a["fb"] / b["fb"], a["peak"] / b["peak"],
                           a["mean"] / b["mean"]))
    if ratios:
        print("\nRatios native / diffvg (lower is better for native):\n")
        print("| scene | strokes | size | forward | fwd+bwd | peak memory | mean error |")
        print("|---|---|---|---|---|---|---|")
        for v, n, s, f, fb, m, e in ratios:
            print(f"| {v} | {n} | {s} | {f:.3f} ({1 / f:.0f}x faster) | {fb:.3f} ({1 / fb:.0f}x faster) | "
                  f"{m:.2f} | {e:.2f} |")


def _diffvg_has_gpu() -> bool:
    return torch.cuda.is_available() and diffvg_available()


if __name__ == "__main__":
    main()
