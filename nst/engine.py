"""The public entry points: :func:`transfer` (images in, image and record out) and
:func:`transfer_files` (paths in, image and ``metrics.json`` written atomically)."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nst import color, images, masks, methods, quality
from nst.atomic import write_json
from nst.errors import SettingsError
from nst.settings import INIT_MODES, TransferSettings

ImageInput = str | os.PathLike | np.ndarray


@dataclass
class TransferResult:
    """What produced an image, and how the optimisation went."""

    settings: dict
    history: list[dict]
    model: dict
    layers: dict
    timings: dict
    versions: dict
    inputs: dict
    output_shape: tuple[int, int]
    evaluations: int
    stop_reason: str
    scales: list[dict] = field(default_factory=list)
    initial: dict = field(default_factory=dict)  # loss terms at the starting image
    quality: dict = field(default_factory=dict)  # nst.quality figures of the output

    @property
    def final(self) -> dict:
        last = self.history[-1] if self.history else self.initial  # no iteration: the start
        return {k: last[k] for k in ("total", "content", "style", "tv")}

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "seed": self.settings["seed"],
            "inputs": self.inputs,
            "output": {"height": self.output_shape[0], "width": self.output_shape[1]},
            "model": self.model,
            "layers": self.layers,
            "iterations": len(self.history),
            "evaluations": self.evaluations,
            "stop_reason": self.stop_reason,
            "initial_loss": self.initial,
            "final_loss": self.final,
            "quality": self.quality,
            "timings": self.timings,
            "scales": self.scales,
            "versions": self.versions,
            "history": self.history,
        }


def _log_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def library_versions() -> dict:
    import keras
    import PIL
    import scipy
    import tensorflow as tf

    import nst

    return {
        "nst": nst.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def _job_environment() -> dict:
    """Where the job ran: the scheduler's job id and the GPU slot, when there are any."""
    keys = ("SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "CUDA_VISIBLE_DEVICES", "HOSTNAME")
    env = {k.lower(): os.environ[k] for k in keys if os.environ.get(k)}
    env["hostname"] = platform.node()
    return env


def process_start_time() -> float:
    """Wall-clock time at which this process started (for the start-up cost in the record).

    On Linux it is read as the process's age: start time and uptime are both counted from boot
    to 10 ms. psutil adds the boot time, which the kernel gives in whole seconds, so its answer
    is off by a constant of up to a second (0.7 s on the benchmark machine).
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - started)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # pragma: no cover - psutil ships with snakemake, but be safe
        return time.time()


_RUNTIME: dict = {"configured": False, "import_seconds": None, "transfer_started": False}

# Keras 3 imports pandas and matplotlib.pyplot at import time whenever they are installed (for
# DataFrame inputs to fit() and image galleries); style transfer uses neither, and they cost
# about 0.6 s of every job's start-up (bench/bench_performance.py --only startup).
KERAS_OPTIONAL_IMPORTS = ("pandas", "matplotlib")


def import_tensorflow(lean: bool = False) -> float:
    """Import TensorFlow and Keras once; returns the seconds this call spent importing.

    With ``lean`` the modules in :data:`KERAS_OPTIONAL_IMPORTS` are hidden from Keras while it
    imports (they stay importable afterwards; Keras just will not take DataFrames in ``fit``).
    The CLI and the workflow's jobs ask for it because they own their process; the library
    leaves a caller's interpreter alone. ``NST_LEAN_IMPORTS=0`` turns it off.
    """
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return 0.0
    hidden = []
    if lean and os.environ.get("NST_LEAN_IMPORTS", "1") != "0":
        hidden = [name for name in KERAS_OPTIONAL_IMPORTS if name not in sys.modules]
    start = time.perf_counter()
    for name in hidden:
        sys.modules[name] = None  # makes `import name` raise ImportError
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    seconds = time.perf_counter() - start
    _RUNTIME["import_seconds"] = seconds
    return seconds


def configure_runtime(settings: TransferSettings) -> None:
    """Threads, determinism and numeric precision; TensorFlow only takes some of this once."""
    import_tensorflow()
    import keras
    import tensorflow as tf

    if not _RUNTIME["configured"]:
        if settings.threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
                tf.config.threading.set_inter_op_parallelism_threads(min(2, settings.threads))
            except RuntimeError:
                _log_stderr("nst: TensorFlow is already running; --threads is ignored.")
        tf.config.experimental.enable_op_determinism()
        _RUNTIME["configured"] = True
    keras.utils.set_random_seed(settings.seed)
    policy = {"float32": "float32", "bfloat16": "bfloat16"}.get(
        settings.precision, settings.precision
    )
    keras.mixed_precision.set_global_policy(policy)


@contextlib.contextmanager
def keras_policy(name: str):
    """Layers built inside compute under dtype policy ``name``; the global one is put back."""
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


_EXTRACTORS: dict = {}


def feature_extractor(settings: TransferSettings, layers: Sequence[str]):
    """A cached :class:`~nst.features.VGGFeatures` (building one costs a weights read)."""
    from nst.features import VGGFeatures

    key = (settings.model, settings.weights, settings.pooling, settings.precision, tuple(layers))
    if key not in _EXTRACTORS:
        _EXTRACTORS.clear()
        _EXTRACTORS[key] = VGGFeatures(
            settings.model, layers, pooling=settings.pooling, weights=settings.weights
        )
    return _EXTRACTORS[key]


def _load(image: ImageInput, what: str) -> np.ndarray:
    if isinstance(image, np.ndarray):
        arr = np.asarray(image, dtype=np.float32)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise SettingsError(f"{what} array must have shape (H, W, 3), not {arr.shape}.")
        if min(arr.shape[:2]) < images.MIN_SIDE:
            raise SettingsError(f"{what} array is smaller than {images.MIN_SIDE} px on a side.")
        return arr
    return images.load_image(image, what=what)


def _describe(image: ImageInput) -> str:
    return os.fspath(image) if not isinstance(image, np.ndarray) else f"array{image.shape}"


def initial_image(settings, content, styles, shape) -> np.ndarray:
    h, w = shape
    channels = content.shape[2]
    if settings.init == "content":
        return content.copy()
    if settings.init == "noise":
        rng = np.random.default_rng(settings.seed)
        return np.clip(rng.normal(127.5, 40.0, (h, w, channels)), 0, 255).astype(np.float32)
    if settings.init == "gray":
        return np.full((h, w, channels), 127.5, np.float32)
    if settings.init == "style":
        return images.resize(styles[0], shape)
    assert settings.init not in INIT_MODES
    init = images.resize(images.load_image(settings.init, what="init image"), shape)
    return color.rgb_to_luminance(init) if channels == 1 else init


def scale_schedule(size: int, scales: int) -> list[int]:
    """Sizes from coarse to fine, each about sqrt(2) times the one before, ending at ``size``."""
    sizes = [round(size / (2 ** (0.5 * (scales - 1 - i)))) for i in range(scales)]
    if sizes[0] < 64 and scales > 1:
        raise SettingsError(
            f"{scales} scales would start at {sizes[0]} px for size {size}; use fewer scales "
            "(the coarsest must be at least 64 px)."
        )
    return sizes


def transfer(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    settings: TransferSettings | None = None,
    *,
    log: Callable[[str], None] = _log_stderr,
    on_checkpoint: Callable[[int, np.ndarray], None] | None = None,
    stop_below: float | None = None,
    init_image: np.ndarray | None = None,
    extra_terms: dict | None = None,
    measure_quality: bool = True,
    **overrides,
) -> tuple[np.ndarray, TransferResult]:
    """Stylise ``content`` with one or more ``styles``; returns (uint8 RGB image, record).

    Images are paths or (H, W, 3) arrays in [0, 255]; ``settings`` fields can be overridden by
    keyword (``transfer(c, s, style_weight=1e4)``). See :class:`~nst.settings.TransferSettings`.
    ``stop_below`` ends the final scale once the total loss is that low (for benchmarks).
    ``init_image`` (an (H, W, 3) array in [0, 255]) replaces ``settings.init`` as the start;
    ``extra_terms`` ({name: (weight, fn)}) adds ``weight * fn(x)`` to the objective, ``x`` being
    the optimised image at the current scale (one channel under luminance-only transfer); each
    term is recorded in the history (nst.temporal's loss). ``measure_quality=False`` skips the
    quality figures (NaN; they cost network passes over content and styles).
    """
    t0, called_at = time.perf_counter(), time.time()
    # the first transfer of a process pays for the interpreter and the imports; later ones
    # (library use in a long-lived process) count their start-up from this call
    first_in_process = not _RUNTIME["transfer_started"]
    _RUNTIME["transfer_started"] = True
    settings = (settings or TransferSettings()).replace(**overrides)
    if isinstance(styles, (str, os.PathLike, np.ndarray)):
        styles = [styles]
    styles = list(styles)
    if not styles:
        raise SettingsError("give at least one style image.")
    blend = settings.style_blend_weights or (1.0,) * len(styles)
    if len(blend) != len(styles):
        raise SettingsError(
            f"{len(blend)} style-blend-weights for {len(styles)} style images; give one per style."
        )
    blend = [b / sum(blend) for b in blend]
    if settings.style_masks is not None and len(settings.style_masks) != len(styles):
        raise SettingsError(
            f"{len(settings.style_masks)} style masks for {len(styles)} style images; give one "
            "mask per style."
        )
    content_layers = methods.content_layers(settings)
    terms = methods.style_terms(settings)

    content_img = _load(content, "content image")
    style_imgs = [_load(s, "style image") for s in styles]
    configure_runtime(settings)
    t_model = time.perf_counter()
    extractor = feature_extractor(settings, network_layers(settings))
    startup = {"import_tensorflow": 0.0, "model": time.perf_counter() - t_model}
    if first_in_process:
        startup["import_tensorflow"] = _RUNTIME["import_seconds"] or 0.0
    t_setup = time.perf_counter() - t0

    sizes = scale_schedule(settings.size, settings.scales)
    per_scale = [settings.effective_coarse_iterations] * (len(sizes) - 1) + [settings.iterations]
    history, scale_records, evaluations, reason, initial = [], [], 0, "", {}
    first_iteration_at = None
    image = None
    full_shape = images.target_shape(*content_img.shape[:2], settings.size)
    for size, iterations in zip(sizes, per_scale, strict=True):
        shape = images.target_shape(*content_img.shape[:2], size)
        t_objective = time.perf_counter()
        style_masks, weight_map = masks.masks_for(settings, len(styles), shape, full_shape, log)
        objective, problem = build_objective(
            settings, content_img, style_imgs, shape, blend, style_masks, weight_map, extra_terms
        )
        startup.setdefault("objective", time.perf_counter() - t_objective)
        if image is None and init_image is not None:
            x0 = images.resize(np.asarray(init_image, np.float32), shape)
            if problem.content.shape[2] == 1 and x0.shape[2] == 3:
                x0 = color.rgb_to_luminance(x0)
        elif image is None:
            x0 = initial_image(settings, problem.content, problem.styles, shape)
        else:
            x0 = images.resize(image, shape)
        if len(sizes) > 1:
            log(f"scale {len(scale_records) + 1}/{len(sizes)}: {shape[1]}x{shape[0]} px")
        final = size == sizes[-1]
        optimize_started_at = time.time()
        result = _optimize(
            settings,
            objective,
            x0,
            iterations,
            log,
            on_checkpoint,
            problem,
            stop_below if final else None,
        )
        image = result.image
        initial = initial or result.initial
        if first_iteration_at is None and result.first_iteration_at is not None:
            first_iteration_at = result.first_iteration_at
            startup["first_iteration"] = first_iteration_at - optimize_started_at
        for row in result.history:
            history.append({**row, "iteration": len(history) + 1, "size": size})
        evaluations += result.evaluations
        reason = result.stop_reason
        scale_records.append(
            {
                "size": size,
                "height": shape[0],
                "width": shape[1],
                "iterations": len(result.history),
                "evaluations": result.evaluations,
                "seconds": round(result.seconds, 4),
            }
        )
    out = images.to_uint8(problem.finish(image))
    t_quality = time.perf_counter()
    figures = dict.fromkeys(quality.KEYS, float("nan"))  # not measured
    if measure_quality:
        figures = quality.measure(out, content_img, style_imgs, blend)
    quality_seconds = time.perf_counter() - t_quality
    optimize_seconds = sum(r["seconds"] for r in scale_records)
    t_total = time.perf_counter() - t0
    started = process_start_time() if first_in_process else called_at
    startup_seconds = (first_iteration_at or time.time()) - started
    startup.setdefault("first_iteration", 0.0)
    # interpreter, nst's own imports, argument parsing, reading the images, and any start-up
    # of the calling process before this transfer
    startup["other"] = startup_seconds - sum(startup.values())
    record = TransferResult(
        settings=settings.to_dict(),
        history=history,
        model={
            "name": settings.model,
            "weights_path": extractor.weights.path,
            "weights_sha256": extractor.weights.sha256,
            "pooling": settings.pooling,
        },
        layers={"content": list(content_layers), "style_terms": [list(t) for t in terms]},
        timings={
            "startup_seconds": round(startup_seconds, 3),
            "startup": {k: round(v, 3) for k, v in startup.items()},
            "setup_seconds": round(t_setup, 3),
            "optimize_seconds": round(optimize_seconds, 3),
            "seconds_per_iteration": round(optimize_seconds / max(1, len(history)), 5),
            "seconds_per_evaluation": round(optimize_seconds / max(1, evaluations), 5),
            "quality_seconds": round(quality_seconds, 3),
            "total_seconds": round(t_total, 3),
        },
        versions={**library_versions(), "environment": _job_environment()},
        inputs={"content": _describe(content), "styles": [_describe(s) for s in styles]},
        output_shape=out.shape[:2],
        evaluations=evaluations,
        stop_reason=reason,
        scales=scale_records,
        initial=initial,
        quality=figures,
    )
    log(
        f"done: {len(history)} iterations, {evaluations} evaluations, final loss "
        f"{record.final['total']:.4g} in {optimize_seconds:.1f} s ({reason}); content SSIM "
        f"{figures['content_ssim']:.3f}, style distance {figures['style_distance']:.3f}, colour "
        f"difference {figures['color_difference']:.1f}"
    )
    return out, record


def network_layers(settings: TransferSettings) -> list[str]:
    """Every layer the method's content and style terms read."""
    terms = methods.style_terms(settings)
    layers = set(methods.content_layers(settings)) | {t[0] for t in terms}
    return sorted(layers | {t[1] for t in terms if t[1]})


def build_objective(
    settings: TransferSettings,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    shape: tuple[int, int],
    blend: Sequence[float] | None = None,
    style_masks=None,
    weight_map=None,
    extra_terms=None,
):
    """(objective, problem) for one output shape: what :func:`transfer` optimises per scale.

    ``problem`` holds the images as the network sees them (colour preservation applied) and
    the function that turns the optimised variable into the output image.
    """
    from nst.objective import Objective

    problem = color.prepare_problem(settings, content, list(styles), shape)
    objective = Objective(
        feature_extractor(settings, network_layers(settings)),
        settings,
        problem.content,
        problem.styles,
        blend or [1.0 / len(styles)] * len(styles),
        style_masks=style_masks,
        content_weight_map=weight_map,
        to_network=problem.to_network,
        extra_terms=extra_terms,
    )
    return objective, problem


def evaluate_loss(
    image: np.ndarray,
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    settings: TransferSettings | None = None,
    **overrides,
) -> dict[str, float]:
    """The loss terms :func:`transfer` would assign to ``image`` as its output: the objective
    built for ``image``'s size (e.g. to rate a fast network's output on the optimisation's
    scale). Colour preservation, masks and multi-scale do not apply."""
    settings = (settings or TransferSettings()).replace(**overrides)
    if isinstance(styles, (str, os.PathLike, np.ndarray)):
        styles = [styles]
    content_img = _load(content, "content image")
    style_imgs = [_load(s, "style image") for s in styles]
    configure_runtime(settings)
    shape = np.asarray(image).shape[:2]
    objective, _problem = build_objective(
        settings.replace(preserve_color="none"), content_img, style_imgs, shape
    )
    values = objective(np.asarray(image, np.float32))
    return {k: float(v) for k, v in values.items()}


def _optimize(settings, objective, x0, iterations, log, on_checkpoint, problem, stop_below):
    from nst import optimize

    def checkpoint(it, img):
        if on_checkpoint is not None:
            on_checkpoint(it, images.to_uint8(problem.finish(img)))

    common = dict(
        iterations=iterations,
        min_improvement=settings.min_improvement,
        print_every=settings.print_every,
        save_every=settings.save_every,
        on_checkpoint=checkpoint,
        log=log,
        stop_below=stop_below,
    )
    if settings.optimizer == "lbfgs":
        return optimize.lbfgs(objective, x0, **common)
    return optimize.adam(objective, x0, learning_rate=settings.learning_rate, **common)


def transfer_files(
    content: str | os.PathLike,
    styles: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    *,
    log: Callable[[str], None] = _log_stderr,
    **overrides,
) -> TransferResult:
    """Run :func:`transfer` and write the image (and the JSON record) atomically."""
    output = Path(output)
    settings = (settings or TransferSettings()).replace(**overrides)

    def save_checkpoint(it: int, img: np.ndarray) -> None:
        path = output.with_name(f"{output.stem}_{it:04d}{output.suffix or '.png'}")
        images.save_image(img, path)
        log(f"saved {path}")

    image, record = transfer(content, styles, settings, log=log, on_checkpoint=save_checkpoint)
    images.save_image(image, output)
    if metrics is not None:
        write_json(metrics, record.to_dict())
    return record
