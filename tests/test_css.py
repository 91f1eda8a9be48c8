"""The CSS of SVG style sheets: parsing, selector matching and the cascade (vecrender.css)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vecrender.css import cascade, parse_declarations, parse_selector, parse_stylesheet


@pytest.mark.parametrize("selector, specificity", [
    ("rect", (0, 0, 1)), ("*", (0, 0, 0)), (".a.c", (0, 2, 0)), ("#b", (1, 0, 0)), ("rect.k#i", (1, 1, 1)),
    ("g .d", (0, 1, 1)), ("g > rect + circle", (0, 0, 3)), ('rect[data-x="1"]', (0, 1, 1)),
    ("rect:first-child", (0, 1, 1)), ("a ~ b", (0, 0, 2)),
])
def test_selectors_and_their_specificity(selector, specificity):
    parsed = parse_selector(selector)
    assert parsed is not None and parsed[1] == specificity


@pytest.mark.parametrize("selector", ["", "a:hover", "p::before", ".a >", "> a", "rect.a:not(.b)", "svg|rect",
                                      ".a rect#", "a..b"])
def test_unsupported_or_broken_selectors_match_nothing(selector):
    assert parse_selector(selector) is None


def test_declarations_and_important():
    assert parse_declarations(" fill: red ;stroke:url(#g) !IMPORTANT; bad; :x; opacity:") == (
        ("fill", "red", False), ("stroke", "url(#g)", True))


def test_stylesheets_skip_comments_and_at_rules_with_their_blocks():
    rules = parse_stylesheet("/* .x{fill:red} */ @import url(a.css); @charset 'utf-8';"
                             "@media screen { .a { fill: blue } @supports (x) { .b { fill: red } } } "
                             ".c, #d { fill: green } .e { }", first_order=5)
    assert [(r.selector[0][0].classes or r.selector[0][0].ids, r.order) for r in rules] == [(("c",), 5), (("d",), 6)]
    assert rules[0].declarations == (("fill", "green", False),)


def styles(markup: str, sheet: str) -> dict[str, dict[str, str]]:
    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{markup}</svg>')
    return {el.get("id"): style for el, style in cascade(root, parse_stylesheet(sheet)).items()}


def test_cascade_orders_by_importance_then_specificity_then_source_order():
    sheet = ("#b { fill: blue } .a { fill: red; stroke: red } .a.c { stroke: green } rect { stroke: black; "
             "opacity: 0.5 !important } .c { opacity: 0.2 } .late { fill: gray } .late { fill: white }")
    got = styles('<rect id="b" class="a c" style="stroke: pink; opacity: 1"/><rect id="x" class="late"/>', sheet)
    # the id beats the class whatever their order; the inline style beats normal rules, not !important
    assert got["b"] == {"fill": "blue", "stroke": "pink", "opacity": "0.5"}
    assert got["x"] == {"fill": "white", "stroke": "black", "opacity": "0.5"}


def test_combinators_attributes_and_first_child():
    sheet = ("g .d { fill: blue } g > rect { stroke: red } rect + circle { fill: lime } rect ~ ellipse { fill: teal } "
             "[data-x|=en] { opacity: 0.3 } rect:first-child { stroke-width: 4 }")
    got = styles('<g><rect id="r1" class="d"/><circle id="c1"/><ellipse id="e1"/><g><circle id="c2" class="d"/>'
                 '</g></g><rect id="r2" data-x="en-GB"/><circle id="c3"/>', sheet)
    assert got["r1"] == {"fill": "blue", "stroke": "red", "stroke-width": "4"}
    assert got["c1"] == {"fill": "lime"} and got["e1"] == {"fill": "teal"}
    assert got["c2"] == {"fill": "blue"}
    assert got["r2"] == {"opacity": "0.3"}  # not a first child: the <g> is
    assert got["c3"] == {"fill": "lime"}


def test_elements_no_rule_matches_are_left_alone():
    assert styles('<rect id="a" style="fill: red"/>', ".b { fill: blue }") == {}
