"""The VGG feature extractor: pretrained conv layers, chosen pooling, named outputs.

The network is built as deep as the deepest requested layer (nothing past conv5_1 is computed
for Gatys' layers), takes RGB images in [0, 255] and does the Caffe preprocessing (RGB -> BGR,
minus the training mean) inside the graph, so the optimised variable stays a plain image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst.errors import SettingsError
from nst.net.weights import CHANNELS, file_digest, model_spec, read_conv_weights, resolve_weights

# Per-channel means (BGR) the networks were trained with.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)


def validate_layers(names, model: str, what: str) -> tuple[str, ...]:
    valid = model_spec(model).conv_layers
    names = tuple(names)
    bad = [n for n in names if n not in valid]
    if bad or not names:
        shown = ", ".join(bad) if bad else "(none)"
        raise SettingsError(
            f"unknown {what} layer(s) {shown} for {model}; valid layers are {', '.join(valid)}."
        )
    return names


@dataclass
class WeightsInfo:
    model: str
    path: str
    sha256: str


class VGGFeatures:
    """Callable ``image (1, H, W, 3) in [0, 255] -> {layer name: activations}``.

    ``layers`` are user names like ``conv4_2`` (outputs after ReLU, as in the papers).
    """

    def __init__(
        self,
        model: str = "vgg19",
        layers=("conv4_2",),
        *,
        pooling: str = "avg",
        weights: str | Path | None = None,
    ):
        import keras

        spec = model_spec(model)
        self.layers = validate_layers(layers, model, "network")
        path = resolve_weights(model, weights)
        params = read_conv_weights(path, spec)
        self.weights = WeightsInfo(model, str(path), file_digest(path))
        mean_bgr = HED_MEAN_BGR if model == "vgg16-hed" else CAFFE_MEAN_BGR

        order = spec.conv_layers
        deepest = max(order.index(n) for n in self.layers)
        inputs = keras.Input(shape=(None, None, 3), name="image")
        mean = np.array(mean_bgr, dtype=np.float32)
        x = keras.layers.Lambda(lambda t: t[..., ::-1] - mean, name="caffe_preprocess")(inputs)
        outputs = {}
        Pool = keras.layers.AveragePooling2D if pooling == "avg" else keras.layers.MaxPooling2D
        for name in order[: deepest + 1]:
            block, conv = (int(v) for v in name[4:].split("_"))
            if conv == 1 and block > 1:
                x = Pool(2, strides=2, name=f"block{block - 1}_pool")(x)
            layer = keras.layers.Conv2D(
                CHANNELS[block - 1],
                3,
                padding="same",
                activation="relu",
                name=f"block{block}_conv{conv}",
            )
            x = layer(x)
            layer.set_weights(list(params[name]))
            if name in self.layers:
                outputs[name] = x
        self.model = keras.Model(inputs, outputs, name=f"{model}_features")
        self.model.trainable = False

    def __call__(self, image):
        return self.model(image, training=False)


_EXTRACTORS: dict = {}


def feature_extractor(settings, layers) -> VGGFeatures:
    """A cached :class:`VGGFeatures` for a run's network settings and layers (building one costs
    a weights read; a process keeps the last one)."""
    key = (settings.model, settings.weights, settings.pooling, settings.precision, tuple(layers))
    if key not in _EXTRACTORS:
        _EXTRACTORS.clear()
        _EXTRACTORS[key] = VGGFeatures(
            settings.model, layers, pooling=settings.pooling, weights=settings.weights
        )
    return _EXTRACTORS[key]
