"""The CSS of SVG ``<style>`` sheets: rules, selector matching and the cascade, on ElementTree.

What SVG files from drawing tools use, and resvg draws:

* selectors: type, ``*``, ``#id``, ``.class``, attribute (``[a]``, ``[a=v]``, ``~=``, ``|=``,
  ``^=``, ``$=``, ``*=``), ``:first-child``, compounds of these (``rect.a#b``), the descendant,
  child (``>``), next-sibling (``+``) and subsequent-sibling (``~``) combinators, and selector
  lists (``a, b``). A selector with anything else (another pseudo-class, a pseudo-element) matches
  nothing, so its rule is dropped, not misapplied;
* the cascade: ``!important`` declarations over the element's ``style`` attribute, over the other
  declarations by specificity (ids, classes/attributes/pseudo-classes, types), then source order;
* at-rules (``@media``, ``@import``, ``@font-face``...) are skipped whole, with their blocks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

Specificity = tuple[int, int, int]


@dataclass(frozen=True)
class Compound:
    """One compound selector: ``tag`` ('' for any) and its id, class, attribute and pseudo-class tests."""

    tag: str
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str, str], ...] = ()  # (name, operator or '', value)
    first_child: bool = False


@dataclass(frozen=True)
class Rule:
    """A selector (compounds from the subject back, each with the combinator to the next one
    left of it) and its declarations; ``order`` is the rule's place in the sheets."""

    selector: tuple[tuple[Compound, str], ...]
    specificity: Specificity
    declarations: tuple[tuple[str, str, bool], ...]  # (property, value, important)
    order: int


_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_SIMPLE = re.compile(r"""(\*|[\w-]+)|\#([\w-]+)|\.([\w-]+)|:([\w-]+)(\()?|::"""
                     r"""|\[\s*([\w:-]+)\s*(?:([~|^$*]?=)\s*("[^"]*"|'[^']*'|[^\]\s]+)\s*)?\]|(\s*[>+~]\s*|\s+)""")


def parse_stylesheet(text: str, first_order: int = 0) -> list[Rule]:
    """The rules of a style sheet (numbered from `first_order`), at-rules and their blocks left out."""
    text = _COMMENT.sub("", text)
    rules: list[Rule] = []
    position = 0
    while (brace := text.find("{", position)) >= 0:
        prelude = text[position:brace].strip()
        if prelude.startswith("@") and ";" in prelude:  # a statement at-rule (@import ...;) first
            position += text[position:].index(";") + 1
            continue
        end = _block_end(text, brace)
        if not prelude.startswith("@"):
            declarations = parse_declarations(text[brace + 1 : end - 1])
            for selector in prelude.split(","):
                parsed = parse_selector(selector)
                if parsed is not None and declarations:
                    rules.append(Rule(*parsed, declarations, first_order + len(rules)))
        position = end
    return rules


def _block_end(text: str, brace: int) -> int:
    """The position just after the ``}`` that closes the block opened at `brace` (nested blocks
    included), or the end of the text."""
    depth = 0
    for index in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    return len(text)


def parse_declarations(text: str) -> tuple[tuple[str, str, bool], ...]:
    """``fill: red; stroke: blue !important`` -> ``(("fill", "red", False), ("stroke", "blue", True))``."""
    out = []
    for declaration in text.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        important = re.search(r"\s*!\s*important\s*$", value, re.IGNORECASE)
        if important:
            value = value[: important.start()]
        if colon and name and value:
            out.append((name, value, important is not None))
    return tuple(out)


def parse_selector(text: str) -> tuple[tuple[tuple[Compound, str], ...], Specificity] | None:
    """A complex selector as compounds from the subject back, each with the combinator that joins
    it to the compound on its left (' ', '>', '+', '~'; '' for the leftmost), and its specificity;
    None for an empty or unsupported selector."""
    text = text.strip()
    parts: list[tuple[Compound, str]] = []
    compound: dict = {}
    combinator = ""
    ids = classes = types = 0
    position = 0
    while position < len(text):
        match = _SIMPLE.match(text, position)
        if match is None:
            return None
        position = match.end()
        tag, id_, cls, pseudo, call, attribute, operator, value, joint = match.groups()
        if joint is not None:
            if not compound:
                return None
            parts.append((_compound(compound), combinator))
            compound, combinator = {}, joint.strip() or " "
        elif match.group(0) == "::" or call or (pseudo and pseudo != "first-child"):
            return None
        elif tag is not None:
            if compound:
                return None  # a type comes first in its compound
            compound["tag"] = "" if tag == "*" else tag
            types += tag != "*"
        elif id_:
            compound.setdefault("ids", []).append(id_)
            ids += 1
        elif cls:
            compound.setdefault("classes", []).append(cls)
            classes += 1
        elif pseudo:
            compound["first_child"] = True
            classes += 1
        else:
            value = value or ""
            value = value[1:-1] if value[:1] in ("'", '"') else value
            compound.setdefault("attributes", []).append((attribute, operator or "", value))
            classes += 1
    if not compound:
        return None
    parts.append((_compound(compound), combinator))
    return tuple(reversed(parts)), (ids, classes, types)


def _compound(parts: dict) -> Compound:
    return Compound(parts.get("tag", ""), tuple(parts.get("ids", ())), tuple(parts.get("classes", ())),
                    tuple(parts.get("attributes", ())), parts.get("first_child", False))


def _local(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


class Matcher:
    """Selector matching on one ElementTree document."""

    def __init__(self, root: ET.Element) -> None:
        self.parents = {child: parent for parent in root.iter() for child in parent}

    def matches(self, el: ET.Element, selector: tuple[tuple[Compound, str], ...]) -> bool:
        (subject, combinator), rest = selector[0], selector[1:]
        if not self._compound(el, subject):
            return False
        if not rest:
            return True
        candidates = {" ": self._ancestors, ">": self._parent, "+": self._previous, "~": self._previous_all}
        return any(self.matches(other, rest) for other in candidates[combinator](el))

    def _compound(self, el: ET.Element, c: Compound) -> bool:
        if not isinstance(el.tag, str) or (c.tag and _local(el) != c.tag):
            return False
        if any(el.get("id") != id_ for id_ in c.ids):
            return False
        names = el.get("class", "").split()
        if any(name not in names for name in c.classes):
            return False
        if c.first_child and self._previous(el):
            return False
        return all(_attribute_matches(el, *test) for test in c.attributes)

    def _ancestors(self, el: ET.Element) -> list[ET.Element]:
        out = []
        while el in self.parents:
            el = self.parents[el]
            out.append(el)
        return out

    def _parent(self, el: ET.Element) -> list[ET.Element]:
        return [self.parents[el]] if el in self.parents else []

    def _siblings_before(self, el: ET.Element) -> list[ET.Element]:
        parent = self.parents.get(el)
        if parent is None:
            return []
        siblings = [child for child in parent if isinstance(child.tag, str)]
        return siblings[: siblings.index(el)]

    def _previous(self, el: ET.Element) -> list[ET.Element]:
        return self._siblings_before(el)[-1:]

    def _previous_all(self, el: ET.Element) -> list[ET.Element]:
        return self._siblings_before(el)


def _attribute_matches(el: ET.Element, name: str, operator: str, value: str) -> bool:
    given = next((v for k, v in el.attrib.items() if k.rsplit("}", 1)[-1] == name.split(":")[-1]), None)
    if given is None:
        return False
    tests = {"": lambda: True, "=": lambda: given == value, "~=": lambda: value in given.split(),
             "|=": lambda: given == value or given.startswith(value + "-"),
             "^=": lambda: bool(value) and given.startswith(value), "$=": lambda: bool(value) and given.endswith(value),
             "*=": lambda: bool(value) and value in given}
    return tests[operator]()


def cascade(root: ET.Element, rules: list[Rule]) -> dict[ET.Element, dict[str, str]]:
    """Each element's declarations from `rules` and its own ``style`` attribute, as its ``style``
    should read for the cascade to hold without the sheets (elements no rule matches: absent)."""
    if not rules:
        return {}
    matcher = Matcher(root)
    ranked = sorted(rules, key=lambda r: (r.specificity, r.order))
    out = {}
    for el in root.iter():
        matched = [rule for rule in ranked if matcher.matches(el, rule.selector)]
        if not matched:
            continue
        normal = {name: value for rule in matched for name, value, important in rule.declarations if not important}
        important = {name: value for rule in matched for name, value, important in rule.declarations if important}
        inline = parse_declarations(el.get("style", ""))
        style = {**normal, **{name: value for name, value, _ in inline}, **important}
        style.update({name: value for name, value, flag in inline if flag})  # inline !important wins all
        out[el] = style
    return out
