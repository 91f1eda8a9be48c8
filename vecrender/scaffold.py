"""`vecrender new-plugin`: create a plugin project that passes its own tests once installed.

The project has a ``pyproject.toml`` with the ``vecrender`` entry point, a package with a
``plugin.py`` (the hook implementations) and one working component of the chosen kind, a README and
tests written with :mod:`vecrender.testing`. Templates live in ``vecrender/templates/<kind>/`` and
``vecrender/templates/common/`` as ``*.tmpl`` files filled with :class:`string.Template`.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path
from string import Template

from vecrender.errors import VecrenderError
from vecrender.io import atomic_write_text

KINDS = ("loss", "method", "renderer", "initializer")

# kind -> (component short name, file in the package holding it)
_COMPONENTS = {
    "loss": ("darkness", "losses.py"),
    "method": ("sketch", "sketch.yaml"),
    "renderer": ("silhouette", "renderers.py"),
    "initializer": ("grid", "initializers.py"),
}

_USAGE = {
    "loss": "Add the loss to any recipe (a user's YAML file or your own method):\n\n"
            "```yaml\nextends: painterly\nlosses:\n"
            "  - {use: $component, label: darkness, weight: 0.1, power: 2.0}\n```\n\n"
            "then `vecrender run my_recipe.yaml --input photo.png --set losses.darkness.weight=0.3`.",
    "method": "```bash\nvecrender run $component --input photo.png\n```\n\n"
              "or start your own recipe with `extends: $component`.",
    "renderer": "Select it in a recipe:\n\n"
                "```yaml\nextends: painterly\nrenderer: {use: $component, gray: 0.2}\n```",
    "initializer": "Select it in a recipe:\n\n"
                   "```yaml\nextends: painterly\ninitializer: {use: $component, segments: 2}\n```",
}

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*$")


class ScaffoldError(VecrenderError):
    """The plugin name or target directory cannot be used."""


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin project uses.

    dist: the distribution (``pip install``) name, as given: ``vecrender-inkwell``.
    package: the import package: ``vecrender_inkwell``.
    prefix: the entry-point name and component prefix: ``inkwell`` (a leading ``vecrender_`` is
        dropped, so component names read ``inkwell.darkness``).
    """

    dist: str
    package: str
    prefix: str


def plugin_names(name: str) -> PluginNames:
    """Validate a plugin name and derive the package and prefix names; ScaffoldError if invalid."""
    if not _NAME_RE.match(name or ""):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use letters, digits and single '-', '_' or '.' "
            f"separators, starting with a letter (for example 'inkwell' or 'vecrender-inkwell')."
        )
    package = re.sub(r"[-.]", "_", name).lower()
    if keyword.iskeyword(package):
        raise ScaffoldError(f"invalid plugin name {name!r}: {package!r} is a Python keyword.")
    if _importable(package):
        raise ScaffoldError(
            f"plugin name {name!r} would create the package {package!r}, but a module of that name "
            f"is already importable (standard library or installed); choose another name, for "
            f"example {'my-' + name if package.startswith('vecrender_') else 'vecrender-' + name!r}."
        )
    prefix = package[len("vecrender_"):] if package.startswith("vecrender_") else package
    owner = _entry_point_owner(prefix)
    if owner is not None:  # two entry points of one name cannot both load
        raise ScaffoldError(
            f"plugin name {name!r} would use the entry point {prefix!r}, which the installed "
            f"distribution {owner} already uses; choose another name, for example 'my-{name}'."
        )
    return PluginNames(dist=name, package=package, prefix=prefix)


def _entry_point_owner(prefix: str) -> str | None:
    """The installed distribution whose ``vecrender`` entry point is named `prefix`, if any."""
    for ep in entry_points(group="vecrender"):
        if ep.name == prefix:
            dist = getattr(ep, "dist", None)
            return repr(dist.name) if dist is not None else "(unknown)"
    return None


def _importable(package: str) -> bool:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return False
    # A bare directory of that name in the current directory is a namespace package: not a clash.
    return spec is not None and spec.origin is not None


def create_plugin(name: str, kind: str = "loss", directory: Path | None = None) -> list[Path]:
    """Write a plugin project for `name` into `directory` (default ``./<name>``).

    Returns the written files. Refuses to write into an existing non-empty directory.
    """
    if kind not in KINDS:
        raise ScaffoldError(f"unknown plugin kind {kind!r}; choose from {', '.join(KINDS)}.")
    names = plugin_names(name)
    root = Path(directory) if directory is not None else Path(name)
    _check_target(root)
    values = _template_values(names, kind)
    written = []
    for relative, template in _project_files(names, kind):
        path = root / relative
        atomic_write_text(path, Template(template).substitute(values))
        written.append(path)
    return written


def component_name(name: str, kind: str) -> str:
    """The name of the component a new project of this kind starts with (``inkwell.darkness``)."""
    return f"{plugin_names(name).prefix}.{_COMPONENTS[kind][0]}"


def _check_target(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"cannot create the plugin in {root}: it exists and is not a directory.")
    if root.is_dir() and any(root.iterdir()):
        raise ScaffoldError(
            f"refusing to write into {root}: the directory is not empty. Choose another directory "
            f"with --dir, or remove it first."
        )


def _template_values(names: PluginNames, kind: str) -> dict[str, str]:
    from vecrender import __version__

    component = f"{names.prefix}.{_COMPONENTS[kind][0]}"
    values = {
        "dist": names.dist,
        "package": names.package,
        "prefix": names.prefix,
        "kind": kind,
        "component": component,
        "vecrender_version": __version__,
    }
    values["layout"] = _layout(names, kind, component)
    values["usage"] = Template(_USAGE[kind]).substitute(values)
    return values


def _layout(names: PluginNames, kind: str, component: str) -> str:
    rows = [
        ("pyproject.toml", f'entry point: [project.entry-points.vecrender] {names.prefix} = "{names.package}.plugin"'),
        (f"{names.package}/plugin.py", "the hook implementations (keep its imports cheap)"),
        (f"{names.package}/{_COMPONENTS[kind][1]}", f"the {kind} {component}"),
        ("tests/test_plugin.py", "installed + contract checks, with vecrender.testing"),
    ]
    width = max(len(path) for path, _ in rows) + 2
    return "\n".join(path.ljust(width) + note for path, note in rows)


def _project_files(names: PluginNames, kind: str) -> list[tuple[str, str]]:
    """(path in the project, template text) of every file of a `kind` project."""
    templates = files("vecrender") / "templates"
    common, specific = templates / "common", templates / kind
    component_file = _COMPONENTS[kind][1]
    return [
        ("pyproject.toml", (common / "pyproject.toml.tmpl").read_text(encoding="utf-8")),
        ("README.md", (common / "README.md.tmpl").read_text(encoding="utf-8")),
        (".gitignore", (common / "gitignore.tmpl").read_text(encoding="utf-8")),
        (f"{names.package}/__init__.py", (common / "__init__.py.tmpl").read_text(encoding="utf-8")),
        (f"{names.package}/plugin.py", (specific / "plugin.py.tmpl").read_text(encoding="utf-8")),
        (f"{names.package}/{component_file}",
         (specific / f"{component_file}.tmpl").read_text(encoding="utf-8")),
        ("tests/test_plugin.py", (specific / "test_plugin.py.tmpl").read_text(encoding="utf-8")),
    ]
