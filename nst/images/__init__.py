"""Images: reading, writing and resizing (:mod:`.io`, whose names this package offers), colour
spaces and colour preservation (:mod:`.color`), masks for regional transfer (:mod:`.masks`)."""

from nst.images.io import (
    MAX_PIXELS,
    MIN_SIDE,
    check_size,
    load_image,
    open_image,
    resize,
    resize_longest,
    save_image,
    target_shape,
    to_rgb,
    to_uint8,
)

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "check_size",
    "load_image",
    "open_image",
    "resize",
    "resize_longest",
    "save_image",
    "target_shape",
    "to_rgb",
    "to_uint8",
]
