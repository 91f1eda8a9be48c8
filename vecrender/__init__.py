"""vecrender: plugin-based differentiable vector graphics.

The public API: component base classes, the scene model, the hook marker and config helpers.
Importing this package loads no plugin and no model.
"""

from __future__ import annotations

import pluggy

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
from vecrender.config import option
from vecrender.errors import ConfigError, VecrenderError, VecrenderWarning, WeightsNotFoundError
from vecrender.scene import VectorScene

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("vecrender")

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
