"""Universal (any-style) transfer: encode, transform the features, decode; coarse to fine.

:class:`Universal` holds the decoders of several levels and the encoder they invert. For each
level from the deepest to the shallowest (Li et al. 2017's multi-level stylisation) the current
image is encoded to that level, its features take the styles' statistics
(:func:`nst.universal.transforms.transform`: whitening-colouring or AdaIN, mixed with the
content's own features by ``alpha``) and the level's decoder turns them back into the image the
next level starts from. The deep levels move the larger structures and colours, the shallow ones
the fine texture. No style needs training: any style image works.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst import images
from nst.errors import SettingsError
from nst.images import color
from nst.net.features import VGGFeatures
from nst.runtime import GIB
from nst.settings import UNIVERSAL_LEVELS
from nst.universal.decoder import decoder_info, level_layer, load_decoder
from nst.universal.transforms import FeatureStats, Moments, check_transform, transform

# where the shipped decoders live, per encoder network
DECODERS_DIR = Path(__file__).resolve().parents[2] / "resources" / "decoders"
PRESERVE = ("none", "chroma", "histogram")
# Peak memory of a call (levels 3 2 1, detail 1, the style at the output's size), from
# bench/bench_universal_tiled.py: about 1 GiB of TensorFlow and the networks, the networks'
# activations per pixel of a pass (whole image, or a tile with its context: 3.47-3.68 KB
# measured, the most at 1024 px tiles), and the image-sized arrays that stay whatever the tile
# (input, padded image, each level's output, the result: about 50 bytes per pixel)
BYTES_PER_PIXEL = 3700
BASE_BYTES = 1 * GIB
IMAGE_BYTES_PER_PIXEL = 64


def decoder_path(directory: str | os.PathLike, level: int) -> Path:
    return Path(directory) / f"level{level}.keras"


def default_decoders(model: str) -> Path:
    return DECODERS_DIR / model


@dataclass
class UniversalOptions:
    """The knobs of one universal transfer."""

    alpha: float = 1.0  # 0: the content's features, 1: the style's statistics
    transform: str = "wct"
    levels: tuple[int, ...] = UNIVERSAL_LEVELS
    size: int | None = 512  # longest side of the output; None: the content's own
    style_size: int | None = None  # longest side of the style images; None: as the output
    preserve_color: str = "none"
    blend: tuple[float, ...] | None = None
    # share of what each level's decoder loses of its own input put back: 1 keeps the content's
    # fine lines and edges the decoders cannot draw, 0 is Li et al.'s plain decoding
    detail: float = 1.0
    # large images: tiles of this many px (their statistics summed over the whole image, so the
    # result is the whole image's); 0 chooses from the memory (whole when it fits)
    tile: int = 0
    max_memory: float | None = None  # GiB a call may use; None: most of what is available

    def __post_init__(self) -> None:
        check_transform(self.transform)
        if not 0 <= float(self.alpha) <= 1:
            raise SettingsError(f"alpha must be in [0, 1], not {self.alpha!r}.")
        if not 0 <= float(self.detail) <= 1:
            raise SettingsError(f"detail must be in [0, 1], not {self.detail!r}.")
        self.levels = tuple(int(v) for v in self.levels)
        if not self.levels:
            raise SettingsError("give at least one level, e.g. --levels 3 2 1.")
        for v in self.levels:
            level_layer(v)
        if self.preserve_color not in PRESERVE:
            raise SettingsError(
                f"unknown preserve-color {self.preserve_color!r} for universal transfer; "
                f"choose one of {', '.join(PRESERVE)}."
            )
        if (
            isinstance(self.tile, bool)
            or not isinstance(self.tile, int)
            or not (self.tile == 0 or self.tile >= 64)
        ):
            raise SettingsError(
                f"tile must be 0 (chosen from the memory) or at least 64 px, not {self.tile!r}."
            )
        if self.max_memory is not None and not float(self.max_memory) > 0:
            raise SettingsError(
                f"max-memory must be a positive number of GiB, not {self.max_memory!r}."
            )
        for name in ("size", "style_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < images.MIN_SIDE):
                raise SettingsError(
                    f"{name.replace('_', '-')} must be at least "
                    f"{images.MIN_SIDE} pixels, not {value!r}."
                )


class Universal:
    """The decoders of ``levels`` found in ``directory`` and the encoder they were trained on."""

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        levels: Sequence[int] = UNIVERSAL_LEVELS,
        *,
        model: str = "vgg16-hed",
        weights: str | os.PathLike | None = None,
    ):
        import tensorflow as tf

        directory = Path(directory) if directory is not None else default_decoders(model)
        self.directory = directory
        self.last_tile = 0  # the tile of the last stylize call (0: whole)
        self.decoders = {}
        self.info = {}
        pooling = None
        digest = None
        for level in sorted(set(levels), reverse=True):
            decoder = load_decoder(decoder_path(directory, level), model=model)
            info = decoder_info(decoder)
            if info.get("level") != level:
                raise SettingsError(
                    f"{decoder_path(directory, level)} decodes level {info.get('level')}, not "
                    f"{level}; rename it or train the level-{level} decoder."
                )
            pooling = pooling or info.get("pooling", "max")
            digest = digest or info.get("weights_sha256")
            self.decoders[level] = decoder
            self.info[level] = info
        self.model = model
        self.encoders = {
            level: VGGFeatures(model, [level_layer(level)], pooling=pooling, weights=weights)
            for level in self.decoders
        }
        # the style statistics need every level: one pass through the deepest encoder
        self.style_encoder = VGGFeatures(
            model, [level_layer(v) for v in self.decoders], pooling=pooling, weights=weights
        )
        mine = self.style_encoder.weights.sha256
        if digest is not None and digest != mine:
            raise SettingsError(
                f"the decoders in {directory} were trained on other {model} weights (sha256 "
                f"{digest[:12]}, these are {mine[:12]}): use the weights they name or train them "
                "again with nst train-decoder."
            )
        self.weights = self.style_encoder.weights

        def traced(fn):
            return tf.function(
                fn,
                input_signature=[tf.TensorSpec((None, None, None, None), tf.float32)],
                autograph=False,
            )

        def encode(net, layer):
            return traced(lambda x: net(x, training=False)[layer])

        self._encode = {v: encode(e.model, level_layer(v)) for v, e in self.encoders.items()}
        self._decode = {
            v: traced(lambda x, net=d: net(x, training=False)) for v, d in self.decoders.items()
        }
        self._style_encode = traced(lambda x: self.style_encoder.model(x, training=False))

    def style_stats(self, style: np.ndarray, tile: int = 0) -> dict[int, FeatureStats]:
        """Each level's statistics of a style image (RGB in [0, 255]); with ``tile``, summed
        over tiles of that many px (a style as large as a poster)."""
        import tensorflow as tf

        arr = np.asarray(style, np.float32)
        if not tile or max(arr.shape[:2]) <= tile:
            feats = self._style_encode(tf.constant(arr[None]))
            return {v: FeatureStats.of(np.asarray(feats[level_layer(v)])[0]) for v in self.decoders}
        deepest = max(self.decoders)
        step = 2 ** (deepest - 1)
        h, w = arr.shape[:2]
        arr = np.pad(arr, ((0, -h % step), (0, -w % step), (0, 0)), mode="reflect")
        moments = {v: Moments() for v in self.decoders}
        halo = self._encoder_halo(deepest)
        for core, box in _boxes(arr.shape[:2], _aligned(tile, step), halo):
            feats = self._style_encode(tf.constant(arr[None, box[0] : box[1], box[2] : box[3]]))
            for v in self.decoders:
                moments[v].add(_crop(np.asarray(feats[level_layer(v)])[0], core, box, 2 ** (v - 1)))
        return {v: m.stats() for v, m in moments.items()}

    def _encoder_halo(self, level: int) -> int:
        from nst.net.receptive import halo

        return halo(self.model, [level_layer(level)])

    def _decoder_halo(self, level: int) -> int:
        """Output pixels a tile's edge spoils in the level's decoder: one feature position per
        3 x 3 convolution at its scale, rounded up to the level's stride."""
        import keras

        scale, spread = 2 ** (level - 1), 0
        for layer in self.decoders[level].layers:
            if isinstance(layer, keras.layers.UpSampling2D):
                scale //= 2
            elif isinstance(layer, keras.layers.Conv2D):
                spread += (layer.kernel_size[0] // 2) * scale
        stride = 2 ** (level - 1)
        return -(-spread // stride) * stride

    def _level_tiled(self, level, image, stats, o, masks, tile) -> np.ndarray:
        """One level over an image too large for one pass, tile by tile: first the content's
        statistics (whole and per mask) summed over tiles, then each tile transformed with them
        and decoded, with the context each network needs around it, so that every pixel is the
        whole image's up to float rounding."""
        import tensorflow as tf

        stride, shape = 2 ** (level - 1), image.shape[:2]
        enc, dec = self._encoder_halo(level), self._decoder_halo(level)

        def encode(box):
            y0, y1, x0, x1 = box
            return np.asarray(self._encode[level](tf.constant(image[None, y0:y1, x0:x1])))[0]

        def cut(mask, box):
            return None if mask is None else mask[box[0] // stride : box[1] // stride,
                                                   box[2] // stride : box[3] // stride]  # fmt: skip

        whole = Moments()
        regions = [None if m is None else Moments() for m in masks or []]
        for core, box in _boxes(shape, tile, enc):
            feats = _crop(encode(box), core, box, stride)
            whole.add(feats)
            for region, mask in zip(regions, masks or [], strict=True):
                if region is not None:
                    region.add(feats, np.clip(cut(mask, core), 0.0, 1.0))
        content_stats = (whole.stats(), [None if r is None else r.stats() for r in regions])

        out = np.empty_like(image)
        for core, box in _boxes(shape, tile, dec):
            context = (
                max(0, box[0] - enc), min(shape[0], box[1] + enc),
                max(0, box[2] - enc), min(shape[1], box[3] + enc),
            )  # fmt: skip
            feats = _crop(encode(context), box, context, stride)
            moved = transform(
                feats,
                [s[level] for s in stats],
                blend=o.blend,
                masks=None if masks is None else [cut(m, box) for m in masks],
                alpha=o.alpha,
                kind=o.transform,
                content_stats=content_stats,
            )
            decoded = self._decoded(
                level, moved, feats, image[box[0] : box[1], box[2] : box[3]], o.detail
            )
            y0, y1, x0, x1 = (
                core[0] - box[0],
                core[1] - box[0],
                core[2] - box[2],
                core[3] - box[2],
            )
            out[core[0] : core[1], core[2] : core[3]] = decoded[y0:y1, x0:x1]
        return out

    def _decoded(self, level, moved, feats, image, detail) -> np.ndarray:
        """The level's decoding of ``moved`` (the transformed ``feats`` of ``image``), in
        [0, 255]: with ``detail``, what the decoder loses of the level's input (its
        reconstruction's residual) goes back on top of the stylised decoding, one batch of both."""
        import tensorflow as tf

        if detail:
            both = np.asarray(self._decode[level](tf.constant(np.stack([moved, feats]))))
            decoded = both[0] + float(detail) * (image - both[1])
        else:
            decoded = np.asarray(self._decode[level](tf.constant(moved[None])))[0]
        return np.clip(decoded, 0.0, 255.0)

    def _margin(self) -> int:
        """The context around a tile's core in the decoding pass, the most over the levels."""
        return max(self._encoder_halo(v) + self._decoder_halo(v) for v in self.decoders)

    def estimate_bytes(self, shape: tuple[int, int], tile: int = 0) -> float:
        """The peak memory of a call at ``shape`` (padded), whole (``tile`` 0 or not smaller
        than the image) or in tiles of ``tile`` px."""
        pixels = shape[0] * shape[1]
        if not tile or max(shape) <= tile:
            return BASE_BYTES + (BYTES_PER_PIXEL + IMAGE_BYTES_PER_PIXEL) * pixels
        part = (tile + 2 * self._margin()) ** 2
        return BASE_BYTES + IMAGE_BYTES_PER_PIXEL * pixels + BYTES_PER_PIXEL * part

    def tile_for(self, shape: tuple[int, int], options: UniversalOptions) -> int:
        """The tile a call at ``shape`` uses: ``options.tile``, else 0 (the whole image) when
        it fits the memory (``options.max_memory`` GiB, else 80 % of what is available), else
        the largest that fits with its halo."""
        if options.tile:
            return options.tile
        from nst.runtime import AVAILABLE_SHARE, available_bytes

        budget = (
            float(options.max_memory) * GIB
            if options.max_memory is not None
            else AVAILABLE_SHARE * available_bytes()
        )
        if self.estimate_bytes(shape) <= budget:
            return 0
        fixed = BASE_BYTES + IMAGE_BYTES_PER_PIXEL * shape[0] * shape[1]  # whatever the tile
        side = (max(0.0, budget - fixed) / BYTES_PER_PIXEL) ** 0.5 - 2 * self._margin()
        tile = int(side // 64 * 64)
        if tile < 64:
            need = self.estimate_bytes(shape, 64) / GIB
            raise SettingsError(
                f"even 64 px tiles need about {need:.1f} GiB; this call may use "
                f"{budget / GIB:.1f} GiB (--max-memory)."
            )
        return tile

    def prepare_styles(
        self, styles: Sequence[np.ndarray], options: UniversalOptions, content: np.ndarray
    ) -> list[dict[int, FeatureStats]]:
        """Every style's statistics per level for ``content`` (at its output size): the
        styles at ``style_size`` (default the content's longest side), histogram-matched to
        the content with ``preserve_color: histogram``."""
        side = options.style_size or max(content.shape[:2])
        out = []
        for style in styles:
            s = images.resize_longest(np.asarray(style, np.float32), side)
            if options.preserve_color == "histogram":
                s = color.match_color_histogram(s, content)
            out.append(self.style_stats(s, self.tile_for(s.shape[:2], options)))
        return out

    def stylize(
        self,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        options: UniversalOptions | None = None,
        masks: Sequence[np.ndarray | None] | None = None,
        *,
        prepared: list | None = None,
    ) -> np.ndarray:
        """The content (RGB in [0, 255]) in the styles; uint8 RGB at ``options.size``.

        ``prepared``: the styles' statistics from :meth:`prepare_styles` for a content of this
        size (the frames of a video share them)."""
        import tensorflow as tf

        o = options or UniversalOptions()
        missing = [v for v in o.levels if v not in self.decoders]
        if missing:
            raise SettingsError(
                f"no decoder for level(s) {', '.join(map(str, missing))} in {self.directory}; "
                f"levels there: {', '.join(map(str, sorted(self.decoders)))}."
            )
        if o.blend is not None and len(o.blend) != len(styles):
            raise SettingsError(
                f"{len(o.blend)} blend weight(s) for {len(styles)} style(s); give one per style."
            )
        arr = np.asarray(content, np.float32)
        if o.size is not None:
            arr = images.resize_longest(arr, o.size)
        h, w = arr.shape[:2]
        stats = prepared if prepared is not None else self.prepare_styles(styles, o, arr)
        step = 2 ** (max(o.levels) - 1)
        image = np.pad(arr, ((0, -h % step), (0, -w % step), (0, 0)), mode="reflect")
        full = image.shape[:2]
        tile = self.tile_for(full, o)
        tile = _aligned(tile, step) if tile and max(full) > tile else 0
        self.last_tile = tile  # 0: the whole image in one pass
        for level in o.levels:
            level_masks = None
            if masks is not None:  # on the level's feature grid (the padded image is on it)
                grid = (full[0] // 2 ** (level - 1), full[1] // 2 ** (level - 1))
                level_masks = [None if m is None else _fit(m, full, grid, (h, w)) for m in masks]
            if tile:
                image = self._level_tiled(level, image, stats, o, level_masks, tile)
                continue
            feats = np.asarray(self._encode[level](tf.constant(image[None])))[0]
            moved = transform(
                feats,
                [s[level] for s in stats],
                blend=o.blend,
                masks=level_masks,
                alpha=o.alpha,
                kind=o.transform,
            )
            image = self._decoded(level, moved, feats, image, o.detail)[: full[0], : full[1]]
        out = image[:h, :w]
        if o.preserve_color == "chroma":
            out = color.transfer_chroma(out, arr)
        return images.to_uint8(out)


def _aligned(tile: int, step: int) -> int:
    return max(step, tile // step * step)


def _boxes(shape: tuple[int, int], core: int, margin: int):
    """(core, box) pairs (top, bottom, left, right): tiles of ``core`` px covering ``shape``,
    each with ``margin`` px of context around it inside the image."""
    h, w = shape
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(h, y0 + core), min(w, x0 + core)
            yield (
                (y0, y1, x0, x1),
                (
                    max(0, y0 - margin),
                    min(h, y1 + margin),
                    max(0, x0 - margin),
                    min(w, x1 + margin),
                ),
            )


def _crop(feats: np.ndarray, inner, outer, stride: int) -> np.ndarray:
    """The features of box ``inner`` out of those of box ``outer`` (image px, on ``stride``)."""
    top, left = (inner[0] - outer[0]) // stride, (inner[2] - outer[2]) // stride
    rows, cols = (inner[1] - inner[0]) // stride, (inner[3] - inner[2]) // stride
    return feats[top : top + rows, left : left + cols]


def _fit(mask: np.ndarray, full, grid, shape) -> np.ndarray:
    """A mask of the output (``shape``) on a level's feature grid of the padded image."""
    m = images.resize(np.asarray(mask, np.float32)[..., None], shape)[..., 0]
    m = np.pad(m, ((0, full[0] - shape[0]), (0, full[1] - shape[1])), mode="edge")
    return images.resize(m[..., None], grid)[..., 0]


_CACHE: dict = {}


def cached_universal(
    directory: str | os.PathLike | None = None,
    levels: Sequence[int] = UNIVERSAL_LEVELS,
    *,
    model: str = "vgg16-hed",
    weights: str | os.PathLike | None = None,
) -> Universal:
    """A :class:`Universal` kept for the process (the warm start of every run and frame loads
    and traces its decoders once); the last one only."""
    key = (str(directory), tuple(levels), model, str(weights))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = Universal(directory, levels, model=model, weights=weights)
    return _CACHE[key]
