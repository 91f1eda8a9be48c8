"""End to end: the clipasso method through the core runner and the CLI, with tiny random models."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipasso_helpers import TINY
from vecrender.errors import ConfigError
from vecrender.testing import run_smoke

SVG = "{http://www.w3.org/2000/svg}"


def check_svg(path: Path, count: int) -> None:
    root = ET.parse(path).getroot()
    paths = list(root.iter(f"{SVG}path"))
    assert len(paths) == count
    for p in paths:
        assert p.get("stroke-width") == "3"
        assert p.get("stroke-linecap") == "round"
        assert p.get("fill") == "none"
        assert p.get("d").count("C") == 1  # one cubic segment per stroke


def test_smoke_writes_every_output(tmp_path):
    result = run_smoke("clipasso", tmp_path / "out", steps=2, size=32, overrides=TINY)
    out = result.out_dir
    assert result.status == "finished"
    for name in ("recipe.resolved.yaml", "metrics.jsonl", "target.png", "checkpoint.pt", "attention_map.png"):
        assert (out / name).is_file(), name
    stem = "input"
    for n in (8, 16, 24):
        check_svg(out / f"{stem}-{n}paths.svg", n)
        assert Image.open(out / f"{stem}-{n}paths.png").size == (32, 32)
        for kind in ("best", "final"):
            check_svg(out / "sketches" / f"{n}paths-seed0" / f"{kind}.svg", n)
    assert not (out / "mask.png").exists()  # masking is off by default
    log = (out / "metrics.jsonl").read_text().splitlines()
    assert '"geometric.layer2"' in log[0] and '"semantic"' in log[0] and '"eval"' in log[0]


def write(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def object_image(h: int, w: int, channels: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    disc = ((x - w * 0.45) ** 2 + (y - h * 0.5) ** 2) < (min(h, w) * 0.3) ** 2
    img = np.full((h, w, channels), 230, np.uint8)
    img[disc] = 40
    return img


def test_alpha_grayscale_and_tiny_inputs_with_masking_and_padding(tmp_path):
    rgba = object_image(40, 60, 4)
    rgba[..., 3] = 255
    rgba[:, :20, 3] = 0  # transparent left part becomes white
    inputs = {
        "alpha": write(tmp_path / "alpha.png", rgba),
        "gray": write(tmp_path / "gray.png", object_image(50, 30, 1)[..., 0]),
        "tiny": write(tmp_path / "tiny.png", object_image(16, 16)),
    }
    masked = ["preprocess=[{use: clipasso.u2net_mask, weights: none, width: 0.0625}, {use: pad_square, margin: 20}]"]
    for name, path in inputs.items():
        result = run_smoke("clipasso", tmp_path / name, steps=1, size=24, input_image=path,
                           overrides=[*TINY, "strokes=[4]", *(masked if name == "alpha" else [])])
        assert result.status == "finished"
        check_svg(result.out_dir / f"{name}-4paths.svg", 4)
        target = np.asarray(Image.open(result.out_dir / "target.png"))
        assert target.shape == (24, 24, 3)
        if name == "alpha":
            assert (result.out_dir / "mask.png").is_file()
            assert Image.open(result.out_dir / "mask.png").size == (60, 40)  # full input resolution
            assert target[:2].min() == 255  # pad_square: white margin rows


def test_more_strokes_than_edge_pixels_on_a_tiny_canvas(tmp_path):
    flat = write(tmp_path / "flat.png", np.full((16, 16, 3), 200, np.uint8))  # no edges at all
    result = run_smoke("clipasso", tmp_path / "o", steps=1, size=16, input_image=flat,
                       overrides=[*TINY, "strokes=[24]"])
    check_svg(result.out_dir / "flat-24paths.svg", 24)


def test_force_sparse_learns_stroke_opacity_only(tmp_path):
    """The reference's force_sparse: black strokes whose alpha is optimised (lr 0.01), RGB kept."""
    result = run_smoke("clipasso", tmp_path / "o", steps=3, size=32, overrides=[
        *TINY, "strokes=[8]", "optimizer.params=[points, stroke_colors]", "optimizer.opacity_only=true"])
    final = result.out_dir / "sketches" / "8paths-seed0" / "final.svg"
    paths = list(ET.parse(final).getroot().iter(f"{SVG}path"))
    assert {p.get("stroke") for p in paths} == {"rgb(0, 0, 0)"}
    opacities = [float(p.get("stroke-opacity", "1")) for p in paths]
    # Adam's steps are about lr = 0.01 each: 3 steps move an alpha down by ~0.03, or up to the clamp at 1
    assert all(0.965 < o <= 1.0 for o in opacities) and min(opacities) < 0.98, opacities


@pytest.mark.slow
def test_huge_input(tmp_path):
    img = object_image(4000, 6000)
    path = tmp_path / "huge.png"
    Image.fromarray(img).save(path, compress_level=1)
    result = run_smoke("clipasso", tmp_path / "o", steps=1, size=32, input_image=path,
                       overrides=[*TINY, "strokes=[4]", "preprocess=[{use: clipasso.u2net_mask, weights: none, "
                                                       "width: 0.0625}, {use: pad_square, margin: 20}]"])
    check_svg(result.out_dir / "huge-4paths.svg", 4)
    assert Image.open(result.out_dir / "mask.png").size == (6000, 4000)


def test_zero_strokes_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="strokes must be >= 1"):
        run_smoke("clipasso", tmp_path / "o", overrides=[*TINY, "strokes=0"])


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "VECRENDER_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **env}
    exe = Path(sys.executable).with_name("vecrender")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=environ, timeout=300)


def test_missing_weights_offline_via_cli(tmp_path):
    image = write(tmp_path / "cat.png", object_image(40, 40))
    done = cli(["run", "clipasso", "--input", str(image), "--out", str(tmp_path / "o"), "--steps", "1",
                "--set", "canvas=32", "--device", "cpu"], tmp_path)
    assert done.returncode != 0
    err = done.stderr
    assert "Traceback" not in err
    assert "CLIP" in err and "not found" in err and "VECRENDER_CLIP_" in err and "checkpoint/clip/" in err
    masked = cli(["run", "clipasso", "--input", str(image), "--out", str(tmp_path / "m"), "--steps", "1",
                  "--set", "canvas=32", "--set", "preprocess=[{use: clipasso.u2net_mask}]", *sum(
                      (["--set", t] for t in TINY), [])], tmp_path)
    assert masked.returncode != 0 and "Traceback" not in masked.stderr
    assert "u2net.pth" in masked.stderr and "VECRENDER_U2NET" in masked.stderr
