"""Reading, normalising, resizing and writing images.

Everything the engine sees is an RGB ``float32`` array of shape (H, W, 3) with values in
[0, 255]. Any mode Pillow reads is accepted: alpha is composited onto white, palette images are
expanded, CMYK is converted, 16-bit and float greyscale are scaled to 8 bits, and the EXIF
orientation of photos is applied.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.atomic import atomic_path
from nst.errors import ImageError

MIN_SIDE = 32
# Pillow warns at 89 Mpx and refuses at twice that; a style-transfer input never needs more.
MAX_PIXELS = 178_956_970


def open_image(
    path: str | os.PathLike,
    *,
    what: str = "image",
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Open ``path`` as an upright 8-bit RGB Pillow image, or raise :class:`ImageError`.

    Transparent parts are composited onto ``background`` (white; masks use black).
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{what} file not found: {p}.")
    if not p.is_file():
        raise ImageError(f"{what} path is not a file: {p}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                return to_rgb(im, background)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"cannot read {what} file {p}: it is not an image Pillow can decode "
            "(or it is larger than the pixel limit); replace it with a PNG or JPEG."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"cannot read {what} file {p}: {exc}; the file is truncated or corrupt."
        ) from None


def to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Convert a Pillow image of any mode to 8-bit RGB; transparency is composited on white."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16"):
            arr = arr / 257.0
        elif arr.size and arr.max() > 255:
            arr = arr * (255.0 / arr.max())
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode in ("L", "RGB") and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        im = Image.alpha_composite(base, rgba)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def check_size(im: Image.Image, path: str | os.PathLike, what: str = "image") -> None:
    if min(im.size) < MIN_SIDE:
        raise ImageError(
            f"{what} {path} is {im.size[0]}x{im.size[1]} pixels; both sides must be at least "
            f"{MIN_SIDE} px, so use a larger image."
        )


def load_image(path: str | os.PathLike, *, what: str = "image") -> np.ndarray:
    """Load an image file as a float32 RGB array in [0, 255], at least MIN_SIDE px a side."""
    im = open_image(path, what=what)
    check_size(im, path, what)
    return np.asarray(im, dtype=np.float32)


def target_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """(height, width) with the longest side equal to ``size`` and the aspect ratio kept."""
    if size is None:
        return height, width
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a float RGB array to (height, width) with Lanczos (per channel, no 8-bit rounding)."""
    h, w = shape
    if image.shape[:2] == (h, w):
        return image.astype(np.float32, copy=True)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), "F").resize(
                (w, h), Image.Resampling.LANCZOS
            )
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def resize_longest(image: np.ndarray, size: int | None) -> np.ndarray:
    return resize(image, target_shape(image.shape[0], image.shape[1], size))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_image(image: np.ndarray | Image.Image, path: str | os.PathLike) -> Path:
    """Write an image atomically; the format follows the file name's suffix (PNG by default)."""
    target = Path(path)
    im = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image), "RGB")
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    with atomic_path(target) as tmp:
        if fmt == "JPEG":
            im.save(tmp, fmt, quality=95)
        else:
            im.save(tmp, fmt)
    return target
