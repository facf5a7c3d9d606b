"""The style-transfer objective: targets computed once, then loss terms of a candidate image."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from nst import losses, methods


def resize_mask(mask: np.ndarray, shape) -> tf.Tensor:
    """Area-resize a (H, W) mask in [0, 1] to a layer's (h, w)."""
    m = tf.constant(mask[None, :, :, None], tf.float32)
    return tf.image.resize(m, shape, method="area")[0, :, :, 0]


def _inverse_energy(target) -> float:
    """1 / mean square of a target statistic (guarded for an all-zero target)."""
    energy = float(tf.reduce_mean(tf.square(tf.cast(target, tf.float32))))
    return 1.0 / max(energy, 1e-12)


class Objective:
    """Weighted sum of content, style and total-variation losses for one output size.

    ``to_network`` maps an (H, W, C) image to the (1, H, W, 3) batch the network sees (adds the
    batch axis for ordinary transfer; replicates the luminance for luminance-only transfer).
    """

    def __init__(
        self,
        extractor,
        settings,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        blend: Sequence[float],
        *,
        style_masks: Sequence[np.ndarray | None] | None = None,
        content_weight_map: np.ndarray | None = None,
        to_network: Callable | None = None,
        extra_terms: dict[str, tuple[float, Callable]] | None = None,
    ):
        self.extractor = extractor
        # name -> (weight, fn(variable) -> scalar): terms a caller adds (video: temporal loss)
        self.extra_terms = dict(extra_terms or {})
        self.settings = settings
        self.to_network = to_network or (lambda x: tf.expand_dims(x, 0))
        self.content_layers = methods.content_layers(settings)
        self.terms = methods.style_terms(settings)
        self.shift = settings.effective_shift
        self.pooling = settings.pooling
        self.blend = [float(b) for b in blend]

        normalize = settings.normalize != "none"
        per_layer = settings.normalize == "layer"  # "term": one scale for the whole term
        content_feats = extractor(self.to_network(tf.constant(content, tf.float32)))
        self.content_targets = {k: tf.constant(content_feats[k]) for k in self.content_layers}
        # "layer" normalisation: every layer's term is divided by its target's energy (mean
        # square), so a term is about 1 when its statistic is wholly unlike the target's, whatever
        # the layer, network, method or image size; weight 1 then means "as much as the content".
        # "term" divides each whole term by its targets' weighted energy instead, which keeps the
        # raw loss's balance between layers (dominated by conv1_1/conv2_1 in VGG).
        self.content_scale = {
            k: _inverse_energy(content_feats[k]) if normalize else 1.0 for k in self.content_layers
        }
        if normalize and not per_layer:
            total = 1.0 / np.mean([1.0 / v for v in self.content_scale.values()])
            self.content_scale = dict.fromkeys(self.content_layers, total)
        self.tv_scale = (
            1.0 / max(float(losses.total_variation(self.to_network(tf.constant(content)))), 1.0)
            if normalize
            else 1.0
        )
        self.content_maps = {}
        if content_weight_map is not None:
            for k in self.content_layers:
                self.content_maps[k] = resize_mask(content_weight_map, content_feats[k].shape[1:3])

        style_masks = list(style_masks or [None] * len(styles))
        self.style_targets = []
        self.style_scales = []
        self.style_masks = []
        for style, mask in zip(styles, style_masks, strict=True):
            feats = extractor(self.to_network(tf.constant(style, tf.float32)))
            targets = [tf.constant(self._statistic(feats, t)) for t in self.terms]
            self.style_targets.append(targets)
            scales = [_inverse_energy(t) if normalize else 1.0 for t in targets]
            if normalize and not per_layer:
                energy = sum(w / sc for (_a, _b, w), sc in zip(self.terms, scales, strict=True))
                scales = [1.0 / energy] * len(scales)
            self.style_scales.append(scales)
            if mask is None:
                self.style_masks.append([None] * len(self.terms))
            else:
                # a mask lives on the grid of its term's Gram matrix (the deeper layer of a pair)
                self.style_masks.append(
                    [resize_mask(mask, content_feats[b or a].shape[1:3]) for a, b, _w in self.terms]
                )

    def _statistic(self, feats, term, mask=None):
        a, b, _w = term
        if b is None:
            return losses.gram_matrix(feats[a], self.shift, mask)
        shallow = losses.match_resolution(feats[a], feats[b], self.pooling)
        return losses.cross_gram(shallow, feats[b], self.shift, mask)

    def __call__(self, variable) -> dict[str, tf.Tensor]:
        image = self.to_network(variable)
        feats = self.extractor(image)
        content = tf.add_n(
            [
                self.content_scale[k]
                * losses.content_loss(feats[k], self.content_targets[k], self.content_maps.get(k))
                for k in self.content_layers
            ]
        ) / len(self.content_layers)
        style = tf.constant(0.0)
        for targets, scales, masks, share in zip(
            self.style_targets, self.style_scales, self.style_masks, self.blend, strict=True
        ):
            if share == 0:
                continue
            for term, target, scale, mask in zip(self.terms, targets, scales, masks, strict=True):
                stat = self._statistic(feats, term, mask)
                style += share * term[2] * scale * losses.squared_error(stat, target)
        tv = self.tv_scale * losses.total_variation(image)
        s = self.settings
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        values = {"total": total, "content": content, "style": style, "tv": tv}
        for name, (weight, fn) in self.extra_terms.items():
            values[name] = fn(variable)
            values["total"] += weight * values[name]
        return values
