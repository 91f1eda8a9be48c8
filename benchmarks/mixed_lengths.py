"""Scenes with long paths: the per-tile segment windows and the grouping of paths by segment
count of dynamic shapes, each against doing without, in the same process.

A scene stores every path with as many segments as its longest, and a closest-point search's
work per (tile, path) pair grows with the segments it searches. `native` with dynamic shapes (the
CPU, and on GPUs paths of ``DYNAMIC_FROM_SEGMENTS`` segments or more) therefore

* searches, per (tile, path) pair, only the segments that come within reach of the tile
  (`vecrender.functional.native._segment_windows`, paths of ``WINDOW_MIN_SEGMENTS`` segments or
  more), and
* evaluates paths in groups of similar length when padding would cost more than
  ``BUCKET_GAIN`` times the grouped work (`vecrender.functional.native._segment_buckets`).

This script renders (forward, and forward+backward of a squared error) a synthetic scene of many
short filled shapes and strokes plus one long outline, and optionally real SVG files, with both,
without the windows (whole paths searched) and, with ``--padded``, with neither, and prints the
times, their ratios to the default and the largest pixel difference from it. On a GPU,
``--static`` also times the GPUs' static shapes (every padded chord searched at every bin slot),
which ``shapes="auto"`` used for every path length before ``DYNAMIC_FROM_SEGMENTS``.

    python benchmarks/mixed_lengths.py [--short 100] [--long 1000] [--size 256] [--svg FILE ...] [--padded]
    python benchmarks/mixed_lengths.py --device cuda --static --long 64
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vecrender.functional.native as native  # noqa: E402
from vecrender import svg  # noqa: E402
from vecrender.builtins.renderers import NativeRenderer  # noqa: E402
from vecrender.scene import VectorScene  # noqa: E402


def synthetic_scene(num_short: int, long_segments: int, size: int, seed: int = 0) -> VectorScene:
    """`num_short` closed 2-4 segment shapes (filled and stroked) and one closed outline of
    `long_segments` segments (a wobbly circle) drawn between them."""
    gen = torch.Generator().manual_seed(seed)
    count = num_short + 1
    points = torch.zeros(count, 3 * long_segments + 1, 2)
    num_segments = torch.randint(2, 5, (count,), generator=gen)
    centres = torch.rand(num_short, 1, 2, generator=gen) * size
    steps = (torch.rand(num_short, 12, 2, generator=gen) - 0.5) * size * 0.2
    points[1:, :13] = centres + torch.cat([torch.zeros(num_short, 1, 2), steps.cumsum(1)], 1)
    angle = torch.linspace(0, 2 * math.pi, 3 * long_segments + 1)
    radius = size * (0.35 + 0.03 * torch.sin(angle * 37))
    points[0] = torch.stack([size / 2 + radius * angle.cos(), size / 2 + radius * angle.sin()], -1)
    num_segments[0] = long_segments
    order = torch.randperm(count, generator=gen)  # the long outline lands among the short paths
    colors = torch.rand(2, count, 4, generator=gen)
    return VectorScene(points=points[order], widths=torch.full((count,), 1.5), stroke_colors=colors[0],
                       fill_colors=colors[1], closed=torch.ones(count, dtype=torch.bool),
                       num_segments=num_segments[order], width=size, height=size)


def timed(scene: VectorScene, backward: bool, repeats: int) -> tuple[float, torch.Tensor]:
    renderer = NativeRenderer.from_dict({"cuda_graphs": False})  # the search's work, not launches
    cuda = scene.points.device.type == "cuda"
    times, image = [], None
    for _ in range(repeats):
        points = scene.points.detach().requires_grad_(backward)
        current = dataclasses.replace(scene, points=points)
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            image = renderer.render([current])
            if backward:
                image.square().sum().backward()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], image.detach().cpu()


#: What each variant sets: (BUCKET_GAIN, WINDOW_MIN_SEGMENTS, DYNAMIC_FROM_SEGMENTS); the first is
#: the default. "static shapes" changes nothing on the CPU, whose shapes are always dynamic.
VARIANTS = {"default": (native.BUCKET_GAIN, native.WINDOW_MIN_SEGMENTS, native.DYNAMIC_FROM_SEGMENTS),
            "no windows": (native.BUCKET_GAIN, math.inf, native.DYNAMIC_FROM_SEGMENTS),
            "padded, no windows": (math.inf, math.inf, native.DYNAMIC_FROM_SEGMENTS),
            "static shapes": (native.BUCKET_GAIN, native.WINDOW_MIN_SEGMENTS, math.inf)}


def compare(name: str, scene: VectorScene, repeats: int, variants: list[str]) -> None:
    for backward in (False, True):
        times, images = {}, {}
        for variant in variants:
            native.BUCKET_GAIN, native.WINDOW_MIN_SEGMENTS, native.DYNAMIC_FROM_SEGMENTS = VARIANTS[variant]
            times[variant], images[variant] = timed(scene, backward, repeats)
        native.BUCKET_GAIN, native.WINDOW_MIN_SEGMENTS, native.DYNAMIC_FROM_SEGMENTS = VARIANTS["default"]
        kind = "fwd+bwd" if backward else "fwd"
        base = times["default"]
        print(f"{name:<40} {kind:<8} default {base:8.3f} s")
        for variant in variants[1:]:
            diff = float((images[variant] - images["default"]).abs().max())
            print(f"{'':<40} {'':<8} {variant:<18} {times[variant]:8.3f} s   x {times[variant] / base:6.1f}   "
                  f"max |diff| {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=100, help="short paths of the synthetic scene")
    parser.add_argument("--long", type=int, default=1000, help="segments of its long outline")
    parser.add_argument("--size", type=int, default=256, help="canvas side of the synthetic scene, px")
    parser.add_argument("--svg", nargs="*", default=[], help="SVG files to render too, at their own size")
    parser.add_argument("--repeats", type=int, default=1, help="median of this many renders per row")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--padded", action="store_true",
                        help="also time paths padded to the longest without windows (slow on long paths)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--static", action="store_true",
                        help="GPUs: also time static shapes (slow on long paths: try --long 64 first)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}")
    variants = list(VARIANTS)[:3 if args.padded else 2] + (["static shapes"] if args.static else [])
    synthetic = synthetic_scene(args.short, args.long, args.size)
    scenes = {f"synthetic: {args.short} short + 1 x {args.long} segs": synthetic}
    for path in args.svg:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenes[Path(path).name] = svg.load_svg(path, fill_tolerance=svg.RENDER_FILL_TOLERANCE)
    for name, scene in scenes.items():
        compare(name, scene.to(device), args.repeats, variants)


if __name__ == "__main__":
    main()
