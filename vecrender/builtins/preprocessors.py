"""Built-in preprocessors, registered through the same hooks as any plugin."""

from __future__ import annotations

from vecrender import hookimpl  # noqa: F401
