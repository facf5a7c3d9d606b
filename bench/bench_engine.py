"""Seconds per L-BFGS evaluation against a bare VGG forward+backward pass, in one process.

    python bench/bench_engine.py [--sizes 256 512] [--model vgg16-hed] [--out bench/results]

For each size a real L-BFGS run is timed evaluation by evaluation: the whole objective (content,
style, total variation), its gradient and the conversion to and from scipy's float64 vectors.
Right after each evaluation the bare pass runs on the same image: the same feature network
(same layers, same pooling) with the sum of its outputs as the "loss", differentiated with respect
to the input, in a tf.function, its gradient fetched as float64 too. Medians of the paired
timings are compared, so a noisy machine slows both alike. Target: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst import runtime  # noqa: E402
from nst.atomic import write_json, write_text  # noqa: E402
from nst.engine import driver as engine  # noqa: E402
from nst.engine import optimize  # noqa: E402
from nst.loss.methods import LossLayers  # noqa: E402
from nst.net.features import feature_extractor  # noqa: E402
from nst.settings import TransferSettings  # noqa: E402


def sample(shape, seed):
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x), np.cos(5 * y), np.sin(3 * (x + y))], -1) * 100 + 128
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.float32)


def bench_size(size, model, iterations):
    settings = TransferSettings(model=model, size=size, print_every=0)
    runtime.configure_runtime(settings)
    layers = LossLayers.of(settings).network
    extractor = feature_extractor(settings, layers)
    shape = (size, size)
    objective, problem = engine.build_objective(
        settings, sample(shape, 0), [sample(shape, 1)], shape
    )

    @tf.function(input_signature=[tf.TensorSpec((1, *shape, 3), tf.float32)])
    def bare(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = extractor(x)
            total = tf.add_n([tf.reduce_sum(v) for v in out.values()])
        return tape.gradient(total, x)

    bare_times, eval_times = [], []

    def paired(flat, seconds):
        # the bare pass on the very image L-BFGS just evaluated, right after it
        t = time.perf_counter()
        bare(tf.constant(flat.reshape(1, *shape, 3), tf.float32)).numpy().astype(np.float64)
        bare_times.append(time.perf_counter() - t)
        eval_times.append(seconds)

    bare(tf.constant(problem.content[None]))  # trace outside the timings
    result = optimize.lbfgs(
        objective, problem.content, iterations=iterations, print_every=0, on_evaluation=paired
    )
    # the first evaluation of each includes tracing: leave it out
    bare_s = float(np.median(bare_times[1:]))
    eval_s = float(np.median(eval_times[1:]))
    return {
        "size": size,
        "bare_forward_backward_s": round(bare_s, 5),
        "lbfgs_evaluation_s": round(eval_s, 5),
        "ratio": round(eval_s / bare_s, 3),
        "evaluations": result.evaluations,
        "lbfgs_wall_s_per_evaluation": round(result.seconds / result.evaluations, 5),
        "layers": layers,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--model", default="vgg16-hed")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args(argv)
    rows = [bench_size(s, args.model, args.iterations) for s in args.sizes]
    report = {
        "benchmark": "lbfgs_evaluation_vs_bare_pass",
        "model": args.model,
        "target_ratio": 1.25,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "tensorflow": tf.__version__,
        "results": rows,
    }
    out = Path(args.out)
    write_json(out / "engine.json", report)
    table = ["| size | bare fwd+bwd (s) | L-BFGS evaluation (s) | ratio |", "|---|---|---|---|"]
    table += [
        f"| {r['size']} | {r['bare_forward_backward_s']:.4f} | {r['lbfgs_evaluation_s']:.4f} "
        f"| {r['ratio']:.2f} |"
        for r in rows
    ]
    write_text(out / "engine.md", "\n".join(table) + "\n")
    print("\n".join(table))
    return 0 if all(r["ratio"] <= 1.25 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
