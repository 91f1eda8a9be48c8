"""Entry point of vecrender-example: the hook implementations.

vecrender imports this module at start-up, so it only imports light modules; a loss that needs a
big model would import it inside its own methods.
"""

from __future__ import annotations

from pathlib import Path

import vecrender
from vecrender_example.losses import InkBudget


@vecrender.hookimpl
def register_losses(register):
    register(InkBudget)


@vecrender.hookimpl
def register_methods(register):
    register(vecrender.Method(
        name="example.ink_sketch",
        description="Painterly under an ink budget: the same pixel fit with less ink on the canvas.",
        recipe=Path(__file__).with_name("ink_sketch.yaml"),
    ))
