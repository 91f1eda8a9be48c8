"""How real SVG files from other tools import and render: native vs resvg, file by file.

Each file is imported with ``vecrender.svg`` (filled curves cut to `RENDER_FILL_TOLERANCE`) and
rendered by the native renderer at a fixed size (the file's viewBox fitted into `--size` px), and
by resvg (``resvg_py``, the test extra) at that size and at 8x, box-filtered down. The 8x render
is the reference: resvg's geometry without its own edge quantisation. Per file the table gives
native's and resvg's 1x mean error against it and what the import warned of; the summary counts
import failures and how often native is the closer of the two. Any folder of SVGs works; npm
icon packages are an easy source::

    npm pack feather-icons simple-icons flag-icons @twemoji/svg   # then untar each
    python benchmarks/svg_corpus.py corpus/ --files 100 --size 96

``--geometry`` also renders each file with native at 8x, box-filtered down, and lists the files
furthest from resvg's 8x render that way first: what is left there is the import (a feature read
wrong or left out), not anti-aliasing, which both 8x renders resolve alike.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vecrender.builtins.renderers import NativeRenderer  # noqa: E402
from vecrender.functional import composite  # noqa: E402
from vecrender.svg import RENDER_FILL_TOLERANCE, svg_to_scene  # noqa: E402

SUPERSAMPLING = 8


@dataclass
class Result:
    path: Path
    native: float = float("nan")  # mean abs error against resvg's supersampled render
    resvg: float = float("nan")  # resvg's own 1x render against it
    geometry: float = float("nan")  # native at 8x, box-filtered down, against it (--geometry)
    note: str = ""
    failed: bool = False


def sized(text: str, size: int) -> str:
    """The SVG with its root width and height set to `size` px, when it has a viewBox to fit."""
    root = re.search(r"<svg\b[^>]*>", text)
    if root is None or "viewBox" not in root[0]:
        return text
    tag = re.sub(r'\s(width|height)\s*=\s*("[^"]*"|\'[^\']*\')', "", root[0])
    return text.replace(root[0], f'<svg width="{size}" height="{size}"{tag[4:]}', 1)


def resvg(text: str, zoom: int = 1) -> torch.Tensor:
    import resvg_py

    png = bytes(resvg_py.svg_to_bytes(svg_string=text, background="#ffffff", zoom=zoom, dpi=96.0))
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255
    return F.avg_pool2d(torch.from_numpy(rgb).permute(2, 0, 1)[None], zoom)[0]


def check(path: Path, size: int, renderer: NativeRenderer, geometry: bool = False) -> Result:
    text = sized(path.read_text(encoding="utf-8", errors="replace"), size)
    try:
        reference, theirs = resvg(text, SUPERSAMPLING), resvg(text)
    except Exception as e:  # resvg's own failures: nothing to compare with
        return Result(path, note=f"resvg cannot render it ({e})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scene = svg_to_scene(text, fill_tolerance=RENDER_FILL_TOLERANCE)
            ours = composite(renderer.render([scene]), scene.background or (1.0, 1.0, 1.0))[0]
        except Exception as e:
            return Result(path, note=f"{type(e).__name__}: {e}", failed=True)
    note = "; ".join(str(w.message).split(": ", 1)[-1] for w in caught)
    if ours.shape != reference.shape:
        return Result(path, note=f"size {tuple(ours.shape)} vs resvg's {tuple(reference.shape)}", failed=True)
    result = Result(path, (ours - reference).abs().mean().item(), (theirs - reference).abs().mean().item(), note=note)
    if geometry:
        fine = scene.resized(scene.width * SUPERSAMPLING, scene.height * SUPERSAMPLING)
        ours_fine = composite(renderer.render([fine]), scene.background or (1.0, 1.0, 1.0))
        result.geometry = (F.avg_pool2d(ours_fine, SUPERSAMPLING)[0] - reference).abs().mean().item()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders searched for *.svg, or files")
    parser.add_argument("--files", type=int, default=100, help="files drawn at random per folder")
    parser.add_argument("--size", type=int, default=96, help="render size (px) of files with a viewBox")
    parser.add_argument("--rows", type=int, default=10, help="files listed, worst first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--geometry", action="store_true",
                        help="also native at 8x against resvg's 8x (import errors, not anti-aliasing), worst first")
    args = parser.parse_args()
    renderer = NativeRenderer()
    for folder in args.folders:
        files = sorted(folder.rglob("*.svg")) if folder.is_dir() else [folder]
        random.Random(args.seed).shuffle(files)
        results = [check(f, args.size, renderer, args.geometry) for f in files[: args.files]]
        report(folder, results, args.rows, args.geometry)


def report(folder: Path, results: list[Result], rows: int, geometry: bool = False) -> None:
    failed = [r for r in results if r.failed]
    compared = [r for r in results if not r.failed and r.native == r.native]
    print(f"\n== {folder}: {len(results)} files, {len(failed)} failed to import, {len(compared)} compared")
    for r in failed:
        print(f"  FAILED {r.path}: {r.note}")
    if not compared:
        return
    closer = sum(r.native <= r.resvg for r in compared)
    print(f"  mean error vs resvg x{SUPERSAMPLING}: native median {statistics.median(r.native for r in compared):.2e}, "
          f"resvg 1x median {statistics.median(r.resvg for r in compared):.2e}; native closer on "
          f"{closer}/{len(compared)}; with import warnings: {sum(bool(r.note) for r in compared)}")
    if geometry:
        print(f"  native 8x median {statistics.median(r.geometry for r in compared):.2e}")
    order = (lambda r: -r.geometry) if geometry else (lambda r: r.resvg - r.native)
    print(f"  {'native':>9} {'resvg 1x':>9}{' native 8x' if geometry else ''}  file "
          f"({'furthest from resvg 8x at 8x' if geometry else 'furthest behind resvg 1x'} first)")
    for r in sorted(compared, key=order)[:rows]:
        name = r.path.relative_to(folder) if folder.is_dir() else r.path
        print(f"  {r.native:9.2e} {r.resvg:9.2e}{f' {r.geometry:9.2e}' if geometry else ''}  {name}"
              f"{'  [' + r.note[:90] + ']' if r.note else ''}")


if __name__ == "__main__":
    main()
