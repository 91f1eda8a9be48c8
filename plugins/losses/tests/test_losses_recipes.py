"""docs/recipes/*.yaml run (2-step smoke on tiny random-weight models), and losses from different
bundles combine through ``extends``, ``--set`` and ``remove`` with no special case in the core."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import yaml
from losses_helpers import REPO, TINY_CLIPASSO, clipasso_installed

import vecrender
from vecrender.errors import ConfigError
from vecrender.plugins import get_registry
from vecrender.recipe import load_recipe
from vecrender.testing import registered, run_smoke

RECIPES = REPO / "docs" / "recipes"
RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))

needs_clipasso = pytest.mark.skipif(not clipasso_installed(), reason="vecrender-clipasso is not installed")


def _uses_clipasso(path: Path) -> bool:
    """True when the recipe's extends chain reaches the clipasso method."""
    data = yaml.safe_load(path.read_text())
    parent = data.get("extends")
    if parent == "clipasso":
        return True
    return isinstance(parent, str) and parent.endswith((".yaml", ".yml")) and _uses_clipasso(path.parent / parent)


def tiny_clipasso(path: Path) -> list[str]:
    """TINY_CLIPASSO restricted to the losses the recipe still has (it may remove some)."""
    if not _uses_clipasso(path):
        return []
    labels = {e["label"] for e in load_recipe(path).losses}
    return [o for o in TINY_CLIPASSO if not o.startswith("losses.") or o.split(".")[1] in labels]


def tiny_overrides(path: Path) -> list[str]:
    """Overrides that make a recipe run offline on tiny random-weight models."""
    overrides = ["strokes=4", *tiny_clipasso(path)]
    for entry in load_recipe(path, overrides).losses:
        if entry["use"] == "clip_text":
            overrides += [f"losses.{entry['label']}.model=tiny-RN", f"losses.{entry['label']}.pretrained=null"]
        if entry["use"] == "lpips":
            overrides.append(f"losses.{entry['label']}.net=alex")
    return overrides


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _terms(out: Path) -> set[str]:
    return {term for line in _metrics(out) for sketch in line["sketches"].values()
            for term in sketch.get("terms", {})}


def test_docs_have_at_least_three_recipes():
    if not RECIPES.is_dir():
        pytest.skip("docs/recipes is not available (bundle installed outside the repository)")
    assert len(RECIPE_FILES) >= 3


@pytest.mark.parametrize("path", RECIPE_FILES, ids=[p.stem for p in RECIPE_FILES])
@pytest.mark.filterwarnings("ignore:loss 'edge' starts after")  # 2 steps: clipasso-edge's edge loss starts at 500
def test_recipe_smoke(path, tmp_path, lpips_backbone):
    if _uses_clipasso(path) and not clipasso_installed():
        pytest.skip("vecrender-clipasso is not installed")
    out = tmp_path / "out"
    result = run_smoke(path, out, steps=2, size=32, overrides=tiny_overrides(path))
    assert result.status == "finished" and (out / "best.svg").is_file()
    resolved = yaml.safe_load((out / "recipe.resolved.yaml").read_text())
    assert "vecrender-losses" in resolved["plugins"]
    if _uses_clipasso(path):
        assert "vecrender-clipasso" in resolved["plugins"]
    bundle_losses = {"clip_text", "edge", "lpips", "ssim"}
    assert bundle_losses & {e["use"] for e in resolved["losses"] if e["weight"] != 0}


# -- the documented recipes, in detail -----------------------------------------------------------
@needs_clipasso
def test_clipasso_edge_starts_at_step_500(tmp_path):
    path = RECIPES / "clipasso-edge.yaml"
    edge = next(e for e in load_recipe(path, TINY_CLIPASSO).losses if e["label"] == "edge")
    assert (edge["use"], edge["start"], edge["weight"]) == ("edge", 500, 1.0)
    out = tmp_path / "out"
    run_smoke(path, out, steps=3, size=32, overrides=[*TINY_CLIPASSO, "strokes=4", "losses.edge.start=1"])
    by_step = {line["step"]: line for line in _metrics(out) if "final" not in line}
    assert "edge" not in by_step[0]["sketches"]["4paths-seed0"]["terms"]
    assert "edge" in by_step[1]["sketches"]["4paths-seed0"]["terms"]


@needs_clipasso
def test_clipasso_prompt_shares_one_clip_model_with_clipasso_losses():
    from vecrender.components import RunContext

    recipe = load_recipe(RECIPES / "clipasso-prompt.yaml", [*TINY_CLIPASSO, "losses.clip_text.model=tiny-RN",
                                                            "losses.clip_text.pretrained=null"])
    context = RunContext(width=32, height=32, prompt=recipe.prompt)
    built = {e["label"]: get_registry().build("loss", {k: v for k, v in e.items()
                                                         if k not in ("weight", "label", "start", "stop")},
                                              context, e["label"])
             for e in recipe.losses if e["weight"] != 0}
    assert set(built) == {"geometric", "semantic", "clip_text"}
    assert built["clip_text"].model is built["semantic"].model
    assert recipe.prompt == "a sketch of a cat"


@needs_clipasso
def test_set_reweights_and_drops_losses_of_another_bundle(tmp_path):
    path = RECIPES / "clipasso-prompt.yaml"
    overrides = tiny_overrides(path)
    recipe = load_recipe(path, [*overrides, "losses.geometric.weight=2.5", "losses.semantic.weight=0"])
    weights = {e["label"]: e["weight"] for e in recipe.losses}
    assert weights["geometric"] == 2.5 and weights["semantic"] == 0 and weights["clip_text"] == 0.2
    out = tmp_path / "out"
    run_smoke(path, out, steps=2, size=32, overrides=[*overrides, "losses.semantic.weight=0"])
    terms = _terms(out)
    assert "clip_text" in terms and "geometric" in terms and "semantic" not in terms


@needs_clipasso
def test_yaml_remove_through_a_chain_of_files():
    recipe = load_recipe(RECIPES / "clipasso-prompt-only.yaml")
    labels = {e["label"]: e for e in recipe.losses}
    assert "semantic" not in labels and labels["clip_text"]["weight"] == 0.5
    assert labels["clip_text"]["model"] == "RN101"  # the rest of the entry comes from clipasso-prompt.yaml
    assert labels["geometric"]["use"] == "clipasso.geometric"


# -- the same mechanics with a stand-in bundle (run whether or not clipasso is installed) ---------
def _stand_in_bundle() -> types.ModuleType:
    """A bundle registering a method whose losses are labelled like CLIPasso's."""
    from dataclasses import dataclass

    class Darkness(vecrender.Loss):
        """Mean darkness of each sketch."""

        name = "standin.darkness"

        @dataclass
        class Config:
            power: float = vecrender.option(1.0, "Exponent.")

        def forward(self, batch):
            return (1 - batch.images).mean(dim=(1, 2, 3)).pow(self.config.power)

    module = types.ModuleType("standin_bundle")

    @vecrender.hookimpl
    def register_losses(register):
        register(Darkness)

    @vecrender.hookimpl
    def register_methods(register):
        register(vecrender.Method("standin", "Stand-in method of another bundle.", {
            "canvas": 32, "steps": 2, "strokes": 3,
            "initializer": {"use": "random", "segments": 1, "width": 2.0},
            "losses": [{"use": "l2", "label": "geometric", "weight": 1.0},
                       {"use": "standin.darkness", "label": "semantic", "weight": 0.1}],
            "optimizer": {"use": "adam", "params": ["points"]},
        }))

    module.register_losses = register_losses
    module.register_methods = register_methods
    return module


def test_extends_set_and_remove_across_bundles(tmp_path):
    recipe_file = tmp_path / "mixed.yaml"
    recipe_file.write_text(
        "extends: standin\n"
        "losses:\n"
        "  - {use: edge, weight: 0.5, start: 1}\n"
        "  - {use: stroke_length, weight: 0.01}\n"
        "  - {label: semantic, weight: 0.3, power: 2.0}\n")
    removing = tmp_path / "removing.yaml"
    removing.write_text("extends: mixed.yaml\nlosses:\n  - {label: semantic, remove: true}\n")
    with registered(_stand_in_bundle(), "standin"):
        recipe = load_recipe(recipe_file)
        assert [(e["label"], e["use"], e["weight"]) for e in recipe.losses] == [
            ("geometric", "l2", 1.0), ("semantic", "standin.darkness", 0.3), ("edge", "edge", 0.5),
            ("stroke_length", "stroke_length", 0.01)]
        assert recipe.losses[1]["power"] == 2.0
        assert "semantic" not in {e["label"] for e in load_recipe(removing).losses}
        reweighted = load_recipe(recipe_file, ["losses.edge.weight=2", "losses.semantic.weight=0"])
        assert {e["label"]: e["weight"] for e in reweighted.losses}["edge"] == 2
        with pytest.raises(ConfigError, match="win_sizee"):
            load_recipe(recipe_file, ["losses.edge.win_sizee=3"])
        out = tmp_path / "out"
        result = run_smoke(recipe_file, out, steps=3, size=32, overrides=["losses.semantic.weight=0"])
        assert result.status == "finished"
        assert _terms(out) == {"geometric", "edge", "stroke_length"}
        resolved = yaml.safe_load((out / "recipe.resolved.yaml").read_text())
        assert {e["label"] for e in resolved["losses"]} >= {"geometric", "edge", "stroke_length"}
