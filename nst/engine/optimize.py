"""Optimisers over the image: L-BFGS-B (scipy) and Adam, both kept to valid pixels [0, 255].

Both report per-iteration loss terms and seconds, print progress lines, advance a progress bar
(``bar``, a :class:`nst.runtime.Progress`; the driver shows one on a terminal), stop early when
the relative improvement of the total loss falls below ``min_improvement`` and hand intermediate
images to ``on_checkpoint``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import tensorflow as tf
import threadpoolctl

from nst import runtime
from nst.errors import SettingsError

TERMS = ("total", "content", "style", "tv")
# L-BFGS-B starts with unit curvature, so the raw scale of the loss decides how far its first
# projected-gradient steps go; with the INetwork loss they were far too short and it crawled for
# dozens of iterations. The objective handed to scipy is scaled so that the largest gradient
# component at the start equals the full pixel range (recorded losses stay unscaled).
GRADIENT_SCALE = 255.0


@dataclass
class OptimizationResult:
    image: np.ndarray
    history: list[dict] = field(default_factory=list)
    evaluations: int = 0
    stop_reason: str = ""
    seconds: float = 0.0
    first_iteration_at: float | None = None  # time.time() when the first iteration finished
    initial: dict = field(default_factory=dict)  # loss terms at the starting image


class _Progress:
    def __init__(self, iterations, print_every, min_improvement, log, on_checkpoint, save_every,
                 bar=None):  # fmt: skip
        self.iterations = iterations
        self.bar = bar or runtime.Progress()
        self.print_every = print_every
        self.min_improvement = min_improvement
        self.log = log
        self.on_checkpoint = on_checkpoint
        self.save_every = save_every
        self.history: list[dict] = []
        self.start = time.perf_counter()
        self.last = self.start
        self.first_iteration_at = None
        self.initial: dict = {}
        self.stop_below: float | None = None  # benchmarks: stop once the loss is this low
        self.reason = ""

    def start_values(self, values: dict) -> None:
        if not self.initial:
            self.initial = {k: float(v) for k, v in values.items()}  # TERMS and extra terms
            bad = sorted(k for k, v in self.initial.items() if not np.isfinite(v))
            if bad:  # the optimiser would stop at once, with nothing to show
                raise SettingsError(
                    f"the loss is not finite at the start ({', '.join(bad)}: "
                    f"{', '.join(str(self.initial[k]) for k in bad)}); a weight too large for "
                    "float32, or the network's precision overflowing: try --precision float32 "
                    "and smaller weights."
                )

    def step(self, values: dict, image_fn: Callable[[], np.ndarray], evaluations: int) -> bool:
        """Record one iteration; True when the optimisation should stop early."""
        now = time.perf_counter()
        if self.first_iteration_at is None:
            self.first_iteration_at = time.time()
        it = len(self.history) + 1
        row = {"iteration": it, "evaluations": evaluations, "seconds": round(now - self.last, 6)}
        row.update({k: float(v) for k, v in values.items()})
        self.history.append(row)
        self.last = now
        self.bar.update(1, loss=row["total"])
        if self.print_every and (it % self.print_every == 0 or it == 1 or it == self.iterations):
            self.log(
                f"iter {it:>5}/{self.iterations}  total {row['total']:.4g}  "
                f"content {row['content']:.4g}  style {row['style']:.4g}  tv {row['tv']:.4g}  "
                f"{(now - self.start) / it:.3f} s/it"
            )
        if self.save_every and self.on_checkpoint and it % self.save_every == 0:
            self.on_checkpoint(it, image_fn())
        if self.stop_below is not None and row["total"] <= self.stop_below:
            self.reason = "target-loss"
        elif self.min_improvement and it > 1:
            prev = self.history[-2]["total"]
            if prev > 0 and (prev - row["total"]) / prev < self.min_improvement:
                self.reason = "min-improvement"
        return bool(self.reason)


def _value_and_grad(objective, shape):
    """The objective's value and gradient as one traced function, kept by an objective that
    offers a ``traced`` dict (an :class:`~nst.loss.objective.Objective`): an objective used
    again (a video's later frames) is not traced again."""
    if hasattr(objective, "value_and_grad"):  # a tiled objective: its own passes over tiles
        return lambda x: objective.value_and_grad(np.asarray(x))
    cache = getattr(objective, "traced", None)
    key = tuple(shape)
    if cache is not None and key in cache:
        return cache[key]

    # The objective's Python control flow runs on Python values only (layer lists, masks that
    # are None or not), so it needs no AutoGraph conversion: tracing without it takes 0.12 s
    # instead of 0.38 s of every run's start-up.
    @tf.function(
        input_signature=[tf.TensorSpec(shape, tf.float32)], reduce_retracing=True, autograph=False
    )
    def fn(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = objective(x)
        return values, tape.gradient(values["total"], x)

    if cache is not None:
        cache[key] = fn
    return fn


def _minimize(fun, x0, bounds, callback, iterations, history_size):
    return scipy.optimize.minimize(
        fun,
        x0.astype(np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=None if bounds is None else scipy.optimize.Bounds(bounds[0], bounds[1]),
        callback=callback,
        options={
            "maxiter": iterations,
            "maxfun": max(iterations * 2, iterations + 20),
            "maxcor": history_size,
            "ftol": 0.0,
            "gtol": 0.0,
        },
    )


def lbfgs(
    objective,
    x0: np.ndarray,
    *,
    iterations: int,
    bounds: tuple[float, float] | None = (0.0, 255.0),
    min_improvement: float = 0.0,
    print_every: int = 10,
    save_every: int = 0,
    on_checkpoint=None,
    log=print,
    history_size: int = 100,
    on_evaluation: Callable[[np.ndarray, float], None] | None = None,
    stop_below: float | None = None,
    bar: runtime.Progress | None = None,
) -> OptimizationResult:
    """Minimise with scipy's L-BFGS-B; one iteration may use several evaluations (line search).

    Box-constrained to valid pixels. Unbounded optimisation (Gatys et al., jcjohnson) leaves a
    few percent of the pixels far outside [0, 255], and clipping them when the image is written
    undoes much of the work (measured at 128 px, 60 iterations: Gatys loss 840 unbounded, 88,000
    once clipped; 554 bounded). With the gradient scaling below, bounded L-BFGS-B also converges
    on the INetwork loss (17 vs 30,000 without scaling).

    ``on_evaluation(x, seconds)`` is called after every evaluation (benchmarks pair it with a
    bare network pass on the same image).
    """
    shape = x0.shape
    fn = _value_and_grad(objective, shape)
    progress = _Progress(
        iterations, print_every, min_improvement, log, on_checkpoint, save_every, bar
    )
    progress.stop_below = stop_below
    last = {"values": None, "evals": 0, "scale": None}

    def fun(flat):
        t = time.perf_counter()
        values, grad = fn(tf.constant(flat.reshape(shape), tf.float32))
        g = grad.numpy().astype(np.float64).ravel()
        if last["scale"] is None:
            last["scale"] = GRADIENT_SCALE / max(float(np.abs(g).max()), 1e-12)
        out = float(values["total"]) * last["scale"], g * last["scale"]
        last["values"] = values
        last["evals"] += 1
        progress.start_values(values)
        if on_evaluation is not None:
            on_evaluation(flat, time.perf_counter() - t)
        return out

    def callback(intermediate_result):
        x = intermediate_result.x
        if progress.step(
            last["values"], lambda: x.reshape(shape).astype(np.float32), last["evals"]
        ):
            raise StopIteration

    start = time.perf_counter()
    # OpenBLAS threads left spinning after L-BFGS-B's own BLAS calls steal the cores from
    # TensorFlow's next evaluation (measured at 256 px: 0.24 s instead of 0.20 s per call).
    with threadpoolctl.threadpool_limits(1):
        res = _minimize(fun, x0, bounds, callback, iterations, history_size)
    reason = progress.reason
    if not reason:
        reason = "iterations" if len(progress.history) >= iterations else str(res.message)
    return OptimizationResult(
        image=res.x.reshape(shape).astype(np.float32),
        history=progress.history,
        evaluations=last["evals"],
        stop_reason=reason,
        seconds=time.perf_counter() - start,
        first_iteration_at=progress.first_iteration_at,
        initial=progress.initial,
    )


def adam(
    objective,
    x0: np.ndarray,
    *,
    iterations: int,
    learning_rate: float,
    bounds: tuple[float, float] = (0.0, 255.0),
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    min_improvement: float = 0.0,
    print_every: int = 10,
    save_every: int = 0,
    on_checkpoint=None,
    log=print,
    stop_below: float | None = None,
    bar: runtime.Progress | None = None,
) -> OptimizationResult:
    """Adam on the pixels, clipped to ``bounds`` after every step (one evaluation per iteration)."""
    import keras

    x = tf.Variable(x0.astype(np.float32))
    opt = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    opt.build([x])

    if hasattr(objective, "value_and_grad"):  # a tiled objective: its gradient, then the step

        def step():
            values, grad = objective.value_and_grad(x.numpy())
            opt.apply_gradients([(tf.convert_to_tensor(grad), x)])
            x.assign(tf.clip_by_value(x, bounds[0], bounds[1]))
            return values

    else:

        @tf.function(autograph=False)
        def step():
            with tf.GradientTape() as tape:
                values = objective(x)
            grad = tape.gradient(values["total"], x)
            opt.apply_gradients([(grad, x)])
            x.assign(tf.clip_by_value(x, bounds[0], bounds[1]))
            return values

    progress = _Progress(
        iterations, print_every, min_improvement, log, on_checkpoint, save_every, bar
    )
    progress.stop_below = stop_below
    start = time.perf_counter()
    for i in range(iterations):
        values = step()
        progress.start_values(values)
        if progress.step(values, lambda: x.numpy(), i + 1):
            break
    reason = progress.reason or "iterations"
    return OptimizationResult(
        image=x.numpy(),
        history=progress.history,
        evaluations=len(progress.history),
        stop_reason=reason,
        seconds=time.perf_counter() - start,
        first_iteration_at=progress.first_iteration_at,
        initial=progress.initial,
    )
