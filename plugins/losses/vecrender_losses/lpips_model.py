"""Build an LPIPS network (or a bare VGG16 feature stack) without letting torchvision download anything.

The ``lpips`` package ships its learned linear layers (``lpips/weights/v0.1/<net>.pth``) but takes
the VGG16 / AlexNet backbone from torchvision, which downloads ImageNet weights on first use. Here
the backbone is built with random weights and then filled from a checkpoint we find ourselves:

1. an explicit path (the loss's ``backbone_weights`` option), or ``$VECRENDER_LPIPS_BACKBONE``;
2. the torch hub cache, ``torch.hub.get_dir()/checkpoints/<torchvision file name>``, where
   torchvision itself saves it (so a machine that ever ran torchvision's VGG has it);
3. ``./checkpoint/lpips/<file>`` and the vecrender cache (:mod:`vecrender.weights`), downloading
   from torchvision's address unless offline.

Anything else raises :class:`vecrender.errors.WeightsNotFoundError` with one paragraph that says
where we looked and how to get the file. A checkpoint may hold the whole torchvision model or only
its convolutional ``features`` part (keys ``features.<i>.weight``). :func:`load_vgg16_features`
reads the same VGG16 checkpoint into torchvision's ``vgg16().features`` (the ``vgg_perceptual`` loss).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from vecrender.errors import WeightsNotFoundError
from vecrender.weights import WeightSpec, load_checkpoint, resolve_weights

#: lpips net name -> torchvision model name.
BACKBONES = {"vgg": "vgg16", "alex": "alexnet"}
ENV_VAR = "VECRENDER_LPIPS_BACKBONE"


def backbone_spec(net: str) -> WeightSpec:
    """Where the ImageNet checkpoint of `net`'s backbone lives (file name and URL from torchvision)."""
    if net not in BACKBONES:
        raise ValueError(f"net must be one of {', '.join(BACKBONES)}, got {net!r}")
    from torchvision.models import get_model_weights

    url = get_model_weights(BACKBONES[net]).IMAGENET1K_V1.url
    filename = url.rsplit("/", 1)[-1]
    hub = Path(torch.hub.get_dir()) / "checkpoints" / filename
    return WeightSpec(
        name=f"torchvision's ImageNet {BACKBONES[net]}",
        filename=filename,
        subdir="lpips",
        env_var=ENV_VAR,
        url=url,
        note=f"torchvision's own cache location {hub} is also searched; the loss option "
             "backbone_weights names the file explicitly.",
    )


def resolve_backbone(net: str, explicit: str | os.PathLike | None = None) -> Path:
    """Path of the backbone checkpoint (see the module docstring for the search order)."""
    spec = backbone_spec(net)
    if not explicit and not os.environ.get(ENV_VAR):
        hub = Path(torch.hub.get_dir()) / "checkpoints" / spec.filename
        if hub.is_file():
            return hub
    return resolve_weights(spec, explicit=explicit)


def load_backbone(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy torchvision ``features.<i>.*`` tensors into an ``lpips.LPIPS`` model's backbone slices."""
    backbone = model.net
    params = [(f"features.{layer_name}.{param_name}", param)
              for index in range(1, backbone.N_slices + 1)
              for layer_name, layer in getattr(backbone, f"slice{index}").named_children()
              for param_name, param in layer.named_parameters(recurse=False)]
    _copy_features(params, state, source, model.pnet_type)


def _copy_features(params: list[tuple[str, torch.Tensor]], state: dict[str, torch.Tensor], source: str,
                   net: str) -> None:
    """Fill each ``(checkpoint key, parameter)`` from `state`, or say which key does not fit."""
    with torch.no_grad():
        for key, param in params:
            value = state.get(key)
            if value is None or value.shape != param.shape:
                found = "missing" if value is None else f"shape {list(value.shape)}"
                raise WeightsNotFoundError(
                    f"{source} is not a torchvision {net} checkpoint: {key} is {found} "
                    f"(expected {list(param.shape)}). Point backbone_weights at the ImageNet file "
                    f"torchvision publishes for {BACKBONES[net]}."
                )
            param.copy_(value)
    if not params:
        raise WeightsNotFoundError(f"{source}: the {net} backbone has no parameters to load.")


def _read_checkpoint(net: str, backbone_weights: str | os.PathLike | None) -> tuple[dict[str, torch.Tensor], Path]:
    path = resolve_backbone(net, backbone_weights)
    state = load_checkpoint(path, f"{BACKBONES[net]} checkpoint",
                            f"Replace it with torchvision's {BACKBONES[net]} ImageNet file.")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state, path


def _frozen(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def load_vgg16_features(backbone_weights: str | os.PathLike | None = None) -> torch.nn.Module:
    """torchvision's ``vgg16().features`` with the ImageNet checkpoint (found as for LPIPS ``vgg``),
    frozen and in eval mode. Raises WeightsNotFoundError like :func:`load_lpips`."""
    from torchvision.models import vgg16

    state, path = _read_checkpoint("vgg", backbone_weights)
    features = vgg16(weights=None).features
    _copy_features([(f"features.{name}", p) for name, p in features.named_parameters()], state, str(path), "vgg")
    return _frozen(features)


def load_lpips(net: str = "vgg", backbone_weights: str | os.PathLike | None = None) -> torch.nn.Module:
    """A frozen, eval-mode ``lpips.LPIPS`` with package linear layers and a local backbone checkpoint.

    Raises WeightsNotFoundError when the backbone checkpoint cannot be found or is not valid.
    """
    state, path = _read_checkpoint(net, backbone_weights)
    import lpips

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=` argument
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    load_backbone(model, state, str(path))
    return _frozen(model)
