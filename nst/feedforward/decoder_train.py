"""Training a decoder (:mod:`nst.feedforward.decoder`) to invert one level of the loss network.

Natural images only, no style: the loss is the pixel reconstruction ``mean((D(E(x)) - x)^2)``
(pixels in [0, 1]) plus ``feature_weight`` times the feature reconstruction
``mean((E(D(E(x))) - E(x))^2) / mean(E(x)^2)`` (Li et al. 2017), on random patches of the
training photographs at their own scale (:class:`~nst.feedforward.data.PatchSampler`: the batch a
step sees depends on the seed and the step only). Checkpoints beside the output make a cut
training resume and end with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nst import images, runtime
from nst.atomic import atomic_path, write_json
from nst.engine.record import run_record
from nst.errors import SettingsError
from nst.feedforward import checkpoint as ckpt_files
from nst.feedforward.data import PatchSampler, collect_images
from nst.net.features import VGGFeatures
from nst.net.weights import file_digest
from nst.settings import DecoderSettings, TransferSettings
from nst.universal.decoder import DECODER_FORMAT, build_decoder, level_layer
from nst.version import __version__

# settings a resumed training may change without changing the weights it ends with
RESUMABLE = ("steps", "checkpoint_every", "print_every", "threads")


def encoder(settings: DecoderSettings, levels: Sequence[int] | None = None) -> VGGFeatures:
    """The loss network up to the given levels' layers (default: the settings' level)."""
    layers = [level_layer(v) for v in (levels or [settings.level])]
    return VGGFeatures(settings.model, layers, pooling=settings.pooling, weights=settings.weights)


def make_decoder_step(decoder, enc: VGGFeatures, layer: str, optimizer, batch_shape, weight):
    """One traced Adam step on a batch of images: returns total, pixel and feature losses."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(batch_shape, tf.float32)], autograph=False)
    def step_fn(batch):
        target = tf.stop_gradient(enc(batch)[layer])
        energy = tf.maximum(tf.reduce_mean(tf.square(target)), 1e-12)
        with tf.GradientTape() as tape:
            decoded = decoder(target, training=True)
            pixel = tf.reduce_mean(tf.square((decoded - batch) / 255.0))
            feature = tf.reduce_mean(tf.square(enc(decoded)[layer] - target)) / energy
            total = pixel + weight * feature
        grads = tape.gradient(total, decoder.trainable_variables)
        optimizer.apply_gradients(zip(grads, decoder.trainable_variables, strict=True))
        return {"total": total, "pixel": pixel, "feature": feature}

    return step_fn


def data_digest(digests: Sequence[str]) -> str:
    """sha256 over the training files' own sha256s, in order."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def train_decoder(
    arrays: Sequence[np.ndarray],
    settings: DecoderSettings,
    *,
    checkpoint: Path | None = None,
    data_sha256: str = "",
    info: dict | None = None,
    log: Callable[[str], None] = runtime.log,
):
    """Train a decoder of ``settings.level`` on crops of ``arrays``: (decoder, history, resumed
    from step, seconds of this call, seconds in all, encoder weights' sha256)."""
    import keras
    import tensorflow as tf

    runtime.configure_runtime(TransferSettings(threads=settings.threads, seed=settings.seed))
    layer = level_layer(settings.level)
    enc = encoder(settings)
    identity = json.loads(
        json.dumps(
            {
                "format": DECODER_FORMAT,
                "settings": {
                    k: v
                    for k, v in settings.to_dict().items()
                    if k not in RESUMABLE and k != "weights"
                },
                "weights_sha256": enc.weights.sha256,
                "data_sha256": data_sha256,
            }
        )
    )
    info = {
        "nst_version": __version__,
        "weights_sha256": enc.weights.sha256,
        "pooling": settings.pooling,
        "layer": layer,
        **(info or {}),
    }
    sampler = PatchSampler(
        arrays, settings.train_size, settings.batch_size, settings.seed, settings.source_size
    )
    # the features' RMS on the first batch: the decoder's input scale (a constant of the file)
    first = enc(tf.constant(sampler.batch(1)))[layer]
    scale = 1.0 / max(float(tf.sqrt(tf.reduce_mean(tf.square(first)))), 1e-6)
    keras.utils.set_random_seed(settings.seed)
    decoder = build_decoder(
        settings.model, settings.level, settings.width, info, scale, settings.refine
    )
    rate = settings.learning_rate
    if settings.lr_decay_every:
        rate = keras.optimizers.schedules.ExponentialDecay(
            rate, settings.lr_decay_every, settings.lr_decay_factor, staircase=True
        )
    optimizer = keras.optimizers.Adam(rate)
    optimizer.build(decoder.trainable_variables)
    start, history, before = 0, [], 0.0
    if checkpoint is not None:
        restored = ckpt_files.restore_checkpoint(
            checkpoint, decoder, optimizer, identity, settings.steps, log
        )
        if restored:
            start, history, before = restored
    shape = (settings.batch_size, settings.train_size, settings.train_size, 3)
    step_fn = make_decoder_step(
        decoder, enc, layer, optimizer, shape, float(settings.feature_weight)
    )
    if start == 0:
        log(
            f"training the level-{settings.level} decoder ({layer}, "
            f"{decoder.count_params():,} parameters) for {settings.steps} steps: batches of "
            f"{settings.batch_size} crops of {settings.train_size} px from {len(arrays)} images"
        )
    t0 = time.perf_counter()
    first = None
    with runtime.progress(settings.steps, "train-decoder", "step", initial=start) as bar:
        for step in range(start + 1, settings.steps + 1):
            values = step_fn(tf.constant(sampler.batch(step)))
            row = {"step": step, **{k: float(v) for k, v in values.items()}}
            if not np.isfinite(row["total"]):
                raise SettingsError(
                    f"the decoder's loss is not finite at step {step}; lower --learning-rate."
                )
            history.append(row)
            first = first or time.perf_counter()
            bar.update(1)
            every = settings.print_every
            if every and (step % every == 0 or step in (start + 1, settings.steps)):
                done = step - start - 1
                rate = done / max(time.perf_counter() - first, 1e-9) if done else 0.0
                eta = runtime.clock((settings.steps - step) / rate) if rate else "?"
                log(
                    f"step {step}/{settings.steps}  loss {row['total']:.4g} (pixel "
                    f"{row['pixel']:.4g}, feature {row['feature']:.4g})  "
                    f"{rate:.2f} steps/s  ETA {eta}"
                )
            every = settings.checkpoint_every
            if checkpoint is not None and every and step % every == 0 and step < settings.steps:
                elapsed = before + time.perf_counter() - t0
                ckpt_files.save_checkpoint(
                    checkpoint, decoder, optimizer, identity, step, history, elapsed
                )
    seconds = time.perf_counter() - t0
    return decoder, history, start, seconds, before + seconds, enc.weights


def decoder_files(
    contents: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: DecoderSettings | None = None,
    *,
    log: Callable[[str], None] = runtime.log,
) -> dict:
    """Train a decoder on the images and folders ``contents``; write it to ``output`` (.keras)
    and its record (returned) to ``metrics``. Bad input fails before anything is written."""
    t0 = time.perf_counter()
    settings = settings or DecoderSettings()
    output = Path(output)
    if output.suffix != ".keras":
        raise SettingsError(f"decoder output {output} must end in .keras (the Keras format).")
    if output.is_dir():
        raise SettingsError(f"decoder output {output} is a folder; give a file name.")
    files = collect_images(contents, "training image", log)
    arrays = [images.load_image(f, what="training image") for f in files]
    digests = [file_digest(f) for f in files]
    digest = data_digest(digests)
    ckpt = ckpt_files.checkpoint_path(output)
    decoder, history, resumed, seconds, total, weights = train_decoder(
        arrays,
        settings,
        checkpoint=ckpt,
        data_sha256=digest,
        info={"data_sha256": digest, "images": len(files)},
        log=log,
    )
    with atomic_path(output) as tmp:
        decoder.save(tmp)
    ckpt.unlink(missing_ok=True)
    tail = history[-min(len(history), 100) :]
    record = run_record(
        {k: v for k, v in settings.to_dict().items() if k != "threads"},
        data={
            "sha256": digest,
            "images": [{"path": str(f), "sha256": d} for f, d in zip(files, digests, strict=True)],
        },
        model={"name": weights.model, "weights": weights.path, "sha256": weights.sha256},
        output={
            "path": str(output),
            "sha256": file_digest(output),
            "format_version": DECODER_FORMAT,
            "parameters": int(decoder.count_params()),
        },
        steps=len(history),
        resumed_from=resumed,
        final_loss={k: float(np.mean([r[k] for r in tail])) for k in ("total", "pixel", "feature")},
        history=history,
        timings={
            "train_seconds": round(seconds, 3),
            "train_seconds_total": round(total, 3),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if metrics is not None:
        write_json(metrics, record)
    log(f"done: {len(history)} steps, decoder written to {output}")
    return record
