"""The optimisation of one image: :func:`transfer` (images in, image and record out) and
:func:`transfer_files` (paths in, image and ``metrics.json`` written atomically).

A run is a :class:`~nst.loss.problem.TransferProblem` (its settings, images and layers, checked
once), optimised from coarse to fine scales (:func:`scale_schedule`), measured with
:mod:`nst.quality`, and recorded (:mod:`nst.engine.record`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nst import images, quality, runtime
from nst.atomic import write_json
from nst.engine import memory, optimize
from nst.engine.record import TransferResult, model_entry
from nst.errors import NSTError, SettingsError
from nst.images import color
from nst.loss import tiled
from nst.loss.problem import TransferProblem
from nst.net.features import feature_extractor
from nst.settings import INIT_MODES, UNIVERSAL_LEVELS, TransferSettings

ImageInput = str | os.PathLike | np.ndarray


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


def _as_list(styles: ImageInput | Sequence[ImageInput]) -> list:
    if isinstance(styles, (str, os.PathLike, np.ndarray)):
        return [styles]
    return list(styles)


def _describe(image: ImageInput) -> str:
    return os.fspath(image) if not isinstance(image, np.ndarray) else f"array{image.shape}"


def initial_image(settings, content, styles, shape, blend=None) -> np.ndarray:
    """The start of the optimisation (``settings.init``). ``palette`` is the content in the
    styles' colours (their RGB mean and covariance, blended by ``blend``): the loss network
    barely sees a photo's palette once the texture statistics match (bench/bench_palette.py), so
    from the content itself the colours hardly move. ``arbitrary`` is the universal transfer's
    one-pass result (:mod:`nst.universal`, the decoders of ``settings.decoders``, at
    ``settings.init_alpha`` and ``init_detail``). Under
    luminance-only transfer (one channel) both are the content."""
    h, w = shape
    channels = content.shape[2]
    if settings.init == "content" or (settings.init == "palette" and channels == 1):
        return content.copy()
    if settings.init == "palette":
        blend = blend or [1.0 / len(styles)] * len(styles)
        recoloured = sum(
            share * color.match_color_histogram(content, style)
            for share, style in zip(blend, styles, strict=True)
        )
        return np.clip(recoloured, 0, 255).astype(np.float32)
    if settings.init == "arbitrary":  # the warm start: any-style transfer in one pass
        if channels == 1:
            return content.copy()
        from nst.universal.model import UniversalOptions, cached_universal

        net = cached_universal(settings.decoders, model=settings.model, weights=settings.weights)
        options = UniversalOptions(
            size=None,
            blend=tuple(blend) if blend else None,
            alpha=settings.init_alpha,
            detail=settings.init_detail,
        )
        return net.stylize(content, styles, options).astype(np.float32)
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


def _check_warm_decoders(settings) -> None:
    """``--init arbitrary``: every decoder file its levels need is there (checked before the
    loss network's weights load, or download)."""
    from nst.universal.model import decoder_path, default_decoders

    folder = settings.decoders or default_decoders(settings.model)
    missing = [v for v in UNIVERSAL_LEVELS if not decoder_path(folder, v).is_file()]
    if missing:
        names = ", ".join(decoder_path(folder, v).name for v in missing)
        raise NSTError(
            f"--init arbitrary needs decoders of {settings.model}: {folder} has no {names}; "
            "give --decoders DIR (nst train-decoder) or another --init."
        )


def scale_schedule(size: int, scales: int) -> list[int]:
    """Sizes from coarse to fine, each about sqrt(2) times the one before, ending at ``size``."""
    sizes = [round(size / (2 ** (0.5 * (scales - 1 - i)))) for i in range(scales)]
    if sizes[0] < 64 and scales > 1:
        raise SettingsError(
            f"{scales} scales would start at {sizes[0]} px for size {size}; use fewer scales "
            "(the coarsest must be at least 64 px)."
        )
    return sizes


class _Startup:
    """Where a run's start-up went: TensorFlow's import, the model, the objective, the first
    iteration, and the rest (interpreter, nst's imports, argument parsing, reading images).

    The first transfer of a process pays for the interpreter and the imports; later ones (library
    use in a long-lived process) count their start-up from the call."""

    def __init__(self):
        self.t0, self.called_at = time.perf_counter(), time.time()
        self.first_in_process = not runtime.STATE["transfer_started"]
        runtime.STATE["transfer_started"] = True
        self.parts = {"import_tensorflow": 0.0}
        self.setup_seconds = 0.0
        self.first_iteration_at: float | None = None

    def loaded_model(self, seconds: float) -> None:
        self.parts["model"] = seconds
        if self.first_in_process:
            self.parts["import_tensorflow"] = runtime.STATE["import_seconds"] or 0.0
        self.setup_seconds = time.perf_counter() - self.t0

    def built_objective(self, seconds: float) -> None:
        self.parts.setdefault("objective", seconds)  # the first scale's

    def first_iteration(self, at: float | None, optimize_started_at: float) -> None:
        if self.first_iteration_at is None and at is not None:
            self.first_iteration_at = at
            self.parts["first_iteration"] = at - optimize_started_at

    def timings(self) -> tuple[float, dict]:
        started = runtime.process_start_time() if self.first_in_process else self.called_at
        seconds = (self.first_iteration_at or time.time()) - started
        parts = {**self.parts}
        parts.setdefault("first_iteration", 0.0)
        parts["other"] = seconds - sum(parts.values())
        return seconds, {k: round(v, 3) for k, v in parts.items()}


@dataclass
class _Optimized:
    """The scales' outcome: the last scale's variable and view, the history over all scales."""

    image: np.ndarray
    view: object
    history: list[dict] = field(default_factory=list)
    scales: list[dict] = field(default_factory=list)
    evaluations: int = 0
    stop_reason: str = ""
    initial: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(r["seconds"] for r in self.scales)


def _start(problem, view, shape, previous, init_image) -> np.ndarray:
    """The starting image of a scale: the previous scale's result, a given image, or the init."""
    if previous is not None:
        return images.resize(previous, shape)
    if init_image is not None:
        x0 = images.resize(np.asarray(init_image, np.float32), shape)
        if view.content.shape[2] == 1 and x0.shape[2] == 3:
            x0 = color.rgb_to_luminance(x0)
        return x0
    return initial_image(problem.settings, view.content, view.styles, shape, problem.blend)


def _optimize_scales(
    problem: TransferProblem, extractor, startup: _Startup, *, log, on_checkpoint, stop_below,
    init_image, extra_terms,
) -> _Optimized:  # fmt: skip
    """Optimise at every scale of the schedule, each starting from the one before; on a
    terminal, one progress bar over the iterations of all scales."""
    settings = problem.settings
    sizes = scale_schedule(settings.size, settings.scales)
    per_scale = [settings.effective_coarse_iterations] * (len(sizes) - 1) + [settings.iterations]
    with runtime.progress(sum(per_scale), "transfer", "it") as bar:
        full_shape = images.target_shape(*problem.content.shape[:2], settings.size)
        run = None
        network_layers = problem.layers.network
        for size, iterations in zip(sizes, per_scale, strict=True):
            shape = images.target_shape(*problem.content.shape[:2], size)
            channels = 1 if settings.preserve_color == "luminance" else 3
            mem = memory.plan(
                settings,
                shape,
                channels,
                tiled.halo(settings.model, network_layers),
                tiled.alignment(network_layers),
            )
            if mem.tile is not None and extra_terms:
                mem = memory.MemoryPlan(None, 0, mem.history, mem.estimate_gib, mem.budget_gib)
            t_objective = time.perf_counter()
            objective, view = problem.objective(
                extractor, shape, full_shape, log=log, extra_terms=extra_terms, tile=mem.tile
            )
            if mem.tile is not None:
                log(
                    f"{shape[1]}x{shape[0]} px in {len(objective.tiles)} tiles of {mem.tile} px "
                    f"(halo {mem.halo} px; about {mem.estimate_gib:.1f} of "
                    f"{mem.budget_gib:.1f} GiB; L-BFGS history {mem.history})"
                )
            startup.built_objective(time.perf_counter() - t_objective)
            x0 = _start(problem, view, shape, run and run.image, init_image)
            if len(sizes) > 1:
                k = len(run.scales) + 1 if run else 1
                log(f"scale {k}/{len(sizes)}: {shape[1]}x{shape[0]} px")
            started_at = time.time()
            result = _optimize(
                settings,
                objective,
                x0,
                iterations,
                log,
                on_checkpoint,
                view,
                stop_below if size == sizes[-1] else None,
                bar,
                mem.history,
            )
            bar.shorten(iterations - len(result.history))  # a scale that stopped early
            startup.first_iteration(result.first_iteration_at, started_at)
            if run is None:
                run = _Optimized(image=result.image, view=view, initial=result.initial)
            run.image, run.view = result.image, view
            for row in result.history:
                run.history.append({**row, "iteration": len(run.history) + 1, "size": size})
            run.evaluations += result.evaluations
            run.stop_reason = result.stop_reason
            run.scales.append(
                {
                    "size": size,
                    "height": shape[0],
                    "width": shape[1],
                    "iterations": len(result.history),
                    "evaluations": result.evaluations,
                    "seconds": round(result.seconds, 4),
                    "memory": mem.to_dict(),
                }
            )
    return run


def _optimize(
    settings, objective, x0, iterations, log, on_checkpoint, view, stop_below, bar, history=100
):
    def checkpoint(it, img):
        if on_checkpoint is not None:
            on_checkpoint(it, images.to_uint8(view.finish(img)))

    common = dict(
        iterations=iterations,
        min_improvement=settings.min_improvement,
        print_every=settings.print_every,
        save_every=settings.save_every,
        on_checkpoint=checkpoint,
        log=log,
        stop_below=stop_below,
        bar=bar,
    )
    if settings.optimizer == "lbfgs":
        return optimize.lbfgs(objective, x0, history_size=history, **common)
    return optimize.adam(objective, x0, learning_rate=settings.learning_rate, **common)


def transfer(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    settings: TransferSettings | None = None,
    *,
    log: Callable[[str], None] = runtime.log,
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
    term is recorded in the history (the video's temporal loss). ``measure_quality=False`` skips
    the quality figures (NaN; they cost network passes over content and styles).
    """
    startup = _Startup()
    settings = (settings or TransferSettings()).replace(**overrides)
    styles = _as_list(styles)
    problem = TransferProblem(
        settings, _load(content, "content image"), [_load(s, "style image") for s in styles]
    )
    if settings.init == "arbitrary" and init_image is None:
        _check_warm_decoders(settings)
    runtime.configure_runtime(settings)
    t_model = time.perf_counter()
    extractor = feature_extractor(settings, problem.layers.network)
    startup.loaded_model(time.perf_counter() - t_model)
    run = _optimize_scales(
        problem,
        extractor,
        startup,
        log=log,
        on_checkpoint=on_checkpoint,
        stop_below=stop_below,
        init_image=init_image,
        extra_terms=extra_terms,
    )
    out = images.to_uint8(run.view.finish(run.image))
    t_quality = time.perf_counter()
    figures = dict.fromkeys(quality.KEYS, float("nan"))  # not measured
    if measure_quality:
        figures = quality.measure(out, problem.content, problem.styles, problem.blend)
    quality_seconds = time.perf_counter() - t_quality
    startup_seconds, startup_parts = startup.timings()
    iterations = max(1, len(run.history))
    record = TransferResult(
        settings=settings.to_dict(),
        history=run.history,
        model=model_entry(settings, extractor.weights),
        layers=problem.layers.to_dict(),
        timings={
            "startup_seconds": round(startup_seconds, 3),
            "startup": startup_parts,
            "setup_seconds": round(startup.setup_seconds, 3),
            "optimize_seconds": round(run.seconds, 3),
            "seconds_per_iteration": round(run.seconds / iterations, 5),
            "seconds_per_evaluation": round(run.seconds / max(1, run.evaluations), 5),
            "quality_seconds": round(quality_seconds, 3),
            "total_seconds": round(time.perf_counter() - startup.t0, 3),
        },
        versions=runtime.versions(),
        inputs={"content": _describe(content), "styles": [_describe(s) for s in styles]},
        output_shape=out.shape[:2],
        evaluations=run.evaluations,
        stop_reason=run.stop_reason,
        scales=run.scales,
        initial=run.initial,
        quality=figures,
    )
    log(
        f"done: {len(run.history)} iterations, {run.evaluations} evaluations, final loss "
        f"{record.final['total']:.4g} in {run.seconds:.1f} s ({run.stop_reason}); content SSIM "
        f"{figures['content_ssim']:.3f}, style distance {figures['style_distance']:.3f}, colour "
        f"difference {figures['color_difference']:.1f}"
    )
    return out, record


def build_objective(settings: TransferSettings, content, styles, shape, **kwargs):
    """(objective, view) of a content and its styles at one output ``shape``, with the settings'
    loss network (see :meth:`~nst.loss.problem.TransferProblem.objective`)."""
    problem = TransferProblem(
        settings,
        _load(content, "content image"),
        [_load(s, "style image") for s in _as_list(styles)],
    )
    extractor = feature_extractor(settings, problem.layers.network)
    return problem.objective(extractor, tuple(shape), **kwargs)


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
    settings = settings.replace(preserve_color="none", style_masks=None, content_mask=None)
    runtime.configure_runtime(settings)
    objective, _view = build_objective(settings, content, styles, np.asarray(image).shape[:2])
    values = objective(np.asarray(image, np.float32))
    return {k: float(v) for k, v in values.items()}


def transfer_files(
    content: str | os.PathLike,
    styles: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    *,
    log: Callable[[str], None] = runtime.log,
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
