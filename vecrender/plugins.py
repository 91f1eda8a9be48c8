"""Plugin host: loads built-ins and entry-point plugins and fills the registry.

Built-in components are plugins too: the modules in ``BUILTIN_PLUGINS`` implement the same hooks
as third-party plugins. External plugins come from the ``vecrender`` entry-point group and load one
at a time; one that fails to import, misspells a hook or registers an invalid component is reported
on stderr and skipped (``VECRENDER_STRICT_PLUGINS=1`` makes that fatal).

A second distribution whose entry point has a name already loaded is skipped (the first one
stays intact), and a plugin that registers nothing is warned about. ``VECRENDER_DEBUG=1`` (or
``vecrender --debug``) adds the traceback of every plugin that fails to load.

Environment:
    VECRENDER_LOAD_PLUGINS=a,b   load only these external plugins (empty: none)
    VECRENDER_DISABLE_PLUGINS=x  never load these
    VECRENDER_STRICT_PLUGINS=1   a broken plugin is an error, not a warning
    VECRENDER_DEBUG=1            show the traceback of a plugin that fails to load
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points, version
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pluggy

from vecrender import hookspecs
from vecrender.components import Component
from vecrender.errors import PluginError, closest
from vecrender.hookspecs import PLURALS
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
#: The plugin bundles that ship with vecrender. They load before other plugins, so a plugin that
#: takes one of their names (a component's, or an entry point's) is the one skipped, never them.
BUNDLED_DISTRIBUTIONS = ("vecrender-clipasso", "vecrender-losses")
REGISTER_HOOKS = {f"register_{plural}": kind for kind, plural in PLURALS.items()}  # hook -> component kind


@dataclass
class PluginInfo:
    """What `vecrender plugins` reports for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False
    error: str | None = None
    module: str | None = None  # where its code lives ("inkwell.plugin"), to point at its frames

    @property
    def label(self) -> str:
        """'inkwell' (vecrender-inkwell 0.1): the entry point and the distribution behind it."""
        dist = " ".join(p for p in (self.distribution, self.version) if p)
        return f"{self.name!r} ({dist})" if dist else repr(self.name)

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "distribution": self.distribution,
               "hooks": self.hooks, "builtin": self.builtin}
        if self.error:
            out["error"] = self.error
        return out


#: Which plugin added each CLI command (a command missing here is one of vecrender's own).
_COMMAND_OWNERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Culprit:
    """The plugin whose code raised an exception, and where."""

    plugin: PluginInfo
    component: str | None  # "loss 'inkwell.darkness'" when the frame belongs to a component
    location: str | None  # "inkwell/losses.py:12"


class PluginHost:
    """A pluggy manager plus the registry built from its register_* hooks."""

    def __init__(self, strict: bool = False, warn: Callable[[str], None] | None = None,
                 debug: bool = False) -> None:
        self.pm = pluggy.PluginManager("vecrender")
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.strict = strict
        self.debug = debug
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))

    # -- loading -----------------------------------------------------------------------------
    def add(self, plugin: Any, name: str, distribution: str | None = None,
            version: str | None = None, builtin: bool = False) -> bool:
        """Register one plugin object and its components; False (reported) when it is broken."""
        info = PluginInfo(name, distribution, version, builtin=builtin, module=_module_of(plugin))
        if not self._claim(info):
            return False
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
            info.hooks = sorted(impl.name for impl in _hook_callers_of(self.pm, plugin))
            returned = self._register_components(plugin, info)
        except Exception as exc:  # a plugin's own bug must not break the host
            self._fail(info, plugin, exc)
            return False
        self._check_registers_something(plugin, info, returned)
        return True

    def _claim(self, info: PluginInfo) -> bool:
        """Take `info.name`, or report a second plugin of that name (the first one stays intact)."""
        first = self.plugins.get(info.name)
        if first is None:
            self.plugins[info.name] = info
            return True
        self.plugins[f"{info.name} ({info.distribution})"] = info  # listed with its error
        self._skip(info, (
            f"two installed distributions have the entry point {info.name!r}: {_dist_text(first)} (loaded) "
            f"and {_dist_text(info)} (skipped). Entry-point names in the 'vecrender' group must be unique: "
            f"rename it in the [project.entry-points.vecrender] table of {_dist_text(info, False)}'s "
            f"pyproject.toml (<new name> = \"{info.module or 'package.plugin'}\") and reinstall it, or "
            f"uninstall one of the two."))
        return False

    def _register_components(self, plugin: Any, info: PluginInfo) -> list[str]:
        """Call the plugin's register_* hooks; returns the hooks that returned a value."""
        returned = []
        for hook_name, kind in REGISTER_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if "register" not in impl.argnames:
                    raise PluginError(f"{hook_name} takes no `register` argument: declare it as "
                                      f"def {hook_name}(register).")
                if impl.function(register=self._register_callback(hook_name, kind, info)) is not None:
                    returned.append(hook_name)
        return returned

    def _register_callback(self, hook_name: str, kind: str, info: PluginInfo) -> Callable[..., None]:
        def register(obj: Any, *args: Any, **kwargs: Any) -> None:
            if args or kwargs:  # reserved for later versions (see hookspecs)
                extra = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
                raise PluginError(f"{hook_name}: register takes the component only, got also {extra}; "
                                  f"call register(Cls) once per class.")
            self.registry.add(kind, obj, info.name, info.distribution, info.version)

        return register

    def _check_registers_something(self, plugin: Any, info: PluginInfo, returned: list[str]) -> None:
        """A plugin that registers nothing is almost always a mistake: say what to check."""
        if self.registry.of_plugin(info.name) or "register_commands" in info.hooks:
            return
        hints = [f"{name} returned a value: call register(Cls) for each class instead"
                 for name in returned]
        plain = [n for n in (*REGISTER_HOOKS, "register_commands")
                 if callable(getattr(plugin, n, None)) and n not in info.hooks]
        hints += [f"{n} is not decorated with @vecrender.hookimpl" for n in plain]
        hints = hints or ["check that its hooks are decorated with @vecrender.hookimpl and call register(Cls)"]
        self._problem(f"plugin {info.label} registers nothing: {'; '.join(hints)}.")

    def _fail(self, info: PluginInfo, plugin: Any, exc: Exception) -> None:
        """Undo what a broken plugin registered, then report it and skip it."""
        if plugin is not None and self.pm.get_plugin(info.name) is plugin:
            self.pm.unregister(name=info.name)
        self.registry.remove_plugin(info.name)
        self._skip(info, error_text(exc, info.module), exc)

    def _skip(self, info: PluginInfo, message: str, exc: Exception | None = None) -> None:
        info.error = message
        self.registry.broken_plugins.append(info.label)
        if self.debug and exc is not None:
            self._warn("".join(traceback.format_exception(exc)).rstrip())
        if self.strict:
            raise PluginError(f"plugin {info.name!r} failed to load: {message}") from exc
        self._warn(f"vecrender: skipping plugin {info.name!r}: {message}")

    def _problem(self, message: str) -> None:
        """A mistake that does not stop the plugin from loading: a warning, fatal when strict."""
        if self.strict:
            raise PluginError(message)
        self._warn(f"vecrender: warning: {message}")

    def load_builtins(self) -> None:
        dist_version = version("vecrender") if _installed("vecrender") else None
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            self.add(module, module_name, "vecrender", dist_version, builtin=True)

    def load_entry_points(self, only: set[str] | None = None, disabled: set[str] = frozenset()) -> None:
        eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=_load_order)
        for ep in eps:
            if ep.name in disabled or (only is not None and ep.name not in only):
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist is not None else None,
                              dist.version if dist is not None else None, module=ep.module)
            if ep.name in self.plugins:  # a clash: do not even import the second one
                self._claim(info)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self.plugins[ep.name] = info
                self._fail(info, None, exc)
                continue
            self.add(plugin, ep.name, info.distribution, info.version)
        installed = {ep.name for ep in eps}
        listed = ", ".join(sorted(installed)) or "none"
        for variable, names in (("VECRENDER_LOAD_PLUGINS", only or set()), ("VECRENDER_DISABLE_PLUGINS", disabled)):
            unknown = sorted(set(names) - installed)
            if unknown:  # a typo here would otherwise load (or disable) nothing, silently
                self._warn(f"vecrender: warning: {variable} names {', '.join(map(repr, unknown))}, but no installed "
                           f"plugin has that entry point (installed entry points: {listed}).")

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its CLI commands; a failing plugin is reported and skipped, and a
        command whose name is taken (a built-in one or another plugin's) is refused."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            info = self.plugins.get(impl.plugin_name) or PluginInfo(impl.plugin_name, None, None)
            before = dict(cli.commands)
            try:
                impl.function(cli=cli)
            except Exception as exc:
                cli.commands.clear()  # drop what it added before failing
                cli.commands.update(before)
                self._fail(info, impl.plugin, exc)
                continue
            self._keep_untaken_commands(cli, before, info)

    def _keep_untaken_commands(self, cli: Any, before: dict[str, Any], info: PluginInfo) -> None:
        """Put back every command `info`'s hook replaced, unless it was the plugin's own."""
        for name, command in list(cli.commands.items()):
            old = before.get(name)
            if command is old:
                continue
            owner = _COMMAND_OWNERS.get(old) if old is not None else info.name
            if owner == info.name:  # new, or the plugin adding its own command again (build_cli twice)
                _COMMAND_OWNERS[command] = info.name
                continue
            cli.commands[name] = old
            taken_by = (f"plugin {self.plugins[owner].label}" if owner in self.plugins else
                        f"plugin {owner!r}" if owner else "vecrender itself")
            clash = f"plugin {info.label} adds the command {name!r}, which {taken_by} already provides"
            fix = f"Rename it in the plugin (e.g. @cli.command(name=\"{info.name}-{name}\"))."
            self._problem(f"{clash}. {fix}" if self.strict else f"{clash}; the plugin's command is skipped. {fix}")

    def plugin_versions(self) -> dict[str, str | None]:
        """Distribution -> version of every loaded plugin (recorded in resolved recipes)."""
        out = {}
        for info in self.plugins.values():
            if info.error is None and info.distribution:
                out[info.distribution] = info.version
        return dict(sorted(out.items()))

    # -- blame -------------------------------------------------------------------------------
    def culprit(self, exc: BaseException) -> Culprit | None:
        """The external plugin whose code raised `exc`: the innermost traceback frame in a loaded
        plugin's package (its entry-point module's or a registered component's); None when no
        plugin code is involved (a vecrender bug)."""
        packages = self._plugin_packages()
        frames = list(traceback.walk_tb(exc.__traceback__))[::-1]  # innermost first
        for i, (frame, lineno) in enumerate(frames):
            info = packages.get(_module_name(frame).split(".")[0])
            if info is None:
                continue
            owned = [f for f, _ in frames[i:] if packages.get(_module_name(f).split(".")[0]) is info]
            return Culprit(info, _component_of(owned), _location(frame, lineno))
        return None

    def _plugin_packages(self) -> dict[str, PluginInfo]:
        packages: dict[str, PluginInfo] = {}
        for info in self.plugins.values():
            if info.builtin or info.error:
                continue
            modules = [getattr(e.obj, "__module__", None) for e in self.registry.of_plugin(info.name)]
            for module in [info.module, *modules]:
                top = (module or "").split(".")[0]
                if top and top != "vecrender":  # the core is never a plugin's code
                    packages.setdefault(top, info)
        return packages


def error_text(exc: BaseException, module: str | None = None) -> str:
    """One line for an exception from plugin code, with the plugin's file and line when known:
    ``NameError: name 'flaot' is not defined (inkwell/plugin.py:12)``."""
    if isinstance(exc, PluginError):
        return str(exc)  # our own message already names the component
    if isinstance(exc, pluggy.PluginValidationError):
        return _hook_mistake(exc)
    text = f"{type(exc).__name__}: {exc}"
    package = (module or "").split(".")[0]
    for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__))):
        if package and _module_name(frame).split(".")[0] == package:
            return f"{text} ({_location(frame, lineno)})"
    return text


def _hook_mistake(exc: pluggy.PluginValidationError) -> str:
    """pluggy's report of a hook that is not vecrender's (a misspelt name) or that declares an
    argument the hook does not pass, said in vecrender's terms."""
    hooks = sorted([*REGISTER_HOOKS, "register_commands"])
    unknown = re.search(r"unknown hook '([^']+)'", str(exc))
    if unknown:
        name = unknown.group(1)
        kinds = {hook.removeprefix("register_"): hook for hook in hooks}  # compared without the common prefix
        match = closest(name.removeprefix("register_"), kinds, n=1)
        hint = f" (did you mean {kinds[match[0]]!r}?)" if match else ""
        return (f"unknown hook {name!r}{hint}: vecrender's hooks are {', '.join(hooks)} (see the hook reference, "
                f"docs/plugins/hooks.md).")
    hook = re.search(r"for hook '([^']+)'", str(exc))
    name = hook.group(1) if hook else "a hook"
    argument = "cli" if name == "register_commands" else "register"
    return f"{name} declares arguments the hook does not pass: declare it as def {name}({argument})."


def _module_of(plugin: Any) -> str | None:
    """The module a plugin object's code lives in (a plugin is usually a module)."""
    name = getattr(plugin, "__name__" if isinstance(plugin, ModuleType) else "__module__", None)
    return name if isinstance(name, str) else None


def _module_name(frame: FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else ""


def _location(frame: FrameType, lineno: int) -> str:
    """'inkwell/losses.py:12': the file from its package down, and the line."""
    module, path = _module_name(frame), Path(frame.f_code.co_filename)
    depth = module.count(".") + 1 + (path.name == "__init__.py")
    return f"{'/'.join(path.parts[-depth:])}:{lineno}"


def _component_of(frames: list[FrameType]) -> str | None:
    """The component (``loss 'inkwell.darkness'``) whose method the first of `frames` runs in."""
    for frame in frames:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Component) and owner.name:
            return f"{owner.kind} {owner.name!r}"
    return None


def _load_order(ep: Any) -> tuple[bool, str, str]:
    """The bundles first, then by entry-point name; a name two distributions share by distribution,
    so which one loads never depends on the order the environment lists them in."""
    dist = getattr(ep, "dist", None)
    dist_name = normalized_distribution(dist.name) if dist is not None else ""
    return dist_name not in BUNDLED_DISTRIBUTIONS, ep.name, dist_name


def normalized_distribution(name: str) -> str:
    """A distribution's name as packaging compares them (``Vecrender_Losses`` is ``vecrender-losses``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_text(info: PluginInfo, with_version: bool = True) -> str:
    if info.distribution is None:
        return "a distribution of unknown name"
    return info.distribution + (f" {info.version}" if info.version and with_version else "")


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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def create_host(debug: bool = False) -> PluginHost:
    """A host with built-ins and the external plugins the environment selects."""
    host = PluginHost(strict=_env_flag("VECRENDER_STRICT_PLUGINS"),
                      debug=debug or _env_flag("VECRENDER_DEBUG"))
    host.load_builtins()
    host.load_entry_points(only=_env_set("VECRENDER_LOAD_PLUGINS"),
                           disabled=_env_set("VECRENDER_DISABLE_PLUGINS") or set())
    return host


_HOST: PluginHost | None = None


def get_host(debug: bool = False) -> PluginHost:
    """The process-wide plugin host, created on first use (`debug`: with load tracebacks)."""
    global _HOST
    if _HOST is None:
        _HOST = create_host(debug)
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
