"""losses.live: LIVE's component-wise placement of closed filled shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vecrender.components import RunContext
from vecrender.errors import ConfigError
from vecrender.testing import check_initializer, registered
from vecrender_losses.initializers import LiveInit, circle_paths, component_positions, error_levels


def _disks_image(size: int = 48) -> torch.Tensor:
    """White image with a big red disk (left) and a small blue disk (bottom right)."""
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    image = torch.ones(3, size, size)
    big = (x - 16) ** 2 + (y - 18) ** 2 < 11**2
    small = (x - 38) ** 2 + (y - 38) ** 2 < 5**2
    image[:, big] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    image[:, small] = torch.tensor([0.1, 0.2, 0.9])[:, None]
    return image[None]


def test_registered():
    assert registered("initializer", "losses.live", plugin="losses").description


@pytest.mark.parametrize("options", [{}, {"shape": "random"}, {"placement": "random", "segments": 3}])
def test_initializer_contract(options):
    scene = check_initializer(LiveInit, options, num_paths=5)
    assert bool(scene.closed.all()) and scene.fill_colors is not None
    assert bool((scene.widths == 0).all())


def test_error_levels_ignore_correct_pixels():
    error = np.zeros((10, 10))
    error[2:5, 2:5] = 0.5
    error[7:9, 7:9] = 2.0
    labels = error_levels(error, threshold=0.1, levels=50)
    assert (labels[error == 0] == -1).all() and (labels[error > 0] >= 0).all()
    assert labels[7, 7] >= labels[2, 2]


def test_error_levels_leave_out_the_lowest_level_where_no_pixel_is_right():
    """As LIVE: with every pixel wrong (a coloured background against a white canvas), the least
    wrong level is left out, so the first shape goes to a more wrong region, not the background."""
    error = np.full((40, 40), 0.5)
    error[5:15, 5:15] = 2.0
    error[25:31, 25:31] = 1.0
    labels = error_levels(error, threshold=0.1, levels=200)
    assert (labels[error == 0.5] == -1).all() and (labels[error > 0.5] >= 0).all()
    (x, y), = component_positions(labels, 1, torch.Generator().manual_seed(0))
    assert 5 <= x < 15 and 5 <= y < 15
    two_values = np.where(error == 2.0, 2.0, 0.0)  # LIVE: no level left, random; here: the wrong pixels
    assert ((error_levels(two_values) == 0) == (two_values > 0)).all()


def test_sparse_positions_follow_largest_error_regions():
    image = _disks_image()
    init = LiveInit.from_dict({}, RunContext(width=48, height=48))
    positions = init.positions(torch.ones_like(image), image, 3, torch.Generator().manual_seed(0))
    (x0, y0), (x1, y1) = positions[0].tolist(), positions[1].tolist()
    assert (x0 - 16) ** 2 + (y0 - 18) ** 2 < 4**2     # first shape: centre of the big disk
    assert (x1 - 38) ** 2 + (y1 - 38) ** 2 < 3**2     # then the small one
    assert 0 <= positions[2, 0] < 48 and 0 <= positions[2, 1] < 48  # nothing left: uniform random


def test_naive_positions_take_the_largest_errors_in_turn():
    """LIVE's naive placement: the maximum of the error map, marked taken, shape after shape."""
    target = torch.ones(1, 3, 6, 8)
    target[0, :, 2, 5] = 0.0  # error 3
    target[0, 0, 4, 1] = 0.5  # error 0.25, twice: the first in row order first
    target[0, 0, 4, 6] = 0.5
    target[0, 1, 0, 3] = 0.8  # error 0.04
    init = LiveInit.from_dict({"placement": "naive"}, RunContext(width=8, height=6))
    positions = init.positions(torch.ones_like(target), target, 5, torch.Generator().manual_seed(0))
    assert positions.tolist() == [[5, 2], [1, 4], [6, 4], [3, 0], [0, 0]]  # then zeros, in row order
    error = ((torch.ones_like(target) - target) ** 2).sum(1)[0].numpy().copy()
    reference = []
    for _ in range(5):  # the reference's loop: the first maximum, then marked -1
        h, w = (int(v[0]) for v in np.where(error == error.max()))
        error[h, w] = -1
        reference.append([w, h])
    assert positions.tolist() == reference


def test_even_odd_option_sets_the_shapes_fill_rule():
    image = _disks_image()
    for even_odd in (False, True):
        live = LiveInit.from_dict({"even_odd": even_odd}, RunContext(width=48, height=48))
        scene = live.initialize(2, 0, image)
        assert scene.even_odd.tolist() == [even_odd] * 2
        grown = live.add_paths(scene, 1, 0, image, torch.ones_like(image))
        assert grown.even_odd.tolist() == [even_odd] * 3


def test_shapes_take_the_target_color_and_are_circles():
    image = _disks_image()
    scene = LiveInit.from_dict({"radius": 4.0}, RunContext(width=48, height=48)).initialize(2, 0, image)
    assert torch.allclose(scene.fill_colors[0], torch.tensor([0.9, 0.1, 0.1, 1.0]))
    assert torch.allclose(scene.fill_colors[1], torch.tensor([0.1, 0.2, 0.9, 1.0]))
    centre = scene.points[0, :12].mean(dim=0)
    radii = (scene.points[0, :12] - centre).norm(dim=1)
    assert torch.allclose(radii, torch.full((12,), 4.0), atol=1e-4)
    assert scene.points.shape == (2, 13, 2) and bool(scene.closed.all())


def test_circle_paths_shape():
    points = circle_paths(torch.tensor([[5.0, 5.0]]), segments=3, radius=2.0)
    assert points.shape == (1, 10, 2)
    assert torch.allclose(points[0, 0], points[0, -1], atol=1e-6)


def test_component_positions_random_when_no_error():
    labels = -np.ones((8, 8), dtype=np.int64)
    positions = component_positions(labels, 2, torch.Generator().manual_seed(0))
    assert len(positions) == 2 and all(0 <= v < 8 for p in positions for v in p)


def test_needs_an_input_image_and_valid_options():
    with pytest.raises(ConfigError, match="--input"):
        LiveInit.from_dict({}, RunContext(width=16, height=16)).initialize(2, 0, None)
    with pytest.raises(ConfigError, match="segments"):
        LiveInit.from_dict({"segments": 1})
    with pytest.raises(ConfigError, match="radius"):
        LiveInit.from_dict({"radius": 0})


def test_base_svg_keeps_earlier_shapes_and_places_new_ones_elsewhere(tmp_path):
    # Stage 1 drew the big disk; stage 2 must keep it first and put its new shape on the small disk.
    from vecrender.scene import VectorScene

    image = _disks_image()
    earlier = VectorScene(points=circle_paths(torch.tensor([[16.0, 18.0]]), 4, 11.5), widths=torch.zeros(1),
                          stroke_colors=torch.zeros(1, 4), fill_colors=torch.tensor([[0.9, 0.1, 0.1, 1.0]]),
                          closed=torch.tensor([True]), width=48, height=48)
    earlier.save_svg(tmp_path / "stage1.svg")
    init = LiveInit.from_dict({"base": str(tmp_path / "stage1.svg")}, RunContext(width=48, height=48))
    scene = init.initialize(2, 0, image)
    assert scene.num_paths == 2
    assert torch.allclose(scene.points[0], earlier.points[0], atol=1e-3)
    new_centre = scene.points[1, :12].mean(dim=0)
    assert (new_centre - torch.tensor([38.0, 38.0])).norm() < 3.0
    assert torch.allclose(scene.fill_colors[1], torch.tensor([0.1, 0.2, 0.9, 1.0]))
    with pytest.raises(Exception, match="not found"):
        LiveInit.from_dict({"base": str(tmp_path / "missing.svg")}, RunContext(width=48, height=48)).initialize(
            2, 0, image)


def test_add_paths_places_the_new_shape_where_the_current_render_is_wrong():
    # The stage-1 shape covers the big disk (its render is `current`): add_paths keeps it first and
    # puts the new shape on the small disk, filled with its colour (layer-wise addition in one run).
    from vecrender.scene import VectorScene

    image = _disks_image()
    scene = VectorScene(points=circle_paths(torch.tensor([[16.0, 18.0]]), 4, 11.5), widths=torch.zeros(1),
                        stroke_colors=torch.zeros(1, 4), fill_colors=torch.tensor([[0.9, 0.1, 0.1, 1.0]]),
                        closed=torch.tensor([True]), width=48, height=48)
    y, x = torch.meshgrid(torch.arange(48) + 0.5, torch.arange(48) + 0.5, indexing="ij")
    current = torch.ones(1, 3, 48, 48)
    current[:, :, (x - 16) ** 2 + (y - 18) ** 2 < 11**2] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    grown = LiveInit.from_dict({}, RunContext(width=48, height=48)).add_paths(scene, 1, 1, image, current)
    assert grown.num_paths == 2 and bool(grown.closed.all())
    assert torch.equal(grown.points[0], scene.points[0])
    assert (grown.points[1, :12].mean(dim=0) - torch.tensor([38.0, 38.0])).norm() < 3.0
    assert torch.allclose(grown.fill_colors[1], torch.tensor([0.1, 0.2, 0.9, 1.0]))
    with pytest.raises(ConfigError, match="--input"):
        LiveInit.from_dict({}, RunContext(width=48, height=48)).add_paths(scene, 1, 1, None, current)
