"""U2Net layout against the published checkpoint, weight lookup, and the masking formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vecrender.errors import WeightsNotFoundError
from vecrender_clipasso.masking import U2NetMask, apply_mask, u2net_mask
from vecrender_clipasso.u2net import U2Net, load_state, load_u2net

# The published U2NET (full, in 3, out 1): stage name -> (block, input, middle, output channels).
PUBLISHED = {
    "stage1": ("RSU7", 3, 32, 64), "stage2": ("RSU6", 64, 32, 128), "stage3": ("RSU5", 128, 64, 256),
    "stage4": ("RSU4", 256, 128, 512), "stage5": ("RSU4F", 512, 256, 512), "stage6": ("RSU4F", 512, 256, 512),
    "stage5d": ("RSU4F", 1024, 256, 512), "stage4d": ("RSU4", 1024, 128, 256), "stage3d": ("RSU5", 512, 64, 128),
    "stage2d": ("RSU6", 256, 32, 64), "stage1d": ("RSU7", 128, 16, 64),
}
SIDES = {"side1": 64, "side2": 64, "side3": 128, "side4": 256, "side5": 512, "side6": 512}


def rebnconv(prefix: str, cin: int, cout: int) -> dict[str, tuple]:
    out = {f"{prefix}.conv_s1.weight": (cout, cin, 3, 3), f"{prefix}.conv_s1.bias": (cout,)}
    for p in ("weight", "bias", "running_mean", "running_var"):
        out[f"{prefix}.bn_s1.{p}"] = (cout,)
    out[f"{prefix}.bn_s1.num_batches_tracked"] = ()
    return out


def published_layout() -> dict[str, tuple]:
    keys: dict[str, tuple] = {}
    for stage, (block, cin, mid, cout) in PUBLISHED.items():
        height = 4 if block == "RSU4F" else int(block[3:])
        keys |= rebnconv(f"{stage}.rebnconvin", cin, cout)
        keys |= rebnconv(f"{stage}.rebnconv1", cout, mid)
        for i in range(2, height + 1):
            keys |= rebnconv(f"{stage}.rebnconv{i}", mid, mid)
        for i in range(height - 1, 1, -1):
            keys |= rebnconv(f"{stage}.rebnconv{i}d", 2 * mid, mid)
        keys |= rebnconv(f"{stage}.rebnconv1d", 2 * mid, cout)
    for side, cin in SIDES.items():
        keys[f"{side}.weight"], keys[f"{side}.bias"] = (1, cin, 3, 3), (1,)
    keys["outconv.weight"], keys["outconv.bias"] = (1, 6, 1, 1), (1,)
    return keys


def test_state_dict_matches_published_checkpoint_layout():
    ours = {k: tuple(v.shape) for k, v in U2Net().state_dict().items()}
    expected = published_layout()
    assert sorted(ours) == sorted(expected)
    assert ours == expected
    # spot checks written out by hand from the published checkpoint
    assert ours["stage1.rebnconvin.conv_s1.weight"] == (64, 3, 3, 3)
    assert ours["stage1.rebnconv7.conv_s1.weight"] == (32, 32, 3, 3)
    assert ours["stage5d.rebnconvin.conv_s1.weight"] == (512, 1024, 3, 3)
    assert ours["stage1d.rebnconv1d.conv_s1.weight"] == (64, 32, 3, 3)
    assert len(ours) == 798
    assert sum(p.numel() for p in U2Net().parameters()) == 44_009_869  # the published 176 MB float32 file


def test_loads_checkpoint_without_batchnorm_counters(tmp_path):
    small = U2Net(width=0.125)
    state = {k: torch.randn_like(v.float()) if v.is_floating_point() else v
             for k, v in small.state_dict().items() if not k.endswith("num_batches_tracked")}
    fresh = U2Net(width=0.125)
    load_state(fresh, state)
    torch.testing.assert_close(fresh.stage3.rebnconv2.conv_s1.weight, state["stage3.rebnconv2.conv_s1.weight"])
    with pytest.raises(RuntimeError):
        load_state(fresh, {k: v for k, v in state.items() if k != "outconv.bias"})


def test_weights_from_env_var_load_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "u2net.pth"
    torch.save(U2Net().state_dict(), path)
    monkeypatch.setenv("VECRENDER_U2NET", str(path))
    model = load_u2net()
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_an_unusable_weights_file_is_one_paragraph_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "u2net.pth"
    monkeypatch.setenv("VECRENDER_U2NET", str(path))
    for content in (b"", lambda: torch.save(U2Net(width=0.125).state_dict(), path)):
        path.write_bytes(content) if isinstance(content, bytes) else content()
        with pytest.raises(WeightsNotFoundError) as err:
            load_u2net()
        msg = str(err.value)
        assert "\n" not in msg and f"The U2Net weights file {path} cannot be used" in msg, msg
        assert "Delete it" in msg and "huggingface.co" in msg
        with pytest.raises(WeightsNotFoundError) as err:  # a file the user named is not the cache's to delete
            load_u2net(weights=path)
        assert str(err.value).endswith("Point weights at the published u2net.pth, or set it to none for random "
                                       "weights.")


def test_missing_weights_offline_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFoundError) as err:
        load_u2net()
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("u2net.pth", "checkpoint/u2net/u2net.pth", "huggingface.co", "VECRENDER_U2NET",
                   "VECRENDER_OFFLINE"):
        assert needle in msg, needle


class FakeNet(torch.nn.Module):
    """Returns a fixed map (the left half of the input is 'object')."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = None
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        self.seen = x
        w = x.shape[-1]
        out = torch.zeros(1, 1, *x.shape[-2:])
        out[..., : w // 2] = 0.9
        out[..., w // 2:] = 0.1
        return (out,)


def test_mask_resizes_normalises_thresholds_like_the_reference():
    image = torch.rand(1, 3, 400, 640)
    net = FakeNet()
    mask = u2net_mask(net, image)
    assert net.seen.shape == (1, 3, 320, 512)  # short side 400 -> 320, aspect kept
    assert net.seen.min() < -1.0  # CLIP-normalised input
    assert mask.shape == (400, 640) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[:, :318].min() == 1 and mask[:, 322:].max() == 0
    small = torch.rand(1, 3, 100, 60)
    u2net_mask(net, small)
    assert net.seen.shape == (1, 3, 100, 60)  # already below 320: unchanged


def test_apply_mask_paints_background_white_and_rescales():
    image = torch.full((1, 3, 4, 4), 0.5)
    image[..., 0, 0] = 0.8
    mask = np.ones((4, 4))
    mask[:, 2:] = 0
    out = apply_mask(image, mask)
    assert out[..., :, 2:].min() == 1.0
    expected = np.floor(0.5 / 0.8 * 255) / 255
    assert out[0, 0, 1, 1].item() == pytest.approx(expected, abs=1e-6)


def test_preprocessor_with_small_random_network_writes_mask(context):
    pre = U2NetMask.from_dict({"weights": "none", "width": 0.0625}, context)
    torch.manual_seed(0)
    out = pre(torch.rand(1, 3, 48, 40))
    assert out.shape == (1, 3, 48, 40) and 0 <= out.min() and out.max() <= 1
    assert (context.out_dir / "mask.png").is_file()
