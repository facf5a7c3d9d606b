"""Masks for regional style transfer ("Show, Divide and Neural: Weighted Style Transfer").

A mask is a grey image: white (1) where a style applies, black (0) where it does not, soft values
in between. Style masks (one per style) restrict each style's Gram matrices to its region; the
statistics are averaged over the region's (weighted) area, so a style painted onto half the
picture is as strong there as a style painted everywhere. A content mask marks the region to be
stylised at all: outside it no style applies and the content loss weighs ``KEEP_WEIGHT`` times as
much, so the masked-out region stays close to the original.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np
from PIL import Image

from nst import images
from nst.errors import ImageError

KEEP_WEIGHT = 10.0


@functools.lru_cache(maxsize=32)
def _load_mask_cached(path: str) -> np.ndarray:
    im = images.open_image(path, what="mask")
    mask = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    if mask.max() <= 1.0 / 255.0:
        raise ImageError(
            f"mask {path} is entirely black, so its style would apply nowhere; paint the region "
            "white."
        )
    return mask


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask file as a (H, W) float32 array in [0, 1]."""
    return _load_mask_cached(os.fspath(path))


def fit_mask(
    mask: np.ndarray, shape, name: str = "mask", log: Callable[[str], None] | None = None
) -> np.ndarray:
    """Resize a mask to (h, w); a different aspect ratio is allowed, with a warning."""
    h, w = shape
    if mask.shape == (h, w):
        return mask
    aspect_mask, aspect_image = mask.shape[1] / mask.shape[0], w / h
    if log is not None and abs(aspect_mask / aspect_image - 1) > 0.01:
        log(
            f"warning: {name} is {mask.shape[1]}x{mask.shape[0]}, the image {w}x{h}; the mask is "
            "stretched to fit."
        )
    resized = Image.fromarray(mask, "F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def masks_for(settings, n_styles: int, shape, full_shape, log) -> tuple[list | None, object]:
    """(per-style masks or None, content-loss weight map or None) at the output ``shape``."""
    warn = log if tuple(shape) == tuple(full_shape) else None
    style_masks = None
    if settings.style_masks:
        style_masks = [
            fit_mask(load_mask(p), shape, f"style mask {p}", warn) for p in settings.style_masks
        ]
    weight_map = None
    if settings.content_mask:
        region = fit_mask(
            load_mask(settings.content_mask), shape, f"content mask {settings.content_mask}", warn
        )
        style_masks = [
            region * (m if m is not None else 1.0) for m in style_masks or [None] * n_styles
        ]
        weight_map = region + (1.0 - region) * KEEP_WEIGHT
    return style_masks, weight_map


def mask_blend(stylised: np.ndarray, content: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Stylised image where the mask is white, the content where it is black, blended between."""
    content = images.resize(content, stylised.shape[:2])
    m = fit_mask(mask, stylised.shape[:2])[..., None]
    return stylised * m + content * (1.0 - m)
