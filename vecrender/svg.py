"""SVG 1.1 export and import of a `VectorScene`.

Export (`scene_to_svg`) writes one ``<path>`` per scene path, in drawing order::

    <path d="M x y C x1 y1 x2 y2 x3 y3 ... Z" fill="none" stroke="rgb(r, g, b)" stroke-opacity="a"
          stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/>

* Caps and joins: the scene's ``line_caps`` / ``line_joins`` (round where None), and
  ``stroke-miterlimit`` for miter joins whose limit is not SVG's default 4.
* Only the valid segments (``num_segments``) are written. A closed path's last segment ends at
  ``points[0]`` and the data ends with ``Z``.
* Coordinates, widths and opacities are written with 6 decimals (trailing zeros stripped,
  ``3.0`` prints as ``3``), so they read back exact to 1e-6 (plus float32 rounding).
* Colors are SVG 8-bit ``rgb(r, g, b)`` (rounded), so RGB reads back within 0.5/255; alphas are
  written as ``stroke-opacity`` / ``fill-opacity`` numbers and read back exact.
* A fill is written only for closed paths with fill alpha > 0 (SVG would also fill open paths);
  ``fill-rule="evenodd"`` where ``even_odd``. Strokes are always written, width 0 included, so the
  stroke color survives a round trip.
* Groups (`VectorScene.groups`) are ``<g opacity="...">`` elements around their paths; a group
  with a mask writes its mask paths as a ``<mask>`` (``mask-type`` alpha or luminance, the
  canvas its region) and its other paths in a ``<g mask="url(#...)">``.
* Background: a white background (the scene default) writes nothing, like the reference tools'
  files. Any other color writes a full-canvas ``<rect id="vecrender-background">`` before the
  paths; a transparent scene (``background=None``) writes the same rect with ``fill="none"``.
  Import turns that rect back into ``scene.background``; a file without it gets white, the color
  browsers show behind a transparent SVG and the one the reference tools composite over.

Import (`load_svg`, `svg_to_scene`; ``.svgz`` files too) parses with ``svgelements`` and follows browser semantics:
transforms of groups and elements, viewBox scaled to width/height (one of them alone: the other
follows the viewBox's aspect ratio), ``style`` attributes and ``<style>`` sheets anywhere in the
file (selectors, specificity and ``!important`` as `vecrender.css` reads them), ``<use>`` (of a ``<symbol>``: its
viewBox fitted by ``preserveAspectRatio`` into the use's width and height, 100 % by default; of an
``<svg>``: the use's width and height, where set, replace the svg's), nested ``<svg>`` (placed at
its ``x``, ``y``, with or without a viewBox); the content of a used symbol or svg and of a nested
svg is clipped to its viewport as by a clip path, unless ``overflow: visible`` (a path that stays
inside, its stroke included, is left as it is: no clip is built for it),
percentage lengths of the basic shapes (of the nearest viewBox), positions and sizes in ``em``
or ``ex`` of the inherited ``font-size`` (the root's too: an icon set's ``width="1em"`` is 16 px),
``rect`` (rounded too), ``circle``, ``ellipse`` (a radius left out or ``auto`` is the other, as
in SVG 2), ``line``, ``polyline``, ``polygon`` and every path command. Lines and quadratics
become exact cubics; elliptic arcs become cubics within 5e-4 px;
``S``/``T`` reflect the previous control point only after ``C``/``S`` resp. ``Q``/``T``, as the SVG
spec says (svgelements reflects after any curve; we correct that).
Default fill is black and default stroke none, as in SVG. ``opacity`` (of a group, a ``<use>``, an
element) composites what is drawn under it as one layer, as SVG does: where that is the same,
it multiplies into the fill and stroke alphas (a lone shape, shapes that do not overlap, none
of them both filled and stroked), and otherwise its paths become one of the scene's ``groups``.
``stroke-width`` (and the dashes), in any
unit (px, pt, mm, em of ``font-size``, % of the normalised viewport diagonal...), are scaled by
the transform (see Limitations for a non-uniform one); ``vector-effect: non-scaling-stroke`` keeps
them in viewport units. ``stroke-linecap`` (default butt),
``stroke-linejoin`` (default miter; SVG 2's ``miter-clip`` and ``arcs`` import as miter, their
fallback) and ``stroke-miterlimit`` (default 4) become the scene's ``line_caps``, ``line_joins``
and ``miter_limits`` (left None when every stroke is round-capped and round-joined).
``stroke-dasharray`` / ``-dashoffset`` split a stroke into its dashes, one open path each (by
arc length; the pattern starts over at each subpath, a dash through a closed subpath's start is
one path joined there, zero-length dashes are dots where the caps draw them), after the
element's fill; only dashes that reach the canvas are kept, and a pattern with more than
`MAX_DASHES` of them there is drawn as a solid stroke faded by its duty cycle (with a warning).
``paint-order`` (a stroke below its fill, as Inkscape writes it; markers anywhere) is followed.
``display:none`` and ``visibility:hidden`` elements are skipped; text, images and filters are
ignored, and one ``SvgImportWarning`` names what a file used of them (and of pattern paints,
clip paths and masks it left out), with counts. Markers (arrowheads, a chart's dots, a flag's
stars along a path) are drawn after their shape, as SVG places them (see `_Markers`; an arc is
one segment; sizes and ``refX``/``refY`` may be percentages of the viewport). Pattern paints
import as no paint (or as their fallback colour: ``url(#p) red``).

Clip paths (``clip-path`` on elements and groups, nested ones too) whose ``<clipPath>`` holds
shapes (or ``<use>`` of shapes) whose subpaths do not cross themselves and do not meet one another
(rectangles, rounded or not, circles, ellipses, polygons, convex or not; curved outlines within
`RENDER_FILL_TOLERANCE`; several of them: a flag's stars, an icon's separate parts; a subpath
inside another, a hole by ``clip-rule``: a ring, a frame) are applied
at import, in the user space of the element that names them (the clipPath's ``transform``
included): each fill is cut to each region exactly (`vecrender.cubics.clip_fill`: the same winding
numbers inside, holes kept), each stroke where its centre line leaves it
(butt ends where cut at both ends), or, rendering as drawn (``fill_tolerance``, below), each
stroke that comes within half its width of the outline as its filled outline, cut exactly. A clip
path that keeps the whole canvas (up to 0.1 px), as exporters clip drawings to their own canvas,
changes nothing. A hole is cut as the rest of the clip's box, two regions that meet along a
vertical line through the hole at a pixel boundary, where their edges add up without a seam.
Other clip paths (shapes or subpaths that overlap or touch, an island in a hole, an outline that
crosses itself: a union jack's counterchange) make the element a scene group with a mask (see
`VectorScene.groups`): the clip's shapes, filled opaque by their ``clip-rule``, whose alpha the
group is multiplied by, as a browser clips. Clip paths with text inside or ``objectBoundingBox``
units are left out, and counted in the warning, as are, without ``fill_tolerance``, clip paths
that come within half a stroke's width of a stroke (it is drawn whole beyond its centre line). A
``<mask>`` that is a clip in effect, as drawing tools write them, is applied the same way: such
shapes filled opaque white (or any opaque colour under ``mask-type: alpha``), unstroked, cut to
the mask's rectangle (its x, y, width and height, -10 %, -10 %, 120 %, 120 % unless given: of the
masked element's bounding box by default, of the viewport under ``userSpaceOnUse``; its paint
inherited, as SVG says, from the mask and the mask's ancestors, not from the masked element).
Any other mask (grey, see-through, gradient or stroked content) is a group mask too: its content
drawn as anywhere else, cut to that rectangle, its luminance the mask, or its alpha under
``mask-type: alpha``; masks whose content is in ``objectBoundingBox`` units are left out and
counted. An element has one such mask at most (a
second is left out). The content of masks, markers, symbols and filters is drawn only where it is
used (a ``<use>`` of a symbol, a shape's markers).

Linear and radial gradient paints (fills and strokes) become the scene's gradient fields
(`vecrender.functional.paints`), placed in canvas pixels: ``gradientUnits`` (the object bounding
box by default, percentages of the nearest viewBox in user space), ``gradientTransform``,
``spreadMethod``, SVG 2's focal circle (``fx``, ``fy``, ``fr``; a focal point outside the circle
stays there, as resvg draws it: a cone, transparent around it), stops with
``stop-color`` / ``stop-opacity`` (alphas times the paint's opacities), stops and attributes
inherited through ``href``. The flat colour of such a paint is the gradient's mean (colour
weighted by opacity). As SVG says: one stop, or a zero-length vector or radius, paints the last
stop's colour; a bounding-box gradient on an element without area (a horizontal line) paints
nothing. Export writes them back (``userSpaceOnUse``, the frame as ``gradientTransform``,
SVG 2's ``fr`` only where the focal radius is not 0).

A filled element whose subpaths enclose area in more than one place becomes one closed scene path
with several subpaths (``subpath_starts``), filled together under its fill rule, so holes stay
holes (a ring, the inside of an "o"); when some of its subpaths are open, that path is fill-only
(width 0) and each subpath's stroke follows as its own path (open or closed), as a browser
strokes them. Otherwise each subpath becomes its own scene path with the element's style:

* ``Z``, or a filled subpath whose end point equals its start (as the reference tools write closed
  blobs: no ``Z``, the last segment ends on the first point): one closed path; a straight closing
  segment is appended when the end point differs from the start.
* A filled subpath left open: two paths, as a browser draws it: a closed fill-only path (straight
  closing segment, width 0) and the open stroke (no fill) when the stroke is visible. A straight
  open subpath (all control points on one line) encloses nothing: only its stroke is kept.
* Anything else: one open path.

Path data with an error is drawn up to it, in whole segments, as SVG says and browsers and resvg
draw it (`path_data_prefix`; a number that overflows, ``1e999``, is such an error), with an
``SvgImportWarning``. A path whose coordinates or stroke width overflow float32's range (``1e39``)
is left out, with one too. Every path keeps the file's cubics (one or more per command), so a
scene written by `scene_to_svg` reads back with its structure. To render a file as drawn, pass
``fill_tolerance`` (`RENDER_FILL_TOLERANCE`, 0.02 px): the renderers fill the polygon of 16 chords
per cubic with a parabola for the curve near each chord, which a cubic with a far control point
(a logo's) bends away from; the cubics of filled paths are then cut into
pieces of the same curves until that polygon is within the tolerance, and a compound path is
split into groups of subpaths that no pixel sees together (a traced image's one path of hundreds
of shapes: the same pixels, far faster to render). Strokes a path's width
cannot draw become their outlines then (`vecrender.cubics.stroke_outline`, within the tolerance,
filled with the stroke's paint, nonzero): those under a non-uniform scale or a skew (traced in
the element's user space, so the thickness varies along a curve as in a browser, and the caps
and joins are slanted with it) and those a clip cuts, where the shape drawn otherwise would be
more than 0.1 px off (thinner strokes stay strokes: their outlines would be slivers, which the
renderers fill less exactly than they stroke).

Limitations: a clip applies to each path, not to the group as a whole, so where paths overlap along
a clip's outline each one's edge pixels are blended over the others'; a fill that winds twice or
more just inside a clip's outline under nonzero (overlapping subpaths of one path) has that
stretch of outline drawn as often (the renderers take such copies as one edge, but at a corner
where three or more chords meet); without ``fill_tolerance``, under a non-uniform scale or skew a
stroke's width is its thickness across the drawn path averaged along it (a browser's varies along
a curved path; exact on straight segments). Dash lengths are measured where the stroke is drawn
(the user space, or the viewport's under ``non-scaling-stroke``), as SVG's are, so a non-uniform
scale stretches them along with the path.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import html
import io
import itertools
import math
import re
import warnings
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

import torch
from torch import Tensor

from vecrender import css
from vecrender.cubics import (
    Region,
    bend,
    clip_fill,
    cut_stroke,
    flatten,
    hole_complement,
    line,
    outline_gap,
    point_at,
    region_relation,
    signed_area,
    simple_region,
    stroke_outline,
    split,
    sub_cubic,
)
from vecrender.errors import SvgError, SvgImportWarning
from vecrender.functional.paints import (
    FILL,
    FLAT,
    LINEAR,
    PAD,
    RADIAL,
    REFLECT,
    REPEAT,
    STROKE,
    linear_frame,
    radial_frame,
)
from vecrender.functional.raster import SEGMENTS_PER_CURVE
from vecrender.functional.styles import (
    CAP_BUTT,
    CAP_ROUND,
    CAP_SQUARE,
    DEFAULT_MITER_LIMIT,
    JOIN_MITER,
    JOIN_ROUND,
    LINE_CAPS,
    LINE_JOINS,
)
from vecrender.scene import WHITE, VectorScene, gradient_fields, stroke_style_of, subpath_ranges

SVG_NS = "http://www.w3.org/2000/svg"
RGBA = tuple[float, float, float, float]
#: id of the full-canvas rect that stores ``scene.background``.
BACKGROUND_ID = "vecrender-background"
#: Largest distance (px) between a subpath's end and start that still counts as the same point.
_SAME_POINT = 1e-6
#: Error (px) in a stroke's shape that rendering as drawn accepts before drawing the stroke as its
#: outline: thin strokes stay strokes (their outlines would be slivers, which fills draw less well).
_SHAPE_ERROR = 0.1
#: Largest coordinate or width a scene holds (float32's; beyond it, and for NaN, a path is left out).
_LARGEST = float(torch.finfo(torch.float32).max)
#: Largest deviation (px) of the cubics that replace an elliptic arc.
_ARC_TOLERANCE = 5e-4
#: Most cubics for one arc: within `_ARC_TOLERANCE` up to radii of about 1e10 px (a larger one,
#: scaled up by a transform, would otherwise take millions).
_MAX_ARC_CUBICS = 256
#: A ``fill_tolerance`` (px) for rendering files as drawn: an edge pixel's coverage moves by about as much.
RENDER_FILL_TOLERANCE = 0.02
#: Most dashes one element's stroke imports as (those that reach the canvas); a finer pattern is
#: drawn as a solid stroke faded by its duty cycle, which is how sub-pixel dashes look.
MAX_DASHES = 10_000
#: Most pieces `fill_tolerance` cuts one cubic into (a curve thousands of pixels long keeps more
#: flattening error).
_MAX_PIECES = 64

Point = tuple[float, float]
_Named = TypeVar("_Named")  # what a document's ids name: elements, gradient definitions


# -- export ------------------------------------------------------------------------------------
def scene_to_svg(scene: VectorScene) -> str:
    """SVG 1.1 text of `scene` (one ``<path>`` per path, see the module docstring)."""
    _check_finite(scene)
    points = scene.points.detach().cpu().double().tolist()
    widths = scene.widths.detach().cpu().double().tolist()
    strokes = scene.stroke_colors.detach().cpu().double().tolist()
    fills = None if scene.fill_colors is None else scene.fill_colors.detach().cpu().double().tolist()
    closed = scene.closed.cpu().tolist()
    segments = scene.num_segments.cpu().tolist()
    even_odd = scene.even_odd.cpu().tolist()
    line_styles = stroke_style_of(scene).cpu().double().tolist()
    subpaths = subpath_ranges(scene)
    w, h = scene.width, scene.height
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg version="1.1" xmlns="{SVG_NS}" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
    ]
    background = None if scene.background is None else tuple(float(v) for v in scene.background)
    if background != WHITE:
        lines.append(_background_rect(background, w, h))
    defs = _gradient_defs_of(scene)
    if defs:
        lines += ["<defs>", *defs.values(), "</defs>"]
    open_elements: list[tuple[int, str, tuple[str, int] | None]] = []  # (end, closing tag, what opens then)
    for n in range(scene.num_paths):
        while open_elements and open_elements[-1][0] == n:
            _, closing, then = open_elements.pop()
            lines.append(closing)
            if then is not None:  # a mask ended: its group's content follows
                lines.append(then[0])
                open_elements.append((then[1], "</g>", None))
        for k, (first, end, opacity, mask_paths, luminance) in enumerate(scene.groups):
            if first != n:
                continue
            faded = f' opacity="{_fmt(opacity)}"' if opacity < 1 or not mask_paths else ""
            if not mask_paths:
                lines.append(f"<g{faded}>")
                open_elements.append((end, "</g>", None))
                continue
            lines.append(f'<mask id="vecrender-mask-{k}" maskUnits="userSpaceOnUse" x="0" y="0" width="{w}" '
                         f'height="{h}" style="mask-type:{"luminance" if luminance else "alpha"}">')
            open_elements.append((first + mask_paths, "</mask>", (f'<g mask="url(#vecrender-mask-{k})"{faded}>', end)))
        _segment_count(segments[n], scene.max_segments, n)  # a clear error for a bad count
        fill = fills[n] if fills is not None and closed[n] and fills[n][3] > 0 else None
        attrs = [f'd="{_path_data(points[n], subpaths[n], closed[n])}"']
        ids = [ident if ident in defs else None for ident in (_gradient_id(n, FILL), _gradient_id(n, STROKE))]
        attrs += _paint_attrs("fill", fill, ids[FILL]) if fill is not None else ['fill="none"']
        if even_odd[n]:
            attrs.append('fill-rule="evenodd"')
        attrs += _paint_attrs("stroke", strokes[n], ids[STROKE])
        attrs.append(f'stroke-width="{_fmt(max(widths[n], 0.0))}"')
        attrs += _line_attrs(*line_styles[n])
        lines.append(f"<path {' '.join(attrs)}/>")
    lines += [closing for _, closing, _ in reversed(open_elements)] + ["</svg>"]
    return "\n".join(lines) + "\n"


def _check_finite(scene: VectorScene) -> None:
    for name, t in scene.tensors():
        if t.is_floating_point():
            finite = torch.isfinite(t.detach())
            bad = ~(finite.flatten(1).all(dim=1) if t.dim() > 1 else finite)
            if bool(bad.any()):
                index = int(bad.nonzero()[0])
                raise SvgError(f"cannot write SVG: {name} of path {index} is NaN or infinite; "
                               "check the optimisation (learning rates, losses) that produced it.")


def _segment_count(count: int, max_segments: int, index: int) -> int:
    if not 1 <= count <= max_segments:
        raise SvgError(f"cannot write SVG: path {index} has num_segments={count}, expected 1..{max_segments}.")
    return count


def _line_attrs(cap: float, join: float, limit: float) -> list[str]:
    attrs = [f'stroke-linecap="{LINE_CAPS[int(cap)]}"', f'stroke-linejoin="{LINE_JOINS[int(join)]}"']
    if int(join) == JOIN_MITER and limit != DEFAULT_MITER_LIMIT:
        attrs.append(f'stroke-miterlimit="{_fmt(limit)}"')
    return attrs


def _fmt(value: float) -> str:
    """Up to 6 decimals, trailing zeros stripped: 3.0 -> '3', 0.25 -> '0.25'."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _byte(value: float) -> int:
    return int(round(min(max(value, 0.0), 1.0) * 255))


def _rgb(color: Sequence[float]) -> str:
    return f"rgb({_byte(color[0])}, {_byte(color[1])}, {_byte(color[2])})"


def _paint_attrs(name: str, rgba: Sequence[float], gradient: str | None = None) -> list[str]:
    """A flat paint, or the gradient ``gradient`` (an id) with the flat colour as its fallback
    (its stops hold the opacity)."""
    if gradient is not None:
        return [f'{name}="url(#{gradient}) {_rgb(rgba)}"']
    alpha = min(max(rgba[3], 0.0), 1.0)
    return [f'{name}="{_rgb(rgba)}"', f'{name}-opacity="{_fmt(alpha)}"']


def _gradient_id(path: int, role: int) -> str:
    return f"vecrender-{('fill', 'stroke')[role]}-{path}"


def _gradient_defs_of(scene: VectorScene) -> dict[str, str]:
    """id -> the ``<linearGradient>`` / ``<radialGradient>`` element of every gradient paint of
    `scene`: ``userSpaceOnUse``, the unit vector or circle mapped to the canvas by a
    ``gradientTransform`` (the inverse of the paint's frame). A frame that cannot be inverted
    is written as its flat colour."""
    if scene.gradients is None:
        return {}
    kinds, frames, focals, stops, spreads, focal_radii = (t.detach().cpu().double().tolist() for t in scene.gradients)
    defs = {}
    for n, role in itertools.product(range(scene.num_paths), (FILL, STROKE)):
        kind = int(kinds[n][role])
        matrix = _inverse_frame(frames[n][role], linear=kind == LINEAR)
        if kind == FLAT or matrix is None:
            continue
        tag, geometry = ("linearGradient", 'x1="0" y1="0" x2="1" y2="0"') if kind == LINEAR else (
            "radialGradient", 'cx="0" cy="0" r="1" fx="{}" fy="{}"'.format(*map(_fmt, focals[n][role])))
        if kind == RADIAL and focal_radii[n][role] > 0:  # SVG 2's fr, left out where 0 for SVG 1.1 readers
            geometry += f' fr="{_fmt(focal_radii[n][role])}"'
        spread = ("pad", "reflect", "repeat")[int(spreads[n][role])]
        rows = [f'<{tag} id="{_gradient_id(n, role)}" gradientUnits="userSpaceOnUse" '
                f'gradientTransform="matrix({" ".join(map(_fmt, matrix))})" {geometry} spreadMethod="{spread}">']
        for offset, *rgba in stops[n][role]:
            rows.append(f'<stop offset="{_fmt(min(max(offset, 0.0), 1.0))}" stop-color="{_rgb(rgba)}" '
                        f'stop-opacity="{_fmt(min(max(rgba[3], 0.0), 1.0))}"/>')
        defs[_gradient_id(n, role)] = "\n".join([*rows, f"</{tag}>"])
    return defs


def _inverse_frame(frame: list[list[float]], linear: bool) -> tuple[float, ...] | None:
    """SVG ``matrix(a b c d e f)`` of the inverse of a paint's frame ``[2, 3]`` (where a linear
    gradient's is singular, its second row, which it ignores, made perpendicular to its first);
    None if singular."""
    (a, c, e), (b, d, f) = frame
    if linear and abs(a * d - b * c) <= 1e-12:
        b, d, f = -c, a, 0.0
    inverse = _inverted((a, b, c, d)) if abs(a * d - b * c) > 1e-12 else None
    if inverse is None:
        return None
    ia, ib, ic, id_ = inverse
    return ia, ib, ic, id_, -(ia * e + ic * f), -(ib * e + id_ * f)


def _path_data(points: list[list[float]], subpaths: list[tuple[int, int]], closed: bool) -> str:
    """``M ... C ...`` data of one path: one ``M`` per subpath (segment range), each ended with
    ``Z`` when closed (a closed subpath's last segment ends on its own first point; the stored
    one is ignored)."""
    parts = []
    for first, end in subpaths:
        chain = points[3 * first : 3 * end + 1]
        if closed:
            chain = chain[:-1] + [chain[0]]
        parts.append(f"M {_fmt(chain[0][0])} {_fmt(chain[0][1])}")
        for k in range(end - first):
            c1, c2, stop = chain[3 * k + 1 : 3 * k + 4]
            parts.append(f"C {_fmt(c1[0])} {_fmt(c1[1])} {_fmt(c2[0])} {_fmt(c2[1])} {_fmt(stop[0])} {_fmt(stop[1])}")
        if closed:
            parts.append("Z")
    return " ".join(parts)


def _background_rect(background: tuple[float, float, float] | None, w: int, h: int) -> str:
    fill = 'fill="none"' if background is None else f'fill="{_rgb(background)}"'
    return f'<rect id="{BACKGROUND_ID}" x="0" y="0" width="{w}" height="{h}" {fill}/>'


# -- import ------------------------------------------------------------------------------------
@dataclass
class _Style:
    fill: tuple[float, float, float, float] | None  # None: no fill paint (or alpha 0)
    stroke: tuple[float, float, float, float] | None  # None: stroke="none"
    width: float
    even_odd: bool
    line: tuple[int, int, float] = (CAP_BUTT, JOIN_MITER, DEFAULT_MITER_LIMIT)  # cap, join, miter limit
    gradients: tuple[_Gradient | None, _Gradient | None] = (None, None)  # fill's, stroke's


@dataclass
class _Gradient:
    """A gradient paint placed on one element: the fields of `vecrender.functional.paints`, in
    canvas pixels."""

    kind: int
    frame: list[list[float]]  # [2, 3]
    focal: Point
    stops: list[tuple[float, RGBA]]
    spread: int
    focal_radius: float = 0.0


class _Layer(NamedTuple):
    """An element with an ``opacity`` below 1 or a clip path or mask (a group, a ``<use>``, a
    shape) as drawn once."""

    key: int  # unique per drawn instance (a symbol used twice is two layers)
    opacity: float
    element: object  # the parsed element (held, so that no other takes its id(), by which `_Clips.masks` names it)


_LAYER_KEYS = itertools.count()


class _Mask(NamedTuple):
    """What an element is drawn through where import cannot cut its clip path or mask."""

    items: list[_Item]  # the mask's paths, on the canvas
    luminance: bool  # their luminance masks (a <mask>), else their alpha
    source: object  # the clip path or mask it stands for
    element: object  # the element (held, as `_Layer` does)


@dataclass
class _Item:
    """One scene path: cubic control points (1 + 3k) and its style."""

    points: list[Point]
    closed: bool
    width: float
    stroke: tuple[float, float, float, float]
    fill: tuple[float, float, float, float] | None
    even_odd: bool
    starts: tuple[int, ...] = (0,)  # first segment of each subpath (closed items only)
    line: tuple[int, int, float] = (CAP_BUTT, JOIN_MITER, DEFAULT_MITER_LIMIT)  # cap, join, miter limit
    gradients: tuple[_Gradient | None, _Gradient | None] = (None, None)  # fill's, stroke's
    layers: tuple[_Layer, ...] = ()  # the opacities of its element and the element's ancestors, outermost first


def load_svg(source: str | Path, device: torch.device | str = "cpu", fill_tolerance: float | None = None
             ) -> VectorScene:
    """Read the SVG file `source` into a scene (see the module docstring for what is supported).

    ``fill_tolerance`` (px), for rendering a file as drawn (`RENDER_FILL_TOLERANCE`): cut the
    cubics of filled paths into pieces (the same curves) until the renderers' fill polygon is that
    close to them. None keeps the file's cubics, the scene's structure (as it round-trips through
    `scene_to_svg`)."""
    path = Path(source).expanduser()
    if path.exists() and not path.is_file():  # a folder, a device or a pipe (reading one may never end)
        raise SvgError(f"{str(path)!r} is not a regular file; pass an SVG file.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SvgError(f"SVG file {str(path)!r} not found; check the path.") from None
    except OSError as e:
        raise SvgError(f"cannot read SVG file {str(path)!r}: {e.strerror or e}.") from None
    if data[:2] == b"\x1f\x8b":  # gzip: a compressed .svgz, as Inkscape saves them
        data = _gunzipped(data, str(path))
    return _parse(data, str(path), device, fill_tolerance)


#: Largest SVG text a compressed file may unpack to (a small file can expand to gigabytes).
MAX_SVGZ_BYTES = 256 * 2**20


def _gunzipped(data: bytes, where: str) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
        try:
            text = unpacked.read(MAX_SVGZ_BYTES + 1)
        except (OSError, EOFError) as e:
            raise SvgError(f"{where}: a damaged gzip-compressed SVG ({e}); save it again.") from None
    if len(text) > MAX_SVGZ_BYTES:
        raise SvgError(f"{where}: unpacks to more than {MAX_SVGZ_BYTES // 2**20} MiB of SVG text; "
                       "is it an SVG file?")
    return text


def svg_to_scene(text: str, device: torch.device | str = "cpu", fill_tolerance: float | None = None
                 ) -> VectorScene:
    """Parse SVG text into a scene (see the module docstring for what is supported, and
    `load_svg` for ``fill_tolerance``)."""
    return _parse(text.encode("utf-8"), "SVG text", device, fill_tolerance)


def _parse(data: bytes, where: str, device: torch.device | str, fill_tolerance: float | None) -> VectorScene:
    if fill_tolerance is not None and not fill_tolerance > 0:  # NaN too
        raise ValueError(f"fill_tolerance must be a distance in px above 0 (e.g. {RENDER_FILL_TOLERANCE}) "
                         f"or None to keep the file's cubics, not {fill_tolerance!r}.")
    root = _check_document(data, where)
    cut = {el: prefix for el in root.iter() if _local_name(el) == "path"
           for prefix in (path_data_prefix(el.get("d", "")),) if prefix != el.get("d", "")}
    if cut:
        warnings.warn(f"{where}: {len(cut)} path(s) have an error in their path data (d), and are drawn up to it, "
                      "as browsers draw them; fix the data to draw the rest.", SvgImportWarning, stacklevel=3)
    data, root = _parser_ready(root, data, cut)
    data = _definitions_hidden(_auto_radii(_complete_size(root, data)))
    import svgelements as se  # lazy: only SVG reading needs the parser

    hidden = _style_properties(root).get("display") == "none"  # (the parser then gives no document)
    try:
        document = se.SVG.parse(io.BytesIO(_root_shown(data) if hidden else data), reify=False)
    except Exception as e:  # the parser's own errors, whatever their type
        detail = " ".join(str(e).split())
        raise SvgError(f"{where}: could not parse the SVG ({type(e).__name__}: {detail}).") from None
    if document is None:
        raise SvgError(f"{where}: the parser found no drawable <svg> in it; check its root element.")
    width, height = _canvas_size(document, root, where)
    if hidden:
        warnings.warn(f"{where}: the root <svg> has display: none, so the file draws nothing; remove it to draw "
                      "its content.", SvgImportWarning, stacklevel=3)
        return _build_scene([], (), width, height, WHITE, device)
    elements = {el.get("id"): el for el in root.iter() if el.get("id")}  # the document's, by id
    gradients = _gradient_defs(elements)
    parents = {child: parent for parent in root.iter() for child in parent}
    clips = _Clips(root, parents, elements, document, (width, height), se, fill_tolerance)
    background = WHITE
    items: list[_Item] = []
    simplified: Counter[tuple[str, str]] = Counter()  # what _shape_items drew otherwise, as left_out counts
    canvas = (float(width), float(height))
    def draw(node, layers: tuple[_Layer, ...], viewport: tuple[float, float]) -> list[_Item]:
        """The items of the shapes under `node` (a marker's content)."""
        return [item for shape, shape_layers, shape_viewport, uses in _shapes(node, layers, viewport, (), clips, se)
                for item in clips.apply(_shape_items(shape, shape_layers, gradients, shape_viewport, canvas, se,
                                                     simplified, fill_tolerance), uses)]

    markers = _Markers(root, elements, parents, se, draw, fill_tolerance)
    clips.draw = draw
    for shape, layers, viewport, uses in _shapes(document, (), canvas, (), clips, se):
        if _is_background(shape, se):
            background = _background_color(shape)
            continue
        drawn = _shape_items(shape, layers, gradients, viewport, canvas, se, simplified, fill_tolerance,
                             markers.items(shape, layers, viewport))
        items += clips.apply(drawn, uses)
    left_out = _left_out(root, elements) + clips.left_out + simplified
    if left_out:
        described = ", ".join(f"{n} {noun}{'s' if n > 1 else ''}" + (f" ({note})" if note else "")
                              for (noun, note), n in left_out.items())
        warnings.warn(f"{where}: vecrender imports paths with colour and gradient paints only, so the scene lacks or "
                      f"simplifies {described}; its render differs from a browser's there.",
                      SvgImportWarning, stacklevel=3)
    overflowing = sum(not _finite(item) for item in items)
    if overflowing:
        warnings.warn(f"{where}: left out {overflowing} path(s) whose coordinates or stroke width "
                      "overflow (a number such as 1e999, or beyond float32's 3.4e38); fix those numbers to draw "
                      "them.",
                      SvgImportWarning, stacklevel=3)
    masks = {key: mask._replace(items=_scene_ready(mask.items, fill_tolerance)) for key, mask in clips.masks.items()}
    return _build_scene(*_grouped(_scene_ready(items, fill_tolerance), masks), width, height, background, device)


def _finite(item: _Item) -> bool:
    """Whether the item's coordinates and width fit float32."""
    return all(abs(v) <= _LARGEST for v in (item.width, *itertools.chain(*item.points)))


def _scene_ready(items: list[_Item], fill_tolerance: float | None) -> list[_Item]:
    """The items whose numbers are finite in float32, with a `fill_tolerance`: compound paths
    split where their parts are apart (`_separate_parts`), filled cubics cut (`_subdivided`)."""
    finite = [item for item in items if _finite(item)]
    if fill_tolerance is not None:
        finite = [part for item in finite for part in _separate_parts(item)]
        finite = [_subdivided(item, fill_tolerance) if item.closed and item.fill else item for item in finite]
    return finite


#: What import leaves out or simplifies, by what marks it in the document: (noun, what happens).
_LEFT_OUT_ELEMENTS = {"text": ("text element", ""), "image": ("image", ""),
                      "foreignObject": ("embedded HTML object", "")}
_LEFT_OUT_PROPERTIES = {"filter": ("none", ("filter", "")),  # property: (its initial value, what)
                        "mix-blend-mode": ("normal", ("blend mode", "drawn as normal"))}
_LEFT_OUT_PAINTS = {"pattern": ("pattern paint", "no paint")}
#: Elements whose content belongs to a feature counted where it is used.
_FEATURE_CONTENT = {"clipPath", "mask", "marker", "pattern", "filter", "linearGradient", "radialGradient"}


def _left_out(root: ET.Element, elements: dict[str, ET.Element]) -> Counter[tuple[str, str]]:
    """What the document uses that the scene will lack or simplify, counted by (noun, what
    happens): ('text element', ''): 2, ... (clip paths: `_Clips`); `elements`: the document's by id.
    The content of a marker counts once if a shape uses the marker."""
    counts: Counter[tuple[str, str]] = Counter()
    markers: dict[ET.Element, None] = {}  # the markers used, in document order
    used: set[ET.Element] = set()  # the elements a <use> drew (each once)

    def visit(el: ET.Element, hidden: bool = False) -> None:
        tag = _local_name(el)
        style = _style_properties(el)
        hidden = style.get("visibility", "hidden" if hidden else "visible") in ("hidden", "collapse")
        if tag in _FEATURE_CONTENT or tag in _DEFINITIONS or style.get("display") == "none":
            return  # drawn only where used, or not drawn
        if tag in _LEFT_OUT_ELEMENTS:
            if not hidden and (tag != "text" or "".join(el.itertext()).strip()):
                counts[_LEFT_OUT_ELEMENTS[tag]] += 1
            return
        for name, (initial, what) in _LEFT_OUT_PROPERTIES.items():
            if style.get(name, initial) != initial:
                counts[what] += 1
        for name in ("fill", "stroke"):
            value = style.get(name, "")
            target = _referenced(value, elements)
            if target is not None and _local_name(target) in _LEFT_OUT_PAINTS:
                noun, note = _LEFT_OUT_PAINTS[_local_name(target)]
                fallback = value.split(")", 1)[-1].strip() not in ("", "none")  # url(#p) red: red is drawn
                counts[noun, "its fallback colour" if fallback else note] += 1
        for name in ("marker", "marker-start", "marker-mid", "marker-end"):
            target = _referenced(style.get(name, ""), elements)
            if target is not None and _local_name(target) == "marker":
                markers[target] = None
        if tag == "use":
            target = _linked(el, elements)
            if target is not None and target not in used:
                used.add(target)
                for drawn in tuple(target) if _local_name(target) in _DEFINITIONS else (target,):
                    visit(drawn, hidden)
        for child in el:
            visit(child, hidden)

    visit(root)
    for marker in list(markers):  # a marker inside a marker is not drawn
        for child in marker:
            visit(child)
    return counts


#: Containers whose content is drawn only where a ``<use>`` names it.
_DEFINITIONS = frozenset({"defs", "symbol"})


def _linked(el: ET.Element, by_id: dict[str, ET.Element]) -> ET.Element | None:
    """The element that `el`'s ``href`` (or ``xlink:href``) ``#id`` names among `by_id`, if any."""
    href = el.get("href") or el.get("{http://www.w3.org/1999/xlink}href") or ""
    return by_id.get(href[1:]) if href.startswith("#") else None


def _referenced(value: str | None, elements: dict[str, _Named]) -> _Named | None:
    """What a ``url(#id)`` paint or property value (quotes allowed around ``#id``) names among
    `elements` (by id), if anything."""
    target = re.match(r"\s*url\(\s*['\"]?#([^)'\"\s]+)['\"]?\s*\)", str(value or ""))
    return elements.get(target.group(1)) if target else None


@dataclass(frozen=True)
class _ClipUse:
    """A ``clip-path`` or ``mask`` reference, or a `_VIEWPORT` that clips: what it names (a parsed
    ``<clipPath>``, a ``<mask>`` element, None when it names nothing usable; a viewport's
    rectangle), the map from the user space of the element that names it to the canvas, and that
    element."""

    kind: str
    target: object
    matrix: object
    user: object
    #: a mask's: its rectangle (x, y, width, height) in the user's user space (`_mask_rectangle`)
    rectangle: tuple[float, float, float, float] | None = None


#: Border (px) of the canvas a clip path may cut off and still count as clipping nothing: exports
#: clip to the canvas with rounded coordinates.
_CLIP_BORDER = 0.1
#: What a clip keeps where it is not a list of regions.
_KEEPS_NOTHING = "nothing"
#: Disjoint simple regions whose union a clip keeps (a clip keeps the intersection of a list of them).
_Union = tuple[Region, ...]
#: Kind of a `_ClipUse` that cuts a viewport's content to it (overflow hidden; see `_VIEWPORT_ATTR`).
_VIEWPORT = "viewport"
#: (noun, what happens) of a clip path or mask that import leaves out, by property (or `_VIEWPORT`).
_UNCLIPPED = {"clip-path": ("clip path", "content drawn unclipped"), "mask": ("mask", "content drawn unmasked"),
              _VIEWPORT: ("viewport clip", "content drawn unclipped")}
#: Properties a mask's content inherits from the mask and the mask's ancestors (not from the
#: element the mask applies to), of those that decide whether the mask acts as a clip path.
_MASK_PAINT_INHERITED = ("fill", "fill-opacity", "stroke")
#: Elements of a clip path's or mask's content that draw nothing.
_NOT_DRAWN = {"title", "desc", "metadata", "g", "defs", "style", "script"}
_SHAPE_TAGS = {"rect", "circle", "ellipse", "line", "polyline", "polygon", "path"}


class _Clips:
    """Clip paths and masks that act as one, applied to the items of each shape.

    A ``<clipPath>`` whose shapes are disjoint simple regions (each a rectangle, rounded or not, a
    circle, an ellipse, a polygon or path whose outline does not cross itself; curves within
    `RENDER_FILL_TOLERANCE`), with holes where a subpath inside another is one, clips: fills
    exactly (`vecrender.cubics.clip_fill`), strokes at their centre lines (butt ends where cut on
    both ends; counted where a stroke comes within half its width of the outline) or, with an
    `outline_tolerance`, as their outlines, exactly. So does a
    ``<mask>`` whose content is such shapes filled opaque white (or any opaque colour with
    ``mask-type: alpha``), unstroked, cut to the mask's rectangle (`_mask_rectangle`): a drawing
    tool's usual mask. Any other clip path or mask is left out, and counted."""

    def __init__(self, root: ET.Element, parents: dict[ET.Element, ET.Element], elements: dict[str, ET.Element],
                 document, size: tuple[int, int], se, outline_tolerance: float | None = None) -> None:
        self._root, self._parents, self._elements = root, parents, elements
        self._clip_paths = {k: v for k, v in document.objects.items() if isinstance(v, se.ClipPath)}
        self._masks = {k: el for k, el in elements.items() if _local_name(el) == "mask"}
        self._own_transforms = {k: el.get("transform", "") for k, el in elements.items()
                                if _local_name(el) == "clipPath"}
        self._size, self._se = size, se
        self._outline_tolerance = outline_tolerance  # strokes a clip cuts become outlines, within it
        self._regions: dict[tuple, list[_Union] | str | None] = {}
        self._unclipped: dict[int, str] = {}  # element -> kind of its clip left out
        self._near: dict[int, str] = {}  # element -> kind of its clip that cut a stroke or came near one
        #: id() of an element -> the mask it is drawn through (clip paths and masks that cannot be cut: `_masked`)
        self.masks: dict[int, _Mask] = {}
        #: draws the shapes under a parsed node (`draw` in `_parse`): a mask's content
        self.draw: Callable[[object, tuple[_Layer, ...], tuple[float, float]], list[_Item]] | None = None

    def uses_of(self, node, viewport: tuple[float, float]) -> tuple[_ClipUse, ...]:
        """The ``clip-path`` and ``mask`` the node names (a reference to no clip path clips nothing,
        as CSS says; a mask that is not there is counted), and the viewport it establishes, where
        that clips (its rectangle as the target); `viewport`: the user-space size percentages
        refer to. The user space of a ``<use>`` of a symbol is that before its x, y, which place
        the symbol's viewport (as resvg; other uses' includes them)."""
        se, uses = self._se, []
        matrix = se.Matrix(node.transform)
        if isinstance(node, se.Use) and _own(node, _PLACEMENT_ATTR) is not None \
                and not isinstance(_use_target(node), se.SVG):
            matrix = se.Matrix(f"translate({-node.x}, {-node.y})") * matrix
        for kind, targets in (("clip-path", self._clip_paths), ("mask", self._masks)):
            value = str(_own(node, kind) or "none").strip()
            target = _referenced(value, targets)
            if target is not None or (kind == "mask" and value != "none"):
                # (a mask's rectangle is taken now, before the drawing moves the shapes under the node)
                rectangle = _mask_rectangle(target, node, matrix, viewport, se) \
                    if kind == "mask" and target is not None else None
                uses.append(_ClipUse(kind, target, matrix, node, rectangle))
        viewport = tuple(_numbers(_own(node, _VIEWPORT_ATTR)))
        if len(viewport) == 4:
            uses.append(_ClipUse(_VIEWPORT, viewport, self._se.Matrix(node.transform), node))
        return tuple(uses)

    @property
    def left_out(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter(_UNCLIPPED[kind] for kind in self._unclipped.values())
        counts.update((_UNCLIPPED[kind][0], "strokes clipped by their centre lines")
                      for user, kind in self._near.items() if user not in self._unclipped)
        return counts

    def apply(self, items: list[_Item], uses: tuple[_ClipUse, ...]) -> list[_Item]:
        for use in uses:
            if use.kind == _VIEWPORT and _inside_viewport(items, use):
                continue  # it stays in its viewport: no clip to build, nothing to cut
            regions = self._region(use)
            if regions is None and not self._masked(use):
                self._unclipped[id(use.user)] = use.kind
            elif regions is None and not self.masks[id(use.user)].items or regions == _KEEPS_NOTHING:
                return []
            for union in regions or ():
                pieces = []
                for item in items:  # in the items' order, each cut to every region of the union
                    for region in union:
                        kept, near = _clipped([item], region, self._outline_tolerance)
                        pieces += kept
                        if near:
                            self._near[id(use.user)] = use.kind
                items = pieces
        return items

    def _masked(self, use: _ClipUse) -> bool:
        """Whether the element of `use`, which import cannot cut, is drawn through a mask
        (`masks`) instead: for a clip path of shapes that overlap, touch or cross themselves, its
        shapes filled opaque (the mask's alpha); for a ``<mask>`` (``maskContentUnits``
        userSpaceOnUse), its content as drawn, cut to its rectangle (`_mask_rectangle`), its
        luminance the mask unless ``mask-type: alpha``. One such mask per element."""
        key = id(use.user)
        if key in self.masks:
            return self.masks[key].source is use.target
        if use.kind == "mask":
            mask = self._mask_content(use) if use.target is not None else None
            if mask is not None:
                self.masks[key] = _Mask(*mask, use.target, use.user)
            return mask is not None
        shapes = self._clip_shapes(use.target, use.matrix) if use.kind == "clip-path" else None
        if not shapes:
            return False
        items = []
        for shape in shapes:
            chains = [_close(chain) for chain, _ in _subpaths(shape, self._se) if _encloses(chain)]
            if chains:
                even_odd = str(shape.values.get("clip-rule", "nonzero")).strip() == "evenodd"
                items.append(_compound(chains, 0.0, (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0), even_odd))
        self.masks[key] = _Mask(items, False, use.target, use.user)
        return True

    def _mask_content(self, use: _ClipUse) -> tuple[list[_Item], bool] | None:
        """The items of a mask's content placed on the canvas, cut to its rectangle, and whether
        its luminance masks (see `_masked`); None where import cannot place them."""
        mask, matrix = use.target, use.matrix
        if self.draw is None or str(mask.get("maskContentUnits", "userSpaceOnUse")).strip() != "userSpaceOnUse":
            return None
        rectangle = use.rectangle
        if rectangle is None:
            return None
        se = self._se
        head, body = _detached(mask, self._root, self._elements, self._parents)
        text = f'{head}<g transform="{_matrix_text(matrix)}" {body}</g></svg>'
        items = self.draw(se.SVG.parse(io.StringIO(text), reify=False), (), tuple(map(float, self._size)))
        luminance = _style_properties(mask).get("mask-type", "luminance").strip() != "alpha"
        return _cut_to_box(items, rectangle, matrix, self._outline_tolerance), luminance

    def _region(self, use: _ClipUse) -> list[_Union] | str | None:
        m = use.matrix
        key = (use.target if use.kind == _VIEWPORT else id(use.target), m.a, m.b, m.c, m.d, m.e, m.f,
               id(use.user) if use.kind == "mask" else None)  # (a mask's box can be its user's)
        if key not in self._regions:
            if use.target is None:
                self._regions[key] = None
            elif use.kind == _VIEWPORT:
                x, y, width, height = use.target
                self._regions[key] = self._shape_regions([self._se.Path(f"M{x},{y}h{width}v{height}h{-width}z")
                                                          * use.matrix])
            elif use.kind == "mask":
                self._regions[key] = self._mask_regions(use)
            else:
                self._regions[key] = self._clip_regions(use.target, use.matrix)
        return self._regions[key]

    def _clip_regions(self, clip, matrix) -> list[_Union] | str | None:
        """The regions (to intersect) the clip path keeps, [] when it keeps the canvas,
        `_KEEPS_NOTHING`, or None where import cannot clip to it (an outline that crosses itself,
        shapes or subpaths that meet, text, bounding-box units)."""
        shapes = self._clip_shapes(clip, matrix)
        return None if shapes is None else self._shape_regions(shapes)

    def _clip_shapes(self, clip, matrix) -> list | None:
        """The clip path's shapes placed on the canvas (`matrix`: from the user space of the
        element that names it), or None where that is not all it is (text, a clip path of its
        own, bounding-box units)."""
        se, values = self._se, clip.values
        if values.get("clip-path") or str(values.get("clipPathUnits", "userSpaceOnUse")).strip() != "userSpaceOnUse":
            return None
        # the content's user space is the referencing element's, not where the clipPath is defined
        defined = se.Matrix(values.get("transform", ""))
        own = se.Matrix(self._own_transforms.get(values.get("id"), ""))
        shapes = []
        for child in clip:  # shapes, text and <use> of them (SVG allows no groups in a clip path)
            for member in _clip_use_members(child, se) if isinstance(child, se.Use) else (child,):
                if isinstance(member, se.Text):
                    return None
                hidden = str(member.values.get("visibility", "visible")).strip() in ("hidden", "collapse")
                if not hidden and isinstance(member, se.Shape):
                    shapes.append(se.Path(member) * ~defined * own * matrix)
        return shapes

    def _mask_regions(self, use: _ClipUse) -> list[_Union] | str | None:
        """As `_clip_regions`, for a mask that acts as a clip path (see the class)."""
        se, mask, matrix = self._se, use.target, use.matrix
        style = _style_properties(mask)
        if str(mask.get("maskContentUnits", "userSpaceOnUse")).strip() != "userSpaceOnUse":
            return None
        children = [c for c in mask if _local_name(c) not in _NOT_DRAWN]
        alpha = style.get("mask-type", "luminance").strip() == "alpha"
        looks = [self._mask_look(mask, child, alpha) for child in children]
        if None in looks or ("hides" in looks and "shows" in looks):
            return None  # a grey level, or black over white: a mask, not a clip
        shown = [child for child, look in zip(children, looks) if look == "shows"]
        if not shown:
            return _KEEPS_NOTHING  # nothing drawn, or black under a luminance mask
        markup = "".join(_markup(child) for child in shown)
        parsed = se.SVG.parse(io.StringIO(f'<svg xmlns="{SVG_NS}">{markup}</svg>'), reify=False)
        regions = self._shape_regions([se.Path(element) * matrix for element in parsed.elements()
                                       if isinstance(element, se.Shape)], rule="fill-rule")
        if not isinstance(regions, list):
            return regions
        rectangle = use.rectangle
        if rectangle is None:
            return None
        x, y, w, h = rectangle
        if w <= 0 or h <= 0:
            return _KEEPS_NOTHING
        rectangle = self._shape_regions([se.Path(f"M{x},{y}h{w}v{h}h{-w}z") * matrix])
        return regions + rectangle if isinstance(rectangle, list) else rectangle

    def _mask_look(self, mask: ET.Element, shape: ET.Element, alpha: bool) -> str | None:
        """What a shape in a mask does: "shows" (opaque white, or any opaque colour under
        ``mask-type: alpha``), "hides" (opaque black under luminance), "nothing" (no paint), or
        None (anything else: grey, see-through, stroked, a paint server, not a basic shape)."""
        if _local_name(shape) not in _SHAPE_TAGS or shape.get("class"):
            return None
        paint = {**_inherited(mask, _MASK_PAINT_INHERITED, self._parents), **_style_properties(shape)}
        if (paint.get("stroke", "none") != "none" or "url(" in paint.get("fill", "")
                or any(name in paint for name in ("mask", "clip-path", "filter"))):
            return None
        rgba = _paint(paint.get("fill", "black"), paint.get("fill-opacity"), _unit(_number(paint.get("opacity"), 1.0)))
        if rgba is None or rgba[3] <= 0:
            return "nothing"
        if rgba[3] < 1:
            return None
        if alpha or min(rgba[:3]) >= 1:
            return "shows"
        return "hides" if max(rgba[:3]) <= 0 else None

    def _shape_regions(self, shapes: list, rule: str = "clip-rule") -> list[_Union] | str | None:
        """The region of the shapes (outlines placed on the canvas; `rule` names their fill-rule
        property) as unions to intersect: their subpaths (disjoint simple regions), then, for
        each hole a subpath cuts in another, the rest of their box (`hole_complement`). [] when
        one covers the canvas, `_KEEPS_NOTHING` when none has area, None when subpaths cross or
        touch, or nest deeper than a hole."""
        se = self._se
        width, height = self._size
        border = [(x, y) for x in (_CLIP_BORDER, width - _CLIP_BORDER) for y in (_CLIP_BORDER, height - _CLIP_BORDER)]
        filled: list[Region] = []
        holes: list[Region] = []
        for shape in shapes:
            polygons = [flatten(_close(chain), RENDER_FILL_TOLERANCE) for chain, _ in _subpaths(shape, se)
                        if _encloses(chain)]
            own = [simple_region(polygon) for polygon in polygons]
            if len(own) == 1 and own[0] is not None and own[0].convex and all(own[0].contains(p) for p in border):
                return []  # (a shape's other subpaths could cut holes in it)
            even_odd = str(shape.values.get(rule, "nonzero")).strip() == "evenodd"
            nested = _nested(own, [signed_area(p) > 0 for p in polygons], even_odd)
            if nested is None:
                return None
            filled += nested[0]
            holes += nested[1]
        if not filled:
            return _KEEPS_NOTHING
        if not all(region_relation(a, b) == "apart" for a, b in itertools.combinations(filled, 2)):
            return None
        xs = [p[0] for region in filled for p in region.corners]
        ys = [p[1] for region in filled for p in region.corners]
        box = (min(xs) - 1, min(ys) - 1, max(xs) + 1, max(ys) + 1)
        rests = [hole_complement(hole, box) for hole in holes]
        return None if None in rests else [tuple(filled), *rests]


def _clip_use_members(use, se) -> list:
    """What a ``<use>`` in a clip path adds to it: the shape or text it names, directly or through
    other ``<use>``; nothing where it names a group, symbol or svg (SVG allows only shapes and
    text there, and resvg and browsers draw no clip from the rest)."""
    members = list(use)
    if len(members) == 1 and isinstance(members[0], se.Use):
        return _clip_use_members(members[0], se)
    return members if all(isinstance(m, (se.Shape, se.Text)) for m in members) else []


def _nested(regions: list[Region | None], counter_clockwise: list[bool], even_odd: bool
            ) -> tuple[list[Region], list[Region]] | None:
    """One shape's subpaths as (filled regions, holes in them): a subpath inside another is a
    hole under even-odd or where it runs the other way round (nonzero), else inside the filled
    one already. None for a subpath that crosses itself or another, or a subpath in a hole."""
    if None in regions:
        return None
    containers: list[list[int]] = [[] for _ in regions]  # the subpaths each lies inside
    for a, b in itertools.combinations(range(len(regions)), 2):
        relation = region_relation(regions[a], regions[b])
        if relation == "meet":
            return None
        if relation != "apart":
            inner, outer = (a, b) if relation == "inside" else (b, a)
            containers[inner].append(outer)
    filled, holes = [], []
    for k, (region, around) in enumerate(zip(regions, containers)):
        if not around:
            filled.append(region)
        elif len(around) > 1:
            return None
        elif even_odd or counter_clockwise[k] != counter_clockwise[around[0]]:
            holes.append(region)
    return filled, holes


#: Presentation properties a marker's content inherits from the marker and the marker's ancestors.
_MARKER_INHERITED = ("fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
                     "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
                     "stroke-dashoffset", "color", "visibility")
#: A shape's outline for markers: ("M", p), ("L", p), ("C", c1, c2, p) or ("Z",).
_Segment = tuple


class _Markers:
    """The content of ``<marker>`` elements drawn at the vertices of paths, lines, polylines and
    polygons (``marker-start``, ``marker-mid``, ``marker-end`` and the ``marker`` shorthand), as
    SVG places it: on the vertex (``refX``, ``refY``), turned by ``orient`` (``auto``: along the
    path, the bisector of the directions in and out at a corner; ``auto-start-reverse``; an
    angle), scaled by the shape's stroke width (``markerUnits``) and by the ``viewBox`` into
    ``markerWidth`` x ``markerHeight``, and clipped to that box unless ``overflow`` is visible. The
    content inherits from the marker and its ancestors, not from the shape; it is drawn after the
    shape, inside the shape's opacity and with its clip paths. An elliptical arc is one segment, marked at
    its ends only, as SVG says (resvg also marks the joints of the cubics it draws an arc of more
    than a quarter turn with). `draw(node, layers, viewport)`: the items of the shapes under a
    parsed node, inside the opacity `layers`."""

    def __init__(self, root: ET.Element, elements: dict[str, ET.Element], parents: dict[ET.Element, ET.Element],
                 se, draw: Callable[[object, tuple[_Layer, ...], tuple[float, float]], list[_Item]],
                 outline_tolerance: float | None = None) -> None:
        self._markers = {k: el for k, el in elements.items() if _local_name(el) == "marker"}
        self._root, self._elements, self._parents, self._se, self._draw = root, elements, parents, se, draw
        self._outline_tolerance = outline_tolerance
        self._texts: dict[ET.Element, tuple[str, str]] = {}  # marker -> `_text`

    def items(self, shape, layers: tuple[_Layer, ...], viewport: tuple[float, float]) -> list[_Item]:
        se = self._se
        if not self._markers or not isinstance(shape, (se.Path, se.Polyline, se.Polygon, se.SimpleLine)):
            return []
        values, segments, out = shape.values, None, []
        for kind in ("start", "mid", "end"):
            marker = _referenced(values.get(f"marker-{kind}") or values.get("marker"), self._markers)
            if marker is None:
                continue
            segments = segments if segments is not None else _outline_segments(shape, se)
            for point, angle in _marker_vertices(segments, kind):
                out += self._instance(marker, shape, point, angle, kind, layers, viewport)
        return out

    def _instance(self, marker: ET.Element, shape, point: Point, angle: float, kind: str,
                  layers: tuple[_Layer, ...], viewport: tuple[float, float]) -> list[_Item]:
        se = self._se
        placed = _marker_placement(marker, float(shape.stroke_width or 0), point, angle, kind, viewport)
        if placed is None:
            return []
        place, (x, y, w, h) = placed
        m = shape.transform
        head, body = self._text(marker)
        text = f'{head}<g transform="{_matrix_text(m)}"><g transform="{place}" {body}</g></g></svg>'
        items = self._draw(se.SVG.parse(io.StringIO(text), reify=False), layers, viewport)
        if str(marker.get("overflow", "hidden")).strip() in ("visible", "auto"):
            return items
        return _cut_to_box(items, (x, y, w, h), se.Matrix(place) * m, self._outline_tolerance)


    def _text(self, marker: ET.Element) -> tuple[str, str]:
        """The marker's document, the same at every vertex (`_detached`)."""
        if marker not in self._texts:
            self._texts[marker] = _detached(marker, self._root, self._elements, self._parents)
        return self._texts[marker]


def _matrix_text(m) -> str:
    """An SVG ``transform`` value of the matrix `m`, exact."""
    return f"matrix({m.a!r} {m.b!r} {m.c!r} {m.d!r} {m.e!r} {m.f!r})"


#: A mask's x, y, width and height where not given (SVG's defaults): fractions of the masked
#: element's bounding box (objectBoundingBox units) or of the viewport (userSpaceOnUse), and the
#: viewport axis of each.
_MASK_RECTANGLE_DEFAULTS = (("x", -0.1, 0), ("y", -0.1, 1), ("width", 1.2, 0), ("height", 1.2, 1))


def _mask_rectangle(mask: ET.Element, node, matrix, viewport: tuple[float, float], se
                    ) -> tuple[float, float, float, float] | None:
    """A mask's rectangle (x, y, width, height) in the user space of the element it masks (the
    parsed `node`; `matrix` maps its user space to the canvas, `viewport` is the size percentages
    refer to): ``maskUnits`` userSpaceOnUse, its own lengths; objectBoundingBox (the default),
    its fractions of the element's bounding box there (`_user_box`). None for an unreadable length."""
    if str(mask.get("maskUnits", "objectBoundingBox")).strip() == "userSpaceOnUse":
        sides = [_length_of(mask, name, viewport[axis]) if mask.get(name) is not None else share * viewport[axis]
                 for name, share, axis in _MASK_RECTANGLE_DEFAULTS]
        return None if None in sides else tuple(sides)  # type: ignore[return-value]
    box = _user_box(node, matrix, se)
    if box is None:
        return (0.0, 0.0, 0.0, 0.0)  # no geometry, no box: the mask shows nothing
    fractions = [_number(mask.get(name), share) for name, share, _ in _MASK_RECTANGLE_DEFAULTS]
    x, y, width, height = box
    return (x + fractions[0] * width, y + fractions[1] * height, fractions[2] * width, fractions[3] * height)


def _user_box(node, matrix, se) -> tuple[float, float, float, float] | None:
    """The bounding box (x, y, width, height) of the geometry of the shapes a parsed node draws
    (itself, or those under it; strokes left out), in its user space (`matrix` maps it to the
    canvas); None without geometry. Taken before `_shapes` places the content of the uses under it
    (it composes their placements here) and applies those around it (which move the node's user
    space, not the box in it)."""
    if matrix.determinant == 0:
        return None  # (a user space collapsed to a line draws nothing)
    inverse, boxes = ~matrix, []

    def visit(el, placed) -> None:  # placed: the placements of the uses between the node and `el`
        if isinstance(el, se.Use):
            target = _use_target(el)
            fit = _placement_fit(el, target, se) if target is not None else None
            placed = placed if fit is None else fit * placed
        if isinstance(el, (se.Group, se.Use)):
            for child in el:
                visit(child, placed)
        elif isinstance(el, se.Shape) and _has_size(el, se):
            path = se.Path(el) * placed * inverse
            path.reify()
            box = path.bbox()
            if box is not None:
                boxes.append(box)

    visit(node, se.Matrix())
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    return x0, y0, max(b[2] for b in boxes) - x0, max(b[3] for b in boxes) - y0


def _cut_to_box(items: list[_Item], box: tuple[float, float, float, float], matrix,
                outline_tolerance: float | None) -> list[_Item]:
    """The items cut to the rectangle ``box`` (x, y, width, height) of the user space `matrix` maps
    to the canvas (none where it has no area)."""
    x, y, w, h = box
    region = simple_region([tuple(map(float, matrix.point_in_matrix_space(corner)))
                            for corner in ((x, y), (x + w, y), (x + w, y + h), (x, y + h))])
    return [] if region is None else _clipped(items, region, outline_tolerance)[0]


def _detached(container: ET.Element, root: ET.Element, elements: dict[str, ET.Element],
              parents: dict[ET.Element, ET.Element]) -> tuple[str, str]:
    """The content of a marker or mask as a document of its own, in two parts to put a placing
    group's start tag between: its head (the document's style sheets, which style that content
    too, and what a ``<use>`` inside draws) and the properties the content inherits from the
    container and its ancestors (not from where it is used), closing the tag, then the content."""
    styles = "".join(_markup(el) for el in root.iter() if _local_name(el) == "style")
    used = {_referenced(f"url({value})", elements) for el in container.iter()
            for name, value in el.attrib.items() if name.rsplit("}", 1)[-1] == "href"}
    definitions = "".join(_markup(el) for el in used if el is not None)
    inherited = " ".join(f"{name}={quoteattr(value)}" for name, value in
                         _inherited(container, _MARKER_INHERITED, parents).items())
    content = "".join(_markup(child) for child in container if _local_name(child))
    return f'<svg xmlns="{SVG_NS}">{styles}<defs>{definitions}</defs>', f"{inherited}>{content}"


def _marker_placement(marker: ET.Element, stroke_width: float, point: Point, angle: float, kind: str,
                      viewport: tuple[float, float]) -> tuple[str, list[float]] | None:
    """The transform (SVG text) from a marker's content to the marked shape's user space at a
    vertex, and the box (x, y, w, h in content units) the content is clipped to; None when the
    marker draws nothing (a box or scale of no size). `viewport`: the shape's, for percentages."""
    width, height = (_marker_length(marker, name, 3.0, side) for name, side in
                     (("markerWidth", viewport[0]), ("markerHeight", viewport[1])))
    if not (width > 0 and height > 0):
        return None
    scale = 1.0 if str(marker.get("markerUnits", "")).strip() == "userSpaceOnUse" else stroke_width
    box = _numbers(marker.get("viewBox"))
    if len(box) == 4 and box[2] > 0 and box[3] > 0:
        sx, sy, _, _ = _viewbox_fit(box, width * scale, height * scale, marker.get("preserveAspectRatio"))
    else:
        sx = sy = scale
        box = [0.0, 0.0, width, height]
    if not (sx > 0 and sy > 0):
        return None
    turn = _orient(marker.get("orient"), angle, kind)
    ref_x, ref_y = _marker_length(marker, "refX", 0.0, viewport[0]), _marker_length(marker, "refY", 0.0, viewport[1])
    return (f"translate({point[0]!r} {point[1]!r}) rotate({turn!r}) scale({sx!r} {sy!r}) "
            f"translate({-ref_x!r} {-ref_y!r})", box)


def _marker_length(marker: ET.Element, name: str, default: float, side: float) -> float:
    """A marker's ``markerWidth``, ``markerHeight``, ``refX`` or ``refY`` in user units, in any
    unit (em at the default font size); a percentage is of `side`, the width (x, width) or height
    (y, height) of the marked shape's viewport, as resvg reads them, like a rect's ``x`` or
    ``width``; `default` where left out or unreadable."""
    value = _length_of(marker, name, side)
    return default if value is None else value


def _orient(value: str | None, auto: float, kind: str) -> float:
    """A marker's turn in degrees: its ``orient`` angle (deg, rad, grad, turn), or `auto`, the
    path's direction at the vertex (reversed at the start under ``auto-start-reverse``)."""
    text = str(value or "0").strip()
    if text == "auto":
        return auto
    if text == "auto-start-reverse":
        return auto + 180.0 if kind == "start" else auto
    match = re.fullmatch(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(deg|rad|grad|turn)?", text)
    if match is None:
        return 0.0
    unit = {"deg": 1.0, None: 1.0, "rad": 180.0 / math.pi, "grad": 0.9, "turn": 360.0}[match.group(2)]
    return float(match.group(1)) * unit


def _outline_segments(shape, se) -> list[_Segment]:
    """The shape's outline in its own user space, quadratics as cubics and each arc as one cubic
    segment with the arc's end directions (a marker's vertices are the path's, not its pieces')."""
    out: list[_Segment] = []
    for seg in se.Path(shape).segments(transformed=False):
        end = (float(seg.end.x), float(seg.end.y)) if seg.end is not None else None
        if isinstance(seg, se.Move):
            out.append(("M", end))
        elif isinstance(seg, se.Close):
            out.append(("Z",))
        elif isinstance(seg, se.QuadraticBezier):
            start, control = (float(seg.start.x), float(seg.start.y)), (float(seg.control.x), float(seg.control.y))
            out.append(("C", _lerp(start, control, 2 / 3), _lerp(end, control, 2 / 3), end))
        elif isinstance(seg, se.CubicBezier):
            out.append(("C", (float(seg.control1.x), float(seg.control1.y)),
                        (float(seg.control2.x), float(seg.control2.y)), end))
        elif isinstance(seg, se.Arc) and (pieces := list(seg.as_cubic_curves())):
            out.append(("C", (float(pieces[0].control1.x), float(pieces[0].control1.y)),
                        (float(pieces[-1].control2.x), float(pieces[-1].control2.y)), end))
        elif end is not None:  # a line, or an arc of no radius
            out.append(("L", end))
    return out


def _lerp(a: Point, b: Point, u: float) -> Point:
    return (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)


def _marker_vertices(segments: list[_Segment], kind: str) -> list[tuple[Point, float]]:
    """(vertex, direction in degrees) where markers of `kind` go: "start" the first vertex,
    "end" the last (a closed subpath's start), "mid" every vertex between (subpath starts
    included, closing segments not)."""
    last = len(segments) - 1
    if last < 1:
        return []
    if kind == "start":
        return [(segments[0][1], _vertex_angle(segments, 0))] if segments[0][0] == "M" else []
    if kind == "end":
        tag = segments[last][0]
        if tag in ("L", "C"):
            return [(segments[last][-1], _vertex_angle(segments, last))]
        return [(_subpath_start(segments, last), _vertex_angle(segments, last))] if tag == "Z" else []
    return [(segments[i][-1], _vertex_angle(segments, i)) for i in range(1, last) if segments[i][0] != "Z"]


def _subpath_start(segments: list[_Segment], index: int) -> Point:
    for seg in reversed(segments[:index]):
        if seg[0] == "M":
            return seg[1]
    return (0.0, 0.0)


def _vertex_point(segments: list[_Segment], index: int) -> Point:
    """Where segment `index` ends (a closing segment: at its subpath's start)."""
    return _subpath_start(segments, index) if segments[index][0] == "Z" else segments[index][-1]


def _vertex_angle(segments: list[_Segment], index: int) -> float:
    """The direction of the path at the end of segment `index`, in degrees: along the path at its
    ends, the bisector of the directions in and out between two segments. A control point on its
    vertex gives its curve's direction from the next control point instead (as browsers do)."""
    here = segments[index]
    if index == 0:  # the direction out of the first vertex
        start, (tag, *rest) = here[1], segments[1]
        if tag == "L":
            return _direction(start, rest[0])
        if tag == "C":
            return _direction(start, rest[2] if _same(start, rest[0]) else rest[0])
        return 0.0
    before = _vertex_point(segments, index - 1)
    if index == len(segments) - 1:  # the direction into the last vertex
        if here[0] == "L":
            return _direction(before, here[1])
        if here[0] == "C":
            c1, c2, end = here[1:]
            return _direction(c1 if _same(c2, end) else c2, end)
        if here[0] == "Z" and segments[index - 1][0] in ("L", "C"):  # along the closing line
            return _direction(before, _subpath_start(segments, index))
        return 0.0
    after = segments[index + 1]
    point = _vertex_point(segments, index)
    if here[0] == "M":
        return _direction(point, after[1]) if after[0] in ("L", "C") else 0.0
    if here[0] == "Z":
        return 0.0
    in_control = here[2] if here[0] == "C" else before  # the point the direction in comes from
    if after[0] == "L":
        return _curves_angle(before, in_control, point, after[1], after[1])
    if after[0] == "C":
        return _curves_angle(before, in_control, point, after[1], after[3])
    if after[0] == "M":
        return _direction(before if here[0] == "L" or _same(in_control, point) else in_control, point)
    first = _subpath_start(segments, index + 1)  # a closing segment next
    return _curves_angle(before, in_control, point, first, first)


def _curves_angle(before: Point, in_control: Point, point: Point, out_control: Point, after: Point) -> float:
    """The bisector at `point` between a segment arriving from `in_control` and one leaving
    toward `out_control`; a control point on the vertex falls back to the segment's far end."""
    if _same(in_control, point):
        return _bisector(before, point, point, out_control)
    if _same(point, out_control):
        return _bisector(in_control, point, point, after)
    return _bisector(in_control, point, point, out_control)


def _direction(p: Point, q: Point) -> float:
    """The direction from `p` to `q` in degrees, in [0, 360) (0 where they coincide)."""
    return math.degrees(math.atan2(q[1] - p[1], q[0] - p[0])) % 360.0


def _bisector(a: Point, b: Point, c: Point, d: Point) -> float:
    """The direction half way between a -> b (in) and c -> d (out), in degrees in [0, 360): of
    the two halves, the one within 90 degrees of both."""
    into, out = _direction(a, b), _direction(c, d)
    half = (out - into) / 2
    return (into + half - (180.0 if abs(half) > 90.0 else 0.0)) % 360.0


def _inherited(el: ET.Element | None, names: tuple[str, ...], parents: dict[ET.Element, ET.Element]
               ) -> dict[str, str]:
    """The properties among `names` that `el` sets or inherits from its ancestors (`parents`: each
    element's parent; the nearest value wins, ``inherit`` defers to the parent's)."""
    found: dict[str, str] = {}
    while el is not None:
        for name, value in _style_properties(el).items():
            if name in names and name not in found and value != "inherit":
                found[name] = value
        el = parents.get(el)
    return found


def _markup(el: ET.Element) -> str:
    """The element and its descendants as SVG text (attributes without namespaces, but
    ``xlink:href`` as ``href``; text inside elements kept, as a ``<style>``'s rules)."""
    attributes = " ".join(f"{name.rsplit('}', 1)[-1]}={quoteattr(value)}" for name, value in el.attrib.items()
                          if "}" not in name or name.endswith("}href"))
    children = "".join(_markup(child) for child in el if _local_name(child))
    return f"<{_local_name(el)} {attributes}>{xml_escape(el.text or '')}{children}</{_local_name(el)}>"


def _clipped(items: list[_Item], region: Region, outline_tolerance: float | None = None
             ) -> tuple[list[_Item], bool]:
    """The items cut to `region`, and whether a visible stroke was cut at its centre line (with an
    `outline_tolerance`, a stroke that comes near the region's outline is cut as its outline)."""
    out: list[_Item] = []
    cut = False
    for whole in items:
        if region.convex and region.holds(whole.points, whole.width / 2 * _reach_factor(whole.line)):
            out.append(whole)  # inside, with its stroke (its control points hold its curves): no cut
            continue
        for item in _outlined_near(whole, region, outline_tolerance):
            kept, item_cut = _clipped_item(item, region, outline_tolerance)
            out += kept
            cut |= item_cut
    return out, cut


def _outlined_near(item: _Item, region: Region, outline_tolerance: float | None) -> list[_Item]:
    """The item, or with an `outline_tolerance` the outline of its stroke where a centre-line cut
    would draw it over _SHAPE_ERROR beyond the region's outline."""
    if (outline_tolerance is not None and _visible_stroke(item) and item.width / 2 > _SHAPE_ERROR
            and _reaches(_chains(item), item.width / 2, region)):
        return _outlined(item, tolerance=outline_tolerance)
    return [item]


def _clipped_item(item: _Item, region: Region, outline_tolerance: float | None) -> tuple[list[_Item], bool]:
    """One item cut to `region`, and whether its visible stroke was cut at its centre line (see `_clipped`)."""
    out: list[_Item] = []
    chains = _chains(item)
    if item.closed and item.fill is not None:
        kept = clip_fill(chains, region, item.even_odd)
        if len(kept) == len(chains) and all(a is b for a, b in zip(kept, chains)):
            return [item], False  # all inside: its stroke too
        if kept:
            whole = _compound(kept, 0.0, item.stroke, item.fill, item.even_odd)
            out.append(replace(item, points=whole.points, starts=whole.starts, width=0.0,
                               gradients=(item.gradients[0], None)))
        item = replace(item, fill=None, gradients=(None, item.gradients[1]))
        if item.width <= 0:
            return out, False
    pieces = [(part, start_cut, end_cut, item.closed and not (start_cut or end_cut))
              for chain in chains for part, start_cut, end_cut in cut_stroke(chain, region, item.closed)]
    changed = len(pieces) != len(chains) or any(p[1] or p[2] for p in pieces)
    cut = (outline_tolerance is None and item.width > 0 and item.stroke[3] > 0  # (else within _SHAPE_ERROR)
           and (changed or _reaches(chains, item.width / 2, region)))
    if not changed:
        return [*out, item], cut
    cap, join, limit = item.line
    for part, start_cut, end_cut, closed in pieces:
        out.append(replace(item, points=part, closed=closed, fill=None, starts=(0,),
                           line=(CAP_BUTT if start_cut and end_cut else cap, join, limit)))
    return out, cut


def _inside_viewport(items: list[_Item], use: _ClipUse) -> bool:
    """Whether every item, its stroke included (`_stroke_reach`), lies inside the viewport of a
    `_VIEWPORT` use, so that cutting it there would change nothing: a cheap test (no clip region
    built), of the control points mapped back to the viewport's user space, with the stroke's
    reach mapped there too (a circle on the canvas is an ellipse there)."""
    m = use.matrix
    if not m.a * m.d - m.b * m.c:
        return False
    back = ~m
    x, y, width, height = use.target
    stretch = (math.hypot(back.a, back.c), math.hypot(back.b, back.d))  # of a canvas length, along x and y
    for item in items:
        reach = _stroke_reach(item) - _FIT_SLACK
        for px, py in item.points:
            vx, vy = back.a * px + back.c * py + back.e, back.b * px + back.d * py + back.f
            if not (x + reach * stretch[0] <= vx <= x + width - reach * stretch[0]
                    and y + reach * stretch[1] <= vy <= y + height - reach * stretch[1]):
                return False
    return True


#: Canvas px that content may reach past a viewport's edge and still count as inside it (rounding).
_FIT_SLACK = 1e-6


def _stroke_reach(item: _Item) -> float:
    """How far (px) an item's stroke reaches beyond its centre line at most (`_reach_factor`); 0
    where no stroke is drawn."""
    return item.width / 2 * _reach_factor(item.line, item.closed) if _visible_stroke(item) else 0.0


def _reach_factor(line: tuple[int, int, float], closed: bool = False) -> float:
    """How many half widths a stroke of this (cap, join, miter limit) reaches beyond its centre
    line at most: 1, more at a square cap's corner (none on a closed path) and a miter's tip."""
    cap, join, limit = line
    return max(math.sqrt(2) if cap == CAP_SQUARE and not closed else 1.0, limit if join == JOIN_MITER else 1.0)


def _visible_stroke(item: _Item) -> bool:
    return item.width > 0 and (item.stroke[3] > 0 or item.gradients[1] is not None)


def _outlined(item: _Item, linear: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0),
              tolerance: float = RENDER_FILL_TOLERANCE) -> list[_Item]:
    """`item` with its stroke as a filled outline (`stroke_outline`, nonzero, the stroke's paint),
    after its fill. `linear` maps the space where the stroke has its width (the element's user
    space, up to a translation) to the canvas: the outline is traced there and mapped, so a
    non-uniform scale or skew shapes it as a browser's; `tolerance` is in canvas pixels."""
    unmap = _inverted(linear)
    if unmap is None:
        return [item]
    gain = _stretches(linear)[1]  # the outline is traced that much finer
    cap, join, limit = item.line
    width = item.width / _mean_scale(linear)
    polygons = [_mapped(polygon, linear)
                for chain in _chains(item)
                for polygon in stroke_outline(_mapped(chain, unmap), width, item.closed, cap, join, limit,
                                              tolerance / gain)]
    out = [replace(item, width=0.0, gradients=(item.gradients[0], None))] if item.fill is not None else []
    if polygons:
        outline = _compound([_polygon_chain(polygon) for polygon in polygons], 0.0, (0.0, 0.0, 0.0, 0.0),
                            item.stroke, False)
        out.append(replace(outline, line=item.line, gradients=(item.gradients[1], None), layers=item.layers))
    return out


def _mapped(points: list[Point], linear: tuple[float, float, float, float]) -> list[Point]:
    """`points` under the linear map ``(a, b, c, d)``: ``x' = a x + c y, y' = b x + d y``."""
    a, b, c, d = linear
    return [(a * x + c * y, b * x + d * y) for x, y in points]


def _mean_scale(linear: tuple[float, float, float, float]) -> float:
    """The geometric mean of the linear map's stretches, ``sqrt(|det|)``: what it scales a
    stroke's width and its dashes by where it scales all directions alike."""
    a, b, c, d = linear
    return math.sqrt(abs(a * d - b * c))


def _inverted(linear: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    """The inverse of the linear map ``(a, b, c, d)``; None when it is singular."""
    a, b, c, d = linear
    det = a * d - b * c
    return (d / det, -b / det, -c / det, a / det) if det != 0 and math.isfinite(det) else None


def _polygon_chain(corners: list[Point]) -> list[Point]:
    """The closed chain of straight cubics round the polygon."""
    chain = [corners[0]]
    for p, q in zip(corners, corners[1:] + corners[:1]):
        chain += line(p, q)
    return chain


def _reaches(chains: list[list[Point]], distance: float, region: Region) -> bool:
    """Whether a chain comes within `distance` of the region's outline (or crosses it)."""
    return any(outline_gap(region, flatten(chain, 0.1)) < distance for chain in chains)


def _style_properties(el: ET.Element) -> dict[str, str]:
    """An element's own presentation attributes and ``style`` declarations (the latter win)."""
    properties = {name: value.strip() for name, value in el.attrib.items()}
    for declaration in el.get("style", "").split(";"):
        name, _, value = declaration.partition(":")
        if value.strip():
            properties[name.strip()] = value.strip()
    return properties


def _local_name(el: ET.Element) -> str:
    """An element's tag without its namespace ('' for comments and processing instructions)."""
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _check_document(data: bytes, where: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise SvgError(f"{where}: not well-formed XML ({e}); is it a complete SVG file?") from None
    tag = _local_name(root)
    if tag != "svg":
        raise SvgError(f"{where}: the root element is <{tag}>, not <svg>; give an SVG file.")
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else SVG_NS  # none: taken as SVG
    if namespace != SVG_NS:
        raise SvgError(f'{where}: the root <svg> is in the namespace "{namespace}", not SVG\'s; set its '
                       f'xmlns="{SVG_NS}".')
    if not any(k in root.attrib for k in ("width", "height", "viewBox")):
        raise SvgError(f"{where}: the <svg> element has neither width/height nor viewBox, so the canvas "
                       'size is unknown; add e.g. width="224" height="224".')
    return root


def _complete_size(root: ET.Element, data: bytes) -> bytes:
    """`data` with the missing one of width / height set from the viewBox's aspect ratio, as
    browsers and resvg size an SVG that gives only one (the parser would take 100 % of the
    viewBox for it and centre the drawing in a canvas of the wrong shape)."""
    given = [name for name in ("width", "height") if name in root.attrib]
    box = root.attrib.get("viewBox", "").replace(",", " ").split()
    if len(given) != 1 or len(box) != 4:
        return data
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-z]*)\s*", root.attrib[given[0]])
    try:
        size, box_w, box_h = float(match.group(1)), float(box[2]), float(box[3])
    except (AttributeError, ValueError):
        return data  # a percentage or an unparsable length: left to the parser
    if size <= 0 or box_w <= 0 or box_h <= 0:
        return data
    missing = size * (box_h / box_w if given[0] == "width" else box_w / box_h)
    name = "height" if given[0] == "width" else "width"
    in_markup = _in_markup(data)
    for tag in re.finditer(rb"<(?:[\w.-]+:)?svg\b", data):  # the root's start tag: the attribute goes there
        if not in_markup(tag.start()):
            return data[: tag.end()] + f' {name}="{missing:g}{match.group(2)}"'.encode() + data[tag.end() :]
    return data


def _in_markup(data: bytes) -> Callable[[int], bool]:
    """Whether a byte offset of `data` lies in a comment, the DOCTYPE or a CDATA section (text
    that looks like a tag there is none)."""
    spans = [m.span() for m in re.finditer(rb"<!--.*?-->|<!DOCTYPE[^>]*>|<!\[CDATA\[.*?\]\]>", data, re.DOTALL)]
    return lambda offset: any(a <= offset < b for a, b in spans)


_START_TAG = re.compile(rb"""<(?![/!?])(?:"[^"]*"|'[^']*'|[^'">])*>""")
_GEOMETRY_ATTR = re.compile(rb"""(\s(?:x|y|width|height|cx|cy|r|rx|ry|x1|y1|x2|y2)\s*=\s*)("[^"]*"|'[^']*')""")
#: An SVG number (no leading or trailing spaces).
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_EM = re.compile(rf"\s*{_NUMBER}\s*e[mx]\s*", re.IGNORECASE)


def _parser_ready(root: ET.Element, data: bytes, cut: dict[ET.Element, str]) -> tuple[bytes, ET.Element]:
    """`data` (and its tree) with what the parser reads wrongly or not at all rewritten in the
    start tags (`_TagFixes`; `cut`: the path data of paths, cut before its error) and the style
    sheets, once applied, emptied."""
    elements = list(root.iter())
    in_markup = _in_markup(data)
    tags = [tag for tag in _START_TAG.finditer(data) if not in_markup(tag.start())]
    if len(tags) != len(elements):  # (markup from entities): left to the parser
        return data, root
    fixes = _TagFixes(root, elements, data, cut)
    out, last = [], 0
    for el, tag in zip(elements, tags):
        text = fixes.rewrite(el, tag.group(0))
        if text != tag.group(0):
            out += [data[last : tag.start()], text]
            last = tag.end()
    if not out:
        return data, root
    data = b"".join(out) + data[last:]
    if fixes.styles:  # applied: the parser's own reading of the sheets would differ
        in_markup = _in_markup(data)
        data = _STYLE_ELEMENT.sub(lambda m: m.group(0) if in_markup(m.start()) else m.group(1) + m.group(3), data)
    return data, ET.fromstring(data)


class _TagFixes:
    """The rewrites of each start tag, worked out on the whole tree first:

    * the ``<style>`` sheets' cascade written into each element's ``style`` (`vecrender.css`),
      and a gradient stop's ``currentColor`` as the colour its ancestors set;
    * ``inherit`` made explicit (the parser reads it as the initial value);
    * positions and sizes in ``em`` or ``ex`` (icon sets size their root ``width="1em"``) in px of
      the element's ``font-size`` (16 px by default, ex half an em, as resvg);
    * lengths, opacities, dash arrays and transforms that are not valid SVG (attributes and
      ``style`` declarations), and ``d`` off a path, left out, as browsers ignore them;
    * an empty ``d`` for a ``<path>`` without one (the parser would fail the whole file), and
      path data with an error cut before it (`path_data_prefix`);
    * nested ``<svg>``: the parser gives their ``x``/``y`` to descendants that leave theirs out and
      places one without a viewBox at 0, 0: such descendants get an explicit 0, such an ``<svg>``
      the viewBox of its own size;
    * the viewport of a nested ``<svg>``, or of a ``<use>`` of a ``<symbol>`` or ``<svg>``, where
      its overflow is hidden, as `_VIEWPORT_ATTR` (`_Clips` cuts what its content draws outside),
      and a use's placement of the target's content in it as `_PLACEMENT_ATTR` (`_placement_fit`);
    * the children a ``<switch>`` does not draw hidden, a ``<use>`` that would draw itself again
      pointed at nothing, and CSS Color 4's ``rgb(255 0 0)`` written with commas."""

    def __init__(self, root: ET.Element, elements: list[ET.Element], data: bytes, cut: dict[ET.Element, str]
                 ) -> None:
        self.root, self.cut = root, cut
        self.parents = {child: parent for parent in elements for child in parent}
        self.font_sizes = _font_sizes(elements, self.parents)
        self.specified = _specified(elements, self.parents) if b"inherit" in data else {}
        self.viewports = _viewports(elements, self.parents, self.font_sizes)
        self.switched_off = {child for el in elements if _local_name(el) == "switch" for child in _not_chosen(el)}
        self.cyclic = _cyclic_uses(elements)
        self.styles = css.cascade(root, _style_sheets(elements))
        self.styles.update(_current_color_stops(elements, self.parents, self.styles))

    def rewrite(self, el: ET.Element, text: bytes) -> bytes:
        invalid = _invalid_attributes(el)
        if invalid:  # as browsers and resvg ignore them (the parser would read a number out of them)
            text = _ATTRIBUTE.sub(lambda a: b"" if a.group(2).decode() in invalid else a.group(0), text)
        style = self.styles.get(el)
        if style is None and "style" in el.attrib:
            style = {name: value for name, value, _ in css.parse_declarations(el.get("style"))}
        if style is not None and (el in self.styles or any(not _valid_property(*d) for d in style.items())):
            text = _with_style(text, {name: value for name, value in style.items() if _valid_property(name, value)})
        if "inherit" in _style_properties(el).values():
            up = self.specified.get(self.parents.get(el), {})
            text = _ATTRIBUTE.sub(lambda attr: _inherit_made_explicit(attr, up), text)
        if any(_EM.fullmatch(v) for v in el.attrib.values()):
            text = _GEOMETRY_ATTR.sub(lambda attr: _em_to_px(attr, self.font_sizes[el]), text)
        if el in self.cut:  # (the parser reads on past an error, and not as SVG says)
            text = _with_attribute_value(text, lambda name: name == b"d", self.cut[el])
        if el in self.cyclic:  # SVG draws nothing for it; the parser would recurse forever
            text = _with_attribute_value(text, lambda name: name.split(b":")[-1] == b"href", "")
        added = self._added(el)
        if added:
            attributes = "".join(f' {name}="{value}"' for name, value in added.items()).encode()
            text = re.sub(rb"\s*/?>$", lambda end: attributes + end.group(0), text)
        return _RGB_SPACES.sub(rb"\1(\2, \3, \4)", text)

    def _added(self, el: ET.Element) -> dict[str, str]:
        """Attributes to add to `el`."""
        name, nested = _local_name(el), el is not self.root
        added = {}
        if name == "path" and "d" not in el.attrib:
            added["d"] = ""
        if name in _PLACED and nested:
            added.update({axis: "0" for axis in ("x", "y") if axis not in el.attrib})
        if el in self.viewports and el not in self.cyclic:
            viewport = self.viewports[el]
            width, height = viewport.rect[2:]
            if name == "svg" and "viewBox" not in el.attrib and width > 0 and height > 0:
                added["viewBox"] = f"0 0 {width:g} {height:g}"
            if name == "use":
                added[_PLACEMENT_ATTR] = _placement(viewport)
            if self._overflow_hidden(viewport.target):
                added[_VIEWPORT_ATTR] = " ".join(map(repr, viewport.rect))
        if el in self.switched_off:
            added["display"] = "none"
        return added

    def _overflow_hidden(self, el: ET.Element) -> bool:
        """Whether a viewport's content is clipped to it: SVG's default ``overflow: hidden`` (of the
        ``<svg>`` or ``<symbol>``; ``scroll`` clips too) unless ``visible`` or ``auto``."""
        overflow = {**_style_properties(el), **self.styles.get(el, {})}.get("overflow", "hidden")
        return overflow.strip().lower() not in ("visible", "auto")


#: Attributes whose value is one length (a number, a unit or a percentage allowed), by element
#: (None: any), and the keywords each allows.
_LENGTH_ATTRIBUTES = {"x": (None, ()), "y": (None, ()), "width": (None, ("auto",)), "height": (None, ("auto",)),
                      "r": (None, ()), "rx": (None, ("auto",)), "ry": (None, ("auto",)), "cx": (None, ()),
                      "cy": (None, ()), "x1": ("line", ()), "y1": ("line", ()), "x2": ("line", ()),
                      "y2": ("line", ())}
_TRANSFORM_NUMBERS = re.compile(rf"\s*{_NUMBER}(?:\s*,?\s*{_NUMBER})*\s*")
_UNIT_LENGTH = rf"{_NUMBER}(?:px|pt|pc|mm|cm|in|em|ex|%)?"
_LENGTH_VALUE = re.compile(rf"\s*{_UNIT_LENGTH}\s*", re.IGNORECASE)
_OPACITIES = frozenset({"opacity", "fill-opacity", "stroke-opacity", "stop-opacity"})
_OPACITY_VALUE = re.compile(rf"\s*{_NUMBER}%?\s*")
_LENGTH_LIST = re.compile(rf"\s*{_UNIT_LENGTH}(?:\s*,?\s*{_UNIT_LENGTH})*\s*|\s*none\s*", re.IGNORECASE)
#: SVG's transform list, with each function's argument counts.
_TRANSFORM_ARGUMENTS = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3), "skewX": (1,),
                        "skewY": (1,)}
_TRANSFORM_FUNCTION = re.compile(r"[\s,]*(\w+)\s*\(([^()]*)\)")
#: Elements whose x, y, width and height are not lengths (gradient stops, filters' primitives: left to the parser).
_NOT_GEOMETRY = frozenset({"stop", "text", "tspan", "textPath"})


def _invalid_attributes(el: ET.Element) -> set[str]:
    """The attributes of `el` that hold no valid length (of those that take one), transform list
    or value `_valid_property` checks, and a ``d`` on anything but a path."""
    name = _local_name(el)
    invalid = set()
    if name not in _NOT_GEOMETRY:
        for attribute, (element, keywords) in _LENGTH_ATTRIBUTES.items():
            value = el.get(attribute)
            if value is None or element not in (None, name) or value.strip() in (*keywords, "inherit"):
                continue
            if not _LENGTH_VALUE.fullmatch(value):
                invalid.add(attribute)
    invalid |= {attribute for attribute, value in el.attrib.items() if not _valid_property(attribute, value)}
    if "d" in el.attrib and name != "path":  # path data of nothing (the parser would draw it in the element's place)
        invalid.add("d")
    for attribute in ("transform", "gradientTransform", "patternTransform"):
        value = el.get(attribute)
        if value is not None and not _valid_transform(value):
            invalid.add(attribute)
    return invalid


def _valid_property(name: str, value: str) -> bool:
    """Whether a value of a presentation attribute or ``style`` declaration is valid, of those
    import checks: opacities (a number or a percentage), ``stroke-width`` and
    ``stroke-dashoffset`` (a length), ``stroke-dasharray`` (a list of them, or none)."""
    if value.strip() == "inherit":
        return True
    if name in _OPACITIES:
        return bool(_OPACITY_VALUE.fullmatch(value)) and math.isfinite(float(value.strip().rstrip("%")))
    if name in ("stroke-width", "stroke-dashoffset"):
        return bool(_LENGTH_VALUE.fullmatch(value))
    return name != "stroke-dasharray" or bool(_LENGTH_LIST.fullmatch(value))


def _valid_transform(text: str) -> bool:
    """Whether `text` is an SVG transform list: functions with their counts of numbers, apart by
    spaces or a comma."""
    at = 0
    for function in _TRANSFORM_FUNCTION.finditer(text):
        counts = _TRANSFORM_ARGUMENTS.get(function.group(1))
        if function.start() != at or counts is None or not _TRANSFORM_NUMBERS.fullmatch(function.group(2)):
            return False
        if len(re.findall(_NUMBER, function.group(2))) not in counts:
            return False
        at = function.end()
    return text[at:].strip(" \t\r\n,") == "" if at else text.strip() in ("", "none")


_STYLE_ELEMENT = re.compile(rb"(<(?:[\w.-]+:)?style\b[^>]*>)(.*?)(</(?:[\w.-]+:)?style\s*>)", re.DOTALL)


def _style_sheets(elements: list[ET.Element]) -> list[css.Rule]:
    """The rules of the document's CSS ``<style>`` sheets, wherever they are, in document order."""
    rules: list[css.Rule] = []
    for el in elements:
        if _local_name(el) == "style" and el.get("type", "text/css").strip().lower() in ("text/css", ""):
            rules += css.parse_stylesheet("".join(el.itertext()), len(rules))
    return rules


def _current_color_stops(elements: list[ET.Element], parents: dict[ET.Element, ET.Element],
                         styles: dict[ET.Element, dict[str, str]]) -> dict[ET.Element, dict[str, str]]:
    """The ``style`` of each gradient stop whose colour is ``currentColor``, with the ``color``
    the stop inherits from its own ancestors (black where none is set), which `_stop` cannot see."""
    def own(el: ET.Element) -> dict[str, str]:
        return styles.get(el) or _style_properties(el)

    out = {}
    for el in elements:
        if _local_name(el) == "stop" and own(el).get("stop-color", "").strip().lower() == "currentcolor":
            color = next((own(a)["color"] for a in (el, *_ancestors(el, parents)) if "color" in own(a)), "black")
            inline = {name: value for name, value, _ in css.parse_declarations(el.get("style", ""))}
            out[el] = {**(styles.get(el) or inline), "stop-color": color}
    return out


def _with_style(tag: bytes, declarations: dict[str, str]) -> bytes:
    """The start tag with its ``style`` attribute set to `declarations`."""
    value = html.escape("; ".join(f"{name}: {value}" for name, value in declarations.items())).encode()
    for attr in _ATTRIBUTE.finditer(tag):
        if attr.group(2) == b"style":
            return tag[: attr.start()] + attr.group(1) + b'style="' + value + b'"' + tag[attr.end() :]
    return re.sub(rb"\s*/?>$", lambda end: b' style="' + value + b'"' + end.group(0), tag)


#: Properties an element inherits where it does not set them (``inherit`` on them: not set).
_INHERITED_PROPERTIES = frozenset({
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "visibility", "color",
    "font-size", "font-family", "clip-rule", "marker", "marker-start", "marker-mid", "marker-end", "paint-order"})
_ATTRIBUTE = re.compile(rb"""(\s)([\w:.-]+)(\s*=\s*)("[^"]*"|'[^']*')""")


def _with_attribute_value(text: bytes, chosen: Callable[[bytes], bool], value: str) -> bytes:
    """The start tag `text` with the value of each attribute whose name is `chosen` set to `value`
    (which holds no double quote)."""
    quoted = f'"{value}"'.encode()
    return _ATTRIBUTE.sub(lambda a: a.group(1) + a.group(2) + a.group(3) + quoted if chosen(a.group(2)) else a.group(0),
                          text)


def _specified(elements: list[ET.Element], parents: dict[ET.Element, ET.Element]
               ) -> dict[ET.Element, dict[str, str]]:
    """Each element's own properties (`_style_properties`) with ``inherit`` replaced by the
    parent's value (elements in document order, parents first)."""
    out: dict[ET.Element, dict[str, str]] = {}
    for el in elements:
        up = out.get(parents.get(el), {})
        out[el] = {name: up.get(name, "") if value == "inherit" else value
                   for name, value in _style_properties(el).items()}
    return out


def _inherit_made_explicit(attr: re.Match, parent: dict[str, str]) -> bytes:
    """An attribute (``style`` declarations too) whose value is ``inherit``: removed for a property
    that inherits anyway, else given the parent's value (removed where the parent sets none:
    the initial value)."""
    space, name, equals = attr.group(1), attr.group(2).decode(errors="replace"), attr.group(3)
    value = html.unescape(attr.group(4)[1:-1].decode(errors="replace"))

    def explicit(prop: str) -> str | None:
        return None if prop in _INHERITED_PROPERTIES else parent.get(prop) or None

    if name == "style":
        kept = []
        for declaration in value.split(";"):
            prop, _, given = (part.strip() for part in declaration.partition(":"))
            if given != "inherit":
                kept.append(declaration)
            elif (replacement := explicit(prop)) is not None:
                kept.append(f"{prop}: {replacement}")
        value = ";".join(kept)
    elif value.strip() == "inherit":
        value = explicit(name)
        if value is None:
            return b""
    else:
        return attr.group(0)
    return space + attr.group(2) + equals + f'"{html.escape(value)}"'.encode()


#: CSS Color 4's ``rgb(255 0 0)``, which the parser cannot read, for ``rgb(255, 0, 0)``.
_RGB_SPACES = re.compile(rb"(rgba?)\(\s*([\d.]+%?)\s+([\d.]+%?)\s+([\d.]+%?)\s*\)")


def _cyclic_uses(elements: list[ET.Element]) -> set[ET.Element]:
    """The ``<use>`` elements that would draw themselves again: one whose target contains it, or
    leads through other uses back to it."""
    by_id = {el.get("id"): el for el in elements if el.get("id")}
    uses = [el for el in elements if _local_name(el) == "use"]

    def drawn_uses(use: ET.Element) -> list[ET.Element]:
        target = _linked(use, by_id)
        return [] if target is None else [el for el in target.iter() if _local_name(el) == "use"]

    edges = {use: drawn_uses(use) for use in uses}
    cyclic = set()
    for use in uses:
        seen, stack = set(), list(edges[use])
        while stack:
            other = stack.pop()
            if other is use:
                cyclic.add(use)
                break
            if other not in seen:
                seen.add(other)
                stack += edges.get(other, [])
    return cyclic


def _not_chosen(switch: ET.Element) -> list[ET.Element]:
    """The children of a ``<switch>`` it does not draw: all but the first whose conditions hold
    (as resvg: ``systemLanguage`` naming ``en``, no ``requiredExtensions``)."""
    children = [child for child in switch if isinstance(child.tag, str)]
    for index, child in enumerate(children):
        languages = {code.strip() for code in child.get("systemLanguage", "en").split(",")}
        if "en" in languages and not child.get("requiredExtensions", "").strip():
            return children[:index] + children[index + 1 :]
    return children


#: Elements placed by their own ``x`` and ``y`` (0 where left out).
_PLACED = frozenset({"rect", "use", "image", "svg"})


class _Viewport(NamedTuple):
    """A viewport that a nested ``<svg>`` or a ``<use>`` of a ``<symbol>`` or ``<svg>`` establishes:
    its rectangle (x, y, width, height) in the user space the parser gives that element (a use's:
    after its own ``x``, ``y``), and the ``<svg>`` or ``<symbol>`` whose content it shows."""

    rect: tuple[float, float, float, float]
    target: ET.Element


def _viewports(elements: list[ET.Element], parents: dict[ET.Element, ET.Element],
               font_sizes: dict[ET.Element, float]) -> dict[ET.Element, _Viewport]:
    """Each nested ``<svg>``'s viewport, in its parent's user units (x, y 0 and width, height
    100 % by default, of the nearest ``<svg>`` user space above it), and each ``<use>``'s that
    places a ``<symbol>``, or an ``<svg>`` whose width or height it sets (`_use_viewport`)."""
    by_id = {el.get("id"): el for el in elements if el.get("id")}
    spaces: dict[ET.Element, tuple[float, float]] = {}  # each <svg>'s user space: its viewBox or its size
    viewports = {}
    for el in elements:
        name = _local_name(el)
        if name not in ("svg", "use"):
            continue
        up = next((spaces[a] for a in _ancestors(el, parents) if a in spaces), None)
        if name == "use":
            target = _linked(el, by_id)
            viewport = None if target is None or up is None else _use_viewport(el, target, up, font_sizes)
            if viewport is not None:
                viewports[el] = viewport
            continue
        x, y, width, height = _placed_rect(el, up or (0.0, 0.0), font_sizes[el])
        if up is not None:
            viewports[el] = _Viewport((x, y, width, height), el)
        box = _numbers(el.get("viewBox"))
        spaces[el] = (box[2], box[3]) if len(box) == 4 else (width, height)
    return viewports


def _placed_rect(el: ET.Element, space: tuple[float, float], font_size: float
                 ) -> tuple[float, float, float, float]:
    """An element's x, y, width, height in user units (0, 0, 100 %, 100 % of `space` by default)."""
    x, y, width, height = (_length_of(el, name, space[axis], font_size)
                           for name, axis in (("x", 0), ("y", 1), ("width", 0), ("height", 1)))
    return x or 0.0, y or 0.0, space[0] if width is None else width, space[1] if height is None else height


def _use_viewport(use: ET.Element, target: ET.Element, space: tuple[float, float],
                  font_sizes: dict[ET.Element, float]) -> _Viewport | None:
    """The viewport a ``<use>`` gives a ``<symbol>`` (the use's width and height, 100 % of `space`
    by default, at the use's x, y) or an ``<svg>`` (the svg's own x, y, width and height, but the
    width and height the use sets, as SVG says), in the use's user space after its x, y; None for
    other targets and for an svg the use leaves its size (it is placed as any nested svg)."""
    font_size = font_sizes[use]
    sizes = [_length_of(use, name, space[axis], font_size) for name, axis in (("width", 0), ("height", 1))]
    if _local_name(target) == "symbol":
        return _Viewport((0.0, 0.0, *(space[axis] if size is None else size for axis, size in enumerate(sizes))),
                         target)
    if _local_name(target) != "svg" or sizes == [None, None]:
        return None
    x, y, *own = _placed_rect(target, space, font_sizes[target])
    return _Viewport((x, y, *(own[axis] if size is None else size for axis, size in enumerate(sizes))), target)


def _placement(viewport: _Viewport) -> str:
    """The transform (SVG syntax) that places a use's target's content in its viewport: the
    target's viewBox fitted into it (`_viewbox_fit`) at its x, y; see `_placement_fit`."""
    x, y, width, height = viewport.rect
    box = _numbers(viewport.target.get("viewBox"))
    moves = [f"translate({x!r} {y!r})"]
    if len(box) == 4 and min(box[2], box[3], width, height) > 0:
        sx, sy, tx, ty = _viewbox_fit(box, width, height, viewport.target.get("preserveAspectRatio"))
        moves += [f"translate({tx!r} {ty!r})", f"scale({sx!r} {sy!r})", f"translate({-box[0]!r} {-box[1]!r})"]
    return " ".join(moves)


#: Attribute import adds to an element that establishes a viewport whose overflow is hidden: its
#: rectangle (x y width height) in the element's user space, which `_Clips` cuts the content to.
_VIEWPORT_ATTR = "vecrender-viewport"
#: Attribute import adds to a ``<use>`` of a ``<symbol>`` or ``<svg>``: `_placement`.
_PLACEMENT_ATTR = "vecrender-placement"


def _ancestors(el: ET.Element, parents: dict[ET.Element, ET.Element]) -> Iterator[ET.Element]:
    while el in parents:
        el = parents[el]
        yield el


def _font_sizes(elements: list[ET.Element], parents: dict[ET.Element, ET.Element]) -> dict[ET.Element, float]:
    """Each element's ``font-size`` in px (elements in document order, parents first)."""
    sizes: dict[ET.Element, float] = {}
    for el in elements:
        inherited = sizes.get(parents.get(el), DEFAULT_FONT_SIZE)
        own = _style_properties(el).get("font-size")
        sizes[el] = (_length(own, inherited, inherited) if own else None) or inherited
    return sizes


def _em_to_px(attr: re.Match, font_size: float) -> bytes:
    text = attr.group(2)[1:-1].decode(errors="replace")
    if not _EM.fullmatch(text):
        return attr.group(0)
    return attr.group(1) + f'"{_length(text, 0.0, font_size):g}"'.encode()


_ELLIPSE_TAG = re.compile(rb"<(?:[\w.-]+:)?ellipse\b[^>]*>")
_RADIUS_ATTR = re.compile(rb"""\s(r[xy])\s*=\s*("[^"]*"|'[^']*')""")


def _auto_radii(data: bytes) -> bytes:
    """`data` with an ``<ellipse>``'s missing, empty, ``auto``, negative or unreadable ``rx`` or
    ``ry`` set to the other one, as SVG 2's ``auto`` radius makes browsers and resvg draw it (the
    parser would drop the ellipse, or give it a radius of 1). The value is copied as written, so
    a percentage keeps its number but refers to the other side of the viewport."""
    in_markup = _in_markup(data)

    def fix(tag: re.Match) -> bytes:
        text = tag.group(0)
        if in_markup(tag.start()):
            return text
        given = {m.group(1): m for m in _RADIUS_ATTR.finditer(text)}
        lengths = {name: _length(m.group(2)[1:-1].decode(errors="replace"), 0.0) for name, m in given.items()}
        valid = {name: given[name] for name, value in lengths.items() if value is not None and value >= 0}
        if len(valid) != 1:
            return text
        (name, source), = valid.items()
        other = b"ry" if name == b"rx" else b"rx"
        if other in given:  # replace its value
            start, end = given[other].span(2)
            return text[:start] + source.group(2) + text[end:]
        at = text.index(b"ellipse") + len(b"ellipse")
        return text[:at] + b" " + other + b"=" + source.group(2) + text[at:]

    return _ELLIPSE_TAG.sub(fix, data)


#: Start, end or empty tags of the elements whose content is drawn only where it is referenced.
_DEFINITION_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(?:mask|marker|symbol|filter)\b"
                             rb"""(?:"[^"]*"|'[^']*'|[^'">])*?(/?)>""")


def _definitions_hidden(data: bytes) -> bytes:
    """`data` with each ``<mask>``, ``<marker>``, ``<symbol>`` and ``<filter>`` (outermost ones)
    inside a ``<defs>``: the parser would draw their content where it stands. A ``<use>`` still
    draws a symbol, and masks are read from the document itself."""
    in_markup = _in_markup(data)
    out, depth, last = [], 0, 0
    for tag in _DEFINITION_TAG.finditer(data):
        if in_markup(tag.start()):
            continue
        closing, empty = tag.group(1), tag.group(2)
        if not closing and depth == 0:  # (a prefix of the tag's may be declared on it: none here)
            out += [data[last : tag.start()], b"<defs>"]
            last = tag.start()
        depth += 0 if empty else -1 if closing else 1
        if depth <= 0:
            out += [data[last : tag.end()], b"</defs>"]
            last, depth = tag.end(), 0
    return b"".join(out) + data[last:]


def _root_shown(data: bytes) -> bytes:
    """`data` with ``display: none`` taken off the root's start tag (to read its canvas size)."""
    in_markup = _in_markup(data)
    tag = next(t for t in _START_TAG.finditer(data) if not in_markup(t.start()))
    shown = re.sub(rb"""display\s*(?:=\s*(["'])\s*none\s*\1|:\s*none)""", b"", tag.group(0))
    return data[: tag.start()] + shown + data[tag.end() :]


def _canvas_size(document, root: ET.Element, where: str) -> tuple[int, int]:
    try:
        width, height = round(float(document.width)), round(float(document.height))
    except (TypeError, ValueError):
        width = height = 0
    if width <= 0 or height <= 0:
        given = {name: root.attrib[name] for name in ("width", "height", "viewBox") if name in root.attrib}
        size = ", ".join(f'{name}="{value}"' for name, value in given.items()) or "no width, height or viewBox"
        raise SvgError(f"{where}: the canvas size is not a positive length (the <svg> has {size}); set the "
                       '<svg> width and height in pixels, e.g. width="224" height="224".')
    return width, height


def _own(node, name: str) -> str | None:
    """An attribute set on the node itself (style included), not inherited."""
    return node.values.get("attributes", {}).get(name)


def _number(text: str | None, default: float) -> float:
    if text is None:
        return default
    text = str(text).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default  # ("nan", "inf": not numbers in SVG)


def _unit(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _shapes(node, layers: tuple[_Layer, ...], viewport: tuple[float, float], clips: tuple[_ClipUse, ...],
            finder: _Clips, se
            ) -> Iterator[tuple[object, tuple[_Layer, ...], tuple[float, float], tuple[_ClipUse, ...]]]:
    """(shape, opacity layers of it and its ancestors, viewport, clip paths and masks of it and its
    ancestors) in drawing order; `viewport`: the user-space size that percentages refer to (the
    nearest ``<svg>``'s viewBox); `finder` reads the clip paths and masks."""
    opacity = _unit(_number(_own(node, "opacity"), 1.0))
    drawn = isinstance(node, (se.Group, se.Use, se.Shape))  # (others draw nothing)
    own = finder.uses_of(node, viewport) if drawn else ()
    clips = (*clips, *own)
    if opacity < 1 or any(use.kind != _VIEWPORT for use in own):  # (a clip import cannot cut becomes a mask)
        layers = (*layers, _Layer(next(_LAYER_KEYS), opacity, node))
    if isinstance(node, se.SVG):
        box = _numbers(node.values.get("viewBox"))
        viewport = (box[2], box[3]) if len(box) == 4 else viewport
    if isinstance(node, (se.Group, se.Use)):
        target = _use_target(node) if isinstance(node, se.Use) else None
        fit = _placement_fit(node, target, se) if target is not None else None
        for child in node:
            for shape, shape_layers, shape_viewport, shape_clips in _shapes(child, layers, viewport, clips, finder, se):
                if fit is not None:  # (an <svg> it places: the use's viewport replaces the svg's own)
                    shape.transform = shape.transform * fit
                    shape_clips = clips + tuple(replace(use, matrix=use.matrix * fit)
                                                for use in shape_clips[len(clips):]
                                                if not (use.user is target and use.kind == _VIEWPORT))
                yield shape, shape_layers, shape_viewport, shape_clips
    elif isinstance(node, se.Shape):
        if str(node.values.get("visibility", "visible")).strip() not in ("hidden", "collapse"):
            _resolve_lengths(node, viewport, se)
            if _has_size(node, se):
                yield node, layers, viewport, clips


def _has_size(shape, se) -> bool:
    """Whether a basic shape is drawn: SVG draws no ``rect`` without a positive width and height
    (the parser would take a missing one as 100 %) and no circle or ellipse without positive radii
    (a circle without ``r`` has none)."""
    if isinstance(shape, se.Rect):
        given = all(_own(shape, name) is not None for name in ("width", "height"))
        return given and shape.width > 0 and shape.height > 0
    if isinstance(shape, se.Circle) and _own(shape, "r") is None:
        return False  # (the parser's default radius is 1; SVG's is 0)
    if isinstance(shape, (se.Circle, se.Ellipse)):
        return shape.rx > 0 and shape.ry > 0
    return True


def _numbers(text: str | None) -> list[float]:
    try:
        return [float(v) for v in str(text or "").replace(",", " ").split()]
    except ValueError:
        return []


#: Geometry attributes of the basic shapes, by the viewport side their percentages refer to.
_PERCENT_AXES = {"x": 0, "cx": 0, "x1": 0, "x2": 0, "width": 0, "rx": 0,
                 "y": 1, "cy": 1, "y1": 1, "y2": 1, "height": 1, "ry": 1, "r": 2}


#: User units (CSS pixels) per unit of an SVG length; em and ex follow the font size.
_UNITS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "q": 96 / 101.6,
          "in": 96.0}
#: Font size (px) where no ``font-size`` is set: the browsers' default.
DEFAULT_FONT_SIZE = 16.0
_LENGTH = re.compile(rf"\s*({_NUMBER})\s*([a-zA-Z%]*)\s*")


def _length(text: object, percent_of: float, font_size: float = DEFAULT_FONT_SIZE) -> float | None:
    """An SVG length in user units: a number with an absolute unit (px, pt, mm, ...), in em or ex
    of `font_size` (ex taken as half an em), or a percentage of `percent_of`; None if unreadable."""
    match = _LENGTH.fullmatch(str(text))
    if match is None:
        return None
    value, unit = float(match[1]), match[2].lower()
    if unit == "%":
        return value / 100 * percent_of
    if unit in ("em", "ex"):
        return value * font_size / (2 if unit == "ex" else 1)
    return value * _UNITS[unit] if unit in _UNITS else None


def _length_of(el: ET.Element, name: str, percent_of: float, font_size: float = DEFAULT_FONT_SIZE) -> float | None:
    """The length attribute `name` of `el` in user units; None where it is not set or not a length
    (``auto``)."""
    text = el.get(name)
    return None if text is None else _length(text, percent_of, font_size)


def _resolve_lengths(shape, viewport: tuple[float, float], se) -> None:
    """Lengths the parser reads wrong, in user units: percentages in a basic shape's geometry (of
    the viewport's width, height or, for ``r``, its normalised diagonal; the parser takes ``75%``
    for 75), and the stroke's width, dashes and dash offset in any unit (the parser ignores em
    and ex and takes percentages of the whole diagonal)."""
    diagonal = math.hypot(*viewport) / math.sqrt(2)
    _resolve_stroke_lengths(shape, diagonal)
    if not isinstance(shape, (se.Rect, se.Circle, se.Ellipse, se.SimpleLine)):
        return
    own = shape.values.get("attributes", {})
    for name, axis in _PERCENT_AXES.items():
        text = str(own.get(name, "")).strip()
        value = _length(text, (*viewport, diagonal)[axis]) if text.endswith("%") else None
        if value is None:
            continue
        for target in ("rx", "ry") if name == "r" else (name,):  # a circle keeps its radius as both
            if hasattr(shape, target):
                setattr(shape, target, value)


def _resolve_stroke_lengths(shape, diagonal: float) -> None:
    values = shape.values
    font_size = _length(values.get("font-size", DEFAULT_FONT_SIZE), DEFAULT_FONT_SIZE) or DEFAULT_FONT_SIZE
    width = _length(values.get("stroke-width", 1.0), diagonal, font_size)
    if width is not None:
        shape.stroke_width = width
    dashes = str(values.get("stroke-dasharray", "none")).strip()
    if dashes not in ("none", ""):
        lengths = [_length(v, diagonal, font_size) for v in re.split(r"[\s,]+", dashes) if v]
        values["stroke-dasharray"] = "invalid" if None in lengths else " ".join(map(str, lengths))
    offset = _length(values.get("stroke-dashoffset", 0.0), diagonal, font_size)
    values["stroke-dashoffset"] = offset if offset is not None else 0.0


def _use_target(use):
    """The parsed element a parsed ``<use>`` draws (its child of the id it names), if any."""
    href = _own(use, "href") or _own(use, "{http://www.w3.org/1999/xlink}href") or ""
    return next((child for child in use if href.startswith("#") and _own(child, "id") == href[1:]), None)


def _placement_fit(use, target, se):
    """The matrix to append to the transform of each shape under a ``<use>`` of a ``<symbol>`` or
    ``<svg>`` (`target`) that places the target's content in the use's viewport (`_placement`)
    instead of where the parser put it (a symbol's: in the use's user space; an svg's: by its own
    size); None for other uses."""
    placement = _own(use, _PLACEMENT_ATTR)
    if placement is None:
        return None
    placed = se.Matrix(use.transform)
    parsed = se.Matrix(target.viewbox_transform) if isinstance(target, se.SVG) else se.Matrix()
    return ~placed * ~parsed * se.Matrix(placement) * placed


def _viewbox_fit(box: list[float], width: float, height: float, aspect: str | None
                 ) -> tuple[float, float, float, float]:
    """``(sx, sy, tx, ty)``: the scales, then offsets, that fit the viewBox ``box`` (x, y, w, h;
    w, h > 0) into `width` x `height` by ``preserveAspectRatio`` `aspect` (default ``xMidYMid meet``)."""
    sx, sy = width / box[2], height / box[3]
    align, *rest = str(aspect or "xMidYMid meet").split() or ["xMidYMid"]
    if align == "none":
        return sx, sy, 0.0, 0.0
    sx = sy = max(sx, sy) if rest == ["slice"] else min(sx, sy)
    shift = {"Min": 0.0, "Mid": 0.5, "Max": 1.0}
    tx, ty = (width - box[2] * sx) * shift.get(align[1:4], 0.5), (height - box[3] * sy) * shift.get(align[5:8], 0.5)
    return sx, sy, tx, ty


def _is_background(shape, se) -> bool:
    return isinstance(shape, se.Rect) and _own(shape, "id") == BACKGROUND_ID


def _background_color(shape) -> tuple[float, float, float] | None:
    paint = _paint(shape.values.get("fill"), "1", 1.0)
    return None if paint is None else paint[:3]


def _paint(value: str | None, opacity: str | None, factor: float) -> RGBA | None:
    """RGBA of a flat paint value, alpha times its ``*-opacity`` and `factor`; None for no paint
    (a ``url(#id)`` paint that is not a usable gradient: its fallback colour, ``url(#p) red``)."""
    import svgelements as se

    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("url("):
        text = text[text.find(")") + 1 :].strip()
    if text.lower() == "none" or not text:
        return None
    color = se.Color(text)
    if color.value is None:
        return None
    alpha = color.alpha / 255 * _unit(_number(opacity, 1.0)) * factor
    return (color.red / 255, color.green / 255, color.blue / 255, alpha)


@dataclass
class _GradientDef:
    """A ``<linearGradient>`` / ``<radialGradient>`` with what it inherits through ``href``."""

    kind: int  # LINEAR or RADIAL
    attrs: dict[str, str]  # geometry, gradientUnits, gradientTransform, spreadMethod
    stops: list[tuple[float, RGBA]]


#: Attributes a gradient inherits from the one its ``href`` names: from any gradient, and from
#: one of its own kind.
_SHARED_GRADIENT_ATTRS = ("gradientUnits", "gradientTransform", "spreadMethod")
_GEOMETRY_ATTRS = {LINEAR: ("x1", "y1", "x2", "y2"), RADIAL: ("cx", "cy", "r", "fx", "fy", "fr")}
_GRADIENT_KINDS = {"linearGradient": LINEAR, "radialGradient": RADIAL}
_SPREADS = {"pad": PAD, "reflect": REFLECT, "repeat": REPEAT}


def _gradient_defs(by_id: dict[str, ET.Element]) -> dict[str, _GradientDef]:
    """id -> every linear and radial gradient among the document's elements `by_id` that has
    stops (its own, or those of the gradient its ``href`` names, followed until one has some),
    attributes inherited the same way."""

    def chain(el: ET.Element) -> list[ET.Element]:
        seen = [el]
        while True:
            el = _linked(el, by_id)
            if el is None or _local_name(el) not in _GRADIENT_KINDS or any(el is s for s in seen):
                return seen
            seen.append(el)

    defs = {}
    for name, el in by_id.items():
        kind = _GRADIENT_KINDS.get(_local_name(el))
        if kind is None:
            continue
        links = chain(el)
        stops = next(([_stop(c) for c in link if _local_name(c) == "stop"] for link in links
                      if any(_local_name(c) == "stop" for c in link)), [])
        attrs = {}
        for link in reversed(links):  # nearer ones win
            own = _GEOMETRY_ATTRS[kind] if _GRADIENT_KINDS[_local_name(link)] == kind else ()
            attrs.update({k: link.get(k) for k in (*_SHARED_GRADIENT_ATTRS, *own) if link.get(k) is not None})
        if stops:
            defs[name] = _GradientDef(kind, attrs, stops)
    return defs


def _stop(stop: ET.Element) -> tuple[float, RGBA]:
    """(offset, straight RGBA) of a ``<stop>`` (attributes or ``style``; SVG's defaults: black,
    opaque)."""
    import svgelements as se

    values = _style_properties(stop)
    color = se.Color(values.get("stop-color", "black"))
    if color.value is None:
        color = se.Color("black")
    alpha = color.alpha / 255 * _unit(_number(values.get("stop-opacity"), 1.0))
    return _unit(_number(values.get("offset"), 0.0)), (color.red / 255, color.green / 255, color.blue / 255, alpha)


def _mean_paint(stops: list[tuple[float, RGBA]]) -> RGBA:
    """The mean RGBA of the gradient through `stops` over its parameter from 0 to 1 (padded with
    the end stops), colour and opacity interpolated linearly between stops as SVG does: alpha is
    the mean opacity and the colour the opacity-weighted mean, so the flat paint composites to
    the gradient's mean over any background (the scene's flat fallback colour)."""
    offsets = list(itertools.accumulate((offset for offset, _ in stops), max))  # SVG: never decreasing
    points = [(0.0, stops[0][1])] + list(zip(offsets, (rgba for _, rgba in stops))) + [(1.0, stops[-1][1])]
    alpha, weighted = 0.0, [0.0, 0.0, 0.0]
    for (o0, c0), (o1, c1) in itertools.pairwise(points):
        span = o1 - o0
        if span <= 0:
            continue
        a0, a1 = c0[3], c1[3]
        alpha += span * (a0 + a1) / 2
        for k in range(3):  # the integral of colour x opacity, both linear over the span
            d, e = c1[k] - c0[k], a1 - a0
            weighted[k] += span * (c0[k] * a0 + (c0[k] * e + a0 * d) / 2 + d * e / 3)
    if alpha <= 0:
        return (*stops[0][1][:3], 0.0)
    return (weighted[0] / alpha, weighted[1] / alpha, weighted[2] / alpha, alpha)


def _gradient_paint(value: str | None, factor: float, gradients: dict[str, _GradientDef], shape,
                    viewport: tuple[float, float], se) -> tuple[RGBA | None, _Gradient | None] | None:
    """The paint of a ``url(#id)`` value naming one of the `gradients` on `shape`: its flat
    colour (the gradient's mean; alphas times `factor`) and the gradient in canvas pixels, or a
    flat colour alone where SVG paints one (one stop, or a zero-length vector or radius: the last
    stop's colour) and no paint at all on an object bounding box without area (SVG's rule for a
    horizontal line, say). None when `value` names no gradient."""
    defn = _referenced(value, gradients)
    if defn is None:
        return None
    stops = [(offset, (*rgba[:3], rgba[3] * factor)) for offset, rgba in defn.stops]
    flat = _mean_paint(stops)
    if len(stops) == 1:
        return stops[-1][1], None
    placed = _gradient_frame(defn, shape, viewport, se)
    if isinstance(placed, str):
        return (stops[-1][1] if placed == "last stop" else None), None
    frame, focal, focal_radius = placed
    spread = _SPREADS.get(str(defn.attrs.get("spreadMethod", "pad")).strip(), PAD)
    return flat, _Gradient(defn.kind, frame, focal, stops, spread, focal_radius)


def _gradient_frame(defn: _GradientDef, shape, viewport: tuple[float, float], se
                    ) -> tuple[list[list[float]], Point, float] | str:
    """``(frame [2, 3], focal, focal radius)`` of `defn` on `shape` (canvas pixels to the
    gradient's frame, `vecrender.functional.paints`); ``"last stop"`` for a zero-length vector or
    radius (SVG paints the last stop's colour), ``"no paint"`` for an object bounding box without
    area or a transform that cannot be inverted. A focal point outside the circle stays there (SVG
    2, as resvg: the gradient is a cone, transparent around it; SVG 1.1 moved it onto the circle),
    and a negative ``fr`` is 0, as resvg reads it."""
    attrs = defn.attrs
    on_box = str(attrs.get("gradientUnits", "objectBoundingBox")).strip() != "userSpaceOnUse"
    sides = (*viewport, math.hypot(*viewport) / math.sqrt(2))

    def coord(name: str, default: str, axis: int) -> float:
        text = str(attrs.get(name, default)).strip()
        if on_box:  # fractions of the box; a percentage is one too
            return _number(text, _number(default, 0.0))
        value = _length(text, sides[axis])
        return value if value is not None else _length(default, sides[axis])

    if defn.kind == LINEAR:
        start, end = (coord("x1", "0%", 0), coord("y1", "0%", 1)), (coord("x2", "100%", 0), coord("y2", "0%", 1))
        if math.dist(start, end) <= 0:
            return "last stop"
        rows, focal, focal_radius = linear_frame(start, end), (0.0, 0.0), 0.0
    else:
        cx, cy, r = coord("cx", "50%", 0), coord("cy", "50%", 1), coord("r", "50%", 2)
        if not r > 0:
            return "last stop"
        rows = radial_frame((cx, cy), r)
        fx, fy = coord("fx", str(attrs.get("cx", "50%")), 0), coord("fy", str(attrs.get("cy", "50%")), 1)
        focal, focal_radius = ((fx - cx) / r, (fy - cy) / r), max(coord("fr", "0%", 2), 0.0) / r
    to_user = se.Matrix(str(attrs.get("gradientTransform", "")))  # gradient space -> user (or box) space
    if on_box:
        x0, y0, x1, y1 = shape.bbox(transformed=False) or (0.0, 0.0, 0.0, 0.0)
        if not (x1 > x0 and y1 > y0):
            return "no paint"
        to_user = to_user * se.Matrix(x1 - x0, 0, 0, y1 - y0, x0, y0)
    to_canvas = to_user * shape.transform
    if abs(to_canvas.determinant) <= 1e-12:
        return "no paint"
    m = ~to_canvas * se.Matrix(rows[0][0], rows[1][0], rows[0][1], rows[1][1], rows[0][2], rows[1][2])
    return [[m.a, m.c, m.e], [m.b, m.d, m.f]], focal, focal_radius


def _style(shape, gradients: dict[str, _GradientDef], viewport: tuple[float, float], se) -> _Style:
    values = shape.values
    paints = {}
    for role in ("fill", "stroke"):
        value, role_opacity = values.get(role), values.get(f"{role}-opacity")
        gradient = _gradient_paint(value, _unit(_number(role_opacity, 1.0)), gradients, shape, viewport, se)
        paints[role] = gradient if gradient is not None else (_paint(value, role_opacity, 1.0), None)
    (fill, fill_gradient), (stroke, stroke_gradient) = paints["fill"], paints["stroke"]
    if isinstance(shape, se.SimpleLine) or (fill is not None and fill[3] <= 0):
        fill = fill_gradient = None  # a line encloses nothing; a transparent fill draws nothing
    width = float(shape.implicit_stroke_width or 0.0) if stroke is not None else 0.0
    even_odd = str(values.get("fill-rule", "nonzero")).strip() == "evenodd"
    return _Style(fill, stroke, max(width, 0.0), even_odd, _line_style(values), (fill_gradient, stroke_gradient))


def _line_style(values: dict) -> tuple[int, int, float]:
    """(cap, join, miter limit) codes of ``stroke-linecap`` / ``-linejoin`` / ``-miterlimit``;
    unknown or invalid values give SVG's defaults (butt, miter, 4)."""
    cap = str(values.get("stroke-linecap", "butt")).strip()
    join = str(values.get("stroke-linejoin", "miter")).strip()
    join = "miter" if join in ("miter-clip", "arcs") else join  # SVG 2 values: their fallback
    limit = _number(values.get("stroke-miterlimit"), DEFAULT_MITER_LIMIT)
    return (LINE_CAPS.index(cap) if cap in LINE_CAPS else CAP_BUTT,
            LINE_JOINS.index(join) if join in LINE_JOINS else JOIN_MITER,
            limit if limit >= 1 else DEFAULT_MITER_LIMIT)


def _shape_items(shape, layers: tuple[_Layer, ...], gradients: dict[str, _GradientDef],
                 viewport: tuple[float, float], canvas: Point, se, simplified: Counter[tuple[str, str]],
                 outline_tolerance: float | None = None, markers: Sequence[_Item] = ()) -> list[_Item]:
    """The element's items (in its opacity `layers`), then its `markers`, or in the element's
    ``paint-order`` (its whole stroke below its whole fill for ``paint-order: stroke``, as
    Inkscape writes it); with an `outline_tolerance`, strokes under a non-uniform scale or a skew
    are their exact outlines (`_outlined`), filled. Dashes are kept where they reach the `canvas`
    (width, height); a stroke of more than `MAX_DASHES` is drawn solid, faded by its duty cycle,
    and counted in `simplified`."""
    style = _style(shape, gradients, viewport, se)
    items = [replace(item, layers=layers) for item in _styled_items(shape, style, se)]
    order = _paint_order(shape.values.get("paint-order"))
    if order == _PAINT_ORDER:
        return _painted(shape, items, style, canvas, se, simplified, outline_tolerance) + list(markers)
    layers = {"fill": [replace(item, width=0.0) for item in items if item.fill is not None],
              "stroke": [replace(item, fill=None) for item in items if item.width > 0]}
    return [item for layer in order for item in (markers if layer == "markers" else
                                                 _painted(shape, layers[layer], style, canvas, se, simplified,
                                                          outline_tolerance))]


#: SVG's default ``paint-order``.
_PAINT_ORDER = ("fill", "stroke", "markers")


def _paint_order(value: object) -> tuple[str, ...]:
    """The layers of ``paint-order`` (those it names first, then the others in the default order;
    ``normal`` or an unreadable value: the default)."""
    named = str(value or "normal").split()
    if not named or any(word not in _PAINT_ORDER for word in named) or len(set(named)) < len(named):
        return _PAINT_ORDER
    return (*named, *(layer for layer in _PAINT_ORDER if layer not in named))


def _painted(shape, items: list[_Item], style: _Style, canvas: Point, se, simplified: Counter[tuple[str, str]],
             outline_tolerance: float | None) -> list[_Item]:
    """`items` (of the element `shape`, drawn with `style`) with their line style, gradients and
    stroke widths under the transform, dashes and, with an `outline_tolerance`, outlines."""
    linear = _stroke_transform(shape, se)
    low, high = _stretches(linear)
    # the outline where the thickness of a mean-width stroke would be off by more than _SHAPE_ERROR
    outlined = outline_tolerance is not None and style.width * (high - low) > _SHAPE_ERROR * math.sqrt(low * high)
    for item in items:
        item.line = style.line
        item.gradients = (style.gradients[0] if item.fill is not None else None,
                          style.gradients[1] if item.width > 0 else None)
        if item.width > 0 and not _similarity(linear) and not outlined:
            item.width *= _stretch(item.points, linear)
    pattern = _dash_pattern(shape) if style.width > 0 and _inverted(linear) is not None else None
    if pattern is not None:
        # a dash's outline reaches at most this many of its widths from its centre line
        reach = _reach_factor(style.line) * (high / low if low > 0 else math.inf)
        try:
            items = _dashed(items, *pattern, linear, canvas, reach)
        except _TooManyDashes:
            note = f"over {MAX_DASHES} dashes: drawn solid, faded by the pattern's duty cycle"
            simplified[("dashed stroke", note)] += 1
            scale = _mean_scale(linear)  # the width in the pattern's units: over it
            items = [_faded(item, _duty_cycle(pattern[0], item.width / scale if item.line[0] != CAP_BUTT else 0.0))
                     if item.width > 0 else item for item in items]
    _stroke_as_one(items, style)
    if outlined:
        items = [piece for item in items for piece in (_outlined(item, linear, outline_tolerance)
                                                       if _visible_stroke(item) else [item])]
    return items


def _stroke_as_one(items: list[_Item], style: _Style) -> None:
    """An element's see-through stroke drawn as several paths (dashes, open subpaths) becomes
    opaque paths in a layer of the stroke's alpha, as a browser draws one stroke: where two pieces
    overlap (a dash's cap over the next at a corner) the alpha counts once, not twice
    (`_grouped` folds the layer back into the alphas where no pieces meet)."""
    pieces = [item for item in items if item.width > 0 and item.fill is None and item.gradients[1] is None]
    alpha = style.stroke[3] if style.stroke is not None else 1.0
    if len(pieces) < 2 or not 0 < alpha < 1:
        return
    layer = _Layer(next(_LAYER_KEYS), alpha, object())  # (its own element: no clip or mask names it)
    for item in pieces:
        item.stroke, item.layers = (*item.stroke[:3], item.stroke[3] / alpha), (*item.layers, layer)


def _stretches(linear: tuple[float, float, float, float]) -> tuple[float, float]:
    """The least and the most the linear map ``(a, b, c, d)`` stretches a direction (its
    singular values)."""
    a, b, c, d = linear
    mean = (a * a + b * b + c * c + d * d) / 2
    spread = math.hypot(a * a + b * b - c * c - d * d, 2 * (a * c + b * d)) / 2
    return math.sqrt(max(mean - spread, 0.0)), math.sqrt(mean + spread)


def _stroke_transform(shape, se) -> tuple[float, float, float, float]:
    """(a, b, c, d) of the linear map ``x' = a x + c y, y' = b x + d y`` that scales the shape's
    stroke: its transform's, or under ``vector-effect: non-scaling-stroke`` the viewport's."""
    matrix = shape.transform
    if "non-scaling-stroke" in str(shape.values.get("vector-effect", "")):
        matrix = se.Matrix(shape.values.get("viewport_transform", ""))
    return matrix.a, matrix.b, matrix.c, matrix.d


def _similarity(linear: tuple[float, float, float, float]) -> bool:
    """Whether the map scales all directions alike (rotation, reflection, uniform scale)."""
    a, b, c, d = linear
    tolerance = 1e-9 * max(map(abs, linear), default=0.0)
    rotation = abs(a - d) <= tolerance and abs(b + c) <= tolerance
    reflection = abs(a + d) <= tolerance and abs(b - c) <= tolerance
    return rotation or reflection


def _stretch(points: list[Point], linear: tuple[float, float, float, float], chords: int = 16) -> float:
    """The stroke width of the drawn (mapped) cubic chain `points` over its geometric-mean width
    ``w sqrt(|det A|)``: across a drawn direction ``u`` a stroke of width ``w`` is ``w |det A|
    |A^-1 u|`` thick, exact on straight segments; averaged by length (`chords` per cubic)."""
    a, b, c, d = linear
    total = weighted = 0.0
    for i in range(0, len(points) - 3, 3):
        samples = [point_at(points[i : i + 4], k / chords) for k in range(chords + 1)]
        for p, q in itertools.pairwise(samples):
            ux, uy = q[0] - p[0], q[1] - p[1]
            total += math.hypot(ux, uy)
            weighted += math.hypot(d * ux - c * uy, a * uy - b * ux)  # |det A| |A^-1 u| times |u|
    scale = _mean_scale(linear)
    return weighted / (total * scale) if total > 0 and scale > 0 else 1.0


def _dash_pattern(shape) -> tuple[list[float], float] | None:
    """(dash and gap lengths, offset) of ``stroke-dasharray`` and ``stroke-dashoffset`` in the
    units of the space the stroke is drawn in (`_stroke_transform`'s); None for a solid stroke
    (``none``, or a list SVG calls invalid: a negative or unreadable length, or all zero)."""
    text = str(shape.values.get("stroke-dasharray", "none")).strip()
    if text in ("none", ""):
        return None
    try:
        lengths = [float(v) for v in text.split()]  # in user units (_resolve_stroke_lengths)
    except ValueError:
        return None
    if not lengths or min(lengths) < 0 or sum(lengths) <= 0:
        return None
    if len(lengths) % 2:  # SVG: an odd list is repeated to make it even
        lengths *= 2
    return lengths, _number(shape.values.get("stroke-dashoffset"), 0.0)


def _dashed(items: list[_Item], lengths: list[float], offset: float,
            linear: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0), canvas: Point = (math.inf, math.inf),
            reach: float = math.inf) -> list[_Item]:
    """Each stroked item as the dashes of its stroke, open paths (with its caps and joins), after
    its fill (unstroked) when it has one; only the dashes that may come within `reach` stroke
    widths of the `canvas` (width, height), and `_TooManyDashes` past `MAX_DASHES` of them. The
    pattern is measured where the stroke is drawn, the space the invertible `linear` maps to the
    canvas (as SVG dashes in user space), and starts over at each subpath, as SVG's does."""
    unmap = _inverted(linear)
    out: list[_Item] = []
    dashes = 0
    for item in items:
        if item.width <= 0:
            out.append(item)
            continue
        if item.fill is not None:
            out.append(replace(item, width=0.0))
        margin = item.width * reach
        box = (-margin, -margin, canvas[0] + margin, canvas[1] + margin)
        for chain in _chains(item):
            pieces = _dash_pieces(chain, lengths, offset, item.line[0] != CAP_BUTT, item.closed, box, unmap)
            closed = pieces is None  # one dash around the whole closed subpath
            if closed:
                pieces = [chain]
            out += [replace(item, points=piece, closed=closed, fill=None, starts=(0,)) for piece in pieces]
            dashes += len(pieces)
            if dashes > MAX_DASHES:
                raise _TooManyDashes
    return out


class _TooManyDashes(Exception):
    """A stroke's pattern has more than `MAX_DASHES` dashes on the canvas."""


def _duty_cycle(lengths: list[float], caps: float) -> float:
    """The share of a stroke's length that the dash pattern `lengths` covers, its caps
    lengthening each dash by `caps` (the width, 0 for butt caps)."""
    return min(sum(length + caps for length in lengths[::2]) / sum(lengths), 1.0)


def _faded(item: _Item, factor: float, fill: bool = False) -> _Item:
    """`item` with its stroke's alpha (colour or gradient stops), and its fill's where `fill`,
    times `factor`."""
    def times(rgba):
        return rgba if rgba is None else (*rgba[:3], rgba[3] * factor)

    def stops_times(gradient: _Gradient | None) -> _Gradient | None:
        return gradient and replace(gradient, stops=[(at, times(rgba)) for at, rgba in gradient.stops])

    fill_paint, fill_gradient = (times(item.fill), stops_times(item.gradients[0])) if fill else \
        (item.fill, item.gradients[0])
    return replace(item, stroke=times(item.stroke), fill=fill_paint,
                   gradients=(fill_gradient, stops_times(item.gradients[1])))


def _chains(item: _Item) -> list[list[Point]]:
    """The control points of each subpath of `item` (a closed one ends on its first point)."""
    if len(item.starts) == 1:
        return [item.points]
    bounds = [3 * k for k in item.starts] + [len(item.points) - 1]
    return [item.points[a:b] + [item.points[a]] for a, b in itertools.pairwise(bounds)]


def _dash_pieces(chain: list[Point], lengths: list[float], offset: float, keep_dots: bool, closed: bool,
                 box: tuple[float, float, float, float] = (-math.inf, -math.inf, math.inf, math.inf),
                 measure: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0)) -> list[list[Point]] | None:
    """The pieces of the cubic chain under the dash pattern `lengths` shifted by `offset`,
    by arc length (each cubic measured on 64 chords, after the linear map `measure`), where the
    chain may meet `box` (x0, y0, x1, y1; `_runs_in_box`). Zero-length dashes are kept only where
    the caps draw them (round, square), as one-segment paths of a repeated point; a dash that
    would start at the chain's very end is not (as resvg draws them). On a `closed` chain a dash
    that runs through its start is one piece (joined there), and None means one dash covers it
    all."""
    segments = [chain[i : i + 4] for i in range(0, len(chain) - 1, 3)]
    tables = [_arc_table(_mapped(seg, measure)) for seg in segments]
    starts = list(itertools.accumulate((table[-1] for table in tables), initial=0.0))
    total, period = starts[-1], sum(lengths)
    first = -(offset % period)  # where the pattern's first dash begins
    spans: list[tuple[float, float]] = []
    done = cut = 0  # periods before the next to cut; periods cut
    for lo, hi in _runs_in_box(segments, tables, starts, box, period):
        for n in range(max(done, math.floor((lo - first) / period)), math.floor((hi - first) / period) + 1):
            cut += 1
            if cut > MAX_DASHES:  # (periods too short to tell apart in floats count too)
                raise _TooManyDashes
            position = first + n * period
            for k, length in enumerate(lengths):
                a, b = position, position + length
                position = b
                if k % 2 == 0 and a < total and (b > 0 or a == b == 0) and (b > a or keep_dots):
                    spans.append((max(a, 0.0), min(b, total)))
            done = n + 1
    pieces = [_sub_chain(segments, tables, starts, a, b) for a, b in spans]
    if closed and spans and spans[0][0] == 0 and spans[-1][1] == total and total > 0:
        if len(spans) == 1:
            return None
        pieces = [pieces[-1] + pieces[0][1:]] + pieces[1:-1]
    return pieces


def _runs_in_box(segments: list[list[Point]], tables: list[list[float]], starts: list[float],
                 box: tuple[float, float, float, float], finest: float) -> list[tuple[float, float]]:
    """Arc-length ranges that cover the chain wherever it may meet `box`: pieces of its cubics
    whose control points' bounding box meets it, halved until inside it or at most `finest` long."""
    runs: list[tuple[float, float]] = []

    def visit(k: int, t0: float, t1: float, depth: int) -> None:
        piece = sub_cubic(segments[k], t0, t1)
        xs, ys = [p[0] for p in piece], [p[1] for p in piece]
        if max(xs) < box[0] or min(xs) > box[2] or max(ys) < box[1] or min(ys) > box[3]:
            return
        inside = min(xs) >= box[0] and max(xs) <= box[2] and min(ys) >= box[1] and max(ys) <= box[3]
        if not inside and depth < 48 and sum(map(math.dist, piece, piece[1:])) > finest:
            visit(k, t0, (t0 + t1) / 2, depth + 1)
            visit(k, (t0 + t1) / 2, t1, depth + 1)
            return
        lo, hi = starts[k] + _length_at(tables[k], t0), starts[k] + _length_at(tables[k], t1)
        if runs and runs[-1][1] >= lo:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))

    for k in range(len(segments)):
        visit(k, 0.0, 1.0, 0)
    return runs


def _length_at(table: list[float], t: float) -> float:
    """Arc length at `t` along a segment (linear between the table's samples; `_parameter`'s
    inverse)."""
    x = t * (len(table) - 1)
    i = min(int(x), len(table) - 2)
    return table[i] + (x - i) * (table[i + 1] - table[i])


def _arc_table(seg: list[Point], chords: int = 64) -> list[float]:
    """Cumulative length of `seg` at ``t = i / chords``."""
    points = [point_at(seg, i / chords) for i in range(chords + 1)]
    return list(itertools.accumulate((math.dist(p, q) for p, q in itertools.pairwise(points)), initial=0.0))


def _parameter(table: list[float], length: float) -> float:
    """``t`` at arc length `length` along a segment (linear between the table's samples)."""
    i = max(min(bisect.bisect_left(table, length), len(table) - 1), 1)
    lo, hi = table[i - 1], table[i]
    within = 0.0 if hi <= lo else min(max((length - lo) / (hi - lo), 0.0), 1.0)
    return (i - 1 + within) / (len(table) - 1)


def _sub_chain(segments: list[list[Point]], tables: list[list[float]], starts: list[float],
               a: float, b: float) -> list[Point]:
    """Control points of the chain between arc lengths `a` <= `b`."""
    first = min(max(bisect.bisect_right(starts, a) - 1, 0), len(segments) - 1)
    last = min(max(bisect.bisect_left(starts, b) - 1, first), len(segments) - 1)
    out: list[Point] = []
    for k in range(first, last + 1):
        t0 = _parameter(tables[k], a - starts[k]) if k == first else 0.0
        t1 = _parameter(tables[k], b - starts[k]) if k == last else 1.0
        piece = sub_cubic(segments[k], t0, t1)
        out += piece if not out else piece[1:]
    return out


def _styled_items(shape, style: _Style, se) -> list[_Item]:
    stroke = style.stroke if style.stroke is not None else (0.0, 0.0, 0.0, 0.0)
    visible_stroke = style.stroke is not None and style.width > 0
    subpaths = _subpaths(shape, se)
    fillable = [i for i, (points, _) in enumerate(subpaths) if _encloses(points)] if style.fill else []
    if len(fillable) > 1:  # one fill for all subpaths (holes stay holes), then the other strokes
        closed = [z or _same(points[-1], points[0]) for points, z in subpaths]
        together = all(closed[i] for i in fillable)  # all closed: stroked with their fill
        chains = [_close(subpaths[i][0]) for i in fillable]
        items = [_compound(chains, style.width if together else 0.0, stroke, style.fill, style.even_odd)]
        for i, (points, _) in enumerate(subpaths):
            if visible_stroke and not (together and i in fillable):
                items.append(_Item(_close(points) if closed[i] else points, closed[i], style.width, stroke,
                                   None, style.even_odd))
        return items
    items = []
    for points, z in subpaths:
        meets = _same(points[-1], points[0])
        if not z and style.fill is not None and not _encloses(points):
            items.append(_Item(points, False, style.width, stroke, None, style.even_odd))
            continue  # a straight open subpath encloses nothing: only its stroke shows
        if z or (style.fill is not None and meets):
            items.append(_Item(_close(points), True, style.width, stroke, style.fill, style.even_odd))
        elif style.fill is not None:
            # a browser fills an open subpath as if closed by a straight line, but strokes it open
            items.append(_Item(_close(points), True, 0.0, stroke, style.fill, style.even_odd))
            if visible_stroke:
                items.append(_Item(points, False, style.width, stroke, None, style.even_odd))
        else:
            items.append(_Item(points, False, style.width, stroke, None, style.even_odd))
    return items


def _compound(chains: list[list[Point]], width: float, stroke: tuple[float, float, float, float],
              fill: tuple[float, float, float, float], even_odd: bool) -> _Item:
    """One closed item of several closed chains (subpaths)."""
    points, starts = _joined(chains)
    return _Item(points, True, width, stroke, fill, even_odd, starts)


def _joined(chains: list[list[Point]]) -> tuple[list[Point], tuple[int, ...]]:
    """Points and subpath starts of one closed item of the closed `chains`: each chain's stored
    end point, which a closed subpath ignores, is the next one's start."""
    points: list[Point] = []
    starts = []
    for chain in chains:
        starts.append(len(points) // 3)
        points += chain[:-1]
    return points + [chains[-1][-1]], tuple(starts)


#: Pixels beyond a stroke's reach that a fill's or stroke's coverage may still depend on (the
#: anti-aliasing and a second edge's reach, with a margin).
_COVERAGE_REACH = 2.0


def _separate_parts(item: _Item) -> list[_Item]:
    """A closed item of several subpaths as one item per group of subpaths whose drawn areas are
    apart (control-point boxes grown by the stroke's reach and `_COVERAGE_REACH` do not overlap,
    so no pixel sees two groups and the render is the same), in the order of their first
    subpaths: a traced image's one compound path of hundreds of shapes renders as many short
    paths, which costs far less than one long one."""
    chains = _chains(item)
    if not item.closed or len(chains) < 2:
        return [item]
    margin = item.width / 2 * _reach_factor(item.line, item.closed) + _COVERAGE_REACH
    groups = _overlapping_groups([_grown_box(chain, margin) for chain in chains])
    if len(groups) == 1:
        return [item]
    return [replace(item, **dict(zip(("points", "starts"), _joined([chains[i] for i in group]))))
            for group in groups]


def _grown_box(points: list[Point], margin: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the points' box grown by `margin` on every side."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


def _overlapping_groups(boxes: list[tuple[float, float, float, float]]) -> list[list[int]]:
    """The indices of `boxes` (x0, y0, x1, y1) grouped by chains of overlaps, each group and the
    groups in index order (a sweep along x: boxes far apart are never compared)."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    active: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: boxes[k][0]):
        x0, y0, _, y1 = boxes[i]
        active = [j for j in active if boxes[j][2] >= x0]
        for j in active:
            if boxes[j][1] <= y1 and y0 <= boxes[j][3]:
                parent[root(j)] = root(i)
        active.append(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _same(a: Point, b: Point) -> bool:
    return math.dist(a, b) <= _SAME_POINT


def _encloses(points: list[Point]) -> bool:
    """False when every control point lies on one line (the fill would be empty)."""
    x0, y0 = points[0]
    far = max(points, key=lambda p: math.hypot(p[0] - x0, p[1] - y0))
    dx, dy = far[0] - x0, far[1] - y0
    length = math.hypot(dx, dy)
    if length <= _SAME_POINT:
        return False
    return any(abs((p[0] - x0) * dy - (p[1] - y0) * dx) / length > _SAME_POINT for p in points)


def _close(points: list[Point]) -> list[Point]:
    """The chain ending on its first point: a straight segment back when the ends differ."""
    if _same(points[-1], points[0]):
        return points[:-1] + [points[0]]
    return points + line(points[-1], points[0])


def _subpaths(shape, se) -> list[tuple[list[Point], bool]]:
    """Each subpath as a cubic chain ``[p0, c1, c2, p1, ...]`` and whether it ends with Z."""
    result: list[tuple[list[Point], bool]] = []
    chain: list[Point] | None = None
    previous: tuple[str, Point] | None = None  # kind and last control point of the previous curve
    path = se.Path(shape)
    matrix, path.transform = se.Matrix(path.transform), se.Matrix()
    # Cubics are built in the shape's own coordinates and their points mapped by its transform:
    # exact for any affine map, where mapping an arc's parameters under a skew is not.
    scale = _stretches((matrix.a, matrix.b, matrix.c, matrix.d))[1]
    for seg in path:
        if isinstance(seg, se.Move):
            if chain is not None and len(chain) > 1:
                result.append((chain, False))
            chain, previous = [_xy(seg.end)], None
            continue
        if chain is None:  # drawing right after Z starts at that subpath's start
            chain = [_xy(seg.start)]
        if not _well_read(seg, se):
            break  # path data with an error is drawn up to it (SVG; resvg and browsers do)
        if isinstance(seg, se.Close):
            if len(chain) == 1 or not _same(chain[-1], chain[0]):
                chain += line(chain[-1], chain[0])  # M x y Z still draws a dot with round caps
            result.append((chain, True))
            chain, previous = None, None
            continue
        cubic, previous = _cubics(seg, chain[-1], previous, se, scale)
        chain += cubic
    if chain is not None and len(chain) > 1:
        result.append((chain, False))
    return [([_xy(matrix.point_in_matrix_space(p)) for p in points], closed) for points, closed in result]


#: The arguments of each path command: n a number, f a flag (one digit, 0 or 1).
_PATH_ARGUMENTS = {"m": "nn", "l": "nn", "h": "n", "v": "n", "c": "nnnnnn", "s": "nnnn", "q": "nnnn", "t": "nn",
                   "a": "nnnffnn", "z": ""}
_PATH_NUMBER = re.compile(_NUMBER)
_PATH_BAD_EXPONENT = re.compile(r"[eE](?![mx])")  # what the number pattern left of an "e": no digits
_PATH_SPACE = re.compile(r"[ \t\n\r\f]*")
_PATH_SEPARATOR = re.compile(r"[ \t\n\r\f]*,?[ \t\n\r\f]*")


def path_data_prefix(d: str) -> str:
    """The part of path data `d` before its first error, in whole segments (SVG draws a path up to
    the error; a segment missing an argument is dropped): `d` itself when it has none."""
    start = end = at = _PATH_SPACE.match(d).end()
    while at < len(d):
        command = d[at].lower()
        if command not in _PATH_ARGUMENTS or end == start and command != "m":  # it starts with a moveto
            break
        kinds, at = _PATH_ARGUMENTS[command], at + 1
        group = _path_arguments(d, _PATH_SPACE.match(d, at).end(), kinds) if kinds else at
        if group is None:
            break
        while group is not None:  # a command repeats while whole groups of arguments follow
            end = group
            group = _path_arguments(d, _PATH_SEPARATOR.match(d, end).end(), kinds) if kinds else None
        at = (_PATH_SEPARATOR if kinds else _PATH_SPACE).match(d, end).end()  # a comma may follow a number
    return d if at >= len(d) else d[:end]


def _path_arguments(d: str, at: int, kinds: str) -> int | None:
    """Where one group of arguments of the given kinds starting at `at` ends; None where it is
    not whole."""
    for k, kind in enumerate(kinds):
        if k:
            at = _PATH_SEPARATOR.match(d, at).end()
        if kind == "f":
            if d[at : at + 1] not in ("0", "1"):
                return None
            at += 1
        else:
            number = _PATH_NUMBER.match(d, at)
            if number is None or _PATH_BAD_EXPONENT.match(d, number.end()) or math.isinf(float(number.group())):
                return None  # (an overflowing number is an error too, as in resvg)
            at = number.end()
    return at


def _well_read(seg, se) -> bool:
    """Whether every number of a path segment was read: the parser gives the segments after an
    error in the path data no end or non-finite numbers."""
    points = [seg.end] + {se.CubicBezier: lambda: [seg.control1, seg.control2],
                          se.QuadraticBezier: lambda: [seg.control]}.get(type(seg), list)()
    numbers = [c for p in points if p is not None for c in p]
    if isinstance(seg, se.Arc):
        numbers += [seg.rx or 0.0, seg.ry or 0.0, seg.sweep or 0.0]
    return None not in points and all(v is not None and math.isfinite(float(v)) for v in numbers)


def _fill_pieces(cubic: list[Point], tolerance: float) -> list[list[Point]]:
    """The cubic ``[p0, p1, p2, p3]`` cut into as few equal-``t`` pieces as keep the renderers'
    fill polygon within ``tolerance`` px of it: `SEGMENTS_PER_CURVE` chords per cubic stay within
    ``0.75 M / L^2`` px of it (``M`` the largest second difference of the control points, ``L``
    the chords), and ``k`` pieces divide ``M`` by ``k^2``. At most `_MAX_PIECES`."""
    error = 0.75 * bend(cubic) / SEGMENTS_PER_CURVE**2
    count = min(_MAX_PIECES, math.ceil(math.sqrt(error / tolerance))) if error > tolerance else 1
    pieces, rest = [], cubic
    for k in range(count, 1, -1):  # cut off 1 / k of what is left, k pieces to go
        piece, rest = split(rest, 1 / k)
        pieces.append(piece)
    return pieces + [rest]


def _subdivided(item: _Item, tolerance: float) -> _Item:
    """The closed `item` with its cubics cut by `_fill_pieces`. Each subpath's last cubic
    ends on its first point (its stored end is the next subpath's start, `_compound`)."""
    count = (len(item.points) - 1) // 3
    bounds = list(item.starts) + [count]
    points, firsts = item.points[:1], []
    for first, stop in itertools.pairwise(bounds):
        firsts.append((len(points) - 1) // 3)
        for index in range(first, stop):
            cubic = item.points[3 * index : 3 * index + 4]
            drawn = cubic[:3] + [item.points[3 * first]] if index == stop - 1 else cubic
            for piece in _fill_pieces(drawn, tolerance):
                points += piece[1:]
            points[-1] = cubic[-1]  # as stored (the closing cubic's: the next subpath's start)
    return replace(item, points=points, starts=tuple(firsts))


def _xy(point) -> Point:
    return (float(point[0]), float(point[1]))


def _cubics(seg, start: Point, previous: tuple[str, Point] | None, se,
            scale: float = 1.0) -> tuple[list[Point], tuple[str, Point] | None]:
    """Control points after `start` of the cubics that draw `seg`, and its (kind, last control);
    `scale`: the largest stretch of the transform they will be drawn under (arcs' accuracy)."""
    end = _xy(seg.end)
    if isinstance(seg, se.CubicBezier):
        c1 = _xy(seg.control1)
        if getattr(seg, "smooth", False):  # S: reflect only a previous C/S control point
            c1 = _reflect(previous[1], start) if previous and previous[0] == "C" else start
        c2 = _xy(seg.control2)
        return [c1, c2, end], ("C", c2)
    if isinstance(seg, se.QuadraticBezier):
        c = _xy(seg.control)
        if getattr(seg, "smooth", False):  # T: reflect only a previous Q/T control point
            c = _reflect(previous[1], start) if previous and previous[0] == "Q" else start
        # degree elevation: exact
        return [(start[0] + 2 * (c[0] - start[0]) / 3, start[1] + 2 * (c[1] - start[1]) / 3),
                (end[0] + 2 * (c[0] - end[0]) / 3, end[1] + 2 * (c[1] - end[1]) / 3), end], ("Q", c)
    if isinstance(seg, se.Arc):
        return _arc_cubics(seg, start, end, scale), None
    return line(start, end), None  # Line and anything else with an end point


def _reflect(point: Point, center: Point) -> Point:
    return (2 * center[0] - point[0], 2 * center[1] - point[1])


def _arc_cubics(arc, start: Point, end: Point, scale: float = 1.0) -> list[Point]:
    radius = max(float(arc.rx or 0.0), float(arc.ry or 0.0))
    if not arc.sweep or radius <= 0:
        return line(start, end)  # SVG: an arc with a zero radius is a straight line
    radius *= scale  # as drawn (0 under a transform that collapses it)
    # svgelements' cubic for an arc of angle t deviates up to ~2e-3 * r * (t / (pi/2))^6 (measured)
    max_angle = (math.pi / 2) * min(1.0, (_ARC_TOLERANCE / (2e-3 * radius)) ** (1 / 6) if radius > 0 else 1.0)
    count = min(_MAX_ARC_CUBICS, max(1, math.ceil(abs(float(arc.sweep)) / max_angle)))
    out: list[Point] = []
    for cubic in arc.as_cubic_curves(count):
        out += [_xy(cubic.control1), _xy(cubic.control2), _xy(cubic.end)]
    out[-1] = end
    return out


def _grouped(items: list[_Item], masks: dict[int, _Mask] | None = None
             ) -> tuple[list[_Item], tuple[tuple[int, int, float, int, bool], ...]]:
    """The items with the opacity of each of their layers folded into their alphas where that is
    exact (no item both fills and strokes, and no two items' drawn areas meet: control-point
    boxes grown by the stroke's reach and `_COVERAGE_REACH`, as `_separate_parts` tells them
    apart; a filled icon shape, say), and the other layers as scene groups (first, end, opacity,
    mask paths, luminance), composited as SVG does; a layer whose element is in `masks` (`_Clips.masks`,
    its items ready for the scene) is a group whose mask's items, grouped alike, come first. Items
    of a layer with opacity 0 draw nothing and are left out."""
    masks = masks or {}
    members: dict[int, list[int]] = {}  # layer key -> its items, in order
    layers: dict[int, _Layer] = {}
    for i, item in enumerate(items):
        for layer in item.layers:
            members.setdefault(layer.key, []).append(i)
            layers[layer.key] = layer
    drawn_box = functools.cache(lambda i: _drawn_box(items[i]))  # an item in nested layers is asked once per layer
    kept = {key for key, indices in members.items()
            if layers[key].opacity > 0 and indices[-1] - indices[0] == len(indices) - 1  # (they follow in order)
            and (id(layers[key].element) in masks or layers[key].opacity < 1 and (
                any(items[i].fill is not None and _visible_stroke(items[i]) for i in indices)
                or len(_overlapping_groups([drawn_box(i) for i in indices])) < len(indices)))}
    out: list[_Item] = []
    groups = []
    starts: dict[int, int] = {}  # kept layer key -> its first item in out (its mask's, if any)
    ends: dict[int, int] = {}
    mask_sizes: dict[int, int] = {}
    for i, item in enumerate(items):
        if any(layer.opacity <= 0 for layer in item.layers):
            continue
        for layer in item.layers:
            if layer.key in kept and layer.key not in starts:
                starts[layer.key] = len(out)
                mask = masks.get(id(layer.element))
                mask, inner = _grouped(mask.items, masks) if mask is not None else ([], ())
                groups += [(first + len(out), end + len(out), *rest) for first, end, *rest in inner]
                out += mask
                mask_sizes[layer.key] = len(mask)
        factor = math.prod(layer.opacity for layer in item.layers if layer.key not in kept)
        out.append(replace(_faded(item, factor, fill=True) if factor < 1 else item, layers=()))
        for layer in item.layers:
            ends[layer.key] = len(out)
    for key, first in starts.items():
        luminance = id(layers[key].element) in masks and masks[id(layers[key].element)].luminance
        groups.append((first, ends[key], layers[key].opacity, mask_sizes[key], luminance))
    return out, tuple(groups)


def _drawn_box(item: _Item) -> tuple[float, float, float, float]:
    """A box that holds every pixel whose colour the item changes."""
    return _grown_box(item.points, _stroke_reach(item) + _COVERAGE_REACH)


def _build_scene(items: list[_Item], groups: tuple[tuple[int, int, float, int, bool], ...], width: int, height: int,
                 background: tuple[float, float, float] | None, device: torch.device | str) -> VectorScene:
    n = len(items)
    max_points = max((len(item.points) for item in items), default=4)
    points = torch.zeros(n, max_points, 2, dtype=torch.float64)
    for i, item in enumerate(items):
        chain = item.points + [item.points[-1]] * (max_points - len(item.points))  # pad: repeat the end
        points[i] = torch.tensor(chain, dtype=torch.float64)
    any_fill = any(item.fill is not None for item in items)
    no_fill = (0.0, 0.0, 0.0, 0.0)
    subpath_starts = None
    if any(len(item.starts) > 1 for item in items):
        subpath_starts = torch.zeros(n, (max_points - 1) // 3, dtype=torch.bool)
        for i, item in enumerate(items):
            subpath_starts[i, list(item.starts)] = True
    return VectorScene(
        points=points.float().to(device),
        widths=_tensor([item.width for item in items], (n,), device),
        stroke_colors=_tensor([item.stroke for item in items], (n, 4), device),
        fill_colors=_tensor([item.fill or no_fill for item in items], (n, 4), device) if any_fill else None,
        closed=torch.tensor([item.closed for item in items], dtype=torch.bool, device=device).reshape(n),
        num_segments=torch.tensor([(len(item.points) - 1) // 3 for item in items], dtype=torch.long,
                                  device=device).reshape(n),
        even_odd=torch.tensor([item.even_odd for item in items], dtype=torch.bool, device=device).reshape(n),
        width=width,
        height=height,
        background=background,
        subpath_starts=None if subpath_starts is None else subpath_starts.to(device),
        **_line_fields(items, device),
        **_gradient_fields(items, device),
        groups=groups,
    )


def _gradient_fields(items: list[_Item], device: torch.device | str) -> dict[str, Tensor]:
    """The scene's gradient paints (`vecrender.scene.gradient_fields`); none when every paint
    is flat."""
    paints = [(item.gradients[0] if item.fill is not None else None, item.gradients[1] if item.width > 0 else None)
              for item in items]
    used = [g for pair in paints for g in pair if g is not None]
    if not used:
        return {}
    fields = gradient_fields(len(items), max(len(g.stops) for g in used))
    for n, pair in enumerate(paints):
        for role, g in enumerate(pair):
            if g is None:
                continue
            stops = [[offset, *rgba] for offset, rgba in g.stops]
            stops += [stops[-1]] * (fields["gradient_stops"].shape[2] - len(stops))  # the last one repeated
            fields["gradient_kinds"][n, role] = g.kind
            fields["gradient_frames"][n, role] = torch.tensor(g.frame)
            fields["gradient_focals"][n, role] = torch.tensor(g.focal)
            fields["gradient_focal_radii"][n, role] = g.focal_radius
            fields["gradient_stops"][n, role] = torch.tensor(stops)
            fields["gradient_spreads"][n, role] = g.spread
    return {name: t.to(device) for name, t in fields.items()}


def _line_fields(items: list[_Item], device: torch.device | str) -> dict[str, Tensor]:
    """The scene's caps, joins and miter limits; none when every stroke is round (the default)."""
    if all(item.line[0] == CAP_ROUND and item.line[1] == JOIN_ROUND for item in items):
        return {}
    caps, joins, limits = zip(*(item.line for item in items))
    return {"line_caps": torch.tensor(caps, dtype=torch.long, device=device),
            "line_joins": torch.tensor(joins, dtype=torch.long, device=device),
            "miter_limits": _tensor(list(limits), (len(items),), device)}


def _tensor(rows: list, shape: tuple[int, ...], device: torch.device | str) -> Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(shape).to(device)
