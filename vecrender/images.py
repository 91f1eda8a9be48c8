"""Image input and output: any Pillow format in, float tensors in [0, 1]; atomic PNG out.

``load_image`` turns every image Pillow can read into RGB ``[1, 3, H, W]`` float32 in [0, 1]:
transparency (RGBA, LA, palette or grayscale with a transparent color, 16-bit too) is composited
over white, 16-bit grayscale (modes ``I;16*``) is scaled from 0-65535, and the EXIF orientation is
applied. 32-bit integer grayscale (mode ``I``: 32-bit TIFFs, ``convert("I")`` of 8-bit data) does
not say which range its values use, so it is scaled by the smallest of 0-255, 0-65535 and
0-(2^31 - 1) that holds its largest value (negative values are black). Floating-point grayscale
(mode ``F``) is read as 0-1, 0-255 or 0-65535 data, the smallest range whose double holds its
largest value (so a 0-1 image that overshoots a little, as resampling does, stays 0-1, and what
overshoots is white); larger values are scaled by the largest. NaN or infinite pixels are refused.
Problems become :class:`~vecrender.errors.InputImageError` with one line naming the file and what
to do; Pillow's warnings about a file (corrupt EXIF data, ...) become
:class:`~vecrender.errors.InputImageWarning` naming it. Pillow's decompression-bomb guard
(``PIL.Image.MAX_IMAGE_PIXELS``) is kept; the environment variable ``VECRENDER_MAX_IMAGE_PIXELS``
raises (or, with 0, removes) the limit for trusted files.
:func:`check_pixels` applies the same limit to anything vecrender would allocate at a size a user
chooses (a canvas, a padded image, a rendered SVG).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from vecrender.errors import InputImageError, InputImageWarning, VecrenderError
from vecrender.io import atomic_write_bytes

T = TypeVar("T")
MAX_PIXELS_ENV = "VECRENDER_MAX_IMAGE_PIXELS"
_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: The ranges a mode "I" image may hold (8-, 16- and signed 32-bit data), smallest first.
_INT_RANGES = (255.0, 65535.0, 2.0**31 - 1)
#: The ranges a mode "F" image may hold, smallest first.
_FLOAT_RANGES = (1.0, 255.0, 65535.0)


def pixel_limit() -> int | None:
    """The largest accepted image in pixels: $VECRENDER_MAX_IMAGE_PIXELS, else Pillow's limit."""
    from PIL import Image

    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise InputImageError(f"{MAX_PIXELS_ENV}={raw!r} is not a whole number of pixels (>= 0; 0 = no "
                                  f"limit).")
        return value or None
    return Image.MAX_IMAGE_PIXELS


def load_image(path: str | Path) -> Tensor:
    """Read an image file as RGB ``[1, 3, H, W]`` float32 in [0, 1] (alpha composited over white)."""
    path = Path(path).expanduser()
    _check_path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = _open(path)
        try:
            frames = _decoding(path, lambda: getattr(image, "n_frames", 1))  # TIFF and GIF read every frame
            array = _decoding(path, lambda: _to_rgb_array(image))
        finally:
            image.close()
    for warning in caught:  # Pillow's about the file (corrupt EXIF data, ...): say which file
        if issubclass(warning.category, UserWarning) and f"{os.sep}PIL{os.sep}" in warning.filename:
            warnings.warn(f"input image {str(path)!r}: {warning.message}", InputImageWarning, stacklevel=2)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if frames > 1:
        warnings.warn(f"input image {str(path)!r} has {frames} frames; its first is used (export the frame you "
                      f"want to a PNG to use another).", InputImageWarning, stacklevel=2)
    if not np.isfinite(array).all():
        raise InputImageError(f"input image {str(path)!r} has NaN or infinite pixels; re-export it with finite "
                              "values (e.g. as an 8- or 16-bit PNG).")
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _decoding(path: Path, read: Callable[[], T]) -> T:
    """`read()`, with any decoding failure as InputImageError: Pillow's decoders raise many kinds of
    exception (IndexError, struct.error, ...) on corrupt data."""
    try:
        return read()
    except (MemoryError, VecrenderError):
        raise
    except Exception as exc:
        raise InputImageError(f"input image {str(path)!r} cannot be decoded ({type(exc).__name__}: {exc}); the "
                              "file may be corrupt or truncated: re-export it.") from None


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise InputImageError(f"input image {str(path)!r} is a directory; pass an image file "
                              "(PNG, JPEG, WebP, ...).")
    if not path.exists():
        raise InputImageError(f"input image {str(path)!r} does not exist; check the path.")
    if not path.is_file():  # a device, a pipe or a socket: reading it may never end
        raise InputImageError(f"input image {str(path)!r} is not a regular file; pass an image file "
                              "(PNG, JPEG, WebP, ...).")
    if not os.access(path, os.R_OK):
        raise InputImageError(f"input image {str(path)!r} is not readable (permission denied); fix its "
                              "permissions or copy it somewhere readable.")


def _open(path: Path) -> Any:
    """Open lazily (header only), enforcing the pixel limit before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    saved = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # checked below with our own limit and message
            image = Image.open(path)
    except UnidentifiedImageError:
        if path.stat().st_size == 0:
            raise InputImageError(f"input image {str(path)!r} is empty (0 bytes); was it copied or downloaded "
                                  "completely?") from None
        raise InputImageError(f"input image {str(path)!r} is not an image format Pillow can read; convert "
                              "it to PNG or JPEG.") from None
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's header parsers raise many kinds on corrupt data
        raise InputImageError(f"input image {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); the file "
                              "may be corrupt or truncated: re-export it.") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    width, height = image.size
    try:
        check_pixels(width, height, f"input image {str(path)!r}", "downscale it first (the canvas is much "
                     "smaller anyway), or if you trust the file")
    except InputImageError:
        image.close()
        raise
    return image


def check_pixels(width: int, height: int, what: str, advice: str,
                 error: type[VecrenderError] = InputImageError) -> None:
    """Raise `error` when `what`, ``width x height``, is over the pixel limit (:func:`pixel_limit`).

    `advice` is what to do instead, completed by "set $VECRENDER_MAX_IMAGE_PIXELS=N": memory for
    such a size runs out (or the process is killed) long before any clearer error could come.
    """
    limit = pixel_limit()
    pixels = width * height
    if limit is not None and pixels > limit:
        raise error(f"{what} is {width}x{height} = {pixels} pixels, over the safety limit of {limit} "
                    f"(decompression-bomb guard); {advice} set {MAX_PIXELS_ENV}={pixels} (0 = no limit).")


def _to_rgb_array(image: Any) -> np.ndarray:
    """``[H, W, 3]`` float32 in [0, 1] from any Pillow image."""
    from PIL import ImageOps

    image.load()
    return _convert(ImageOps.exif_transpose(image))


def _convert(image: Any) -> np.ndarray:
    mode = image.mode
    if mode in _16_BIT_MODES or mode in ("I", "F"):
        raw = np.asarray(image, dtype=np.float64)
        top = float(np.nanmax(raw, initial=0.0)) if raw.size else 0.0
        scale = 65535.0 if mode in _16_BIT_MODES else _int_range(top) if mode == "I" else _float_range(top)
        with np.errstate(invalid="ignore"):  # inf / inf: refused below as non-finite
            gray = np.clip(raw / scale, 0, 1)
        transparent = image.info.get("transparency")
        if isinstance(transparent, (int, float)):  # a grayscale PNG's transparent value (tRNS)
            gray[raw == transparent] = 1.0  # over white
        return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        return (rgba[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _int_range(top: float) -> float:
    """The full scale of mode "I" data whose largest value is `top`: the smallest of the 8-, 16- and
    32-bit ranges that holds it (a mode I image holds 8-bit data as often as 32-bit)."""
    return next((r for r in _INT_RANGES if top <= r), _INT_RANGES[-1])


def _float_range(top: float) -> float:
    """The full scale of mode "F" data whose largest value is `top` (see the module docstring)."""
    return next((r for r in _FLOAT_RANGES if top <= 2 * r), max(top, _FLOAT_RANGES[-1]))


def image_to_uint8(image: Tensor | np.ndarray) -> np.ndarray:
    """An image in [0, 1] -> ``[H, W, C]`` uint8 (rounded, clipped, NaN as 0).

    Tensors are channels-first: ``[1, C, H, W]``, ``[C, H, W]`` or ``[H, W]``; arrays are
    channels-last: ``[H, W, C]`` or ``[H, W]`` (uint8 arrays pass through). C is 1, 3 or 4.
    """
    if isinstance(image, Tensor):
        t = image.detach().cpu().float()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected a single image [1, C, H, W], got {list(t.shape)}")
            t = t[0]
        array = (t.permute(1, 2, 0) if t.dim() == 3 else t).numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image with 1, 3 or 4 channels, got shape {list(array.shape)}")
    if array.dtype == np.uint8:
        return array
    return np.round(np.clip(np.nan_to_num(array.astype(np.float64)), 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_png(image: Tensor | np.ndarray) -> bytes:
    """PNG bytes of an image in [0, 1] (gray, RGB or RGBA; RGBA is straight alpha)."""
    from PIL import Image

    array = image_to_uint8(image)
    if array.shape[2] == 1:
        array = array[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, image: Tensor | np.ndarray) -> None:
    """Write an image in [0, 1] as PNG, atomically (see :func:`image_to_uint8` for shapes)."""
    atomic_write_bytes(Path(path), encode_png(image))
