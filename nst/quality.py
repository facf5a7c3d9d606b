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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from nst import images
from nst.images import color

METRIC_MODEL = "vgg16-hed"
METRIC_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
KEYS = ("content_ssim", "style_distance", "color_difference")


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
            self._targets[shape] = {"content": content, "styles": style_grams, "base": base}
        return self._targets[shape]

    def style_distance(self, output: np.ndarray) -> float:
        at = self._at(output.shape[:2])
        grams = _grams(output)
        return float(
            sum(
                b * _gram_distance(grams, t) / max(base, 1e-12)
                for b, t, base in zip(self.blend, at["styles"], at["base"], strict=True)
            )
        )

    def measure(self, output: np.ndarray) -> dict:
        output = np.asarray(output, np.float32)
        content = self._at(output.shape[:2])["content"]
        return {
            "content_ssim": round(ssim(output, content), 4),
            "style_distance": round(self.style_distance(output), 4),
            "color_difference": round(color_difference(output, content), 3),
        }


def measure(output, content, styles, blend=None) -> dict:
    """Quality figures of ``output`` (arrays in 0..255; the content at any size)."""
    return QualityMeter(content, styles, blend).measure(output)
