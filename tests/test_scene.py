"""VectorScene shape validation, defaults, structure keys, concatenation and gradient fields."""

from __future__ import annotations

import pytest
import torch

from vecrender.builtins.renderers import NativeRenderer
from vecrender.functional.paints import FLAT, LINEAR, RADIAL, linear_frame
from vecrender.scene import VectorScene, concat_scenes, gradient_fields


def make(n: int = 2, segments: int = 1, **kw) -> VectorScene:
    return VectorScene(
        points=torch.rand(n, 1 + 3 * segments, 2) * 10,
        widths=torch.full((n,), 3.0),
        stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(n, 1),
        width=16,
        height=12,
        **kw,
    )


def test_defaults():
    s = make(3, segments=2)
    assert s.num_paths == 3 and s.max_segments == 2
    assert s.num_segments.tolist() == [2, 2, 2]
    assert not s.closed.any() and not s.even_odd.any()
    assert s.background == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"widths": torch.ones(3)}, "widths must have shape [2]"),
        ({"stroke_colors": torch.ones(2, 3)}, "stroke_colors must have shape [2, 4]"),
        ({"fill_colors": torch.ones(2, 3)}, "fill_colors must have shape [2, 4]"),
    ],
)
def test_bad_shapes(kw, needle):
    base = dict(points=torch.rand(2, 4, 2), widths=torch.ones(2), stroke_colors=torch.ones(2, 4),
                width=8, height=8)
    base.update(kw)
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        VectorScene(**base)


def test_points_must_be_cubic_chains():
    with pytest.raises(ValueError, match="1 \\+ 3k"):
        VectorScene(points=torch.rand(2, 5, 2), widths=torch.ones(2), stroke_colors=torch.ones(2, 4),
                    width=8, height=8)


def test_empty_scene_is_valid():
    s = VectorScene(points=torch.zeros(0, 4, 2), widths=torch.zeros(0), stroke_colors=torch.zeros(0, 4),
                    width=8, height=8)
    assert s.num_paths == 0


def test_structure_key_and_requires_grad():
    a, b = make(2), make(2)
    assert a.structure_key() == b.structure_key() != make(3).structure_key()
    (points,) = a.requires_grad_(["points"])
    assert points.requires_grad and not a.widths.requires_grad
    with pytest.raises(ValueError, match="choose from"):
        a.requires_grad_(["colour"])
    with pytest.raises(ValueError, match="no fill_colors"):
        a.requires_grad_(["fill_colors"])


def test_concat_pads_segments_and_fills():
    one = make(2, segments=1)
    two = make(1, segments=3, fill_colors=torch.full((1, 4), 0.5), closed=torch.tensor([True]))
    both = concat_scenes([one, two])
    assert both.points.shape == (3, 10, 2)
    assert both.num_segments.tolist() == [1, 1, 3]
    assert both.closed.tolist() == [False, False, True]
    assert torch.equal(both.points[0, :4], one.points[0])
    assert torch.equal(both.points[0, 4:], one.points[0, 3:].expand(6, 2))
    assert both.fill_colors[:2].abs().sum() == 0 and torch.equal(both.fill_colors[2], two.fill_colors[0])


def test_to_and_detach():
    s = make(2)
    s.requires_grad_(["points"])
    d = s.detach()
    assert not d.points.requires_grad and torch.equal(d.points, s.points)
    f64 = s.to(dtype=torch.float64)
    assert f64.points.dtype == torch.float64 and f64.num_segments.dtype == torch.long


def test_subpaths_only_on_closed_paths_and_concat_pads_them():
    points = torch.zeros(2, 7, 2)
    starts = torch.tensor([[True, True], [True, False]])
    with pytest.raises(ValueError, match="only closed paths can have several subpaths; paths \\[0\\]"):
        VectorScene(points=points, widths=torch.ones(2), stroke_colors=torch.ones(2, 4), width=8, height=8,
                    subpath_starts=starts)
    with pytest.raises(ValueError, match="subpath_starts must have shape \\[2, 2\\]"):
        VectorScene(points=points, widths=torch.ones(2), stroke_colors=torch.ones(2, 4), width=8, height=8,
                    subpath_starts=starts[:, :1])
    compound = VectorScene(points=points, widths=torch.ones(2), stroke_colors=torch.ones(2, 4), width=8,
                           height=8, closed=torch.tensor([True, False]), subpath_starts=starts)
    plain = VectorScene(points=torch.zeros(1, 10, 2), widths=torch.ones(1), stroke_colors=torch.ones(1, 4),
                        width=8, height=8)
    both = concat_scenes([compound, plain])
    assert both.subpath_starts.tolist() == [[True, True, False], [True, False, False], [True, False, False]]
    assert concat_scenes([plain, plain]).subpath_starts is None


def test_gradient_fields_are_checked_together_and_kept_by_concat_and_paths():
    paints = gradient_fields(2, num_stops=3)
    paints["gradient_kinds"][1, 0] = LINEAR
    paints["gradient_stops"][1, 0] = torch.tensor([[0.0, 1, 0, 0, 1], [0.5, 0, 1, 0, 1], [1.0, 0, 0, 1, 1]])
    with pytest.raises(ValueError, match="missing gradient_stops"):
        make(2, **{k: v for k, v in paints.items() if k != "gradient_stops"})
    with pytest.raises(ValueError, match=r"gradient_frames must have shape \[2, 2, 2, 3\]"):
        make(2, **{**paints, "gradient_frames": paints["gradient_frames"][:, :1]})
    with pytest.raises(ValueError, match="gradient_kinds must hold codes"):
        make(2, **{**paints, "gradient_kinds": paints["gradient_kinds"] + 3})
    painted = make(2, **paints)
    assert painted.structure_key() != make(2).structure_key()  # not batched with flat scenes
    both = concat_scenes([make(1), painted, make(1, **gradient_fields(1, num_stops=1))])
    assert both.gradient_kinds[:, 0].tolist() == [FLAT, FLAT, LINEAR, FLAT]
    assert torch.equal(both.gradient_stops[2, 0], paints["gradient_stops"][1, 0])
    one_stop = both.gradient_stops[3, 0]  # a single stop repeated: the same colour everywhere
    assert one_stop.shape == (3, 5) and torch.equal(one_stop, one_stop[:1].expand(3, 5))
    picked = both.paths(torch.tensor([2]))
    assert picked.gradients.kinds.tolist() == [[LINEAR, FLAT]] and picked.gradient_stops.shape == (1, 2, 3, 5)
    (stops,) = painted.requires_grad_(["gradient_stops"])
    assert stops.requires_grad


def test_focal_radii_left_out_are_focal_points():
    """A scene written before focal radii (an older checkpoint's fields) gets 0s; given ones are
    checked like the other fields."""
    paints = gradient_fields(2, num_stops=2)
    older = make(2, **{k: v for k, v in paints.items() if k != "gradient_focal_radii"})
    assert older.gradient_focal_radii.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert make(2).gradient_focal_radii is None
    with pytest.raises(ValueError, match=r"gradient_focal_radii must have shape \[2, 2\]"):
        make(2, **{**paints, "gradient_focal_radii": torch.zeros(2)})


def test_scenes_with_gradients_render_batched_as_one_by_one():
    paints = gradient_fields(3, num_stops=2)
    paints["gradient_kinds"][:, 1] = torch.tensor([LINEAR, RADIAL, LINEAR])
    paints["gradient_frames"][:, 1] = torch.tensor(linear_frame((0.0, 0.0), (16.0, 12.0)))
    paints["gradient_stops"][:, 1] = torch.tensor([[0.0, 1, 0, 0, 1], [1.0, 0, 0, 1, 1]])
    scenes = [make(3, **paints) for _ in range(2)]
    renderer = NativeRenderer()
    together = renderer.render(scenes)
    apart = torch.cat([renderer.render([s]) for s in scenes])
    assert torch.allclose(together, apart, atol=1e-6) and not torch.allclose(together[0], together[1])


def test_resized_stretches_the_drawing_gradients_included():
    """A file's drawing resized to another canvas renders as the file drawn at that size: points
    per axis, widths by the mean scale, gradient frames with the points."""
    from pathlib import Path

    from vecrender.builtins.renderers import NativeRenderer
    from vecrender.svg import svg_to_scene

    text = (Path(__file__).parent / "data" / "svg" / "gradients.svg").read_text()
    scene = svg_to_scene(text)
    assert scene.gradient_frames is not None
    resized = scene.resized(192, 192)  # (under a non-uniform scale import draws widths unevenly thick)
    drawn = svg_to_scene(text.replace('width="96" height="96"', 'width="192" height="192"'))
    ours, theirs = NativeRenderer().render([resized]), NativeRenderer().render([drawn])
    assert resized.width == 192 and resized.height == 192
    assert (ours - theirs).abs().max() < 1e-5, (ours - theirs).abs().max()  # (0.1 off with the frames unscaled)
    stretched = scene.resized(192, 48)
    assert torch.equal(stretched.points, scene.points * torch.tensor([2.0, 0.5]))
    assert torch.allclose(stretched.widths, scene.widths) and scene.resized(96, 96) is scene


def unmasked(*groups: tuple[int, int, float]) -> tuple:
    return tuple((*g, 0, False) for g in groups)


def test_groups_are_checked_sorted_and_follow_selection_and_concat():
    s = make(5, groups=[(1, 3, 0.5), (0, 5, 1.0), [3, 5, 0.25], (1, 2, 0.8)])
    assert s.groups == unmasked((0, 5, 1.0), (1, 3, 0.5), (1, 2, 0.8), (3, 5, 0.25))  # by first, outer first
    for bad, needle in [([(1, 1, 0.5)], "non-empty range"), ([(0, 6, 0.5)], "non-empty range"),
                        ([(0, 2, 1.5)], "opacity in"), ([(0, 3, 0.5), (2, 4, 0.5)], "nest or be disjoint"),
                        ([(0, 2)], "(first, end, opacity)"), ([(0, 2, 1.0, 2, False)], "mask_paths <"),
                        ([(0, 4, 1.0, 2, True), (1, 3, 0.5)], "end of an enclosing group or mask")]:
        with pytest.raises(ValueError, match=needle):
            make(5, groups=bad)
    assert s.paths(slice(2, 5)).groups == unmasked((0, 3, 1.0), (0, 1, 0.5), (1, 3, 0.25))  # cut to what is left
    assert s.paths(torch.tensor([0, 3, 4])).groups == unmasked((0, 3, 1.0), (1, 3, 0.25))  # the emptied ones dropped
    assert s.paths(torch.tensor([True, False, True, True, False])).groups == unmasked(
        (0, 3, 1.0), (1, 2, 0.5), (2, 3, 0.25))
    with pytest.raises(ValueError, match="increasing order"):
        s.paths(torch.tensor([3, 0]))
    joined = concat_scenes([make(2, groups=[(0, 2, 0.5)]), make(1), make(3, groups=[(1, 3, 0.3)])])
    assert joined.groups == unmasked((0, 2, 0.5), (4, 6, 0.3))
    assert make(5).structure_key() != s.structure_key()  # layered scenes render apart from flat ones
    assert s.detach().groups == s.to(dtype=torch.float64).groups == s.groups
    masked = make(6, groups=[(0, 6, 0.5, 2, True), (2, 4, 0.3), (0, 2, 1.0)])  # a group inside the mask, one after
    assert masked.groups == ((0, 6, 0.5, 2, True), (0, 2, 1.0, 0, False), (2, 4, 0.3, 0, False))
    assert masked.paths(torch.tensor([1, 3, 5])).groups == ((0, 3, 0.5, 1, True), (0, 1, 1.0, 0, False),
                                                          (1, 2, 0.3, 0, False))
    assert masked.paths(slice(0, 2)).groups == ((0, 2, 1.0, 0, False),)  # a mask with nothing to draw: gone


def test_groups_survive_a_checkpoint(tmp_path):
    from vecrender.runner import scene_from_state, scene_state

    s = make(3, groups=[(0, 2, 0.5)])
    torch.save(scene_state(s), tmp_path / "scene.pt")
    back = scene_from_state(torch.load(tmp_path / "scene.pt", weights_only=True), torch.device("cpu"))
    assert back.groups == s.groups and torch.equal(back.points, s.points)
