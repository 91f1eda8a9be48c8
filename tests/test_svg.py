"""SVG export/import: exact round trips, browser semantics of imported files, fixtures, errors."""

from __future__ import annotations

import io
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from vecrender.builtins.renderers import NativeRenderer
from vecrender.errors import SvgError, SvgImportWarning, VecrenderError
from vecrender.functional.paints import FLAT, LINEAR, RADIAL, Gradients, paint_colors
from vecrender.scene import WHITE, VectorScene
from vecrender.functional.styles import CAP_BUTT, CAP_ROUND
from vecrender.svg import (BACKGROUND_ID, RENDER_FILL_TOLERANCE, _fmt, _invalid_attributes, load_svg,
                           path_data_prefix, scene_to_svg, svg_to_scene)

DATA = Path(__file__).parent / "data" / "svg"
NS = "{http://www.w3.org/2000/svg}"
BYTE = 0.5 / 255 + 1e-6  # 8-bit rgb() rounding


def svg(body: str, attrs: str = 'width="100" height="100"') -> VectorScene:
    return svg_to_scene(f'<svg xmlns="http://www.w3.org/2000/svg" {attrs}>{body}</svg>')


def valid_points(scene: VectorScene, n: int) -> torch.Tensor:
    return scene.points[n, : 3 * int(scene.num_segments[n]) + 1]


def sample(points: torch.Tensor, steps: int = 65) -> torch.Tensor:
    """Points along the cubic chain ``[1 + 3k, 2]`` (float64), ``steps`` per segment."""
    p = points.double()
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    out = []
    for k in range((p.shape[0] - 1) // 3):
        a, b, c, d = p[3 * k : 3 * k + 4]
        out.append((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d)
    return torch.cat(out)


def random_scene(seed: int, background=WHITE) -> VectorScene:
    g = torch.Generator().manual_seed(seed)
    n, max_seg, w, h = 14, 4, 48, 32
    points = torch.rand(n, 1 + 3 * max_seg, 2, generator=g) * torch.tensor([w + 40.0, h + 40.0]) - 20
    points[0] *= 30  # far off the canvas
    widths = torch.rand(n, generator=g) * 6
    widths[:3] = torch.tensor([3.0, 0.0, 1.0])
    fills = torch.rand(n, 4, generator=g)
    fills[1::4, 3] = 0.0
    return VectorScene(
        points=points,
        widths=widths,
        stroke_colors=torch.rand(n, 4, generator=g),
        fill_colors=fills,
        closed=torch.rand(n, generator=g) < 0.5,
        num_segments=torch.randint(1, max_seg + 1, (n,), generator=g),
        even_odd=torch.rand(n, generator=g) < 0.3,
        width=w,
        height=h,
        background=background,
    )


# -- export ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, background", [(0, WHITE), (1, None), (2, (0.2, 0.4, 0.9))])
def test_round_trip_is_exact(seed, background):
    scene = random_scene(seed, background)
    back = svg_to_scene(scene_to_svg(scene))
    assert (back.width, back.height) == (scene.width, scene.height)
    assert back.num_paths == scene.num_paths
    assert torch.equal(back.num_segments, scene.num_segments)
    assert torch.equal(back.closed, scene.closed)
    assert torch.equal(back.even_odd, scene.even_odd)
    assert back.points.shape[1] == 1 + 3 * int(scene.num_segments.max())
    for n in range(scene.num_paths):
        count = 3 * int(scene.num_segments[n])
        stop = count if scene.closed[n] else count + 1  # a closed path's stored end is ignored
        torch.testing.assert_close(back.points[n, :stop], scene.points[n, :stop], atol=1e-4, rtol=0)
        if scene.closed[n]:
            assert torch.equal(back.points[n, count], back.points[n, 0])
        assert torch.equal(back.points[n, count:], back.points[n, count].expand_as(back.points[n, count:]))
    torch.testing.assert_close(back.widths, scene.widths, atol=1e-4, rtol=0)
    torch.testing.assert_close(back.stroke_colors[:, :3], scene.stroke_colors[:, :3], atol=BYTE, rtol=0)
    torch.testing.assert_close(back.stroke_colors[:, 3], scene.stroke_colors[:, 3], atol=1e-6, rtol=0)
    drawn = scene.closed & (scene.fill_colors[:, 3] > 0)
    expected_fill = torch.where(drawn[:, None], scene.fill_colors, torch.zeros(4))
    torch.testing.assert_close(back.fill_colors[:, :3], expected_fill[:, :3], atol=BYTE, rtol=0)
    torch.testing.assert_close(back.fill_colors[:, 3], expected_fill[:, 3], atol=1e-6, rtol=0)
    if background is None:
        assert back.background is None
    else:
        assert max(abs(a - b) for a, b in zip(back.background, background)) <= BYTE


def test_subpaths_round_trip():
    # a filled ring (two subpaths) reads back as one path with its subpaths; stroke-only subpaths
    # have no fill to share, so they read back as separate closed paths that draw the same
    t = torch.linspace(0, 2 * math.pi, 13)[:-1]
    outer = torch.stack([20 + 12 * t.cos(), 20 + 12 * t.sin()], -1)
    inner = torch.stack([20 + 5 * t.cos(), 20 - 5 * t.sin()], -1)  # reversed: a hole (nonzero)
    ring = torch.cat([outer, inner, inner[:1]])  # [25, 2]: 4 segments per subpath, each closed on its start
    starts = torch.tensor([[True, False, False, False, True, False, False, False]] * 2)
    scene = VectorScene(points=torch.stack([ring, ring + 3]), widths=torch.tensor([1.0, 2.0]),
                        stroke_colors=torch.tensor([[0, 0, 0, 1.0], [0.8, 0.1, 0.1, 1.0]]),
                        fill_colors=torch.tensor([[0.2, 0.6, 0.9, 1.0], [0, 0, 0, 0.0]]),
                        closed=torch.tensor([True, True]), num_segments=torch.tensor([8, 8]),
                        width=40, height=40, subpath_starts=starts)
    text = scene_to_svg(scene)
    assert text.count(" Z") == 4 and re.search(r'd="M [^"]+Z M [^"]+Z"', text)
    back = svg_to_scene(text)
    assert back.num_paths == 3 and back.num_segments.tolist() == [8, 4, 4] and back.closed.all()
    assert back.subpath_starts[0].tolist() == starts[0].tolist()
    torch.testing.assert_close(back.points[0, :24], scene.points[0, :24], atol=1e-4, rtol=0)
    from vecrender.builtins.renderers import NativeRenderer

    renderer = NativeRenderer()
    torch.testing.assert_close(renderer.render([back]), renderer.render([scene]), atol=BYTE, rtol=0)  # rgb()


def test_export_xml_has_required_attributes():
    scene = VectorScene(
        points=torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 9.0], [9.0, 9.0], [9.0, 9.0]],
                             [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [99.0, 99.0], [0.0, 0.0], [0, 0], [0, 0]]]),
        widths=torch.tensor([3.0, 1.25]),
        stroke_colors=torch.tensor([[0.0, 0.0, 0.0, 1.0], [1.0, 0.5, 0.0, 0.25]]),
        fill_colors=torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.5]]),
        closed=torch.tensor([False, True]),
        num_segments=torch.tensor([1, 1]),
        even_odd=torch.tensor([False, True]),
        width=40,
        height=30,
    )
    root = ET.fromstring(scene_to_svg(scene))
    assert root.tag == f"{NS}svg"
    assert (root.get("version"), root.get("width"), root.get("height"), root.get("viewBox")) == (
        "1.1", "40", "30", "0 0 40 30")
    assert root.find(f"{NS}rect") is None  # white background: nothing written
    first, second = root.findall(f"{NS}path")
    assert first.get("d") == "M 1 2 C 3 4 5 6 7 8"  # padding dropped, integral numbers plain
    assert first.get("fill") == "none"  # open paths are never filled
    assert first.get("stroke") == "rgb(0, 0, 0)" and first.get("stroke-opacity") == "1"
    assert first.get("stroke-width") == "3"
    assert first.get("stroke-linecap") == "round" and first.get("stroke-linejoin") == "round"
    assert first.get("fill-rule") is None
    assert second.get("d") == "M 10 10 C 20 10 20 20 10 10 Z"  # ends on point 0, stored end ignored
    assert second.get("fill") == "rgb(0, 0, 255)" and second.get("fill-opacity") == "0.5"
    assert second.get("fill-rule") == "evenodd"
    assert second.get("stroke") == "rgb(255, 128, 0)" and second.get("stroke-opacity") == "0.25"
    assert second.get("stroke-width") == "1.25"


def test_background_rect_only_when_not_white():
    scene = random_scene(0, background=(0.0, 0.0, 0.0))
    root = ET.fromstring(scene_to_svg(scene))
    rect = root.find(f"{NS}rect")
    assert rect.get("id") == BACKGROUND_ID and rect.get("fill") == "rgb(0, 0, 0)"
    assert (rect.get("width"), rect.get("height")) == ("48", "32")
    assert list(root)[0] is rect  # drawn first, under every path
    transparent = ET.fromstring(scene_to_svg(random_scene(0, background=None))).find(f"{NS}rect")
    assert transparent.get("fill") == "none"


def test_number_format():
    assert [_fmt(v) for v in (3.0, 0.25, -1.5, 1 / 3, -1e-9, 1234.5678901, 0.0)] == [
        "3", "0.25", "-1.5", "0.333333", "0", "1234.56789", "0"]


def test_export_rejects_non_finite_values():
    scene = random_scene(0)
    scene.points[5, 2, 0] = float("nan")
    with pytest.raises(SvgError, match="points of path 5 is NaN"):
        scene_to_svg(scene)


def test_scene_methods_save_and_load(tmp_path):
    scene = random_scene(3)
    target = tmp_path / "sub" / "out.svg"
    scene.save_svg(target)
    back = VectorScene.from_svg(target)
    assert back.num_paths == scene.num_paths
    torch.testing.assert_close(back.widths, scene.widths, atol=1e-4, rtol=0)
    assert load_svg(str(target)).num_paths == scene.num_paths  # str paths work too


# -- fixtures written like the reference tools ---------------------------------------------------
def file_paths(name: str) -> list[dict[str, str]]:
    """Attributes of every <path> of a fixture, read without our parser."""
    return [dict(p.attrib) for p in ET.parse(DATA / name).getroot().iter(f"{NS}path")]


def numbers(d: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]


def rgb_ints(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"\d+", text)]


def test_fixture_clipasso_like():
    scene = load_svg(DATA / "clipasso_like.svg")
    attrs = file_paths("clipasso_like.svg")
    assert (scene.width, scene.height, scene.num_paths) == (224, 224, 16) and len(attrs) == 16
    assert scene.fill_colors is None and scene.background == WHITE
    assert scene.points.shape == (16, 4, 2)
    assert not scene.closed.any() and scene.num_segments.tolist() == [1] * 16
    assert scene.widths.tolist() == [3.0] * 16  # stroke-width="3.0" is already the full width
    assert scene.stroke_colors.tolist() == [[0.0, 0.0, 0.0, 1.0]] * 16
    for n, a in enumerate(attrs):
        expected = torch.tensor(numbers(a["d"])).reshape(-1, 2)
        torch.testing.assert_close(scene.points[n], expected, atol=1e-5, rtol=0)
    assert bool((scene.points < 0).any()) and bool((scene.points > 224).any())  # raw off-canvas coordinates


def test_fixture_clipdraw_like():
    scene = load_svg(DATA / "clipdraw_like.svg")
    attrs = file_paths("clipdraw_like.svg")
    assert scene.num_paths == 20 and scene.fill_colors is None and not scene.closed.any()
    counts = [len(numbers(a["d"])) // 2 // 3 for a in attrs]
    assert scene.num_segments.tolist() == counts and set(counts) == {1, 2, 3}
    assert scene.points.shape == (20, 10, 2)
    for n, a in enumerate(attrs):
        pts = torch.tensor(numbers(a["d"])).reshape(-1, 2)
        torch.testing.assert_close(valid_points(scene, n), pts, atol=1e-5, rtol=0)
        assert torch.equal(scene.points[n, len(pts):], pts[-1].expand(10 - len(pts), 2))  # padding
        assert scene.widths[n].item() == pytest.approx(float(a["stroke-width"]), abs=1e-6)
        assert scene.stroke_colors[n, 3].item() == pytest.approx(float(a["stroke-opacity"]), abs=1e-6)
        assert [round(v * 255) for v in scene.stroke_colors[n, :3].tolist()] == rgb_ints(a["stroke"])


def test_fixture_painterly_blobs():
    """diffvg closed blobs: no Z, the last C ends on the first point, fill alpha in `opacity`."""
    scene = load_svg(DATA / "painterly_blobs.svg")
    attrs = file_paths("painterly_blobs.svg")
    assert (scene.width, scene.height, scene.num_paths) == (64, 48, 12)
    assert all("Z" not in a["d"] for a in attrs)
    assert scene.closed.all() and not scene.even_odd.any()  # the file says nonzero (SVG default)
    assert scene.widths.tolist() == [0.0] * 12 and scene.stroke_colors.abs().sum() == 0
    for n, a in enumerate(attrs):
        pts = torch.tensor(numbers(a["d"])).reshape(-1, 2)
        assert int(scene.num_segments[n]) == (len(pts) - 1) // 3
        torch.testing.assert_close(valid_points(scene, n), pts, atol=1e-5, rtol=0)
        assert scene.fill_colors[n, 3].item() == pytest.approx(float(a["opacity"]), abs=1e-6)
        assert [round(v * 255) for v in scene.fill_colors[n, :3].tolist()] == rgb_ints(a["fill"])
    assert set(scene.num_segments.tolist()) <= {3, 4, 5}


def test_fixture_live_like():
    scene = load_svg(DATA / "live_like.svg")
    attrs = file_paths("live_like.svg")
    assert scene.num_paths == 6 and scene.closed.all() and scene.num_segments.tolist() == [4] * 6
    assert scene.points.shape == (6, 13, 2)
    assert scene.widths.tolist() == [0.0] * 6  # stroke-width="0.0": no stroke, its color is kept
    for n, a in enumerate(attrs):
        assert scene.fill_colors[n, 3].item() == pytest.approx(float(a["fill-opacity"]), abs=1e-6)
        assert scene.stroke_colors[n, 3].item() == pytest.approx(float(a["stroke-opacity"]), abs=1e-6)
        assert torch.equal(scene.points[n, 12], scene.points[n, 0])


def test_fixture_generic_structure():
    scene = load_svg(DATA / "generic.svg")
    assert (scene.width, scene.height) == (64, 48)  # viewBox 128 x 96 scaled by 0.5
    expected = [  # (closed, segments, width) per imported path, in drawing order
        (True, 12, 2.0),  # rect rx/ry: 4 lines + 4 corners of 2 cubics, stroke 4 * 0.5
        (True, 8, 0.0),  # circle, stroke none
        (True, 8, 0.0),  # ellipse under scale(1.5 1)
        (True, 5, 0.0),  # polygon star (closing edge added)
        (False, 4, 1.5),  # polyline in a rotated group
        (False, 1, 1.0),  # line
        (True, 12, 0.75),  # H V Q T S, A (half circle r=4: 4 cubics), h v z
        (True, 3, 0.0),  # open path with the default black fill: fill closed by a straight line...
        (False, 2, 1.0),  # ...and its stroke left open (class="teal" from <style>)
        (True, 7, 0.0),  # compound path: two subpaths (4 + 3 segments) filled together
        (True, 4, 0.0),  # rect in nested opacity groups
        (True, 8, 0.0),  # <use> of a <defs> circle
    ]
    assert [(bool(c), int(s), round(float(w), 6)) for c, s, w in
            zip(scene.closed, scene.num_segments, scene.widths)] == expected
    assert scene.even_odd.tolist() == [i == 3 for i in range(12)]
    assert torch.nonzero(scene.subpath_starts).tolist() == [[n, 0] for n in range(9)] + [[9, 0], [9, 4]] + [
        [10, 0], [11, 0]]
    rgb = lambda t: [round(v * 255) for v in t[:3].tolist()]  # noqa: E731
    assert rgb(scene.fill_colors[0]) == [0x33, 0x66, 0xCC] and rgb(scene.stroke_colors[0]) == [0, 0, 128]  # navy
    assert scene.fill_colors[1, 3].item() == pytest.approx(0.5)  # style="fill-opacity: 0.5"
    assert rgb(scene.fill_colors[2]) == [46, 139, 87]  # seagreen
    assert rgb(scene.stroke_colors[4]) == [128, 0, 128] and scene.stroke_colors[4, 3].item() == pytest.approx(0.75)
    assert scene.fill_colors[4, 3] == 0 and scene.fill_colors[5, 3] == 0  # fill="none"; a line is never filled
    assert scene.fill_colors[7].tolist() == [0.0, 0.0, 0.0, 1.0]  # SVG default fill: black
    assert rgb(scene.stroke_colors[8]) == [0, 128, 128] and scene.fill_colors[8, 3] == 0
    assert scene.fill_colors[10].tolist() == pytest.approx([0.0, 0.0, 1.0, 0.5 * 0.8 * 0.5])
    assert rgb(scene.fill_colors[11]) == [255, 140, 0]  # darkorange
    assert not any(tuple(rgb(c)) == (255, 0, 0) for c in scene.fill_colors)  # hidden red shapes skipped


def test_fixture_generic_geometry():
    scene = load_svg(DATA / "generic.svg")
    star = valid_points(scene, 3)[::3]
    expected = torch.tensor([[24, 40], [30, 58], [14, 47], [34, 47], [18, 58], [24, 40]]) * 0.5
    torch.testing.assert_close(star, expected.float(), atol=1e-5, rtol=0)
    ellipse = sample(valid_points(scene, 2))  # center (54, 10), radii 6 x 5 after both transforms
    error = (((ellipse[:, 0] - 54) / 6) ** 2 + ((ellipse[:, 1] - 10) / 5) ** 2).sqrt() - 1
    assert error.abs().max() < 2e-4
    dot = sample(valid_points(scene, 11))  # <use x=60 y=40> of r=6, halved
    assert ((dot - torch.tensor([30.0, 20.0], dtype=torch.float64)).norm(dim=1) - 3).abs().max() < 1e-3
    polyline = valid_points(scene, 4)[::3].double()  # rotate(-10 64 56) then halved
    angle = math.radians(-10)
    x, y = 44 - 64, 48 - 56
    first = torch.tensor([(64 + x * math.cos(angle) - y * math.sin(angle)) / 2,
                          (56 + x * math.sin(angle) + y * math.cos(angle)) / 2], dtype=torch.float64)
    torch.testing.assert_close(polyline[0], first, atol=1e-5, rtol=0)


def test_fixture_files_are_small_and_parse():
    for path in sorted(DATA.glob("*.svg")):
        assert path.stat().st_size < 30_000
        assert ET.parse(path).getroot().tag == f"{NS}svg"
    assert {p.name for p in DATA.glob("*.svg")} >= {
        "clipasso_like.svg", "clipdraw_like.svg", "painterly_blobs.svg", "live_like.svg", "generic.svg"}


# -- import semantics ----------------------------------------------------------------------------
@pytest.mark.parametrize("radius", [3.0, 40.0, 400.0])
def test_circle_becomes_cubics_on_the_circle(radius):
    scene = svg(f'<circle cx="500" cy="400" r="{radius}" fill="red"/>', 'width="1000" height="800"')
    assert scene.closed.tolist() == [True]
    pts = valid_points(scene, 0).double()
    anchors = pts[::3] - torch.tensor([500.0, 400.0], dtype=torch.float64)
    assert (anchors.norm(dim=1) - radius).abs().max() < 1e-4
    curve = sample(pts) - torch.tensor([500.0, 400.0], dtype=torch.float64)
    assert (curve.norm(dim=1) - radius).abs().max() < 1e-3
    assert torch.equal(scene.points[0, -1], scene.points[0, 0])


@pytest.mark.parametrize("radii, size", [
    ('rx="30" ry=""', (30, 30)), ('ry="30"', (30, 30)), ('rx="auto" ry="20"', (20, 20)), ('rx="30"', (30, 30)),
    ('rx="30" ry="bad"', (30, 30)), ('rx="-5" ry="20"', (20, 20)), ('rx="30" ry="10"', (30, 10)),
    ('rx="0" ry="auto"', None), ('rx="" ry="auto"', None),
])
def test_ellipse_radius_auto_takes_the_other(radii, size):
    # SVG 2 (and browsers, resvg): a missing, empty, 'auto', negative or unreadable radius is
    # the other radius; none readable, or a zero one: nothing drawn
    scene = svg(f'<!-- <ellipse rx="1"/> --><ellipse cx="50" cy="40" {radii} fill="red"/>')
    if size is None:
        assert scene.num_paths == 0
        return
    pts = valid_points(scene, 0)
    extent = (pts.amax(0) - pts.amin(0)) / 2
    assert extent.tolist() == pytest.approx(list(size), abs=1e-4)


@pytest.mark.parametrize("element, ignored", [
    ('<rect x="2" y="2" width="10" height="10" transform="translate(5 5) scale(" fill="red"/>', "transform"),
    ('<rect x="2" y="2" width="10" height="10" transform="rotate(10) shift(1)" fill="red"/>', "transform"),
    ('<rect x="2" y="2" width="10" height="10" transform="translate(1 2 3)" fill="red"/>', "transform"),
    ('<rect x="2" y="2" width="10" height="10" transform="rotate(10deg)" fill="red"/>', "transform"),
    ('<rect x="2 3" y="2" width="10" height="10" fill="red"/>', "x"),
    ('<rect x="2" y="2" width="10q" height="10" fill="red"/>', "width"),  # then no rect
    ('<rect x="2" y="2" width="10" height="10" stroke="blue" stroke-width="3x" fill="red"/>', "stroke-width"),
    ('<circle cx="12" cy="12" r="5x" fill="red"/>', "r"),  # then no circle (SVG's r is 0, the parser's 1)
    ('<line x1="2" y1="2" x2="20q" y2="20" stroke="red"/>', "x2"),
    ('<path d="M2 12H22" stroke="blue" stroke-width="2" stroke-dasharray="2 x"/>', "stroke-dasharray"),
    ('<rect width="5" height="5" d="M0 0 L20 20 L0 20Z" fill="red"/>', "d"),  # path data off a path
    ('<g d="M0 0 L9 9"><rect width="5" height="5"/></g>', "d"),
    ('<polyline points="1 1 5 5" stroke="red" d="matrix(0 0 0 0 0 0)"/>', "d"),
    ('<rect x="2" y="2" width="10" height="10" fill="red" fill-opacity="inf"/>', "fill-opacity"),  # (failed the file)
    ('<rect x="2" y="2" width="10" height="10" fill="red" opacity="nan"/>', "opacity"),  # (drew NaN)
])
def test_invalid_lengths_transforms_and_stray_path_data_are_ignored(element, ignored):
    """As browsers and resvg do: the element is drawn as without the attribute (the parser would
    read a number out of the value)."""
    document = '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24">{}</svg>'.format
    scene = svg_to_scene(document(element))
    expected = svg_to_scene(document(re.sub(rf'\s{ignored}="[^"]*"', "", element)))
    assert scene.num_paths == expected.num_paths
    assert torch.equal(scene.points, expected.points) and torch.equal(scene.widths, expected.widths)
    assert (scene.num_paths == 0) == (ignored in ("width", "r"))


def test_invalid_style_declarations_are_ignored():
    document = ('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24"><rect x="2" y="2" width="10" '
                'height="10" fill="red" stroke="blue" style="{}"/></svg>').format
    scene = svg_to_scene(document("fill-opacity: 1e999; stroke-width: 3x; stroke-dasharray: 2 x; opacity: 0.5"))
    expected = svg_to_scene(document("opacity: 0.5"))
    for name in ("points", "widths", "fill_colors", "stroke_colors"):
        assert torch.equal(getattr(scene, name), getattr(expected, name)), name


@pytest.mark.parametrize("attributes", [
    'transform="translate(5,5),scale(.5)rotate(10 1 1) matrix(1 0 0 1 -1e1 2.5)"', 'transform="skewX(-5)skewY(+5) "',
    'transform=""', 'transform="none"', 'x="1.5e1px" y="-2mm" width="10%" height="auto"', 'x="+.5em" width="1IN"',
    'stroke-dasharray="1, 2 3%,4em"', 'stroke-dasharray="none"', 'stroke-width="inherit"',
])
def test_valid_lengths_and_transforms_are_kept(attributes):
    assert _invalid_attributes(ET.fromstring(f"<rect {attributes}/>")) == set()


def test_rect_corners_and_rounded_rect():
    scene = svg('<rect x="10" y="20" width="30" height="15" fill="red"/>'
                '<rect x="10" y="50" width="30" height="20" rx="5" fill="red"/>')
    square = valid_points(scene, 0)[::3]
    assert square.tolist() == [[10, 20], [40, 20], [40, 35], [10, 35], [10, 20]]
    rounded = sample(valid_points(scene, 1))
    assert rounded[:, 0].min() >= 10 - 1e-6 and rounded[:, 0].max() <= 40 + 1e-6
    corner = rounded[(rounded[:, 0] < 15) & (rounded[:, 1] < 55)]  # top-left arc, center (15, 55)
    assert len(corner) > 10
    assert ((corner - torch.tensor([15.0, 55.0], dtype=torch.float64)).norm(dim=1) - 5).abs().max() < 1e-3


def test_lines_and_quadratics_are_exact_cubics():
    scene = svg('<path d="M 0 0 L 30 0 Q 60 0 60 30 H 90 V 60" fill="none" stroke="black"/>')
    p = valid_points(scene, 0).double()
    assert int(scene.num_segments[0]) == 4
    torch.testing.assert_close(p[1:3], torch.tensor([[10.0, 0.0], [20.0, 0.0]], dtype=torch.float64))
    t = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    quad = (1 - t) ** 2 * torch.tensor([30.0, 0]) + 2 * (1 - t) * t * torch.tensor([60.0, 0]) \
        + t**2 * torch.tensor([60.0, 30])
    a, b, c, d = p[3:7]
    cubic = (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t**2 * c + t**3 * d
    torch.testing.assert_close(cubic, quad.double(), atol=1e-5, rtol=0)
    assert p[9].tolist() == [90.0, 30.0] and p[12].tolist() == [90.0, 60.0]


def test_smooth_commands_reflect_only_matching_curves():
    scene = svg('<path d="M 0 0 Q 10 10 20 0 T 40 0 S 50 10 60 0 C 65 5 70 5 80 0 S 90 -5 100 0 T 120 0" '
                'fill="none" stroke="black"/>')
    p = valid_points(scene, 0).double()
    elevated = lambda s, c: s + 2 * (torch.tensor(c, dtype=torch.float64) - s) / 3  # noqa: E731
    torch.testing.assert_close(p[4], elevated(p[3], [30.0, -10.0]))  # T after Q: reflected control
    assert p[7].tolist() == p[6].tolist()  # S after T: first control on the current point
    assert p[13].tolist() == [90.0, -5.0]  # S after C: reflection of (70, 5) about (80, 0)
    assert p[16].tolist() == p[15].tolist()  # T after S: control on the current point (straight)


def test_arcs_and_zero_radius_arc():
    scene = svg('<path d="M 10 50 A 20 20 0 0 1 50 50" fill="none" stroke="black"/>'
                '<path d="M 10 50 A 0 20 0 0 1 50 50" fill="none" stroke="black"/>')
    curve = sample(valid_points(scene, 0))  # upper half circle around (30, 50): y <= 50 (sweep 1)
    assert ((curve - torch.tensor([30.0, 50.0], dtype=torch.float64)).norm(dim=1) - 20).abs().max() < 1e-3
    assert curve[:, 1].min() == pytest.approx(30.0, abs=1e-3)
    line = valid_points(scene, 1)
    assert int(scene.num_segments[1]) == 1 and line[:, 1].tolist() == [50.0] * 4


@pytest.mark.parametrize("scale, most", [("0", 4), ("1e30", 256)])
def test_arcs_under_extreme_scales_take_bounded_cubics(scale, most):
    """An arc collapsed by its transform takes a cubic per quarter turn at most; one scaled past
    any canvas at most 256 (it would otherwise be cut finer as it grows: millions of cubics,
    minutes of import)."""
    scene = svg(f'<path transform="scale({scale})" d="M 10 50 A 20 20 0 1 1 50 50" fill="none" stroke="black"/>')
    assert 1 <= int(scene.num_segments[0]) <= most


def test_transforms_and_stroke_width_scaling():
    scene = svg('<g transform="translate(10 20)"><g transform="scale(2)">'
                '<path d="M 1 1 L 5 1" stroke="black" stroke-width="3" fill="none"/>'
                '<path d="M 1 1 L 5 1" transform="rotate(90 1 1)" stroke="black" style="stroke-width:0.5"/>'
                '</g></g>'
                '<path d="M 0 0 L 4 0" transform="matrix(2 0 0 8 0 0)" stroke="red" fill="none"/>')
    assert valid_points(scene, 0)[[0, 3]].tolist() == [[12.0, 22.0], [20.0, 22.0]]
    assert scene.widths[0].item() == 6.0  # 3 x uniform scale 2
    end = valid_points(scene, 1)[3].tolist()
    assert end == pytest.approx([12.0, 30.0], abs=1e-5) and scene.widths[1].item() == 1.0
    assert scene.widths[2].item() == pytest.approx(8.0)  # non-uniform: the thickness across the line


def test_stroke_width_under_non_uniform_transforms_is_the_drawn_thickness():
    scale = 'transform="scale(2 8)" stroke="black" fill="none"'
    scene = svg(f'<path d="M 0 1 H 4" {scale}/><path d="M 1 0 V 4" {scale}/>'
                '<path d="M 0 0 L 1 1" transform="scale(1 3)" stroke="black" stroke-width="2"/>'
                '<path d="M 0 0 L 1 1" transform="skewX(30)" stroke="black"/>'
                '<path d="M 0 1 H 4 V 5" transform="scale(1 3)" stroke="black" fill="none"/>'
                '<path d="M 0 1 H 4" transform="scale(2 8)" stroke="black" vector-effect="non-scaling-stroke"/>')
    # across a drawn direction u a width w is w |det A| |A^-1 u| thick
    assert scene.widths[:2].tolist() == pytest.approx([8.0, 2.0])
    assert scene.widths[2].item() == pytest.approx(2 * 3 / math.sqrt(5))  # (1, 1) drawn as (1, 3)
    skew = torch.tensor([[1.0, math.tan(math.radians(30))], [0.0, 1.0]], dtype=torch.float64)
    u = skew @ torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert scene.widths[3].item() == pytest.approx((torch.linalg.solve(skew, u / u.norm())).norm().item())
    assert scene.widths[4].item() == pytest.approx((4 * 3 + 12 * 1) / 16)  # averaged by drawn length
    assert scene.widths[5].item() == 1.0


@pytest.mark.parametrize("value, width", [("1pt", 4 / 3), ("0.1in", 9.6), ("2.54cm", 96.0), ("1pc", 16.0),
                                          ("1em", 16.0), ("2ex", 16.0), ("1%", 1.0), (" 3px ", 3.0)])
def test_stroke_width_units(value, width):
    scene = svg(f'<path d="M 0 5 H 20" stroke="black" stroke-width="{value}"/>')
    assert scene.widths[0].item() == pytest.approx(width)  # % of the normalised diagonal: 100


def test_stroke_lengths_follow_the_font_size_and_inherit():
    scene = svg('<g font-size="20" stroke-width="0.5em" style="stroke-dasharray: 3pt 1.5pt">'
                '<path d="M 0 5 H 11" stroke="black"/></g>'
                '<path d="M 0 9 H 10" stroke="black" stroke-dasharray="2 2" stroke-dashoffset="1mm"/>')
    assert scene.widths[0].item() == pytest.approx(10.0)
    ends = dash_ends(scene)
    assert ends[:2] == [[0, 5, 4, 5], [6, 5, 10, 5]]
    start = 4 - 96 / 25.4  # shifted 1 mm = 3.78 px back: the first dash is off the path
    assert ends[2] == pytest.approx([start, 9, start + 2, 9], abs=1e-3)


def test_viewbox_scaling_and_canvas_size():
    scene = svg('<path d="M 10 10 L 90 40" stroke="black" stroke-width="2"/>',
                'width="50" height="25" viewBox="0 0 100 50"')
    assert (scene.width, scene.height) == (50, 25)
    assert valid_points(scene, 0)[[0, 3]].tolist() == [[5.0, 5.0], [45.0, 20.0]]
    assert scene.widths[0].item() == 1.0
    only_viewbox = svg('<path d="M 10 10 L 90 40" stroke="black"/>', 'viewBox="0 0 120 80"')
    assert (only_viewbox.width, only_viewbox.height) == (120, 80)


def test_opacity_of_apart_shapes_multiplies_into_their_alphas():
    scene = svg('<g opacity="0.5"><g style="opacity:0.5">'
                '<path d="M 0 0 L 10 0 L 10 10 Z" fill="blue" fill-opacity="0.8" opacity="0.5"/></g>'
                '<path d="M 20 0 L 30 0 L 30 10 Z" stroke="red" stroke-opacity="0.4" fill="none"/>'
                '<path d="M 40 0 L 50 0 L 50 10 Z" fill="rgba(0, 255, 0, 0.5)"/></g>')
    # no two paths overlap and none both fills and strokes: exact, no groups needed
    assert scene.groups == ()
    assert scene.fill_colors[0].tolist() == pytest.approx([0, 0, 1, 0.8 * 0.125])
    assert scene.stroke_colors[1].tolist() == pytest.approx([1, 0, 0, 0.4 * 0.5])
    assert scene.fill_colors[2].tolist() == pytest.approx([0, 1, 0, 0.25], abs=1 / 255)


def test_opacity_over_overlapping_paints_makes_groups_composited_as_svg():
    scene = svg('<g opacity="0.5"><rect width="10" height="10" fill="red"/>'
                '<rect x="5" width="10" height="10" fill="blue"/></g>'
                '<rect x="20" y="1" width="10" height="10" fill="lime" stroke="black" stroke-width="2" opacity="0.25"/>'
                '<g opacity="0"><rect x="40" width="5" height="5"/><rect x="40" width="5" height="5"/></g>'
                '<use href="#r" opacity="0.5"/><defs><rect id="r" x="50" width="5" height="5"/></defs>',
                'width="64" height="16"')
    # the fill and stroke of one element are a group too; opacity 0 draws nothing; a lone use folds
    assert scene.groups == ((0, 2, 0.5, 0, False), (2, 3, 0.25, 0, False))
    assert scene.fill_colors[:, 3].tolist() == [1, 1, 1, 0.5]
    image = NativeRenderer().render([scene])[0]
    assert image[:, 5, 7].tolist() == pytest.approx([0, 0, 0.5, 0.5])  # blue hides red, then half opacity
    assert image[:, 5, 2].tolist() == pytest.approx([0.5, 0, 0, 0.5])
    assert image[:, 5, 20].tolist() == pytest.approx([0, 0, 0, 0.25])  # the stroke hides the fill under it
    assert image[:, 5, 25].tolist() == pytest.approx([0, 0.25, 0, 0.25])
    assert image[:, 2, 42].tolist() == [0, 0, 0, 0]
    assert image[:, 2, 52].tolist() == pytest.approx([0, 0, 0, 0.5])
    again = svg_to_scene(scene.to_svg())  # written as <g opacity> and read back
    assert again.groups == scene.groups
    assert torch.allclose(NativeRenderer().render([again])[0], image, atol=1e-5)


@pytest.mark.filterwarnings("ignore::vecrender.errors.SvgImportWarning")  # gradients and patterns, on purpose
def test_style_precedence_and_hidden_elements():
    scene = svg('<path d="M 0 0 L 10 0 L 5 5 Z" fill="red" style="fill: lime; stroke: blue; stroke-width: 2"/>'
                '<path d="M 0 0 L 10 0 L 5 5 Z" display="none"/>'
                '<g visibility="hidden"><path d="M 0 0 L 10 0 L 5 5 Z" fill="red"/>'
                '<path d="M 0 0 L 10 0 L 5 5 Z" fill="yellow" visibility="visible"/></g>'
                '<g style="display:none"><path d="M 0 0 L 10 0 L 5 5 Z" fill="red" visibility="visible"/></g>'
                '<defs><path id="unused" d="M 0 0 L 10 0 L 5 5 Z" fill="red"/></defs>'
                '<text x="1" y="1">ignored</text>')
    assert scene.num_paths == 2
    assert scene.fill_colors[:, :3].tolist() == [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    assert scene.stroke_colors[0].tolist() == [0.0, 0.0, 1.0, 1.0] and scene.widths.tolist() == [2.0, 0.0]


def test_style_sheets_cascade_as_in_a_browser():
    scene = svg('<rect id="b" class="a" width="9" height="9"/>'  # the id wins over the class, before or after
                '<g><rect class="a c" width="9" height="9"/></g>'
                '<rect class="a" width="9" height="9" style="fill: lime" fill="yellow"/>'
                '<rect class="e" width="9" height="9"/>'
                '<style>#b { fill: #0000ff } .a { fill: #ff0000 } g > .a.c { fill: #00ff00 } '
                '@media print { .e { fill: #ff0000 } } .e { fill: #ffffff; stroke: #000000 }</style>'
                '<defs><linearGradient id="g"><stop class="s" offset="0"/><stop offset="1" stop-color="#00f"/>'
                '</linearGradient></defs><style>.s { stop-color: #ff0000 }</style>'
                '<rect width="9" height="9" fill="url(#g)"/>')
    fills = scene.fill_colors[:, :3].tolist()
    assert fills[:4] == [[0, 0, 1], [0, 1, 0], [0, 1, 0], [1, 1, 1]]
    assert scene.stroke_colors[3, 3] == 1 and scene.widths[3] == 1  # the rule after the @media block applies
    assert scene.gradient_stops[4, 0, 0].tolist()[:4] == [0, 1, 0, 0]  # a stop styled by class (offset, rgb)


def test_current_color_stops_take_the_color_of_their_own_ancestors():
    scene = svg('<defs color="#00ff00"><linearGradient id="g" style="color: #ff0000"><stop stop-color="currentColor"/>'
                '<stop offset="1" style="stop-color: currentColor; stop-opacity: 0.5; color: #0000ff"/>'
                '</linearGradient><linearGradient id="h"><stop stop-color="currentColor"/></linearGradient></defs>'
                '<rect width="9" height="9" fill="url(#g)" color="#ffffff"/>'
                '<rect width="9" height="9" fill="url(#h)"/>')
    assert scene.gradient_stops[0, 0, :2].tolist() == [[0, 1, 0, 0, 1], [1, 0, 0, 1, 0.5]]
    assert scene.fill_colors[1].tolist() == [0, 1, 0, 1]  # one stop: its colour, from the <defs>


def test_inherit_takes_the_parents_value():
    scene = svg('<g fill="red" stroke="blue" stroke-width="6" fill-opacity="0.3" opacity="0.5">'
                '<rect width="9" height="9" fill="inherit" stroke="inherit" style="stroke-width: inherit"/>'
                '<g fill="lime" opacity="inherit"><rect width="9" height="9" style="fill:inherit;'
                'fill-opacity:inherit"/></g></g>')
    assert scene.fill_colors[:, :3].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert scene.stroke_colors[:, :3].tolist() == [[0.0, 0.0, 1.0]] * 2 and scene.widths.tolist() == [6.0, 6.0]
    # opacity does not inherit: "inherit" on the inner group repeats the outer one's 0.5
    assert scene.fill_colors[:, 3].tolist() == pytest.approx([0.3, 0.3])
    assert scene.groups == ((0, 2, 0.5, 0, False), (1, 2, 0.5, 0, False))


@pytest.mark.parametrize("order, layers", [("normal", ["both"]), ("stroke", ["stroke", "fill"]),
                                           ("stroke fill markers", ["stroke", "fill", "marker"]), ("fill", ["both"]),
                                           ("markers stroke", ["marker", "stroke", "fill"]), ("bogus", ["both"])])
def test_paint_order_draws_the_whole_stroke_below_the_fill(order, layers):
    # Inkscape writes paint-order: stroke fill markers for text-like outlines
    marker = ' marker-start="url(#m)"' if "markers" in order else ""
    scene = svg('<defs><marker id="m" markerWidth="2" markerHeight="2"><rect width="2" height="2" fill="red"/>'
                '</marker></defs>'
                f'<path d="M 10 10 H 40 V 40 Z" fill="blue" stroke="lime" stroke-width="4" style="paint-order: {order}"'
                f'{marker}/>')
    kinds = []
    for i in range(scene.num_paths):
        fill = scene.fill_colors is not None and scene.fill_colors[i, 3] > 0
        kinds.append("marker" if scene.fill_colors[i, :3].tolist() == [1, 0, 0] else
                     "both" if fill and scene.widths[i] > 0 else "fill" if fill else "stroke")
    assert kinds == layers


def test_open_filled_subpath_is_filled_and_stroked_like_a_browser():
    scene = svg('<path d="M 0 0 L 10 0 L 10 10" fill="red" stroke="blue" stroke-width="2"/>'
                '<path d="M 0 0 L 10 0 L 10 10" fill="red"/>'
                '<path d="M 0 0 L 10 0 L 10 10 L 0 0" fill="red" stroke="blue"/>')
    assert scene.closed.tolist() == [True, False, True, True]
    assert scene.num_segments.tolist() == [3, 2, 3, 3]
    assert scene.widths.tolist() == [0.0, 2.0, 0.0, 1.0]
    assert scene.fill_colors[:, 3].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert valid_points(scene, 0)[-1].tolist() == [0.0, 0.0]  # straight closing edge back to the start


def test_compound_and_degenerate_subpaths():
    scene = svg('<path d="M 0 0 h 10 v 10 z m 20 0 h 10 v 10 z M 50 50 Z" fill="navy" fill-rule="evenodd"/>'
                '<path d="M 0 0 L 5 5 M 10 10 L 20 20 L 30 10" fill="none" stroke="black"/>')
    # the two triangles are one path filled under its rule; the empty "M 50 50 Z" fills nothing
    # and (no stroke) draws nothing
    assert scene.num_paths == 3
    assert scene.closed.tolist() == [True, False, False]
    assert scene.num_segments.tolist() == [6, 1, 2]
    assert scene.even_odd.tolist() == [True, False, False]
    assert scene.subpath_starts[0].tolist() == [True, False, False, True, False, False]
    assert valid_points(scene, 0)[9].tolist() == [20.0, 0.0]  # relative m after z starts from the start
    assert scene.points.shape[1] == 19
    dot = svg('<path d="M 0 0 h 10 v 10 z m 20 0 h 10 v 10 z M 50 50 Z" fill="navy" stroke="red"/>')
    assert dot.num_paths == 2 and dot.closed.tolist() == [True, True] and dot.num_segments.tolist() == [6, 1]
    assert valid_points(dot, 1).tolist() == [[50.0, 50.0]] * 4  # "M x y Z": a round-capped dot
    assert dot.widths.tolist() == [1.0, 1.0] and dot.fill_colors[1, 3] == 0


def test_paints_none_gradient_and_named_colors():
    scene = svg('<path d="M 0 0 L 9 0 L 9 9 Z" fill="url(#g)" stroke="url(#g) crimson"/>'
                '<path d="M 0 0 L 9 0 L 9 9 Z" fill="#abc" stroke="none"/>')
    assert scene.fill_colors[0, 3] == 0 and scene.widths[0] == 1.0
    assert [round(v * 255) for v in scene.stroke_colors[0, :3].tolist()] == [220, 20, 60]
    assert [round(v * 255) for v in scene.fill_colors[1, :3].tolist()] == [0xAA, 0xBB, 0xCC]
    no_fill = svg('<path d="M 0 0 L 9 9" fill="none" stroke="black"/>')
    assert no_fill.fill_colors is None


def test_import_warns_of_what_it_leaves_out(tmp_path):
    """One warning names what the scene lacks or simplifies, with counts; the content of clip
    paths and patterns is not counted twice, and a plain file warns of nothing."""
    svg = """<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">
      <defs><clipPath id="c"><rect width="20" height="20"/><text>in a clip</text></clipPath>
        <radialGradient id="g"><stop offset="0" stop-color="red"/></radialGradient>
        <pattern id="p" width="4" height="4"><rect width="2" height="2" fill="url(#g)"/></pattern>
        <marker id="m"><path d="M0 0 L4 2 L0 4z"/></marker><filter id="f"/></defs>
      <g clip-path="url(#c)"><rect width="30" height="30" fill="url(#g)" stroke="url( #g )"/></g>
      <path d="M1 1 L30 30" stroke="black" style="marker-end: url(#m); filter:url(#f)"/>
      <path d="M1 9 L30 9" stroke="black" marker-start="url(#m)" mask="none"/>
      <rect x="2" y="2" width="5" height="5" fill="url(#p)"/>
      <text x="5" y="30">Hi</text><text x="5" y="35">there</text><image href="a.png" width="4" height="4"/>
    </svg>"""
    path = tmp_path / "drawing.svg"
    path.write_text(svg)
    with pytest.warns(SvgImportWarning) as record:
        scene = load_svg(path)
    assert scene.num_paths == 4 + 2 and len(record) == 1  # (two markers drawn)
    message = str(record[0].message)
    assert message.startswith(f"{path}: ")
    for part in ("1 clip path (content drawn unclipped)", "1 filter", "1 pattern paint (no paint)",
                 "2 text elements", "1 image"):
        assert part in message, part
    for part in ("mask", "marker", "3 text", "gradient ("):  # gradients and markers import
        assert part not in message, part
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg_to_scene('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><path d="M1 1 L5 5" '
                     'stroke="red"/></svg>')


def test_import_counts_only_what_would_be_drawn():
    # hidden, unused, empty or display:none text, images and patterns would draw nothing anyway;
    # a <use> draws what it names once; a pattern paint with a fallback draws that colour
    svg = """<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">
      <defs><text id="t">used</text><text>unused</text><image href="x.png" width="4" height="4"/>
        <pattern id="p" width="4" height="4"/></defs>
      <symbol id="s"><text>in a symbol</text></symbol>
      <text visibility="hidden">hidden</text><text> </text><g style="display: none"><text>off</text>
      <rect width="5" height="5" fill="url(#p)"/></g><g visibility="hidden"><text visibility="visible">shown</text></g>
      <use href="#t"/><use href="#t"/><use href="#s"/><rect width="5" height="5" fill="url(#p) #0a0"/>
    </svg>"""
    with pytest.warns(SvgImportWarning) as record:
        svg_to_scene(svg)
    message = str(record[0].message)
    assert "3 text elements" in message and "1 pattern paint (its fallback colour)" in message
    assert "image" not in message and "(no paint)" not in message


def test_switch_draws_its_first_child_whose_conditions_hold_and_rgb_takes_spaces():
    scene = svg('<switch><g systemLanguage="xx"><rect fill="red" width="5" height="5"/></g>'
                '<rect fill="blue" requiredExtensions="http://example.org/x" width="5" height="5"/>'
                '<g systemLanguage="de, en"><rect fill="rgb(0 255 0)" width="5" height="5"/></g>'
                '<rect fill="black" width="5" height="5"/></switch>'
                '<rect style="fill: rgb(0% 0% 100%)" width="5" height="5"/>')
    assert scene.fill_colors[:, :3].tolist() == [[0, 1, 0], [0, 0, 1]]
    with pytest.warns(SvgImportWarning, match=r"1 blend mode \(drawn as normal\)"):
        svg('<rect style="mix-blend-mode: multiply" width="5" height="5"/>'
            '<rect mix-blend-mode="normal" width="5" height="5"/>')


def clip_document(clip: str, content: str, transform: str = "", units: str = "") -> str:
    """An 80 x 60 px canvas (viewBox 40 x 30) whose `content` a group clips to `clip`."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60" viewBox="0 0 40 30">'
            f'<clipPath id="c" {units}>{clip}</clipPath><g clip-path="url(#c)" {transform}>{content}</g></svg>')


def covered_area(scene: VectorScene) -> float:
    """Pixels the scene covers (its paths opaque and apart), by the native renderer."""
    return NativeRenderer().render([scene])[0, 3].sum().item()


def area_inside(inside, width: int = 80, height: int = 60, samples: int = 16) -> float:
    """Pixels of the canvas where `inside(x, y)` (coordinate tensors) holds, by `samples`^2 points per pixel."""
    ys, xs = torch.meshgrid((torch.arange(height * samples, dtype=torch.float64) + 0.5) / samples,
                            (torch.arange(width * samples, dtype=torch.float64) + 0.5) / samples, indexing="ij")
    return inside(xs.flatten(), ys.flatten()).double().sum().item() / samples**2


def in_rotated_canvas(x, y):  # the viewBox rectangle 40 x 30 turned 45 degrees about its centre, in px
    u, v = x / 2 - 20, y / 2 - 15
    c = math.cos(math.radians(45))
    return ((c * u + c * v).abs() <= 20) & ((-c * u + c * v).abs() <= 15)


@pytest.mark.parametrize("clip, transform, area", [
    ('<rect width="40" height="30"/>', "", 4800),
    ('<path d="M0 0h40v30H0z"/>', "", 4800),
    ('<path d="M-5.3 0h50v30h-50z"/>', 'transform="translate(5 0)"', 4800),
    ('<path d="M0 0h20v15H0z"/>', 'transform="scale(2)"', 4800),
    ('<path d="M0 0h40v29.98H0z"/>', "", 4800),  # cuts off 0.02 px: rounding in the export, clips nothing
    ('<path d="M0 0h40v29H0z"/>', "", 80 * 58),  # cuts off a pixel
    ('<rect width="40" height="30" rx="2"/>', "", 4800 - (4 - math.pi) * 4**2),  # rounds the canvas' corners
    ('<path d="M0 0h40v30H0z"/>', 'transform="rotate(45 20 15)"', area_inside(in_rotated_canvas)),
    ('<path d="M8 2h24v26H20V12H8z"/>', "", 4 * (24 * 10 + 12 * 16)),  # an L: not convex
    ('<path d="M20 2L36 28H4z"/><g/>', "", 4 * 16 * 26),  # a triangle, and a group that draws nothing
    ('<path d="M0 0h9v9H0z" style="display: none"/>', "", 0),  # no shape: clips everything
    # disjoint shapes or subpaths: their union (a flag's stars, an icon's separate parts)
    ('<rect x="2" y="2" width="10" height="10"/><circle cx="30" cy="15" r="6"/>', "",
     4 * (100 + math.pi * 36) - 2 * math.pi * 6 * 0.02 * 2 / 3),
    ('<path d="M8 2h24v26H20V12H8z M9 14h6v12H9z"/>', "", 4 * (24 * 10 + 12 * 16 + 6 * 12)),  # one in the L's notch
    # holes: a subpath inside another, running the other way (nonzero) or under even-odd; the
    # same way under nonzero it winds twice: no hole
    ('<path d="M0 0h30v30H0z M5 5v2.5h2.5V5z"/>', "", 4 * (30 * 30 - 2.5 * 2.5)),
    ('<path d="M0 0h30v30H0z M5 5h2.5v2.5H5z" clip-rule="evenodd"/>', "", 4 * (30 * 30 - 2.5 * 2.5)),
    ('<path d="M0 0h30v30H0z M5 5h2.5v2.5H5z M12 3v9h9V3z"/>', "", 4 * (30 * 30 - 81)),
    ('<path d="M0 0h40v30H0z M5 5h2v2H5z"/>', "", 4800),
    ('<circle cx="20" cy="15" r="12"/><path d="M2 2h4v4H2z M3 3v2h2V3z"/>', "",  # a ring beside a disc
     4 * (math.pi * 144 + 16 - 4) - 2 * math.pi * 24 * 0.02 * 2 / 3),
])
def test_clip_paths_of_one_simple_shape_clip_fills_exactly(clip, transform, area):
    """Exporters clip drawings to their canvas (a no-op), flags and icons to a shape: a clip path
    of one shape whose outline does not cross itself cuts the fills to it, without warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(clip_document(clip, '<path d="M-9 -9H60V60H-9z"/>', transform),
                             fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(area, abs=0.5)


@pytest.mark.parametrize("clip, area", [
    ('<path d="M0 0h30v30H0z M5 5v20h20V5z M10 10h2v2h-2z"/>', 4 * (900 - 400 + 4)),  # an island in a hole
    ('<path d="M0 0L40 30L0 30L40 0z"/>', 4 * 600),  # a bow tie
    ('<rect width="20" height="20"/><rect x="10" width="20" height="20"/>', 4 * 600),  # two shapes that overlap
    ('<rect width="20" height="20"/><rect x="20" width="20" height="20"/>', 4 * 800),  # ... or touch
    ('<rect width="20" height="20" clip-rule="evenodd"/><path d="M0 0h10v10H0z M2 2h6v6H2z" clip-rule="evenodd"/>',
     4 * 400),
])
def test_clip_paths_that_cannot_be_cut_become_masks(clip, area):
    """A clip path of shapes that overlap, touch or cross themselves masks its element's group:
    the clip's shapes, filled opaque, make the mask's alpha (their union, by each one's clip-rule)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(clip_document(clip, '<path d="M-9 -9H60V60H-9z" fill="#00f"/>'))
    (first, end, opacity, mask_paths, luminance), = scene.groups
    assert (first, end, opacity, luminance) == (0, scene.num_paths, 1.0, False) and mask_paths == scene.num_paths - 1
    assert covered_area(scene) == pytest.approx(area, abs=3)
    again = svg_to_scene(scene.to_svg())  # written as a <mask> (mask-type alpha), read back
    assert again.groups == scene.groups and covered_area(again) == pytest.approx(area, abs=3)


@pytest.mark.parametrize("clip, units", [
    ('<rect width="20" height="20"/><text>in a clip</text>', ""),
    ('<rect width="0.5" height="0.5"/>', 'clipPathUnits="objectBoundingBox"'),
])
def test_other_clip_paths_are_left_out_and_warned_of(clip, units):
    with pytest.warns(SvgImportWarning, match=r"1 clip path \(content drawn unclipped\)"):
        scene = svg_to_scene(clip_document(clip, '<path d="M-9 -9H60V60H-9z"/>', units=units))
    assert covered_area(scene) == pytest.approx(4800, abs=0.5)


@pytest.mark.parametrize("use, box", [
    ('<use href="#s" x="6" y="18" width="30" height="30" clip-path="url(#c)"/>', [12, 20, 24, 48]),
    ('<use href="#r" x="6" y="18" clip-path="url(#c)"/>', [18, 38, 30, 48]),
    ('<use href="#v" x="6" y="18" width="30" height="30" clip-path="url(#c)"/>', [18, 38, 30, 48]),
])
def test_a_clip_path_on_a_use_of_a_symbol_is_placed_before_its_x_y(use, box):
    """As resvg draws it: a use's x, y place a symbol's viewport, and its clip path is in the
    use's user space without them; a use of anything else (an svg too) moves its user space by them."""
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><defs><clipPath id="c"><rect x="12" '
            'y="20" width="12" height="40"/></clipPath><symbol id="s" viewBox="0 0 10 10"><rect width="10" '
            'height="10"/></symbol><svg id="v" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>'
            f'<rect id="r" width="30" height="30"/></defs>{use}</svg>')
    alpha = NativeRenderer().render([svg_to_scene(text)])[0, 3]
    ys, xs = torch.nonzero(alpha > 0.5, as_tuple=True)
    assert [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1] == box


def test_clip_path_content_is_in_the_user_space_of_its_user():
    """The clip's shapes are placed by the clipPath's transform and the user's transforms, not
    by the transforms around the clipPath's definition; a reference to nothing clips nothing."""
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60">'
            '<g transform="rotate(30)"><clipPath id="c" transform="scale(2)"><rect x="1" y="2" width="5" height="4"/>'
            '</clipPath></g>'
            '<g transform="translate(10 5)"><g clip-path="url(#c)"><rect width="50" height="50"/></g></g>'
            '<rect x="60" y="40" width="10" height="10" clip-path="url(#missing)"/></svg>')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(text)
    points = scene.points[0, : 3 * int(scene.num_segments[0]) + 1]
    assert points.min(0).values.tolist() == pytest.approx([12, 9])
    assert points.max(0).values.tolist() == pytest.approx([22, 17])
    assert covered_area(scene) == pytest.approx(10 * 8 + 10 * 10, abs=1e-3)


@pytest.mark.parametrize("rule", ["nonzero", "evenodd"])
def test_clipped_fill_keeps_its_holes_and_draws_no_seam(rule):
    """A ring cut by a clip: the hole stays a hole under either rule (nonzero: its contour runs the
    other way; even-odd: the same way), and the clip's outline is drawn once where the ring winds
    twice, so no edge is doubled (a doubled edge shows as a seam)."""
    hole = "M12 8h16v14H12z" if rule == "evenodd" else "M12 8v14h16V8z"
    text = clip_document('<rect x="10" y="5" width="15" height="20"/>',
                         f'<path fill-rule="{rule}" d="M5 3h30v24H5z {hole}"/>')
    scene = svg_to_scene(text)
    # the ring's part in the clip: (10..25 x 5..25) less the hole's (12..25 x 8..22), in px
    assert covered_area(scene) == pytest.approx(4 * (15 * 20 - 13 * 14), abs=1e-3)
    alpha = NativeRenderer().render([scene])[0, 3]
    assert alpha[10:50, 20:24].min().item() == pytest.approx(1.0, abs=1e-5)  # the left band, clip edge at x = 20
    assert alpha[16:44, 25:50].max().item() == pytest.approx(0.0, abs=1e-5)  # the hole


@pytest.mark.filterwarnings("ignore::vecrender.errors.SvgImportWarning")  # markers and filters, on purpose
def test_content_of_masks_markers_symbols_and_filters_is_drawn_only_where_used():
    defined = "".join(f'<{tag} id="{tag}"><rect width="5" height="5"/><{tag}/></{tag}>'
                      for tag in ("mask", "marker", "symbol", "filter"))
    text = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" '
            f'height="20"><!-- <mask> --><svg:mask xmlns:svg="http://www.w3.org/2000/svg"><rect/></svg:mask>'
            f'{defined}<rect x="9" width="2" height="2" mask="url(#mask)"/><use xlink:href="#symbol" x="12"/></svg>')
    scene = svg_to_scene(text)
    boxes = [(p[: 3 * int(n) + 1].min(0).values.tolist(), p[: 3 * int(n) + 1].max(0).values.tolist())
             for p, n in zip(scene.points, scene.num_segments)]
    # the use alone: the mask's black rect lies outside its region (the masked rect's box, grown by
    # a tenth), so the mask shows nothing of the rect it masks
    assert boxes == [([12, 0], [17, 5])]
    assert scene.groups == ()
    assert NativeRenderer().render([scene])[0, 3, :, :12].max() == 0


def test_clip_through_overlapping_subpaths_is_one_anti_aliased_edge():
    """Under nonzero two overlapping subpaths wind twice where they overlap: the clip's outline is
    drawn twice there, which the renderer takes as one edge (0.7 of the pixel the cut at x = 10.3
    crosses)."""
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><clipPath id="c">'
            '<rect x="10.3" y="0" width="30" height="30"/></clipPath>'
            '<g clip-path="url(#c)"><path d="M2 3h20v20H2z M6 6h20v20H6z"/></g></svg>')
    alpha = NativeRenderer().render([svg_to_scene(text)])[0, 3]
    assert alpha[4:22, 10].tolist() == pytest.approx([0.7] * 18, abs=1e-4)  # once and twice wound alike
    assert alpha[4:22, 11].min() == 1 and alpha[:, 9].max() == 0


@pytest.mark.filterwarnings("ignore::vecrender.errors.SvgImportWarning")  # text, on purpose
def test_clip_paths_and_masks_on_elements_that_draw_nothing_are_ignored():
    elements = ('<foo clip-path="url(#c)"/><metadata mask="url(#m)"/><linearGradient id="g" clip-path="url(#c)"/>'
                '<text clip-path="url(#c)" x="1" y="9">hi</text>')
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><clipPath id="c"><rect width="9" '
            f'height="9"/></clipPath><mask id="m"><rect width="9" height="9" fill="white"/></mask>{elements}'
            '<rect width="20" height="20" clip-path="url(#c)"/></svg>')
    assert covered_area(svg_to_scene(text)) == pytest.approx(81, abs=1e-3)


def mask_document(mask: str, attributes: str = "") -> str:
    """`clip_document`'s canvas with its content masked by `mask` (the ``<mask>``'s content)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60" viewBox="0 0 40 30">'
            f'<mask id="m" {attributes}>{mask}</mask><g mask="url(#m)"><path d="M-9 -9H60V60H-9z"/></g></svg>')


@pytest.mark.parametrize("mask, attributes, area", [
    # a drawing tool's mask: an opaque shape under mask-type alpha, cut to the mask's rectangle
    ('<circle cx="20" cy="15" r="10" fill="#D9D9D9"/>',
     'style="mask-type:alpha" maskUnits="userSpaceOnUse" x="0" y="0" width="40" height="30"',
     4 * math.pi * 100 - 2 * math.pi * 20 * 0.02 * 2 / 3),  # the outline: chords within 0.02 px of the circle
    ('<rect x="5" y="5" width="30" height="20" fill="white"/>',
     'maskUnits="userSpaceOnUse" x="10" y="0" width="40" height="12"', 4 * 25 * 7),
    ('<rect x="5" y="5" width="30" height="20" fill="#fff" fill-opacity="1"/><title>a</title>', "", 4 * 30 * 20),
    ('<rect x="5" y="5" width="30" height="20" fill="black"/>', "", 0),  # luminance 0 hides all
    ('<rect width="9" height="9" fill="white"/><rect x="20" width="9" height="9" fill="#fff"/>'
     '<rect x="30" width="5" height="5" fill="none"/>', "", 2 * 4 * 81),  # several shapes: their union
    ('', "", 0),  # an empty mask too
    ('<rect x="5" y="5" width="30" height="20" fill="#fff"/>', 'x="0.1"', 2400),  # a bounding-box region holding it
    # userSpaceOnUse without a rectangle (as Inkscape writes masks): -10 % .. 110 % of the viewport
    ('<circle cx="20" cy="15" r="10" fill="#fff"/>', 'maskUnits="userSpaceOnUse"',
     4 * math.pi * 100 - 2 * math.pi * 20 * 0.02 * 2 / 3),
    ('<circle cx="20" cy="15" r="10" fill="#fff"/>', 'maskUnits="userSpaceOnUse" x="50%"',  # from x = 20 on
     2 * math.pi * 100 - math.pi * 20 * 0.02 * 2 / 3),
])
def test_masks_of_opaque_shapes_clip(mask, attributes, area):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(mask_document(mask, attributes), fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(area, abs=0.5)


@pytest.mark.parametrize("mask, attributes, area", [
    ('<rect width="40" height="30" fill="#fff"/>', "", 4 * 36 * 24),  # the stroke cut 1 px beyond the box in y
    ('<rect width="40" height="30" fill="#fff"/>', 'x="0" y="0" width="0.5" height="1"', 4 * 15 * 20),
    ('<rect width="40" height="30" fill="#fff" opacity="0.5"/>', "", 2 * 36 * 24),  # a mask, not a clip: cut too
    ('<rect width="40" height="30" fill="#fff"/>', 'width="0"', 0),  # no area: nothing shows
])
def test_a_bounding_box_masks_region_is_its_elements_box(mask, attributes, area):
    """``maskUnits`` objectBoundingBox (the default): the mask's rectangle is fractions of the
    masked element's box, its geometry without strokes (-10 %, -10 %, 120 %, 120 % unless given),
    in its user space; the mask cuts what lies outside, a thick stroke too."""
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60" viewBox="0 0 40 30">'
            f'<mask id="m" {attributes}>{mask}</mask><g transform="translate(20 15)"><path mask="url(#m)" '
            'transform="translate(-20 -15)" d="M5 5H35V25H5z" fill="red" stroke="blue" stroke-width="6"/></g></svg>')
    scene = svg_to_scene(text, fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(area, abs=1)


def test_a_bounding_box_mask_on_a_group_boxes_what_its_uses_place():
    """The box of a group holding a ``<use>`` of a symbol is that of the symbol's content as the use
    places it (its viewBox fitted to the use's size), not as the parser leaves it."""
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60" viewBox="0 0 40 30"><defs>'
            '<symbol id="s" viewBox="0 0 10 10" overflow="visible"><rect width="10" height="10" fill="red" '
            'stroke="blue" stroke-width="3"/></symbol><mask id="m"><rect width="40" height="30" fill="#fff"/>'
            '</mask></defs><g mask="url(#m)"><use href="#s" x="5" y="5" width="20" height="20"/></g></svg>')
    scene = svg_to_scene(text, fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(4 * 24 * 24, abs=1)  # the stroke (2..28) cut at 3 and 27


@pytest.mark.parametrize("document, area", [
    # the mask's content inherits from the mask and its ancestors (the root's white fill)
    ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30" fill="#fff"><mask id="m">'
     '<rect x="5" y="5" width="30" height="20"/></mask><path mask="url(#m)" fill="red" d="M0 0H40V30H0z"/></svg>',
     600),
    ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><defs style="fill:white"><mask id="m" '
     'fill="inherit"><rect x="5" y="5" width="30" height="20"/></mask></defs><g fill="black">'
     '<path mask="url(#m)" fill="red" d="M0 0H40V30H0z"/></g></svg>', 600),
    # ... not from the element it masks: the rectangle is black, so it hides everything
    ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><mask id="m"><rect x="5" y="5" '
     'width="30" height="20"/></mask><g fill="#fff"><path mask="url(#m)" d="M0 0H40V30H0z"/></g></svg>', 0),
])
def test_mask_content_inherits_its_paint_where_the_mask_is_defined(document, area):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(document)
    assert covered_area(scene) == pytest.approx(area, abs=0.5)


GREY = 0xD9 / 255  # the luminance of #D9D9D9 (0.2125 r + 0.7154 g + 0.0721 b)


@pytest.mark.parametrize("mask, attributes, area", [
    ('<rect x="5" y="5" width="30" height="20" fill="#D9D9D9"/>', "", 2400 * GREY),  # grey: its luminance
    ('<rect x="5" y="5" width="30" height="20" fill="white"/>', 'stroke="white"', 4 * 31 * 21),  # inherited stroke
    ('<rect x="5" y="5" width="30" height="20" fill="white" opacity="0.5"/>', 'style="mask-type:alpha"', 1200),
    ('<rect width="30" height="20" fill="white"/><rect x="5" y="5" width="5" height="5" fill="black"/>', "", 2300),
    ('<rect x="5" y="5" width="30" height="20" fill="url(#g)"/>', "", 0),  # no such paint: none, nothing shows
    ('<rect x="5" y="5" width="30" height="20" fill="white" stroke="white"/>', "", 4 * 31 * 21),
])
def test_masks_that_are_no_clip_mask_their_group_by_their_content(mask, attributes, area):
    """A mask with grey, see-through, stroked or overlapping content masks its element's group
    by its content's luminance (or alpha, under mask-type alpha), as drawn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(mask_document(mask, attributes))
    assert covered_area(scene) == pytest.approx(area, abs=1)
    assert scene.groups[0][3:] == (scene.num_paths - 1, "alpha" not in attributes)
    again = svg_to_scene(scene.to_svg())
    assert again.groups == scene.groups and covered_area(again) == pytest.approx(area, abs=1)


def test_masks_in_bounding_box_units_or_missing_are_left_out_and_warned_of():
    with pytest.warns(SvgImportWarning, match=r"1 mask \(content drawn unmasked\)"):
        scene = svg_to_scene(mask_document('<rect width="0.5" height="0.5" fill="#888"/>',
                                           'maskContentUnits="objectBoundingBox"'))
    assert covered_area(scene) == pytest.approx(4800, abs=0.5)
    with pytest.warns(SvgImportWarning, match=r"1 mask \(content drawn unmasked\)"):
        svg_to_scene(mask_document("").replace('mask="url(#m)"', 'mask="url(#nothing)"'))


def test_clip_paths_may_use_shapes_defined_elsewhere():
    """``<use>`` of a shape in a clip path: placed by the use's x, y and the shape's transform."""
    document = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="80" '
                'height="60" viewBox="0 0 40 30"><defs><rect id="r" width="10" height="10" '
                'transform="translate(1 2)"/></defs><clipPath id="c" transform="translate(3 0)"><use '
                'xlink:href="#r" x="5" y="4"/><use href="#r" x="20" y="4"/></clipPath><g clip-path="url(#c)">'
                '<path d="M-9 -9H60V60H-9z"/></g></svg>')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(document, fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(2 * 20 * 20)
    corners = scene.points.reshape(-1, 2)
    assert corners.amin(0).tolist() == [18, 12] and corners.amax(0).tolist() == [68, 32]


@pytest.mark.parametrize("named, area", [
    ('<use href="#c2"/>', 4 * 100),  # a use of a use of a shape: the shape
    ('<use href="#g"/>', 0),  # a group: no shape, so the clip keeps nothing
    ('<use href="#s" width="10" height="10"/>', 0),  # a symbol, likewise
    ('<use href="#g"/><use href="#r"/>', 4 * 100),  # beside a shape: the shape alone
])
def test_clip_paths_use_only_shapes_through_use(named, area):
    """SVG allows a ``<use>`` in a clip path to name a shape or text (through other ``<use>``),
    not a group or symbol: those add nothing, as in resvg and browsers."""
    document = ('<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60" viewBox="0 0 40 30"><defs>'
                '<rect id="r" x="20" width="10" height="10"/><use id="c2" href="#r"/>'
                '<g id="g"><rect width="10" height="10"/></g>'
                '<symbol id="s" viewBox="0 0 1 1"><rect width="1" height="1"/></symbol></defs>'
                f'<clipPath id="c">{named}</clipPath><g clip-path="url(#c)"><path d="M-9 -9H60V60H-9z"/></g></svg>')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(document, fill_tolerance=0.02)
    assert covered_area(scene) == pytest.approx(area)


def test_a_union_of_disjoint_regions_cuts_each_path_to_each_in_the_paths_order():
    clip = '<rect x="5" y="0" width="10" height="30"/><rect x="25" y="0" width="10" height="30"/>'
    content = ('<path d="M0 10H40" stroke="red" stroke-width="2"/>'
               '<path d="M0 20H40" stroke="blue" stroke-width="2"/>')
    with pytest.warns(SvgImportWarning, match=r"1 clip path \(strokes clipped by their centre lines\)"):
        scene = svg_to_scene(clip_document(clip, content))
    ends = scene.points[:, [0, 3]].reshape(-1, 4).tolist()
    assert ends == [[10, 20, 30, 20], [50, 20, 70, 20], [10, 40, 30, 40], [50, 40, 70, 40]]
    assert scene.stroke_colors[:, 0].tolist() == [1, 1, 0, 0] and set(scene.line_caps.tolist()) == {CAP_BUTT}


def test_strokes_are_clipped_by_their_centre_lines():
    """A stroke is cut where its centre line leaves the clip (butt ends where cut at both), and
    the import warns of strokes that come within half their width of the outline."""
    crossing = '<path d="M5 15H35" stroke="black" stroke-width="2" stroke-linecap="round"/>'
    with pytest.warns(SvgImportWarning, match=r"1 clip path \(strokes clipped by their centre lines\)"):
        scene = svg_to_scene(clip_document('<rect x="10" y="5" width="20" height="20"/>', crossing))
    assert scene.points[0, [0, 3]].flatten().tolist() == pytest.approx([20, 30, 60, 30])
    assert scene.line_caps[0].item() == CAP_BUTT
    assert covered_area(scene) == pytest.approx(40 * 4, abs=1e-3)
    one_end = '<path d="M15 15H35" stroke="black" stroke-width="2" stroke-linecap="round"/>'
    with pytest.warns(SvgImportWarning, match="strokes clipped"):
        kept = svg_to_scene(clip_document('<rect x="10" y="5" width="20" height="20"/>', one_end))
    assert kept.line_caps[0].item() == CAP_ROUND  # its own end keeps its cap
    inside = '<path d="M15 15H25" stroke="black" stroke-width="2"/><path d="M0 0h40v30H0z" fill="none"/>'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = svg_to_scene(clip_document('<rect x="10" y="5" width="20" height="20"/>', inside))
    assert whole.points[0, [0, 3]].flatten().tolist() == pytest.approx([30, 30, 50, 30])


def test_strokes_a_clip_cuts_are_cut_as_outlines_when_rendered_as_drawn():
    """With fill_tolerance (a file rendered as drawn) a stroke near a clip's outline becomes its
    filled outline, cut exactly: a thick diagonal line through a vertical band covers the band's
    part of the stroke, nothing beyond it, and no warning is given."""
    band = '<rect x="10" y="0" width="10" height="30"/>'
    diagonal = '<path d="M0 0L30 30" stroke="#123456" stroke-width="4" stroke-opacity="0.5"/>'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(clip_document(band, diagonal), fill_tolerance=0.02)
    assert scene.num_paths == 1 and scene.widths[0].item() == 0 and bool(scene.closed[0])
    assert scene.fill_colors[0].tolist() == pytest.approx([0x12 / 255, 0x34 / 255, 0x56 / 255, 0.5])
    alpha = NativeRenderer().render([scene])[0, 3] / 0.5
    assert alpha[:, :20].sum().item() + alpha[:, 40:].sum().item() < 1e-3  # px 20..40 = the band

    def in_band(x, y):
        return (x >= 20) & (x <= 40) & ((x - y).abs() <= 8 * math.sqrt(2) / 2)  # |x - y| <= w / cos 45

    assert alpha.sum().item() == pytest.approx(area_inside(in_band), abs=0.5)
    with pytest.warns(SvgImportWarning, match="strokes clipped by their centre lines"):
        svg_to_scene(clip_document(band, diagonal))  # structure kept: cut at the centre line
    hairline = diagonal.replace('stroke-width="4"', 'stroke-width="0.1"')  # 0.2 px: at most 0.1 px off
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thin = svg_to_scene(clip_document(band, hairline), fill_tolerance=0.02)
    assert thin.widths[0].item() == pytest.approx(0.2) and thin.fill_colors is None


def test_strokes_under_a_non_uniform_scale_are_outlines_when_rendered_as_drawn():
    """A circle's stroke under scale(3 1) is 3 times as thick where it runs up and down as where it
    runs across, as in a browser; without fill_tolerance it stays one stroke of the mean thickness."""
    document = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><g transform="scale(3 1)">'
                '<circle cx="20" cy="20" r="10" stroke="black" stroke-width="2" fill="none"/></g></svg>')
    scene = svg_to_scene(document, fill_tolerance=0.02)
    assert scene.num_paths == 1 and scene.widths[0].item() == 0 and scene.fill_colors[0, 3].item() == 1.0
    alpha = NativeRenderer().render([scene])[0, 3]
    assert alpha[19:21, 80:100].sum().item() / 2 == pytest.approx(6.0, abs=0.05)  # across x = 90: 2 x 3 px
    assert alpha[0:20, 59:61].sum().item() / 2 == pytest.approx(2.0, abs=0.05)  # across y = 10: 2 px
    ellipse_ring = area_inside(lambda x, y: (((x - 60) / 33) ** 2 + ((y - 20) / 11) ** 2 <= 1)
                               & (((x - 60) / 27) ** 2 + ((y - 20) / 9) ** 2 > 1), 120, 40)
    assert alpha.sum().item() == pytest.approx(ellipse_ring, rel=2e-3)
    structure = svg_to_scene(document)
    assert structure.widths[0].item() > 0 and structure.fill_colors is None


@pytest.mark.filterwarnings("ignore::vecrender.errors.SvgImportWarning")  # patterns, on purpose
def test_gradient_paints_fall_back_to_their_mean_colour():
    square = 'd="M 0 0 L 9 0 L 9 9 Z"'
    scene = svg(
        '<defs><linearGradient id="rb"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>'
        '</linearGradient>'
        '<radialGradient id="fade" xlink:href="#rb2"/>'  # stops through href
        '<linearGradient id="rb2"><stop offset="0%" style="stop-color: red"/>'
        '<stop offset="100%" style="stop-color: blue; stop-opacity: 0"/></linearGradient>'
        '<linearGradient id="pad"><stop offset="0.5" stop-color="#00ff00"/><stop offset="0.25" stop-color="white"/>'
        '</linearGradient>'
        '<linearGradient id="empty"/><linearGradient id="loop" href="#loop2"/><linearGradient id="loop2" href="#loop"/>'
        '<pattern id="pat" width="2" height="2"><rect width="1" height="1"/></pattern></defs>'
        f'<path {square} fill="url(#rb)" fill-opacity="0.5" stroke="url(#rb)"/>'
        f'<path {square} fill="url(#fade)"/>'
        f'<path {square} fill="url(#pad)"/>'
        f'<path {square} fill="url(#empty) gold" stroke="url(#loop)"/>'
        f'<path {square} fill="url(#pat)"/>',
        'width="20" height="20" xmlns:xlink="http://www.w3.org/1999/xlink"')
    fills = [[round(v, 4) for v in row] for row in scene.fill_colors.tolist()]
    assert fills[0] == [0.5, 0.0, 0.5, 0.5]  # fill-opacity multiplies the mean
    assert [round(v, 4) for v in scene.stroke_colors[0].tolist()] == [0.5, 0.0, 0.5, 1.0]
    # red, opaque at 0, to transparent blue at 1: mean opacity 1/2, colour weighted by it
    assert fills[1] == [round(2 / 3, 4), 0.0, round(1 / 3, 4), 0.5]
    # offsets never decrease (0.25 -> 0.5): green up to 0.5, white after it
    assert fills[2] == [0.5, 1.0, 0.5, 1.0]
    assert [round(v * 255) for v in scene.fill_colors[3, :3].tolist()] == [255, 215, 0]  # no stops: fallback
    assert scene.widths[3] == 0.0  # a stroke through an href loop has no stops: no paint
    assert fills[4][3] == 0.0  # patterns: no paint
    assert scene.gradient_kinds.tolist() == [[LINEAR, LINEAR], [RADIAL, FLAT], [LINEAR, FLAT], [FLAT, FLAT],
                                             [FLAT, FLAT]]
    stops = scene.gradient_stops[0, 0].tolist()
    assert stops == [[0.0, 1.0, 0.0, 0.0, 0.5], [1.0, 0.0, 0.0, 1.0, 0.5]]  # fill-opacity in the stops' alphas


GRADIENT_SVG = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="48" height="48" viewBox="0 0 24 24">
  <defs>
    <linearGradient id="a"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue" stop-opacity="0.5"/>
    </linearGradient>
    <linearGradient id="b" xlink:href="#a" x1="0" y1="0" x2="0" y2="0.5" spreadMethod="reflect"/>
    <radialGradient id="c" cx="12" cy="16" r="7" fx="9" fy="14" gradientUnits="userSpaceOnUse"
                    gradientTransform="rotate(20 12 16)">
      <stop offset=".2" stop-color="#ff0"/><stop offset=".6" stop-color="#0a0"/><stop offset="1" stop-color="#00f"/>
    </radialGradient>
    <linearGradient id="d" x1="10%" x2="40%" gradientUnits="userSpaceOnUse" spreadMethod="repeat">
      <stop offset="0" stop-color="#fff"/><stop offset="1" stop-color="#000"/></linearGradient>
  </defs>
  <rect x="1" y="1" width="9" height="9" fill="url(#a)"/>
  <rect x="13" y="1" width="9" height="9" fill="url(#b)" transform="rotate(10 17 5)"/>
  <circle cx="12" cy="16" r="6" fill="url(#c)" stroke="url(#a)" stroke-width="1.5"/>
  <path d="M1 23 H23" stroke="url(#a)" stroke-width="1"/>
  <path d="M1 12 H23" stroke="url(#d)" stroke-width="1.5"/>
</svg>"""


def test_gradient_paints_import_in_canvas_pixels():
    """Where the imported gradients put their colours: the object bounding box (with the
    element's transform and the viewBox's scale), user space with a gradientTransform and a focal
    point, percentages of the viewport, spread methods; a bounding-box gradient on a horizontal
    line paints nothing."""
    scene = svg_to_scene(GRADIENT_SVG)
    kinds = scene.gradient_kinds.tolist()
    # the line stroked by #a over its (empty) bounding box draws nothing
    assert kinds == [[LINEAR, FLAT], [LINEAR, FLAT], [RADIAL, LINEAR], [FLAT, FLAT], [FLAT, LINEAR]]
    assert scene.widths[3] == 0

    def color(path: int, role: int, x: float, y: float) -> list[float]:
        flat = (scene.fill_colors if role == 0 else scene.stroke_colors)[path]
        paint = scene.gradients.role(role)
        rgba = paint_colors(flat, Gradients(*(t[path] for t in paint)), torch.tensor([x, y]))
        return [round(v, 3) for v in rgba.tolist()]

    assert color(0, 0, 2, 10) == [1.0, 0.0, 0.0, 1.0]  # the box's left edge (x = 1 * 2 px): red
    assert color(0, 0, 20, 2) == [0.0, 0.0, 1.0, 0.5]  # its right edge: blue at half opacity
    assert color(0, 0, 11, 5) == [0.5, 0.0, 0.5, 0.75]  # halfway
    assert color(4, 1, 2.4 * 2, 24) == [1.0, 1.0, 1.0, 1.0]  # x1 = 10 % of the 24 wide viewBox
    assert color(4, 1, 2.4 * 2 + 0.5 * 14.4, 24) == [0.5, 0.5, 0.5, 1.0]  # halfway to x2 = 40 %
    assert color(4, 1, 2.4 * 2 + 1.5 * 14.4, 24) == [0.5, 0.5, 0.5, 1.0]  # repeated
    rotation = math.radians(10)  # #b runs down its (rotated) box over half its height, then reflects
    down = (-math.sin(rotation) * 9 * 2, math.cos(rotation) * 9 * 2)  # box height, along its rotated y axis
    top = (13 * 2, 1 * 2)
    top = (17 * 2 + (top[0] - 34) * math.cos(rotation) - (top[1] - 10) * math.sin(rotation),
           10 + (top[0] - 34) * math.sin(rotation) + (top[1] - 10) * math.cos(rotation))
    assert color(1, 0, *top) == [1.0, 0.0, 0.0, 1.0]
    assert color(1, 0, top[0] + down[0] / 2, top[1] + down[1] / 2) == [0.0, 0.0, 1.0, 0.5]
    assert color(1, 0, top[0] + down[0], top[1] + down[1]) == [1.0, 0.0, 0.0, 1.0]  # reflected back
    focal = (12 + (9 - 12) * math.cos(math.radians(20)) - (14 - 16) * math.sin(math.radians(20)),
             16 + (9 - 12) * math.sin(math.radians(20)) + (14 - 16) * math.cos(math.radians(20)))
    assert color(2, 0, 2 * focal[0], 2 * focal[1]) == [1.0, 1.0, 0.0, 1.0]  # the focal point: the first stop
    assert color(2, 0, 2 * 12, 2 * (16 + 7)) == [0.0, 0.0, 1.0, 1.0]  # the circle's edge (r = 7 below the centre)


def test_gradient_paints_round_trip():
    """Exported gradients read back as the same paints (frames to 1e-5, colours to a byte); an
    export of a file renders like the file."""
    scene = svg_to_scene(GRADIENT_SVG)
    back = svg_to_scene(scene_to_svg(scene))
    for name in ("gradient_kinds", "gradient_spreads"):
        assert torch.equal(getattr(back, name), getattr(scene, name)), name
    torch.testing.assert_close(back.gradient_frames, scene.gradient_frames, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(back.gradient_focals, scene.gradient_focals, atol=1e-5, rtol=0)
    torch.testing.assert_close(back.gradient_stops[..., :4], scene.gradient_stops[..., :4], atol=BYTE, rtol=0)
    torch.testing.assert_close(back.gradient_stops[..., 4], scene.gradient_stops[..., 4], atol=1e-6, rtol=0)
    renderer = NativeRenderer()
    assert (renderer.render([back]) - renderer.render([scene])).abs().max() < 2 * BYTE


FOCAL_SVG = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  width="60" height="20">
  <defs>
    <radialGradient id="ring" gradientUnits="userSpaceOnUse" cx="10" cy="10" r="8" fr="2">
      <stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>
    </radialGradient>
    <radialGradient id="cone" xlink:href="#ring" cx="30" fx="38" fy="12" fr="-1"/>
    <radialGradient id="box" fx="40%" fr="25%">
      <stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/>
    </radialGradient>
  </defs>
  <rect width="20" height="20" fill="url(#ring)"/>
  <rect x="20" width="20" height="20" fill="url(#cone)"/>
  <rect x="40" width="20" height="10" fill="url(#box)"/>
</svg>"""


def test_radial_gradients_keep_their_focal_circle_and_a_focal_point_outside():
    """SVG 2 as resvg draws it: ``fr`` (inherited through href like ``r``; negative: 0; a
    percentage of the box) becomes the focal radius in radii, and a focal point outside the
    circle stays there (the cone around it is transparent); both are written back."""
    scene = svg_to_scene(FOCAL_SVG)
    torch.testing.assert_close(scene.gradient_focal_radii[:, 0], torch.tensor([0.25, 0.0, 0.5]))
    torch.testing.assert_close(scene.gradient_focals[:, 0], torch.tensor([[0.0, 0.0], [1.0, 0.25], [-0.2, 0.0]]))

    def color(path: int, x: float, y: float) -> list[float]:
        paint = Gradients(*(t[path] for t in scene.gradients.role(0)))
        return [round(v, 3) for v in paint_colors(scene.fill_colors[path], paint, torch.tensor([x, y])).tolist()]

    assert color(0, 12, 10) == [1.0, 0.0, 0.0, 1.0]  # on the focal circle, 2 px from the centre: red
    assert color(0, 14, 10) == [0.667, 0.0, 0.333, 1.0]  # 1/3 of the way to the circle
    assert color(1, 39, 2)[3] == 0.0  # beside the cone from (38, 12) around the circle
    assert color(1, 30, 10)[3] == 1.0
    text = scene_to_svg(scene)
    assert text.count(' fr="') == 2  # none where 0
    back = svg_to_scene(text)
    torch.testing.assert_close(back.gradient_focal_radii, scene.gradient_focal_radii, atol=1e-6, rtol=0)
    torch.testing.assert_close(back.gradient_focals, scene.gradient_focals, atol=1e-5, rtol=0)
    resvg_py = pytest.importorskip("resvg_py")
    from PIL import Image

    def render(svg_text: str) -> torch.Tensor:
        png = bytes(resvg_py.svg_to_bytes(svg_string=svg_text, dpi=96.0))
        return torch.tensor(list(Image.open(io.BytesIO(png)).convert("RGBA").tobytes()), dtype=torch.float32) / 255

    assert (render(text) - render(FOCAL_SVG)).abs().max() < 3 / 255  # the export draws the same in resvg


def dash_ends(scene: VectorScene) -> list[list[float]]:
    """Start and end x (y when vertical) of each path, rounded."""
    out = []
    for points, count in zip(scene.points.tolist(), scene.num_segments.tolist()):
        out.append([round(v, 3) for v in (*points[0], *points[3 * count])])
    return out


def test_symbols_fit_their_viewbox_and_percentages_refer_to_the_viewport():
    scene = load_svg(DATA / "viewports.svg")

    def box(i: int) -> list[float]:
        pts = scene.points[i, : 3 * int(scene.num_segments[i]) + 1]
        return [round(v, 3) for v in (*pts.amin(0).tolist(), *pts.amax(0).tolist())]

    assert box(0) == [5, 5, 35, 35]  # viewBox 0 0 10 10 into 30 x 30
    assert box(1) == [15, 40, 35, 60]  # into 40 x 20: "meet", centred
    assert box(2) == [50, 40, 58, 70]  # preserveAspectRatio="none": stretched
    assert box(4) == [90, 8, 114, 32]  # x="75%" y="10%" width="20%" height="30%" of 120 x 80
    r = 0.08 * math.hypot(120, 80) / math.sqrt(2)  # r="8%" of the normalised diagonal
    assert box(5) == [round(v, 3) for v in (108 - r, 64 - r, 108 + r, 64 + r)]


def test_dashes_split_strokes_into_open_paths():
    scene = svg('<path d="M 0 5 L 20 5" stroke="black" stroke-dasharray="4 2"/>'
                '<path d="M 0 9 L 20 9" stroke="black" stroke-dasharray="3,1,2" stroke-dashoffset="4"/>'
                '<g transform="scale(2)"><path d="M 0 10 L 10 10" stroke="black" stroke-dasharray="2 3"/></g>'
                '<path d="M 0 30 L 20 30" stroke="black" stroke-dasharray="1 -2"/>'  # invalid: solid
                '<path d="M 0 35 L 20 35" stroke="black" stroke-dasharray="0 5" stroke-linecap="round"/>'
                '<path d="M 0 40 L 20 40" stroke="black" stroke-dasharray="0 5"/>')  # butt: dots draw nothing
    ends = dash_ends(scene)
    assert ends[:4] == [[0, 5, 4, 5], [6, 5, 10, 5], [12, 5, 16, 5], [18, 5, 20, 5]]
    # 3,1,2 repeats as 3 1 2 3 1 2 (period 12), started 4 into it: 2 on, 3 off, 1 on, 2 off...
    assert ends[4:9] == [[0, 9, 2, 9], [5, 9, 6, 9], [8, 9, 11, 9], [12, 9, 14, 9], [17, 9, 18, 9]]
    assert ends[9:11] == [[0, 20, 4, 20], [10, 20, 14, 20]]  # lengths scale with the shape (x2)
    assert scene.widths[9:11].tolist() == [2.0, 2.0]
    solid = ends.index([0, 30, 20, 30])
    dots = ends[solid + 1 :]
    assert dots == [[x, 35, x, 35] for x in (0, 5, 10, 15)]  # none at the very end, none for butt
    assert not scene.closed.any()


@pytest.mark.parametrize("stroke", [
    'd="M4 4H20V20" stroke-dasharray="16 4" stroke-linecap="square"',  # two dashes' caps overlap at the corner
    'd="M4 20H36M20 4V36"',  # two open subpaths cross
])
def test_a_see_through_stroke_in_pieces_is_one_stroke(stroke):
    """Where the paths of one see-through stroke overlap, its alpha counts once, as in a browser."""
    text = f'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><path {stroke} stroke="red" ' \
           'stroke-width="6" stroke-opacity="0.5" fill="none"/></svg>'
    scene = svg_to_scene(text)
    assert scene.num_paths == 2 and scene.groups == ((0, 2, 0.5, 0, False),)
    alpha = NativeRenderer().render([scene])[0, 3]
    assert alpha.max().item() == pytest.approx(0.5, abs=1e-5) and alpha[20, 20].item() == pytest.approx(0.5, abs=1e-5)


def test_dashes_on_closed_and_filled_shapes():
    scene = svg('<rect x="0" y="0" width="10" height="5" fill="red" stroke="blue" stroke-dasharray="4 3"/>'
                '<rect x="0" y="10" width="10" height="5" fill="none" stroke="blue" stroke-dasharray="40"/>')
    # the fill stays whole (unstroked), then the dashes along the 30 px outline; the one through
    # the start point (28 to 30, then 0 to 4) is one piece, joined there
    assert scene.closed[0] and scene.widths[0] == 0 and scene.fill_colors[0, 3] == 1
    ends = dash_ends(scene)
    assert ends[1:5] == [[0, 2, 4, 0], [7, 0, 10, 1], [10, 4, 7, 5], [4, 5, 0, 5]]
    assert scene.num_segments[1:4].tolist() == [2, 2, 2]  # around a corner: a join between two segments
    assert not scene.closed[1:5].any()
    # an open filled subpath: its fill (closed, unstroked) stays one path, its stroke is dashed
    open_fill = svg('<path d="M 0 0 L 10 0 L 10 10" fill="red" stroke="blue" stroke-dasharray="5 5"/>')
    assert open_fill.closed.tolist() == [True, False, False] and open_fill.widths.tolist() == [0, 1, 1]
    assert scene.closed[-1] and scene.widths[-1] == 1  # one dash longer than the outline: closed


def test_dashes_are_measured_in_user_space():
    # under scale(1 3) a pattern of 4 on, 2 off is 4 px long across x and 12 px along y, as in a
    # browser (the stroke's geometric-mean scale would make both 6.9 px); non-scaling-stroke
    # measures it in the viewport
    scene = svg('<g transform="scale(1 3)" stroke="black" stroke-dasharray="4 2">'
                '<path d="M 0 1 H 10"/><path d="M 20 0 V 10"/>'
                '<path d="M 30 0 V 10" vector-effect="non-scaling-stroke"/></g>')
    ends = dash_ends(scene)
    assert ends[:2] == [[0, 3, 4, 3], [6, 3, 10, 3]]
    assert ends[2:4] == [[20, 0, 20, 12], [20, 18, 20, 30]]
    assert ends[4:] == [[30, 0, 30, 4], [30, 6, 30, 10], [30, 12, 30, 16], [30, 18, 30, 22], [30, 24, 30, 28]]


def test_dashes_are_kept_where_they_reach_the_canvas():
    # a dashed line 2e6 px long through a 100 px canvas: the dashes on and near the canvas only,
    # drawn as those of a short line in the same phase (-1e6 = -1 mod 3)
    def line(x0: float, x1: float, extra: str = "") -> str:
        return (f'<path d="M {x0} 50 L {x1} 50 M 20 {x0} L 20 {x1}" stroke="black" stroke-width="2" '
                f'stroke-dasharray="2 1" {extra}/>')

    huge, short = svg(line(-1e6, 1e6)), svg(line(-1, 101))
    assert short.num_paths == 2 * 34 and huge.num_paths < 2 * 34 + 20  # not 1.3 million
    renderer = NativeRenderer()
    assert (renderer.render([huge]) - renderer.render([short])).abs().max() < 1e-4
    # dashes whose centre lines pass off the canvas but whose width reaches it stay
    def edge(x0: float, x1: float) -> str:
        return f'<path d="M {x0} -1.5 L {x1} -1.5" stroke="black" stroke-width="4" stroke-dasharray="2 1"/>'

    near = renderer.render([svg(edge(-1e6, 1e6))])
    assert near[0, 3, 0].mean() > 0.3
    assert (near - renderer.render([svg(edge(-1, 101))])).abs().max() < 1e-4


def test_a_pattern_finer_than_max_dashes_is_drawn_faded(monkeypatch):
    monkeypatch.setattr("vecrender.svg.MAX_DASHES", 40)
    body = ('<path d="M 0 {y} L 100 {y}" stroke="rgb(0,0,255)" stroke-opacity="0.8" stroke-width="6" '
            'stroke-dasharray="0.5 1" stroke-linecap="{cap}"/>')
    with pytest.warns(SvgImportWarning, match=r"1 dashed stroke \(over 40 dashes: drawn solid, faded"):
        scene = svg(body.format(y=50, cap="butt"))
    assert scene.num_paths == 1 and scene.widths.tolist() == [6]
    assert scene.stroke_colors[0].tolist() == pytest.approx([0, 0, 1, 0.8 / 3])  # the duty cycle: 0.5 of 1.5
    with pytest.warns(SvgImportWarning):
        round_caps = svg(body.format(y=50, cap="round"))
    assert round_caps.stroke_colors[0, 3].item() == pytest.approx(0.8)  # the caps close the gaps
    with pytest.warns(SvgImportWarning, match="1 dashed stroke"):  # 4 subpaths of 13 dashes: 52 in all
        subpaths = svg('<path d="M 0 10 H 100 M 0 20 H 100 M 0 30 H 100 M 0 40 H 100" stroke="red" '
                       'stroke-dasharray="4 4"/>')
    assert subpaths.num_paths == 4 and subpaths.stroke_colors[:, 3].tolist() == [0.5] * 4
    # the faded stroke carries the dashes' mean alpha: compare with them drawn (a coarser pattern
    # of the same duty cycle under the limit)
    monkeypatch.setattr("vecrender.svg.MAX_DASHES", 10_000)
    dashed = svg(body.format(y=50, cap="butt"))
    renderer = NativeRenderer()
    alpha = [renderer.render([s])[0, 3, 40:60, 10:90].mean().item() for s in (scene, dashed)]
    assert alpha[0] == pytest.approx(alpha[1], rel=0.02)


@pytest.mark.parametrize("size", ['width="64"', 'height="48"', 'width="0.64in"'])
def test_one_given_dimension_takes_the_other_from_the_viewbox(size):
    # as browsers and resvg do: the canvas keeps the viewBox's aspect ratio (64 x 48 here), not a
    # 100 % default that would centre the drawing in a canvas of another shape
    text = (f'<?xml version="1.0"?><!-- drawn as <svg width="1"> --><svg xmlns="http://www.w3.org/2000/svg" '
            f'{size} viewBox="0 0 128 96"><rect x="2" y="2" width="10" height="10"/></svg>')
    scene = svg_to_scene(text)
    scale = 0.5 if "in" not in size else 0.48  # 0.64 in = 61.44 px
    assert (scene.width, scene.height) == ((64, 48) if "in" not in size else (61, 46))
    assert scene.points[0, 0].tolist() == pytest.approx([2 * scale, 2 * scale], abs=1e-4)


@pytest.mark.parametrize("size, expected", [('width="1em" height="1em"', (16, 16)), ('width="3em"', (48, 24)),
                                            ('width="4ex" height="2em" style="font-size: 12px"', (24, 24))])
def test_em_and_ex_sizes_of_the_root_are_px_of_its_font_size(size, expected):
    # icon sets (Iconify, react-icons) size their icons 1em, i.e. the 16 px default font size
    scene = svg_to_scene(f'<svg xmlns="http://www.w3.org/2000/svg" {size} viewBox="0 0 24 12"><rect width="24" '
                         f'height="12"/></svg>')
    assert (scene.width, scene.height) == expected


def test_em_and_ex_positions_and_sizes_follow_the_inherited_font_size():
    scene = svg('<circle cx="3em" cy="2em" r="1em"/>'
                '<g font-size="8"><rect x="1em" y="10ex" width="5em" height="3em"/>'
                '<g style="font-size: 150%"><line x1="2em" y1="1ex" x2="4em" y2="1ex" stroke="black"/></g></g>')
    circle, rect, line = (valid_points(scene, i) for i in range(3))
    assert circle.amin(0).tolist() == pytest.approx([32, 16], abs=1e-3)
    assert circle.amax(0).tolist() == pytest.approx([64, 48], abs=1e-3)
    assert rect.amin(0).tolist() == pytest.approx([8, 40]) and rect.amax(0).tolist() == pytest.approx([48, 64])
    assert line[[0, -1]].flatten().tolist() == pytest.approx([24, 6, 48, 6])  # font size 12


@pytest.mark.parametrize("body", ['<rect/>', '<rect width="20"/>', '<rect width="-20" height="10" stroke="red"/>',
                                  '<circle r="-4" stroke="red"/>', '<circle r="0" stroke="red"/>',
                                  '<ellipse rx="0" ry="5"/>', '<path fill="red"/>', '<path d=""/>'])
def test_shapes_svg_does_not_render_are_skipped_and_the_rest_drawn(body):
    # SVG draws no rect without a positive width and height (a missing one is not 100 %), no circle
    # or ellipse without positive radii; a path without data draws nothing and fails nothing
    scene = svg(f'{body}<rect x="10" y="20" width="30" height="40" fill="blue"/>')
    assert scene.num_paths == 1 and valid_points(scene, 0).amin(0).tolist() == [10, 20]


@pytest.mark.parametrize("body, box", [
    # a child that leaves out x and y sits at the nested viewport's origin, not at its x, y again
    ('<svg x="10" y="10" width="50" height="50" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>',
     [10, 10, 60, 60]),
    # without a viewBox, a nested <svg> still moves its content by x, y (user units unchanged)
    ('<svg x="20" y="30" width="50" height="50"><circle cx="20" cy="20" r="5"/></svg>', [35, 45, 45, 55]),
    ('<svg x="20" y="30"><svg x="30" y="10" width="40" height="40" viewBox="0 0 20 20">'
     '<rect width="20" height="10"/></svg></svg>', [50, 40, 90, 60]),
    ('<defs><rect id="r" width="10" height="10"/></defs><svg x="40" y="40" width="60" height="60">'
     '<use href="#r" x="20"/></svg>', [60, 40, 70, 50]),
])
def test_nested_svg_viewports_place_their_content(body, box):
    scene = svg(body, 'width="128" height="128"')
    points = valid_points(scene, scene.num_paths - 1)
    assert [*points.amin(0).tolist(), *points.amax(0).tolist()] == pytest.approx(box, abs=1e-3)


def test_compressed_svgz_files_read_and_damaged_ones_fail_cleanly(tmp_path):
    import gzip

    text = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>'
    (tmp_path / "a.svgz").write_bytes(gzip.compress(text))
    assert load_svg(tmp_path / "a.svgz").num_paths == 1
    (tmp_path / "b.svgz").write_bytes(gzip.compress(text)[:-12])
    with pytest.raises(SvgError, match="damaged gzip-compressed SVG"):
        load_svg(tmp_path / "b.svgz")


@pytest.mark.parametrize("body", ['<use id="u" href="#u"/>', '<g id="g"><use xlink:href="#g"/></g>',
                                  '<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g>'])
def test_uses_that_would_draw_themselves_again_draw_nothing(body):
    scene = svg(f'{body}<rect width="5" height="5"/>',
                'xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"')
    assert scene.num_paths == 1


@pytest.mark.parametrize("overflow, box", [("", [10, 10, 60, 40]), ('overflow="visible"', [-15, 10, 135, 60])])
def test_nested_svg_content_is_clipped_to_its_viewport_unless_overflow_is_visible(overflow, box):
    scene = svg(f'<svg x="10" y="10" width="50" height="30" viewBox="0 0 10 6" {overflow}>'
                '<rect x="-5" y="0" width="30" height="10"/></svg>', 'width="128" height="128"')
    points = valid_points(scene, 0)
    assert [*points.amin(0).tolist(), *points.amax(0).tolist()] == pytest.approx(box, abs=1e-3)


_SLICED = ('<symbol id="s" viewBox="0 0 10 10" preserveAspectRatio="xMidYMid slice" {}><rect width="10" height="10"/>'
           '</symbol>')
_TILE = '<svg id="v" {}><rect width="10" height="10"/></svg>'


@pytest.mark.parametrize("target, use, box", [
    # slice: 10 x 10 scaled by 4 into 40 x 20, centred, spills 10 above and below: cut there
    (_SLICED.format(""), 'x="10" y="10" width="40" height="20"', [10, 10, 50, 30]),
    (_SLICED.format('overflow="visible"'), 'x="10" y="10" width="40" height="20"', [10, 0, 50, 40]),
    (_SLICED.format('style="overflow: visible"'), 'x="10" y="10" width="40" height="20"', [10, 0, 50, 40]),
    # no viewBox: unscaled, still cut to the use's width and height
    ('<symbol id="s"><rect x="-5" width="100" height="10"/></symbol>', 'x="10" y="10" width="40" height="20"',
     [10, 10, 50, 20]),
    # no width and height on the use: 100 % of the viewport (scaled by 10 here)
    ('<symbol id="s" viewBox="0 0 10 10"><rect x="-5" width="20" height="10"/></symbol>', 'x="10" y="10"',
     [10, 10, 110, 110]),
    # an <svg>: the use's width and height replace the svg's own, one of them too
    (_TILE.format('width="10" height="10" viewBox="0 0 10 10"'), 'x="10" y="10" width="40" height="20"',
     [20, 10, 40, 30]),
    (_TILE.format('width="10" height="10" viewBox="0 0 10 10"'), 'x="10" y="10" width="40"', [25, 10, 35, 20]),
    (_TILE.format('width="10" height="10" viewBox="0 0 10 10"'), 'x="10" y="10"', [10, 10, 20, 20]),
    (_TILE.format('x="5" y="5" width="10" height="10" viewBox="0 0 10 10" preserveAspectRatio="none"'),
     'x="10" y="10" width="40" height="20"', [15, 15, 55, 35]),
    # an svg without a viewBox: unscaled, cut to the use's width and height
    ('<svg id="v" width="10" height="10"><rect x="-5" width="100" height="10"/></svg>',
     'x="10" y="10" width="40" height="20"', [10, 10, 50, 20]),
], ids=["slice", "overflow-visible", "overflow-visible-style", "symbol-without-viewbox", "use-without-size",
        "svg-sized-by-use", "svg-width-by-use", "svg-own-size", "svg-at-its-x-y", "svg-without-viewbox"])
def test_use_places_a_symbol_or_svg_in_the_viewport_it_gives_it(target, use, box):
    # the boxes resvg draws (and browsers)
    scene = svg(f'<defs>{target}</defs><use href="#{"s" if "symbol" in target else "v"}" {use}/>')
    points = valid_points(scene, 0)
    assert [*points.amin(0).tolist(), *points.amax(0).tolist()] == pytest.approx(box, abs=1e-3)


@pytest.mark.parametrize("fill_tolerance", [None, RENDER_FILL_TOLERANCE])
def test_content_that_fits_its_viewport_is_not_clipped(monkeypatch, fill_tolerance):
    # icon sprites draw inside their viewBox, strokes up to its edge: their content is left as it
    # is (no clip built: no cut, no stroke outlined, no warning), as that of a nested svg
    def scene(overflow: str) -> VectorScene:
        icon = ('<rect x="1" y="1" width="22" height="22" fill="none" stroke="black" stroke-width="2" '
                'stroke-linejoin="round"/><circle cx="12" cy="12" r="12" fill="red"/>'
                '<path d="M1.5 12 L12 4 L22.5 12" fill="none" stroke="blue" stroke-width="2" stroke-linecap="square" '
                'stroke-linejoin="bevel"/>')
        body = (f'<defs><symbol id="i" viewBox="0 0 24 24" {overflow}>{icon}</symbol></defs>'
                '<use href="#i" width="48" height="48"/><use href="#i" x="50" y="50" width="24" height="24"/>'
                f'<svg x="50" width="48" height="48" viewBox="0 0 24 24" {overflow}>{icon}</svg>')
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return svg_to_scene(f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{body}</svg>',
                                fill_tolerance=fill_tolerance)

    visible = scene('overflow="visible"')
    monkeypatch.setattr("vecrender.svg._Clips._region", lambda *args: pytest.fail("a clip was built"))
    hidden = scene("")
    assert hidden.num_paths == visible.num_paths == 9
    for name in ("points", "widths", "num_segments", "closed", "stroke_colors"):
        assert torch.equal(getattr(hidden, name), getattr(visible, name)), name
    assert (hidden.widths > 0).sum() == 6  # the strokes stay strokes


def test_empty_svg_gives_an_empty_scene():
    scene = svg("<g/>", 'width="16" height="8"')
    assert scene.num_paths == 0 and (scene.width, scene.height) == (16, 8) and scene.fill_colors is None


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><path d='M 0 0'", "not well-formed"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not well-formed"),
    (b"<html><body/></html>", "root element is <html>"),
    (b"<svg xmlns='http://www.w3.org/2000/svgs' width='10' height='10'/>", 'namespace "http://www.w3.org/2000/svgs"'),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><path d='M 0 0 L 1 1'/></svg>", "neither width/height nor viewBox"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' width='0' height='10'/>", "not a positive length"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' width='auto' height='10'/>", "not a positive length"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 0 0'><rect width='5' height='5'/></svg>",
     'not a positive length \\(the <svg> has viewBox="0 0 0 0"\\)'),
])
def test_bad_files_raise_one_line_svg_error(tmp_path, content, needle):
    path = tmp_path / "in.svg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SvgError, match=needle) as info:
        load_svg(path)
    assert isinstance(info.value, VecrenderError) and "\n" not in str(info.value)


@pytest.mark.parametrize("hidden", ['display="none"', 'style="fill: red; display : none"'])
def test_a_hidden_root_draws_nothing_on_its_canvas(hidden):
    text = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 60 30" {hidden}><rect width="5" height="5"/></svg>'
    with pytest.warns(SvgImportWarning, match="the root <svg> has display: none, so the file draws nothing"):
        scene = svg_to_scene(text)
    assert (scene.num_paths, scene.width, scene.height) == (0, 60, 30)


def test_a_directory_or_a_pipe_is_not_read(tmp_path):
    with pytest.raises(SvgError, match="is not a regular file; pass an SVG file"):
        load_svg(tmp_path)
    os.mkfifo(tmp_path / "pipe.svg")  # reading it would wait for a writer forever
    with pytest.raises(SvgError, match=r"pipe\.svg' is not a regular file"):
        load_svg(tmp_path / "pipe.svg")


# -- rendering: our re-export draws what the original file draws ----------------------------------
@pytest.mark.parametrize("name", ["clipasso_like", "clipdraw_like", "painterly_blobs", "live_like", "generic"])
def test_reexport_renders_like_the_original(name):
    resvg_py = pytest.importorskip("resvg_py")
    if not hasattr(resvg_py, "svg_to_bytes"):
        pytest.skip("resvg_py without svg_to_bytes")
    from PIL import Image

    def render(text: str) -> torch.Tensor:
        png = bytes(resvg_py.svg_to_bytes(svg_string=text, dpi=96.0))  # default 0: pt, mm, in draw as 0
        image = Image.open(io.BytesIO(png)).convert("RGBA")
        rgba = torch.tensor(list(image.tobytes()), dtype=torch.float32).reshape(-1, 4) / 255
        return torch.cat([rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]], dim=1)  # premultiplied

    original = (DATA / f"{name}.svg").read_text()
    ours = render(scene_to_svg(svg_to_scene(original)))
    reference = render(original)
    assert reference[:, 3].sum() > 10  # the file draws something
    diff = (ours - reference).abs()
    # curve flattening in resvg differs slightly between an <ellipse> and our cubics: edge pixels only
    assert diff.max() < 0.25 and diff.mean() < 2e-3, (diff.max(), diff.mean())


def test_exported_background_renders_in_resvg():
    resvg_py = pytest.importorskip("resvg_py")
    if not hasattr(resvg_py, "svg_to_bytes"):
        pytest.skip("resvg_py without svg_to_bytes")
    from PIL import Image

    scene = VectorScene(points=torch.tensor([[[2.0, 2.0], [4.0, 2.0], [6.0, 2.0], [8.0, 2.0]]]),
                        widths=torch.tensor([2.0]), stroke_colors=torch.tensor([[1.0, 0.0, 0.0, 1.0]]),
                        width=16, height=12, background=(0.0, 0.0, 1.0))
    image = Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=scene.to_svg())))).convert("RGBA")
    assert image.size == (16, 12)
    assert image.getpixel((12, 9)) == (0, 0, 255, 255)  # background rect
    assert image.getpixel((5, 2))[:3] == (255, 0, 0)  # the stroke over it


def test_empty_scene_round_trip():
    scene = VectorScene(points=torch.zeros(0, 4, 2), widths=torch.zeros(0), stroke_colors=torch.zeros(0, 4),
                        width=8, height=6)
    back = svg_to_scene(scene_to_svg(scene))
    assert back.num_paths == 0 and (back.width, back.height) == (8, 6)


# -- fill tolerance ------------------------------------------------------------------------------
def polygon_deviation(points: torch.Tensor, num_segments: int, centre: tuple[float, float], radius: float) -> float:
    """Largest distance from a circle of the renderers' fill polygon (16 chords per cubic) of a
    closed subpath's cubics (the last ends on its first point): at the chords' midpoints, where an
    inscribed polygon is farthest."""
    t = torch.linspace(0, 1, 17, dtype=torch.float64)[:, None]
    worst = 0.0
    for k in range(num_segments):
        p = points[3 * k : 3 * k + 4].double().clone()
        if k == num_segments - 1:
            p[3] = points[0]
        curve = (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]
        mid = (curve[1:] + curve[:-1]) / 2
        worst = max(worst, float((radius - (mid - torch.tensor(centre)).norm(dim=-1)).abs().max()))
    return worst


def circle_data(cx: float, cy: float, r: float, reverse: bool = False) -> str:
    """Path data of a circle as 4 cubics (the usual 0.5523 r handles), closed."""
    k = 0.5523 * r
    quarter = [((cx + r, cy + k), (cx + k, cy + r), (cx, cy + r)), ((cx - k, cy + r), (cx - r, cy + k), (cx - r, cy)),
               ((cx - r, cy - k), (cx - k, cy - r), (cx, cy - r)), ((cx + k, cy - r), (cx + r, cy - k), (cx + r, cy))]
    if reverse:
        ends = [(cx + r, cy)] + [q[2] for q in quarter]
        quarter = [(q[1], q[0], end) for q, end in zip(reversed(quarter), reversed(ends[:-1]))]
    return f"M {cx + r} {cy} " + " ".join("C " + " ".join(f"{x:.4f} {y:.4f}" for x, y in q) for q in quarter) + " Z"


def test_a_compound_path_of_shapes_apart_renders_as_one_path_per_group_with_the_same_pixels(monkeypatch):
    # traced images are one compound path of hundreds of shapes: drawn as separate paths where
    # no pixel sees two of them, they render the same and much faster
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="64"><path fill="#28c" fill-opacity="0.8" '
            'stroke="black" stroke-width="3" stroke-linejoin="miter" d="'
            'M 5 5 H 30 V 30 H 5 Z M 10 10 V 25 H 25 V 10 Z '  # a ring (its hole drawn the other way round)
            'M 33 8 L 40 20 L 33 30 Z '  # 3 px from the ring: within reach, same group
            'M 60 5 C 85 5 85 32 60 32 C 72 25 72 12 60 5 Z '  # apart
            'M 10 50 H 90 V 60 H 10 Z"/></svg>')  # apart
    scene = svg_to_scene(text, fill_tolerance=RENDER_FILL_TOLERANCE)
    monkeypatch.setattr("vecrender.svg._separate_parts", lambda item: [item])
    whole = svg_to_scene(text, fill_tolerance=RENDER_FILL_TOLERANCE)
    assert (scene.num_paths, whole.num_paths) == (3, 1)
    assert scene.subpath_starts[0].nonzero().flatten().tolist() == [0, 4, 8]  # the ring and the triangle
    render = NativeRenderer().render
    assert (render([scene]) - render([whole])).abs().max() < 1e-5


def test_fill_tolerance_cuts_bent_filled_cubics_into_the_same_curves():
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="224" height="224">'
            f'<path d="{circle_data(112, 112, 100)} {circle_data(112, 112, 40, reverse=True)}" fill="#345"/>'
            f'<path d="{circle_data(112, 112, 100)}" fill="none" stroke="#000"/></svg>')
    as_written = svg_to_scene(text)
    cut = svg_to_scene(text, fill_tolerance=0.02)
    # the ring's outer subpath: its 16-chord polygon is 0.13 px inside the circle as written
    outer = int(torch.nonzero(as_written.subpath_starts[0])[1])
    assert polygon_deviation(as_written.points[0], outer, (112, 112), 100) > 0.1
    outer_cut = int(torch.nonzero(cut.subpath_starts[0])[1])
    assert outer_cut > outer
    assert polygon_deviation(cut.points[0], outer_cut, (112, 112), 100) < 0.02
    # the same curves: every cut point lies on the circle (0.5523 r handles: within 0.03 px)
    ends = cut.points[0, : 3 * outer_cut : 3].double()  # the stored end is the next subpath's start
    assert ((ends - torch.tensor([112.0, 112.0])).norm(dim=-1) - 100).abs().max() < 0.03
    # the inner subpath starts after the outer's pieces and keeps its own circle
    inner_segments = int(cut.num_segments[0]) - outer_cut
    inner = cut.points[0, 3 * outer_cut : 3 * outer_cut + 3 * inner_segments + 1]
    assert polygon_deviation(inner, inner_segments, (112, 112), 40) < 0.02
    # strokes are drawn from the curves themselves: the unfilled circle keeps its cubics
    assert int(cut.num_segments[1]) == int(as_written.num_segments[1])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="fill_tolerance must be a distance in px above 0"):
            svg_to_scene(text, fill_tolerance=bad)


@pytest.mark.parametrize("bad", ['d="M 0 0 L 5 5" stroke="#000" stroke-width="1e999"',
                                 'd="M 1e308 0 L -1e308 5 L 0 9 Z"',  # finite, but its squares overflow
                                 'd="M 0 0 L 1e39 5 L 0 9 Z"'])  # beyond float32
def test_paths_that_overflow_to_infinity_are_left_out_with_a_warning(bad):
    text = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">'
            f'<path d="M 1 1 L 3 3" stroke="red"/><path {bad}/></svg>')
    for tolerance in (None, 0.02):
        with pytest.warns(SvgImportWarning, match=r"left out 1 path\(s\) whose coordinates or stroke width overflow"):
            scene = svg_to_scene(text, fill_tolerance=tolerance)
        assert scene.num_paths == 1 and bool(scene.points.isfinite().all())


@pytest.mark.parametrize("d, drawn", [
    ("M 1 1 L 9 1 L 9 9 30", "M 1 1 L 9 1 L 9 9"),  # a segment missing an argument is dropped
    ("M 1 1 H 9 A 1 1 0 1 20 9 9 L 1 9", "M 1 1 H 9"),  # an arc flag other than 0 or 1
    ("M 1 1 L 9 1 Z 5 5", "M 1 1 L 9 1 Z"),  # numbers after Z
    ("M 1 1 L 9 1 Z, L 5 5", "M 1 1 L 9 1 Z"),  # a comma after Z (one after a number is allowed)
    ("M 1 1 L 9 1 C 1e999 0 5 5 9 9 L 1 9", "M 1 1 L 9 1"),  # a number that overflows
    ("M 1 1 L 9 1 L 9 9E L 1 9", "M 1 1 L 9 1"),  # an exponent without digits
    ("M 1 1 L 9 9 x 5", "M 1 1 L 9 9"),  # no such command
    ("L 1 1 L 9 9", ""),  # no moveto first
    # no error: numbers run together, a comma before a command, flags without separators
    ("M1.5.5-3-4,L9 9,", None), ("M1 1a4 4 0 11 8 0z m1 1h2", None), ("  m1 1 2 2 ", None),
])
def test_path_data_is_drawn_up_to_its_first_error(d, drawn):
    """SVG draws path data up to its first error (whole segments), as resvg and browsers do; the
    import says so. resvg draws the same for the data and for what import keeps of it."""
    assert path_data_prefix(d) == (d if drawn is None else drawn)
    document = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="{}" stroke="#000" '
                'fill="none" stroke-linecap="round"/></svg>').format
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = svg_to_scene(document(d))
    messages = [str(w.message) for w in caught]
    assert messages == ([] if drawn is None else
                        ["SVG text: 1 path(s) have an error in their path data (d), and are drawn up to it, as "
                         "browsers draw them; fix the data to draw the rest."])
    if drawn is not None:
        kept = svg_to_scene(document(drawn))
        assert scene.num_paths == kept.num_paths and torch.equal(scene.points, kept.points)
        resvg_py = pytest.importorskip("resvg_py")
        assert bytes(resvg_py.svg_to_bytes(svg_string=document(d))) == \
            bytes(resvg_py.svg_to_bytes(svg_string=document(drawn)))


# -- markers ------------------------------------------------------------------------------------
def marker_document(marker: str, path: str, defs: str = "") -> str:
    """A 100 x 100 canvas with one ``<marker id="m">`` (attributes and content in `marker`) and `path`."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><defs {defs}><marker id="m" '
            f'{marker}</marker></defs>{path}</svg>')


def marker_boxes(scene: VectorScene) -> list[list[float]]:
    """[x0, y0, x1, y1] of each path's control points, after the first (the marked shape)."""
    points = scene.points[1:]
    return torch.cat([points.amin(1), points.amax(1)], dim=1).tolist()


SQUARE_MARKER = 'markerWidth="10" markerHeight="10" refX="2" refY="2"><rect width="4" height="4"/>'


def test_markers_sit_on_the_vertices_scaled_by_the_stroke_width():
    """refX/refY on the vertex; markerUnits strokeWidth (the default) scales by the stroke width;
    the ``marker`` shorthand marks every vertex, marker-start, -mid and -end one kind each."""
    path = '<path d="M10 10H50V50" stroke="black" stroke-width="3" fill="none" style="marker: url(#m)"/>'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(marker_document(SQUARE_MARKER, path))
    assert marker_boxes(scene) == [[4, 4, 16, 16], [44, 4, 56, 16], [44, 44, 56, 56]]
    single = marker_document(SQUARE_MARKER.replace('refX="2"', 'refX="0" markerUnits="userSpaceOnUse"'),
                             path.replace('style="marker: url(#m)"', 'marker-mid="url(#m)"'))
    assert marker_boxes(svg_to_scene(single)) == [[50, 8, 54, 12]]


DIAGONAL = [50 - 0.5**0.5, 10 - 0.5**0.5, 50 + 2.5 * 2**0.5, 10 + 2.5 * 2**0.5]  # the bar turned 45 degrees


@pytest.mark.parametrize("orient, boxes", [
    ("auto", [[10, 9, 14, 11], DIAGONAL, [49, 50, 51, 54]]),  # along the path; at the corner, the bisector
    ("auto-start-reverse", [[6, 9, 10, 11], DIAGONAL, [49, 50, 51, 54]]),
    ("90", [[9, 10, 11, 14], [49, 10, 51, 14], [49, 50, 51, 54]]),
    ("0.25turn", [[9, 10, 11, 14], [49, 10, 51, 14], [49, 50, 51, 54]]),
])
def test_markers_turn_by_orient(orient, boxes):
    """A 4 x 2 bar pointing forward from its reference point: its bounding box shows its direction."""
    marker = (f'markerWidth="9" markerHeight="9" refX="0" refY="1" orient="{orient}" markerUnits="userSpaceOnUse" '
              'overflow="visible"><path d="M0 0H4V2H0z"/>')
    path = '<path d="M10 10H50V50" stroke="black" fill="none" style="marker: url(#m)"/>'
    got = marker_boxes(svg_to_scene(marker_document(marker, path)))
    assert len(got) == 3
    for box, expected in zip(got, boxes):
        assert box == pytest.approx(expected, abs=1e-4), got


def test_marker_content_inherits_from_the_marker_and_is_clipped_to_its_box():
    """Content paints come from the marker's ancestors, not the marked path (red); the content
    is cut to the marker's box unless overflow is visible."""
    marker = 'markerWidth="4" markerHeight="4" markerUnits="userSpaceOnUse"><circle r="4"/>'
    path = '<path d="M20 20H60" stroke="red" fill="red" marker-end="url(#m)"/>'
    scene = svg_to_scene(marker_document(marker, path, defs='fill="#0000ff"'))
    assert scene.fill_colors[1].tolist() == [0, 0, 1, 1]
    assert marker_boxes(scene)[0] == pytest.approx([60, 20, 64, 24], abs=1e-4)  # the quarter in the box
    visible = svg_to_scene(marker_document(marker.replace(">", ' overflow="visible">', 1), path))
    assert marker_boxes(visible)[0] == pytest.approx([56, 16, 64, 24], abs=1e-4)


def test_text_in_a_used_marker_is_warned_of_once():
    marker = 'markerWidth="4" markerHeight="4"><text>A</text><circle r="2"/>'
    used = marker_document(marker, '<path d="M20 20H40H60" stroke="red" marker="url(#m)"/>')
    with pytest.warns(SvgImportWarning, match=r"1 text element"):
        scene = svg_to_scene(used)
    assert scene.num_paths == 4  # the path and the circle at its three vertices
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a marker no shape uses is not drawn, nor warned of
        svg_to_scene(marker_document(marker, '<path d="M20 20H60" stroke="red"/>'))


def test_marker_angles_follow_the_path():
    from vecrender.svg import _marker_vertices

    segments = [("M", (0.0, 0.0)), ("L", (10.0, 0.0)), ("C", (20.0, 0.0), (20.0, 10.0), (20.0, 20.0)),
                ("M", (40.0, 0.0)), ("L", (40.0, 10.0)), ("L", (50.0, 10.0)), ("Z",)]
    start, = _marker_vertices(segments, "start")
    assert start == ((0.0, 0.0), 0.0)
    mids = _marker_vertices(segments, "mid")
    assert [point for point, _ in mids] == [(10.0, 0.0), (20.0, 20.0), (40.0, 0.0), (40.0, 10.0), (50.0, 10.0)]
    # in and out directions: 0 / 0, 90 / (a new subpath), 90 (out), 90 / 0, 0 / 225 (the closing line)
    assert [angle for _, angle in mids] == pytest.approx([0.0, 90.0, 90.0, 45.0, 292.5])
    (end_point, end_angle), = _marker_vertices(segments, "end")  # a closed subpath ends on its start
    assert end_point == (40.0, 0.0) and end_angle == pytest.approx(225.0)
    assert _marker_vertices([("M", (1.0, 1.0))], "mid") == []


def test_marker_content_follows_the_documents_style_sheets_and_uses():
    """Marker content styled by a class of the document's <style>, and drawn by a <use> of an
    element defined elsewhere, draws as it would in place."""
    defs = ('<style>.dot { fill: #00f }</style><rect id="r" width="2" height="2" fill="#0f0"/>'
            '<marker id="a" markerUnits="userSpaceOnUse"><rect class="dot" width="2" height="2"/></marker>'
            '<marker id="b" markerUnits="userSpaceOnUse"><use xlink:href="#r" x="1"/></marker>')
    document = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" '
                f'height="40"><defs>{defs}</defs><path d="M10 10H20" stroke="black" marker-start="url(#a)" '
                'marker-end="url(#b)"/></svg>')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = svg_to_scene(document)
    assert scene.fill_colors[1:].tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]]
    assert marker_boxes(scene) == [[10, 10, 12, 12], [21, 10, 23, 12]]  # the use moved by its x=1


DOT_MARKER = ('markerWidth="4" markerHeight="4" refX="2" refY="2" markerUnits="userSpaceOnUse">'
              '<rect width="4" height="4"/>')


@pytest.mark.parametrize("path, centres", [
    ("M10 50 A40 40 0 0 1 90 50 L90 90", [(90, 50)]),  # half a turn
    ("M50 10 A40 40 0 0 1 90 50 L90 90", [(90, 50)]),  # a quarter turn
    ("M50 90 A40 40 0 1 1 90 50 L90 90", [(90, 50)]),  # three quarters
    ("M10 50 A40 20 0 0 1 90 50 A40 20 0 0 1 10 50 Z", [(90, 50), (10, 50)]),  # two arcs: an ellipse
])
def test_marker_mid_marks_an_arc_as_one_segment(path, centres):
    """An arc command is one segment whatever its sweep: ``marker-mid`` goes on the vertices
    between commands, not on the joints of the cubics it is drawn with (resvg marks those too)."""
    scene = svg_to_scene(marker_document(DOT_MARKER, f'<path d="{path}" stroke="black" fill="none" '
                                                     'marker-mid="url(#m)"/>'))
    assert marker_boxes(scene) == [pytest.approx([x - 2, y - 2, x + 2, y + 2], abs=1e-4) for x, y in centres]


@pytest.mark.parametrize("marker, path, box", [
    # 10 % of the 200 px width, 20 % of the 100 px height; refX 5 % / refY 10 % of them
    ('markerWidth="10%" markerHeight="20%" markerUnits="userSpaceOnUse"', "M50 50H150", [150, 50, 170, 70]),
    ('markerWidth="10%" markerHeight="20%" refX="5%" refY="10%" markerUnits="userSpaceOnUse"', "M50 50H150",
     [140, 40, 160, 60]),
    ('markerWidth="10%" markerHeight="20%"', "M50 50H150", [150, 50, 190, 90]),  # times the stroke width, 2
    ('markerWidth="5mm" markerHeight="1em" markerUnits="userSpaceOnUse"', "M50 50H150", [150, 50, 168.9, 66]),
])
def test_marker_sizes_and_reference_points_take_lengths_and_percentages_of_the_viewport(marker, path, box):
    """As resvg reads them (their boxes measured from its renders): percentages of the nearest
    viewBox's width (markerWidth, refX) or height (markerHeight, refY), and any unit."""
    document = (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><defs><marker id="m" {marker}>'
                '<rect x="-50" y="-50" width="100" height="100"/></marker></defs>'
                f'<path d="{path}" stroke="black" stroke-width="2" marker-end="url(#m)"/></svg>')
    assert marker_boxes(svg_to_scene(document)) == [pytest.approx(box, abs=0.05)]
