"""Quality figures of a stylised image, comparable between runs, sets and methods.

* ``content_ssim``: structural similarity (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01,
  K2 0.03) of the output's and the content's luminance, at the output's size. 1 = the content's
  structure untouched; a texture that has replaced it scores near 0.
* ``style_distance``: the Gram distance of the output to the style in a fixed loss network,
  divided by the content's own distance to the style; 1.0 = no style moved in, 0 = the style's
  statistics matched. Each layer's squared Gram difference is taken relative to the style's Gram
  energy in that layer, so every layer counts on the same scale. Always measured with the same
  network and layers (``vgg16-hed``, conv1_1 ... conv5_1, average pooling), the styles at the
  output's size, whatever the run used, so that every run of every experiment is measured alike.
* ``color_difference``: mean distance between the output's and the content's chroma (the I and Q
  channels of YIQ), in 8-bit levels; near 0 when the content's colours were preserved.

The style distance is measured in a loss network, as the optimisation's own loss is: a run can
lower it without the picture looking like the style. Two figures no loss term sees judge the
style independently, each as the output's distance to the style divided by the content's (1.0 =
no style moved in, 0 = the style's statistics):

* ``palette_distance``: the colours, as the sliced Wasserstein distance between the output's and
  the style's pixels in CIE Lab (the sorted pixels along 16 fixed directions of Lab, compared at
  64 quantiles): whether the picture took the painting's palette.
* ``texture_distance``: the texture, as the distance between log mean and log standard deviation
  of Gabor filter responses of the luminance (wavelengths 4, 8 and 16 px, 4 orientations), the
  style at the size the run used it: whether the strokes, grain and edges look like the style's.

An output larger than ``MEASURE_SIDE`` (1024 px) on its longest side is measured shrunk to it:
through the loss network at full size, the figures of a 4096 px picture alone would need more
memory (about 20 GB) than the stylisation in tiles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from nst import images
from nst.images import color

METRIC_MODEL = "vgg16-hed"
METRIC_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MEASURE_SIDE = 1024  # larger outputs are measured shrunk to this longest side
KEYS = (
    "content_ssim",
    "style_distance",
    "color_difference",
    "palette_distance",
    "texture_distance",
)
PALETTE_DIRECTIONS = 16
PALETTE_QUANTILES = 64
PALETTE_PIXELS = 20_000  # at most, evenly spaced: the quantiles need no more
GABOR_WAVELENGTHS = (4.0, 8.0, 16.0)
GABOR_ORIENTATIONS = 4


def _luminance(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    return color.rgb_to_luminance(image)[..., 0].astype(np.float64)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two same-sized images' luminance (RGB or grey, values in 0..255)."""
    x, y = _luminance(a), _luminance(b)
    if x.shape != y.shape:
        raise ValueError(f"SSIM needs images of one size, not {x.shape} and {y.shape}.")

    def blur(z):
        return ndimage.gaussian_filter(z, 1.5, truncate=3.5, mode="reflect")

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def color_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance of two RGB images' (I, Q) chroma, in 8-bit levels."""
    iq_a = color.rgb_to_yiq(np.asarray(a, np.float32))[..., 1:]
    iq_b = color.rgb_to_yiq(np.asarray(b, np.float32))[..., 1:]
    return float(np.sqrt(((iq_a - iq_b) ** 2).sum(-1)).mean())


_EXTRACTOR: dict = {}


def _extractor():
    if "net" not in _EXTRACTOR:
        from nst.net.features import VGGFeatures
        from nst.runtime import keras_policy

        with keras_policy("float32"):  # measured in float32 whatever the run itself used
            _EXTRACTOR["net"] = VGGFeatures(METRIC_MODEL, METRIC_LAYERS, pooling="avg")
    return _EXTRACTOR["net"]


def _grams(image: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    from nst.loss.terms import gram_matrix

    feats = _extractor()(tf.constant(np.asarray(image, np.float32)[None]))
    return [gram_matrix(feats[k]).numpy().astype(np.float64) for k in METRIC_LAYERS]


def _gram_distance(grams: list[np.ndarray], targets: list[np.ndarray]) -> float:
    return sum(
        float(((g - t) ** 2).sum() / max((t**2).sum(), 1e-12))
        for g, t in zip(grams, targets, strict=True)
    )


def palette_signature(image: np.ndarray) -> np.ndarray:
    """The Lab pixels sorted along fixed directions, at evenly spaced quantiles."""
    lab = color.rgb_to_lab(image).reshape(-1, 3).astype(np.float64)
    lab = lab[:: max(1, len(lab) // PALETTE_PIXELS)]
    rng = np.random.default_rng(0)  # the same directions for every image
    directions = rng.normal(size=(3, PALETTE_DIRECTIONS))
    directions /= np.linalg.norm(directions, axis=0)
    levels = np.linspace(0.0, 1.0, PALETTE_QUANTILES)
    return np.quantile(lab @ directions, levels, axis=0)


def _gabor(wavelength: float, angle: float) -> np.ndarray:
    """A complex Gabor kernel with no response to a flat image (Morlet's correction)."""
    sigma = 0.56 * wavelength  # a bandwidth of about one octave
    half = int(np.ceil(3 * sigma))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    envelope = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    wave = np.exp(2j * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / wavelength)
    kernel = envelope * (wave - (envelope * wave).sum() / envelope.sum())
    return kernel / envelope.sum()


def texture_signature(image: np.ndarray) -> np.ndarray:
    """Log mean and log standard deviation of each Gabor filter's response magnitude."""
    from scipy.signal import fftconvolve

    lum = color.rgb_to_lab(image)[..., 0].astype(np.float64)
    stats = []
    for wavelength in GABOR_WAVELENGTHS:
        for k in range(GABOR_ORIENTATIONS):
            kernel = _gabor(wavelength, np.pi * k / GABOR_ORIENTATIONS)
            pad = kernel.shape[0] // 2
            padded = np.pad(lum, pad, mode="reflect")
            response = np.abs(fftconvolve(padded, kernel, mode="valid"))
            stats += [np.log(response.mean() + 1e-3), np.log(response.std() + 1e-3)]
    return np.array(stats)


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _relative(output, styles, base, blend) -> float:
    """Σ blend · distance(output, style) / distance(content, style)."""
    return float(
        sum(
            share * _rms(output, style) / max(b, 1e-9)
            for share, style, b in zip(blend, styles, base, strict=True)
        )
    )


def _measured(output: np.ndarray) -> np.ndarray:
    """The output as the figures see it: float32, at most ``MEASURE_SIDE`` px on its longest
    side."""
    output = np.asarray(output, np.float32)
    if max(output.shape[:2]) > MEASURE_SIDE:
        output = images.resize_longest(output, MEASURE_SIDE)
    return output


class QualityMeter:
    """Measures outputs of one content and its styles (their Gram matrices computed once)."""

    def __init__(
        self,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        blend: Sequence[float] | None = None,
    ):
        self.content = np.asarray(content, np.float32)
        self.styles = [np.asarray(s, np.float32) for s in styles]
        blend = list(blend or [1.0] * len(self.styles))
        self.blend = [b / sum(blend) for b in blend]
        self._targets: dict = {}

    def _at(self, shape) -> dict:
        """Content and style statistics at an output shape (cached: a run has one size)."""
        if shape not in self._targets:
            content = images.resize(self.content, shape)
            style_grams = [
                _grams(images.resize(s, color.style_shape(s, shape, 1.0))) for s in self.styles
            ]
            content_grams = _grams(content)
            base = [_gram_distance(content_grams, t) for t in style_grams]
            at_size = [images.resize(s, color.style_shape(s, shape, 1.0)) for s in self.styles]
            palettes = [palette_signature(s) for s in self.styles]  # colours: any size
            textures = [texture_signature(s) for s in at_size]  # texture: at the run's scale
            content_palette, content_texture = (
                palette_signature(content),
                texture_signature(content),
            )
            self._targets[shape] = {
                "content": content,
                "styles": style_grams,
                "base": base,
                "palettes": palettes,
                "palette_base": [_rms(content_palette, p) for p in palettes],
                "textures": textures,
                "texture_base": [_rms(content_texture, t) for t in textures],
            }
        return self._targets[shape]

    def style_distance(self, output: np.ndarray) -> float:
        output = _measured(output)
        at = self._at(output.shape[:2])
        grams = _grams(output)
        return float(
            sum(
                b * _gram_distance(grams, t) / max(base, 1e-12)
                for b, t, base in zip(self.blend, at["styles"], at["base"], strict=True)
            )
        )

    def measure(self, output: np.ndarray) -> dict:
        output = _measured(output)
        at = self._at(output.shape[:2])
        content = at["content"]
        palette = palette_signature(output)
        texture = texture_signature(output)
        return {
            "content_ssim": round(ssim(output, content), 4),
            "style_distance": round(self.style_distance(output), 4),
            "color_difference": round(color_difference(output, content), 3),
            "palette_distance": round(
                _relative(palette, at["palettes"], at["palette_base"], self.blend), 4
            ),
            "texture_distance": round(
                _relative(texture, at["textures"], at["texture_base"], self.blend), 4
            ),
        }


def measure(output, content, styles, blend=None) -> dict:
    """Quality figures of ``output`` (arrays in 0..255; the content at any size)."""
    return QualityMeter(content, styles, blend).measure(output)
