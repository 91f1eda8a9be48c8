"""Recipes: YAML -> one validated, fully merged dict; ``extends``; ``--set`` overrides; resolved dump.

A recipe is loaded from a method name or a YAML file with ``yaml.safe_load`` (no Python tags).
``extends`` names a method or another YAML file (relative to the extending file) and is merged first:

* mappings merge recursively, the child wins;
* a component mapping whose ``use`` differs from the parent's replaces it entirely;
* ``losses`` merge by ``label`` (default: the ``use`` value, unique within a file): the same label
  updates the parent's entry, a new label is appended, ``{label: x, remove: true}`` removes it;
* every other value (lists included, e.g. ``preprocess``) replaces the parent's.

``--set a.b=value`` overrides are applied last (values parsed with ``yaml.safe_load``; losses are
addressed by label: ``losses.semantic.weight=0``; ``losses.new.use=l1`` appends a loss).

Every error names the offending key and where it was set: a file, ``method 'name'`` or ``--set``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from vecrender.config import build_config, coerce, config_to_dict
from vecrender.errors import ConfigError, UnknownComponentError, VecrenderWarning, did_you_mean

if TYPE_CHECKING:
    from vecrender.components import Loss, Optimizer, Preprocessor, Renderer, Initializer, RunContext
    from vecrender.registry import Registry

#: Defaults of the top-level keys (a missing key takes its default).
DEFAULTS: dict[str, Any] = {
    "canvas": {"width": 224, "height": 224},
    "steps": 500,
    "seed": 0,
    "seeds": 1,
    "strokes": 16,
    "stages": None,
    "eval_every": 10,
    "result": "best",
    "early_stop": False,
    "log_every": 10,
    "save_every": 100,
    "device": "auto",
    "prompt": None,
    "video": False,
    "video_every": 5,
    "preprocess": [],
    "renderer": {"use": "native"},
    "initializer": {"use": "random"},
    "losses": [],
    "optimizer": {"use": "adam"},
}
#: Every valid top-level key, in the order the resolved recipe writes them.
KEYS = ("extends", "description", "method", "canvas", "steps", "seed", "seeds", "strokes", "stages",
        "eval_every", "result", "early_stop", "log_every", "save_every", "device", "prompt", "video", "video_every",
        "preprocess", "renderer", "initializer", "losses", "optimizer", "plugins")
COMPONENTS = {"renderer": "renderer", "initializer": "initializer", "optimizer": "optimizer"}
#: Keys of a loss entry handled by the runner; every other key is an option of the loss's Config.
LOSS_KEYS = ("use", "weight", "label", "start", "stop", "remove")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
#: Largest sketch seed (numpy's generators take 32-bit seeds).
MAX_SEED = 2**32 - 1
#: The seeds of one stroke count's sketches are seed, seed + SEED_STEP, ... (the CLIPasso driver's
#: 0, 1000, 2000).
SEED_STEP = 1000
_INT_KEYS = {"steps": 1, "seed": None, "seeds": 1, "eval_every": 1, "log_every": 1,
             "save_every": 0, "video_every": 1}
#: The ``canvas`` value that gives the canvas the preprocessed input image's size.
CANVAS_FROM_INPUT = "input"
#: What a sketch's result is: its best state by the evaluation loss, or its final state.
RESULTS = ("best", "final")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
SET = "--set"


class Override(NamedTuple):
    """One ``KEY=VALUE`` override and the option that gave it: ``--set``, or a shortcut flag such as
    ``--seed`` (errors name what the user typed)."""

    text: str
    origin: str = SET


# -- the recipe -----------------------------------------------------------------------------------
@dataclass
class Recipe:
    """A merged, validated recipe: ``data`` holds every top-level key (defaults filled in).

    ``source`` is what it was loaded from; ``origins`` maps a top-level key (``losses[label]`` for
    a loss) to where it was last set (file, ``method 'x'``, ``--set`` or ``defaults``).
    """

    data: dict[str, Any]
    source: str
    origins: dict[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """Where `key` was set, for error messages (the recipe itself where it was left out)."""
        origin = self.origins.get(key, self.source)
        return self.source if origin == "defaults" else origin

    @property
    def method(self) -> str | None:
        return self.data.get("method")

    @property
    def canvas_from_input(self) -> bool:
        """``canvas: input``: the canvas takes the preprocessed input image's size."""
        return self.data["canvas"] == CANVAS_FROM_INPUT

    @property
    def width(self) -> int | None:
        """The canvas width in pixels; None for ``canvas: input`` (known once the image is read)."""
        return None if self.canvas_from_input else self.data["canvas"]["width"]

    @property
    def height(self) -> int | None:
        """The canvas height in pixels; None for ``canvas: input``."""
        return None if self.canvas_from_input else self.data["canvas"]["height"]

    @property
    def steps(self) -> int:
        return self.data["steps"]

    @property
    def seed(self) -> int:
        return self.data["seed"]

    @property
    def seeds(self) -> int:
        return self.data["seeds"]

    @property
    def strokes(self) -> list[int]:
        value = self.data["strokes"]
        return [value] if isinstance(value, int) else list(value)

    @property
    def stages(self) -> list[int] | None:
        """Paths added per stage (layer-wise addition), or None for a single-stage run."""
        value = self.data.get("stages")
        return None if value is None else list(value)

    @property
    def total_steps(self) -> int:
        """Steps of the whole run: ``steps`` per stage times the number of stages."""
        return total_steps(self.data)

    @property
    def device(self) -> str:
        return self.data["device"]

    @property
    def prompt(self) -> str | None:
        return self.data["prompt"]

    @property
    def losses(self) -> list[dict[str, Any]]:
        return self.data["losses"]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


# -- loading --------------------------------------------------------------------------------------
def load_recipe(source: str | Path, overrides: Sequence[str | Override] = (),
                registry: Registry | None = None) -> Recipe:
    """Load a method (by name) or a YAML file, merge its ``extends`` chain, apply ``--set`` overrides
    (plain ``KEY=VALUE`` text, or an `Override` naming the flag that gave it).

    Raises ConfigError (UnknownComponentError for unknown methods/components) with the offending key
    and the file (or ``--set``) in the message.
    """
    if registry is None:
        from vecrender.plugins import get_registry

        registry = get_registry()
    try:
        data, origins, label = _Loader(registry).load_source(source)
        for override in overrides:
            apply_override(data, origins, override, registry)
        data = validate(data, origins)
        _check_components(data, origins, registry)
    except RecursionError:
        raise ConfigError(f"{source}: the recipe nests too deeply (an extends chain or a value hundreds of "
                          f"levels deep); merge some of its files, or flatten the value.") from None
    return Recipe(data, label, origins)


class _Loader:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.stack: list[str] = []

    def load_source(self, source: str | Path, base: Path | None = None) -> tuple[dict, dict, str]:
        text = str(source)
        path = Path(text) if base is None or Path(text).is_absolute() else base / text
        looks_like_file = path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text
        # a bare method name is the method even beside a file of that name (./name is the file)
        is_method = self._is_method(text)
        if isinstance(source, Path) or (path.is_file() and (looks_like_file or not is_method)) or \
                (looks_like_file and not is_method):
            return self.load_file(path)
        return self.load_method(text, base)

    def _is_method(self, name: str) -> bool:
        return name in self.registry.names("method")

    def load_file(self, path: Path) -> tuple[dict, dict, str]:
        origin = str(path)
        if not path.is_file():
            what = "is a directory, not a recipe file" if path.is_dir() else "does not exist"
            raise ConfigError(f"recipe file {origin} {what}.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"recipe file {origin} cannot be read: {exc}.") from None
        raw = parse_yaml(text, origin)
        return self._layer(raw, origin, path.resolve(), path.parent, method=None)

    def load_method(self, name: str, base: Path | None) -> tuple[dict, dict, str]:
        try:
            entry = self.registry.entry("method", name)
        except UnknownComponentError as exc:
            hint = "" if base is None else " (or a YAML file path relative to the recipe)"
            raise UnknownComponentError(
                f"{exc} {name!r} is neither a method nor an existing recipe file{hint}."
            ) from None
        method = entry.obj
        # a mistake in a plugin's recipe is reported to its author: name the plugin
        origin = f"method {name!r}" if entry.distribution == "vecrender" else \
            f"method {name!r} of plugin {entry.plugin!r}"
        recipe = method.recipe
        if isinstance(recipe, dict):
            raw, parent_dir = copy.deepcopy(recipe), None
        else:
            raw = parse_yaml(method.recipe_text(), f"{origin} ({recipe})")
            parent_dir = recipe.parent if isinstance(recipe, Path) else None
        return self._layer(raw, origin, f"method:{name}", parent_dir, method=name)

    def _layer(self, raw: Any, origin: str, identity: Any, base: Path | None,
               method: str | None) -> tuple[dict, dict, str]:
        if not isinstance(raw, dict):
            got = "an empty file" if raw is None else type(raw).__name__
            raise ConfigError(
                f"{origin}: a recipe must be a mapping of keys (steps, losses, ...), got {got}."
            )
        if identity in self.stack:
            chain = " -> ".join(map(str, self.stack[self.stack.index(identity):] + [identity]))
            raise ConfigError(f"{origin}: extends cycle: {chain}.")
        _check_keys(raw, origin)
        raw = dict(raw)
        raw["losses"] = _loss_list(raw["losses"], origin) if "losses" in raw else None
        if raw["losses"] is None:
            del raw["losses"]
        self.stack.append(identity)
        try:
            if "extends" in raw:
                parent_ref = raw.pop("extends")
                if not isinstance(parent_ref, str) or not parent_ref:
                    raise ConfigError(f"{origin}: extends: expected a method name or a file path, "
                                      f"got {parent_ref!r}.")
                try:
                    data, origins, _ = self.load_source(parent_ref, base)
                except UnknownComponentError as exc:  # name the file that asked for it
                    raise UnknownComponentError(f"{origin}: extends: {exc}") from None
            else:
                data, origins = {}, {}
            if data.get("method") and raw.get("method", data["method"]) != data["method"]:
                raise ConfigError(f"{origin}: method: {raw['method']!r}, but the recipe extends method "
                                  f"{data['method']!r}; drop `method:` (it records the method a run came from).")
            _merge_layer(data, origins, raw, origin)
        finally:
            self.stack.pop()
        if method is not None:
            data["method"] = method
        return data, origins, origin


class _RecipeLoader(yaml.SafeLoader):
    """yaml's safe loader (no Python tags), refusing a key given twice in one mapping, of which
    yaml would keep the last without a word (keys merged in with ``<<`` may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (first at line {first_line[key] + 1})",
                    key_node.start_mark)
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _base_60_as_text(constructor: Callable[[yaml.SafeLoader, yaml.ScalarNode], Any]) -> Callable[..., Any]:
    """YAML 1.1 reads ``2:00`` as the number 120 (base 60): a recipe keeps it as the text written."""
    def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        return loader.construct_scalar(node) if ":" in node.value else constructor(loader, node)

    return construct


_RecipeLoader.add_constructor("tag:yaml.org,2002:int", _base_60_as_text(yaml.SafeLoader.construct_yaml_int))
_RecipeLoader.add_constructor("tag:yaml.org,2002:float", _base_60_as_text(yaml.SafeLoader.construct_yaml_float))


def safe_load(text: str) -> Any:
    """Parse YAML like ``yaml.safe_load`` (no Python tags), refusing duplicate keys and keeping
    base-60 numbers (``2:00``) as text. YAML 1.1 reads ``1e-3`` as a string; float options accept
    such strings (see `vecrender.config.coerce`)."""
    return yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader: no Python tags


def parse_yaml(text: str, origin: str) -> Any:
    """Safe YAML parsing with an error naming the file and line."""
    try:
        return safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{origin}: YAML syntax error{line}: {problem}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: YAML syntax error: {exc}.") from None


def _check_keys(raw: dict, origin: str) -> None:
    for key in raw:
        if key not in KEYS:
            raise ConfigError(
                f"{origin}: unknown top-level key {key!r}{did_you_mean(str(key), KEYS)}. "
                f"Valid keys: {', '.join(KEYS)}."
            )


def _loss_list(value: Any, origin: str) -> list[dict]:
    """Loss entries with their label filled in; labels must be unique within one file."""
    if not isinstance(value, list):
        raise ConfigError(f"{origin}: losses: expected a list of {{use: <loss>, ...}} mappings, "
                          f"got {value!r} ({type(value).__name__}).")
    out, seen = [], set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(f"{origin}: losses[{i}]: expected a mapping like {{use: l2, weight: 1.0}}, "
                              f"got {entry!r}.")
        label = entry.get("label", entry.get("use"))
        if "label" in entry and (not isinstance(label, str) or not label):
            raise ConfigError(f"{origin}: losses[{i}]: label must be a non-empty text (quote a number: "
                              f"label: '5'), got {label!r}.")
        if not isinstance(label, str) or not label:
            raise ConfigError(f"{origin}: losses[{i}]: needs 'use: <loss name>' (and optionally a "
                              f"'label'), got {entry!r}.")
        if label in seen:
            raise ConfigError(f"{origin}: losses[{i}]: label {label!r} is used twice; give one of "
                              f"them a different 'label:'.")
        seen.add(label)
        out.append({**entry, "label": label})
    return out


# -- merging --------------------------------------------------------------------------------------
def merge(parent: Any, child: Any) -> Any:
    """Child over parent: mappings merge recursively unless a component's ``use`` changes."""
    if not (isinstance(parent, dict) and isinstance(child, dict)):
        return copy.deepcopy(child)
    if "use" in child and child["use"] != parent.get("use"):
        return copy.deepcopy(child)
    out = copy.deepcopy(parent)
    for key, value in child.items():
        out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
    return out


def merge_losses(parent: list[dict], child: list[dict], origin: str,
                 origins: dict[str, str] | None = None) -> list[dict]:
    """Merge loss lists by label (same label updates, new appends, ``remove: true`` removes)."""
    out = [copy.deepcopy(e) for e in parent]
    for entry in child:
        label = entry["label"]
        index = next((i for i, e in enumerate(out) if e["label"] == label), None)
        if entry.get("remove") is True:
            if index is None:
                raise ConfigError(_no_label(origin, label, out, "to remove"))
            del out[index]
        elif index is None:
            if "use" not in entry:
                raise ConfigError(_no_label(origin, label, out, "to update; a new loss needs 'use:'"))
            out.append(copy.deepcopy(entry))
        else:
            out[index] = merge(out[index], entry)
        if origins is not None:
            origins[_lkey(label)] = origin
    return out


def _lkey(label: str) -> str:
    """The origins key of a loss."""
    return f"losses[{label}]"


def _no_label(origin: str, label: str, losses: list[dict], what: str) -> str:
    labels = [e["label"] for e in losses]
    return (f"{origin}: losses: no loss labelled {label!r} {what}{did_you_mean(label, labels)}. "
            f"Labels: {', '.join(labels) or 'none'}.")


def _merge_layer(data: dict, origins: dict, raw: dict, origin: str) -> None:
    for key, value in raw.items():
        if key == "losses":
            data["losses"] = merge_losses(data.get("losses", []), value, origin, origins)
        else:
            data[key] = merge(data[key], value) if key in data else copy.deepcopy(value)
        origins[key] = origin


# -- --set overrides ------------------------------------------------------------------------------
def apply_override(data: dict, origins: dict, override: str | Override,
                   registry: Registry | None = None) -> None:
    """Apply one ``path=value`` override in place (value parsed with yaml.safe_load)."""
    text, origin = override if isinstance(override, Override) else Override(override)
    if "=" not in text:
        raise ConfigError(f"{SET} {text!r}: expected KEY=VALUE, e.g. --set steps=100.")
    path_text, _, value_text = text.partition("=")
    path = [p.strip() for p in path_text.strip().split(".")]
    if not all(path):
        raise ConfigError(f"{SET} {text!r}: empty key in {path_text!r}.")
    top = path[0]
    where = f"{SET} {path_text.strip()}" if origin == SET else origin
    value = _parse_value(value_text, where)
    if top not in KEYS or top == "extends":
        valid = [k for k in KEYS if k != "extends"]
        raise ConfigError(f"{where}: unknown key {top!r}{did_you_mean(top, valid)}. "
                          f"Valid keys: {', '.join(valid)}.")
    if top == "losses" and len(path) > 1:
        _override_loss(data, origins, path[1:], value, where, registry)
        return
    if top == "losses":
        value = _loss_list(value, where)
    if len(path) == 1:
        data[top] = value
    else:
        target = data.setdefault(top, copy.deepcopy(DEFAULTS.get(top, {})))
        _set_nested(target, path[1:], value, where)
        if top in COMPONENTS:
            _check_option(registry, COMPONENTS[top], target, path[1], where)
    origins[top] = origin


def _parse_value(text: str, where: str) -> Any:
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        first = text.lstrip()[:1]
        if first in ("[", "{") or (first in ("'", '"') and text.count(first) == 1):  # a list, mapping, quote
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{where}: {text!r} is not valid YAML ({problem}). Write a list as [8, 16], "
                              "a mapping as {width: 64, height: 48}, and close every quote.") from None
        return text  # plain text that is not YAML (e.g. "a: b: c"): use it as written


def _set_nested(target: Any, path: list[str], value: Any, where: str) -> None:
    for i, key in enumerate(path):
        if not isinstance(target, dict):
            raise ConfigError(f"{where}: {'.'.join(path[:i]) or 'value'} is {target!r}, not a mapping.")
        if i == len(path) - 1:
            if key == "use" and target.get("use") != value:
                target.clear()  # a different component: its old options do not apply
            target[key] = value
        else:
            target = target.setdefault(key, {})


def _override_loss(data: dict, origins: dict, path: list[str], value: Any, where: str,
                   registry: Registry | None) -> None:
    losses = data.setdefault("losses", [])
    # labels may contain dots (clipasso.semantic): take the longest one that exists
    known = [e["label"] for e in losses]
    cut = next((k for k in range(len(path), 0, -1) if ".".join(path[:k]) in known),
               max(len(path) - 1, 1))
    path = [".".join(path[:cut])] + path[cut:]
    label = path[0]
    entry = next((e for e in losses if e["label"] == label), None)
    if entry is None:
        if path[1:] == ["use"] or (len(path) == 1 and isinstance(value, dict) and "use" in value):
            entry = {"label": label}
            losses.append(entry)
        else:
            raise ConfigError(_no_label(where, label, losses, "(add one with --set losses.NAME.use=LOSS)"))
    if len(path) == 1:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of loss options, got {value!r}.")
        if "use" in value and value["use"] != entry.get("use"):
            entry.clear()  # a different loss: the old one's options do not apply (as for losses.NAME.use)
        entry.update(value)
        entry["label"] = label
    else:
        _set_nested(entry, path[1:], value, where)
        entry["label"] = label  # a changed `use` clears the entry, the label stays
        if path[1] not in LOSS_KEYS:
            _check_option(registry, "loss", entry, path[1], where)
    origins[_lkey(label)] = SET


def _check_option(registry: Registry | None, kind: str, spec: dict, key: str, where: str) -> None:
    """An overridden option must exist in the component's Config (closest key suggested)."""
    if registry is None or key == "use" or not isinstance(spec.get("use"), str):
        return
    try:
        cls = registry.get(kind, spec["use"])
    except UnknownComponentError as exc:
        raise UnknownComponentError(f"{where}: {exc}") from None
    names = [f.name for f in dataclasses.fields(cls.Config)]
    if kind == "loss":
        names += [k for k in LOSS_KEYS if k != "use"]  # every loss entry takes these too
    if key not in names:
        raise ConfigError(f"{where}: {kind} {spec['use']!r} has no option {key!r}"
                          f"{did_you_mean(key, names)}. Valid options: {', '.join(names) or 'none'}.")


# -- validation -----------------------------------------------------------------------------------
def validate(data: dict, origins: dict) -> dict:
    """Fill defaults and check every top-level value; returns the normalised dict (key order fixed)."""
    data = copy.deepcopy(data)
    for key, default in DEFAULTS.items():
        if key not in data:
            data[key] = copy.deepcopy(default)
            origins.setdefault(key, "defaults")

    def at(key: str) -> str:
        origin = origins.get(key, "recipe")
        return origin if origin == f"--{key}" else f"{origin}: {key}"  # a shortcut flag names the key

    for key, minimum in _INT_KEYS.items():
        value = coerce(data[key], int, at(key))
        if minimum is not None and value < minimum:
            raise ConfigError(f"{at(key)}: must be >= {minimum}, got {value}.")
    seed, last_seed = data["seed"], sketch_seeds(data["seed"], data["seeds"])[-1]
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{at('seed')}: must lie in [0, {MAX_SEED}], got {seed}.")
    if last_seed > MAX_SEED:
        raise ConfigError(f"{at('seeds')}: {data['seeds']} sketches take the seeds {seed}..{last_seed} "
                          f"({SEED_STEP} apart), past the largest seed {MAX_SEED}: ask for fewer seeds or start "
                          f"from a smaller seed.")
    data["canvas"] = _canvas(data["canvas"], at("canvas"))
    data["strokes"] = _strokes(data["strokes"], at("strokes"))
    data["stages"] = _stages(data["stages"], data["strokes"], at("stages"), at("strokes"))
    if data["result"] not in RESULTS:
        raise ConfigError(f"{at('result')}: expected one of {', '.join(RESULTS)}, got {data['result']!r}.")
    if coerce(data["early_stop"], bool, at("early_stop")) and (data["result"] != "best" or data["stages"]):
        raise ConfigError(f"{at('early_stop')}: stops a sketch when its best evaluation loss stops falling, so "
                          f"it needs result: best and no stages; set early_stop: false.")
    check_device(coerce(data["device"], str, at("device")), at("device"))
    for key, tp in (("prompt", str | None), ("description", str | None), ("method", str | None),
                    ("video", bool)):
        if key in data:
            coerce(data[key], tp, at(key))
    if isinstance(data.get("prompt"), str) and not data["prompt"].strip():
        raise ConfigError(f"{at('prompt')}: the text is empty; give the words to draw, or leave the prompt "
                          f"out.")
    if "plugins" in data:
        coerce(data["plugins"], dict[str, str | None], at("plugins"))
    for key in COMPONENTS:
        _component(data[key], at(key))
    if not isinstance(data["preprocess"], list):
        raise ConfigError(f"{at('preprocess')}: expected a list of {{use: <preprocessor>}} mappings, "
                          f"got {data['preprocess']!r}.")
    for i, spec in enumerate(data["preprocess"]):
        _component(spec, f"{at('preprocess')}[{i}]")
    steps = total_steps(data)
    data["losses"] = [_loss_entry(e, f"{origins.get(_lkey(e['label']), 'recipe')}: {_lkey(e['label'])}", steps)
                      for e in data["losses"]]
    set_here = any(origins.get(_lkey(e["label"])) == SET for e in data["losses"])  # name the likely culprit
    _check_loss_coverage(data["losses"], steps, f"{SET}: losses" if set_here else at("losses"))
    return {key: data[key] for key in KEYS if key in data}


def total_steps(data: dict[str, Any]) -> int:
    """Steps of a whole run (validated recipe `data`): ``steps`` per stage times the stages."""
    return data["steps"] * len(data["stages"] or [None])


def loss_options(entry: dict[str, Any]) -> dict[str, Any]:
    """A recipe loss entry's options for the loss's Config (its ``use``, weight, label, ... left out)."""
    return {k: v for k, v in entry.items() if k not in LOSS_KEYS}


def check_device(name: str, where: str) -> str:
    """`name` is a device a run may ask for (whether this machine has it is checked when it starts)."""
    if not _DEVICE.match(name):
        raise ConfigError(f"{where}: expected auto, cpu, cuda, cuda:N or mps, got {name!r}.")
    return name


def sketch_seeds(seed: int, seeds: int) -> list[int]:
    """The seeds of one stroke count's `seeds` sketches (recipe ``seed``, ``seeds``)."""
    return [seed + SEED_STEP * i for i in range(seeds)]


def _check_loss_coverage(losses: list[dict], total_steps: int, where: str) -> None:
    """Every step needs a loss with a non-zero weight: a step without one has nothing to
    differentiate, and fails the run ("element 0 of tensors does not require grad")."""
    spans = sorted((min(step_of(e["start"], total_steps), total_steps),
                    total_steps if e["stop"] is None else step_of(e["stop"], total_steps), e["label"])
                   for e in losses if e["weight"] != 0)
    if not spans:
        return  # no loss at all: build_components says so
    gaps, reached = [], 0
    for start, stop, _ in spans:
        if start > reached:
            gaps.append((reached, start))
        reached = max(reached, stop)
    if reached < total_steps:
        gaps.append((reached, total_steps))
    if gaps:
        missing = ", ".join(_step_range(a, b) for a, b in gaps)
        active = "; ".join(f"{label}: {_step_range(a, b) if a < b else 'never (it starts after the last step)'}"
                           for a, b, label in spans)
        raise ConfigError(f"{where}: no loss with a non-zero weight is active at {missing} of the run's "
                          f"{total_steps} steps (active: {active}), so those steps have nothing to optimise; "
                          f"move a loss's start/stop (e.g. --set losses.LABEL.stop=100%) or add a loss for them.")
    for start, _, label in spans:
        if start >= total_steps:  # a recipe's steps cut short (--steps) can leave a late loss out
            warnings.warn(f"loss {label!r} starts after the run's last step (step {total_steps - 1}), "
                          f"so it never runs; move its start (--set losses.{label}.start=...) or run more steps.",
                          VecrenderWarning, stacklevel=2)


def _step_range(start: int, stop: int) -> str:
    """``[start, stop)`` as "step 3" or "steps 3-5"."""
    return f"step {start}" if stop - start == 1 else f"steps {start}-{stop - 1}"


def _canvas(value: Any, where: str) -> dict[str, int] | str:
    if value == CANVAS_FROM_INPUT:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"width": value, "height": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a size in pixels (224), {{width: W, height: H}} or "
                          f"{CANVAS_FROM_INPUT!r} (the input image's size), got {value!r} ({type(value).__name__}).")
    for key in value:
        if key not in ("width", "height"):
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(str(key), ['width', 'height'])}.")
    out = {}
    for key in ("width", "height"):
        if key not in value:
            raise ConfigError(f"{where}: missing {key!r}.")
        out[key] = coerce(value[key], int, f"{where}.{key}")
        if out[key] < 1:
            raise ConfigError(f"{where}.{key}: must be >= 1, got {out[key]}.")
    from vecrender.images import check_pixels  # the input image's size limit, for the canvas

    check_pixels(out["width"], out["height"], f"{where}: the canvas", "use a smaller canvas (e.g. "
                 "--set canvas=224), or if this machine has the memory", ConfigError)
    return out


def _strokes(value: Any, where: str) -> int | list[int]:
    counts = value if isinstance(value, list) else [value]
    if not counts:
        raise ConfigError(f"{where}: expected a stroke count or a non-empty list of them, got [].")
    if isinstance(value, str) and "," in value:
        counts_text = value.strip().strip("[]")
        raise ConfigError(f"{where}: a list of stroke counts is written [{counts_text}] (strokes=[{counts_text}]), "
                          f"got {value!r}.")
    for i, n in enumerate(counts):
        n = coerce(n, int, f"{where}[{i}]" if isinstance(value, list) else where)
        if n < 1:
            raise ConfigError(f"{where}: strokes must be >= 1 (paths per sketch), got {n}.")
    if len(set(counts)) != len(counts):
        raise ConfigError(f"{where}: stroke counts must be distinct, got {counts}.")
    return value


def _stages(value: Any, strokes: Any, where: str, strokes_where: str) -> list[int] | None:
    """``null`` or a non-empty list of positive path counts whose sum is the (single) stroke count."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected null or a non-empty list of paths added per stage, e.g. "
                          f"[1, 1, 2, 4], got {value!r}.")
    counts = []
    for i, n in enumerate(value):
        n = coerce(n, int, f"{where}[{i}]")
        if n < 1:
            raise ConfigError(f"{where}[{i}]: each stage must add >= 1 path, got {n}.")
        counts.append(n)
    total = sum(counts)
    if isinstance(strokes, list) and len(strokes) != 1:
        raise ConfigError(f"{where}: a staged run has one stroke count (the sum of the stages, {total}), "
                          f"but {strokes_where} is {strokes}.")
    count = coerce(strokes[0] if isinstance(strokes, list) else strokes, int, strokes_where)
    if count != total:
        raise ConfigError(f"{where}: stages {counts} add {total} paths in all, but {strokes_where} is "
                          f"{count}; set strokes to {total} (--set strokes={total}), change the stages, or "
                          f"set stages to null for a single-stage run.")
    return counts


def _component(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("use"), str) or not spec["use"]:
        raise ConfigError(f"{where}: expected a mapping with 'use: <name>', got {spec!r}.")


def _loss_entry(entry: dict, where: str, total_steps: int) -> dict:
    if entry.get("remove") is not None:
        raise ConfigError(f"{where}: 'remove: true' drops a loss in a recipe file that extends the one defining it "
                          f"(- {{label: LABEL, remove: true}}); to switch a loss off here or from the command line, "
                          f"set its weight to 0 (--set losses.LABEL.weight=0).")
    if not isinstance(entry.get("use"), str) or not entry["use"]:
        raise ConfigError(f"{where}: missing 'use: <loss name>'.")
    weight = coerce(entry.get("weight", 1.0), float, f"{where}.weight")
    if not weight >= 0:  # NaN too
        raise ConfigError(f"{where}.weight: must be >= 0 (0 turns the loss off), got {weight}: a negative "
                          f"weight would maximise the loss.")
    start = _step_bound(entry.get("start", 0), f"{where}.start")
    stop = _step_bound(entry.get("stop"), f"{where}.stop")
    if start is None or step_of(start, total_steps) < 0:
        raise ConfigError(f"{where}.start: must be a step >= 0 or a percentage, got {start!r}.")
    if stop is not None and step_of(stop, total_steps) <= step_of(start, total_steps):
        raise ConfigError(f"{where}.stop: must be > start ({_describe_step(start, total_steps)}), got "
                          f"{_describe_step(stop, total_steps)}.")
    options = loss_options(entry)
    return {"use": entry["use"], "weight": weight, "label": entry["label"], "start": start,
            "stop": stop, **options}


def _step_bound(value: Any, where: str) -> int | str | None:
    """A loss's ``start``/``stop``: a step, or a percentage of the run's steps such as ``"90%"``
    (kept as written, so ``--steps`` moves it)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    match = _PERCENT.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match or float(match[1]) > 100:
        raise ConfigError(f"{where}: expected a step number or a percentage of the run's steps from 0% to "
                          f"100% (e.g. 90%{'' if isinstance(value, str) else ', not 0.9'}), got {value!r}.")
    return f"{match[1]}%"


def step_of(bound: int | str | None, total_steps: int) -> int | None:
    """The step a loss bound names: the first step at or past that share of the run (``"90%"`` of
    500 steps is step 450, so ``stop: 90%`` keeps a loss for ``step < 0.9 * steps``)."""
    if isinstance(bound, str):
        return math.ceil(Fraction(bound[:-1]) * total_steps / 100)
    return bound


def _describe_step(bound: int | str, total_steps: int) -> str:
    return f"{bound} = step {step_of(bound, total_steps)} of {total_steps}" if isinstance(bound, str) else str(bound)


def _check_components(data: dict, origins: dict, registry: Registry) -> None:
    """Fail early on component names no plugin registers (weight-0 losses are never built)."""
    specs = [(COMPONENTS[k], data[k], f"{origins.get(k, 'recipe')}: {k}") for k in COMPONENTS]
    specs += [("preprocessor", s, f"{origins.get('preprocess', 'recipe')}: preprocess[{i}]")
              for i, s in enumerate(data["preprocess"])]
    specs += [("loss", e, f"{origins.get(_lkey(e['label']), 'recipe')}: {_lkey(e['label'])}")
              for e in data["losses"] if e["weight"] != 0]
    for kind, spec, where in specs:
        try:
            cls = registry.get(kind, spec["use"])
        except UnknownComponentError as exc:
            raise UnknownComponentError(f"{where}: {exc}") from None
        options = loss_options(spec) if kind == "loss" else {k: v for k, v in spec.items() if k != "use"}
        for key in options if kind == "loss" else ():  # suggest weight/label/... too
            _check_option(registry, kind, spec, key, where)
        config = build_config(cls.Config, options, f"{where} ({spec['use']})")  # no model loaded
        spec.update({k: v for k, v in config_to_dict(config).items() if k in options})  # coerced values


# -- building -------------------------------------------------------------------------------------
@dataclass
class LossTerm:
    """One weighted loss of the run, active for ``start <= step < stop``."""

    label: str
    weight: float
    start: int
    stop: int | None
    loss: Loss

    def active(self, step: int) -> bool:
        return self.start <= step and (self.stop is None or step < self.stop)


@dataclass
class Components:
    renderer: Renderer
    initializer: Initializer
    losses: list[LossTerm]
    optimizer: Optimizer
    preprocessors: list[Preprocessor]


def build_components(recipe: Recipe, context: RunContext, registry: Registry | None = None) -> Components:
    """Instantiate every component of `recipe` (weight-0 losses are dropped, never built)."""
    if registry is None:
        from vecrender.plugins import get_registry

        registry = get_registry()

    def build(kind: str, spec: dict, key: str, where_key: str) -> Any:
        return registry.build(kind, spec, context, where=f"{recipe.where(key)}: {where_key}")

    preprocessors = [build("preprocessor", spec, "preprocess", f"preprocess[{i}]")
                     for i, spec in enumerate(recipe["preprocess"])]
    renderer = build("renderer", recipe["renderer"], "renderer", "renderer")
    initializer = build("initializer", recipe["initializer"], "initializer", "initializer")
    losses = []
    for entry in recipe.losses:
        if entry["weight"] == 0:
            continue
        key = _lkey(entry["label"])
        loss = build("loss", {"use": entry["use"], **loss_options(entry)}, key, key)
        start, stop = (step_of(entry[k], recipe.total_steps) for k in ("start", "stop"))
        losses.append(LossTerm(entry["label"], entry["weight"], start, stop, loss))
    if not losses:
        hint = "" if recipe.method else (" A recipe usually starts from a method: add `extends: <method>` (see "
                                         "`vecrender list methods`), or list its losses.")
        raise ConfigError(f"{recipe.where('losses')}: losses: the recipe has no loss with a non-zero "
                          f"weight, so there is nothing to optimise.{hint}")
    optimizer = build("optimizer", recipe["optimizer"], "optimizer", "optimizer")
    return Components(renderer, initializer, losses, optimizer, preprocessors)


# -- resolved recipe ------------------------------------------------------------------------------
def resolved_dict(recipe: Recipe, registry: Registry | None = None,
                  plugin_versions: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The recipe fully merged, every component's options completed with its Config defaults.

    ``extends`` is gone (already merged) and ``plugins:`` records the installed plugin versions, so
    the result is self-contained: running it reproduces the run.
    """
    if registry is None:
        from vecrender.plugins import get_registry

        registry = get_registry()
    out = copy.deepcopy(recipe.data)
    out.pop("extends", None)
    for key, kind in COMPONENTS.items():
        out[key] = _complete(registry, kind, out[key], f"{recipe.where(key)}: {key}")
    out["preprocess"] = [_complete(registry, "preprocessor", s, f"{recipe.where('preprocess')}: "
                                   f"preprocess[{i}]") for i, s in enumerate(out["preprocess"])]
    losses = []
    for entry in out["losses"]:
        where = f"{recipe.where(_lkey(entry['label']))}: {_lkey(entry['label'])}"
        head = {k: entry[k] for k in ("use", "weight", "label", "start", "stop")}
        options = loss_options(entry)
        if entry["weight"] == 0 and entry["use"] not in registry.names("loss"):
            losses.append({**head, **options})  # dropped loss from a plugin that is not installed
            continue
        losses.append({**head, **_options(registry, "loss", entry["use"], options, where)})
    out["losses"] = losses
    out["plugins"] = dict(plugin_versions or {})
    return out


def _complete(registry: Registry, kind: str, spec: dict, where: str) -> dict:
    options = {k: v for k, v in spec.items() if k != "use"}
    return {"use": spec["use"], **_options(registry, kind, spec["use"], options, where)}


def _options(registry: Registry, kind: str, name: str, options: dict, where: str) -> dict:
    cls = registry.get(kind, name)
    return config_to_dict(build_config(cls.Config, options, f"{where} ({name})"))


def dump_yaml(data: dict[str, Any]) -> str:
    """Plain YAML (no Python tags), keys in recipe order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)


def plugin_version_warnings(recipe: Recipe, installed: dict[str, str | None]) -> list[str]:
    """Messages for plugins whose version differs from the one a resolved recipe recorded."""
    recorded = recipe.data.get("plugins") or {}
    out = []
    for dist, version in recorded.items():
        now = installed.get(dist)
        if now != version:
            state = "is not installed" if dist not in installed else f"is version {now}"
            out.append(f"{recipe.source}: recorded with {dist} {version}, but {dist} {state}; "
                       f"results may differ.")
    return out


__all__ = ["Components", "LossTerm", "Override", "Recipe", "apply_override", "build_components",
           "dump_yaml", "load_recipe", "merge", "merge_losses", "plugin_version_warnings",
           "resolved_dict", "validate"]
