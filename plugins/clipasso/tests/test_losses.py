"""CLIP losses on fixed inputs against direct re-computation, shared batch and forward, eval mode."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from clipasso_helpers import photo
from vecrender.components import LossInput, ModelCache, RunContext
from vecrender.functional import augment as A
from vecrender.models.clip import load_clip
from vecrender_clipasso.losses import ClipViT, Geometric, Semantic

SIZE = 64  # tiny-RN takes 64 px input (RN101: 224)


def ctx():
    return RunContext(width=SIZE, height=SIZE, models=ModelCache())


def pair(context, **options):
    opts = {"model": "tiny-RN", "pretrained": None, **options}
    return Geometric.from_dict(opts, context), Semantic.from_dict(opts, context)


def batch(images, target, training, step=0):
    return LossInput(images, torch.cat([images, torch.ones_like(images[:, :1])], 1), [], target, step, training)


def sketches(n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(photo(32, seed), size=(SIZE, SIZE), mode="bilinear")
    return (base.expand(n, -1, -1, -1) * 0.5 + 0.5 * torch.rand(n, 3, SIZE, SIZE, generator=g)).contiguous()


def target():
    return F.interpolate(photo(32, 7), size=(SIZE, SIZE), mode="bilinear")


def features(model, x):
    v = model.visual
    x = A.normalize(x)
    s = v.stem(x)
    l1 = v.layer1(s)
    l2 = v.layer2(l1)
    l3 = v.layer3(l2)
    return l2, l3, v.attnpool(v.layer4(l3))


def test_eval_terms_equal_direct_formulas():
    context = ctx()
    geo, sem = pair(context)
    t, imgs = target(), sketches(2)
    geo.prepare(t)
    sem.prepare(t)
    b = batch(imgs, t, training=False)
    with torch.no_grad():
        g, s = geo(b), sem(b)
        model = load_clip("tiny-RN", pretrained=None, models=context.models)
        f2, f3, emb = features(model, imgs)
        t2, t3, temb = features(model, t)
    assert set(g) == {"layer2", "layer3"}
    torch.testing.assert_close(g["layer2"], ((f2 - t2) ** 2).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(g["layer3"], ((f3 - t3) ** 2).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(s, 1 - F.cosine_similarity(emb, temb.expand_as(emb), dim=1))
    assert g["layer2"].shape == (2,) and (g["layer2"] > 0).all()
    # eval is deterministic: no augmentation
    with torch.no_grad():
        torch.testing.assert_close(geo(batch(imgs, t, training=False, step=1))["layer3"], g["layer3"])


def test_training_batch_is_shared_and_pairs_are_augmented_identically():
    context = ctx()
    geo, sem = pair(context)
    t = target()
    geo.prepare(t)
    calls = []
    handle = geo.visual.layer1.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        imgs = sketches(3)
        b = batch(imgs, t, training=True, step=5)
        torch.manual_seed(0)
        g, _s = geo(b), sem(b)
        # one pass for both losses: 3 x (clean + 4) sketch views, then 3 x 4 target views (both in
        # per-sketch chunks on CPU)
        assert calls == [5, 5, 5, 4, 4, 4]
        # identical sketch and target -> identical views -> zero loss (same parameters within a pair)
        same = t.expand(2, -1, -1, -1).contiguous()
        bs = batch(same, t, training=True, step=6)
        torch.manual_seed(1)
        zero_g, zero_s = geo(bs), sem(bs)
        assert max(v.abs().max().item() for v in zero_g.values()) < 1e-10
        assert zero_s.abs().max().item() < 1e-5
    finally:
        handle.remove()
    # training differs from eval (augmented views count) and its per-sketch mean covers 5 views
    with torch.no_grad():
        ev = geo(batch(imgs, t, training=False))
    assert not torch.allclose(ev["layer2"], g["layer2"])


def test_training_loss_equals_mean_over_views_with_shared_params():
    context = ctx()
    geo, sem = pair(context)
    t, imgs = target(), sketches(2)
    geo.prepare(t)
    generators = [torch.Generator().manual_seed(seed) for seed in (3, 4)]
    # one feature pass for both losses: each sketch's 4 views drawn once, from its own generator
    step = dataclasses.replace(batch(imgs, t, True, 9), generators=generators)
    g, s = geo(step), sem(step)
    params = A.sample_sketch_views([torch.Generator().manual_seed(seed) for seed in (3, 4)], 4, SIZE, SIZE,
                                   size=SIZE)
    model = load_clip("tiny-RN", pretrained=None, models=context.models)
    with torch.no_grad():
        views = A.apply_augment(imgs.repeat_interleave(4, 0), params).view(2, 4, 3, SIZE, SIZE)
        sk = torch.cat([imgs[:, None], views], 1)
        target_views = A.apply_augment(t.expand(8, -1, -1, -1), params).view(2, 4, 3, SIZE, SIZE)
        tg = torch.cat([t.expand(2, 1, 3, SIZE, SIZE), target_views], 1)
        f2, f3, e = features(model, sk.reshape(10, 3, SIZE, SIZE))
        t2, t3, te = features(model, tg.reshape(10, 3, SIZE, SIZE))
    torch.testing.assert_close(g["layer2"], ((f2 - t2) ** 2).reshape(2, -1).mean(1), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g["layer3"], ((f3 - t3) ** 2).reshape(2, -1).mean(1), rtol=1e-4, atol=1e-6)
    cos = F.cosine_similarity(e, te, dim=1).reshape(2, 5)
    torch.testing.assert_close(s, (1 - cos).mean(1), rtol=1e-4, atol=1e-6)


def test_each_sketch_depends_only_on_itself_and_gets_gradients():
    context = ctx()
    geo, sem = pair(context)
    t = target()
    geo.prepare(t)
    imgs = sketches(2).requires_grad_(True)
    torch.manual_seed(0)
    total = geo(batch(imgs, t, True, 1))
    value = sum(total.values()) + 0.1 * sem(batch(imgs, t, True, 1))
    value.sum().backward()
    assert imgs.grad.abs().sum(dim=(1, 2, 3)).min() > 0
    other = imgs.detach().clone()
    other[1] = 1 - other[1]
    torch.manual_seed(0)
    changed = geo(batch(other, t, True, 2))
    torch.testing.assert_close(changed["layer2"][0], total["layer2"][0].detach())
    assert not torch.allclose(changed["layer2"][1], total["layer2"][1].detach())


def test_model_is_frozen_shared_and_target_computed_once():
    context = ctx()
    geo, sem = pair(context)
    assert geo.model is sem.model
    assert not any(p.requires_grad for p in geo.model.parameters()) and not geo.model.training
    t = target()
    geo.prepare(t)
    calls = []
    assert geo.visual is sem.visual  # on CPU: one BatchNorm-folded copy for both
    h = geo.visual.layer1.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        sem.prepare(t)
        with torch.no_grad():
            geo(batch(sketches(1), t, False))
    finally:
        h.remove()
    assert calls == [1]  # only the sketch: the target's clean features are cached


def test_clip_vit_loss_eval_and_training_shapes():
    context = ctx()
    loss = ClipViT.from_dict({"model": "tiny-ViT", "pretrained": None}, context)
    t, imgs = target(), sketches(2)
    loss.prepare(t)
    with torch.no_grad():
        ev = loss(batch(imgs, t, False))
        model = load_clip("tiny-ViT", pretrained=None, models=context.models)
        big = A.resize_center_crop(imgs, 224)  # tiny-ViT takes 224 px input, like ViT-B/32
        expected = 1 - F.cosine_similarity(model.encode_image(A.normalize(big)),
                                           model.encode_image(A.normalize(A.resize_center_crop(t, 224))))
    torch.testing.assert_close(ev, expected)
    torch.manual_seed(0)
    tr = loss(batch(imgs, t, True))
    assert tr.shape == (2,) and (tr > ev).all()  # a sum over 4 views


def test_invalid_options_are_config_errors():
    from vecrender.errors import ConfigError

    with pytest.raises(ConfigError, match="layer_weights"):
        Geometric.from_dict({"layer_weights": [1, 1]}, ctx())
    with pytest.raises(ConfigError, match="distance"):
        Geometric.from_dict({"distance": "cos"}, ctx())
    for cls in (Geometric, Semantic, ClipViT):  # each CLIP loss holds its augmentation options to the same rules
        with pytest.raises(ConfigError, match=r"\.num_augs: must be >= 0, got -1"):
            cls.from_dict({"num_augs": -1}, ctx())
        with pytest.raises(ConfigError, match=r"\.crop_scale: expected \[low, high\] with low <= high"):
            cls.from_dict({"crop_scale": [0.9, 0.5]}, ctx())
        with pytest.raises(ConfigError, match=r"\.distortion_scale: must be in \[0, 1\], got 1.5"):
            cls.from_dict({"distortion_scale": 1.5}, ctx())


def test_cpu_layout_and_chunks_keep_values_and_gradients():
    """The CPU path (BatchNorm folded, channels_last, per-sketch chunks, target views without grad)
    against one plain NCHW batch through the unfolded model: same losses and same image gradients up
    to float tolerance (with non-trivial BatchNorm statistics: random init has mean 0, var 1)."""
    context = ctx()
    geo, sem = pair(context)
    g0 = torch.Generator().manual_seed(5)
    for m in load_clip("tiny-RN", pretrained=None, models=context.models).modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for buf, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0), (m.weight, 0.5, 1.5),
                                (m.bias, -0.3, 0.3)):
                buf.data.copy_(lo + (hi - lo) * torch.rand(buf.shape, generator=g0))
    t = target()
    geo.prepare(t)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in geo.visual.modules())
    imgs = sketches(3, seed=4).requires_grad_(True)
    torch.manual_seed(11)
    b = batch(imgs, t, True, 3)
    g, s = geo(b), sem(b)
    (g["layer2"] + g["layer3"] + 0.1 * s).sum().backward()
    ours = imgs.grad.clone()

    direct = imgs.detach().clone().requires_grad_(True)
    torch.manual_seed(11)
    params = A.sample_augment_params(12, SIZE, SIZE, size=SIZE)
    model = load_clip("tiny-RN", pretrained=None, models=context.models)
    views = A.apply_augment(direct.repeat_interleave(4, 0), params).view(3, 4, 3, SIZE, SIZE)
    sk = torch.cat([direct[:, None], views], 1)
    with torch.no_grad():
        tg = torch.cat([t.expand(3, 1, 3, SIZE, SIZE),
                        A.apply_augment(t.expand(12, -1, -1, -1), params).view(3, 4, 3, SIZE, SIZE)], 1)
        t2, t3, te = features(model, tg.reshape(15, 3, SIZE, SIZE))
    f2, f3, e = features(model, sk.reshape(15, 3, SIZE, SIZE))
    l2 = ((f2 - t2) ** 2).reshape(3, -1).mean(1)
    l3 = ((f3 - t3) ** 2).reshape(3, -1).mean(1)
    sem_direct = (1 - F.cosine_similarity(e, te, dim=1).reshape(3, 5)).mean(1)
    (l2 + l3 + 0.1 * sem_direct).sum().backward()
    torch.testing.assert_close(g["layer2"].detach(), l2.detach(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g["layer3"].detach(), l3.detach(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(s.detach(), sem_direct.detach(), rtol=1e-4, atol=1e-6)
    assert ours.abs().sum() > 0
    torch.testing.assert_close(ours, direct.grad, rtol=1e-4, atol=1e-6)
