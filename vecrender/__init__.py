"""vecrender: plugin-based differentiable vector graphics.

The public API: component base classes, the scene model, the hook marker and config helpers.
Importing this package loads no plugin and no model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

from vecrender.config import option
from vecrender.errors import ConfigError, VecrenderError, VecrenderWarning, WeightsNotFoundError

if TYPE_CHECKING:
    from vecrender.components import (
        Initializer,
        Loss,
        LossInput,
        Method,
        ModelCache,
        Optimizer,
        Preprocessor,
        Renderer,
        RunContext,
    )
    from vecrender.scene import VectorScene

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("vecrender")

# Names that need torch load on first use, so that ``vecrender`` (and the command line, which
# handles Ctrl-C from its first line on) starts without it.
_LAZY = {
    **dict.fromkeys(("Initializer", "Loss", "LossInput", "Method", "ModelCache", "Optimizer",
                     "Preprocessor", "Renderer", "RunContext"), "vecrender.components"),
    "VectorScene": "vecrender.scene",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vecrender' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ConfigError",
    "Initializer",
    "Loss",
    "LossInput",
    "Method",
    "ModelCache",
    "Optimizer",
    "Preprocessor",
    "Renderer",
    "RunContext",
    "VecrenderError",
    "VecrenderWarning",
    "VectorScene",
    "WeightsNotFoundError",
    "hookimpl",
    "option",
    "__version__",
]
