"""Decoders that invert the loss network's features: the universal (any-style) path's networks.

Li et al. (2017, "Universal style transfer via feature transforms") train, for each of several
encoder layers, a decoder that maps the layer's features back to the image, on natural images
only (pixel and feature reconstruction): a style then needs no training, only a transform of the
features (:mod:`nst.feedforward.transforms`) between the encoder and the decoder.

The decoder of level k (``conv{k}_1``, after its ReLU) mirrors the encoder's blocks k .. 1: a
convolution to the previous block's channels, a nearest-neighbour upsampling, that block's other
convolutions, and a last 3x3 convolution to RGB; reflection padding throughout, no
normalisation. ``width`` scales the channels of every inner convolution (1: the encoder's).
The file carries its encoder (network, weights' sha256, pooling), level, width and the record of
its training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
from keras import ops

from nst.errors import NSTError
from nst.net.layers import ReflectionPad
from nst.net.weights import CHANNELS, model_spec

DECODER_FORMAT = 1
DECODER_NAME = "nst_decoder"
LEVELS = (1, 2, 3, 4, 5)


def level_layer(level: int) -> str:
    """The encoder layer a level's decoder inverts: ``conv{level}_1`` (after its ReLU)."""
    if level not in LEVELS:
        raise NSTError(f"unknown level {level!r}; levels are {', '.join(map(str, LEVELS))}.")
    return f"conv{level}_1"


@keras.saving.register_keras_serializable(package="nst")
class DecoderOutput(keras.layers.Layer):
    """Pixels ``127.5 (x + 1)`` of the last convolution's output x (about [0, 255]; clipped where
    an image is made): the network works in units of half the pixel range. Carries the format
    and provenance."""

    def __init__(self, format_version: int = DECODER_FORMAT, info: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.format_version = int(format_version)
        self.info = dict(info or {})

    def call(self, x):
        return 127.5 * (ops.cast(x, "float32") + 1.0)

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "format_version": self.format_version, "info": json.dumps(self.info)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("info"), str):
            config["info"] = json.loads(config["info"])
        return cls(**config)


def _conv(x, filters: int, name: str, relu: bool = True):
    x = ReflectionPad(1, name=f"{name}_pad")(x)
    # He initialisation for the ReLU layers: with Glorot's the signal halves at every layer and
    # the deep decoders sat at the mean image for hundreds of steps
    return keras.layers.Conv2D(
        filters,
        3,
        activation="relu" if relu else None,
        kernel_initializer="he_normal" if relu else "glorot_uniform",
        name=f"{name}_conv",
    )(x)


def decoder_plan(
    model: str, level: int, width: float = 1.0, refine: int = 0
) -> list[tuple[str, int]]:
    """The decoder's layers in order: ("conv", channels), ("up", 0) and the last ("rgb", 3).

    ``refine`` adds that many convolutions of the first block's channels at the image's
    resolution before the last one (the level-1 decoder is otherwise one linear convolution)."""
    level_layer(level)
    blocks = model_spec(model).blocks
    plan: list[tuple[str, int]] = []
    for b in range(level, 1, -1):  # leave block b for block b - 1
        channels = max(1, round(CHANNELS[b - 2] * width))
        plan.append(("conv", channels))
        plan.append(("up", 0))
        plan += [("conv", channels)] * (blocks[b - 2] - 1)
    plan += [("conv", max(1, round(CHANNELS[0] * width)))] * int(refine)
    plan.append(("rgb", 3))
    return plan


def build_decoder(
    model: str,
    level: int,
    width: float = 1.0,
    info: dict | None = None,
    feature_scale: float = 1.0,
    refine: int = 0,
):
    """A new (randomly initialised) decoder of ``model``'s level ``level``.

    ``feature_scale`` multiplies the features first (a constant of the file): the training sets
    it to 1 / their RMS on its first batch, so that the network starts in unit ranges whatever
    the level's activations (hundreds in the first layers of VGG).
    """
    if not 0 < float(width) <= 1:
        raise NSTError(f"decoder width must be in (0, 1], e.g. 1 or 0.5, not {width!r}.")
    if not isinstance(refine, int) or refine < 0:
        raise NSTError(f"decoder refine must be a whole number >= 0, not {refine!r}.")
    channels = CHANNELS[level - 1] if level in LEVELS else 0
    features = keras.Input(shape=(None, None, channels), name="features")
    x = keras.layers.Rescaling(float(feature_scale), name="feature_scale")(features)
    for i, (kind, filters) in enumerate(decoder_plan(model, level, width, refine)):
        if kind == "up":
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}")(x)
        else:
            x = _conv(x, filters, f"dec{i}", relu=kind == "conv")
    info = {
        "model": model,
        "level": level,
        "width": float(width),
        "refine": int(refine),
        "feature_scale": float(feature_scale),
        **(info or {}),
    }
    pixels = DecoderOutput(DECODER_FORMAT, info, name="pixels", dtype="float32")(x)
    return keras.Model(features, pixels, name=DECODER_NAME)


def decoder_info(decoder) -> dict:
    """The provenance a decoder carries (model, level, width, encoder, training record)."""
    return dict(decoder.get_layer("pixels").info)


def load_decoder(path: str | os.PathLike, *, model: str | None = None, weights_sha256=None):
    """A decoder file, checked: an nst decoder, of this format, for ``model`` and the encoder
    weights with this sha256 (when given); anything else is an NSTError naming the mismatch."""
    path = Path(path)
    if not path.is_file():
        raise NSTError(f"no decoder file {path}; train one with nst train-decoder.")
    try:
        decoder = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise NSTError(f"{path} is not a decoder file ({type(exc).__name__}: {exc}).") from None
    try:
        out = decoder.get_layer("pixels")
    except ValueError:
        out = None
    if decoder.name != DECODER_NAME or not isinstance(out, DecoderOutput):
        raise NSTError(f"{path} is not an nst decoder (a network of another kind).")
    if out.format_version != DECODER_FORMAT:
        raise NSTError(
            f"{path} is a decoder of format {out.format_version}; this nst reads format "
            f"{DECODER_FORMAT}: train it again with nst train-decoder."
        )
    info = out.info
    if model is not None and info.get("model") != model:
        raise NSTError(
            f"{path} decodes {info.get('model')} features, not {model}'s: use a decoder of "
            f"{model}, or --model {info.get('model')}."
        )
    saved = info.get("weights_sha256")
    if weights_sha256 is not None and saved is not None and saved != weights_sha256:
        raise NSTError(
            f"{path} was trained on other {info.get('model')} weights (sha256 {saved[:12]}, "
            f"these are {weights_sha256[:12]}): use the weights it names or train it again."
        )
    return decoder
