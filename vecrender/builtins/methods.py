"""Built-in methods, registered through the same hooks as any plugin: ``painterly``.

A method is data: its recipe ships as a YAML file inside the package, read with importlib.resources.
"""

from __future__ import annotations

from importlib.resources import files

from vecrender import hookimpl
from vecrender.components import Method


@hookimpl
def register_methods(register) -> None:
    register(Method(
        name="painterly",
        description="Colored strokes fitted to an image with an L2 pixel loss (offline, no model weights).",
        recipe=files("vecrender") / "methods" / "painterly.yaml",
    ))
