"""Image and geometry losses: thin components over :mod:`vecrender_losses.functional`.

Image losses compare each composited render with the target; geometry regularisers read the
scenes. Every loss returns one value per sketch, ``[S]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

import vecrender
from vecrender.components import Loss, LossInput, Renderer, RunContext
from vecrender.errors import ConfigError
from vecrender.scene import VectorScene
from vecrender_losses import functional as fn


class TargetLoss(Loss):
    """Base of the losses that compare renders with the input image (not registered)."""

    needs_target: ClassVar[bool] = True

    def target(self, batch: LossInput) -> Tensor:
        """The target on the renders' device and dtype (`LossInput.target_for`)."""
        return batch.target_for(self.name)


def _check_odd(win_size: int) -> None:
    if win_size % 2 == 0:
        raise ValueError(f"win_size: must be odd (a window centred on a pixel), got {win_size}")


def per_scene(scenes: Sequence[VectorScene], value: Callable[[VectorScene], Tensor], like: Tensor) -> Tensor:
    """Stack ``value(scene)`` (a scalar tensor) over the scenes -> ``[S]``."""
    if not scenes:
        return like.new_zeros(0)
    return torch.stack([value(s) for s in scenes])


# -- image losses --------------------------------------------------------------------------------
class Ssim(TargetLoss):
    """1 - SSIM between each render and the target (pytorch-msssim, Gaussian window)."""

    name = "ssim"

    @dataclass
    class Config:
        win_size: int = vecrender.option(11, "Gaussian window size in pixels (odd).", min=1)
        win_sigma: float = vecrender.option(1.5, "Standard deviation of the Gaussian window.", above=0)

        def __post_init__(self) -> None:
            _check_odd(self.win_size)

    def forward(self, batch: LossInput) -> Tensor:
        return fn.ssim_loss(batch.images, self.target(batch), self.config.win_size, self.config.win_sigma)


class MsSsim(TargetLoss):
    """1 - multi-scale SSIM between each render and the target (pytorch-msssim, 5 scales)."""

    name = "ms_ssim"

    @dataclass
    class Config:
        win_size: int | None = vecrender.option(
            None, "Gaussian window size (odd). None: the largest up to 11 that the canvas allows "
            "(MS-SSIM needs min(H, W) > 16 * (win_size - 1); 224 px -> 11, 64 px -> 3).")
        win_sigma: float = vecrender.option(1.5, "Standard deviation of the Gaussian window.", above=0)
        weights: list[float] = vecrender.option(
            list(fn.MS_SSIM_WEIGHTS), "Weight of each scale, finest first (Wang et al. 2003); 1 to 5 "
            "scales.", min=0)

        def __post_init__(self) -> None:
            if self.win_size is not None:
                _check_odd(self.win_size)
            if not 1 <= len(self.weights) <= len(fn.MS_SSIM_WEIGHTS) or not any(self.weights):
                raise ValueError(f"weights: expected 1 to {len(fn.MS_SSIM_WEIGHTS)} scale weights, not all 0, "
                                 f"got {self.weights}")

    def prepare(self, target: Tensor | None) -> None:
        """The canvas is known now: the window must fit MS-SSIM's four halvings of it."""
        height, width = self.context.height, self.context.width
        limit = fn.max_ms_ssim_window(height, width)
        if self.config.win_size is not None and self.config.win_size > limit:
            raise ConfigError(f"loss 'ms_ssim'.win_size: {self.config.win_size} is too large for a {width}x{height} "
                              f"canvas (at most {limit}); lower it or leave it null to pick the largest.")

    def forward(self, batch: LossInput) -> Tensor:
        c = self.config
        return fn.ms_ssim_loss(batch.images, self.target(batch), c.win_size, c.win_sigma, c.weights)


class Edge(TargetLoss):
    """Mean absolute difference between Sobel edge maps of the render and the target (kornia)."""

    name = "edge"

    def forward(self, batch: LossInput) -> Tensor:
        return fn.edge_loss(batch.images, self.target(batch))


class Udf(TargetLoss):
    """LIVE's UDF loss: squared (or absolute) error weighted by closeness to the shapes' contours
    (no gradient in the weight).

    As LIVE: the weight comes from the current stage's shapes (``LossInput.stage_start`` on),
    rendered as opaque white silhouettes, so a shape inside or behind another, or under a
    see-through fill, still has its contour; the weights of earlier stages stay (each stage adds
    its last weight map, clamped to 1).
    """

    name = "udf"

    @dataclass
    class Config:
        max_distance: float = vecrender.option(
            10.0, "Pixels farther than this from every shape contour get weight 0 (LIVE: 10).", above=0)
        threshold: float = vecrender.option(
            0.5, "Coverage (silhouette alpha) level that defines the contour.", min=0, max=1)
        norm: str = vecrender.option(
            "l2", "Per-pixel error summed over RGB: l2 squared (LIVE's default), l1 absolute (LIVE's "
            "use_l1_loss, still UDF-weighted).", choices=("l2", "l1"))

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._stage_start = 0
        self._kept: Tensor | None = None  # [S, H, W]: the weight earlier stages ended with
        self._last: Tensor | None = None  # [S, H, W]: the weight of the last training step
        self._renderer: Renderer | None = None

    def forward(self, batch: LossInput) -> Tensor:
        if batch.training and batch.stage_start != self._stage_start:  # a new stage: keep the bands so far
            self._stage_start, self._kept = batch.stage_start, self._last
        weight = self.weights(batch.scenes, batch.stage_start)
        if self._kept is not None:
            weight = (weight + self._kept.to(weight)).clamp(0.0, 1.0)
        if batch.training:
            self._last = weight.detach()
        return fn.weighted_error(batch.images, self.target(batch), weight, self.config.norm)

    @torch.no_grad()
    def weights(self, scenes: Sequence[VectorScene], first: int) -> Tensor:
        """``[S, H, W]`` UDF weights of the paths from `first` on, in each scene."""
        if self._renderer is None:
            from vecrender.builtins.renderers import NativeRenderer

            self._renderer = NativeRenderer()
        alpha = self._renderer.render([fn.silhouettes(scene, first) for scene in scenes])[:, 3]
        return fn.udf_weights(alpha, self.config.max_distance, self.config.threshold)

    def state_dict(self) -> dict[str, Any]:
        return {"stage_start": self._stage_start, "kept": self._kept, "last": self._last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._stage_start, self._kept, self._last = state["stage_start"], state["kept"], state["last"]


class Lpips(TargetLoss):
    """LPIPS perceptual distance to the target (lpips package; backbone from the torch hub cache)."""

    name = "lpips"

    @dataclass
    class Config:
        net: str = vecrender.option(
            "vgg", "Backbone: vgg (recommended by the LPIPS authors for optimisation) or alex.",
            choices=("vgg", "alex"))
        backbone_weights: str | None = vecrender.option(
            None, "Path of the torchvision ImageNet checkpoint of the backbone. None: search the torch "
            "hub cache (torch.hub.get_dir()/checkpoints), ./checkpoint/lpips and the vecrender cache.")

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        self._model: torch.nn.Module | None = None

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            from vecrender_losses.lpips_model import load_lpips

            key = ("lpips", self.config.net, self.config.backbone_weights)
            model = self.context.models.get(key, lambda: load_lpips(self.config.net, self.config.backbone_weights))
            self._model = model.to(self.context.device)
        return self._model

    def prepare(self, target: Tensor | None) -> None:
        self.model  # noqa: B018 - load (or fail with WeightsNotFoundError) before the first step

    def forward(self, batch: LossInput) -> Tensor:
        target = fn.check_pair(batch.images, self.target(batch))
        model = self.model.to(device=batch.images.device, dtype=batch.images.dtype)
        return model(batch.images, target, normalize=True).reshape(-1)


@dataclass
class Vgg16Config:
    backbone_weights: str | None = vecrender.option(
        None, "Path of torchvision's ImageNet VGG16 checkpoint. None: search the torch hub cache "
        "(torch.hub.get_dir()/checkpoints), ./checkpoint/lpips and the vecrender cache.")


class Vgg16Loss(Loss):
    """Base of the losses on torchvision's VGG16 ``features`` (not registered): the frozen stack,
    loaded once per run and shared by every loss that asks for the same checkpoint."""

    Config: ClassVar[type] = Vgg16Config
    _features: torch.nn.Module | None = None

    @property
    def features(self) -> torch.nn.Module:
        if self._features is None:
            from vecrender_losses.lpips_model import load_vgg16_features

            weights = self.config.backbone_weights
            self._features = self.context.models.get(("vgg16_features", weights),
                                                     lambda: load_vgg16_features(weights))
        return self._features


class VggPerceptual(Vgg16Loss, TargetLoss):
    """Distance of unit-normalised VGG16 features (5 stages) plus the squared mean-colour difference:
    DiffVG painterly's perceptual loss (``--use_lpips_loss``), without learned weights."""

    name = "vgg_perceptual"

    @dataclass
    class Config(Vgg16Config):
        mean_color: bool = vecrender.option(
            True, "Add (mean(render) - mean(target))^2 over pixels and channels, as DiffVG painterly does.")

    def prepare(self, target: Tensor | None) -> None:
        self.features  # noqa: B018 - load (or fail with WeightsNotFoundError) before the first step

    def forward(self, batch: LossInput) -> Tensor:
        target = self.target(batch)
        fn.check_pair(batch.images, target)  # the target's features once, not once per sketch
        features = self.features.to(device=batch.images.device, dtype=batch.images.dtype)
        with torch.no_grad():
            target_features = fn.vgg_features(features, target)
        value = fn.normalized_feature_distance(fn.vgg_features(features, batch.images), target_features)
        if self.config.mean_color:
            value = value + (batch.images.mean(dim=(1, 2, 3)) - target.mean(dim=(1, 2, 3))).square()
        return value


class StrotssStyle(Vgg16Loss):
    """StyleCLIPDraw's style loss: VGG16 hypercolumns of each render against those of a style image
    (STROTSS relaxed EMD, moments and palette)."""

    name = "strotss_style"

    @dataclass
    class Config(Vgg16Config):
        style_image: str | None = vecrender.option(
            None, "The style image (required; any format Pillow reads); relative paths are resolved "
            "against the working directory.")
        size: int | None = vecrender.option(
            None, "Long edge, in pixels, the style image is resized to (aspect kept). None: the canvas "
            "width, as StyleCLIPDraw.", min=1)
        style_samples: int = vecrender.option(
            5000, "Style-image positions sampled once, at the start (StyleCLIPDraw: 5 x 1000).", min=2)
        locations: int = vecrender.option(1024, "Render positions sampled at each step.", min=2)
        shift: bool = vecrender.option(
            True, "Map images to (x + 1) / 2 before VGG's normalisation, as StyleCLIPDraw's extractor does.")

    def __init__(self, config: Any = None, context: RunContext | None = None) -> None:
        super().__init__(config, context)
        if not self.config.style_image:
            raise ConfigError(f"loss {self.name!r} needs a style image: set its style_image option "
                              "(e.g. --set losses.style.style_image=starry.jpg).")
        self.style: Tensor | None = None  # [d, M] hypercolumns of the style image

    def style_image(self) -> Tensor:
        """The style image ``[1, 3, h, w]`` in [0, 1], its long edge resized to ``size``."""
        import torch.nn.functional as F

        from vecrender.errors import InputImageError
        from vecrender.images import load_image

        try:
            image = load_image(self.config.style_image)
        except InputImageError as exc:
            raise InputImageError(f"loss {self.name!r}, style_image: {exc}") from None
        height, width = image.shape[-2:]
        ratio = (self.config.size or self.context.width) / max(height, width)
        size = (max(int(height * ratio), 1), max(int(width * ratio), 1))
        return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=ratio < 1).clamp(0, 1)

    @torch.no_grad()
    def prepare(self, target: Tensor | None) -> None:
        image = self.style_image().to(self.context.device)
        feats = fn.strotss_features(self.features.to(self.context.device), image, self.config.shift)
        height, width = image.shape[-2:]
        count = min(self.config.style_samples, height * width)
        picked = torch.randperm(height * width, generator=torch.Generator().manual_seed(self.context.seed))[:count]
        self.style = fn.sample_hypercolumns(feats, picked // width, picked % width, bilinear=False)[0]

    def forward(self, batch: LossInput) -> Tensor:
        if self.style is None:
            self.prepare(None)
        images = batch.images
        features = self.features.to(device=images.device, dtype=images.dtype)
        # each sketch's positions from its generator; evaluation: the same positions for every sketch
        generators = batch.sketch_generators() if batch.training else [fn.eval_generator()]
        rows, cols = torch.cat([self._positions(*images.shape[-2:], g) for g in generators], dim=1)
        rows, cols = rows.expand(images.shape[0], -1), cols.expand(images.shape[0], -1)
        feats = fn.strotss_features(features, images, self.config.shift)
        samples = fn.sample_hypercolumns(feats, rows, cols, bilinear=True)
        return fn.strotss_style_loss(samples, self.style.to(images))

    def _positions(self, height: int, width: int, generator: torch.Generator | None) -> Tensor:
        """``[2, 1, locations]`` (rows, cols) of one sketch's sampled positions: rows and columns
        picked apart, as STROTSS shuffles them apart."""
        rows, cols = fn.strotss_grid(height, width, generator)
        count = (self.config.locations,)
        picked = [axis[torch.randint(len(axis), count, generator=generator)] for axis in (rows, cols)]
        return torch.stack(picked)[:, None]


# -- geometry regularisers -----------------------------------------------------------------------
class StrokeLength(Loss):
    """Total length of the stroked paths, in canvas diagonals: asks for less, shorter ink."""

    name = "stroke_length"

    @dataclass
    class Config:
        samples: int = vecrender.option(16, "Polyline samples per cubic segment for the arc length.", min=1)
        normalize: bool = vecrender.option(True, "Divide by the canvas diagonal (False: pixels).")
        stroked_only: bool = vecrender.option(
            True, "Count only paths with a stroke (width > 0), not fill-only shapes.")

    def forward(self, batch: LossInput) -> Tensor:
        return per_scene(batch.scenes, self._scene_length, batch.images)

    def _scene_length(self, scene: VectorScene) -> Tensor:
        lengths = fn.path_lengths(scene.points, scene.num_segments, scene.closed, self.config.samples,
                                  scene.subpath_starts)
        if self.config.stroked_only:
            lengths = lengths * (scene.widths.detach() > 0).to(lengths.dtype)
        total = lengths.sum()
        if self.config.normalize:
            total = total / (scene.width**2 + scene.height**2) ** 0.5
        return total


class WidthSparsity(Loss):
    """Mean stroke width raised to `power` (L1 by default): drives unneeded strokes to width 0."""

    name = "width_sparsity"

    @dataclass
    class Config:
        power: float = vecrender.option(1.0, "Exponent: 1 is L1; below 1 favours fewer, wider strokes.",
                                         above=0)
        scale: float = vecrender.option(1.0, "Widths are divided by this many pixels first.", above=0)

    def forward(self, batch: LossInput) -> Tensor:
        c = self.config
        return per_scene(batch.scenes, lambda s: fn.sparsity(s.widths / c.scale, c.power), batch.images)


class OpacitySparsity(Loss):
    """Mean path opacity raised to `power` (L1 by default): drives unneeded paths transparent."""

    name = "opacity_sparsity"

    @dataclass
    class Config:
        colors: str = vecrender.option(
            "auto", "Which alphas: stroke, fill, both, or auto (fill for closed filled paths, stroke "
            "otherwise).", choices=("auto", "stroke", "fill", "both"))
        power: float = vecrender.option(1.0, "Exponent: 1 is L1; below 1 pushes harder toward exactly 0.",
                                         above=0)

    def forward(self, batch: LossInput) -> Tensor:
        return per_scene(batch.scenes, self._alphas_cost, batch.images)

    def _alphas_cost(self, scene: VectorScene) -> Tensor:
        return fn.sparsity(self.alphas(scene), self.config.power)

    def alphas(self, scene: VectorScene) -> Tensor:
        """The alphas this loss penalises, ``[M]``."""
        which = self.config.colors
        fills = scene.fill_colors
        if which == "auto":
            if fills is None:
                return scene.stroke_colors[:, 3]
            filled = scene.closed & (scene.widths.detach() <= 0)
            return torch.where(filled, fills[:, 3], scene.stroke_colors[:, 3])
        parts = []
        if which in ("stroke", "both"):
            parts.append(scene.stroke_colors[:, 3])
        if which in ("fill", "both") and fills is not None:
            parts.append(fills[:, 3])
        if not parts:
            raise ConfigError(f"loss 'opacity_sparsity'.colors: {which!r} but the scene has no fill colors; "
                              "use colors: stroke or auto.")
        return torch.cat(parts)


class SelfIntersection(Loss):
    """LIVE's Xing loss: penalises closed shapes whose segments loop over themselves (the current
    stage's shapes, ``LossInput.stage_start`` on, as LIVE; mean over those shapes)."""

    name = "self_intersection"

    @dataclass
    class Config:
        paths: str = vecrender.option(
            "closed", "Which paths: closed (LIVE: filled shapes, where a loop punches a hole) or all "
            "(open strokes too, where a segment loop shows as a kink).", choices=("closed", "all"))
        eps: float = vecrender.option(
            1e-8, "Added to squared edge lengths, so coincident control points give 0, not NaN.", above=0)

    def forward(self, batch: LossInput) -> Tensor:
        return per_scene(batch.scenes, lambda scene: self._scene_penalty(scene, batch.stage_start), batch.images)

    def _scene_penalty(self, scene: VectorScene, first: int) -> Tensor:
        selected = scene.closed if self.config.paths == "closed" else torch.ones_like(scene.closed)
        selected = selected & (torch.arange(scene.num_paths, device=selected.device) >= first)  # the stage's
        per_path = fn.xing_penalty(scene.points, scene.num_segments, scene.closed, self.config.eps,
                                   penalise=selected, subpath_starts=scene.subpath_starts)
        return per_path.sum() / selected.sum().clamp_min(1)


LOSSES = (Ssim, MsSsim, Edge, Udf, Lpips, VggPerceptual, StrotssStyle, StrokeLength, WidthSparsity, OpacitySparsity,
          SelfIntersection)
