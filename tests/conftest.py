"""Shared fixtures for the core tests (append new fixtures; keep each one small)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

# Test tensors are tiny: one intra-op thread is fastest and avoids OpenMP spin-waiting when the two
# CI cores are shared (the bundles' conftests do the same).
torch.set_num_threads(1)


@pytest.fixture
def input_png(tmp_path: Path) -> Path:
    """A 40x30 RGB test image (color gradients and a dark square) saved as tmp_path/photo.png."""
    from PIL import Image

    h, w = 30, 40
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x / (w - 1), y / (h - 1), np.full((h, w), 0.5)], axis=-1)
    rgb[8:20, 10:22] = 0.1
    path = tmp_path / "photo.png"
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    return path
