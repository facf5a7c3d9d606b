"""The two methods as layer choices, layer weights and style statistics.

gatys (Gatys, Ecker & Bethge 2015)
    content conv4_2; style conv1_1, conv2_1, conv3_1, conv4_1, conv5_1, equally weighted;
    plain Gram matrices.

inetwork (Novak & Nikulin 2016, "Improving the Neural Algorithm of Artistic Style")
    * all layers: style on every conv layer of the network (16 for VGG19, 13 for VGG16);
    * geometric layer weights: layer i of n gets a weight proportional to 2^(i - n + 1), so each
      layer counts twice as much as the one before it (deep layers carry the larger structures);
      weights are normalised to sum to 1 so style-weight keeps its meaning across methods;
    * shifted activations: Gram matrices of ``F + s`` with s = -1, so that zero activations
      (inactive ReLUs) also carry information and the Gram matrix is less sparse;
    * correlation chain: instead of each layer's own Gram matrix, the cross-correlations between
      the channels of adjacent style layers (l, l+1), with layer l average-pooled to l+1's size when
      a pooling layer lies between them; n layers give n - 1 chained terms.

Departure from titu1994's INetwork.py: there the "chain" is the difference of two adjacent layers'
style losses, ``sum_i w_i (L_i - L_{i+1})``. That sum telescopes to weights w_0, w_1 - w_0, ...,
and ``-w_{n-2}`` on the deepest layer: minimising it *rewards* a growing style mismatch in the
deepest layer and the total loss is unbounded below in that term. We keep every term a positive
weight times a non-negative mismatch, and implement the chain as the paper's cross-layer
correlations instead. ``--chain none`` gives per-layer Gram matrices with the other inetwork
improvements.
"""

from __future__ import annotations

from dataclasses import dataclass

from nst.errors import SettingsError
from nst.net.features import validate_layers
from nst.net.weights import model_spec

GATYS_CONTENT_LAYERS = ("conv4_2",)
GATYS_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def content_layers(settings) -> tuple[str, ...]:
    layers = settings.content_layers or GATYS_CONTENT_LAYERS
    return validate_layers(layers, settings.model, "content")


def style_layers(settings) -> tuple[str, ...]:
    if settings.style_layers:
        layers = settings.style_layers
    elif settings.method == "inetwork":
        layers = model_spec(settings.model).conv_layers
    else:
        layers = GATYS_STYLE_LAYERS
    return validate_layers(layers, settings.model, "style")


def layer_weights(method: str, n: int) -> list[float]:
    """Normalised weights of n style terms: equal (gatys) or geometric (inetwork)."""
    raw = [2.0 ** (i - n + 1) for i in range(n)] if method == "inetwork" else [1.0] * n
    total = sum(raw)
    return [w / total for w in raw]


def raw_balance(method: str) -> bool:
    """Whether a method's layer weights act on the raw terms' balance (one scale for the whole
    style term under ``--normalize start``) rather than on terms that each start at 1.

    inetwork's geometric weights come from an implementation that applies them to raw terms, whose
    size falls by orders of magnitude with depth: there the deep emphasis tempers that fall. On
    terms that each start at 1 the same weights leave half the style on the deepest pair and
    1/2048 on the first, and no style weight moves the palette (measured at 128 px, 60 L-BFGS
    iterations, chelsea x brushstrokes, weight 10: palette distance 0.86, content SSIM 0.47).
    gatys' equal weights are meant per layer: each of its five layers starts at 1.
    """
    return method == "inetwork"


def style_terms(settings) -> list[tuple[str, str | None, float]]:
    """(layer, partner layer or None, weight) for every style statistic the loss compares."""
    layers = style_layers(settings)
    if settings.effective_chain == "correlation":
        if len(layers) < 2:
            raise SettingsError(
                "the correlation chain needs at least two style layers; add layers or use "
                "--chain none."
            )
        pairs = list(zip(layers[:-1], layers[1:], strict=True))
        weights = layer_weights(settings.method, len(pairs))
        return [(a, b, w) for (a, b), w in zip(pairs, weights, strict=True)]
    weights = layer_weights(settings.method, len(layers))
    return [(layer, None, w) for layer, w in zip(layers, weights, strict=True)]


@dataclass(frozen=True)
class LossLayers:
    """The content layers and the style terms ((layer, partner or None, weight), see
    :func:`style_terms`) of a method and its settings."""

    content: tuple[str, ...]
    style_terms: tuple[tuple[str, str | None, float], ...]

    @classmethod
    def of(cls, settings) -> LossLayers:
        """The settings' layers, or a SettingsError naming what is wrong with them."""
        return cls(tuple(content_layers(settings)), tuple(style_terms(settings)))

    @property
    def network(self) -> list[str]:
        """Every layer the content and style terms read (what the loss network must output)."""
        layers = set(self.content) | {a for a, _b, _w in self.style_terms}
        return sorted(layers | {b for _a, b, _w in self.style_terms if b})

    def to_dict(self) -> dict:
        return {"content": list(self.content), "style_terms": [list(t) for t in self.style_terms]}
