"""Strict Config dataclasses: documented fields, built from plain dicts with helpful errors.

Every component declares ``Config``, a dataclass whose fields use :func:`option`::

    @dataclass
    class Config:
        weight_decay: float = option(0.0, "L2 penalty added to every step.")

:func:`build_config` turns a dict from a recipe into that dataclass and rejects unknown keys
(suggesting the closest one), wrong types (naming field, expected type and value) and values
outside ``choices`` or bounds. Field annotations are limited to what YAML values can satisfy
(:data:`SUPPORTED_TYPES`); :func:`check_defaults` holds each default to its own field's rules.

A rule one field's bounds cannot state (an odd window, ``low <= high``, two lists of one length)
goes in the Config's ``__post_init__``, raising ``ValueError("option: what is wrong, got ...")``;
:func:`build_config` reports it as a ConfigError at the recipe place, like a bounds error::

    def __post_init__(self) -> None:
        if self.win_size % 2 == 0:
            raise ValueError(f"win_size: must be odd, got {self.win_size}.")
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, Union

from vecrender.errors import ConfigError, did_you_mean


def option(default: Any = MISSING, doc: str = "", *, choices: tuple | None = None,
           min: float | None = None, max: float | None = None, above: float | None = None) -> Any:
    """A documented Config field. Lists and dicts are copied per instance.

    ``min``/``max`` (inclusive) and ``above`` (exclusive) bound a number, or every number of a list.
    """
    metadata = {"doc": doc, "choices": choices, "bounds": (min, max, above)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class EmptyConfig:
    """A component with no options."""


@dataclass(frozen=True)
class FieldInfo:
    """What `vecrender describe` shows for one Config field."""

    name: str
    type: str
    default: Any
    doc: str
    choices: tuple | None
    bounds: str = ""


def describe_config(config_cls: type) -> list[FieldInfo]:
    """The fields of a Config dataclass with type, default and documentation."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        out.append(
            FieldInfo(
                name=f.name,
                type=type_name(hints[f.name]),
                default=default,
                doc=f.metadata.get("doc", ""),
                choices=f.metadata.get("choices"),
                bounds=bounds_text(f.metadata.get("bounds")),
            )
        )
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain (YAML-safe) dict of a Config instance."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def build_config(config_cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Validate `data` against `config_cls` and return an instance.

    `where` names the place in the recipe for error messages, e.g. ``"losses[0] (l2)"``.
    """
    data = dict(data or {})
    hints = typing.get_type_hints(config_cls)
    known = {f.name: f for f in dataclasses.fields(config_cls)}
    for key in data:
        if key not in known:
            valid = ", ".join(known) or "none"
            raise ConfigError(
                f"{where}: unknown option {key!r}{did_you_mean(key, known)}. Valid options: {valid}."
            )
    values = {name: check_value(value, known[name], hints[name], f"{where}.{name}")
              for name, value in data.items()}
    missing = [
        n for n, f in known.items()
        if n not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required option(s) {', '.join(missing)}.")
    return instantiate(config_cls, values, where)


def instantiate(config_cls: type, values: dict[str, Any], where: str) -> Any:
    """``config_cls(**values)``, a ValueError of its ``__post_init__`` reported as a ConfigError
    (``where.option: ...`` when the message starts with an option's name and a colon)."""
    try:
        return config_cls(**values)
    except ValueError as exc:
        text = str(exc).rstrip(".")
        named = text.partition(":")[0] in {f.name for f in dataclasses.fields(config_cls)}
        raise ConfigError(f"{where}.{text}." if named else f"{where}: {text}.") from None


def check_value(value: Any, f: dataclasses.Field, tp: Any, where: str) -> Any:
    """`value` coerced to field `f` (annotation `tp`), checked against its choices and bounds (for a
    list, each item)."""
    coerced = coerce(value, tp, where)
    choices = f.metadata.get("choices")
    for item in coerced if isinstance(coerced, list) and choices is not None else [coerced]:
        if choices is not None and item not in choices:  # a list's choices hold for each of its items
            raise ConfigError(
                f"{where}: {item!r} is not one of {', '.join(map(repr, choices))}"
                f"{did_you_mean(str(item), map(str, choices))}."
            )
    check_bounds(coerced, f.metadata.get("bounds"), where)
    return coerced


def check_interval(name: str, value: Sequence[float]) -> None:
    """A ``[low, high]`` option holds two numbers with ``low <= high`` (the field's own bounds
    limit each number); for a Config's ``__post_init__``."""
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name}: expected [low, high] with low <= high, got {list(value)}")


def check_defaults(config_cls: type) -> None:
    """Raise ConfigError when a field's default breaks its own type, choices or bounds, or the
    defaults together break the Config's ``__post_init__`` rules.

    A default is checked as a recipe value would be, so what ``describe`` shows and what
    ``recipe.resolved.yaml`` records can always be written back into a recipe.
    """
    hints = typing.get_type_hints(config_cls)
    defaults = {}
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default_factory is MISSING else f.default_factory()
        if default is not MISSING:
            defaults[f.name] = check_value(default, f, hints[f.name], f"default of {f.name}")
    if len(defaults) == len(dataclasses.fields(config_cls)):  # a required option has no default to check
        instantiate(config_cls, defaults, "defaults")


#: The annotations a Config field may use (what YAML values can satisfy), for error messages.
SUPPORTED_TYPES = ("bool, int, float, str, pathlib.Path, None, Any, Literal[...], unions (X | Y), "
                   "list[X], tuple[X, ...], tuple[X, Y] and dict[str, X]")
_SCALARS = (bool, int, float, str, Path, type(None), Any, list, dict)


def unsupported_type(tp: Any) -> Any:
    """The part of annotation `tp` no YAML value can satisfy (``torch.Tensor`` in
    ``list[torch.Tensor]``), or None when the whole annotation is supported."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal or any(tp is s for s in _SCALARS):
        return None
    if origin in (Union, types.UnionType, list, tuple):
        return next((bad for a in args if a is not Ellipsis and (bad := unsupported_type(a)) is not None),
                    None)
    if origin is dict:
        key, val = args if args else (str, Any)
        return key if key is not str else unsupported_type(val)
    return tp


def check_bounds(value: Any, bounds: tuple | None, where: str) -> None:
    """Raise ConfigError when a number (or a number in a list) is outside ``(min, max, above)``."""
    if not bounds or bounds == (None, None, None):
        return
    lo, hi, above = bounds
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        if (lo is not None and item < lo) or (hi is not None and item > hi) or (
                above is not None and item <= above):
            got = f"{item}" if item is value else f"{item} in {list(value)}"
            raise ConfigError(f"{where}: must be {bounds_text(bounds)}, got {got}.")


def bounds_text(bounds: tuple | None) -> str:
    """'>= 1', '> 0', 'in [0, 1]' for a (min, max, above) triple; '' when unbounded."""
    if not bounds:
        return ""
    lo, hi, above = bounds
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    parts = [f">= {lo}" if lo is not None else "", f"> {above}" if above is not None else "",
             f"<= {hi}" if hi is not None else ""]
    return " and ".join(p for p in parts if p)


def type_name(tp: Any) -> str:
    """Readable name of a type annotation: 'int', 'list[float]', 'str | None'."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against annotation `tp`; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise _type_error(where, tp, value)
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}"
            f"{did_you_mean(str(value), map(str, args))}."
        )
    if tp is type(None):
        if value is None:
            return None
        raise _type_error(where, tp, value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _type_error(where, tp, value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values ({type_name(tp)}), got {value!r}.")
            items = [coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(where, tp, value)
        key_tp, val_tp = args if args else (Any, Any)
        return {coerce(k, key_tp, where): coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(where, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(where, tp, value)
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.match(value.strip()):
            value = float(value)  # YAML 1.1 (yaml.safe_load) reads 1e-3 as a string
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _type_error(where, tp, value)
        number = float(value) if abs(value) < 1e308 else math.inf
        if not math.isfinite(number):  # no option means anything by NaN or infinity
            raise ConfigError(f"{where}: expected a finite number, got {value!r}.")
        if abs(number) > FLOAT32_MAX:  # it would meet float32 tensors as infinity
            raise ConfigError(f"{where}: {value!r} is beyond the float32 range a run computes in "
                              f"(magnitude at most {FLOAT32_MAX:.4g}).")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(where, tp, value)
    if tp is Path:  # YAML has no path type: a file option takes the text
        if isinstance(value, PurePath) or (isinstance(value, str) and value):
            return Path(value)
        raise _type_error(where, tp, value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _type_error(where, tp, value)


FLOAT32_MAX = 3.4028234663852886e38
_FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _type_error(where: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(
        f"{where}: expected {type_name(tp)}, got {value!r} ({type(value).__name__})."
    )
