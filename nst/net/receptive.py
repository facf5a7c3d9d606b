"""Where a VGG layer's features sit in the image: strides, and how far a tile's edge reaches.

No TensorFlow here: the workflow plans memory (tiles, halos) while it builds its graph of jobs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nst.net.weights import model_spec


def block(layer: str) -> tuple[int, int]:
    """(block, convolution) of ``conv{b}_{c}``."""
    b, c = (int(v) for v in layer[4:].split("_"))
    return b, c


def stride(layer: str) -> int:
    """Input pixels per feature position of ``conv{b}_{c}``: 2^(b - 1)."""
    return 2 ** (block(layer)[0] - 1)


def alignment(layers: Sequence[str]) -> int:
    """Tiles start on multiples of this (the deepest layer's stride)."""
    return max(stride(k) for k in layers)


def halo(model: str, layers: Sequence[str]) -> int:
    """Pixels of context a tile needs on each side: how far the zero padding at its edge spreads
    into the deepest of ``layers`` (one position per convolution, halved by each pooling), in
    input pixels, rounded up to the alignment. 64 for VGG16's conv5_1, 80 for VGG19's."""
    deepest = max(model_spec(model).conv_layers.index(k) for k in layers)
    spread, previous = 0, 1
    for name in model_spec(model).conv_layers[: deepest + 1]:
        b, conv = block(name)
        if conv == 1 and b > previous:
            spread = math.ceil(spread / 2)  # a pooled position is spoilt if either input was
            previous = b
        spread += 1
    align = alignment(layers)
    return math.ceil(spread * stride(model_spec(model).conv_layers[deepest]) / align) * align
