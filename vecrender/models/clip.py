"""CLIP models (open_clip), loaded once per run, frozen, with clear errors when weights are missing.

open_clip is imported inside the functions only: importing vecrender never imports it.

Typical use inside a component::

    from vecrender.models.clip import load_clip, clip_key
    model = load_clip("RN101", pretrained="openai", device=self.context.device,
                      models=self.context.models)

``load_clip`` returns the same frozen (``requires_grad=False``), eval-mode instance to every caller
of a run that asks for the same (model, pretrained, weights, device); ``release_clip`` drops it.

Weights are found, in order: an explicit ``weights`` path; ``$VECRENDER_CLIP_<NAME>`` (name upper-
cased, non-alphanumerics as ``_``: ``VECRENDER_CLIP_RN101``, ``VECRENDER_CLIP_VIT_B_32``);
``./checkpoint/clip/<name>.pt``; ``<cache>/clip/<name>.pt``; open_clip's own download cache under
``<cache>/open_clip`` (downloaded there when online). ``weights: none`` (or ``pretrained=None``)
builds the architecture with random weights.

Tests use tiny architectures (:data:`TINY_CONFIGS`: ``tiny-RN`` with 64 px input, ``tiny-ViT`` with
224 px input and a 7x7 patch grid like ViT-B/32) that go through the same open_clip code paths
(ModifiedResNet with attention pooling, VisionTransformer, QuickGELU) with random weights:
``load_clip("tiny-RN", pretrained=None, ...)``. Components must use :func:`image_size` rather than
assume 224.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vecrender.components import ModelCache
from vecrender.errors import WeightsNotFoundError
from vecrender.functional.augment import CLIP_MEAN, CLIP_STD, normalize
from vecrender.weights import WeightSpec, cache_dir, candidate_paths, offline, unreachable, unusable_weights

__all__ = [
    "CLIP_MEAN", "CLIP_STD", "TINY_CONFIGS", "clip_key", "clip_precision", "env_var_for", "get_tokenizer",
    "image_size", "load_clip", "normalize", "register_tiny_models", "release_clip", "resnet_features",
]

#: Values of `weights` that mean "random initialisation".
RANDOM_WEIGHTS = ("none", "random")

#: Tiny open_clip architectures for tests (random weights only). Same code paths as RN101/ViT-B-32.
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny-RN": {
        "embed_dim": 32,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8, "head_width": 16,
                       "patch_size": None},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "tiny-ViT": {
        "embed_dim": 32,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 8, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
}

_TINY_DIR: Path | None = None


def canonical_name(model_name: str) -> str:
    """open_clip's spelling: ``ViT-B/32`` -> ``ViT-B-32``."""
    return model_name.replace("/", "-")


def env_var_for(model_name: str) -> str:
    """``VECRENDER_CLIP_<NAME>``: ``RN101`` -> ``VECRENDER_CLIP_RN101``, ``ViT-B/32`` -> ``..._VIT_B_32``."""
    return "VECRENDER_CLIP_" + re.sub(r"[^A-Za-z0-9]+", "_", canonical_name(model_name)).upper().strip("_")


def clip_key(model_name: str, pretrained: str | None = "openai", weights: str | None = None,
             device: torch.device | str = "cpu") -> tuple:
    """The ModelCache key of a CLIP model (pass the same arguments as to :func:`load_clip`)."""
    return ("clip", canonical_name(model_name), pretrained, _norm_weights(weights), str(torch.device(device)))


def register_tiny_models() -> None:
    """Make :data:`TINY_CONFIGS` known to open_clip (idempotent), through its public add_model_config."""
    global _TINY_DIR
    import open_clip

    if _TINY_DIR is not None and all(n in open_clip.list_models() for n in TINY_CONFIGS):
        return
    _TINY_DIR = Path(tempfile.mkdtemp(prefix="vecrender-tiny-clip-"))
    for name, cfg in TINY_CONFIGS.items():
        (_TINY_DIR / f"{name}.json").write_text(json.dumps(cfg), encoding="utf-8")
    open_clip.add_model_config(_TINY_DIR)


def load_clip(model_name: str, pretrained: str | None = "openai", weights: str | os.PathLike | None = None,
              device: torch.device | str = "cpu", models: ModelCache | None = None) -> nn.Module:
    """A frozen, eval-mode open_clip model, shared through `models` for the whole run.

    model_name: open_clip name (``RN101``, ``ViT-B-32``; ``ViT-B/32`` accepted) or a tiny test model.
    pretrained: open_clip pretrained tag (``openai``), or None for random weights.
    weights:    explicit checkpoint path (state dict or OpenAI TorchScript archive), or ``none`` for
                random weights; None looks at the env var, project and cache folders, then open_clip.
    Raises WeightsNotFoundError (one paragraph, no traceback in the CLI) when no weights are found.
    """
    device = torch.device(device)
    key = clip_key(model_name, pretrained, weights, device)
    if models is None:
        return _load(model_name, pretrained, weights, device)
    return models.get(key, lambda: _load(model_name, pretrained, weights, device))


def release_clip(models: ModelCache, model_name: str, pretrained: str | None = "openai",
                 weights: str | os.PathLike | None = None, device: torch.device | str = "cpu") -> None:
    """Drop the shared model (e.g. the saliency ViT once initialisation is over)."""
    models.release(clip_key(model_name, pretrained, weights, device))


def image_size(model: nn.Module) -> int:
    """Input side length the visual tower expects (224 for RN101 and ViT-B/32)."""
    size = getattr(model.visual, "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def get_tokenizer(model_name: str) -> Any:
    """open_clip's tokenizer for `model_name` (tiny models use the standard CLIP tokenizer)."""
    import open_clip

    name = known_name(model_name)
    return open_clip.get_tokenizer(name)


def clip_precision(device: torch.device) -> torch.autocast:
    """The precision CLIP's forwards run in on `device`: fp16 autocast on CUDA, as the reference
    implementations run CLIP (their GPU weights are fp16), full precision elsewhere. The weights stay
    fp32, so gradients and optimizer state are not fp16's."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


def resnet_features(visual: nn.Module, images: Tensor) -> tuple[list[Tensor], Tensor]:
    """Intermediate maps of an open_clip ModifiedResNet and its attention-pooled embedding.

    `images` are CLIP-normalised ``[B, 3, S, S]``. Returns ``([stem, layer1, layer2, layer3,
    layer4], embedding)``; for RN101 at 224 px: 64x56², 256x56², 512x28², 1024x14², 2048x7², 512.
    """
    x = images.to(visual.conv1.weight.dtype) if not torch.is_autocast_enabled() else images
    x0 = visual.stem(x)
    x1 = visual.layer1(x0)
    x2 = visual.layer2(x1)
    x3 = visual.layer3(x2)
    x4 = visual.layer4(x3)
    return [x0, x1, x2, x3, x4], visual.attnpool(x4)


# -- loading -----------------------------------------------------------------------------------
def _norm_weights(weights: str | os.PathLike | None) -> str | None:
    if weights is None:
        return None
    text = str(weights)
    return text.lower() if text.lower() in RANDOM_WEIGHTS else text


def known_name(model_name: str) -> str:
    """open_clip's name of `model_name` (see `canonical_name`), or ConfigError when open_clip has
    no such model (before any weights are looked for: a typo is not a missing file)."""
    import open_clip

    name = canonical_name(model_name)
    if name in TINY_CONFIGS:
        register_tiny_models()
    elif name not in open_clip.list_models():
        from vecrender.errors import ConfigError, did_you_mean

        raise ConfigError(
            f"unknown CLIP model {model_name!r}{did_you_mean(name, open_clip.list_models())}; open_clip knows "
            f"e.g. RN50, RN101, ViT-B-32, ViT-B-16 (tests: {', '.join(TINY_CONFIGS)}).")
    return name


def _load(model_name: str, pretrained: str | None, weights: str | os.PathLike | None,
          device: torch.device) -> nn.Module:
    name = known_name(model_name)
    w = _norm_weights(weights)
    if name in TINY_CONFIGS and w is None:
        w = "none"  # tiny models exist only with random weights
    if pretrained is None and w is None:
        w = "none"
    if w == "none":
        model = _create(name, None, quick_gelu=True)
    else:
        model = _load_pretrained(name, pretrained, w)
    model = model.to(device).eval()
    model.requires_grad_(False)
    return model


def _create(name: str, pretrained: str | None, quick_gelu: bool, cache: Path | None = None) -> nn.Module:
    import open_clip

    kwargs: dict[str, Any] = {"pretrained": pretrained, "force_quick_gelu": quick_gelu}
    if cache is not None:
        kwargs["cache_dir"] = str(cache)
    root = logging.getLogger()
    quiet = _DropRandomInitWarning()
    root.addFilter(quiet)  # random weights are intended here (or loaded right after): not worth a warning
    try:
        return open_clip.create_model(name, **kwargs)
    finally:
        root.removeFilter(quiet)


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Model initialized randomly" not in record.getMessage()


def _tag_quick_gelu(name: str, pretrained: str | None) -> bool:
    """OpenAI weights were trained with QuickGELU; open_clip records it per pretrained tag."""
    import open_clip

    if not pretrained:
        return True
    cfg = open_clip.get_pretrained_cfg(name, pretrained) or {}
    return bool(cfg.get("quick_gelu", pretrained == "openai"))


def _spec(name: str, pretrained: str | None) -> WeightSpec:
    return WeightSpec(name=f"CLIP {name} ({pretrained or 'no tag'})", filename=f"{name}.pt", subdir="clip",
                      env_var=env_var_for(name))


def _load_pretrained(name: str, pretrained: str | None, weights: str | None) -> nn.Module:
    spec = _spec(name, pretrained)
    looked = candidate_paths(spec, weights)
    quick_gelu = _tag_quick_gelu(name, pretrained)
    for label, path in looked:
        chosen = label in ("the configured path", f"${spec.env_var}")  # by the user, not found in a cache
        if path.is_file():
            model = _create(name, None, quick_gelu)
            _load_state(model, path, name, chosen)
            return model
        if chosen:
            raise WeightsNotFoundError(_message(name, pretrained, looked, "the named file does not exist"))
    open_clip_cache = cache_dir() / "open_clip"
    cached = _open_clip_cached(name, pretrained, open_clip_cache)
    if cached is not None:
        model = _create(name, None, quick_gelu)
        _load_state(model, cached, name)
        return model
    if offline():
        raise WeightsNotFoundError(_message(name, pretrained, looked, "downloads are disabled (VECRENDER_OFFLINE)"))
    no_network = unreachable(_download_url(name, pretrained))
    if no_network:
        raise WeightsNotFoundError(_message(name, pretrained, looked, no_network))
    try:
        with _quiet_download_logs():
            return _create(name, pretrained, quick_gelu, cache=open_clip_cache)
    except Exception as exc:  # network, HTTP, unknown tag: one clear message instead of a traceback
        reason = f"open_clip could not download them ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        raise WeightsNotFoundError(_message(name, pretrained, looked, reason)) from None


def _download_url(name: str, pretrained: str) -> str:
    """Where open_clip downloads these weights from (the Hugging Face hub unless a URL is given)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, pretrained) or {}
    return cfg.get("url") if cfg.get("url") and not cfg.get("hf_hub") else "https://huggingface.co"


@contextmanager
def _quiet_download_logs() -> Iterator[None]:
    """open_clip and huggingface_hub log every retry; our error message says what failed."""
    loggers = [logging.getLogger(), logging.getLogger("huggingface_hub")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _open_clip_cached(name: str, pretrained: str | None, cache: Path) -> Path | None:
    """A file open_clip already downloaded into `cache`, found without network access."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, pretrained) if pretrained else None
    if not cfg:
        return None
    hub = cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            pass
        else:
            repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
            names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
            for fname in names:
                found = try_to_load_from_cache(repo, fname, cache_dir=str(cache))
                if isinstance(found, str) and os.path.isfile(found):
                    return Path(found)
    url = cfg.get("url", "")
    if url:
        candidate = cache / os.path.basename(url)
        if candidate.is_file():
            return candidate
    return None


def _load_state(model: nn.Module, path: Path, name: str, chosen: bool = False) -> None:
    """Load a state dict or an OpenAI TorchScript archive into `model` (strict); a file that is
    neither, or another model's, gives :func:`unusable_weights`' one paragraph (whose advice
    depends on whether the user `chosen` the file or a cache held it)."""
    what = f"CLIP {name} weights"
    if chosen:
        remedy = (f"Point the weights option (or ${env_var_for(name)}) at a {name} checkpoint: OpenAI's {name}.pt "
                  f"or an open_clip state dict of that model.")
    else:
        remedy = f"Delete it (the next run downloads it again when online) or replace it with OpenAI's {name}.pt."
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        try:
            with warnings.catch_warnings():  # torch.jit is deprecated, but OpenAI's files are TorchScript
                warnings.simplefilter("ignore")
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
        except Exception:
            raise unusable_weights(what, path, error, remedy) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise unusable_weights(what, path, f"it holds a {type(state).__name__}, not a state dict", remedy)
    state = {k.removeprefix("module."): v for k, v in state.items()
             if k not in ("input_resolution", "context_length", "vocab_size")}
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (RuntimeError, AttributeError) as error:  # missing, unexpected or mis-shaped tensors
        raise unusable_weights(what, path, error, remedy) from None


def _message(name: str, pretrained: str | None, looked: list[tuple[str, Path]], reason: str) -> str:
    places = "; ".join(f"{label} {path}" for label, path in looked)
    cache = cache_dir() / "open_clip"
    return (
        f"Weights for CLIP {name} (pretrained {pretrained!r}) were not found. Looked at: {places}; "
        f"open_clip's download cache {cache}. Automatic download was not possible: {reason}. To get them, run once "
        f"with internet access (open_clip downloads them into {cache}), or copy an existing checkpoint "
        f"(e.g. OpenAI's {name}.pt from ~/.cache/clip) to {cache_dir() / 'clip' / (name + '.pt')} or "
        f"checkpoint/clip/{name}.pt, or set {env_var_for(name)}=/path/to/{name}.pt."
    )
