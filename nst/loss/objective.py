"""The style-transfer objective: targets computed once, then loss terms of a candidate image.

:class:`StyleLoss` is the style term on its own (targets, per-term scales, the statistic); the
optimisation of one image (:class:`Objective`) and the training of a feed-forward network
(:class:`BatchObjective`, contents that change every step) share it and the content and
variation terms, so there is one loss code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from nst.loss import terms
from nst.loss.methods import LossLayers, raw_balance
from nst.net.weights import keras_layer_name


def resize_mask(mask: np.ndarray, shape) -> tf.Tensor:
    """Area-resize a (H, W) mask in [0, 1] to a layer's (h, w)."""
    m = tf.constant(mask[None, :, :, None], tf.float32)
    return tf.image.resize(m, shape, method="area")[0, :, :, 0]


def _inverse_energy(target) -> float:
    """1 / mean square of a target statistic (guarded for an all-zero target)."""
    energy = float(tf.reduce_mean(tf.square(tf.cast(target, tf.float32))))
    return 1.0 / max(energy, 1e-12)


def add_batch_axis(x):
    return tf.expand_dims(x, 0)


def content_term(feats, targets: dict, scales: dict, maps: dict | None = None):
    """Mean over the content layers of each layer's scaled content loss."""
    maps = maps or {}
    return tf.add_n(
        [
            scales[k] * terms.content_loss(feats[k], targets[k], maps.get(k))
            for k in targets  # in the order of the settings' content layers
        ]
    ) / len(targets)


class StyleLoss:
    """The style term: the style images' statistics computed once, compared with a candidate's.

    For every style and term (a layer, or a pair of layers in the correlation chain) it holds the
    target statistic and its scale: ``normalize="start"`` divides each term by the ``reference``'s
    own distance to the target (the content's features, or a batch of training contents': every
    term is then 1 at the content, whatever the pair, the method and the layer), ``"layer"`` by its
    target's energy, ``"term"`` the whole style's terms by their weighted energy, ``"none"`` leaves
    them raw.
    ``masks`` (one (H, W) map or None per style) restrict a style to a region of the output;
    ``grid`` then gives each layer's (h, w) at the output's size. ``layers``: the run's
    :class:`~nst.loss.methods.LossLayers` (default: the settings').
    """

    def __init__(
        self,
        extractor,
        settings,
        styles: Sequence[np.ndarray],
        blend: Sequence[float] | None = None,
        *,
        to_network: Callable | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
        grid: dict | None = None,
        layers: LossLayers | None = None,
        reference: dict | Callable | None = None,
        style_statistics: Callable | None = None,
    ):
        to_network = to_network or add_batch_axis
        if settings.normalize == "start" and reference is None:
            raise ValueError('normalize="start" needs the reference (content) features')
        self.terms = list((layers or LossLayers.of(settings)).style_terms)
        self.raw_balance = raw_balance(settings.method)
        self.shift = settings.effective_shift
        self.pooling = settings.pooling
        self.blend = [float(b) for b in (blend or [1.0 / len(styles)] * len(styles))]
        normalize = settings.normalize != "none"
        # "term": one scale for the whole term; "start" uses the per-layer energy as a floor
        per_layer = settings.normalize in ("layer", "start")
        self.normalize = settings.normalize
        self.targets = []
        self.scales = []
        self.energy_scales = []
        self.masks = []
        for style, mask in zip(styles, list(masks or [None] * len(styles)), strict=True):
            if style_statistics is None:
                feats = extractor(to_network(tf.constant(style, tf.float32)))
                targets = [tf.constant(self.statistic(feats, t)) for t in self.terms]
            else:  # the tiled objective: statistics of an image summed tile by tile
                targets = [tf.constant(v) for v in style_statistics(style)]
            self.targets.append(targets)
            scales = [_inverse_energy(t) if normalize else 1.0 for t in targets]
            if normalize and not per_layer:
                energy = sum(w / sc for (_a, _b, w), sc in zip(self.terms, scales, strict=True))
                scales = [1.0 / energy] * len(scales)
            if mask is None:
                self.masks.append([None] * len(self.terms))
            else:
                # a mask lives on the grid of its term's Gram matrix (the deeper layer of a pair)
                self.masks.append([resize_mask(mask, grid[b or a]) for a, b, _w in self.terms])
            self.energy_scales.append(scales)
            if settings.normalize == "start":
                scales = self._start_scales(reference, targets, scales, self.masks[-1])
            self.scales.append(scales)
        # the scales as variables: a video's frames (Objective.set_content) change them without
        # tracing the objective again
        self.scale_vars = [
            [tf.Variable(v, dtype=tf.float32, trainable=False) for v in scales]
            for scales in self.scales
        ]

    def rescale(self, reference) -> None:
        """Under "start" normalisation, the scales of another reference (a video's next frame:
        each frame's style term is 1 at its own content, whichever frame a run starts from)."""
        if self.normalize != "start":
            return
        for i, (targets, energy, masks) in enumerate(
            zip(self.targets, self.energy_scales, self.masks, strict=True)
        ):
            self.scales[i] = self._start_scales(reference, targets, energy, masks)
            for var, value in zip(self.scale_vars[i], self.scales[i], strict=True):
                var.assign(value)

    def _reference_statistics(self, reference, masks) -> list:
        """Each term's statistic of the reference: features (a batch's mean statistic when
        batched), or a callable ``masks -> statistics`` (the tiled objective's sums)."""
        if callable(reference):
            return list(reference(masks))
        batched = next(iter(reference.values())).shape[0] > 1
        return [
            self.statistic(reference, term, mask, batched=batched)
            for term, mask in zip(self.terms, masks, strict=True)
        ]

    def _start_scales(self, reference, targets, energy_scales, masks) -> list[float]:
        """1 / the reference's distance to each target (the batch's mean distance); for a method
        whose layer weights act on the raw terms (:func:`~nst.loss.methods.raw_balance`), one
        scale for the whole weighted term instead. Either way the style term is 1 at the
        reference.

        A reference that already has a term's statistics (the style image as its own content)
        would make the scale infinite: the distance is floored at 1e-4 of the target's energy.
        """
        distances = []
        stats = self._reference_statistics(reference, masks)
        for stat, target, energy_scale in zip(stats, targets, energy_scales, strict=True):
            distance = float(terms.squared_error(stat, target))
            distances.append(max(distance, 1e-4 / energy_scale))
        if self.raw_balance:
            whole = sum(w * d for (_a, _b, w), d in zip(self.terms, distances, strict=True))
            return [1.0 / whole] * len(distances)
        return [1.0 / d for d in distances]

    def statistic(self, feats, term, mask=None, batched: bool = False):
        """The Gram matrix of a layer, or the cross-correlations of a chained pair of layers."""
        a, b, _w = term
        if b is None:
            return terms.gram_matrix(feats[a], self.shift, mask, batched=batched)
        shallow = terms.match_resolution(feats[a], feats[b], self.pooling)
        return terms.cross_gram(shallow, feats[b], self.shift, mask, batched=batched)

    def __call__(self, feats, batched: bool = False) -> tf.Tensor:
        """Weighted style loss of ``feats``; ``batched``: of every image, averaged."""
        stats = []
        for masks, share in zip(self.masks, self.blend, strict=True):
            pairs = zip(self.terms, masks, strict=True)
            stats.append(
                None if share == 0 else [self.statistic(feats, t, m, batched) for t, m in pairs]
            )
        return self.loss_of(stats)

    def loss_of(self, statistics) -> tf.Tensor:
        """Weighted style loss of given statistics: one list per style (each term's statistic,
        under that style's mask), None for a style of no share."""
        style = tf.constant(0.0)
        for stats, targets, scales, share in zip(
            statistics, self.targets, self.scale_vars, self.blend, strict=True
        ):
            if share == 0:
                continue
            for term, stat, target, scale in zip(self.terms, stats, targets, scales, strict=True):
                style += share * term[2] * scale * terms.squared_error(stat, target)
        return style


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
        layers: LossLayers | None = None,
        style_masks: Sequence[np.ndarray | None] | None = None,
        content_weight_map: np.ndarray | None = None,
        to_network: Callable | None = None,
        extra_terms: dict[str, tuple[float, Callable]] | None = None,
    ):
        self.extractor = extractor
        # name -> (weight, fn(variable) -> scalar): terms a caller adds (video: temporal loss)
        self.extra_terms = dict(extra_terms or {})
        self.settings = settings
        self.to_network = to_network or add_batch_axis
        layers = layers or LossLayers.of(settings)
        self.content_layers = layers.content

        content_feats = extractor(self.to_network(tf.constant(content, tf.float32)))
        targets, scales, tv_scale = self._content_values(content, content_feats)
        # variables, so that set_content() gives the same objective (and its traced gradient)
        # another content of the same shape: a video's frames build and trace it once
        self.content_targets = {k: tf.Variable(v, trainable=False) for k, v in targets.items()}
        self.content_scale = {
            k: tf.Variable(v, dtype=tf.float32, trainable=False) for k, v in scales.items()
        }
        self.tv_scale = tf.Variable(tv_scale, dtype=tf.float32, trainable=False)
        # shape -> the optimiser's traced value and gradient (nst.engine.optimize)
        self.traced: dict = {}
        self.content_maps = {}
        if content_weight_map is not None:
            for k in self.content_layers:
                self.content_maps[k] = resize_mask(content_weight_map, content_feats[k].shape[1:3])
        self.style = StyleLoss(
            extractor,
            settings,
            styles,
            blend,
            to_network=self.to_network,
            masks=style_masks,
            grid={k: v.shape[1:3] for k, v in content_feats.items()},
            layers=layers,
            # "start": the style terms relative to this content's distance (set_content: each
            # frame's own)
            reference=content_feats,
        )

    def _content_values(self, content: np.ndarray, feats) -> tuple[dict, dict, float]:
        """Targets, per-layer scales and the variation scale that ``content`` gives.

        "layer" normalisation: every layer's term is divided by its target's energy (mean
        square), so a term is about 1 when its statistic is wholly unlike the target's, whatever
        the layer, network, method or image size; weight 1 then means "as much as the content".
        "term" divides each whole term by its targets' weighted energy instead, which keeps the
        raw loss's balance between layers (dominated by conv1_1/conv2_1 in VGG).
        """
        normalize = self.settings.normalize
        targets = {k: feats[k] for k in self.content_layers}
        scales = {
            k: _inverse_energy(feats[k]) if normalize != "none" else 1.0
            for k in self.content_layers
        }
        if normalize == "term":
            total = 1.0 / np.mean([1.0 / v for v in scales.values()])
            scales = dict.fromkeys(self.content_layers, total)
        tv_scale = 1.0
        if normalize != "none":
            variation = terms.total_variation(self.to_network(tf.constant(content, tf.float32)))
            tv_scale = 1.0 / max(float(variation), 1.0)
        return targets, scales, tv_scale

    def set_content(self, content: np.ndarray) -> None:
        """Make this the objective of another content of the same shape (its targets and
        scales, and under "start" the style scales; the styles, masks and extra terms stay)."""
        feats = self.extractor(self.to_network(tf.constant(content, tf.float32)))
        targets, scales, tv_scale = self._content_values(content, feats)
        for k in self.content_layers:
            self.content_targets[k].assign(targets[k])
            self.content_scale[k].assign(scales[k])
        self.tv_scale.assign(tv_scale)
        self.style.rescale(feats)

    def __call__(self, variable) -> dict[str, tf.Tensor]:
        image = self.to_network(variable)
        feats = self.extractor(image)
        content = content_term(feats, self.content_targets, self.content_scale, self.content_maps)
        style = self.style(feats)
        tv = self.tv_scale * terms.total_variation(image)
        s = self.settings
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        values = {"total": total, "content": content, "style": style, "tv": tv}
        for name, (weight, fn) in self.extra_terms.items():
            values[name] = fn(variable)
            values["total"] += weight * values[name]
        return values


def batch_scales(targets: dict, normalize: str) -> dict:
    """Content scales of targets that change every step: their own energy, not differentiated."""
    if normalize == "none":
        return dict.fromkeys(targets, 1.0)
    energy = {
        k: tf.maximum(tf.reduce_mean(tf.square(tf.cast(tf.stop_gradient(t), tf.float32))), 1e-12)
        for k, t in targets.items()
    }
    if normalize in ("layer", "start"):
        return {k: 1.0 / e for k, e in energy.items()}
    return dict.fromkeys(targets, 1.0 / tf.reduce_mean(tf.stack(list(energy.values()))))


class BatchObjective:
    """The same weighted terms for a batch of network outputs, each against its own content.

    Feed-forward training: the contents (the network's inputs) change every step, so their
    features, and under normalisation the content and variation scales (the contents' own
    energy and variation, as :class:`Objective` takes them from its one content), are computed
    in the step and not differentiated. The style term is :class:`StyleLoss`, per image.
    """

    def __init__(self, extractor, settings, style: StyleLoss, layers: LossLayers | None = None):
        self.extractor = extractor
        self.settings = settings
        self.style = style
        self.content_layers = (layers or LossLayers.of(settings)).content
        # the contents need only the content layers: a sub-network that stops there
        net = extractor.model
        self.content_network = keras.Model(
            net.input,
            {k: net.get_layer(keras_layer_name(k)).output for k in self.content_layers},
        )

    def __call__(self, outputs, contents) -> dict[str, tf.Tensor]:
        s = self.settings
        targets = self.content_network(contents, training=False)
        targets = {k: tf.stop_gradient(targets[k]) for k in self.content_layers}
        feats = self.extractor(outputs)
        content = content_term(feats, targets, batch_scales(targets, s.normalize))
        style = self.style(feats, batched=True)
        tv = terms.total_variation(outputs)
        if s.normalize != "none":
            tv = tv / tf.maximum(tf.stop_gradient(terms.total_variation(contents)), 1.0)
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        return {"total": total, "content": content, "style": style, "tv": tv}
