"""Registration through the entry point, cheap imports, and the shipped recipe."""

from __future__ import annotations

import subprocess
import sys

import yaml

from vecrender.plugins import get_registry


def test_entry_point_registers_every_component():
    registry = get_registry()
    assert registry.entry("method", "clipasso").distribution == "vecrender-clipasso"
    assert "clipasso.saliency" in registry.names("initializer")
    for name in ("clipasso.geometric", "clipasso.semantic", "clipasso.clip_vit"):
        assert name in registry.names("loss")
        assert registry.get("loss", name).needs_target
    assert "clipasso.u2net_mask" in registry.names("preprocessor")


def test_importing_the_plugin_loads_no_model_library():
    code = ("import sys, vecrender_clipasso.plugin, vecrender; "
            "print(sorted(m for m in ('open_clip', 'skimage', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recipe_is_the_reference_driver_configuration():
    recipe = get_registry().get("method", "clipasso").load_recipe()
    assert recipe["canvas"] == 224 and recipe["steps"] == 2000 and recipe["eval_every"] == 10
    assert recipe["strokes"] == [8, 16, 24] and recipe["seeds"] == 1 and recipe["seed"] == 0
    assert recipe["preprocess"] == []  # mask_object 0, fix_scale 0
    assert recipe["renderer"]["use"] == "native"
    init = recipe["initializer"]
    assert (init["use"], init["width"], init["segments"], init["color"]) == \
        ("clipasso.saliency", 3.0, 1, [0.0, 0.0, 0.0, 1.0])
    losses = {entry["label"]: entry for entry in recipe["losses"]}
    assert (losses["geometric"]["use"], losses["geometric"]["weight"]) == ("clipasso.geometric", 1.0)
    assert (losses["semantic"]["use"], losses["semantic"]["weight"]) == ("clipasso.semantic", 0.1)
    assert losses["clip_vit"]["weight"] == 0  # optional, off
    assert recipe["optimizer"] == {"use": "adam", "params": ["points"], "lr": 1.0}
    assert yaml.safe_load(yaml.safe_dump(recipe)) == recipe
