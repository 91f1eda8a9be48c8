"""Typed registry of components: register, look up with "did you mean", list, describe."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from vecrender.components import COMPONENT_BASES, REQUIRED_METHODS, Component, Method, RunContext
from vecrender.config import SUPPORTED_TYPES, check_defaults, describe_config, type_name, unsupported_type
from vecrender.errors import ConfigError, PluginError, UnknownComponentError, closest
from vecrender.hookspecs import KINDS, PLURALS
from vecrender.recipe import LOSS_KEYS

#: Component and method names: lowercase parts joined by dots (``myplugin.darkness``).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$")
NAME_RULE = ("lowercase letters, digits, '_' and '-', with '.' between parts, starting with a letter "
             "(for example 'myplugin.darkness')")


@dataclass(frozen=True)
class Entry:
    """One registered component (or method) and the plugin that provided it."""

    kind: str
    name: str
    obj: Any
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def description(self) -> str:
        if isinstance(self.obj, Method):
            return self.obj.description
        return self.obj.description()


class Registry:
    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        #: Plugins that failed to load ("'x' (dist 1.0)"), named when a lookup fails.
        self.broken_plugins: list[str] = []

    # -- registration ------------------------------------------------------------------------
    def add(self, kind: str, obj: Any, plugin: str, distribution: str | None = None,
            version: str | None = None) -> Entry:
        """Validate and add; raises PluginError for an invalid component or a taken name."""
        validate_component(kind, obj)
        existing = self._entries[kind].get(obj.name)
        if existing is not None:
            raise PluginError(_taken_message(existing, obj, plugin))
        entry = Entry(kind, obj.name, obj, plugin, distribution, version)
        self._entries[kind][obj.name] = entry
        return entry

    def of_plugin(self, plugin: str) -> list[Entry]:
        """Every entry `plugin` registered."""
        return [e for entries in self._entries.values() for e in entries.values() if e.plugin == plugin]

    def remove_plugin(self, plugin: str) -> None:
        for entries in self._entries.values():
            for name in [n for n, e in entries.items() if e.plugin == plugin]:
                del entries[name]

    # -- lookup ------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        if kind not in self._entries:
            raise ConfigError(f"unknown component kind {kind!r}; choose from {', '.join(KINDS)}.")
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownComponentError(
                unknown_message(kind, name, self.names(kind), self.broken_plugins)) from None

    def get(self, kind: str, name: str) -> Any:
        return self.entry(kind, name).obj

    def build(self, kind: str, spec: dict[str, Any], context: RunContext, where: str) -> Component:
        """Instantiate ``{use: name, ...options}`` with strictly validated options."""
        if not isinstance(spec, dict) or "use" not in spec:
            raise ConfigError(f"{where}: expected a mapping with 'use: <{kind} name>', got {spec!r}.")
        options = {k: v for k, v in spec.items() if k != "use"}
        cls = self.get(kind, spec["use"]) if isinstance(spec["use"], str) else None
        if cls is None:
            raise ConfigError(f"{where}.use: expected a {kind} name, got {spec['use']!r}.")
        return cls.from_dict(options, context, where=f"{where} ({spec['use']})")


def _taken_message(existing: Entry, obj: Any, plugin: str) -> str:
    kind, name = existing.kind, existing.name
    if existing.plugin != plugin:
        return (f"{kind} {name!r} is registered by both plugin {existing.plugin!r} and plugin {plugin!r}; "
                f"rename one of them (prefix names with the plugin name) or disable a plugin with "
                f"VECRENDER_DISABLE_PLUGINS.")
    if existing.obj is obj:
        return (f"plugin {plugin!r} registers the {kind} {name!r} twice; call register once per "
                f"{'method' if kind == 'method' else 'class'}.")
    return (f"plugin {plugin!r} registers two {PLURALS[kind]} named {name!r} ({_label(existing.obj)} and "
            f"{_label(obj)}); give each its own name.")


def _label(obj: Any) -> str:
    return obj.__qualname__ if isinstance(obj, type) else repr(obj)


def unknown_message(kind: str, name: str, names: list[str], broken: Sequence[str] = ()) -> str:
    plural = PLURALS[kind]
    hint = closest(name, names)
    suggestion = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    why = "a plugin providing it may not be installed"
    if broken:  # the likeliest cause: say which
        why += (f", or failed to load: plugin{'s' if len(broken) > 1 else ''} {', '.join(broken)} "
                f"{'were' if len(broken) > 1 else 'was'} skipped (see `vecrender plugins` for the error)")
    return (
        f"unknown {kind} {name!r}.{suggestion} Run `vecrender list {plural}` to see all installed "
        f"{plural} ({why})."
    )


def validate_component(kind: str, obj: Any) -> None:
    """Raise PluginError unless `obj` is a well-formed component of `kind`."""
    if kind not in KINDS:
        raise PluginError(f"unknown component kind {kind!r}; choose from {', '.join(KINDS)}.")
    if kind == "method":
        _validate_method(obj)
        return
    base = COMPONENT_BASES[kind]
    if isinstance(obj, base):
        raise PluginError(f"register_{PLURALS[kind]} expects the class, got an instance of {type(obj).__qualname__}: "
                          f"call register({type(obj).__qualname__}); a run builds the instances.")
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"register_{PLURALS[kind]} expects a subclass of vecrender.{base.__name__}, "
                          f"got {obj!r}.")
    label = f"{kind} class {obj.__qualname__}"
    if not isinstance(obj.name, str) or not obj.name:
        raise PluginError(f"{label} has no `name`.")
    _check_name(obj.name, label)
    if not obj.description():
        raise PluginError(f"{label} ({obj.name}) has no docstring (its first sentence is the description).")
    if not dataclasses.is_dataclass(obj.Config):
        raise PluginError(f"{label} ({obj.name}): Config must be a dataclass.")
    _check_config(kind, obj.Config, f"{label} ({obj.name})")
    _check_methods(kind, obj, f"{label} ({obj.name})")


def _check_methods(kind: str, cls: type, label: str) -> None:
    """The methods the kind requires are implemented, and ``cls(config, context)`` can be called."""
    base = COMPONENT_BASES[kind]
    missing = [m for m in REQUIRED_METHODS[kind] if getattr(cls, m) is getattr(base, m)]
    if missing:
        raise PluginError(f"{label} does not implement {', '.join(missing)}, which every {kind} needs (check the "
                          f"spelling; see the signature in vecrender.{base.__name__}).")
    try:
        inspect.signature(cls).bind(None, None)
    except TypeError:
        raise PluginError(f"{label}: a run builds it as {cls.__name__}(config, context), which its __init__"
                          f"{inspect.signature(cls.__init__)} does not accept; give __init__ those two "
                          f"arguments and call super().__init__(config, context).") from None
    except ValueError:  # no signature to read (a C extension type): let the call tell
        pass


def _check_name(name: str, label: str) -> None:
    if not NAME_PATTERN.match(name):
        raise PluginError(f"{label}: invalid name {name!r}: use {NAME_RULE}.")


def _check_config(kind: str, config: type, label: str) -> None:
    """Every field documented, typed for YAML, not shadowing a loss-entry key, with a valid default."""
    try:
        hints = typing.get_type_hints(config)
    except Exception as exc:  # e.g. NameError for a misspelled annotation
        raise PluginError(f"{label}: the Config annotations cannot be resolved ({type(exc).__name__}: "
                          f"{exc}); check the spelling of the field types.") from None
    undocumented = [f.name for f in describe_config(config) if not f.doc]
    if undocumented:
        raise PluginError(
            f"{label}: Config fields without documentation: {', '.join(undocumented)} "
            f"(declare them with vecrender.option(default, 'doc'))."
        )
    for f in dataclasses.fields(config):
        bad = unsupported_type(hints[f.name])
        if bad is not None:
            raise PluginError(
                f"{label}: Config field {f.name!r} has the type {type_name(hints[f.name])}, which no "
                f"recipe value can be ({type_name(bad)} is not supported). Supported: {SUPPORTED_TYPES}."
            )
    # the recipe reads these keys of a loss entry itself, so a field of that name could never be set
    shadowing = [f.name for f in dataclasses.fields(config) if kind == "loss" and f.name in LOSS_KEYS]
    if shadowing:
        raise PluginError(
            f"{label}: Config field {shadowing[0]!r} has the name of a loss-entry key ({', '.join(LOSS_KEYS)} "
            f"belong to every entry in a recipe's losses), so a recipe could never set it; rename the field."
        )
    try:
        check_defaults(config)
    except ConfigError as exc:
        raise PluginError(f"{label}: invalid Config {exc} Fix the default given to vecrender.option.") from None


def _validate_method(obj: Any) -> None:
    if not isinstance(obj, Method):
        raise PluginError(f"register_methods expects vecrender.Method instances, got {obj!r}.")
    if not isinstance(obj.name, str) or not obj.name or not obj.description:
        raise PluginError(f"method {obj!r} needs a name and a description.")
    label = f"method {obj.name!r}"
    _check_name(obj.name, label)
    recipe = obj.recipe
    if isinstance(recipe, dict):
        return
    if not isinstance(recipe, (Path, Traversable)):
        raise PluginError(
            f"{label}: recipe must be a dict, a pathlib.Path or an importlib.resources file "
            f"(Path(__file__).with_name('name.yaml')), got the {type(recipe).__name__} {recipe!r}."
        )
    # checked now, not when a user runs it, so a packaging mistake shows up at install time
    if not recipe.is_file():
        raise PluginError(
            f"{label}: recipe file {recipe} does not exist or is not a file; ship it as package data "
            f"beside the module that registers it and point to it with Path(__file__).with_name('name.yaml') "
            f"(importlib.resources.files finds a folder of the package's name in the current folder first)."
        )
    if isinstance(recipe, Path) and not os.access(recipe, os.R_OK):
        raise PluginError(f"{label}: recipe file {recipe} cannot be read (check its permissions).")
