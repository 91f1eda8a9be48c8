"""Helpers shared by the clipasso tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import torch

#: Recipe overrides that swap the OpenAI models for tiny random-weight ones.
TINY = [
    "initializer.model=tiny-ViT", "initializer.pretrained=null",
    "losses.geometric.model=tiny-RN", "losses.geometric.pretrained=null",
    "losses.semantic.model=tiny-RN", "losses.semantic.pretrained=null",
]


def photo(size: int = 32, seed: int = 0) -> torch.Tensor:
    """A synthetic 'object' image [1, 3, size, size]: a dark disc and a bar on a light background."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    disc = ((x + 0.2) ** 2 + (y - 0.1) ** 2 < 0.25).float()
    bar = ((x - 0.5).abs() < 0.12).float() * ((y + 0.2).abs() < 0.6).float()
    base = 0.9 - 0.6 * disc - 0.4 * bar
    image = torch.stack([base, base * 0.9 + 0.05, base * 0.8 + 0.1])[None]
    return (image + 0.02 * torch.rand(image.shape, generator=g)).clamp(0, 1)
