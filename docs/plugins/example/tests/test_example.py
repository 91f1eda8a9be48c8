"""Tests of vecrender-example, written with vecrender's test kit (vecrender.testing)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import vecrender
from vecrender.testing import check_loss, registered, run_smoke

from vecrender_example.losses import InkBudget, ink_coverage


def batch_of(images: torch.Tensor, alpha: torch.Tensor | None = None) -> vecrender.LossInput:
    s, _, h, w = images.shape
    rgba = torch.cat([images, alpha if alpha is not None else torch.ones(s, 1, h, w)], dim=1)
    return vecrender.LossInput(images=images, rgba=rgba, scenes=[], target=None)


def test_plugin_is_installed():
    # The entry point in pyproject.toml works: the installed plugin registers both components.
    entry = registered("loss", "example.ink", plugin="example")
    assert entry.distribution == "vecrender-example"
    registered("method", "example.ink_sketch", plugin="example")


@pytest.mark.parametrize("measure", ["darkness", "alpha"])
def test_loss_contract(measure):
    # budget 0: any ink is penalised, so gradients reach every stroke parameter of the test scenes.
    terms = check_loss(InkBudget, {"budget": 0.0, "measure": measure}, needs_target=False)
    assert (terms["value"] > 0).all()


# --8<-- [start:coverage]
def test_coverage_values():
    white, black = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    half = torch.cat([torch.zeros(1, 3, 4, 2), torch.ones(1, 3, 4, 2)], dim=3)  # left half black
    pure_red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    images = torch.cat([white, black, half, pure_red])
    coverage = ink_coverage(batch_of(images), "darkness")
    assert torch.allclose(coverage, torch.tensor([0.0, 1.0, 0.5, 1.0 - 0.2126]))
# --8<-- [end:coverage]


def test_budget_is_free_and_excess_is_squared():
    half = torch.cat([torch.zeros(1, 3, 4, 2), torch.ones(1, 3, 4, 2)], dim=3)
    loss = InkBudget.from_dict({"budget": 0.3})
    assert torch.allclose(loss(batch_of(half)), torch.tensor([0.2 ** 2]))
    assert loss(batch_of(torch.ones(1, 3, 4, 4))).item() == 0.0  # under budget: free
    linear = InkBudget.from_dict({"budget": 0.3, "power": 1.0})
    assert torch.allclose(linear(batch_of(half)), torch.tensor([0.2]))


def test_alpha_measure_ignores_color():
    white_opaque = torch.ones(1, 3, 4, 4)
    alpha = torch.full((1, 1, 4, 4), 0.75)
    loss = InkBudget.from_dict({"budget": 0.0, "measure": "alpha", "power": 1.0})
    assert torch.allclose(loss(batch_of(white_opaque, alpha)), torch.tensor([0.75]))


def test_invalid_option_is_rejected():
    with pytest.raises(vecrender.ConfigError, match="measure"):
        InkBudget.from_dict({"measure": "ink"})


def test_method_runs_with_the_ink_term(tmp_path):
    result = run_smoke("example.ink_sketch", tmp_path, steps=2, overrides=["strokes=4"])
    assert result.status == "finished"
    resolved = yaml.safe_load((tmp_path / "recipe.resolved.yaml").read_text())
    ink = next(loss for loss in resolved["losses"] if loss["label"] == "ink")
    assert ink["use"] == "example.ink" and ink["budget"] == 0.15 and ink["power"] == 2.0
    assert "vecrender-example" in resolved["plugins"]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("ink" in json.dumps(line) for line in lines)
