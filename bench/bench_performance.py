"""Performance benchmarks of the engine, as ratios measured in one run (issue 7).

    python bench/bench_performance.py [--quick] [--only multiscale adam precision memory startup]

* multiscale: time for coarse-to-fine L-BFGS (``scales``) to reach the loss that single-scale
  L-BFGS reaches at the target size, over the single-scale time (target <= 1/3).
* adam: the TensorFlow tutorial's recipe (Adam, lr 0.02, beta1 0.99, epsilon 0.1 on a [0, 1]
  image; here the identical update in 0..255 pixel units: lr 0.02*255, epsilon 0.1/255) against
  single-scale L-BFGS: time to reach the loss L-BFGS has after N evaluations.
* precision: seconds per evaluation and final loss (re-evaluated in float32) of bfloat16 against
  float32 for the same number of iterations.
* memory: peak resident memory of a whole run at each size (each in a fresh process).
* startup: process start to first finished iteration (fresh processes), split into
  interpreter + imports, model build and the first (tracing) evaluation.

Results go to ``bench/results/performance.json`` and ``performance.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from bench_engine import sample  # noqa: E402

from nst.atomic import write_json, write_text  # noqa: E402

MODEL = "vgg16-hed"


def images_for(size):
    """A content photo and a textured style from the embedded dataset, or procedural ones."""
    from nst import images

    content = ROOT / "resources/images/content/chelsea.jpg"
    style = ROOT / "resources/images/style/brushstrokes.png"
    if content.is_file() and style.is_file():
        return images.load_image(content), images.load_image(style)
    return sample((size * 3 // 4, size), 0), sample((size, size), 1)


def quiet(_msg):
    pass


def run_transfer(content, style, **kw):
    import nst

    start = time.perf_counter()
    out, rec = nst.transfer(content, style, log=quiet, model=MODEL, print_every=0, **kw)
    return out, rec, time.perf_counter() - start


def bench_multiscale(size, iterations, scales, coarse):
    content, style = images_for(size)
    _, single, single_s = run_transfer(content, style, size=size, iterations=iterations)
    target = single.final["total"]
    _, multi, multi_s = run_transfer(
        content,
        style,
        size=size,
        scales=scales,
        iterations=iterations * 2,
        coarse_iterations=coarse,
        stop_below=target,
    )
    reached = multi.final["total"] <= target
    return {
        "size": size,
        "single_scale": {
            "iterations": len(single.history),
            "evaluations": single.evaluations,
            "seconds": round(single.timings["optimize_seconds"], 2),
            "final_loss": target,
        },
        "multi_scale": {
            "scales": multi.scales,
            "seconds": round(multi.timings["optimize_seconds"], 2),
            "final_loss": multi.final["total"],
            "reached": reached,
        },
        "time_ratio": round(
            multi.timings["optimize_seconds"] / single.timings["optimize_seconds"], 3
        )
        if reached
        else None,
        "target_ratio": 1 / 3,
        "wall_seconds": {"single": round(single_s, 2), "multi": round(multi_s, 2)},
    }


def bench_adam(size, evaluations, max_factor):
    from nst import engine, images, optimize
    from nst.settings import TransferSettings

    content, style = images_for(size)
    settings = TransferSettings(model=MODEL, size=size, print_every=0)
    shape = images.target_shape(*content.shape[:2], size)
    engine.configure_runtime(settings)
    objective, problem = engine.build_objective(settings, content, [style], shape)
    lb = optimize.lbfgs(objective, problem.content, iterations=evaluations, print_every=0)
    # L-BFGS iterations use more than one evaluation: cut at the Nth evaluation
    row = next((r for r in lb.history if r["evaluations"] >= evaluations), lb.history[-1])
    target = row["total"]
    lb_seconds = sum(r["seconds"] for r in lb.history[: row["iteration"]])
    budget = int(max_factor * row["evaluations"])
    ad = optimize.adam(
        objective,
        problem.content,
        iterations=budget,
        learning_rate=0.02 * 255,
        beta_1=0.99,
        epsilon=0.1 / 255,
        print_every=0,
        stop_below=target,
    )
    reached = ad.stop_reason == "target-loss"
    return {
        "size": size,
        "lbfgs": {
            "evaluations": row["evaluations"],
            "seconds": round(lb_seconds, 2),
            "loss": target,
        },
        "adam_tutorial": {
            "steps": len(ad.history),
            "seconds": round(ad.seconds, 2),
            "final_loss": ad.history[-1]["total"],
            "reached": reached,
            "step_budget": budget,
        },
        "time_ratio_adam_over_lbfgs": round(ad.seconds / lb_seconds, 2) if reached else None,
        "note": None if reached else f"Adam did not reach the L-BFGS loss in {budget} steps",
    }


def bench_precision(size, iterations):
    import tensorflow as tf

    from nst import engine
    from nst.settings import TransferSettings

    content, style = images_for(size)
    rows = {}
    outputs = {}
    for precision in ("float32", "bfloat16"):
        out, rec, _ = run_transfer(
            content, style, size=size, iterations=iterations, precision=precision
        )
        outputs[precision] = out
        rows[precision] = {
            "seconds_per_evaluation": rec.timings["seconds_per_evaluation"],
            "final_loss_reported": rec.final["total"],
        }
    # judge both results with the same float32 objective
    settings = TransferSettings(model=MODEL, size=size, print_every=0)
    engine.configure_runtime(settings)
    shape = outputs["float32"].shape[:2]
    objective, _problem = engine.build_objective(settings, content, [style], shape)
    for precision, out in outputs.items():
        value = objective(tf.constant(out.astype(np.float32)))["total"]
        rows[precision]["final_loss_float32"] = float(value)
    f32, bf16 = rows["float32"], rows["bfloat16"]
    return {
        "size": size,
        "iterations": iterations,
        **rows,
        "speedup": round(f32["seconds_per_evaluation"] / bf16["seconds_per_evaluation"], 2),
        "loss_ratio_bf16_over_f32": round(
            bf16["final_loss_float32"] / f32["final_loss_float32"], 3
        ),
    }


CHILD = r"""
import json, os, resource, sys, time
t_start = float(sys.argv[1])
t0 = time.time()
import tensorflow  # noqa
t_import = time.time()
import nst
out, rec = nst.transfer(sys.argv[2], sys.argv[3], model="vgg16-hed", size=int(sys.argv[4]),
                        iterations=int(sys.argv[5]), print_every=0, log=lambda m: None)
print(json.dumps({
    "interpreter_s": t0 - t_start, "import_tensorflow_s": t_import - t0,
    "timings": rec.timings, "evaluations": rec.evaluations,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def child_run(size, iterations, tmp):
    from PIL import Image

    content, style = images_for(size)
    c, s = tmp / "c.png", tmp / "s.png"
    Image.fromarray(content.astype(np.uint8)).save(c)
    Image.fromarray(style.astype(np.uint8)).save(s)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            repr(time.time()),
            str(c),
            str(s),
            str(size),
            str(iterations),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_memory(sizes, tmp):
    rows = []
    for size in sizes:
        r = child_run(size, 2, tmp)
        rows.append(
            {
                "size": size,
                "peak_rss_mib": round(r["peak_rss_mib"]),
                "seconds_per_evaluation": r["timings"]["seconds_per_evaluation"],
            }
        )
    return rows


def bench_startup(repeats, tmp):
    runs = [child_run(64, 1, tmp) for _ in range(repeats)]
    med = lambda k: round(float(np.median([r[k] for r in runs])), 3)  # noqa: E731
    startup = [r["timings"]["startup_seconds"] for r in runs]
    return {
        "repeats": repeats,
        "startup_seconds_median": round(float(np.median(startup)), 3),
        "interpreter_s": med("interpreter_s"),
        "import_tensorflow_s": med("import_tensorflow_s"),
        "setup_seconds_median": round(
            float(np.median([r["timings"]["setup_seconds"] for r in runs])), 3
        ),
    }


def markdown(report):
    lines = [
        f"Machine: {report['machine']['platform']}, {report['machine']['cpus']} CPUs, "
        f"TensorFlow {report['tensorflow']}, model {MODEL}.",
        "",
    ]
    r = report.get("multiscale")
    if r:
        lines += [
            "| multi-scale | single-scale s | multi-scale s | ratio (target <= 0.33) |",
            "|---|---|---|---|",
            f"| {r['size']} px, {len(r['multi_scale']['scales'])} scales | "
            f"{r['single_scale']['seconds']} | {r['multi_scale']['seconds']} | "
            f"{r['time_ratio']} |",
            "",
        ]
    r = report.get("adam")
    if r:
        lines += [
            "| Adam (tutorial recipe) vs L-BFGS | L-BFGS s | Adam s | ratio |",
            "|---|---|---|---|",
            f"| {r['size']} px, loss after {r['lbfgs']['evaluations']} L-BFGS evaluations |"
            f" {r['lbfgs']['seconds']} | {r['adam_tutorial']['seconds']} | "
            f"{r['time_ratio_adam_over_lbfgs'] or r['note']} |",
            "",
        ]
    r = report.get("precision")
    if r:
        lines += ["| precision | s/evaluation | final loss (float32 judge) |", "|---|---|---|"]
        lines += [
            f"| {p} | {r[p]['seconds_per_evaluation']} | {r[p]['final_loss_float32']:.4g} |"
            for p in ("float32", "bfloat16")
        ]
        lines += [
            f"| bfloat16 speed-up {r['speedup']}x, loss ratio "
            f"{r['loss_ratio_bf16_over_f32']} | | |",
            "",
        ]
    rows = report.get("memory")
    if rows:
        lines += ["| size | peak RSS (MiB) | s/evaluation |", "|---|---|---|"]
        lines += [
            f"| {x['size']} | {x['peak_rss_mib']} | {x['seconds_per_evaluation']} |" for x in rows
        ]
        lines += [""]
    r = report.get("startup")
    if r:
        lines += [
            "| start-up (median) | seconds |",
            "|---|---|",
            f"| process start to first iteration | {r['startup_seconds_median']} |",
            f"| of which interpreter | {r['interpreter_s']} |",
            f"| of which import tensorflow | {r['import_tensorflow_s']} |",
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    import tempfile

    import tensorflow as tf

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--only", nargs="+", default=["multiscale", "adam", "precision", "memory", "startup"]
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes and budgets")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    q = args.quick
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
        },
        "tensorflow": tf.__version__,
    }
    out = Path(args.out)
    previous = out / "performance.json"
    if previous.is_file():  # keep the parts not re-run this time
        old = json.loads(previous.read_text())
        report = {**{k: v for k, v in old.items() if k not in ("machine", "tensorflow")}, **report}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        steps = {
            "multiscale": lambda: bench_multiscale(
                256 if q else 512, 60 if q else 200, 3 if q else 4, 15 if q else 25
            ),
            "adam": lambda: bench_adam(128 if q else 256, 100 if q else 500, 4),
            "precision": lambda: bench_precision(128 if q else 256, 30 if q else 100),
            "memory": lambda: bench_memory([256, 512] if q else [512, 1024, 2048], tmp),
            "startup": lambda: bench_startup(3, tmp),
        }
        for name in args.only:
            t = time.perf_counter()
            report[name] = steps[name]()
            print(
                f"{name}: {json.dumps(report[name])[:400]} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
            write_json(out / "performance.json", report)
    write_text(out / "performance.md", markdown(report) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
