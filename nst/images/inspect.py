"""Checking downloaded bytes before they become part of a dataset: fully decoded, a known format,
not a decompression bomb, not too small (:func:`inspect_image`; videos:
:func:`nst.video.clips.inspect_video`, which returns the same :class:`ImageInfo`)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from nst.errors import ImageError, clause
from nst.images.io import MIN_SIDE

FORMAT_EXT = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
FORMAT_EXT |= {"TIFF": "tif", "BMP": "bmp"}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    ext: str
    width: int
    height: int


def inspect_image(data: bytes, *, what: str, max_pixels: int, content_type: str = "") -> ImageInfo:
    """Decode ``data`` fully; raise :class:`ImageError` unless it is a sane, complete image."""
    bomb = (
        f"{what} is larger than the pixel limit of {max_pixels} pixels (a decompression bomb or "
        "a huge scan); raise http.max_pixels or choose a smaller image."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                fmt = im.format or ""
                if width * height > max_pixels:
                    raise ImageError(
                        bomb.replace("larger than", f"{width}x{height} pixels, more than")
                    )
                im.load()
    except Image.DecompressionBombError:
        raise ImageError(bomb) from None
    except UnidentifiedImageError:
        looks_html = data.lstrip()[:1] == b"<" or "html" in content_type.lower()
        hint = " (it looks like an HTML page)" if looks_html else ""
        served = f", served as {content_type.split(';')[0]}" if content_type else ""
        raise ImageError(
            f"{what} is not an image Pillow can decode{hint}{served}; point the source at the "
            "image file itself."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(
            f"{what} is truncated or corrupt ({clause(exc)}); use another copy of the image."
        ) from None
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{what} is only {width}x{height} pixels; images need at least {MIN_SIDE} px a side, "
            "so choose a larger one."
        )
    return ImageInfo(fmt, FORMAT_EXT.get(fmt, fmt.lower() or "img"), width, height)
