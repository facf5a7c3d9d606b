"""Fast feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016): train a transformation
network (:mod:`nst.transformer`) for one style on a set of content images, then stylise any
image with one pass through it.

The training loss is the engine's own (:class:`nst.objective.BatchObjective`: the same content,
style and variation terms and normalisation as the optimisation of one image), so the weights
mean what they mean for ``nst transfer``. Training writes a checkpoint every
``checkpoint_every`` steps next to the model (``MODEL.keras.ckpt.npz``); started again with the
same settings it resumes there and ends with the same weights as an uninterrupted run (the data
of a step depends only on the seed and the step, and TensorFlow runs deterministically).

Entry points: :func:`train_files` / :func:`stylize_files` (paths in, files and a JSON record
out, everything written atomically), :func:`load_transformer` and :func:`stylize` (arrays).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst import images, methods
from nst.atomic import atomic_path, write_json
from nst.errors import NSTError, SettingsError
from nst.settings import (
    FEEDFORWARD_DEFAULTS,
    LOSS_FIELDS,
    TrainSettings,
    TransferSettings,
    training_settings,
)
from nst.training_data import CropSampler, collect_images
from nst.transformer import FORMAT_VERSION, load_transformer, model_info
from nst.weights import file_digest

__all__ = [
    "TrainResult",
    "TrainSettings",
    "load_transformer",
    "stylize",
    "stylize_files",
    "train_transformer",
    "train_files",
    "training_settings",
]


def check_settings(settings: TransferSettings) -> tuple[tuple, list]:
    """The content layers and the style terms (or a SettingsError for what training can't use)."""
    return methods.content_layers(settings), methods.style_terms(settings)


def loss_settings(settings: TransferSettings) -> dict:
    full = settings.to_dict()
    return {k: full[k] for k in LOSS_FIELDS}


def _log_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ---------------------------------------------------------------------------------------------
# Checkpoints


CHECKPOINT_FORMAT = 1
# settings a resumed training may change without changing the weights it ends with
_RESUMABLE = ("steps", "checkpoint_every", "print_every")


def checkpoint_path(output: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(output)}.ckpt.npz")


def _data_digest(style: np.ndarray, contents: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for arr in (style, *contents):
        a = np.ascontiguousarray(arr, np.float32)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def save_checkpoint(path: Path, model, optimizer, identity: dict, step: int, history, seconds):
    """Weights, optimizer state, step, loss history and what they belong to, in one .npz."""
    arrays = {
        "format": np.array(CHECKPOINT_FORMAT),
        "identity": np.array(json.dumps(identity, sort_keys=True)),
        "step": np.array(step),
        "history": np.array(json.dumps(history)),
        "seconds": np.array(seconds),
    }
    for i, w in enumerate(model.weights):
        arrays[f"model_{i}"] = np.asarray(w.numpy())
    for i, v in enumerate(optimizer.variables):
        arrays[f"optimizer_{i}"] = np.asarray(v.numpy())
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def restore_checkpoint(path: Path, model, optimizer, identity: dict, steps: int, log):
    """Load a matching checkpoint into model and optimizer: (step, history, seconds) or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != CHECKPOINT_FORMAT:
                raise ValueError(f"checkpoint format {int(data['format'])}")
            saved = json.loads(str(data["identity"]))
            step = int(data["step"])
            history = json.loads(str(data["history"]))
            seconds = float(data["seconds"])
            weights = [data[f"model_{i}"] for i in range(len(model.weights))]
            state = [data[f"optimizer_{i}"] for i in range(len(optimizer.variables))]
    except Exception as exc:  # truncated, foreign or from another layout
        log(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); starting over.")
        return None
    changed = _differences(saved, identity)
    if changed:
        log(
            f"checkpoint {path} was made with other settings ({', '.join(changed)}); starting over."
        )
        return None
    if step > steps:
        log(
            f"checkpoint {path} is at step {step}, past the {steps} steps asked for; starting over."
        )
        return None
    variables = [*model.weights, *optimizer.variables]
    values = [*weights, *state]
    if any(tuple(v.shape) != a.shape for v, a in zip(variables, values, strict=True)):
        log(f"checkpoint {path} does not fit the network; starting over.")
        return None
    for v, a in zip(variables, values, strict=True):
        v.assign(a)
    log(f"resuming from checkpoint {path} at step {step}/{steps}")
    return step, history, seconds


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    model: object  # keras.Model
    history: list[dict]
    resumed_from: int  # the checkpoint's step, 0 for a fresh start
    seconds: float  # training loop of this call
    seconds_total: float  # including the runs a checkpoint continues
    steps_per_second: float  # this call's, without the first step (tracing)
    weights: dict  # the loss network's name, path and sha256


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


def train_transformer(
    style: np.ndarray,
    contents: Sequence[np.ndarray],
    settings: TransferSettings | None = None,
    train: TrainSettings | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    info: dict | None = None,
    log: Callable[[str], None] = _log_stderr,
) -> TrainResult:
    """Train a transformation network for ``style`` on crops of ``contents`` (RGB arrays).

    ``checkpoint``: where to save and resume (None: no checkpoints). ``info`` is stored in the
    model next to the settings (the files' provenance).
    """
    import keras
    import tensorflow as tf

    from nst.engine import configure_runtime, feature_extractor, keras_policy, network_layers
    from nst.objective import BatchObjective, StyleLoss
    from nst.transformer import build_transformer

    settings = settings or FEEDFORWARD_DEFAULTS
    train = train or TrainSettings()
    content_layers, terms = check_settings(settings)
    configure_runtime(settings)
    extractor = feature_extractor(settings, network_layers(settings))
    style_img = images.resize_longest(
        np.asarray(style, np.float32), train.style_size or train.train_size
    )
    objective = BatchObjective(extractor, settings, StyleLoss(extractor, settings, [style_img]))
    sampler = CropSampler(contents, train.train_size, train.batch_size, settings.seed)

    identity = {
        "format": FORMAT_VERSION,
        "settings": {
            k: v for k, v in loss_settings(settings).items() if k not in ("weights", "threads")
        },
        "train": {k: v for k, v in train.to_dict().items() if k not in _RESUMABLE},
        "weights_sha256": extractor.weights.sha256,
        "data_sha256": _data_digest(style, contents),
    }
    identity = json.loads(json.dumps(identity))
    info = {
        "nst_version": _nst_version(),
        **(info or {}),
        "settings": loss_settings(settings),
        "train": train.to_dict(),
        "layers": {"content": list(content_layers), "style_terms": [list(t) for t in terms]},
        "weights_sha256": extractor.weights.sha256,
    }
    # the same initial weights whatever ran in this process before (the loss network's build)
    keras.utils.set_random_seed(settings.seed)
    # float32 weights whatever the arithmetic: "bfloat16" trains as mixed_bfloat16
    policy = keras.mixed_precision.global_policy().name
    build_policy = "mixed_bfloat16" if policy == "bfloat16" else policy
    with keras_policy(build_policy):
        model = build_transformer(train.width, info)
    rate = train.learning_rate
    if train.lr_decay_every:  # a staircase on the optimizer's own step count (resumes with it)
        rate = keras.optimizers.schedules.ExponentialDecay(
            rate, train.lr_decay_every, train.lr_decay_factor, staircase=True
        )
    optimizer = keras.optimizers.Adam(rate)
    if build_policy == "mixed_float16":  # float16 gradients underflow without a loss scale
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)

    ckpt = Path(checkpoint) if checkpoint is not None else None
    start, history, seconds_before = 0, [], 0.0
    restored = ckpt and restore_checkpoint(ckpt, model, optimizer, identity, train.steps, log)
    if restored:
        start, history, seconds_before = restored

    step_fn = make_train_step(
        model, objective, optimizer, (train.batch_size, train.train_size, train.train_size, 3)
    )
    if start == 0:
        log(
            f"training a width-{train.width} network ({model.count_params():,} parameters) for "
            f"{train.steps} steps: batches of {train.batch_size} crops of {train.train_size} px "
            f"from {len(contents)} image(s)"
        )
    t0 = time.perf_counter()
    first_done = None
    for step in range(start + 1, train.steps + 1):
        values = step_fn(tf.constant(sampler.batch(step)))
        row = {"step": step, **{k: float(v) for k, v in values.items()}}
        history.append(row)
        now = time.perf_counter()
        if not np.isfinite(row["total"]):
            raise NSTError(
                f"training diverged at step {step} (loss {row['total']}); lower the learning "
                f"rate (now {train.learning_rate:g})."
            )
        done = step - start
        if first_done is None:
            first_done = now
        rate = (done - 1) / (now - first_done) if done > 1 else 1.0 / max(now - t0, 1e-9)
        if train.print_every and (step % train.print_every == 0 or step in (1, train.steps)):
            log(
                f"step {step}/{train.steps}  loss {row['total']:.4g} (content "
                f"{row['content']:.4g}, style {row['style']:.4g}, tv {row['tv']:.4g})  "
                f"{rate:.2f} steps/s  ETA {_clock((train.steps - step) / max(rate, 1e-9))}"
            )
        every = train.checkpoint_every
        if ckpt and every and step % every == 0 and step < train.steps:
            elapsed = seconds_before + now - t0
            save_checkpoint(ckpt, model, optimizer, identity, step, history, elapsed)
            log(f"checkpoint at step {step}: {ckpt}")
    seconds = time.perf_counter() - t0
    timed = train.steps - start - 1
    if build_policy != "float32":  # the file stylises in float32 wherever it goes
        with keras_policy("float32"):
            trained, model = model, build_transformer(train.width, info)
        model.set_weights(trained.get_weights())
    return TrainResult(
        model=model,
        history=history,
        resumed_from=start,
        seconds=seconds,
        seconds_total=seconds_before + seconds,
        steps_per_second=timed / (seconds - (first_done - t0)) if timed > 0 else 0.0,
        weights=dataclasses.asdict(extractor.weights),
    )


def _nst_version() -> str:
    from nst import __version__

    return __version__


def _versions() -> dict:
    from nst.engine import _job_environment, library_versions

    return {**library_versions(), "environment": _job_environment()}


def train_files(
    style: str | os.PathLike,
    contents: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    train: TrainSettings | None = None,
    *,
    log: Callable[[str], None] = _log_stderr,
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
    check_settings(settings)
    style_path = Path(style)
    style_img = images.load_image(style_path, what="style image")
    files = collect_images(contents, "content image", log)
    arrays = [images.load_image(f, what="content image") for f in files]
    style_record = {
        "path": str(style_path),
        "sha256": file_digest(style_path),
        "height": style_img.shape[0],
        "width": style_img.shape[1],
    }
    contents_record = [
        {"path": str(f), "sha256": file_digest(f), "height": a.shape[0], "width": a.shape[1]}
        for f, a in zip(files, arrays, strict=True)
    ]
    ckpt = checkpoint_path(output)
    t_setup = time.perf_counter() - t0
    result = train_transformer(
        style_img,
        arrays,
        settings,
        train_settings,
        checkpoint=ckpt,
        info={"style": {k: style_record[k] for k in ("path", "sha256")}},
        log=log,
    )
    with atomic_path(output) as tmp:
        result.model.save(tmp)
    ckpt.unlink(missing_ok=True)
    history = result.history
    record = {
        "settings": loss_settings(settings),
        "train": train_settings.to_dict(),
        "seed": settings.seed,
        "style": style_record,
        "contents": contents_record,
        "model": {
            "name": settings.model,
            "weights_path": result.weights["path"],
            "weights_sha256": result.weights["sha256"],
            "pooling": settings.pooling,
        },
        "layers": model_info(result.model)["layers"],
        "output": {
            "path": str(output),
            "sha256": file_digest(output),
            "format_version": FORMAT_VERSION,
            "parameters": int(result.model.count_params()),
        },
        "steps": len(history),
        "resumed_from": result.resumed_from,
        "initial_loss": {k: history[0][k] for k in ("total", "content", "style", "tv")},
        "final_loss": {k: history[-1][k] for k in ("total", "content", "style", "tv")},
        "history": history,
        "timings": {
            "setup_seconds": round(t_setup, 3),
            "train_seconds": round(result.seconds, 3),
            "train_seconds_total": round(result.seconds_total, 3),
            "steps_per_second": round(result.steps_per_second, 4),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
        "versions": _versions(),
    }
    if metrics is not None:
        write_json(metrics, record)
    log(
        f"done: {len(history)} steps, final loss {history[-1]['total']:.4g} "
        f"({result.steps_per_second:.2f} steps/s); model {output}"
    )
    return record


# ---------------------------------------------------------------------------------------------
# Stylising

_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model):
    """The model's forward pass, traced once for images of any size."""
    if model not in _FORWARD:
        import tensorflow as tf

        net = weakref.ref(model)  # the cached function must not keep the model alive
        _FORWARD[model] = tf.function(
            lambda x: net()(x, training=False),
            input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)],
            autograph=False,
        )
    return _FORWARD[model]


def stylize(model, image: np.ndarray, size: int | None = None) -> np.ndarray:
    """Stylise an (H, W, 3) RGB array in [0, 255] with a transformer (or a model file's path).

    Returns uint8 RGB of the same size, or with the longest side ``size`` when given. The image
    is mirrored out to a multiple of 4 pixels for the network and cropped back afterwards.
    """
    import tensorflow as tf

    if isinstance(model, (str, os.PathLike)):
        model = load_transformer(model)
    arr = np.asarray(image, np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise SettingsError(f"the image array must have shape (H, W, 3), not {arr.shape}.")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < images.MIN_SIDE:
            raise SettingsError(f"size must be at least {images.MIN_SIDE} pixels, not {size!r}.")
        arr = images.resize_longest(arr, size)
    if min(arr.shape[:2]) < images.MIN_SIDE:
        raise SettingsError(f"the image is smaller than {images.MIN_SIDE} px on a side.")
    h, w = arr.shape[:2]
    padded = np.pad(arr, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")
    out = _forward(model)(tf.constant(padded[None]))
    return images.to_uint8(np.asarray(out)[0, :h, :w])


def _style_for_quality(style, info: dict, log) -> tuple[np.ndarray | None, dict | None]:
    """The style image the quality figures compare with: the given one, or the model's own."""
    if style is not None:
        path = Path(style)
        return images.load_image(path, what="style image"), {
            "path": str(path),
            "sha256": file_digest(path),
        }
    known = info.get("style") or {}
    path = Path(known["path"]) if known.get("path") else None
    if path is None or not path.is_file() or file_digest(path) != known.get("sha256"):
        log("no style image at hand (pass --style): the style distance is not measured")
        return None, None
    return images.load_image(path, what="style image"), dict(known)


def _outputs(inputs: Sequence, files: list[Path], output: Path) -> list[Path]:
    if len(inputs) == 1 and not Path(inputs[0]).is_dir():
        from PIL import Image

        if output.suffix.lower() not in Image.registered_extensions():
            raise SettingsError(
                f"cannot tell the image format of output {output}; end it in .png or .jpg."
            )
        if output.is_dir():
            raise SettingsError(f"output {output} is a folder; give an image file name.")
        return [output]
    if output.exists() and not output.is_dir():
        raise SettingsError(
            f"output {output} is a file, but several inputs need a folder; give a folder name."
        )
    targets = [output / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for f, t in zip(files, targets, strict=True):
        if t in seen:
            raise SettingsError(
                f"inputs {seen[t]} and {f} would both be written to {t}; rename one of them."
            )
        seen[t] = f
    return targets


def stylize_files(
    model: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    *,
    size: int | None = None,
    style: str | os.PathLike | None = None,
    threads: int = 0,
    log: Callable[[str], None] = _log_stderr,
) -> dict:
    """Stylise image files and folders with a trained model; write the images and the record.

    ``output`` is the image file when there is one input file, a folder otherwise (``NAME.png``
    per input). The quality figures compare each output with its input and, when the style is
    known (``style``, or the model's own style image if it is still where it was), the style.
    ``threads``: TensorFlow's threads (0: its default; a process takes the first setting only).
    """
    import tensorflow as tf

    from nst import quality
    from nst.engine import configure_runtime

    t0 = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if size is not None and (not isinstance(size, int) or size < images.MIN_SIDE):
        raise SettingsError(f"size must be at least {images.MIN_SIDE} pixels, not {size!r}.")
    output = Path(output)
    files = collect_images(inputs, "input image", log)
    targets = _outputs(inputs, files, output)
    configure_runtime(TransferSettings(threads=threads))
    model_path = Path(model)
    net = load_transformer(model_path)
    info = model_info(net)
    style_img, style_record = _style_for_quality(style, info, log)
    # trace and optimise the forward pass once (it serves every size), so that the seconds per
    # image are the network's and not TensorFlow's one-off set-up
    stylize(net, np.zeros((images.MIN_SIDE, images.MIN_SIDE, 3), np.float32))
    t_setup = time.perf_counter() - t0
    rows = []
    for src, dst in zip(files, targets, strict=True):
        content = images.load_image(src, what="input image")
        t = time.perf_counter()
        out = stylize(net, content, size)
        seconds = time.perf_counter() - t
        images.save_image(out, dst)
        if style_img is not None:
            figures = quality.measure(out, content, [style_img])
        else:
            at_size = images.resize(content, out.shape[:2])
            figures = {
                "content_ssim": round(quality.ssim(out, at_size), 4),
                "style_distance": None,
                "color_difference": round(quality.color_difference(out, at_size), 3),
            }
        rows.append(
            {
                "input": str(src),
                "input_sha256": file_digest(src),
                "output": str(dst),
                "height": out.shape[0],
                "width": out.shape[1],
                "seconds": round(seconds, 4),
                "quality": figures,
            }
        )
        log(f"{src} -> {dst}: {out.shape[1]}x{out.shape[0]} px in {seconds:.2f} s")
    record = {
        "model": {
            "path": str(model_path),
            "sha256": file_digest(model_path),
            "format_version": net.get_layer("pixels").format_version,
            "info": info,
        },
        "size": size,
        "style": style_record,
        "images": rows,
        "seconds_per_image": round(sum(r["seconds"] for r in rows) / len(rows), 4),
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),  # 0: TF's default
        "timings": {
            "setup_seconds": round(t_setup, 3),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
        "versions": _versions(),
    }
    if metrics is not None:
        write_json(metrics, record)
    return record
