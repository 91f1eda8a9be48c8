"""Loss components: the core test kit's contract checks, registration, and component behaviour."""

from __future__ import annotations

import pytest
import torch
from losses_helpers import NAMES, random_alexnet_checkpoint

import vecrender
from vecrender.components import LossInput, RunContext
from vecrender.errors import ConfigError, WeightsNotFoundError
from vecrender.scene import VectorScene
from vecrender.testing import check_loss, make_test_image, random_scene, registered
from vecrender_losses import clip_losses, losses
from vecrender_losses.functional import path_lengths
from vecrender_losses.lpips_model import backbone_spec, load_lpips

@pytest.mark.parametrize("name", NAMES)
def test_registered_by_the_losses_plugin(name):
    entry = registered("loss", name, plugin="losses")
    assert entry.distribution == "vecrender-losses" and entry.description


# -- contract checks (vecrender.testing.check_loss) -------------------------------------------
@pytest.mark.parametrize("cls", [losses.Ssim, losses.MsSsim, losses.Edge, losses.Udf])
def test_image_loss_contract_with_gradcheck(cls):
    terms = check_loss(cls, needs_target=True, deterministic=True)
    assert (terms["value"] > 0).all()


@pytest.mark.parametrize("cls", [losses.Ssim, losses.MsSsim, losses.Edge, losses.Udf])
def test_image_loss_contract_on_filled_shapes(cls):
    # vectorize optimises the points and fill colors of closed shapes: both must get gradients.
    check_loss(cls, needs_target=True, params=("points", "fill_colors"))


def test_ssim_small_window_contract():
    check_loss(losses.Ssim, {"win_size": 3}, needs_target=True, deterministic=True)


@pytest.mark.parametrize(("override", "message"), [
    ("losses.ssim.win_size=4", r"losses\[ssim\] \(ssim\)\.win_size: must be odd"),
    ("losses.ssim.use=ms_ssim", None),
    ("losses.ssim={use: ms_ssim, weights: [0, 0]}", r"\.weights: expected 1 to 5 scale weights, not all 0"),
    ("losses.ssim={use: udf, max_distance: 0}", r"\.max_distance: must be > 0"),
])
def test_bad_loss_options_fail_when_the_recipe_loads(override, message):
    from vecrender.recipe import load_recipe

    if message is None:
        entry = next(e for e in load_recipe("vectorize", [override]).losses if e["label"] == "ssim")
        assert entry["use"] == "ms_ssim" and "win_size" not in entry and entry["weight"] == 1.0  # a new loss
    else:
        with pytest.raises(ConfigError, match=message):
            load_recipe("vectorize", [override])


def test_ms_ssim_checks_its_window_against_the_canvas_before_the_run():
    loss = losses.MsSsim.from_dict({"win_size": 5}, RunContext(width=64, height=64))
    with pytest.raises(ConfigError, match=r"win_size: 5 is too large for a 64x64 canvas \(at most 3\)"):
        loss.prepare(make_test_image(64))
    losses.MsSsim.from_dict({"win_size": 3}, RunContext(width=64, height=64)).prepare(make_test_image(64))


def test_lpips_contract(lpips_backbone):
    terms = check_loss(losses.Lpips, {"net": "alex"}, needs_target=True, size=32)
    assert (terms["value"] > 0).all()


def test_lpips_float64_gradcheck(lpips_backbone):
    loss = losses.Lpips.from_dict({"net": "alex"}, RunContext(width=32, height=32))
    target = make_test_image(32).double()
    images = (0.2 + 0.6 * torch.rand(2, 3, 32, 32, dtype=torch.float64)).requires_grad_()

    def value(x):
        return loss(LossInput(x, torch.ones(2, 4, 32, 32, dtype=torch.float64), [], target, 0, False))

    assert torch.autograd.gradcheck(value, (images,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)


@pytest.mark.parametrize("cls, options, params", [
    (losses.StrokeLength, {}, ("points",)),
    (losses.WidthSparsity, {}, ("widths",)),
    (losses.WidthSparsity, {"power": 0.5, "scale": 2.0}, ("widths",)),
    (losses.OpacitySparsity, {}, ("stroke_colors",)),
    (losses.OpacitySparsity, {"colors": "fill"}, ("fill_colors",)),
    (losses.SelfIntersection, {"paths": "all"}, ("points",)),
])
def test_regulariser_contract(cls, options, params):
    terms = check_loss(cls, options, needs_target=False, params=params)
    assert (terms["value"] > 0).all()


def test_clip_text_contract(tiny_clip):
    check_loss(clip_losses.ClipText, {**tiny_clip, "prompt": "a red bicycle"}, needs_target=False)


def test_clip_image_contract(tiny_clip):
    check_loss(clip_losses.ClipImage, tiny_clip, needs_target=True)


# -- CLIP losses ---------------------------------------------------------------------------------
def _batch(images: torch.Tensor, target=None, training=True) -> LossInput:
    rgba = torch.cat([images, torch.ones_like(images[:, :1])], dim=1)
    return LossInput(images, rgba, [], target, 0, training)


def test_clip_text_prompt_from_context_and_clear_error(tiny_clip):
    loss = clip_losses.ClipText.from_dict(tiny_clip, RunContext(width=32, height=32, prompt="a cat"))
    assert loss.prompt == "a cat"
    own = clip_losses.ClipText.from_dict({**tiny_clip, "prompt": "a dog"}, RunContext(prompt="a cat"))
    assert own.prompt == "a dog"
    missing = clip_losses.ClipText.from_dict(tiny_clip, RunContext(width=32, height=32))
    with pytest.raises(ConfigError, match="--prompt"):
        missing.prepare(None)


def test_clip_text_rejects_a_prompt_longer_than_the_context(tiny_clip):
    context = RunContext(width=32, height=32, prompt="a cat " * 37)  # 74 + start and end: 76 tokens
    loss = clip_losses.ClipText.from_dict(tiny_clip, context)
    loss.prepare(None)
    longer = clip_losses.ClipText.from_dict(tiny_clip, RunContext(width=32, height=32, prompt="a cat " * 38))
    with pytest.raises(ConfigError, match="is 78 CLIP tokens long, over the text encoder's 77"):
        longer.prepare(None)


def test_clip_text_is_zero_when_text_matches_the_view(tiny_clip):
    # With one plain view, the loss is 1 - cos(text, view): give the text the view's own embedding.
    context = RunContext(width=32, height=32, prompt="x")
    loss = clip_losses.ClipText.from_dict({**tiny_clip, "augmentations": 0}, context)
    images = make_test_image(32)
    loss.prepare(None)
    loss.text_emb = loss.encode(loss.views(images, None))[0]
    assert loss(_batch(images)).item() == pytest.approx(0.0, abs=1e-5)
    other = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert loss(_batch(other)).item() > 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_clip_text_runs_clip_in_fp16_on_cuda(tiny_clip):
    # As the reference implementations, whose CLIP weights are fp16 on CUDA; ours stay fp32 (autocast).
    results = {}
    for device in ("cpu", "cuda"):
        context = RunContext(width=32, height=32, prompt="a cat", device=torch.device(device))
        loss = clip_losses.ClipText.from_dict({**tiny_clip, "augmentations": 0}, context)
        loss.prepare(None)
        dtypes = []
        hook = loss.model.visual.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
        images = make_test_image(32).to(device).requires_grad_()
        value = loss(_batch(images, training=False))
        value.backward()
        hook.remove()
        assert next(loss.model.parameters()).dtype == torch.float32 and value.dtype == torch.float32
        results[device] = dtypes, value.item(), images.grad.cpu()
    assert results["cpu"][0] == [torch.float32] and results["cuda"][0] == [torch.float16]
    assert results["cuda"][1] == pytest.approx(results["cpu"][1], abs=1e-2)
    assert torch.isfinite(results["cuda"][2]).all()


def test_clip_text_negatives_and_sum_reduction(tiny_clip):
    context = RunContext(width=32, height=32, prompt="a red bicycle")
    plain = clip_losses.ClipText.from_dict({**tiny_clip, "reduction": "sum"}, context)
    negative = clip_losses.ClipText.from_dict(
        {**tiny_clip, "reduction": "sum", "clipdraw_negatives": True, "negative_prompts": ["blurry"]}, context)
    assert negative.negatives == ["blurry", "A badly drawn sketch.", "Many ugly, messy drawings."]
    for loss in (plain, negative):
        loss.prepare(None)
    assert negative.negative_emb.shape[0] == 3
    images = make_test_image(32).repeat(2, 1, 1, 1)
    a, b = plain(_batch(images, training=False)), negative(_batch(images, training=False))
    emb, _ = negative.embed_views(images, training=False)  # the same fixed-seed views
    cos = torch.nn.functional.cosine_similarity(emb[:, :, None], negative.negative_emb[None, None], dim=-1)
    assert torch.allclose(b - a, 0.3 * cos.sum(dim=(1, 2)), atol=1e-5)


def test_clip_losses_share_one_model_per_run(tiny_clip):
    context = RunContext(width=32, height=32, prompt="a boat")
    text = clip_losses.ClipText.from_dict(tiny_clip, context)
    image = clip_losses.ClipImage.from_dict(tiny_clip, context)
    assert text.model is image.model
    assert not any(p.requires_grad for p in text.model.parameters())


def test_clip_image_zero_for_the_target_itself(tiny_clip):
    loss = clip_losses.ClipImage.from_dict(tiny_clip, RunContext(width=32, height=32))
    target = make_test_image(32)
    value = loss(_batch(target.repeat(2, 1, 1, 1), target, training=True))
    assert torch.allclose(value, torch.zeros(2), atol=1e-5)  # paired views: identical images, identical views


def test_clip_options_validated(tiny_clip):
    with pytest.raises(ConfigError, match="augmentations"):
        clip_losses.ClipText.from_dict({**tiny_clip, "augmentations": -1})
    with pytest.raises(ConfigError, match="crop_scale"):
        clip_losses.ClipText.from_dict({**tiny_clip, "crop_scale": [0.9, 0.7]})
    with pytest.raises(ConfigError, match="reduction"):
        clip_losses.ClipText.from_dict({**tiny_clip, "reduction": "max"})


# -- LPIPS weights -------------------------------------------------------------------------------
def test_lpips_backbone_loaded_from_the_torch_hub_cache(lpips_backbone):
    model = load_lpips("alex")
    state = torch.load(lpips_backbone, weights_only=True)
    assert torch.equal(model.net.slice1[0].weight, state["features.0.weight"])
    assert torch.equal(model.net.slice5._modules["10"].bias, state["features.10.bias"])
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def test_lpips_explicit_path_wins(lpips_backbone, tmp_path):
    explicit = random_alexnet_checkpoint(tmp_path / "mine.pth", seed=7)
    model = load_lpips("alex", explicit)
    assert torch.equal(model.net.slice1[0].weight, torch.load(explicit, weights_only=True)["features.0.weight"])


def test_lpips_missing_backbone_is_one_clear_error(hub_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    filename = backbone_spec("vgg").filename
    with pytest.raises(WeightsNotFoundError) as info:
        load_lpips("vgg")
    message = str(info.value)
    assert filename in message and str(hub_dir / "checkpoints") in message and "\n" not in message
    loss = losses.Lpips.from_dict({"backbone_weights": str(tmp_path / "nope.pth")}, RunContext())
    with pytest.raises(WeightsNotFoundError, match="nope.pth"):
        loss.prepare(make_test_image(32))


def test_lpips_foreign_checkpoint_is_rejected(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsNotFoundError, match="not a torchvision"):
        load_lpips("alex", bad)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsNotFoundError, match="cannot be used.*truncated, damaged"):
        load_lpips("alex", tmp_path / "junk.pth")


def test_lpips_zero_for_identical_images(lpips_backbone):
    loss = losses.Lpips.from_dict({"net": "alex"}, RunContext(width=32, height=32))
    target = make_test_image(32)
    other = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    value = loss(_batch(torch.cat([target, other]), target))
    assert value[0].item() == pytest.approx(0.0, abs=1e-6) and value[1].item() > 0


# -- geometry components -------------------------------------------------------------------------
def test_stroke_length_counts_stroked_paths_in_diagonals():
    scene = random_scene(3, 16, seed=0)
    loss = losses.StrokeLength.from_dict({})
    full = loss(LossInput(torch.ones(1, 3, 16, 16), torch.ones(1, 4, 16, 16), [scene], None))
    pixels = path_lengths(scene.points, scene.num_segments, scene.closed).sum()
    assert torch.allclose(full, (pixels / (2 * 16**2) ** 0.5)[None])
    scene.widths[0] = 0.0  # a fill-only path does not count
    fewer = loss(LossInput(torch.ones(1, 3, 16, 16), torch.ones(1, 4, 16, 16), [scene], None))
    assert fewer.item() < full.item()


def test_opacity_sparsity_auto_uses_fill_alpha_of_filled_shapes():
    scene = random_scene(4, 16, seed=0, fills=True)
    scene.widths[scene.closed] = 0.0
    loss = losses.OpacitySparsity.from_dict({})
    alphas = loss.alphas(scene)
    assert torch.equal(alphas[scene.closed], scene.fill_colors[scene.closed, 3])
    assert torch.equal(alphas[~scene.closed], scene.stroke_colors[~scene.closed, 3])
    no_fill = random_scene(2, 16)
    with pytest.raises(ConfigError, match="no fill colors"):
        losses.OpacitySparsity.from_dict({"colors": "fill"}).alphas(no_fill)


def test_self_intersection_closed_only_by_default():
    loop = torch.tensor([[[0, 0], [10, 0], [10, 10], [-5, -5], [0, 20], [-10, 10], [0, 0]]], dtype=torch.float32)
    scene = VectorScene(points=(loop + 20).repeat(2, 1, 1), widths=torch.zeros(2), stroke_colors=torch.zeros(2, 4),
                        fill_colors=torch.ones(2, 4), closed=torch.tensor([True, False]), width=40, height=40)
    batch = LossInput(torch.ones(1, 3, 40, 40), torch.ones(1, 4, 40, 40), [scene], None)
    closed_only = losses.SelfIntersection.from_dict({})(batch)
    everything = losses.SelfIntersection.from_dict({"paths": "all"})(batch)
    assert closed_only.item() > 0.1
    assert everything.item() == pytest.approx(closed_only.item())  # same loop twice, averaged over 2 paths


def test_target_losses_explain_a_missing_target():
    with pytest.raises(ConfigError, match="--input"):
        losses.Ssim.from_dict({})(_batch(torch.ones(1, 3, 16, 16)))


def test_components_are_plain_vecrender_losses():
    for cls in (*losses.LOSSES, clip_losses.ClipText, clip_losses.ClipImage):
        assert issubclass(cls, vecrender.Loss) and cls.description()


# -- LIVE's stage-aware losses -------------------------------------------------------------------
def _shapes(centers_radii, size=48, alpha=1.0) -> VectorScene:
    from vecrender_losses.initializers import circle_paths

    points = torch.cat([circle_paths(torch.tensor([c], dtype=torch.float32), 4, r) for c, r in centers_radii])
    n = points.shape[0]
    fills = torch.tensor([[0.2, 0.4, 0.8, alpha]]).repeat(n, 1)
    return VectorScene(points=points, widths=torch.zeros(n), stroke_colors=torch.zeros(n, 4), fill_colors=fills,
                       closed=torch.ones(n, dtype=torch.bool), width=size, height=size)


def _udf_batch(scene: VectorScene, stage_start: int, training: bool = True) -> LossInput:
    from vecrender.builtins.renderers import NativeRenderer
    from vecrender.runner import composite

    rgba = NativeRenderer().render([scene])
    target = torch.full((1, 3, scene.height, scene.width), 0.5)
    return LossInput(composite(rgba, [scene]), rgba, [scene], target, 0, training, stage_start)


def test_udf_weights_the_current_stage_silhouettes():
    """A shape under an earlier one that covers the canvas (LIVE's background shape) is invisible
    in the render, yet its silhouette's contour weighs: the loss and its gradient live there."""
    scene = _shapes([((24.0, 24.0), 60.0), ((24.0, 24.0), 6.0)])
    loss = losses.Udf.from_dict({})
    weight = loss.weights([scene], 1)[0]
    ring = torch.hypot(*torch.meshgrid(torch.arange(48) + 0.5 - 24, torch.arange(48) + 0.5 - 24, indexing="ij"))
    assert weight[(ring - 6).abs() < 1].min() > 0.8 and weight[ring > 17].max() == 0
    assert loss.weights([scene], 0)[0].max() == 0  # both shapes: no contour on the canvas
    scene.requires_grad_(["points"])
    loss(_udf_batch(scene, 1)).sum().backward()
    assert scene.points.grad[0].abs().max() == 0 and scene.points.grad[1].abs().max() > 0


def test_udf_l1_weighs_absolute_errors_by_the_same_map():
    scene = _shapes([((24.0, 24.0), 60.0), ((24.0, 24.0), 6.0)])
    batch = _udf_batch(scene, 1)
    l1 = losses.Udf.from_dict({"norm": "l1"})
    weight = l1.weights([scene], 1)
    expected = (weight * (batch.images - batch.target).abs().sum(dim=1)).mean(dim=(1, 2))
    assert torch.allclose(l1(batch), expected) and expected.item() > 0
    assert not torch.allclose(losses.Udf.from_dict({})(batch), expected)


def test_udf_keeps_the_bands_of_earlier_stages_and_resumes_them():
    first = _shapes([((12.0, 12.0), 5.0)])
    grown = _shapes([((12.0, 12.0), 5.0), ((36.0, 36.0), 5.0)])
    loss = losses.Udf.from_dict({})
    loss(_udf_batch(first, 0))  # the last step of stage 1
    value = loss(_udf_batch(grown, 1))  # stage 2 keeps stage 1's band
    alone = losses.Udf.from_dict({})(_udf_batch(grown, 1))  # a loss that saw no stage 1
    kept = loss.state_dict()["kept"][0]
    assert kept[12, 16] > 0.9 and kept[36, 36] == 0 and value.item() > alone.item()  # [y, x]: on its contour
    restored = losses.Udf.from_dict({})
    restored.load_state_dict(loss.state_dict())
    assert torch.equal(restored(_udf_batch(grown, 1)), loss(_udf_batch(grown, 1)))
    evaluated = losses.Udf.from_dict({})
    evaluated(_udf_batch(first, 0))
    evaluated(_udf_batch(grown, 1, training=False))  # evaluation passes change nothing
    assert evaluated.state_dict()["kept"] is None


def test_self_intersection_penalises_the_current_stage_only():
    loop = torch.tensor([[[0, 0], [10, 0], [10, 10], [-5, -5], [0, 20], [-10, 10], [0, 0]]], dtype=torch.float32)
    circle = _shapes([((20.0, 20.0), 5.0)], 40).points[:, :7]  # 2 segments, no loop
    scene = VectorScene(points=torch.cat([loop + 20, circle]), widths=torch.zeros(2), stroke_colors=torch.zeros(2, 4),
                        fill_colors=torch.ones(2, 4), closed=torch.ones(2, dtype=torch.bool), width=40, height=40)
    images, rgba = torch.ones(1, 3, 40, 40), torch.ones(1, 4, 40, 40)
    loss = losses.SelfIntersection.from_dict({})
    both = loss(LossInput(images, rgba, [scene], None, 0, True, 0))
    newest = loss(LossInput(images, rgba, [scene], None, 0, True, 1))
    assert both.item() > 0.05 and newest.item() == pytest.approx(0.0, abs=1e-6)


# -- VGG perceptual (DiffVG painterly) -----------------------------------------------------------
def _painterly_reference(features: torch.nn.Module, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DiffVG painterly's loss as its code runs: the VGG16 stack split before the ReLUs at
    0/3/8/15/22/29 with torchvision's in-place ReLUs, unit features, channel sum of squares,
    spatial mean, summed over the stages, plus the squared mean difference (one image)."""
    groups = [features[a:b] for a, b in zip((0, 3, 8, 15, 22), (3, 8, 15, 22, 29))]
    shift = torch.tensor([0.485, 0.456, 0.406], dtype=image.dtype).view(1, 3, 1, 1)
    scale = torch.tensor([0.229, 0.224, 0.225], dtype=image.dtype).view(1, 3, 1, 1)

    def feats(x):
        x, out = (x - shift) / scale, []
        for group in groups:
            x = group(x)
            out.append(x)  # the next group's in-place ReLU changes it
        return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) for f in out]

    diffs = [((p - t) ** 2).sum(1).mean((1, 2)) for p, t in zip(feats(image), feats(target))]
    return sum(diffs).mean(0) + (image.mean() - target.mean()) ** 2


def test_vgg_perceptual_matches_diffvg_painterly(vgg16_backbone):
    loss = losses.VggPerceptual.from_dict({}, RunContext(width=32, height=32))
    loss.prepare(None)
    target = make_test_image(32)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    values = loss(_batch(images, target))
    assert values.shape == (2,)
    for i in range(2):
        expected = _painterly_reference(loss.features, images[i:i + 1], target)
        assert values[i].item() == pytest.approx(expected.item(), rel=1e-5)
    no_mean = losses.VggPerceptual.from_dict({"mean_color": False}, RunContext(width=32, height=32))
    mean_term = (images.mean(dim=(1, 2, 3)) - target.mean()) ** 2
    torch.testing.assert_close(values - no_mean(_batch(images, target)), mean_term, rtol=1e-4, atol=1e-7)
    assert loss(_batch(target, target)).item() == pytest.approx(0.0, abs=1e-6)


def test_vgg_perceptual_contract_and_gradcheck(vgg16_backbone):
    terms = check_loss(losses.VggPerceptual, needs_target=True, size=32)
    assert (terms["value"] > 0).all()
    loss = losses.VggPerceptual.from_dict({}, RunContext(width=16, height=16))
    target = make_test_image(16).double()
    images = (0.2 + 0.6 * torch.rand(2, 3, 16, 16, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: loss(_batch(x, target, training=False)), (images,), eps=1e-6,
                                    atol=1e-5, rtol=1e-3, fast_mode=True)


def test_vgg_perceptual_weights_are_checked(hub_dir, tmp_path, monkeypatch):
    from losses_helpers import random_alexnet_checkpoint

    from vecrender_losses.lpips_model import load_vgg16_features

    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFoundError) as info:
        losses.VggPerceptual.from_dict({}, RunContext()).prepare(make_test_image(16))
    assert backbone_spec("vgg").filename in str(info.value) and "\n" not in str(info.value)
    alexnet = random_alexnet_checkpoint(tmp_path / "alexnet.pth")
    with pytest.raises(WeightsNotFoundError, match="not a torchvision vgg checkpoint: features.0.weight is shape"):
        load_vgg16_features(alexnet)


# -- STROTSS style (StyleCLIPDraw) ---------------------------------------------------------------
@pytest.fixture
def style_png(tmp_path):
    from vecrender.testing import write_test_image

    return write_test_image(tmp_path / "style.png", 24)


def _style_loss(style_png, canvas=16, **options):
    options = {"style_image": str(style_png), "style_samples": 200, "locations": 64, **options}
    return losses.StrotssStyle.from_dict(options, RunContext(width=canvas, height=canvas))


def test_strotss_style_contract(vgg16_backbone, style_png):
    options = {"style_image": str(style_png), "style_samples": 200, "locations": 64}
    terms = check_loss(losses.StrotssStyle, options, needs_target=False, size=16)
    assert (terms["value"] > 0).all()


def test_strotss_style_prefers_the_style_image_and_has_gradients(vgg16_backbone, style_png):
    loss = _style_loss(style_png)
    loss.prepare(None)
    assert loss.style.shape == (2179, 200)  # 3 + 64 + 64 + 128 + 128 + 256 * 3 + 512 * 2 channels
    style = make_test_image(16)  # the style image's own content at the canvas size
    grey = torch.full_like(style, 0.5)
    values = loss(_batch(torch.cat([style, grey]), training=False))
    assert values[0] < 0.7 * values[1]
    image = (0.2 + 0.6 * torch.rand(2, 3, 16, 16, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: loss(_batch(x, training=False)), (image,), eps=1e-6, atol=1e-5,
                                    rtol=1e-3, fast_mode=True)


def test_strotss_style_image_is_resized_by_its_long_edge(vgg16_backbone, tmp_path):
    from PIL import Image

    Image.new("RGB", (60, 30), (200, 30, 30)).save(tmp_path / "wide.png")
    assert _style_loss(tmp_path / "wide.png").style_image().shape == (1, 3, 8, 16)  # the canvas width
    assert _style_loss(tmp_path / "wide.png", size=20).style_image().shape == (1, 3, 10, 20)


def test_strotss_style_errors(vgg16_backbone, tmp_path):
    from vecrender.errors import InputImageError

    with pytest.raises(ConfigError, match="needs a style image: set its style_image"):
        losses.StrotssStyle.from_dict({}, RunContext())
    with pytest.raises(InputImageError, match="strotss_style.*style_image: input image .*missing.png.* does not exist"):
        _style_loss(tmp_path / "missing.png").prepare(None)
