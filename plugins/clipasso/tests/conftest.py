"""Shared fixtures: tiny random-weight CLIP models (same open_clip code paths) and an offline cache."""

from __future__ import annotations

import pytest
import torch

from vecrender.components import ModelCache, RunContext

# The test tensors are tiny: thread start-up and contention cost more than they save.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path_factory, monkeypatch):
    """Never touch the network or the user's cache."""
    monkeypatch.setenv("VECRENDER_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path_factory.mktemp("cache")))
    for var in ("VECRENDER_CLIP_RN101", "VECRENDER_CLIP_VIT_B_32", "VECRENDER_U2NET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def context(tmp_path):
    return RunContext(width=32, height=32, models=ModelCache(), out_dir=tmp_path, seed=0)


@pytest.fixture(scope="session")
def tiny_vit():
    from vecrender.models.clip import load_clip

    torch.manual_seed(0)
    return load_clip("tiny-ViT", pretrained=None)

