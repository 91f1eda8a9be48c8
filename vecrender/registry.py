"""Typed registry of components: register, look up with "did you mean", list, describe."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vecrender.components import COMPONENT_BASES, KINDS, Component, Method, RunContext
from vecrender.config import describe_config
from vecrender.errors import ConfigError, PluginError, UnknownComponentError, closest

PLURALS = {kind: "losses" if kind == "loss" else kind + "s" for kind in KINDS}


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

    # -- registration ------------------------------------------------------------------------
    def add(self, kind: str, obj: Any, plugin: str, distribution: str | None = None,
            version: str | None = None) -> Entry:
        """Validate and add; raises PluginError for an invalid component or a taken name."""
        validate_component(kind, obj)
        existing = self._entries[kind].get(obj.name)
        if existing is not None:
            raise PluginError(
                f"{kind} {obj.name!r} is registered by both plugin {existing.plugin!r} and plugin "
                f"{plugin!r}; rename one of them (prefix names with the plugin name) or disable a "
                f"plugin with VECRENDER_DISABLE_PLUGINS."
            )
        entry = Entry(kind, obj.name, obj, plugin, distribution, version)
        self._entries[kind][obj.name] = entry
        return entry

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
            raise UnknownComponentError(unknown_message(kind, name, self.names(kind))) from None

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


def unknown_message(kind: str, name: str, names: list[str]) -> str:
    plural = PLURALS[kind]
    hint = closest(name, names)
    suggestion = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    return (
        f"unknown {kind} {name!r}.{suggestion} Run `vecrender list {plural}` to see all installed "
        f"{plural} (a plugin providing it may not be installed)."
    )


def validate_component(kind: str, obj: Any) -> None:
    """Raise PluginError unless `obj` is a well-formed component of `kind`."""
    if kind == "method":
        if not isinstance(obj, Method):
            raise PluginError(f"register_methods expects vecrender.Method instances, got {obj!r}.")
        if not obj.name or not obj.description:
            raise PluginError(f"method {obj!r} needs a name and a description.")
        return
    base = COMPONENT_BASES[kind]
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"register for {kind}s expects a subclass of vecrender.{base.__name__}, got {obj!r}.")
    label = f"{kind} class {obj.__qualname__}"
    if not isinstance(obj.name, str) or not obj.name:
        raise PluginError(f"{label} has no `name`.")
    if not obj.description():
        raise PluginError(f"{label} ({obj.name}) has no docstring (its first line is the description).")
    if not dataclasses.is_dataclass(obj.Config):
        raise PluginError(f"{label} ({obj.name}): Config must be a dataclass.")
    undocumented = [f.name for f in describe_config(obj.Config) if not f.doc]
    if undocumented:
        raise PluginError(
            f"{label} ({obj.name}): Config fields without documentation: {', '.join(undocumented)} "
            f"(declare them with vecrender.option(default, 'doc'))."
        )
