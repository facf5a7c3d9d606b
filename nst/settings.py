"""All knobs of one style-transfer run, validated in one place.

The CLI flags, the Python keyword arguments of :func:`nst.transfer` and the hyperparameter sets of
the Snakemake config all map onto :class:`TransferSettings` field by field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from nst.errors import SettingsError

METHODS = ("gatys", "inetwork")
MODELS = ("vgg19", "vgg16", "vgg16-hed")
POOLINGS = ("max", "avg")
OPTIMIZERS = ("lbfgs", "adam")
INIT_MODES = ("content", "palette", "arbitrary", "noise", "gray", "style")
PRESERVE_COLOR = ("none", "luminance", "histogram", "chroma")
CHAINS = ("correlation", "none")
PRECISIONS = ("float32", "bfloat16", "mixed_bfloat16", "mixed_float16")
NORMALIZATIONS = ("start", "layer", "term", "none")


@dataclass
class TransferSettings:
    """Settings of one run; ``None`` for a layer list means "the method's default"."""

    method: str = "gatys"
    model: str = "vgg19"
    weights: str | None = None
    pooling: str = "avg"
    content_layers: tuple[str, ...] | None = None
    style_layers: tuple[str, ...] | None = None
    # With ``normalize="start"`` (the default) the style term is relative to the content's own
    # distance to the style (1 at the content) and the content term to the content's energy, so
    # the weights mean the same at every size, for every method, pair and network, and
    # style_weight 1 balances style against content (see nst/loss/objective.py and docs/methods.md).
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.01
    normalize: str = "start"
    style_blend_weights: tuple[float, ...] | None = None
    style_scale: float = 1.0
    size: int = 512
    init: str = "content"
    decoders: str | None = None  # init "arbitrary": the decoders' folder (default: the shipped)
    init_alpha: float = 1.0  # init "arbitrary": its style strength (nst arbitrary --alpha)
    init_detail: float = 1.0  # init "arbitrary": the detail put back (nst arbitrary --detail)
    seed: int = 0
    optimizer: str = "lbfgs"
    iterations: int = 500
    learning_rate: float = 10.0
    min_improvement: float = 0.0
    save_every: int = 0
    print_every: int = 10
    # Novak & Nikulin (inetwork) details; ignored by gatys unless set explicitly.
    shift: float | None = None
    chain: str | None = None
    # Colour preservation and regional transfer.
    preserve_color: str = "none"
    style_masks: tuple[str, ...] | None = None
    content_mask: str | None = None
    # Multi-scale schedule and numerics.
    scales: int = 1
    coarse_iterations: int | None = None  # per coarser scale; None: a quarter of iterations
    precision: str = "float32"
    threads: int = 0
    # Memory (nst.engine.memory, nst.loss.tiled): an image whose evaluation does not fit is
    # evaluated in tiles, exactly; 0 chooses the tile from the memory, N forces tiles of N px.
    tile: int = 0
    max_memory: float | None = None  # GiB the run may use; None: most of what is available

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, values: dict) -> TransferSettings:
        """Build from a mapping (config file, JSON); unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; "
                f"valid settings are {', '.join(sorted(names))}."
            )
        return cls(**values)

    def replace(self, **changes) -> TransferSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    def validate(self) -> None:
        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value not in options:
                raise SettingsError(
                    f"unknown {name.replace('_', '-')} {value!r}; "
                    f"choose one of {', '.join(options)}."
                )

        choice("method", METHODS)
        choice("model", MODELS)
        choice("pooling", POOLINGS)
        choice("optimizer", OPTIMIZERS)
        choice("preserve_color", PRESERVE_COLOR)
        choice("precision", PRECISIONS)
        choice("normalize", NORMALIZATIONS)
        if self.chain is not None:
            choice("chain", CHAINS)
        for name in ("content_layers", "style_layers", "style_blend_weights", "style_masks"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(v for v in value.replace(",", " ").split() if v)
            if value is not None:
                value = tuple(value)
            setattr(self, name, value)
        if self.style_blend_weights is not None:
            self.style_blend_weights = tuple(float(w) for w in self.style_blend_weights)
            if any(w < 0 for w in self.style_blend_weights) or sum(self.style_blend_weights) <= 0:
                raise SettingsError(
                    "style-blend-weights must be non-negative and not all zero, e.g. 0.7 0.3."
                )
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size <= 0:
            raise SettingsError(f"size must be a positive number of pixels, not {self.size!r}.")
        if self.size < 32:
            raise SettingsError(f"size {self.size} is too small; use at least 32 px.")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if float(getattr(self, name)) < 0:
                raise SettingsError(f"{name.replace('_', '-')} must be zero or positive.")
        positive = ("style_scale", "learning_rate")
        for name in positive:
            if float(getattr(self, name)) <= 0:
                raise SettingsError(f"{name.replace('_', '-')} must be positive.")
        if self.iterations < 1:
            raise SettingsError(f"iterations must be at least 1, not {self.iterations}.")
        if self.scales < 1:
            raise SettingsError(f"scales must be at least 1, not {self.scales}.")
        if self.coarse_iterations is not None and self.coarse_iterations < 1:
            raise SettingsError("coarse-iterations must be at least 1.")
        if not 0 <= self.min_improvement < 1:
            raise SettingsError("min-improvement is a relative change: use a value in [0, 1).")
        for name in ("save_every", "print_every", "threads"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name.replace('_', '-')} must be zero or positive.")
        if (
            not isinstance(self.tile, int)
            or isinstance(self.tile, bool)
            or (0 < self.tile < 32)
            or self.tile < 0
        ):
            raise SettingsError(
                f"tile must be 0 (chosen from the memory) or at least 32 px, not {self.tile!r}."
            )
        if self.max_memory is not None and not float(self.max_memory) > 0:
            raise SettingsError(
                f"max-memory must be a positive number of GiB, not {self.max_memory!r}."
            )
        for name in ("init_alpha", "init_detail"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0 <= float(value) <= 1:
                raise SettingsError(f"{name.replace('_', '-')} must be in [0, 1], not {value!r}.")
            if float(value) != 1.0 and self.init != "arbitrary":
                raise SettingsError(
                    f"{name.replace('_', '-')} sets the --init arbitrary start; this run starts "
                    f"from {self.init!r} (add --init arbitrary, or leave it out)."
                )
        if self.init not in INIT_MODES and not Path(os.fspath(self.init)).exists():
            raise SettingsError(
                f"init {self.init!r} is neither one of {', '.join(INIT_MODES)} nor an existing "
                "image file."
            )

    # Method-dependent effective values -------------------------------------------------------

    @property
    def effective_coarse_iterations(self) -> int:
        if self.coarse_iterations is not None:
            return self.coarse_iterations
        return max(10, self.iterations // 4)

    @property
    def effective_shift(self) -> float:
        if self.shift is not None:
            return float(self.shift)
        return -1.0 if self.method == "inetwork" else 0.0

    @property
    def effective_chain(self) -> str:
        if self.chain is not None:
            return self.chain
        return "correlation" if self.method == "inetwork" else "none"


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(TransferSettings))
DEFAULTS = TransferSettings()


# Feed-forward training (nst.feedforward) -----------------------------------------------------

# the TransferSettings fields the training loss uses (the others are about optimising one image)
LOSS_FIELDS = (
    "method",
    "model",
    "weights",
    "pooling",
    "content_layers",
    "style_layers",
    "content_weight",
    "style_weight",
    "tv_weight",
    "normalize",
    "shift",
    "chain",
    "precision",
    "threads",
    "seed",
)
# Johnson, Alahi & Fei-Fei (section 4.1): VGG16, content relu2_2, style relu1_2, relu2_2, relu3_3,
# relu4_3 (equal weights), on the engine's normalised scale where weight 1 balances the terms.
# Measured on the shipped recipe (128 px crops, width 16, batch 1, 300 steps, brushstrokes;
# content SSIM / style distance on the held-out chelsea at 256 px): content conv2_2 at weight 1
# 0.58 / 0.71, at weight 3 0.31 / 0.51; content conv3_3 at weight 1 0.39 / 0.58. A deeper
# content layer or more weight soon leaves the content unrecognisable (conv3_3 at weight 3 after
# 2000 steps: SSIM 0.08), and the style keeps growing with longer training.
# The style terms are normalised by their targets' energy ("layer"), the recipe of the shipped
# networks; "start" measures the style terms from centre crops of up to 8 training contents.
FEEDFORWARD_DEFAULTS = TransferSettings(
    model="vgg16",
    normalize="layer",
    content_layers=("conv2_2",),
    style_layers=("conv1_2", "conv2_2", "conv3_3", "conv4_3"),
    content_weight=1.0,
    style_weight=1.0,
    tv_weight=0.01,
)


@dataclass
class TrainSettings:
    """The knobs of training a transformation network (the loss's are TransferSettings')."""

    width: int = 32  # channels of the first layer: 32 (the paper) or 16 (half)
    train_size: int = 256  # side of the square training crops
    batch_size: int = 4
    steps: int = 2000
    learning_rate: float = 1e-3  # Adam
    lr_decay_every: int = 0  # steps between multiplications by lr_decay_factor; 0: constant
    lr_decay_factor: float = 0.5
    checkpoint_every: int = 100  # steps; 0: no checkpoints
    print_every: int = 10  # steps; 0: quiet
    style_size: int | None = None  # longest side of the style image; None: train_size
    # shorter side the contents are resized to, the crops then cut at that scale (None: a crop
    # covers most of an image)
    content_size: int | None = None
    temporal_weight: float = 1.0  # of the temporal term, when training on video pairs

    def __post_init__(self) -> None:
        self.validate()

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        def whole(name: str, least: int) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise SettingsError(
                    f"{name.replace('_', '-')} must be a whole number of at least {least}, "
                    f"not {value!r}."
                )

        for name, least in (("width", 1), ("train_size", 32), ("batch_size", 1), ("steps", 1)):
            whole(name, least)
        for name in ("checkpoint_every", "print_every", "lr_decay_every"):
            whole(name, 0)
        if self.style_size is not None:
            whole("style_size", 32)
        if self.content_size is not None:
            whole("content_size", self.train_size)
        if not float(self.temporal_weight) >= 0:
            raise SettingsError("temporal-weight must be zero or positive.")
        if self.train_size % 4:
            raise SettingsError(
                f"train-size {self.train_size} is not a multiple of 4 (the network halves it "
                "twice); use e.g. 256."
            )
        if not float(self.learning_rate) > 0:
            raise SettingsError("learning-rate must be positive, e.g. 0.001.")
        if not 0 < float(self.lr_decay_factor) <= 1:
            raise SettingsError(
                f"lr-decay-factor must be in (0, 1], e.g. 0.5, not {self.lr_decay_factor!r}."
            )


TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSettings))


def training_settings(
    settings: TransferSettings | None = None, train: TrainSettings | None = None, **overrides
) -> tuple[TransferSettings, TrainSettings]:
    """The loss and training settings with keyword overrides applied to whichever owns them
    (here, not in nst.feedforward, so that the workflow checks them without importing Keras)."""
    unknown = sorted(set(overrides) - set(TRAIN_FIELDS) - set(LOSS_FIELDS))
    if unknown:
        raise SettingsError(
            f"unknown training setting(s) {', '.join(unknown)}; valid settings are "
            f"{', '.join(sorted({*TRAIN_FIELDS, *LOSS_FIELDS}))}."
        )
    train = (train or TrainSettings()).replace(
        **{k: v for k, v in overrides.items() if k in TRAIN_FIELDS}
    )
    settings = (settings or FEEDFORWARD_DEFAULTS).replace(
        **{k: v for k, v in overrides.items() if k in LOSS_FIELDS and k not in TRAIN_FIELDS}
    )
    return settings, train


# Universal (any-style) transfer -------------------------------------------------------------

# the levels nst arbitrary and the warm start apply by default, coarse to fine: a
# level-4 decoder is not shipped (bench/results/universal_level4_trial.md)
UNIVERSAL_LEVELS = (3, 2, 1)


@dataclass
class DecoderSettings:
    """Training a decoder of the loss network's level ``level`` (nst.feedforward.decoder)."""

    model: str = "vgg16-hed"
    weights: str | None = None
    pooling: str = "max"  # the encoder as the network was trained
    level: int = 4
    width: float = 1.0  # channels of the inner convolutions, relative to the encoder's
    refine: int = 0  # extra convolutions at the image's resolution before the last one
    train_size: int = 128  # side of the square patches
    source_size: int = 512  # the photos' shorter side, resized once, that patches come from
    batch_size: int = 8
    steps: int = 4000
    learning_rate: float = 1e-4  # Adam (Li et al.)
    lr_decay_every: int = 0
    lr_decay_factor: float = 0.5
    feature_weight: float = 1.0  # feature reconstruction beside the pixel reconstruction
    checkpoint_every: int = 100
    print_every: int = 10
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def replace(self, **changes) -> DecoderSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.model not in MODELS:
            raise SettingsError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")
        if self.pooling not in POOLINGS:
            raise SettingsError(f"unknown pooling {self.pooling!r}; choose max or avg.")
        if self.level not in (1, 2, 3, 4, 5):
            raise SettingsError(f"unknown level {self.level!r}; levels are 1, 2, 3, 4, 5.")
        for name, least in (
            ("train_size", 32),
            ("source_size", 32),
            ("batch_size", 1),
            ("steps", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise SettingsError(
                    f"{name.replace('_', '-')} must be a whole number of at least {least}, "
                    f"not {value!r}."
                )
        for name in ("checkpoint_every", "print_every", "lr_decay_every", "threads"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name.replace('_', '-')} must be zero or positive.")
        if self.train_size % 2 ** (self.level - 1):
            raise SettingsError(
                f"train-size {self.train_size} must be a multiple of {2 ** (self.level - 1)} "
                f"for level {self.level} (the encoder halves it {self.level - 1} times)."
            )
        if not 0 < float(self.width) <= 1:
            raise SettingsError(f"width must be in (0, 1], e.g. 1 or 0.5, not {self.width!r}.")
        if not isinstance(self.refine, int) or isinstance(self.refine, bool) or self.refine < 0:
            raise SettingsError(f"refine must be a whole number >= 0, not {self.refine!r}.")
        if not float(self.learning_rate) > 0:
            raise SettingsError("learning-rate must be positive, e.g. 0.0001.")
        if not 0 < float(self.lr_decay_factor) <= 1:
            raise SettingsError("lr-decay-factor must be in (0, 1].")
        if float(self.feature_weight) < 0:
            raise SettingsError("feature-weight must be zero or positive.")


# ---------------------------------------------------------------------------------------------
# Video

# A frame whose consistency with its predecessor is this low (share of reliable pixels) starts a
# new shot: it is stylised from its own content instead of the warped previous frame.
CUT_THRESHOLD = 0.4
# Feed-forward video: the share of the warped previous output blended into a frame where the
# flow is reliable (nst.video.feedforward); 0 is the network frame by frame.
BLEND = 0.6


@dataclass
class VideoOptions:
    """What video transfer adds to :class:`~nst.settings.TransferSettings`."""

    temporal_weight: float = 1.0
    temporal_frames: tuple[int, ...] = (1,)
    first_iterations: int | None = None  # None: twice the settings' iterations
    warm_start: bool = True  # False (with weight 0): plain frame-by-frame transfer
    cut_threshold: float = CUT_THRESHOLD
    blend: float = BLEND  # feed-forward video only

    def __post_init__(self) -> None:
        if not 0 <= float(self.blend) < 1:
            raise SettingsError(f"blend must be in [0, 1), not {self.blend!r}.")
        if isinstance(self.temporal_frames, str):
            self.temporal_frames = tuple(
                int(v) for v in self.temporal_frames.replace(",", " ").split()
            )
        self.temporal_frames = tuple(sorted(set(int(j) for j in self.temporal_frames)))
        if not self.temporal_frames or min(self.temporal_frames) < 1:
            raise SettingsError("temporal-frames are distances back in frames, e.g. 1 or 1,2,4.")
        if 1 not in self.temporal_frames:
            raise SettingsError("temporal-frames must include 1 (the previous frame), e.g. 1,2,4.")
        if self.temporal_weight < 0:
            raise SettingsError("temporal-weight must be zero or positive.")
        if self.first_iterations is not None and self.first_iterations < 1:
            raise SettingsError("first-iterations must be at least 1.")

    def iterations_first(self, settings: TransferSettings) -> int:
        return self.first_iterations or 2 * settings.iterations

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["temporal_frames"] = list(self.temporal_frames)
        return out
