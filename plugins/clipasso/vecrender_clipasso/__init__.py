"""vecrender-clipasso: CLIPasso (object sketching with CLIP) as vecrender components and a method.

Components: initializer ``clipasso.saliency``; losses ``clipasso.geometric``, ``clipasso.semantic``,
``clipasso.clip_vit``; preprocessor ``clipasso.u2net_mask``; method ``clipasso``.
"""

__version__ = "0.1.0"
