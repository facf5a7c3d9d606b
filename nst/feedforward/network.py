"""The image transformation network of Johnson, Alahi & Fei-Fei (2016), as the field fixed it.

Layout (``w`` = width, 32 in the paper)::

    9x9 conv w -> 3x3/2 conv 2w -> 3x3/2 conv 4w -> 5 residual blocks 4w
    -> nearest x2 + 3x3 conv 2w -> nearest x2 + 3x3 conv w -> 9x9 conv 3 -> 127.5 (tanh + 1)

with the later fixes: instance normalisation instead of batch normalisation (Ulyanov, Vedaldi &
Lempitsky 2016: per image and channel, with a learnt scale and shift), reflection padding
instead of zeros (no dark borders), and nearest-neighbour upsampling followed by a convolution
instead of transposed convolutions (Odena, Dumoulin & Olah 2016: no checkerboard). Residual
blocks end without a ReLU (Gross & Wilber 2016). The network takes RGB in [0, 255] of any size
that is a multiple of 4 and returns RGB in [0, 255] of the same size.

A saved model is a plain ``.keras`` file; ``keras.models.load_model`` reads it once this module
is imported (the custom layers are registered under the package name ``nst``). Its output layer
carries the file format version and what produced the model (nst version, style, settings), so
that :func:`load_transformer` can tell an nst model from any other Keras file, and a model from a
newer nst from a corrupt one.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras
from keras import ops

from nst.errors import NSTError
from nst.net.layers import ReflectionPad

FORMAT_VERSION = 1
WIDTHS = (16, 32)  # half and the paper's; smaller widths work too (tests)
RESIDUAL_BLOCKS = 5
MODEL_NAME = "nst_transformer"
_OUTPUT_LAYER = "nst>PixelOutput"
_RETRAIN = "train one with nst train-style"


@keras.saving.register_keras_serializable(package="nst")
class InstanceNormalization(keras.layers.Layer):
    """Normalise every channel of every image over its positions, then scale and shift."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        # (mean, variance) variables that replace the image's own statistics: tiles of a large
        # image normalised with the whole (thumbnail's) statistics (nst.feedforward.tiled)
        self.fixed = None
        # (mean, variance) variables this layer writes its own statistics into as it runs: the
        # thumbnail's statistics gathered in one ordinary forward pass (nst.feedforward.tiled)
        self.record = None

    def build(self, shape):
        channels = shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        x32 = ops.cast(x, "float32")  # statistics in float32 under mixed precision too
        if self.fixed is None:
            mean, var = ops.moments(x32, axes=(1, 2), keepdims=True)
        else:
            mean, var = self.fixed
        if self.record is not None:
            self.record[0].assign(mean)
            self.record[1].assign(var)
        gamma = ops.cast(self.gamma, "float32")
        beta = ops.cast(self.beta, "float32")
        y = (x32 - mean) * ops.rsqrt(var + self.epsilon) * gamma + beta
        return ops.cast(y, self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="nst")
class PixelOutput(keras.layers.Layer):
    """``127.5 (tanh(x) + 1)``: pixels in [0, 255]. Carries the format version and provenance."""

    def __init__(self, format_version: int = FORMAT_VERSION, info: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.format_version = int(format_version)
        self.info = dict(info or {})

    def call(self, x):
        return 127.5 * (ops.tanh(ops.cast(x, "float32")) + 1.0)

    def get_config(self) -> dict:
        # the provenance as one JSON string: Keras leaves it alone when it (de)serialises
        config = super().get_config()
        return {**config, "format_version": self.format_version, "info": json.dumps(self.info)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("info"), str):
            config["info"] = json.loads(config["info"])
        return cls(**config)


def _conv(x, filters: int, kernel: int, name: str, *, stride: int = 1, relu: bool = True):
    """Reflection pad, convolution, instance normalisation (and ReLU)."""
    x = ReflectionPad(kernel // 2, name=f"{name}_pad")(x)
    # no bias: the instance normalisation that follows removes it
    x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{name}_conv")(x)
    x = InstanceNormalization(name=f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual(x, filters: int, name: str):
    y = _conv(x, filters, 3, f"{name}_a")
    y = _conv(y, filters, 3, f"{name}_b", relu=False)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _upsample(x, filters: int, name: str):
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(x)
    return _conv(x, filters, 3, name)


def build_transformer(width: int = 32, info: dict | None = None) -> keras.Model:
    """A new (randomly initialised) transformation network; ``info`` is stored in the model."""
    if not isinstance(width, int) or width < 1:
        raise NSTError(f"width must be a positive number of channels, e.g. 32, not {width!r}.")
    image = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(image)
    x = _conv(x, width, 9, "down0")
    x = _conv(x, 2 * width, 3, "down1", stride=2)
    x = _conv(x, 4 * width, 3, "down2", stride=2)
    for i in range(1, RESIDUAL_BLOCKS + 1):
        x = _residual(x, 4 * width, f"residual{i}")
    x = _upsample(x, 2 * width, "up1")
    x = _upsample(x, width, "up2")
    x = ReflectionPad(4, name="out_pad")(x)
    x = keras.layers.Conv2D(3, 9, name="out_conv")(x)
    pixels = PixelOutput(FORMAT_VERSION, info, name="pixels", dtype="float32")(x)
    return keras.Model(image, pixels, name=MODEL_NAME)


def model_info(model: keras.Model) -> dict:
    """What produced a transformer: nst version, style, settings (empty for a new network)."""
    return dict(model.get_layer("pixels").info)


def _saved_output_config(path: Path) -> dict:
    """The config of the saved model's output layer, read without building the model."""
    name = f"cannot load model {path}"
    if not path.is_file():
        raise NSTError(f"{name}: file not found; check the path or {_RETRAIN}.")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
        if hdf5:
            raise NSTError(f"{name}: it is not an nst feed-forward model ({_RETRAIN}).")
        raise NSTError(
            f"{name}: it is not a readable .keras file (truncated or corrupt); {_RETRAIN}."
        )
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):
        raise NSTError(f"{name}: it is not an nst feed-forward model ({_RETRAIN}).") from None
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    for layer in layers:
        if isinstance(layer, dict) and layer.get("registered_name") == _OUTPUT_LAYER:
            found = layer.get("config")
            return found if isinstance(found, dict) else {}
    raise NSTError(f"{name}: it is not an nst feed-forward model ({_RETRAIN}).")


def load_transformer(path: str | os.PathLike) -> keras.Model:
    """Load a model saved by :func:`nst.feedforward.train_files`, or raise :class:`NSTError`."""
    path = Path(path)
    config = _saved_output_config(path)
    version = config.get("format_version")
    if not isinstance(version, int):
        raise NSTError(
            f"cannot load model {path}: it is not an nst feed-forward model ({_RETRAIN})."
        )
    if version > FORMAT_VERSION:
        try:
            made_by = f"nst {json.loads(config['info'])['nst_version']}"
        except (KeyError, TypeError, ValueError):
            made_by = "a newer nst"
        raise NSTError(
            f"cannot load model {path}: it was saved in model format {version} by {made_by}, and "
            f"this nst reads format {FORMAT_VERSION} at most; upgrade nst or train it again."
        )
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds (ValueError, OSError, TypeError, ...)
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise NSTError(
            f"cannot load model {path}: its contents are damaged ({reason}); {_RETRAIN}."
        ) from None
    return model
