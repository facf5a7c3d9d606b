"""Feed-forward networks at any size: overlapping tiles with thumbnail instance normalisation.

Instance normalisation takes each channel's mean and variance over the whole image; computed per
tile, every tile would get its own look. Chen et al. (2022, "Towards ultra-resolution neural
style transfer via thumbnail instance normalization") take them from a thumbnail of the whole
input instead and normalise every tile with them: :func:`thumbnail_statistics` runs the network
once on the input resized to ``thumbnail`` pixels (the input itself when it is no larger) and
keeps every normalisation layer's statistics; :func:`stylize_tiled` then runs the network on
overlapping tiles with those fixed, keeping each tile's core.

Everything else in the network is local, so with the statistics fixed a core pixel sees what it
sees in the whole image when the tile carries ``HALO`` pixels of context: the reflection padding
at a tile's edge spreads one position per convolution (4 at the 9x9 layers), halved and doubled
by the strides and upsamplings: 55 px for the transformer, rounded up to 64. With the thumbnail
the input itself, the tiled output is the whole-image output.
"""

from __future__ import annotations

import contextlib
import math
import weakref

import numpy as np

from nst import images
from nst.feedforward.network import InstanceNormalization

HALO = 64  # context pixels per side (a multiple of 4, the network's total stride)
ALIGN = 4
DEFAULT_TILE = 2048  # a 2176 px padded tile: the halos add 13 % to the pixels, 1024 px tiles 27 %
DEFAULT_THUMBNAIL = (
    2048  # the statistics at 2048 px: exact up to there (bench/results/fast_tiled.md)
)
# peak bytes per pixel of one whole-image forward pass: the shipped width-16 networks measured
# 0.9 / 2.1 GiB for one 1024 / 2048 px image (docs/fast.md), about 410 bytes per pixel; a third
# more for wider ones. The whole image goes in tiles when it would pass the budget.
BYTES_PER_PIXEL = 560.0

_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FIXED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def norm_layers(model) -> list[InstanceNormalization]:
    return [layer for layer in model.layers if isinstance(layer, InstanceNormalization)]


def _pad4(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    if h % ALIGN == 0 and w % ALIGN == 0:
        return arr  # no copy: at 12000 x 8000 px each float32 copy is 1.1 GiB
    return np.pad(arr, ((0, -h % ALIGN), (0, -w % ALIGN), (0, 0)), mode="reflect")


def thumbnail_statistics(model, image: np.ndarray, thumbnail: int = DEFAULT_THUMBNAIL) -> list:
    """Every instance-normalisation layer's (mean, variance), shape (1, 1, 1, C) each, of the
    network run on ``image`` resized to ``thumbnail`` px on its longest side (no larger than
    the image). One ordinary forward pass in which each layer writes its statistics into a
    variable as it goes, so its peak memory is a plain pass's."""
    import tensorflow as tf

    arr = np.asarray(image, np.float32)
    if max(arr.shape[:2]) > thumbnail:
        arr = images.resize_longest(arr, thumbnail)
    layers = norm_layers(model)
    if model not in _STATS:
        variables = [
            (
                tf.Variable(tf.zeros((1, 1, 1, layer.gamma.shape[0])), trainable=False),
                tf.Variable(tf.ones((1, 1, 1, layer.gamma.shape[0])), trainable=False),
            )
            for layer in layers
        ]
        for layer, pair in zip(layers, variables, strict=True):
            layer.record = pair
        try:
            forward = tf.function(
                lambda x: model(x, training=False)[0, 0, 0],
                input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)],
                autograph=False,
            )
            forward.get_concrete_function()  # traced now, while the layers record
        finally:
            for layer in layers:
                layer.record = None
        _STATS[model] = (variables, forward)
    variables, forward = _STATS[model]
    forward(tf.constant(_pad4(arr)[None]))
    return [(m.numpy(), v.numpy()) for m, v in variables]


@contextlib.contextmanager
def _fixed(model, stats):
    """The network with every normalisation layer using ``stats`` (its traced forward)."""
    import tensorflow as tf

    layers = norm_layers(model)
    if model not in _FIXED:
        variables = [
            (tf.Variable(m, trainable=False), tf.Variable(v, trainable=False)) for m, v in stats
        ]
        for layer, pair in zip(layers, variables, strict=True):
            layer.fixed = pair
        try:
            forward = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)],
                autograph=False,
            )
            forward.get_concrete_function()  # traced now, while the layers read the variables
        finally:
            for layer in layers:
                layer.fixed = None
        _FIXED[model] = (variables, forward)
    variables, forward = _FIXED[model]
    for (mv, vv), (m, v) in zip(variables, stats, strict=True):
        mv.assign(m)
        vv.assign(v)
    yield forward


def tile_boxes(shape: tuple[int, int], tile: int, halo: int = HALO):
    """(core, padded) boxes (top, bottom, left, right) of tiles of ``tile`` px covering
    ``shape`` (a multiple of 4 on both sides), padded by ``halo`` within it."""
    core = max(ALIGN, tile // ALIGN * ALIGN)
    h, w = shape

    def spans(n):
        edges = list(range(0, n, core))
        if len(edges) > 1 and n - edges[-1] < 2 * halo:  # no thin last tile: join it
            edges.pop()
        return list(zip(edges, edges[1:] + [n], strict=True))

    for y0, y1 in spans(h):
        for x0, x1 in spans(w):
            yield (
                (y0, y1, x0, x1),
                (max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)),
            )


def stylize_tiled(
    model,
    image: np.ndarray,
    tile: int = DEFAULT_TILE,
    thumbnail: int = DEFAULT_THUMBNAIL,
    halo: int = HALO,
) -> np.ndarray:
    """Stylise an (H, W, 3) array in [0, 255] tile by tile with thumbnail statistics; float32
    RGB of the same size (not clipped)."""
    import tensorflow as tf

    arr = np.asarray(image, np.float32)
    h, w = arr.shape[:2]
    stats = thumbnail_statistics(model, arr, thumbnail)
    padded = _pad4(arr)
    out = np.empty(padded.shape, np.float32)
    with _fixed(model, stats) as forward:
        for (y0, y1, x0, x1), (py0, py1, px0, px1) in tile_boxes(padded.shape[:2], tile, halo):
            part = forward(tf.constant(padded[None, py0:py1, px0:px1]))
            out[y0:y1, x0:x1] = np.asarray(part)[0, y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    return out[:h, :w]


def needs_tiles(shape: tuple[int, int], budget_bytes: float) -> bool:
    """Whether a whole-image pass of an image of ``shape`` would pass ``budget_bytes``."""
    return BYTES_PER_PIXEL * math.prod(shape) > budget_bytes
