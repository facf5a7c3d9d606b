"""The objective of an image larger than the network's memory, evaluated tile by tile, exactly.

The style terms depend on the whole image only through their statistics (Gram matrices and the
chain's cross-correlations), which are sums over positions; the content term is a sum over
positions; the variation term is cheap on the whole image. So one evaluation is two passes over
overlapping tiles:

1. every tile (its core, plus a ``halo`` of context on each side) goes through the network; the
   statistics of its core positions are summed into the whole image's;
2. the loss follows from the whole statistics, and its derivative with respect to each statistic
   (a small matrix) is fixed; every tile goes through the network again, under a gradient tape,
   and the surrogate ``<dL/dG, G_tile> + content_tile`` back-propagates to the tile's pixels; the
   tiles' gradients add up to the whole image's.

The halo is the depth the network's zero padding at a tile's edge reaches into its features
(:func:`halo`): a core feature sees exactly what it sees in the whole image, and tiles start on
multiples of the deepest layer's stride (:func:`alignment`) so that every pooling window falls
where it falls in the whole image. The value and gradient are the whole image's to float32
round-off, not an approximation with seams; peak memory follows the tile, not the image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from nst.errors import SettingsError
from nst.loss import terms
from nst.loss.methods import LossLayers
from nst.loss.objective import StyleLoss, add_batch_axis, resize_mask
from nst.net.receptive import alignment, block, halo, stride


@dataclass(frozen=True)
class Tile:
    """A core box (its positions count in the sums) and the padded box the network sees, in
    pixels: (top, bottom, left, right), bottom and right exclusive. Padded boxes start on
    multiples of the alignment, so a layer of stride s sees the core at rows
    ``(top - padded top) // s`` to ``(bottom - padded top) // s`` of the padded tile's features
    (an image's last row and column floor as the whole image's do)."""

    core: tuple[int, int, int, int]
    padded: tuple[int, int, int, int]

    @property
    def layout(self) -> tuple:
        """What a traced tile function depends on: the padded shape and where the core is."""
        y0, y1, x0, x1 = self.core
        py0, py1, px0, px1 = self.padded
        return (py1 - py0, px1 - px0, y0 - py0, y1 - py0, x0 - px0, x1 - px0)

    def box(self, layer: str, whole: bool = False) -> tuple[int, int, int, int]:
        """The core on the feature grid of ``layer``: of the padded tile, or of the whole image."""
        s = stride(layer)
        y0, y1, x0, x1 = self.core
        if whole:
            return y0 // s, y1 // s, x0 // s, x1 // s
        py0, px0 = self.padded[0], self.padded[2]
        return (y0 - py0) // s, (y1 - py0) // s, (x0 - px0) // s, (x1 - px0) // s


def crop(feats, box):
    y0, y1, x0, x1 = box
    return feats[:, y0:y1, x0:x1]


def tiles(shape: tuple[int, int], tile: int, margin: int, align: int) -> list[Tile]:
    """Cores of ``tile`` pixels (rounded down to a multiple of ``align``) covering ``shape``, the
    last of a row or column taking the rest, each padded by ``margin`` on every side within the
    image."""
    core = max(align, tile // align * align)
    h, w = shape

    def starts(n):
        edges = list(range(0, n, core))
        if len(edges) > 1 and n - edges[-1] < align:  # no sliver of a tile at the end
            edges.pop()
        return list(zip(edges, edges[1:] + [n], strict=True))

    out = []
    for y0, y1 in starts(h):
        for x0, x1 in starts(w):
            padded = (
                max(0, y0 - margin),
                min(h, y1 + margin),
                max(0, x0 - margin),
                min(w, x1 + margin),
            )
            out.append(Tile((y0, y1, x0, x1), padded))
    return out


def feature_grid(shape: tuple[int, int], layer: str) -> tuple[int, int]:
    """A layer's feature shape for an image of ``shape`` (each pooling floors)."""
    h, w = shape
    for _ in range(block(layer)[0] - 1):
        h, w = h // 2, w // 2
    return h, w


class TiledObjective:
    """The :class:`~nst.loss.objective.Objective` of an image, evaluated in tiles of ``tile``
    pixels (plus the halo): :meth:`value_and_grad` gives the loss terms and the gradient the
    whole-image objective gives, with the memory of one tile."""

    def __init__(
        self,
        extractor,
        settings,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        blend: Sequence[float],
        *,
        tile: int,
        layers: LossLayers | None = None,
        style_masks: Sequence[np.ndarray | None] | None = None,
        content_weight_map: np.ndarray | None = None,
        to_network: Callable | None = None,
        extra_terms: dict | None = None,
    ):
        if extra_terms:
            raise SettingsError(
                "tiled optimisation does not take extra loss terms (a video's temporal loss); "
                "video frames fit whole: leave --tile out."
            )
        self.extractor = extractor
        self.settings = settings
        self.to_network = to_network or add_batch_axis
        layers = layers or LossLayers.of(settings)
        self.content_layers = tuple(layers.content)
        self.network_layers = tuple(layers.network)
        self.shape = tuple(content.shape[:2])
        self.channels = content.shape[2]
        self.align = alignment(self.network_layers)
        self.halo = halo(settings.model, self.network_layers)
        self.tile = int(tile)
        self.tiles = tiles(self.shape, self.tile, self.halo, self.align)
        self.grid = {k: feature_grid(self.shape, k) for k in self.network_layers}
        self.traced: dict = {}
        self._features = tf.function(
            lambda x: self.extractor(self.to_network(x)),
            input_signature=[tf.TensorSpec((None, None, self.channels), tf.float32)],
            autograph=False,
            reduce_retracing=True,
        )
        normalize = settings.normalize
        self.shift = settings.effective_shift
        self.terms = list(layers.style_terms)
        self.term_layers = [b or a for a, b, _w in self.terms]

        # the content: each tile's core targets and the whole's energies, one pass
        maps = {}
        if content_weight_map is not None:
            maps = {k: resize_mask(content_weight_map, self.grid[k]) for k in self.content_layers}
        self.content_targets: list[dict] = []
        self.content_maps: list[dict] = []
        energy = dict.fromkeys(self.content_layers, 0.0)
        for t in self.tiles:
            feats = self._features(self._crop(content, t))
            cores = {k: crop(feats[k], t.box(k)) for k in self.content_layers}
            self.content_targets.append(cores)
            self.content_maps.append(
                {k: crop(m[None], t.box(k, whole=True))[0] for k, m in maps.items()}
            )
            for k, v in cores.items():
                energy[k] += float(tf.reduce_sum(tf.square(v)))
        count = {
            k: float(self.grid[k][0] * self.grid[k][1] * _channels(k)) for k in self.content_layers
        }
        # content_loss is sum(d) / (N C), or sum(d w) / (C sum(w)) with a weight map
        self.content_norm = {
            k: _channels(k) * max(float(tf.reduce_sum(maps[k])), 1e-8 * count[k] / _channels(k))
            if k in maps
            else count[k]
            for k in self.content_layers
        }
        scales = {
            k: (1.0 / max(energy[k] / count[k], 1e-12)) if normalize != "none" else 1.0
            for k in self.content_layers
        }
        if normalize == "term":
            total = 1.0 / np.mean([1.0 / v for v in scales.values()])
            scales = dict.fromkeys(self.content_layers, total)
        self.content_scale = scales
        self.tv_scale = 1.0
        if normalize != "none":
            variation = terms.total_variation(self.to_network(tf.constant(content, tf.float32)))
            self.tv_scale = 1.0 / max(float(variation), 1.0)

        self.style = StyleLoss(
            extractor,
            settings,
            styles,
            blend,
            to_network=self.to_network,
            masks=style_masks,
            grid=self.grid,
            layers=layers,
            reference=lambda masks: self.statistics(content, [masks])[0],
            style_statistics=self._style_statistics,
        )
        # per style and term: the whole image's weight (mask sum, or the number of positions)
        self.totals = [
            [
                float(self.grid[k][0] * self.grid[k][1])
                if m is None
                else max(float(tf.reduce_sum(m)), 1e-8)
                for k, m in zip(self.term_layers, masks, strict=True)
            ]
            for masks in self.style.masks
        ]

    # -- the sums ---------------------------------------------------------------------------

    def _crop(self, image, t: Tile):
        y0, y1, x0, x1 = t.padded
        return tf.constant(np.ascontiguousarray(image[y0:y1, x0:x1]), tf.float32)

    def _mask_crops(self, masks_per_style, t: Tile, tiling_grid_whole=True):
        """Each style's term masks cropped to the tile's core (None where a style has none)."""
        return [
            [
                None if m is None else crop(m[None], t.box(k, whole=True))[0]
                for k, m in zip(self.term_layers, masks, strict=True)
            ]
            for masks in masks_per_style
        ]

    def _tile_sums(self, feats, layout: Tile, mask_crops):
        """Per style, per term: (sum over the core of m a b^T, sum of m) of a tile's features."""
        shift = self.shift
        out = []
        unmasked = {}
        for masks in mask_crops:
            row = []
            for term, layer, mask in zip(self.terms, self.term_layers, masks, strict=True):
                a, b, _w = term
                box = layout.box(layer)
                if b is None:
                    fa = fb = crop(feats[a], box)
                else:
                    shallow = terms.match_resolution(feats[a], feats[b], self.settings.pooling)
                    fa, fb = crop(shallow, box), crop(feats[b], box)
                if mask is None:
                    if term not in unmasked:
                        unmasked[term] = _sums(fa, fb, shift, None)
                    row.append(unmasked[term])
                else:
                    row.append(_sums(fa, fb, shift, mask))
            out.append(row)
        return out

    def _sums_fn(self, layout_tile: Tile):
        key = ("sums", layout_tile.layout)
        if key not in self.traced:
            self.traced[key] = tf.function(
                lambda patch, mask_crops: self._tile_sums(
                    self.extractor(self.to_network(patch)), layout_tile, mask_crops
                ),
                autograph=False,
            )
        return self.traced[key]

    def statistics(self, image: np.ndarray, masks_per_style, tiling=None):
        """Each style's list of term statistics of ``image`` (the whole image's, from tiles)."""
        total = None
        for t in tiling or self.tiles:
            crops = self._mask_crops(masks_per_style, t)
            sums = self._sums_fn(t)(self._crop(image, t), crops)
            if total is None:
                total = sums
            else:
                total = [
                    [(s0 + s1, n0 + n1) for (s0, n0), (s1, n1) in zip(r0, r1, strict=True)]
                    for r0, r1 in zip(total, sums, strict=True)
                ]
        return [[s / tf.maximum(n, 1e-8) for s, n in row] for row in total]

    def _style_statistics(self, style: np.ndarray) -> list:
        """A style image's statistics (unmasked), in tiles of its own size."""
        style = np.asarray(style, np.float32)
        tiling = tiles(style.shape[:2], self.tile, self.halo, self.align)
        stats = self.statistics(style, [[None] * len(self.terms)], tiling)
        return [v.numpy() for v in stats[0]]

    # -- the evaluation ---------------------------------------------------------------------

    def value_and_grad(self, image) -> tuple[dict, tf.Tensor]:
        """The loss terms of ``image`` ((H, W, C), the optimised variable) and the gradient of
        the total, as the whole-image objective gives them."""
        x = np.asarray(image, np.float32)
        s = self.settings
        # pass 1: the whole statistics, the style term, and its derivative by each statistic
        stats = self.statistics(x, self.style.masks)
        with tf.GradientTape() as tape:
            tape.watch([v for row in stats for v in row])
            style = self.style.loss_of(stats)
        flat = tape.gradient(style, [v for row in stats for v in row])
        flat = [
            tf.zeros_like(v) if d is None else d
            for v, d in zip([v for row in stats for v in row], flat, strict=True)
        ]
        it = iter(flat)
        d_rows = [[next(it) / n for n in totals] for totals in self.totals]
        # pass 2: each tile's surrogate back to its pixels; the tiles' gradients add up
        grad = np.zeros_like(x)
        content = 0.0
        for i, t in enumerate(self.tiles):
            c_value, g = self._grad_fn(t)(
                self._crop(x, t),
                self._mask_crops(self.style.masks, t),
                d_rows,
                self.content_targets[i],
                self.content_maps[i],
            )
            content += float(c_value)
            y0, y1, x0, x1 = t.padded
            grad[y0:y1, x0:x1] += g.numpy()
        variable = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(variable)
            tv = self.tv_scale * terms.total_variation(self.to_network(variable))
        grad += (s.tv_weight * tape.gradient(tv, variable)).numpy()
        style = float(style)
        tv = float(tv)
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        values = {
            k: tf.constant(v, tf.float32)
            for k, v in (("total", total), ("content", content), ("style", style), ("tv", tv))
        }
        return values, tf.constant(grad)

    def _grad_fn(self, layout_tile: Tile):
        key = ("grad", layout_tile.layout)
        if key in self.traced:
            return self.traced[key]
        s = self.settings
        n_content = len(self.content_layers)

        def run(patch, mask_crops, d_rows, targets, maps):
            with tf.GradientTape() as tape:
                tape.watch(patch)
                feats = self.extractor(self.to_network(patch))
                sums = self._tile_sums(feats, layout_tile, mask_crops)
                surrogate = tf.constant(0.0)
                for row, d_row in zip(sums, d_rows, strict=True):
                    for (sm, _n), d in zip(row, d_row, strict=True):
                        surrogate += tf.reduce_sum(d * sm)
                content = tf.constant(0.0)
                for k in self.content_layers:
                    core = crop(feats[k], layout_tile.box(k))
                    diff = tf.square(tf.cast(core, tf.float32) - targets[k])
                    if k in maps:
                        diff = diff * maps[k][None, :, :, None]
                    content += self.content_scale[k] * tf.reduce_sum(diff) / self.content_norm[k]
                content = content / n_content
                total = s.style_weight * surrogate + s.content_weight * content
            return content, tape.gradient(total, patch)

        self.traced[key] = tf.function(run, autograph=False)
        return self.traced[key]


def _channels(layer: str) -> int:
    from nst.net.weights import CHANNELS

    return CHANNELS[block(layer)[0] - 1]


def _sums(a, b, shift, weights):
    """(sum over positions of w a b^T, sum of w) of (1, h, w, C) factors; w = 1 without weights."""
    a = terms.flatten(a)
    b = terms.flatten(b)
    if shift:
        a, b = a + shift, b + shift
    if weights is None:
        return tf.matmul(a, b, transpose_a=True), tf.cast(tf.shape(a)[0], tf.float32)
    m = tf.reshape(tf.cast(weights, tf.float32), (-1, 1))
    return tf.matmul(a * m, b, transpose_a=True), tf.reduce_sum(m)
