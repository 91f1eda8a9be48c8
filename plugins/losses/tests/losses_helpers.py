"""Shared test data of the vecrender-losses tests (a uniquely named module: several test folders of
the repository have a conftest.py, so tests import helpers from here, not from conftest)."""

from __future__ import annotations

from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]

#: Every loss the bundle registers.
NAMES = ("clip_text", "clip_image", "ssim", "ms_ssim", "edge", "lpips", "vgg_perceptual", "strotss_style",
         "stroke_length", "width_sparsity", "opacity_sparsity", "self_intersection", "udf")

#: Loss options selecting the core's tiny random-weight CLIP (no download, fast on CPU).
TINY_CLIP = {"model": "tiny-ViT", "pretrained": None}

#: Overrides swapping the OpenAI CLIP models of the clipasso method for the core's tiny random ones
#: (the same list as plugins/clipasso/tests/conftest.py).
TINY_CLIPASSO = [
    "initializer.model=tiny-ViT", "initializer.pretrained=null",
    "losses.geometric.model=tiny-RN", "losses.geometric.pretrained=null",
    "losses.semantic.model=tiny-RN", "losses.semantic.pretrained=null",
]


def clipasso_installed() -> bool:
    """True when the vecrender-clipasso bundle is installed and registers its method."""
    from vecrender.plugins import get_registry

    return "clipasso" in get_registry().names("method")


def random_alexnet_checkpoint(path: Path, seed: int = 0) -> Path:
    """A torchvision AlexNet checkpoint (features only) with random weights, saved at `path`."""
    from torchvision.models import alexnet

    torch.manual_seed(seed)
    features = alexnet(weights=None).features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def random_vgg16_checkpoint(path: Path, seed: int = 0) -> Path:
    """A torchvision VGG16 checkpoint (features only) with random weights, saved at `path`."""
    from torchvision.models import vgg16

    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in vgg16(weights=None).features.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
