"""U^2-Net (full model, 3 input channels, 1 output) for CLIPasso's background masking.

The module and parameter names follow the published architecture, so the state dict of the
published ``u2net.pth`` loads as is (``stage1.rebnconvin.conv_s1.weight``, ..., ``side1`` ..
``side6``, ``outconv``). ``width`` scales every channel count: tests build a small network with
random weights (``width=0.125``); the published weights need ``width=1``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vecrender.weights import WeightSpec, how_to_get, load_checkpoint, resolve_weights, unusable_weights

#: Where the published weights are looked up and fetched from (Hugging Face, PyTorch-SVGRender's
#: model repository: a zip archive holding u2net.pth). md5 as published with the U^2-Net weights.
U2NET_WEIGHTS = WeightSpec(
    name="U2Net background masking",
    filename="u2net.pth",
    subdir="u2net",
    env_var="VECRENDER_U2NET",
    url="https://huggingface.co/xingxm/PyTorch-SVGRender-models/resolve/main/u2net.zip",
    checksum="md5:09fb4e49b7f785c9f855baf94916840a",
    note=("The same file is published by the U^2-Net authors (github.com/xuebinqin/U-2-Net, "
          "Google Drive id 1ao1ovG1Qtx4b7EoskHXmi2E9rp5CHLcZ, 176 MB). Masking is off by default; "
          "it only runs when the recipe lists the clipasso.u2net_mask preprocessor."),
)


class REBNConv(nn.Module):
    """3x3 (dilated) convolution, batch norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


def upsample_like(x: Tensor, ref: Tensor) -> Tensor:
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of height `height` (RSU-7 ... RSU-4): an encoder-decoder inside a stage."""

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.height = height
        self.rebnconvin = REBNConv(in_ch, out_ch)
        self.rebnconv1 = REBNConv(out_ch, mid_ch)
        for i in range(2, height):
            setattr(self, f"rebnconv{i}", REBNConv(mid_ch, mid_ch))
        setattr(self, f"rebnconv{height}", REBNConv(mid_ch, mid_ch, dilation=2))
        for i in range(height - 1, 1, -1):
            setattr(self, f"rebnconv{i}d", REBNConv(2 * mid_ch, mid_ch))
        self.rebnconv1d = REBNConv(2 * mid_ch, out_ch)

    def forward(self, x: Tensor) -> Tensor:
        hxin = self.rebnconvin(x)
        encoded = [self.rebnconv1(hxin)]
        for i in range(2, self.height):
            pooled = F.max_pool2d(encoded[-1], 2, stride=2, ceil_mode=True)
            encoded.append(getattr(self, f"rebnconv{i}")(pooled))
        hx = getattr(self, f"rebnconv{self.height}")(encoded[-1])
        for i in range(self.height - 1, 0, -1):
            hx = getattr(self, f"rebnconv{i}d")(torch.cat([hx, encoded[i - 1]], 1))
            if i > 1:
                hx = upsample_like(hx, encoded[i - 2])
        return hx + hxin


class RSU4F(nn.Module):
    """RSU-4F: dilated convolutions instead of pooling (the two deepest stages)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.rebnconvin = REBNConv(in_ch, out_ch)
        self.rebnconv1 = REBNConv(out_ch, mid_ch)
        self.rebnconv2 = REBNConv(mid_ch, mid_ch, 2)
        self.rebnconv3 = REBNConv(mid_ch, mid_ch, 4)
        self.rebnconv4 = REBNConv(mid_ch, mid_ch, 8)
        self.rebnconv3d = REBNConv(2 * mid_ch, mid_ch, 4)
        self.rebnconv2d = REBNConv(2 * mid_ch, mid_ch, 2)
        self.rebnconv1d = REBNConv(2 * mid_ch, out_ch)

    def forward(self, x: Tensor) -> Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat([hx4, hx3], 1))
        hx2d = self.rebnconv2d(torch.cat([hx3d, hx2], 1))
        return self.rebnconv1d(torch.cat([hx2d, hx1], 1)) + hxin


class U2Net(nn.Module):
    """U^2-Net: six encoder stages, five decoder stages, six side outputs fused by a 1x1 conv.

    ``forward`` returns the seven sigmoid maps ``(fused, side1, ..., side6)`` at input resolution.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 1, width: float = 1.0) -> None:
        super().__init__()

        def c(n: int) -> int:
            return max(1, int(round(n * width)))

        self.stage1 = RSU(7, in_ch, c(32), c(64))
        self.stage2 = RSU(6, c(64), c(32), c(128))
        self.stage3 = RSU(5, c(128), c(64), c(256))
        self.stage4 = RSU(4, c(256), c(128), c(512))
        self.stage5 = RSU4F(c(512), c(256), c(512))
        self.stage6 = RSU4F(c(512), c(256), c(512))
        self.stage5d = RSU4F(c(1024), c(256), c(512))
        self.stage4d = RSU(4, c(1024), c(128), c(256))
        self.stage3d = RSU(5, c(512), c(64), c(128))
        self.stage2d = RSU(6, c(256), c(32), c(64))
        self.stage1d = RSU(7, c(128), c(16), c(64))
        self.side1 = nn.Conv2d(c(64), out_ch, 3, padding=1)
        self.side2 = nn.Conv2d(c(64), out_ch, 3, padding=1)
        self.side3 = nn.Conv2d(c(128), out_ch, 3, padding=1)
        self.side4 = nn.Conv2d(c(256), out_ch, 3, padding=1)
        self.side5 = nn.Conv2d(c(512), out_ch, 3, padding=1)
        self.side6 = nn.Conv2d(c(512), out_ch, 3, padding=1)
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        encoders = [self.stage1, self.stage2, self.stage3, self.stage4, self.stage5]
        skips = []
        hx = x
        for stage in encoders:
            hx = stage(hx)
            skips.append(hx)
            hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        hx6 = self.stage6(hx)
        decoders = [self.stage5d, self.stage4d, self.stage3d, self.stage2d, self.stage1d]
        hx = hx6
        decoded = []
        for stage, skip in zip(decoders, reversed(skips)):
            hx = stage(torch.cat([upsample_like(hx, skip), skip], 1))
            decoded.append(hx)
        hx1d, hx2d, hx3d, hx4d, hx5d = reversed(decoded)
        d1 = self.side1(hx1d)
        sides = [d1] + [upsample_like(side(h), d1) for side, h in
                        ((self.side2, hx2d), (self.side3, hx3d), (self.side4, hx4d), (self.side5, hx5d),
                         (self.side6, hx6))]
        d0 = self.outconv(torch.cat(sides, 1))
        return tuple(torch.sigmoid(d) for d in (d0, *sides))


def load_u2net(weights: str | Path | None = None, width: float = 1.0,
               device: torch.device | str = "cpu") -> U2Net:
    """An eval-mode, frozen U2Net. `weights`: path, ``"none"`` (random, tests), or None (search).

    None looks at ``$VECRENDER_U2NET``, ``./checkpoint/u2net/u2net.pth``, the user cache, then
    downloads (see :data:`U2NET_WEIGHTS`); WeightsNotFoundError when all fail.
    """
    model = U2Net(3, 1, width)
    random_weights = weights is not None and str(weights).lower() in ("none", "random")
    if not random_weights:
        if width != 1.0:
            from vecrender.errors import ConfigError

            raise ConfigError(f"clipasso.u2net_mask: width {width} only works with random weights "
                              f"(weights: none); the published u2net.pth has width 1.")
        path = resolve_weights(U2NET_WEIGHTS, explicit=weights)
        if weights is not None:  # the user's own file
            remedy = "Point weights at the published u2net.pth, or set it to none for random weights."
        else:
            remedy = (f"Delete it (the next run downloads it again when online) or replace it. "
                      f"{how_to_get(U2NET_WEIGHTS)}")
        try:
            load_state(model, load_checkpoint(path, "U2Net weights", remedy))
        except (RuntimeError, AttributeError) as error:  # missing, unexpected or mis-shaped tensors
            raise unusable_weights("U2Net weights", path, error, remedy) from None
    model.eval().requires_grad_(False)
    return model.to(device)


def load_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Strict load, tolerating only BatchNorm counters missing from checkpoints of old PyTorch."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    model.load_state_dict(state, strict=True)
