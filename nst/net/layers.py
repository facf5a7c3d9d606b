"""Keras layers the project's own networks share (the feed-forward transformers, the decoders).

Registered under the package name "nst", as the saved networks name them.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nst")
class ReflectionPad(keras.layers.Layer):
    """Pad height and width by mirroring the image (the edge pixel itself is not repeated)."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

    def compute_output_shape(self, shape):
        def grow(n):
            return None if n is None else n + 2 * self.pad

        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "pad": self.pad}
