"""Fast feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016): train a transformation
network (:mod:`nst.feedforward.network`) for one style on a set of content images.

The training loss is the engine's own (:class:`nst.loss.objective.BatchObjective`: the same
content, style and variation terms and normalisation as the optimisation of one image), so the
weights mean what they mean for ``nst transfer``. Training writes a checkpoint every
``checkpoint_every`` steps next to the model (:mod:`nst.feedforward.checkpoint`); started again
with the same settings it resumes there and ends with the same weights as an uninterrupted run
(the data of a step depends only on the seed and the step, and TensorFlow runs
deterministically).

Entry points: :func:`train_files` (paths in, model and JSON record out, written atomically) and
:func:`train_transformer` (arrays).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst import images, runtime
from nst.atomic import atomic_path, write_json
from nst.engine.record import loss_terms, model_entry, run_record
from nst.errors import NSTError, SettingsError
from nst.feedforward import checkpoint as ckpt_files
from nst.feedforward.data import CropSampler, PatchSampler, collect_images
from nst.feedforward.network import FORMAT_VERSION, build_transformer, model_info
from nst.feedforward.temporal import make_temporal_step
from nst.loss.methods import LossLayers
from nst.loss.objective import BatchObjective, StyleLoss
from nst.net.features import WeightsInfo, feature_extractor
from nst.net.weights import file_digest
from nst.settings import (
    FEEDFORWARD_DEFAULTS,
    LOSS_FIELDS,
    TrainSettings,
    TransferSettings,
    training_settings,
)
from nst.version import __version__

__all__ = ["TrainResult", "make_train_step", "train_files", "train_transformer"]


def loss_settings(settings: TransferSettings) -> dict:
    full = settings.to_dict()
    return {k: full[k] for k in LOSS_FIELDS}


@dataclass
class TrainResult:
    model: object  # keras.Model
    history: list[dict]
    resumed_from: int  # the checkpoint's step, 0 for a fresh start
    seconds: float  # training loop of this call
    seconds_total: float  # including the runs a checkpoint continues
    steps_per_second: float  # this call's, without the first step (tracing)
    weights: WeightsInfo  # the loss network's name, path and sha256


def make_train_step(model, objective, optimizer, batch_shape: tuple[int, int, int, int]):
    """One traced Adam step on a batch of contents, returning the loss terms: what training
    runs every step (and bench/bench_fast.py times against the bare passes)."""
    import keras
    import tensorflow as tf

    # mixed_float16: the gradient of the scaled loss; apply_gradients unscales it and skips a
    # step whose gradient overflowed (lowering the scale)
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    @tf.function(input_signature=[tf.TensorSpec(batch_shape, tf.float32)], autograph=False)
    def step_fn(batch):
        with tf.GradientTape() as tape:
            values = objective(model(batch, training=True), batch)
            loss = optimizer.scale_loss(values["total"]) if scaled else values["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return values

    return step_fn


def _build_policy() -> str:
    """The dtype policy the network is built under: float32 weights whatever the arithmetic
    (``bfloat16`` trains as ``mixed_bfloat16``)."""
    import keras

    policy = keras.mixed_precision.global_policy().name
    return "mixed_bfloat16" if policy == "bfloat16" else policy


def _network_and_optimizer(settings, train: TrainSettings, info: dict, policy: str):
    """A fresh network (the same initial weights whatever ran in this process before) and its
    Adam, with the learning-rate staircase and, under mixed_float16, a loss scale."""
    import keras

    keras.utils.set_random_seed(settings.seed)
    with runtime.keras_policy(policy):
        model = build_transformer(train.width, info)
    rate = train.learning_rate
    if train.lr_decay_every:  # a staircase on the optimizer's own step count (resumes with it)
        rate = keras.optimizers.schedules.ExponentialDecay(
            rate, train.lr_decay_every, train.lr_decay_factor, staircase=True
        )
    optimizer = keras.optimizers.Adam(rate)
    if policy == "mixed_float16":  # float16 gradients underflow without a loss scale
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def _start_from(model, path) -> None:
    """Copy the weights of the network in ``path`` into ``model`` (the same architecture)."""
    from nst.feedforward.network import load_transformer

    source = load_transformer(path)
    shapes = [tuple(w.shape) for w in source.get_weights()]
    if shapes != [tuple(w.shape) for w in model.get_weights()]:
        raise SettingsError(
            f"cannot start from {path}: it is a network of another width or layout; give "
            "--width as it was trained (nst stylize --help shows it in the record)."
        )
    model.set_weights(source.get_weights())


def _as_float32(model, train: TrainSettings, info: dict, policy: str):
    """A network trained in reduced precision as a float32 one (it stylises so anywhere)."""
    if policy == "float32":
        return model
    with runtime.keras_policy("float32"):
        plain = build_transformer(train.width, info)
    plain.set_weights(model.get_weights())
    return plain


class _Progress:
    """Progress lines (loss terms, steps per second, ETA), the bar on a terminal and the
    divergence check."""

    def __init__(self, train: TrainSettings, start: int, log, bar: runtime.Progress):
        self.train, self.start, self.log, self.bar = train, start, log, bar
        self.t0 = time.perf_counter()
        self.first_done: float | None = None

    def step(self, step: int, row: dict) -> None:
        now = time.perf_counter()
        if not np.isfinite(row["total"]):
            raise NSTError(
                f"training diverged at step {step} (loss {row['total']}); lower the learning "
                f"rate (now {self.train.learning_rate:g})."
            )
        self.bar.update(1, loss=row["total"])
        done = step - self.start
        if self.first_done is None:
            self.first_done = now
        elapsed = now - self.first_done if done > 1 else max(now - self.t0, 1e-9)
        rate = (done - 1 if done > 1 else 1) / elapsed
        steps, every = self.train.steps, self.train.print_every
        if every and (step % every == 0 or step in (1, steps)):
            self.log(
                f"step {step}/{steps}  loss {row['total']:.4g} (content "
                f"{row['content']:.4g}, style {row['style']:.4g}, tv {row['tv']:.4g}"
                + (f", temporal {row['temporal']:.4g}" if "temporal" in row else "")
                + ")  "
                f"{rate:.2f} steps/s  ETA {runtime.clock((steps - step) / max(rate, 1e-9))}"
            )

    def steps_per_second(self, seconds: float) -> float:
        """This call's rate without the first step (tracing)."""
        timed = self.train.steps - self.start - 1
        if timed <= 0:
            return 0.0
        return timed / (seconds - (self.first_done - self.t0))


def train_transformer(
    style: np.ndarray,
    contents: Sequence[np.ndarray],
    settings: TransferSettings | None = None,
    train: TrainSettings | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    info: dict | None = None,
    pairs=None,
    init: str | os.PathLike | None = None,
    log: Callable[[str], None] = runtime.log,
) -> TrainResult:
    """Train a transformation network for ``style`` on crops of ``contents`` (RGB arrays).

    ``checkpoint``: where to save and resume (None: no checkpoints). ``info`` is stored in the
    model next to the settings (the files' provenance). ``pairs``: consecutive video frames
    (:class:`nst.video.pairs.FramePairs`) added to every step with the temporal term
    (:mod:`nst.feedforward.temporal`) at ``train.temporal_weight``. ``init``: a network file
    of the same width to start from (fine-tuning, e.g. a shipped network on video pairs).
    """
    import tensorflow as tf

    settings = settings or FEEDFORWARD_DEFAULTS
    train = train or TrainSettings()
    layers = LossLayers.of(settings)
    runtime.configure_runtime(settings)
    extractor = feature_extractor(settings, layers.network)
    style_img = images.resize_longest(
        np.asarray(style, np.float32), train.style_size or train.train_size
    )
    if train.content_size is None:
        sampler = CropSampler(contents, train.train_size, train.batch_size, settings.seed)
    else:  # crops at the scale of photographs of content_size px
        sampler = PatchSampler(
            contents, train.train_size, train.batch_size, settings.seed, train.content_size
        )
    reference = None
    if settings.normalize == "start":  # the style terms relative to the contents' distance
        reference = extractor(tf.constant(sampler.reference()))
    style_loss = StyleLoss(extractor, settings, [style_img], layers=layers, reference=reference)
    objective = BatchObjective(extractor, settings, style_loss, layers)
    identity = {
        "format": FORMAT_VERSION,
        "settings": {
            k: v for k, v in loss_settings(settings).items() if k not in ("weights", "threads")
        },
        "train": {k: v for k, v in train.to_dict().items() if k not in ckpt_files.RESUMABLE},
        "weights_sha256": extractor.weights.sha256,
        "data_sha256": ckpt_files.data_digest(style, contents),
        "pairs_sha256": pairs.digest() if pairs is not None else None,
        "init_sha256": file_digest(init) if init is not None else None,
    }
    identity = json.loads(json.dumps(identity))
    info = {
        "nst_version": __version__,
        **(info or {}),
        "settings": loss_settings(settings),
        "train": train.to_dict(),
        "layers": layers.to_dict(),
        "weights_sha256": extractor.weights.sha256,
    }
    policy = _build_policy()
    model, optimizer = _network_and_optimizer(settings, train, info, policy)
    if init is not None:
        _start_from(model, init)

    ckpt = Path(checkpoint) if checkpoint is not None else None
    start, history, seconds_before = 0, [], 0.0
    if ckpt:
        restored = ckpt_files.restore_checkpoint(ckpt, model, optimizer, identity, train.steps, log)
        if restored:
            start, history, seconds_before = restored
    batch_shape = (train.batch_size, train.train_size, train.train_size, 3)
    if pairs is None:
        step_fn = make_train_step(model, objective, optimizer, batch_shape)

        def run_step(step):
            return step_fn(tf.constant(sampler.batch(step)))
    else:
        if pairs.size != train.train_size:
            raise SettingsError(
                f"the video pairs are {pairs.size} px crops, the training {train.train_size} px."
            )
        step_fn = make_temporal_step(
            model,
            objective,
            optimizer,
            batch_shape,
            (pairs.pairs, train.train_size, train.train_size, 3),
            float(train.temporal_weight),
        )

        def run_step(step):
            return step_fn(tf.constant(sampler.batch(step)), *map(tf.constant, pairs.batch(step)))

    if start == 0:
        log(
            f"training a width-{train.width} network ({model.count_params():,} parameters) for "
            f"{train.steps} steps: batches of {train.batch_size} crops of {train.train_size} px "
            f"from {len(contents)} image(s)"
            + (
                f" at {train.content_size} px (shorter side)"
                if train.content_size is not None
                else ""
            )
        )
    with runtime.progress(train.steps, "train-style", "step", initial=start) as bar:
        progress = _Progress(train, start, log, bar)
        for step in range(start + 1, train.steps + 1):
            values = run_step(step)
            row = {"step": step, **{k: float(v) for k, v in values.items()}}
            history.append(row)
            progress.step(step, row)
            every = train.checkpoint_every
            if ckpt and every and step % every == 0 and step < train.steps:
                elapsed = seconds_before + time.perf_counter() - progress.t0
                ckpt_files.save_checkpoint(ckpt, model, optimizer, identity, step, history, elapsed)
                log(f"checkpoint at step {step}: {ckpt}")
    seconds = time.perf_counter() - progress.t0
    return TrainResult(
        model=_as_float32(model, train, info, policy),
        history=history,
        resumed_from=start,
        seconds=seconds,
        seconds_total=seconds_before + seconds,
        steps_per_second=progress.steps_per_second(seconds),
        weights=extractor.weights,
    )


def _file_entry(path: Path, image: np.ndarray) -> dict:
    return {
        "path": str(path),
        "sha256": file_digest(path),
        "height": image.shape[0],
        "width": image.shape[1],
    }


def train_files(
    style: str | os.PathLike,
    contents: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    train: TrainSettings | None = None,
    *,
    pairs=None,
    init: str | os.PathLike | None = None,
    log: Callable[[str], None] = runtime.log,
    **overrides,
) -> dict:
    """Train a network for the style image on the content images and folders; write it.

    The model goes to ``output`` (a ``.keras`` file), the record (returned) to ``metrics``.
    Bad input raises :class:`NSTError` before anything is written.
    """
    t0 = time.perf_counter()
    settings, train_settings = training_settings(settings, train, **overrides)
    output = Path(output)
    if output.suffix != ".keras":
        raise SettingsError(f"model output {output} must end in .keras (the Keras model format).")
    if output.is_dir():
        raise SettingsError(
            f"model output {output} is a folder; give a file name ending in .keras."
        )
    LossLayers.of(settings)  # bad layers fail before any image is read
    style_path = Path(style)
    style_img = images.load_image(style_path, what="style image")
    files = collect_images(contents, "content image", log)
    arrays = [images.load_image(f, what="content image") for f in files]
    style_record = _file_entry(style_path, style_img)
    ckpt = ckpt_files.checkpoint_path(output)
    t_setup = time.perf_counter() - t0
    result = train_transformer(
        style_img,
        arrays,
        settings,
        train_settings,
        checkpoint=ckpt,
        info={"style": {k: style_record[k] for k in ("path", "sha256")}},
        pairs=pairs,
        init=init,
        log=log,
    )
    with atomic_path(output) as tmp:
        result.model.save(tmp)
    ckpt.unlink(missing_ok=True)
    history = result.history
    record = run_record(
        loss_settings(settings),
        train=train_settings.to_dict(),
        style=style_record,
        contents=[_file_entry(f, a) for f, a in zip(files, arrays, strict=True)],
        model=model_entry(settings, result.weights),
        layers=model_info(result.model)["layers"],
        output={
            "path": str(output),
            "sha256": file_digest(output),
            "format_version": FORMAT_VERSION,
            "parameters": int(result.model.count_params()),
        },
        init=None if init is None else {"path": str(init), "sha256": file_digest(init)},
        videos=None
        if pairs is None
        else {"sources": pairs.sources, "pairs": pairs.count(), "sha256": pairs.digest()},
        steps=len(history),
        resumed_from=result.resumed_from,
        initial_loss=loss_terms(history[0]),
        final_loss=loss_terms(history[-1]),
        history=history,
        timings={
            "setup_seconds": round(t_setup, 3),
            "train_seconds": round(result.seconds, 3),
            "train_seconds_total": round(result.seconds_total, 3),
            "steps_per_second": round(result.steps_per_second, 4),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if metrics is not None:
        write_json(metrics, record)
    log(
        f"done: {len(history)} steps, final loss {history[-1]['total']:.4g} "
        f"({result.steps_per_second:.2f} steps/s); model {output}"
    )
    return record
