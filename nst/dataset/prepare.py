"""Preparing a dataset image for transfer: upright, RGB, bounded size, PNG; its mask aligned.

A mask may have been drawn on the image as a viewer shows it (EXIF orientation applied) or on
the stored pixel grid: a mask whose size matches the stored grid of a rotated photo is rotated
with it; any other mask must have the upright image's aspect ratio and is resized to exactly the
prepared image's size.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from nst.atomic import atomic_path
from nst.errors import ImageError, SettingsError
from nst.images import MIN_SIDE, check_size, open_image, target_shape

# EXIF orientation -> the transposition that makes the stored pixels upright (as exif_transpose).
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
EXIF_ORIENTATION = 0x0112


def _stored_geometry(path: Path) -> tuple[tuple[int, int], int]:
    """(width, height) of the stored pixels and the EXIF orientation (1 when absent)."""
    with Image.open(path) as im:
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
        return im.size, orientation if orientation in ORIENTATION_TRANSPOSE else 1


def _open_mask(path: Path) -> Image.Image:
    """A mask as 8-bit greyscale; transparent parts count as unselected (black)."""
    return open_image(path, what="mask", background=(0, 0, 0)).convert("L")


def _check_png(path: Path, what: str) -> None:
    if path.suffix.lower() != ".png":
        raise SettingsError(f"{what} {path} must be a .png file; prepared images are PNG.")


def prepare_image(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    size: int,
    *,
    mask_src: str | os.PathLike | None = None,
    mask_dst: str | os.PathLike | None = None,
) -> dict:
    """Write ``src`` upright, as RGB, longest side at most ``size`` (never upscaled), as PNG.

    With ``mask_src`` the mask is written to ``mask_dst`` as a greyscale PNG of exactly the
    prepared image's size. Returns ``{"width": ..., "height": ...}`` of the prepared image.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIDE:
        raise SettingsError(f"size = {size!r} must be a whole number of at least {MIN_SIDE} px.")
    if (mask_src is None) != (mask_dst is None):
        raise SettingsError("a mask needs both mask_src and mask_dst; give both or neither.")
    src, dst = Path(src), Path(dst)
    _check_png(dst, "output")
    im = open_image(src)
    check_size(im, src)
    upright = im.size
    height, width = target_shape(upright[1], upright[0], min(size, max(upright)))
    if (width, height) != upright:
        im = im.resize((width, height), Image.Resampling.LANCZOS)

    mask = None
    if mask_src is not None:
        mask_src, mask_dst = Path(mask_src), Path(mask_dst)
        _check_png(mask_dst, "mask output")
        mask = _open_mask(mask_src)
        stored, orientation = _stored_geometry(src)
        if mask.size != upright and mask.size == stored and orientation != 1:
            mask = mask.transpose(ORIENTATION_TRANSPOSE[orientation])
        mw, mh = mask.size
        ratio = upright[0] / upright[1]
        if abs(mw / mh - ratio) > 0.02 * ratio:
            raise ImageError(
                f"mask {mask_src} is {mw}x{mh} pixels but image {src} is {upright[0]}x"
                f"{upright[1]}; the mask must have the image's shape."
            )
        if mask.size != (width, height):
            mask = mask.resize((width, height), Image.Resampling.BILINEAR)

    with atomic_path(dst) as tmp:
        im.save(tmp, "PNG")
    if mask is not None:
        with atomic_path(mask_dst) as tmp:
            mask.save(tmp, "PNG")
    return {"width": width, "height": height}
