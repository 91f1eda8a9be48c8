"""Fixtures of the vecrender-losses tests: tiny random-weight CLIP options, random LPIPS and VGG16 backbones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from losses_helpers import TINY_CLIP, random_alexnet_checkpoint, random_vgg16_checkpoint

# Tiny tensors: one intra-op thread is fastest, and it avoids OpenMP spin-waiting when the CPU is
# shared (grouped float64 convolutions became ~1000x slower with 2 threads on a loaded 2-core box).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test downloads anything or reads the user's caches."""
    monkeypatch.setenv("VECRENDER_OFFLINE", "1")
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path_factory.mktemp("vecrender-cache")))
    monkeypatch.delenv("VECRENDER_LPIPS_BACKBONE", raising=False)


@pytest.fixture
def tiny_clip() -> dict:
    return dict(TINY_CLIP)


@pytest.fixture
def hub_dir(tmp_path: Path):
    """An empty torch hub directory, active for the test."""
    previous = torch.hub.get_dir()
    hub = tmp_path / "torch-hub"
    torch.hub.set_dir(str(hub))
    yield hub
    torch.hub.set_dir(previous)


@pytest.fixture
def lpips_backbone(hub_dir: Path) -> Path:
    """A random-weight AlexNet backbone in the torch hub cache, where torchvision would put it."""
    from vecrender_losses.lpips_model import backbone_spec

    return random_alexnet_checkpoint(hub_dir / "checkpoints" / backbone_spec("alex").filename)


@pytest.fixture
def vgg16_backbone(hub_dir: Path) -> Path:
    """A random-weight VGG16 in the torch hub cache, where torchvision would put it."""
    from vecrender_losses.lpips_model import backbone_spec

    return random_vgg16_checkpoint(hub_dir / "checkpoints" / backbone_spec("vgg").filename)
