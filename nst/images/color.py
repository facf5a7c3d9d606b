"""Colour preservation after Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural
Artistic Style Transfer" (2016).

* ``luminance``: luminance-only transfer. The style image's luminance (Y of YIQ) is matched to
  the mean and standard deviation of the content's luminance, the network sees luminance images
  (Y replicated to three channels), the optimisation runs on the single Y channel, and the
  content's I and Q channels are put back at the end.
* ``histogram``: colour histogram matching before transfer. Every style pixel x becomes
  ``A (x - mu_s) + mu_c`` with ``A = Sigma_c^(1/2) Sigma_s^(-1/2)`` (symmetric matrix square
  roots, the paper's "image analogies" variant), so that the style's RGB mean and covariance
  equal the content's; then ordinary transfer runs.
* ``chroma``: what the public implementations do, for comparison: ordinary transfer, then the
  output's luminance combined with the content's chroma (I, Q).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nst import images

# NTSC YIQ (FCC 1953 coefficients), rows Y, I, Q.
RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=np.float64,
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float64) @ RGB_TO_YIQ.T).astype(np.float32)


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float64) @ YIQ_TO_RGB.T).astype(np.float32)


# sRGB (D65) to CIE XYZ, and the D65 white point
RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB image in 0..255: L in 0..100, a and b about -100..100, so
    that distances between colours are roughly as a person sees them."""
    c = np.clip(np.asarray(image, np.float64) / 255.0, 0.0, 1.0)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ RGB_TO_XYZ.T) / WHITE_D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lab = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )
    return lab.astype(np.float32)


def rgb_to_luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W, 1) Y."""
    return rgb_to_yiq(image)[..., :1]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Shift and scale ``style_y`` to the mean and standard deviation of ``content_y``."""
    s_mean, s_std = float(style_y.mean()), float(style_y.std())
    c_mean, c_std = float(content_y.mean()), float(content_y.std())
    return ((style_y - s_mean) * (c_std / max(s_std, 1e-6)) + c_mean).astype(np.float32)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 1e-6, None)
    power = -0.5 if inverse else 0.5
    return (vecs * vals**power) @ vecs.T


def match_color_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Linear colour transfer: the result has the content's RGB mean and covariance.

    The result is not clipped to [0, 255] (clipping would break the match); the network takes
    any real input.
    """
    s = style.reshape(-1, 3).astype(np.float64)
    c = content.reshape(-1, 3).astype(np.float64)
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = np.cov(s, rowvar=False) + 1e-5 * np.eye(3)
    cov_c = np.cov(c, rowvar=False) + 1e-5 * np.eye(3)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    return ((s - mu_s) @ a.T + mu_c).reshape(style.shape).astype(np.float32)


def transfer_chroma(stylised: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylised image's luminance with the content's chroma (I, Q)."""
    y = rgb_to_yiq(stylised)[..., :1]
    iq = rgb_to_yiq(images.resize(content, stylised.shape[:2]))[..., 1:]
    return yiq_to_rgb(np.concatenate([y, iq], axis=-1))


@dataclass
class Problem:
    """What the optimiser works on at one scale, and how to turn its variable into the output."""

    content: np.ndarray
    styles: list[np.ndarray]
    to_network: Callable | None = None
    finish: Callable[[np.ndarray], np.ndarray] = field(default=lambda x: x)


def style_shape(style: np.ndarray, output_shape, style_scale: float) -> tuple[int, int]:
    """jcjohnson's --style_scale: the style's longest side = style_scale x the output's."""
    longest = max(1, round(max(output_shape) * style_scale))
    return images.target_shape(style.shape[0], style.shape[1], longest)


def prepare_problem(settings, content: np.ndarray, styles: list[np.ndarray], shape) -> Problem:
    content_s = images.resize(content, shape)
    styles_s = [images.resize(s, style_shape(s, shape, settings.style_scale)) for s in styles]
    mode = settings.preserve_color
    if mode == "histogram":
        return Problem(content_s, [match_color_histogram(s, content_s) for s in styles_s])
    if mode == "chroma":
        return Problem(content_s, styles_s, finish=lambda x: transfer_chroma(x, content_s))
    if mode == "luminance":
        import tensorflow as tf

        content_yiq = rgb_to_yiq(content_s)
        content_y = content_yiq[..., :1]
        styles_y = [match_luminance(rgb_to_luminance(s), content_y) for s in styles_s]

        def to_network(x):
            return tf.repeat(tf.expand_dims(x, 0), 3, axis=-1)

        def finish(y):
            if y.shape[:2] != content_yiq.shape[:2]:
                y = images.resize(y, content_yiq.shape[:2])
            return yiq_to_rgb(np.concatenate([y, content_yiq[..., 1:]], axis=-1))

        return Problem(
            content_y,
            styles_y,
            to_network=to_network,
            finish=finish,
        )
    return Problem(content_s, styles_s)
