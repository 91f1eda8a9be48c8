"""vecrender.models.clip: lazy import, one frozen shared instance, weight lookup and clear errors."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from vecrender.components import ModelCache
from vecrender.errors import WeightsNotFoundError

open_clip = pytest.importorskip("open_clip")

from vecrender.models import clip as C  # noqa: E402


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("VECRENDER_OFFLINE", "1")
    monkeypatch.setenv("VECRENDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    for var in ("VECRENDER_CLIP_RN101", "VECRENDER_CLIP_TINY_RN"):
        monkeypatch.delenv(var, raising=False)


def test_importing_vecrender_does_not_import_open_clip():
    code = "import sys, vecrender, vecrender.models.clip; print('open_clip' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_env_var_names():
    assert C.env_var_for("RN101") == "VECRENDER_CLIP_RN101"
    assert C.env_var_for("ViT-B/32") == "VECRENDER_CLIP_VIT_B_32"
    assert C.clip_key("ViT-B/32", "openai") == C.clip_key("ViT-B-32", "openai")


def test_one_frozen_eval_instance_per_run():
    models = ModelCache()
    a = C.load_clip("tiny-RN", pretrained=None, models=models)
    b = C.load_clip("tiny-RN", pretrained=None, models=models)
    assert a is b
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    assert isinstance(a.visual.attnpool, torch.nn.Module)  # ModifiedResNet code path
    vit = C.load_clip("tiny-ViT", pretrained=None, models=models)
    assert type(vit.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert C.image_size(vit) == 224 and C.image_size(a) == 64
    C.release_clip(models, "tiny-RN", pretrained=None)
    assert C.load_clip("tiny-RN", pretrained=None, models=models) is not a


def test_resnet_features_shapes():
    model = C.load_clip("tiny-RN", pretrained=None)
    x = torch.rand(2, 3, 64, 64)
    feats, emb = C.resnet_features(model.visual, x)
    assert [f.shape[-1] for f in feats] == [16, 16, 8, 4, 2]
    assert emb.shape == (2, 32)
    torch.testing.assert_close(emb, model.encode_image(x))  # same path as open_clip's own forward


def test_explicit_checkpoint_is_loaded(tmp_path):
    source = C.load_clip("tiny-RN", pretrained=None)
    path = tmp_path / "tiny.pt"
    torch.save(source.state_dict(), path)
    loaded = C.load_clip("tiny-RN", pretrained="openai", weights=str(path))
    for (k, v), (_, w) in zip(source.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(v, w), k


@pytest.mark.parametrize("content", ["truncated", "png", "other model"])
@pytest.mark.parametrize("where", ["given", "cached"])
def test_an_unusable_checkpoint_is_one_paragraph_naming_it(tmp_path, content, where):
    """A damaged cached file is to be deleted (downloaded again); a file the user named, pointed
    elsewhere. (Tiny models are never looked up in the cache: the loading step is called as a
    cache hit calls it.)"""
    path = tmp_path / "RN.pt"
    torch.save(C.load_clip("tiny-RN", pretrained=None).state_dict(), path)
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif content == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    else:
        torch.save(C.load_clip("tiny-ViT", pretrained=None).state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a deprecation warning beside it
        with pytest.raises(WeightsNotFoundError) as err:
            if where == "given":
                C.load_clip("tiny-RN", pretrained="openai", weights=str(path))
            else:
                C._load_state(C.load_clip("tiny-RN", pretrained=None), path, "tiny-RN")
    msg = str(err.value)
    assert "\n" not in msg and f"The CLIP tiny-RN weights file {path} cannot be used" in msg
    if where == "given":
        assert msg.endswith("Point the weights option (or $VECRENDER_CLIP_TINY_RN) at a tiny-RN checkpoint: "
                            "OpenAI's tiny-RN.pt or an open_clip state dict of that model.")
    else:
        assert "Delete it (the next run downloads it again when online)" in msg and "tiny-RN.pt" in msg


def test_an_unknown_model_name_is_a_typo_not_missing_weights(caplog):
    from vecrender.errors import ConfigError

    for load in (C.load_clip, C.get_tokenizer):
        with pytest.raises(ConfigError, match=r"^unknown CLIP model 'RN102' \(did you mean 'RN101'"):
            load("RN102")
    assert not caplog.records  # nor open_clip's "Model configuration not found" on the root logger


def test_missing_weights_offline_is_one_paragraph(tmp_path):
    with pytest.raises(WeightsNotFoundError) as err:
        C.load_clip("RN101", pretrained="openai")
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("CLIP RN101", "checkpoint/clip/RN101.pt", str(tmp_path / "cache"), "VECRENDER_CLIP_RN101",
                   "VECRENDER_OFFLINE"):
        assert needle in msg, needle
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        C.load_clip("RN101", weights=str(tmp_path / "missing.pt"))
