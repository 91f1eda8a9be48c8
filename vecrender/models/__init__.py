"""Pretrained models shared by components (CLIP through open_clip, imported lazily).

See :mod:`vecrender.models.clip`. Nothing here imports open_clip at import time.
"""
