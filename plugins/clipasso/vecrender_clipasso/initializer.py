"""The ``clipasso.saliency`` initializer: strokes placed by CLIP saliency (a ViT's attention, or a
ResNet's Grad-CAM) on the target's edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vecrender.components import Initializer, RunContext
from vecrender.config import option
from vecrender.errors import ConfigError
from vecrender.functional.paths import random_walk_paths
from vecrender.scene import VectorScene
from vecrender_clipasso import saliency


def _walk(starts: Tensor, segments: int, step: tuple[float, float], seed: int) -> Tensor:
    """Chained +-step random walk from each start point, seeded by the sketch's seed."""
    return random_walk_paths(starts, segments, step, torch.Generator().manual_seed(int(seed)))


@dataclass
class SaliencyConfig:
    model: str = option(
        "ViT-B-32", "CLIP model whose saliency places the strokes: a ViT's CLS attention (the reference's "
        "ViT-B-32; tests: tiny-ViT), or a ResNet's (RN50, RN101, ...) Grad-CAM towards `text`.")
    pretrained: str | None = option("openai", "open_clip pretrained tag (null: random weights).")
    weights: str | None = option(None, "Checkpoint path, or 'none' for random weights; null looks at "
                                       "$VECRENDER_CLIP_<MODEL> ($VECRENDER_CLIP_VIT_B_32 for ViT-B-32), "
                                       "./checkpoint/clip, the cache, then downloads.")
    text: str = option(
        "none", "ResNet models only: the text whose embedding Grad-CAM follows (the reference's "
        "text_target, whose default is the word 'none'), e.g. 'a horse'.")
    attention: bool = option(True, "Sample start points from the attention map; false: uniform random.")
    xdog_intersect: bool = option(True, "Keep attention only on XDoG edge pixels (the reference default).")
    softmax_temp: float = option(0.3, "Temperature of the softmax over the map's positive pixels.", above=0)
    segments: int = option(1, "Cubic segments per stroke.", min=1)
    width: float = option(3.0, "Stroke width in pixels, full SVG width (the reference's 1.5 half-width).",
                          min=0)
    color: list[float] = option([0.0, 0.0, 0.0, 1.0], "Stroke RGBA in [0, 1] (black, opaque).", min=0, max=1)
    jitter: float = option(0.025, "Random-walk step bound per axis, as a fraction of the canvas size.", min=0)

    def __post_init__(self) -> None:
        if len(self.color) != 4:
            raise ValueError(f"color: expected 4 values in [0, 1] (RGBA), got {self.color}")


class SaliencyInitializer(Initializer):
    """CLIPasso strokes: start points sampled from CLIP saliency on the target's edges."""

    name = "clipasso.saliency"
    Config = SaliencyConfig

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._maps: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._figure_written = False

    # -- maps ------------------------------------------------------------------------------------
    def maps(self, target: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(attention ``[H, W]``, sampling distribution ``[H, W]``), computed once per target."""
        key = (target.data_ptr(), tuple(target.shape))
        if self._maps is None or self._maps[0] != key:
            c = self.config
            h, w = target.shape[-2:]
            attn = self._saliency(target, (h, w)).cpu().double().numpy()
            edges = saliency.clip_xdog(target) if c.xdog_intersect else None
            prob = saliency.sampling_distribution(attn, edges, c.softmax_temp)
            self._maps = (key, attn, prob)
        return self._maps[1], self._maps[2]

    def _saliency(self, target: Tensor, size: tuple[int, int]) -> Tensor:
        from vecrender.models.clip import get_tokenizer, load_clip

        c = self.config
        model = load_clip(c.model, c.pretrained, c.weights, self.context.device, self.context.models)
        if hasattr(getattr(model.visual, "transformer", None), "resblocks"):
            return saliency.vit_cls_attention(model, target, size)
        if hasattr(model.visual, "layer4"):
            return saliency.resnet_gradcam(model, target, get_tokenizer(c.model)([c.text]), size)
        raise ConfigError(f"initializer (clipasso.saliency).model: {c.model!r} is neither a CLIP ViT nor a "
                          "CLIP ResNet; the start points come from a ViT's CLS attention or a ResNet's "
                          "Grad-CAM, so choose one (the reference's ViT-B-32, or ViT-B-16, RN50, RN101, ...).")

    def start_points(self, num_paths: int, seed: int, target: Tensor | None) -> np.ndarray:
        h, w = self.context.height, self.context.width
        if not self.config.attention:
            return np.random.RandomState(seed).rand(num_paths, 2) * np.array([w, h])
        if target is None:
            raise ConfigError("initializer clipasso.saliency places strokes on the input image: pass "
                              "--input IMAGE (or set initializer.attention=false).")
        if num_paths > h * w:
            raise ConfigError(f"initializer clipasso.saliency: cannot place {num_paths} strokes on a {w}x{h} "
                              f"canvas (one start pixel each); use fewer strokes or a larger canvas.")
        attn, prob = self.maps(target)
        starts = saliency.sample_start_points(prob, attn, num_paths, seed, self.config.softmax_temp)
        if not self._figure_written:
            self._write_figure(target, starts, attn, prob)
        return starts

    def _write_figure(self, target: Tensor, starts: np.ndarray, attn: np.ndarray, prob: np.ndarray) -> None:
        self._figure_written = True
        path = self.context.artifact("attention_map.png")
        if path is not None:
            from vecrender.images import save_png

            save_png(path, saliency.attention_figure(target, starts, attn, prob))

    # -- the component API ------------------------------------------------------------------------
    def initialize(self, num_paths: int, seed: int, target: Tensor | None) -> VectorScene:
        c = self.config
        h, w = self.context.height, self.context.width
        starts = torch.as_tensor(self.start_points(num_paths, seed, target), dtype=torch.float32).reshape(-1, 2)
        points = _walk(starts, c.segments, (c.jitter * w, c.jitter * h), seed)
        n = points.shape[0]
        return VectorScene(
            points=points.float().contiguous(),
            widths=torch.full((n,), float(c.width)),
            stroke_colors=torch.tensor(c.color, dtype=torch.float32).expand(n, 4).clone(),
            width=w,
            height=h,
        )

    def finish(self) -> None:
        """The ViT is only needed to place strokes: release it from the run's model cache."""
        from vecrender.models.clip import release_clip

        c = self.config
        release_clip(self.context.models, c.model, c.pretrained, c.weights, self.context.device)
        self._maps = None
