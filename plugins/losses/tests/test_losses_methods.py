"""The clipdraw, vectorize and vectorize_live methods: recipes, smoke runs, convergence."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from vecrender.components import RunContext
from vecrender.errors import ConfigError
from vecrender.plugins import get_registry
from vecrender.recipe import load_recipe
from vecrender.testing import registered, run_smoke

TINY_TEXT = ["losses.clip_text.model=tiny-ViT", "losses.clip_text.pretrained=null"]


def _build(kind: str, spec: dict, context: RunContext):
    return get_registry().build(kind, spec, context, kind)


@pytest.mark.parametrize("name, needs_input", [("clipdraw", False), ("styleclipdraw", False), ("vectorize", True),
                                               ("vectorize_live", True)])
def test_methods_registered(name, needs_input):
    entry = registered("method", name, plugin="losses")
    assert entry.obj.needs_input is needs_input


# -- clipdraw ------------------------------------------------------------------------------------
def test_clipdraw_recipe_has_the_notebook_defaults():
    recipe = load_recipe("clipdraw")
    assert (recipe.width, recipe.height, recipe.steps, recipe.strokes) == (224, 224, 1000, [256])
    (loss,) = recipe.losses
    assert loss["use"] == "clip_text" and loss["model"] == "ViT-B-32" and loss["augmentations"] == 4
    assert loss["crop_scale"] == [0.7, 0.9] and loss["fill"] == 1.0 and loss["distortion"] == 0.5
    context = RunContext(width=224, height=224, steps=1000)
    scene = _build("initializer", recipe["initializer"], context).initialize(256, 0, None)
    assert scene.num_paths == 256 and set(scene.num_segments.tolist()) == {1, 2, 3}
    assert bool((scene.widths == 2.0).all()) and not bool(scene.closed.any())
    alpha = scene.stroke_colors[:, 3]
    assert 0.0 <= alpha.min().item() < 0.1 and 0.9 < alpha.max().item() <= 1.0  # random RGBA
    steps = [(p[1:] - p[:-1]).abs().max().item() for p in scene.points]
    assert max(steps) <= 0.05 * 224 + 1e-4  # each point within 0.1 * (U - 0.5) of the previous one


def test_clipdraw_learning_rates_follow_the_original_schedule():
    recipe = load_recipe("clipdraw")
    optimizer = _build("optimizer", recipe["optimizer"], RunContext(steps=1000))
    scene = _build("initializer", recipe["initializer"], RunContext(width=64, height=64)).initialize(4, 0, None)
    optimizer.setup([scene])
    seen = {}
    for step in (0, 499, 500, 749, 750, 999):
        optimizer.step(step)
        seen[step] = {g["name"]: g["lr"] for g in optimizer.opt.param_groups}
    assert [seen[s]["points"] for s in seen] == pytest.approx([1.0, 1.0, 0.4, 0.4, 0.1, 0.1])
    # widths: CLIPDraw's 0.1 on half-widths
    assert {seen[s]["widths"] for s in seen} == {0.2} and {seen[s]["stroke_colors"] for s in seen} == {0.01}
    assert bool((scene.widths >= 2.0).all() and (scene.widths <= 100.0).all())


def test_clipdraw_smoke_without_input(tmp_path):
    result = run_smoke("clipdraw", tmp_path / "out", steps=2, size=32,
                       overrides=[*TINY_TEXT, "strokes=8", "prompt=a red bicycle"])
    assert result.status == "finished" and (tmp_path / "out" / "best.svg").is_file()
    resolved = yaml.safe_load((tmp_path / "out" / "recipe.resolved.yaml").read_text())
    assert resolved["prompt"] == "a red bicycle" and "vecrender-losses" in resolved["plugins"]
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    terms = lines[0]["sketches"]["8paths-seed0"]["terms"]
    assert set(terms) == {"clip_text"} and 0 < terms["clip_text"] < 8  # sum over 4 views of 1 - cos


def test_clipdraw_without_prompt_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="--prompt"):
        run_smoke("clipdraw", tmp_path / "out", steps=1, size=32, overrides=[*TINY_TEXT, "strokes=2"])


def test_clipdraw_negative_prompts_option(tmp_path):
    result = run_smoke("clipdraw", tmp_path / "out", steps=1, size=32,
                       overrides=[*TINY_TEXT, "strokes=4", "prompt=a boat",
                                  "losses.clip_text.clipdraw_negatives=true"])
    assert result.status == "finished"


# -- vectorize -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method, overrides", [("vectorize", ["strokes=6"]),
                                               ("vectorize_live", ["strokes=6", "stages=[2, 4]"]),
                                               ("vectorize_live", ["strokes=6", "stages=null"])])
def test_vectorize_smoke(method, overrides, tmp_path):
    result = run_smoke(method, tmp_path / "out", steps=2, size=32, overrides=overrides)
    assert result.status == "finished"
    svg = (tmp_path / "out" / "best.svg").read_text()
    assert svg.count("<path") == 6 and "Z" in svg  # closed shapes


def test_vectorize_live_two_stages(tmp_path):
    """Layer-wise addition in one run: 2 shapes, then 4 more placed against the render so far."""
    out = tmp_path / "out"
    result = run_smoke("vectorize_live", out, steps=3, size=32, overrides=["strokes=6", "stages=[2, 4]"])
    assert result.status == "finished" and result.steps_done == 6
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    paths = {m["step"]: (m["stage"], m["sketches"]["6paths-seed0"]["paths"]) for m in lines}
    assert paths == {0: (0, 2), 1: (0, 2), 2: (0, 2), 3: (1, 6), 4: (1, 6), 5: (1, 6), 6: (1, 6)}
    stage1 = (out / "sketches" / "6paths-seed0" / "stages" / "stage1.svg").read_text()
    assert stage1.count("<path") == 2 and (out / "final.svg").read_text().count("<path") == 6
    assert set(lines[-1]["sketches"]["6paths-seed0"]) == {"eval", "paths"}


def test_vectorize_live_resolves_to_udf_and_xing():
    recipe = load_recipe("vectorize_live")
    assert [(e["label"], e["weight"]) for e in recipe.losses] == [("udf", 1.0), ("self_intersection", 1e-5)]
    assert recipe["initializer"]["use"] == "losses.live" and recipe["optimizer"]["schedule"] == "linear"
    assert recipe.stages == [1, 1, 2, 4, 8, 16, 32] and sum(recipe.stages) == recipe.strokes[0] == 64
    assert (recipe.steps, recipe.total_steps) == (150, 1050)
    with pytest.raises(ConfigError, match="stages .* add 64 paths in all, but --set: strokes is 32"):
        load_recipe("vectorize_live", ["strokes=32"])


def _disks(size: int = 64) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    image = torch.ones(3, size, size)
    for cx, cy, r, color in ((20, 22, 12, (0.9, 0.15, 0.1)), (44, 40, 14, (0.1, 0.3, 0.85)),
                             (18, 50, 8, (0.2, 0.7, 0.2))):
        image[:, (x - cx) ** 2 + (y - cy) ** 2 < r * r] = torch.tensor(color)[:, None]
    return image[None]


@pytest.mark.slow
@pytest.mark.parametrize("method, strokes, steps", [("vectorize", 16, 300), ("vectorize_live", 6, 150)])
def test_vectorize_fits_colored_disks(method, strokes, steps, tmp_path):
    from vecrender.images import load_image, save_png

    save_png(tmp_path / "disks.png", _disks())
    overrides = [f"strokes={strokes}", "eval_every=100", "log_every=100", "save_every=0"]
    if method == "vectorize_live":  # 3 stages of 50 steps: 2 + 2 + 2 shapes
        overrides.append("stages=[2, 2, 2]")
        steps //= 3
    result = run_smoke(method, tmp_path / "out", steps=steps, size=64, input_image=tmp_path / "disks.png",
                       overrides=overrides)
    out = tmp_path / "out"
    target = load_image(out / "target.png")
    final = load_image(out / "final.png")
    recipe = load_recipe(method, ["canvas=64", f"strokes={strokes}", "stages=null"])
    context = RunContext(width=64, height=64)
    scene = _build("initializer", recipe["initializer"], context).initialize(strokes, 0, target)
    with torch.no_grad():
        rgba = _build("renderer", recipe["renderer"], context).render([scene])
    initial = rgba[:, :3] + (1 - rgba[:, 3:])
    start = (initial - target).pow(2).mean().item()
    end = (final - target).pow(2).mean().item()
    assert result.status == "finished"
    print(f"{method} L2: initial {start:.4f} -> final {end:.4f} (ratio {end / start:.3f})")
    assert end < 0.1 * start, (start, end)


# -- painterly with diffvg's perceptual loss -----------------------------------------------------
def test_painterly_with_vgg_perceptual_runs_and_lowers_its_loss(tmp_path, vgg16_backbone):
    result = run_smoke("painterly", tmp_path / "out", steps=6, size=32,
                       overrides=["strokes=16", "losses=[{use: vgg_perceptual}]"])
    assert result.status == "finished"
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    evals = [line["sketches"]["16paths-seed0"]["eval"] for line in lines]
    assert min(evals[1:]) < evals[0]  # the strokes moved towards the target's VGG features


# -- styleclipdraw -------------------------------------------------------------------------------
def test_styleclipdraw_recipe_has_the_release_defaults():
    recipe = load_recipe("styleclipdraw")
    assert (recipe.steps, recipe.strokes, recipe["result"]) == (500, [256], "final")
    text, style = recipe.losses
    assert (text["use"], text["stop"], text["augmentations"], text["normalize"]) == ("clip_text", "90%", 10, False)
    assert (style["use"], style["label"], style["weight"]) == ("strotss_style", "style", 2.0)


def test_styleclipdraw_smoke(tmp_path, vgg16_backbone):
    from vecrender.testing import write_test_image

    style = write_test_image(tmp_path / "style.png", 40)
    overrides = [*TINY_TEXT, "strokes=8", "prompt=a boat", f"losses.style.style_image={style}",
                 "losses.style.style_samples=300", "losses.clip_text.augmentations=2"]
    result = run_smoke("styleclipdraw", tmp_path / "out", steps=10, size=32, overrides=overrides)
    assert result.status == "finished"
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    terms = [set(line["sketches"]["8paths-seed0"].get("terms", {})) for line in lines if not line.get("final")]
    assert terms == [{"clip_text", "style"}] * 9 + [{"style"}]  # stop: 90% follows --steps: step 9 of 10
    assert (tmp_path / "out" / "best.svg").read_text() == (tmp_path / "out" / "final.svg").read_text()
    with pytest.raises(ConfigError, match="style_image"):
        run_smoke("styleclipdraw", tmp_path / "none", steps=1, size=32, overrides=[*TINY_TEXT, "prompt=a boat"])
