"""CLIP losses: text guidance (CLIPDraw) and semantic similarity to the target image.

Both use the core's shared, frozen open_clip model (:func:`vecrender.models.clip.load_clip`, one
instance per run through ``context.models``) and the core's batched augmentations
(:mod:`vecrender.functional.augment`); open_clip is imported only when a run builds them.

Views: each sketch is augmented ``augmentations`` times (random perspective with a fill colour,
then a random resized crop to the model's input size), independently per sketch and view, each
sketch's from its own generator (`LossInput.sketch_generators`). In the
evaluation pass (``training=False``) the views are drawn from a generator with a fixed seed, the
same for every sketch, so the eval loss is deterministic, comparable from one evaluation to the
next and between sketches, and a sketch's does not depend on the others in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

import vecrender
from vecrender.components import Loss, LossInput, RunContext
from vecrender.config import check_interval
from vecrender.errors import ConfigError
from vecrender_losses import functional as fn

if TYPE_CHECKING:
    from vecrender.functional.augment import AugmentParams

@dataclass
class ClipViewsConfig:
    model: str = vecrender.option("ViT-B-32", "open_clip model name (ViT-B-32, RN101, ViT-L-14, ...).")
    pretrained: str | None = vecrender.option("openai", "open_clip pretrained tag; None: random weights.")
    weights: str | None = vecrender.option(
        None, "Explicit checkpoint path, or 'none' for random weights; None searches the usual places.")
    augmentations: int = vecrender.option(
        4, "Augmented views per sketch; 0 uses the render itself (resized to the model's input).", min=0)
    distortion: float = vecrender.option(0.5, "Random perspective distortion scale (0 disables).", min=0, max=1)
    fill: float = vecrender.option(1.0, "Grey level filling the area the perspective warp uncovers (1: white).",
                                   min=0, max=1)
    crop_scale: list[float] = vecrender.option([0.7, 0.9], "Random resized crop area range [low, high].",
                                               above=0, max=1)
    crop_ratio: list[float] = vecrender.option([0.75, 4 / 3], "Random resized crop aspect range [low, high].",
                                               above=0)
    normalize: bool = vecrender.option(True, "Apply CLIP's mean/std normalisation before encoding.")
    reduction: str = vecrender.option(
        "mean", "How the views of one sketch combine: mean, or sum (CLIPDraw).", choices=("mean", "sum"))

    def __post_init__(self) -> None:
        check_interval("crop_scale", self.crop_scale)
        check_interval("crop_ratio", self.crop_ratio)


class ClipViews(Loss):
    """Shared machinery of the CLIP losses: model, views, encoding (not registered)."""

    Config: ClassVar[type] = ClipViewsConfig

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._model: torch.nn.Module | None = None

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            from vecrender.models.clip import load_clip

            c = self.config
            self._model = load_clip(c.model, c.pretrained, c.weights, self.context.device, self.context.models)
        return self._model

    def view_params(self, generators: list[torch.Generator | None], height: int, width: int, training: bool
                    ) -> AugmentParams:
        """Augmentation parameters for the views of one render per generator, sketch-major: random,
        each sketch's from its generator, or in evaluation passes the same fixed-seed views for
        every sketch (so sketches are scored alike)."""
        from vecrender.functional.augment import sample_sketch_views
        from vecrender.models.clip import image_size

        c = self.config
        options = dict(distortion_scale=c.distortion, crop_scale=tuple(c.crop_scale), crop_ratio=tuple(c.crop_ratio),
                       fill=c.fill, size=image_size(self.model))
        if training:
            return sample_sketch_views(generators, c.augmentations, height, width, **options)
        return sample_sketch_views([fn.eval_generator()], c.augmentations, height, width, **options
                                   ).tiled(len(generators))

    def views(self, images: Tensor, params: AugmentParams | None) -> Tensor:
        """``[S, 3, H, W]`` -> ``[S * A, 3, s, s]`` views (A = augmentations, or 1 plain view)."""
        from vecrender.functional.augment import apply_augment, resize_center_crop
        from vecrender.models.clip import image_size

        if params is None:
            return resize_center_crop(images, image_size(self.model))
        reps = len(params) // images.shape[0]
        return apply_augment(images.repeat_interleave(reps, dim=0), params)

    def encode(self, views: Tensor) -> Tensor:
        """CLIP image embeddings of ``[B, 3, s, s]`` views in [0, 1] -> ``[B, D]``."""
        from vecrender.models.clip import clip_precision, normalize

        x = normalize(views) if self.config.normalize else views
        model = self.model
        with clip_precision(views.device):
            return model.encode_image(x.to(next(model.parameters()).dtype)).to(views.dtype)

    def embed_views(self, images: Tensor, training: bool, generators: list[torch.Generator | None] | None = None
                    ) -> tuple[Tensor, AugmentParams | None]:
        """``[S, 3, H, W]`` -> embeddings ``[S, A, D]`` and the augmentation parameters used
        (`generators`: each sketch's, `LossInput.sketch_generators`; None: the global one)."""
        fn.check_images(images)
        s, _, h, w = images.shape
        count = self.config.augmentations
        params = self.view_params(generators or [None] * s, h, w, training) if count else None
        emb = self.encode(self.views(images, params))
        return emb.reshape(s, max(count, 1), -1), params


class ClipText(ClipViews):
    """CLIPDraw text guidance: 1 - cosine between the prompt and augmented views of each render."""

    name = "clip_text"
    uses_prompt: ClassVar[bool] = True

    @dataclass(kw_only=True)
    class Config(ClipViewsConfig):
        prompt: str | None = vecrender.option(None, "Text to draw; None uses the run's prompt (--prompt).")
        negative_prompts: list[str] = vecrender.option(
            [], "Prompts to move away from: each adds negative_weight * cosine per view.")
        clipdraw_negatives: bool = vecrender.option(
            False, "Also use CLIPDraw's two negative prompts ('A badly drawn sketch.', 'Many ugly, messy "
            "drawings.').")
        negative_weight: float = vecrender.option(0.3, "Weight of each negative prompt (CLIPDraw: 0.3).", min=0)

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self.text_emb: Tensor | None = None
        self.negative_emb: Tensor | None = None

    @property
    def prompt(self) -> str:
        prompt = self.config.prompt or self.context.prompt
        if not prompt:
            raise ConfigError("loss 'clip_text' needs a prompt: pass --prompt \"a red bicycle\" or set "
                              "prompt in the recipe (or the loss's own prompt option).")
        return prompt

    @property
    def negatives(self) -> list[str]:
        extra = list(fn.CLIPDRAW_NEGATIVE_PROMPTS) if self.config.clipdraw_negatives else []
        return list(self.config.negative_prompts) + extra

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> Tensor:
        """CLIP text embeddings ``[K, D]`` (no gradient)."""
        from vecrender.models.clip import clip_precision, get_tokenizer

        tokenizer = get_tokenizer(self.config.model)
        for text in texts:
            _check_length(text, tokenizer)
        with clip_precision(self.context.device):
            return self.model.encode_text(tokenizer(texts).to(self.context.device)).float()

    def prepare(self, target: Tensor | None) -> None:
        self.text_emb = self.encode_text([self.prompt])[0]
        self.negative_emb = self.encode_text(self.negatives) if self.negatives else None

    def forward(self, batch: LossInput) -> Tensor:
        if self.text_emb is None:
            self.prepare(batch.target)
        emb, _ = self.embed_views(batch.images, batch.training, batch.sketch_generators())
        return fn.cosine_guidance(emb, self.text_emb, self.negative_emb, self.config.negative_weight,
                                  self.config.reduction)


def _check_length(text: str, tokenizer: Any) -> None:
    """A prompt longer than CLIP's context (77 tokens with start and end) would be cut silently."""
    encode, limit = getattr(tokenizer, "encode", None), getattr(tokenizer, "context_length", None)
    if encode is None or limit is None:
        return
    count = len(encode(text)) + 2
    if count > limit:
        raise ConfigError(f"the prompt {text[:60]!r}... is {count} CLIP tokens long, over the text encoder's "
                          f"{limit} (start and end tokens included); shorten it (CLIP would read only its "
                          "beginning).")


class ClipImage(ClipViews):
    """Semantic similarity to the target: 1 - cosine of CLIP embeddings of paired views."""

    name = "clip_image"
    needs_target: ClassVar[bool] = True

    def forward(self, batch: LossInput) -> Tensor:
        target = batch.target_for(self.name)
        emb, params = self.embed_views(batch.images, batch.training, batch.sketch_generators())
        with torch.no_grad():
            if params is None:
                target_emb = self.encode(self.views(target[:1], None))[:, None]
            else:
                views = self.views(target[:1].expand(len(params), -1, -1, -1), params)
                target_emb = self.encode(views).reshape(emb.shape)
        return fn.embedding_distance(emb, target_emb, self.config.reduction)
