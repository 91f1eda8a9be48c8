"""Plugin host: loads built-ins and entry-point plugins and fills the registry.

Built-in components are plugins too: the modules in ``BUILTIN_PLUGINS`` implement the same hooks
as third-party plugins. External plugins come from the ``vecrender`` entry-point group and load one
at a time; one that fails to import, misspells a hook or registers an invalid component is reported
on stderr and skipped (``VECRENDER_STRICT_PLUGINS=1`` makes that fatal).

Environment:
    VECRENDER_LOAD_PLUGINS=a,b   load only these external plugins (empty: none)
    VECRENDER_DISABLE_PLUGINS=x  never load these
    VECRENDER_STRICT_PLUGINS=1   a broken plugin is an error, not a warning
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points, version
from typing import Any

import pluggy

from vecrender import hookspecs
from vecrender.errors import PluginError
from vecrender.registry import Registry

ENTRY_POINT_GROUP = "vecrender"
BUILTIN_PLUGINS = (
    "vecrender.builtins.renderers",
    "vecrender.builtins.initializers",
    "vecrender.builtins.losses",
    "vecrender.builtins.optimizers",
    "vecrender.builtins.preprocessors",
    "vecrender.builtins.methods",
    "vecrender.builtins.commands",
)
REGISTER_HOOKS = {
    "register_renderers": "renderer",
    "register_initializers": "initializer",
    "register_losses": "loss",
    "register_optimizers": "optimizer",
    "register_preprocessors": "preprocessor",
    "register_methods": "method",
}


@dataclass
class PluginInfo:
    """What `vecrender plugins` reports for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "distribution": self.distribution,
               "hooks": self.hooks, "builtin": self.builtin}
        if self.error:
            out["error"] = self.error
        return out


class PluginHost:
    """A pluggy manager plus the registry built from its register_* hooks."""

    def __init__(self, strict: bool = False, warn: Callable[[str], None] | None = None) -> None:
        self.pm = pluggy.PluginManager("vecrender")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.strict = strict
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))

    # -- loading -----------------------------------------------------------------------------
    def add(self, plugin: Any, name: str, distribution: str | None = None,
            version: str | None = None, builtin: bool = False) -> bool:
        """Register one plugin object and its components; False (reported) when it is broken."""
        info = PluginInfo(name, distribution, version, builtin=builtin)
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
            info.hooks = sorted(impl.name for impl in _hook_callers_of(self.pm, plugin))
            self._register_components(plugin, info)
        except Exception as exc:  # a plugin's own bug must not break the host
            self._fail(info, plugin, exc)
            return False
        return True

    def _register_components(self, plugin: Any, info: PluginInfo) -> None:
        for hook_name, kind in REGISTER_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue

                def register(obj: Any, _kind: str = kind) -> None:
                    self.registry.add(_kind, obj, info.name, info.distribution, info.version)

                impl.function(register=register)

    def _fail(self, info: PluginInfo, plugin: Any, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        if plugin is not None and self.pm.is_registered(plugin):
            self.pm.unregister(plugin)
        self.registry.remove_plugin(info.name)
        info.error = message
        if self.strict:
            raise PluginError(f"plugin {info.name!r} failed to load: {message}") from exc
        self._warn(f"vecrender: skipping plugin {info.name!r}: {message}")

    def load_builtins(self) -> None:
        dist_version = version("vecrender") if _installed("vecrender") else None
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self.add(module, module_name, "vecrender", dist_version, builtin=True)

    def load_entry_points(self, only: set[str] | None = None, disabled: set[str] = frozenset()) -> None:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or (only is not None and ep.name not in only):
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            dist_version = dist.version if dist is not None else None
            try:
                plugin = ep.load()
            except Exception as exc:
                info = PluginInfo(ep.name, dist_name, dist_version)
                self.plugins[ep.name] = info
                self._fail(info, None, exc)
                continue
            self.add(plugin, ep.name, dist_name, dist_version)

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its CLI commands; a failing plugin is reported and skipped."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                info = self.plugins.get(impl.plugin_name) or PluginInfo(impl.plugin_name, None, None)
                self._fail(info, impl.plugin, exc)

    def plugin_versions(self) -> dict[str, str | None]:
        """Distribution -> version of every loaded plugin (recorded in resolved recipes)."""
        out = {}
        for info in self.plugins.values():
            if info.error is None and info.distribution:
                out[info.distribution] = info.version
        return dict(sorted(out.items()))


def _hook_callers_of(pm: pluggy.PluginManager, plugin: Any) -> list[Any]:
    return pm.get_hookcallers(plugin) or []


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except Exception:
        return False
    return True


def _env_set(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def create_host() -> PluginHost:
    """A host with built-ins and the external plugins the environment selects."""
    host = PluginHost(strict=os.environ.get("VECRENDER_STRICT_PLUGINS", "") not in ("", "0"))
    host.load_builtins()
    host.load_entry_points(only=_env_set("VECRENDER_LOAD_PLUGINS"),
                           disabled=_env_set("VECRENDER_DISABLE_PLUGINS") or set())
    return host


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _HOST
    if _HOST is None:
        _HOST = create_host()
    return _HOST


def get_registry() -> Registry:
    return get_host().registry


@contextmanager
def use_host(host: PluginHost) -> Iterator[PluginHost]:
    """Temporarily make `host` the process-wide host (tests, the test kit)."""
    global _HOST
    previous, _HOST = _HOST, host
    try:
        yield host
    finally:
        _HOST = previous
