"""Saliency initialisation against independent re-computations of the reference formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from clipasso_helpers import photo
from vecrender.functional.augment import normalize
from vecrender.models.clip import clip_key
from vecrender_clipasso import saliency
from vecrender_clipasso.initializer import SaliencyInitializer


def reference_attention(model, image: torch.Tensor, size) -> np.ndarray:
    """Attention captured by nn.MultiheadAttention itself (need_weights=True, per head)."""
    visual = model.visual
    inputs = []
    handles = [b.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
               for b in visual.transformer.resblocks]
    with torch.no_grad():
        visual(normalize(image))
        rows = []
        for block, x in zip(visual.transformer.resblocks, inputs):
            h = block.ln_1(x)
            _, w = block.attn(h, h, h, need_weights=True, average_attn_weights=False)  # [B, heads, T, T]
            rows.append(w.clamp(min=0).mean(dim=1)[0, 0, 1:])
    for handle in handles:
        handle.remove()
    g = visual.grid_size
    cls = torch.stack(rows).mean(0).reshape(1, 1, *g)
    up = F.interpolate(cls, size=size, mode="bicubic", align_corners=False)[0, 0].numpy()
    return (up - up.min()) / (up.max() - up.min())


def test_attention_matches_multihead_attention_weights(tiny_vit):
    image = F.interpolate(photo(32), size=(224, 224), mode="bilinear")
    ours = saliency.vit_cls_attention(tiny_vit, image, (224, 224)).numpy()
    ref = reference_attention(tiny_vit, image, (224, 224))
    assert ours.shape == (224, 224)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert ours.min() == 0 and ours.max() == pytest.approx(1)


def test_attention_resizes_small_canvas_to_model_input(tiny_vit):
    small = photo(32)
    ours = saliency.vit_cls_attention(tiny_vit, small, (32, 32)).numpy()
    big = F.interpolate(small, size=(224, 224), mode="bicubic", align_corners=False)
    ref = reference_attention(tiny_vit, big, (32, 32))
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def reference_gradcam(model, image: torch.Tensor, text: str, size) -> np.ndarray:
    """Grad-CAM as the reference computes it: a hook that retains layer4's gradient during the
    whole visual tower's forward, backward from the image embedding with the text embedding."""
    from vecrender.models.clip import get_tokenizer

    visual, kept = model.visual, {}

    def keep(module, args, output):
        output = output.detach().requires_grad_()
        kept["act"] = output
        return output

    handle = visual.layer4.register_forward_hook(keep)
    with torch.no_grad():
        target = model.encode_text(get_tokenizer("tiny-RN")([text])).float()
    visual(normalize(image)).backward(target)
    handle.remove()
    act, grad = kept["act"].detach(), kept["act"].grad
    cam = (act * grad.mean(dim=(2, 3), keepdim=True)).sum(1, keepdim=True).clamp(min=0)
    up = F.interpolate(cam, size=size, mode="bicubic", align_corners=False)[0, 0].numpy()
    return (up - up.min()) / (up.max() - up.min())


@pytest.fixture(scope="module")
def tiny_rn():
    from vecrender.models.clip import load_clip

    torch.manual_seed(0)
    return load_clip("tiny-RN", pretrained=None)


def test_resnet_gradcam_matches_the_reference_hook_and_follows_the_text(tiny_rn):
    from vecrender.models.clip import get_tokenizer

    image = photo(64)  # tiny-RN's input size, as 224 is RN101's
    tokens = get_tokenizer("tiny-RN")
    ours = saliency.resnet_gradcam(tiny_rn, image, tokens(["dog"]), (64, 64)).numpy()
    np.testing.assert_allclose(ours, reference_gradcam(tiny_rn, image, "dog", (64, 64)), atol=1e-5)
    assert ours.shape == (64, 64) and ours.min() == 0 and ours.max() == pytest.approx(1)
    other = saliency.resnet_gradcam(tiny_rn, image, tokens(["none"]), (64, 64)).numpy()
    assert np.abs(other - ours).mean() > 1e-3  # the map depends on the text
    small = saliency.resnet_gradcam(tiny_rn, photo(32), tokens(["none"]), (32, 32)).numpy()
    big = F.interpolate(photo(32), size=(64, 64), mode="bicubic", align_corners=False)
    np.testing.assert_allclose(small, reference_gradcam(tiny_rn, big, "none", (32, 32)), atol=1e-5)
    assert small.max() == pytest.approx(1)
    # a text whose Grad-CAM is negative everywhere (the reference divides 0 by 0): zeros, not NaN
    assert not saliency.resnet_gradcam(tiny_rn, image, tokens(["a horse"]), (64, 64)).any()
    assert not any(p.grad is not None for p in tiny_rn.parameters())


def otsu(values: np.ndarray, bins: int = 256) -> float:
    hist, edges = np.histogram(values.ravel(), bins=bins, range=(values.min(), values.max()))
    centers = (edges[:-1] + edges[1:]) / 2
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    m1 = np.cumsum(hist * centers) / np.maximum(w1, 1)
    m2 = (np.cumsum((hist * centers)[::-1]) / np.maximum(w2[::-1], 1))[::-1]
    between = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    return centers[:-1][np.argmax(between)]


def reference_xdog(rgb: np.ndarray) -> np.ndarray:
    gray = rgb[..., 0] * 0.2125 + rgb[..., 1] * 0.7154 + rgb[..., 2] * 0.0721
    g1 = ndimage.gaussian_filter(gray, 0.8, mode="reflect", truncate=4.0)
    g2 = ndimage.gaussian_filter(gray, 8.0, mode="reflect", truncate=4.0)
    d = g1 - 0.98 * g2
    e = np.where(d < -0.1, 1.0, 1.0 + np.tanh(200 * d))
    e = (e - e.min()) / (e.max() - e.min())
    return (e >= otsu(e)).astype(np.float64)


def test_xdog_matches_independent_recomputation_on_clip_normalised_image():
    target = photo(64, seed=3)
    ours = saliency.clip_xdog(target)
    rgb = ((target[0].permute(1, 2, 0).double().numpy() - np.array([0.48145466, 0.4578275, 0.40821073]))
           / np.array([0.26862954, 0.26130258, 0.27577711]))
    ref = reference_xdog(rgb)
    assert ours.shape == (64, 64)
    assert set(np.unique(ours)) == {0.0, 1.0}
    assert (ours != ref).mean() < 1e-3
    assert 0.02 < (ours == 0).mean() < 0.6  # edges exist and are not everywhere


def test_xdog_mirrors_the_image_at_its_borders():
    """The reference blurs with scipy's default border (mirror): with dark bands along two borders
    the edges match the recomputation (within 0.1 % of pixels), where repeating the border pixel
    instead changes about 1 % of them."""
    image = normalize(photo(64, seed=5))[0].permute(1, 2, 0).numpy()
    image[:, :2] -= 1.0  # dark bands along two borders
    image[:2, :] -= 1.0
    ours = saliency.xdog(image)
    ref = reference_xdog(image.astype(np.float64))
    assert (ours != ref).mean() < 1e-3
    gray = image @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    blur = [ndimage.gaussian_filter(gray, sigma, mode="nearest") for sigma in (0.8, 8.0)]
    nearest = blur[0] - 0.98 * blur[1]
    e = np.where(nearest < -0.1, 1.0, 1.0 + np.tanh(200 * nearest))
    e = (e - e.min()) / (e.max() - e.min())
    assert ((e >= otsu(e)) != ours).mean() > 0.005  # the border rule matters on this image


def test_sampling_distribution_formula():
    rng = np.random.RandomState(0)
    attn = rng.rand(16, 16)
    edges = (rng.rand(16, 16) > 0.3).astype(float)
    prob = saliency.sampling_distribution(attn, edges, tau=0.3)
    a = (1 - edges) * (attn - attn.min()) / (attn.max() - attn.min())
    expected = np.where(a > 0, np.exp(a / 0.3), 0)
    expected /= expected.sum()
    np.testing.assert_allclose(prob, expected, rtol=1e-10, atol=1e-15)
    assert prob.sum() == pytest.approx(1)


def test_start_points_use_the_reference_sampler():
    rng = np.random.RandomState(1)
    prob = saliency.softmax_positive(rng.rand(20, 30) * (rng.rand(20, 30) > 0.5), 0.3)
    pts = saliency.sample_start_points(prob, prob, 12, seed=1000)
    idx = np.random.RandomState(1000).choice(600, size=12, replace=False, p=prob.ravel())
    np.testing.assert_array_equal(pts, np.stack([idx % 30, idx // 30], 1))  # (x = col, y = row)


def test_fallback_when_fewer_positive_pixels_than_strokes():
    prob = np.zeros((8, 8))
    prob[2, 3] = prob[5, 5] = 0.5
    attn = np.zeros((8, 8))
    attn[:2, :] = 1.0  # 16 pixels with attention
    pts = saliency.sample_start_points(prob, attn, 30, seed=0)
    flat = pts[:, 1] * 8 + pts[:, 0]
    assert len(set(flat.tolist())) == 30  # no pixel twice
    assert {2 * 8 + 3, 5 * 8 + 5} <= set(flat.tolist())  # every positive pixel first
    assert set(range(16)) <= set(flat.tolist())  # then the attention pixels, then uniform


def test_all_zero_maps_fall_back_to_uniform_and_too_many_strokes_fail():
    flat = np.zeros((4, 4))
    assert saliency.min_max(np.full((3, 3), 0.7)).max() == 0  # constant attention: zeros, not NaN
    pts = saliency.sample_start_points(flat, flat, 16, seed=0)
    assert len({tuple(p) for p in pts.tolist()}) == 16
    with pytest.raises(ValueError, match="cannot place 17 strokes"):
        saliency.sample_start_points(flat, flat, 17, seed=0)
    assert saliency.xdog(np.zeros((8, 8, 3))).min() == 1  # a flat image has no edges


def build(context, **options):
    opts = {"model": "tiny-ViT", "pretrained": None, **options}
    return SaliencyInitializer.from_dict(opts, context)


def test_initializer_scene_figure_and_release(context):
    init = build(context)
    target = photo(32)
    scene = init.initialize(8, 0, target)
    assert scene.points.shape == (8, 4, 2)
    assert scene.widths.tolist() == [3.0] * 8
    assert scene.stroke_colors.tolist() == [[0.0, 0.0, 0.0, 1.0]] * 8
    steps = (scene.points[:, 1:] - scene.points[:, :-1]).abs()
    assert steps.max() <= 0.025 * 32 + 1e-5 and steps.max() > 0
    attn, prob = init.maps(target)
    starts = saliency.sample_start_points(prob, attn, 8, 0)
    np.testing.assert_array_equal(scene.points[:, 0].numpy(), starts.astype(np.float32))
    assert (prob[starts[:, 1], starts[:, 0]] > 0).all()  # every start on a positive pixel
    again = build(context).initialize(8, 0, target)
    assert torch.equal(again.points, scene.points)
    assert not torch.equal(init.initialize(8, 1000, target).points, scene.points)
    figure = Image.open(context.out_dir / "attention_map.png")
    assert figure.width > 3 * 224 and figure.height > 224
    key = clip_key("tiny-ViT", None, None, context.device)
    assert key in context.models
    init.finish()
    assert key not in context.models


def test_initializer_uniform_mode_and_no_paths(context):
    init = build(context, attention=False)
    scene = init.initialize(5, 3, None)
    assert scene.points.shape == (5, 4, 2)
    assert build(context).initialize(0, 0, photo(32)).num_paths == 0


def test_initializer_needs_a_target_and_enough_pixels(context):
    from vecrender.errors import ConfigError

    with pytest.raises(ConfigError, match="--input"):
        build(context).initialize(4, 0, None)
    with pytest.raises(ConfigError, match="cannot place 1025 strokes on a 32x32 canvas"):
        build(context).initialize(1025, 0, photo(32))


@pytest.mark.parametrize("text", ["dog", "a horse"])  # a map, and one of zeros (uniform sampling)
def test_initializer_with_a_resnet_places_strokes_by_grad_cam(context, text):
    init = build(context, model="tiny-RN", text=text)
    target = photo(32)
    torch.manual_seed(0)  # the tiny_rn fixture's weights, for which these texts give a map and zeros
    scene = init.initialize(6, 0, target)
    attn, prob = init.maps(target)
    from vecrender.models.clip import get_tokenizer, load_clip

    model = load_clip("tiny-RN", None, None, context.device, context.models)
    expected = saliency.resnet_gradcam(model, target, get_tokenizer("tiny-RN")([text]), (32, 32))
    np.testing.assert_allclose(attn, expected.double().numpy(), atol=1e-6)
    starts = saliency.sample_start_points(prob, attn, 6, 0)
    np.testing.assert_array_equal(scene.points[:, 0].numpy(), starts.astype(np.float32))
    assert attn.max() == prob.sum() == pytest.approx(float(text == "dog"))  # zeros: uniform starts


def test_initializer_names_a_model_that_is_neither_vit_nor_resnet(context, monkeypatch):
    from types import SimpleNamespace

    from vecrender.errors import ConfigError
    from vecrender.models import clip

    monkeypatch.setattr(clip, "load_clip", lambda *args: SimpleNamespace(visual=torch.nn.Linear(2, 2)))
    with pytest.raises(ConfigError, match="'tiny-ViT' is neither a CLIP ViT nor a CLIP ResNet"):
        build(context).initialize(4, 0, photo(32))
