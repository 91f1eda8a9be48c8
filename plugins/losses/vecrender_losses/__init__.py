"""vecrender-losses: losses, initializers and methods that combine with any vecrender bundle.

Importing this package loads no model: CLIP, LPIPS and their libraries are imported when a run
builds the component that needs them.
"""

__version__ = "0.1.0"
