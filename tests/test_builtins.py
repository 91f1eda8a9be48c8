"""Built-in components: random-walk geometry, initializers, pixel losses, adam, pad_square, painterly."""

from __future__ import annotations

import pytest
import torch

from vecrender.builtins.initializers import RandomInit, SvgInit
from vecrender.builtins.losses import L1Loss, L2Loss
from vecrender.builtins.optimizers import Adam
from vecrender.builtins.preprocessors import Fit, PadSquare
from vecrender.components import LossInput, RunContext
from vecrender.errors import ConfigError, InputImageError
from vecrender.functional import paths as fp
from vecrender.scene import VectorScene


# -- functional/paths -----------------------------------------------------------------------------
def test_random_walk_shape_bound_and_chaining():
    starts = torch.tensor([[10.0, 20.0], [30.0, 5.0], [0.0, 0.0]])
    points = fp.random_walk_paths(starts, 2, (2.0, 0.5), fp.make_generator(3))
    assert points.shape == (3, 7, 2)
    assert torch.equal(points[:, 0], starts)
    steps = points[:, 1:] - points[:, :-1]
    assert steps[..., 0].abs().max() <= 2.0 and steps[..., 1].abs().max() <= 0.5
    # chained, not independent around the start: later points wander further than one step
    assert (points[:, -1] - starts)[..., 0].abs().max() > 2.0


def test_random_walk_is_deterministic_per_seed():
    starts = fp.uniform_points(5, 64, 32, fp.make_generator(0))
    a = fp.random_walk_paths(starts, 1, 3.0, fp.make_generator(7))
    b = fp.random_walk_paths(starts, 1, 3.0, fp.make_generator(7))
    c = fp.random_walk_paths(starts, 1, 3.0, fp.make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_uniform_points_in_canvas():
    pts = fp.uniform_points(1000, 40, 10, fp.make_generator(0))
    assert pts[:, 0].min() >= 0 and pts[:, 0].max() < 40 and pts[:, 1].max() < 10
    assert pts[:, 0].max() > 35 and pts[:, 1].max() > 9  # covers the canvas, x and y not swapped


@pytest.mark.parametrize("bad", [dict(num_segments=0), dict(step_px=-1.0), dict(step_px=(1.0, 2.0, 3.0))])
def test_random_walk_rejects_bad_arguments(bad):
    args = dict(starts=torch.zeros(2, 2), num_segments=1, step_px=1.0, generator=fp.make_generator(0))
    with pytest.raises(ValueError):
        fp.random_walk_paths(**{**args, **bad})
    with pytest.raises(ValueError, match=r"starts must be \[N, 2\]"):
        fp.random_walk_paths(torch.zeros(2, 3), 1, 1.0, fp.make_generator(0))


def test_polygon_points_are_straight_cubics_through_the_corners():
    corners = torch.tensor([[[0.0, 0.0], [3.0, 0.0], [3.0, 6.0]], [[1.0, 1.0], [4.0, 1.0], [1.0, 4.0]]])
    points = fp.polygon_points(corners)
    assert points.shape == (2, 10, 2)
    assert torch.equal(points[:, ::3], torch.cat([corners, corners[:, :1]], 1))  # ends on the first corner
    ends = points[:, ::3]
    thirds = torch.stack([ends[:, :-1] + (ends[:, 1:] - ends[:, :-1]) * k / 3 for k in (1, 2)], 2)
    assert torch.allclose(points[:, 1:].reshape(2, 3, 3, 2)[:, :, :2], thirds)  # controls on the chords


def test_pad_after_segments_repeats_the_last_valid_point():
    points = torch.arange(2 * 7 * 2, dtype=torch.float32).reshape(2, 7, 2)
    padded = fp.pad_after_segments(points, torch.tensor([1, 2]))
    assert torch.equal(padded[0, :4], points[0, :4])
    assert torch.equal(padded[0, 4:], points[0, 3].expand(3, 2))
    assert torch.equal(padded[1], points[1])


def test_random_colors_alpha_range():
    colors = fp.random_colors(500, fp.make_generator(0), (0.3, 0.8))
    assert colors.shape == (500, 4)
    assert colors[:, 3].min() >= 0.3 and colors[:, 3].max() <= 0.8
    assert colors[:, :3].min() < 0.05 and colors[:, :3].max() > 0.95
    with pytest.raises(ValueError, match="alpha_range"):
        fp.random_colors(2, fp.make_generator(0), (0.9, 0.1))


# -- random initializer ---------------------------------------------------------------------------
def ctx(width: int = 224, height: int = 224) -> RunContext:
    return RunContext(width=width, height=height)


def test_random_init_clipasso_defaults():
    scene = RandomInit.from_dict({}, ctx()).initialize(16, seed=0, target=None)
    assert scene.points.shape == (16, 4, 2) and scene.points.dtype == torch.float32
    assert torch.all(scene.widths == 3.0)
    assert torch.equal(scene.stroke_colors, torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(16, 4))
    assert scene.fill_colors is None and not scene.closed.any()
    steps = (scene.points[:, 1:] - scene.points[:, :-1]).abs()
    assert steps.max() <= 0.025 * 224 + 1e-4  # +-5.6 px per axis on a 224 canvas
    assert (scene.width, scene.height) == (224, 224)


def test_random_init_step_scales_per_axis():
    scene = RandomInit.from_dict({"step": 0.1, "segments": 3}, ctx(200, 20)).initialize(64, 0, None)
    steps = (scene.points[:, 1:] - scene.points[:, :-1]).abs()
    assert steps[..., 0].max() <= 20.0 + 1e-4 and steps[..., 0].max() > 15.0
    assert steps[..., 1].max() <= 2.0 + 1e-4


def test_random_init_seeds():
    init = RandomInit.from_dict({}, ctx(64, 64))
    assert torch.equal(init.initialize(8, 5, None).points, init.initialize(8, 5, None).points)
    assert not torch.equal(init.initialize(8, 5, None).points, init.initialize(8, 6, None).points)


def test_random_init_clipdraw_options():
    init = RandomInit.from_dict({"segments": 1, "max_segments": 3, "step": 0.05, "random_color": True,
                                 "alpha_range": [0.2, 0.6]}, ctx(64, 64))
    scene = init.initialize(200, 0, None)
    assert scene.points.shape == (200, 10, 2)
    assert set(scene.num_segments.tolist()) == {1, 2, 3}
    for n, k in enumerate(scene.num_segments.tolist()):  # padding repeats the end point
        assert torch.equal(scene.points[n, 3 * k:], scene.points[n, 3 * k].expand(10 - 3 * k, 2))
    assert scene.stroke_colors[:, 3].min() >= 0.2 and scene.stroke_colors[:, 3].max() <= 0.6
    assert scene.stroke_colors[:, :3].std() > 0.2


def test_random_init_closed_blobs():
    scene = RandomInit.from_dict({"closed": True, "segments": 3, "random_color": True, "width": 0.0},
                                 ctx(32, 32)).initialize(6, 0, None)
    assert scene.closed.all() and scene.fill_colors is not None
    assert torch.equal(scene.fill_colors, scene.stroke_colors) and torch.all(scene.widths == 0)
    assert not scene.even_odd.any()  # nonzero, SVG's default


def test_random_init_even_odd_blobs_keep_their_rule_in_the_svg():
    from vecrender.svg import scene_to_svg, svg_to_scene

    options = {"closed": True, "segments": 3, "even_odd": True}
    scene = RandomInit.from_dict(options, ctx(32, 32)).initialize(4, 0, None)
    assert scene.even_odd.all()
    text = scene_to_svg(scene)
    assert text.count('fill-rule="evenodd"') == 4 and svg_to_scene(text).even_odd.all()
    strokes = RandomInit.from_dict({"even_odd": True}, ctx(32, 32)).initialize(4, 0, None)
    assert not strokes.even_odd.any()  # open strokes have no fill to rule


@pytest.mark.parametrize("options, message", [
    ({"max_segments": 1, "segments": 2}, "max_segments: must be >= segments"),
    ({"color": [0, 0, 0]}, "color: expected 4 values"),
    ({"closed": True}, "closed blobs need at least 2 segments"),
    ({"alpha_range": [0.5, 0.1]}, "alpha_range"),
    ({"step": -0.1}, "step: must be >= 0"),
])
def test_random_init_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        RandomInit.from_dict(options, ctx())


def test_random_init_unknown_option_suggests():
    with pytest.raises(ConfigError, match="did you mean 'segments'"):
        RandomInit.from_dict({"segmnts": 2}, ctx())


# -- svg initializer ------------------------------------------------------------------------------
SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50">
<path d="M 10 10 C 20 10 30 20 40 20" stroke="#ff0000" stroke-width="4" fill="none"/>
<path d="M 60 40 C 70 30 80 30 90 10" stroke="#0000ff" stroke-width="2" fill="none"/>
</svg>"""


@pytest.fixture
def svg_file(tmp_path):
    path = tmp_path / "drawing.svg"
    path.write_text(SVG)
    return path


def test_svg_init_rescales_and_adds_random_strokes(svg_file):
    init = SvgInit.from_dict({"path": str(svg_file)}, ctx(200, 200))
    scene = init.initialize(5, seed=0, target=None)
    assert scene.num_paths == 5 and (scene.width, scene.height) == (200, 200)
    # x scaled by 2, y by 4; widths by sqrt(8)
    assert torch.allclose(scene.points[0, 0], torch.tensor([20.0, 40.0]), atol=1e-4)
    assert torch.allclose(scene.points[1, 3], torch.tensor([180.0, 40.0]), atol=1e-4)
    assert scene.widths[0] == pytest.approx(4 * 8 ** 0.5, rel=1e-4)
    assert scene.stroke_colors[0, 0] == pytest.approx(1.0) and scene.stroke_colors[1, 2] == pytest.approx(1.0)
    assert torch.all(scene.widths[2:] == 3.0)  # extra strokes use the random options
    assert not torch.equal(init.initialize(5, 1, None).points[2:], scene.points[2:])


def test_svg_init_keeps_all_file_paths_unless_truncate(svg_file):
    assert SvgInit.from_dict({"path": str(svg_file)}, ctx(100, 50)).initialize(1, 0, None).num_paths == 2
    truncating = SvgInit.from_dict({"path": str(svg_file), "truncate": True}, ctx(100, 50))
    assert truncating.initialize(1, 0, None).num_paths == 1


def test_svg_init_errors(tmp_path):
    with pytest.raises(ConfigError, match="missing required option"):
        SvgInit.from_dict({}, ctx())
    init = SvgInit.from_dict({"path": str(tmp_path / "nope.svg")}, ctx())
    with pytest.raises(InputImageError, match="nope.svg.*not found"):
        init.initialize(2, 0, None)


# -- losses ---------------------------------------------------------------------------------------
def batch(images, target):
    return LossInput(images=images, rgba=torch.ones(images.shape[0], 4, *images.shape[2:]), scenes=[],
                     target=target)


def test_l2_and_l1_values_per_sketch():
    target = torch.zeros(1, 3, 4, 4)
    images = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 0.5), -torch.ones(3, 4, 4)])
    assert torch.allclose(L2Loss()(batch(images, target)), torch.tensor([0.0, 0.25, 1.0]))
    assert torch.allclose(L1Loss()(batch(images, target)), torch.tensor([0.0, 0.5, 1.0]))
    assert L2Loss.needs_target and L1Loss.needs_target


def test_pixel_losses_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"renders are 6x4 but the target is 4x4"):
        L2Loss()(batch(torch.zeros(2, 3, 4, 6), torch.zeros(1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"images must be \[S, 3, H, W\]"):
        L1Loss()(batch(torch.zeros(2, 4, 4, 4), torch.zeros(1, 3, 4, 4)))
    with pytest.raises(ConfigError, match="loss 'l2' compares renders with the input image.*pass --input IMAGE"):
        L2Loss()(batch(torch.zeros(2, 3, 4, 4), None))
    target = batch(torch.zeros(2, 3, 4, 4, dtype=torch.float64), torch.ones(1, 3, 4, 4)).target_for("x")
    assert target.dtype == torch.float64 and target.shape == (1, 3, 4, 4)  # on the renders' dtype


# -- adam -----------------------------------------------------------------------------------------
def scene(n: int = 2, fills: bool = False) -> VectorScene:
    from vecrender.testing import random_scene

    return random_scene(n, 16, seed=0, fills=fills)


def test_adam_learning_rates_per_tensor_and_clamping():
    s = scene()
    opt = Adam.from_dict({"params": ["points", "widths", "stroke_colors"], "width_range": [1.0, 2.0]},
                         RunContext(steps=10))
    opt.setup([s])
    assert {g["name"]: g["lr"] for g in opt.opt.param_groups} == {"points": 1.0, "widths": 0.2,
                                                                    "stroke_colors": 0.01}
    before = s.points.detach().clone()
    (s.points.sum() - 100 * s.widths.sum() + 100 * s.stroke_colors.sum()).backward()
    opt.step(0)
    assert torch.allclose(s.points - before, torch.full_like(before, -1.0), atol=1e-4)  # Adam's first step = lr
    assert s.widths.max() <= 2.0 and s.widths.min() >= 1.0
    assert s.stroke_colors.min() >= 0.0


@pytest.mark.parametrize("stage_state", ["restart", "keep"])
def test_adam_opacity_only_learns_alpha_and_keeps_rgb(stage_state):
    """CLIPasso's force_sparse: the colours' RGB stays as initialised while their alpha moves."""
    s = scene(3, fills=True)
    opt = Adam.from_dict({"params": ["points", "stroke_colors", "fill_colors"], "opacity_only": True,
                          "stage_state": stage_state}, RunContext(steps=10))
    opt.setup([s])
    before = {name: getattr(s, name).detach().clone() for name in ("stroke_colors", "fill_colors")}
    for step in range(3):
        opt.zero_grad()
        (s.stroke_colors.sum() - s.fill_colors.sum() + s.points.sum()).backward()
        opt.step(step)
    for name, old in before.items():
        new = getattr(s, name).detach()
        assert torch.equal(new[:, :3], old[:, :3]), name
        moved = (new[:, 3] - old[:, 3]).abs()
        assert torch.all((moved > 0.02) | (new[:, 3] == 0) | (new[:, 3] == 1)), (name, moved)


def test_adam_noise_jitters_points_after_a_step_reproducibly():
    """CLIPasso's noise augmentation: N(0, (0.01 x 64)^2) on every point, per sketch with the given
    chance; the same seed gives the same noise, and a resumed run draws what the run would have."""
    def run(options, steps=3, seed=7):
        scenes = [scene(40), scene(40)]
        opt = Adam.from_dict({"lr": 0.0, **options}, RunContext(width=64, height=96, steps=10, seed=seed))
        opt.setup(scenes)
        before = [s.points.detach().clone() for s in scenes]
        for step in range(steps):
            opt.zero_grad()
            sum(s.points.sum() for s in scenes).backward()
            opt.step(step)
        return [s.points.detach() - b for s, b in zip(scenes, before)], opt, scenes

    moved, _, _ = run({"noise": 0.01, "noise_probability": 1.0})
    for delta in moved:  # 3 steps of N(0, 0.64^2): N(0, 3 x 0.64^2)
        assert delta.std().item() == pytest.approx(0.64 * 3**0.5, rel=0.15) and delta.mean().abs() < 0.2
    assert all(torch.equal(a, b) for a, b in zip(moved, run({"noise": 0.01, "noise_probability": 1.0})[0]))
    assert not torch.equal(moved[0], run({"noise": 0.01, "noise_probability": 1.0}, seed=8)[0][0])
    still, _, _ = run({"noise": 0.01, "noise_probability": 0.0})
    assert all(bool((delta == 0).all()) for delta in still)
    assert all(bool((delta == 0).all()) for delta in run({})[0])  # off by default
    half = [float((delta != 0).any()) for s in range(40) for delta in run({"noise": 0.01}, steps=1, seed=s)[0]]
    assert 0.25 < sum(half) / len(half) < 0.75  # about half the sketches, per step
    _, opt, scenes = run({"noise": 0.01, "noise_probability": 1.0}, steps=2)
    state = opt.state_dict()
    resumed = Adam.from_dict({"lr": 0.0, "noise": 0.01, "noise_probability": 1.0},
                             RunContext(width=64, height=96, steps=10, seed=0))
    copies = [s.detach() for s in scenes]
    resumed.setup(copies)
    resumed.load_state_dict(state)
    for o, group in ((opt, scenes), (resumed, copies)):
        o.zero_grad()
        sum(s.points.sum() for s in group).backward()
        o.step(2)
    assert all(torch.equal(a.points, b.points) for a, b in zip(scenes, copies))


def test_adam_noise_of_a_sketch_is_its_own():
    """Each sketch draws its noise from a stream of its seed: seed 1000's sketch moves the same
    beside seed 0's as in a run of its own."""
    def jittered(sketch_seeds):
        scenes = [scene(40) for _ in sketch_seeds]
        opt = Adam.from_dict({"lr": 0.0, "noise": 0.01, "noise_probability": 1.0},
                             RunContext(width=64, height=64, steps=10, sketch_seeds=sketch_seeds))
        opt.setup(scenes)
        for step in range(3):
            opt.zero_grad()
            sum(s.points.sum() for s in scenes).backward()
            opt.step(step)
        return [s.points.detach() for s in scenes]

    together, alone = jittered((0, 1000)), jittered((1000,))
    assert torch.equal(together[1], alone[0]) and not torch.equal(together[0], together[1])


def test_adam_only_marks_requested_params():
    s = scene()
    Adam.from_dict({}, RunContext()).setup([s])
    assert s.points.requires_grad and not s.widths.requires_grad and not s.stroke_colors.requires_grad


def test_adam_schedules():
    steps = Adam.from_dict({"schedule": "steps"}, RunContext(steps=1000))
    assert [steps.lr_factor(t) for t in (0, 499, 500, 749, 750, 999)] == [1.0, 1.0, 0.4, 0.4, 0.1, 0.1]
    linear = Adam.from_dict({"schedule": "linear", "final_lr_factor": 0.4}, RunContext(steps=101))
    assert linear.lr_factor(0) == 1.0 and linear.lr_factor(50) == pytest.approx(0.7)
    assert linear.lr_factor(100) == pytest.approx(0.4)
    assert Adam.from_dict({}, RunContext(steps=10)).lr_factor(9) == 1.0


def test_adam_schedule_applies_to_schedule_params_only():
    s = scene()
    opt = Adam.from_dict({"params": ["points", "widths"], "schedule": "steps"}, RunContext(steps=10))
    opt.setup([s])
    (s.points.sum() + s.widths.sum()).backward()
    opt.step(9)
    assert {g["name"]: g["lr"] for g in opt.opt.param_groups} == {"points": pytest.approx(0.1),
                                                                    "widths": pytest.approx(0.2)}
    opt2 = Adam.from_dict({"params": ["points", "widths"], "schedule": "steps", "width_lr": 0.5},
                          RunContext(steps=10))
    opt2.setup([scene()])
    opt2.step(9)
    assert {g["name"]: g["lr"] for g in opt2.opt.param_groups}["widths"] == 0.5


def test_adam_state_dict_roundtrip():
    from vecrender.testing import check_optimizer

    check_optimizer(Adam, {"params": ["points", "widths", "stroke_colors", "fill_colors"]}, fills=True)
    check_optimizer(Adam, {"schedule": "linear"})


def _live_lambda(steps_per_stage: int, f: float = 0.4):
    """LIVE's learning-rate factor at a stage optimiser's n-th step (its ``linear_decay_lrlambda_f``)."""
    def factor(n: int) -> float:
        r = (n % steps_per_stage) / steps_per_stage
        return f ** (n // steps_per_stage) * (1 - r) + f ** (n // steps_per_stage + 1) * r
    return factor


def test_adam_keep_stage_state_is_one_torch_adam_per_stage():
    """stage_state: keep, with stages of T steps: each stage's paths move exactly as under their
    own torch Adam with LIVE's LambdaLR (earlier stages' optimisers keep stepping and decaying),
    on the rows the stage added."""
    T, goal = 5, torch.tensor([3.0, -2.0])
    first, second = scene(2, fills=True), scene(3, fills=True)
    staged = Adam.from_dict({"params": ["points", "fill_colors"], "schedule": "linear", "stage_state": "keep",
                             "schedule_params": ["points", "fill_colors"]}, RunContext(steps=T))

    def objective(points, colors):  # smooth, with a different optimum per row
        return ((points - goal * torch.arange(1, points.shape[0] + 1)[:, None, None]) ** 2).sum() + \
            (colors - 0.3).pow(2).sum()

    # reference: stage 1's rows under one torch Adam, stage 2's added rows under another
    rows1 = [first.points.detach().clone().requires_grad_(), first.fill_colors.detach().clone().requires_grad_()]
    rows2 = [second.points[2:].detach().clone().requires_grad_(),
             second.fill_colors[2:].detach().clone().requires_grad_()]
    reference = []
    for rows in (rows1, rows2):
        opt = torch.optim.Adam([{"params": rows[:1], "lr": 1.0}, {"params": rows[1:], "lr": 0.01}])
        reference.append((opt, torch.optim.lr_scheduler.LambdaLR(opt, _live_lambda(T))))

    staged.setup([first])
    for step in range(2 * T):
        if step == T:  # stage 2: the first two rows are stage 1's, as the runner's add_paths keeps them
            grown = VectorScene(torch.cat([first.points.detach(), rows2[0].detach()]), second.widths,
                                second.stroke_colors, 16, 16,
                                fill_colors=torch.cat([first.fill_colors.detach(), rows2[1].detach()]),
                                closed=second.closed)
            first = grown
            staged.setup([first])
        staged.zero_grad()
        objective(first.points, first.fill_colors).backward()
        staged.step(step % T)
        active = reference[: 1 + step // T]
        for opt, _ in active:
            opt.zero_grad()
        points = torch.cat([rows1[0]] + ([rows2[0]] if step >= T else []))
        colors = torch.cat([rows1[1]] + ([rows2[1]] if step >= T else []))
        objective(points, colors).backward()
        for opt, schedule in active:
            opt.step()
            schedule.step()
            with torch.no_grad():
                for group in opt.param_groups[1:]:
                    for t in group["params"]:
                        t.clamp_(0.0, 1.0)
        expected = [torch.cat([rows1[i]] + ([rows2[i]] if step >= T else [])).detach() for i in (0, 1)]
        torch.testing.assert_close(first.points.detach(), expected[0], rtol=1e-4, atol=1e-4)  # float32 rounding
        torch.testing.assert_close(first.fill_colors.detach(), expected[1], rtol=1e-4, atol=1e-6)
    assert [staged.lr_factor(n) for n in range(3 * T)] == pytest.approx([_live_lambda(T)(n) for n in range(3 * T)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_adam_keep_stage_state_on_cuda_matches_cpu_without_host_synchronisation():
    options = {"params": ["points", "fill_colors"], "schedule": "linear", "stage_state": "keep"}
    moved = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        sketch = scene(3, fills=True).to(device)
        opt = Adam.from_dict(options, RunContext(steps=4, device=torch.device(device)))
        opt.setup([sketch])
        for step in range(3):
            if device == "cuda" and step == 1:  # after a warm-up step
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
            try:
                opt.zero_grad()
                (sketch.points.square().sum() + sketch.fill_colors.sum()).backward()
                opt.step(step)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        moved[device] = sketch.points.detach().cpu()
    torch.testing.assert_close(moved["cuda"], moved["cpu"], rtol=1e-5, atol=1e-5)


def test_adam_keep_stage_state_round_trips_and_passes_the_kit():
    from vecrender.testing import check_optimizer

    check_optimizer(Adam, {"stage_state": "keep", "schedule": "linear", "params": ["points", "widths"]})


@pytest.mark.parametrize("options, message", [
    ({"params": ["pointz"]}, "'pointz' is not one of .*did you mean 'points'"),
    ({"params": []}, "params: empty"),
    ({"width_range": [3.0, 1.0]}, "width_range"),
    ({"milestones": [0.5], "factors": [0.4, 0.1]}, "same length"),
    ({"schedule": "cosine"}, "not one of"),
])
def test_adam_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        Adam.from_dict(options, RunContext())


def test_adam_fill_colors_without_fills_is_an_error():
    opt = Adam.from_dict({"params": ["points", "fill_colors"]}, RunContext())
    with pytest.raises(ConfigError, match="no scene has fill_colors"):
        opt.setup([scene()])


# -- pad_square -----------------------------------------------------------------------------------
def test_pad_square_matches_clipasso_fix_scale():
    image = torch.rand(1, 3, 10, 30) * 0.5
    out = PadSquare.from_dict({})(image)
    assert out.shape == (1, 3, 50, 50)
    top, left = 50 // 2 - 10 // 2, 50 // 2 - 30 // 2
    assert (top, left) == (20, 10)
    assert torch.equal(out[:, :, top:top + 10, left:left + 30], image)
    assert out[:, :, :top].min() == 1.0 and out[:, :, top + 10:].min() == 1.0
    assert out[:, :, :, :left].min() == 1.0


def test_pad_square_margin_zero_and_color():
    image = torch.zeros(1, 3, 7, 4)
    out = PadSquare.from_dict({"margin": 0, "color": [0.0, 0.5, 1.0]})(image)
    assert out.shape == (1, 3, 7, 7)
    assert torch.equal(out[0, :, 0, 0], torch.tensor([0.0, 0.5, 1.0]))
    assert out[:, :, :, 1:5].abs().sum() == 0  # left = 7 // 2 - 4 // 2 = 1: content in columns 1..4
    assert torch.equal(out[0, :, 3, 5], torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ConfigError, match="margin: must be >= 0"):
        PadSquare.from_dict({"margin": -1})


# -- fit ----------------------------------------------------------------------------------------
def test_fit_scales_large_images_down_only():
    image = torch.rand(1, 3, 300, 400)
    out = Fit.from_dict({"size": 100})(image)
    assert out.shape == (1, 3, 75, 100)  # the aspect kept
    # an area average of the original (antialiased), not a sample of every 4th pixel
    block_means = image.reshape(1, 3, 75, 4, 100, 4).mean(dim=(3, 5))
    assert (out - block_means).abs().mean() < 0.06 < (out - image[:, :, ::4, ::4]).abs().mean()
    assert 0 <= out.min() and out.max() <= 1
    small = torch.rand(1, 3, 30, 7)
    assert Fit.from_dict({"size": 30})(small) is small  # never up
    assert Fit.from_dict({"size": 1})(small).shape == (1, 3, 1, 1)
    with pytest.raises(ConfigError, match="size: must be >= 1"):
        Fit.from_dict({"size": 0})


# -- painterly ------------------------------------------------------------------------------------
def test_painterly_method_is_registered_and_resolves():
    from vecrender.plugins import get_registry
    from vecrender.recipe import load_recipe

    registry = get_registry()
    method = registry.get("method", "painterly")
    assert method.needs_input
    recipe = load_recipe("painterly", [], registry)
    assert recipe.losses[0]["use"] == "l2" and recipe["initializer"]["random_color"] is True
    assert recipe["preprocess"] == [{"use": "pad_square", "margin": 0}]
