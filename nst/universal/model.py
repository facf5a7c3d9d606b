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
from nst.settings import UNIVERSAL_LEVELS
from nst.universal.decoder import decoder_info, level_layer, load_decoder
from nst.universal.transforms import FeatureStats, check_transform, transform

# where the shipped decoders live, per encoder network
DECODERS_DIR = Path(__file__).resolve().parents[2] / "resources" / "decoders"
PRESERVE = ("none", "chroma", "histogram")


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

    def style_stats(self, style: np.ndarray) -> dict[int, FeatureStats]:
        """Each level's statistics of a style image (RGB in [0, 255])."""
        import tensorflow as tf

        feats = self._style_encode(tf.constant(np.asarray(style, np.float32)[None]))
        return {v: FeatureStats.of(np.asarray(feats[level_layer(v)])[0]) for v in self.decoders}

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
            out.append(self.style_stats(s))
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
        for level in o.levels:
            feats = np.asarray(self._encode[level](tf.constant(image[None])))[0]
            grid = feats.shape[:2]
            level_masks = None
            if masks is not None:
                level_masks = [None if m is None else _fit(m, full, grid, (h, w)) for m in masks]
            moved = transform(
                feats,
                [s[level] for s in stats],
                blend=o.blend,
                masks=level_masks,
                alpha=o.alpha,
                kind=o.transform,
            )
            if o.detail:
                # what the decoder loses of the level's input (its reconstruction's residual)
                # goes back on top of the stylised decoding: one batch of both
                both = np.asarray(self._decode[level](tf.constant(np.stack([moved, feats]))))
                decoded = both[0] + float(o.detail) * (image - both[1])
            else:
                decoded = np.asarray(self._decode[level](tf.constant(moved[None])))[0]
            image = np.clip(decoded, 0.0, 255.0)[: full[0], : full[1]]
        out = image[:h, :w]
        if o.preserve_color == "chroma":
            out = color.transfer_chroma(out, arr)
        return images.to_uint8(out)


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
