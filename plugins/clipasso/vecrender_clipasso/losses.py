"""CLIPasso's CLIP losses: geometric (RN101 layer2 + layer3 MSE), semantic (RN101 embedding
1 - cosine) and the optional ViT CLIP loss.

Geometric and semantic are separate components (separate weights, separate log lines) that share
ONE augmented batch and ONE RN101 forward per step: the first of them to run stores the feature
pass in the run's ``context.models`` under a key of (model, step, training, batch), the second
reuses it. The batch for S sketches, in training:

* per sketch, view 0 is the clean pair (CLIP resize/centre crop, a no-op at 224) and views 1..A
  are A pairs augmented with identical parameters for sketch and target (random perspective 0.5,
  p=1, fill 0, bilinear; random resized crop scale (0.8, 0.8), ratio 1, bilinear), each sketch
  with its own A draws from its own generator (`LossInput.sketch_generators`: reproducible,
  resumable, and the same whether the sketch runs alone or beside others);
* one RN101 pass per step for both losses over the S*(1+A) sketch views and the S*A augmented
  target views; the clean target's features are computed once, at ``prepare``. On CUDA the pass is
  a single forward (kernel-launch bound at these sizes); on CPU (compute bound) the target views
  run under ``no_grad`` so the backward skips them (24 % of the step), the sketch views run in
  chunks of 1+A images and the target views in chunks of A (smaller activations: 12 % faster
  backward, and a faster forward, with 9 sketches), all in channels_last memory format through a
  copy of the visual tower whose BatchNorms are folded into the convolutions (:func:`fold_batchnorm`;
  same maths up to float rounding).

Per-sketch losses ``[S]`` are means over that sketch's 1+A views (the reference's mean over its batch
of 5). Evaluation (``training=False``) uses the clean pair only. On CUDA the forward runs under
fp16 autocast (the reference runs CLIP in fp16 on GPU).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vecrender.components import Loss, LossInput, RunContext
from vecrender.config import check_interval, option
from vecrender.functional.augment import apply_augment, normalize, resize_center_crop, sample_sketch_views
from vecrender.models.clip import clip_key, clip_precision, image_size, load_clip, resnet_features

LAYER_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4")


@dataclass
class RNConfig:
    model: str = option("RN101", "open_clip ResNet CLIP model (tests: tiny-RN).")
    pretrained: str | None = option("openai", "open_clip pretrained tag (null: random weights).")
    weights: str | None = option(None, "Checkpoint path, or 'none' for random weights; null looks at "
                                       "$VECRENDER_CLIP_<MODEL>, ./checkpoint/clip, the cache, then downloads.")
    num_augs: int = option(4, "Augmented (sketch, target) pairs per sketch and step, besides the clean pair.",
                           min=0)
    distortion_scale: float = option(0.5, "Random perspective strength (torchvision RandomPerspective).",
                                     min=0, max=1)
    crop_scale: list[float] = option([0.8, 0.8], "Random resized crop area range [low, high].", above=0, max=1)
    crop_ratio: list[float] = option([1.0, 1.0], "Random resized crop aspect-ratio range [low, high].", above=0)
    fill: float = option(0.0, "Grey level of the area the perspective warp uncovers (0: black).", min=0, max=1)

    def __post_init__(self) -> None:
        check_interval("crop_scale", self.crop_scale)
        check_interval("crop_ratio", self.crop_ratio)


@dataclass
class GeometricConfig(RNConfig):
    layer_weights: list[float] = option([0.0, 0.0, 1.0, 1.0, 0.0],
                                        "Weights of the [stem, layer1, layer2, layer3, layer4] feature MSEs.", min=0)
    distance: str = option("L2", "Feature distance: L2 (mean squared) or L1 (mean absolute).", choices=("L2", "L1"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.layer_weights) != len(LAYER_NAMES):
            raise ValueError(f"layer_weights: expected {len(LAYER_NAMES)} weights for {', '.join(LAYER_NAMES)}, "
                             f"got {self.layer_weights}")


class _ClipLoss(Loss):
    """Base of the bundle's CLIP losses: the configured model, loaded once per run (not registered)."""

    needs_target = True
    Config = RNConfig

    @property
    def model(self) -> torch.nn.Module:
        c = self.config
        return load_clip(c.model, c.pretrained, c.weights, self.context.device, self.context.models)


class _RNLoss(_ClipLoss):

    def prepare(self, target: Tensor | None) -> None:
        if target is not None:
            self.model  # load now, before optimisation starts
            target_features(self, target)

    @property
    def visual(self) -> torch.nn.Module:
        """The visual tower the feature passes run through: on CPU a copy with every BatchNorm
        folded into its convolution (:func:`fold_batchnorm`), shared by the run; else the model's."""
        model = self.model
        if self.context.device.type != "cpu":
            return model.visual
        c = self.config
        key = ("clipasso.folded_visual", clip_key(c.model, c.pretrained, c.weights, self.context.device))
        holder = self.context.models.get(key, dict)
        if holder.get("source") is not model.visual:
            holder.update(source=model.visual, value=fold_batchnorm(model.visual))
        return holder["value"]

    def features(self, batch: LossInput) -> FeaturePass:
        return step_features(self, batch)


def _fold(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.nn.Conv2d:
    """``conv`` followed by eval-mode ``bn`` as one convolution with a bias (computed in float64)."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    fused = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode,
                            device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(conv.weight.double() * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - bn.running_mean.double()) * scale + bn.bias.double())
    return fused.requires_grad_(False)


def fold_batchnorm(visual: torch.nn.Module) -> torch.nn.Module:
    """A frozen eval-mode copy of an open_clip ModifiedResNet with each (conv, BatchNorm) pair of
    the stem, the bottlenecks and their downsample branches folded into one convolution: the same
    maths up to float rounding, minus the BatchNorm passes forward and backward (CPU: about 5 % of
    a forward + backward). The attention pool is shared with `visual`, not copied."""
    if visual.training:
        raise ValueError("fold_batchnorm needs an eval-mode model (BatchNorm with running statistics).")
    memo = {id(visual.attnpool): visual.attnpool}
    for module in visual.modules():  # the folded convolutions are rebuilt: do not copy their weights
        if isinstance(module, (torch.nn.Conv2d, torch.nn.BatchNorm2d)):
            for tensor in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
                memo[id(tensor)] = tensor
    folded = copy.deepcopy(visual, memo)
    for module in folded.modules():
        for i in (1, 2, 3):
            conv, bn = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                setattr(module, f"conv{i}", _fold(conv, bn))
                setattr(module, f"bn{i}", torch.nn.Identity())
        down = getattr(module, "downsample", None)
        if isinstance(down, torch.nn.Sequential):
            names = list(down._modules)
            for first, second in itertools.pairwise(names):
                if isinstance(down._modules[first], torch.nn.Conv2d) and \
                        isinstance(down._modules[second], torch.nn.BatchNorm2d):
                    down._modules[first] = _fold(down._modules[first], down._modules[second])
                    down._modules[second] = torch.nn.Identity()
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules()):
        raise ValueError("fold_batchnorm: a BatchNorm without a preceding convolution was left.")
    return folded.eval().requires_grad_(False)


@dataclass
class FeaturePass:
    """Features of S sketches and their targets over V views: ``[S, V, ...]`` per layer."""

    sketch: list[Tensor]
    target: list[Tensor]
    sketch_embedding: Tensor
    target_embedding: Tensor


def _aug_settings(c: RNConfig) -> tuple:
    return (c.num_augs, c.distortion_scale, tuple(c.crop_scale), tuple(c.crop_ratio), c.fill)


def target_features(loss: _RNLoss, target: Tensor) -> tuple[list[Tensor], Tensor]:
    """Clean target features ``([1, ...] per layer, [1, E])``, computed once per run and model."""
    c = loss.config
    key = ("clipasso.target_features", clip_key(c.model, c.pretrained, c.weights, loss.context.device))
    holder = loss.context.models.get(key, dict)
    tag = (target.data_ptr(), tuple(target.shape), target._version)
    if holder.get("tag") != tag:
        model = loss.model
        x = normalize(resize_center_crop(target.to(loss.context.device).float(), image_size(model)))
        with torch.no_grad(), clip_precision(x.device):
            feats, emb = _features(loss.visual, x, 1)
        holder.update(tag=tag, value=([f.float() for f in feats], emb.float()))
    return holder["value"]


def _features(visual: torch.nn.Module, x: Tensor, cpu_chunk: int) -> tuple[list[Tensor], Tensor]:
    """``resnet_features`` in one batch on GPUs; on CPU in channels_last memory format (oneDNN's
    native layout: no reorders around each convolution) and in chunks of `cpu_chunk` images, whose
    smaller activations stay in cache (measured with 9 sketches: 12-22 % faster backward for the
    sketch views; with the 36 target views also in chunks, the whole CPU step took 0.79 of the time
    it took with them as one no-grad batch, NCHW and BatchNorm unfolded)."""
    if x.device.type != "cpu":
        return resnet_features(visual, x)
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[0] <= cpu_chunk:
        return resnet_features(visual, x)
    parts = [resnet_features(visual, chunk) for chunk in x.split(cpu_chunk)]
    return [torch.cat(layer) for layer in zip(*(p[0] for p in parts))], torch.cat([p[1] for p in parts])


def step_features(loss: _RNLoss, batch: LossInput) -> FeaturePass:
    """The shared per-step feature pass (computed by the first loss that asks, reused by the next)."""
    c = loss.config
    mkey = clip_key(c.model, c.pretrained, c.weights, loss.context.device)
    holder = loss.context.models.get(("clipasso.step_features", mkey), dict)
    images = batch.images
    tag = (batch.step, batch.training, id(images), images.data_ptr(), images._version, tuple(images.shape),
           torch.is_grad_enabled(), _aug_settings(c) if batch.training else None)
    if holder.get("tag") != tag:
        holder.clear()  # drop the previous step's graph before building this one
        holder.update(tag=tag, value=_compute_pass(loss, batch))
    return holder["value"]


def _compute_pass(loss: _RNLoss, batch: LossInput) -> FeaturePass:
    c, model, visual = loss.config, loss.model, loss.visual
    batch.target_for(loss.name)  # a clear error without one
    images = batch.images.float()
    s, _, h, w = images.shape
    size = image_size(model)
    clean_t, clean_emb_t = target_features(loss, batch.target)
    views = [resize_center_crop(images, size)]
    a = c.num_augs if batch.training else 0
    if a:
        params = sample_sketch_views(batch.sketch_generators(), a, h, w, distortion_scale=c.distortion_scale,
                                     crop_scale=tuple(c.crop_scale), crop_ratio=tuple(c.crop_ratio),
                                     fill=c.fill, size=size)
        views.append(apply_augment(images.repeat_interleave(a, 0), params))
        with torch.no_grad():  # the target needs no gradient: keep it out of the backward pass
            target_views = apply_augment(batch.target.to(images).expand(s * a, -1, -1, -1), params)
    with clip_precision(images.device):
        if a and images.device.type != "cpu":
            # GPUs are launch-bound at these sizes: one forward over sketch and target views
            n = s * (1 + a)
            feats, emb = resnet_features(visual, normalize(torch.cat([*views, target_views])))
            t_feats, t_emb = [f[n:] for f in feats], emb[n:]
            feats, emb = [f[:n] for f in feats], emb[:n]
        elif a:
            # CPUs are compute-bound: no backward through the target rows, smaller chunks
            feats, emb = _features(visual, normalize(torch.cat(views)), 1 + a)
            with torch.no_grad():
                t_feats, t_emb = _features(visual, normalize(target_views), a)
        else:
            feats, emb = _features(visual, normalize(torch.cat(views)), 1 + a)
            t_feats, t_emb = [None] * len(feats), None

    def split(sketch: Tensor, clean_target: Tensor, target: Tensor | None) -> tuple[Tensor, Tensor]:
        """``[S, 1 + A, ...]`` sketch views (clean first) and the matching target views."""
        sketch = sketch.float()
        sk = sketch[:s].unsqueeze(1)
        tg = clean_target.expand(s, *clean_target.shape[1:]).unsqueeze(1)
        if a:
            sk = torch.cat([sk, sketch[s:].reshape(s, a, *sketch.shape[1:])], 1)
            tg = torch.cat([tg, target.float().reshape(s, a, *target.shape[1:])], 1)
        return sk, tg

    pairs = [split(f, ct, tf) for f, ct, tf in zip(feats, clean_t, t_feats)]
    sk_emb, tg_emb = split(emb, clean_emb_t, t_emb)
    return FeaturePass([p[0] for p in pairs], [p[1] for p in pairs], sk_emb, tg_emb)


class Geometric(_RNLoss):
    """CLIPasso geometric loss: MSE of CLIP RN101 layer2 and layer3 features, sketch vs target."""

    name = "clipasso.geometric"
    Config = GeometricConfig

    def forward(self, batch: LossInput) -> dict[str, Tensor]:
        fp = self.features(batch)
        out = {}
        for name, weight, fs, ft in zip(LAYER_NAMES, self.config.layer_weights, fp.sketch, fp.target):
            if weight == 0:
                continue
            diff = fs - ft.detach()
            per = diff.square() if self.config.distance == "L2" else diff.abs()
            out[name] = weight * per.flatten(1).mean(dim=1)
        return out


class Semantic(_RNLoss):
    """CLIPasso semantic loss: 1 - cosine of the CLIP RN101 embeddings of sketch and target."""

    name = "clipasso.semantic"

    def forward(self, batch: LossInput) -> Tensor:
        fp = self.features(batch)
        cos = F.cosine_similarity(fp.sketch_embedding, fp.target_embedding.detach(), dim=-1)  # [S, V]
        return (1.0 - cos).mean(dim=1)


@dataclass
class ClipViTConfig(RNConfig):
    model: str = option("ViT-B-32", "open_clip model (tests: tiny-ViT).")
    num_augs: int = option(4, "Augmented views of each sketch per step (summed).", min=0)


class ClipViT(_ClipLoss):
    """CLIP ViT-B/32 loss: sum over augmented sketches of 1 - cosine to the clean target (optional)."""

    name = "clipasso.clip_vit"
    Config = ClipViTConfig

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._target: tuple | None = None

    def _embed(self, x: Tensor) -> Tensor:
        with clip_precision(x.device):
            return self.model.encode_image(normalize(x)).float()

    def prepare(self, target: Tensor | None) -> None:
        if target is not None:
            with torch.no_grad():
                size = image_size(self.model)
                emb = self._embed(resize_center_crop(target.to(self.context.device).float(), size))
            self._target = (target.data_ptr(), emb)

    def forward(self, batch: LossInput) -> Tensor:
        batch.target_for(self.name)  # a clear error without one
        if self._target is None or self._target[0] != batch.target.data_ptr():
            self.prepare(batch.target)
        target_emb = self._target[1]
        images = batch.images.float()
        s, _, h, w = images.shape
        size = image_size(self.model)
        a = self.config.num_augs if batch.training else 0
        if a == 0:
            return 1.0 - F.cosine_similarity(self._embed(resize_center_crop(images, size)), target_emb, dim=-1)
        params = sample_sketch_views(batch.sketch_generators(), a, h, w, distortion_scale=self.config.distortion_scale,
                                     crop_scale=tuple(self.config.crop_scale), crop_ratio=tuple(self.config.crop_ratio),
                                     fill=self.config.fill, size=size)
        emb = self._embed(apply_augment(images.repeat_interleave(a, 0), params))
        cos = F.cosine_similarity(emb, target_emb, dim=-1).reshape(s, a)
        return (1.0 - cos).sum(dim=1)
