"""Performance benchmarks of the engine, as ratios measured in one run (issue 7).

    python bench/bench_performance.py [--quick] [--only multiscale adam precision memory startup]

* multiscale: time for coarse-to-fine L-BFGS (``scales``) to reach the loss that single-scale
  L-BFGS has after N iterations at the target size, over the single-scale time for the N
  iterations (target <= 1/3), for several N from one pair of runs; plus the loss at the end of
  each scale and right after upsampling to the next.
* adam: the TensorFlow tutorial's recipe (Adam, lr 0.02, beta1 0.99, epsilon 0.1 on a [0, 1]
  image; here the identical update in 0..255 pixel units: lr 0.02*255, epsilon 0.1/255) against
  single-scale L-BFGS: time to reach the loss L-BFGS has after N evaluations.
* precision: seconds per evaluation and final loss (re-evaluated in float32) of bfloat16 against
  float32 for the same number of iterations.
* memory: peak resident memory of a whole run at each size (each in a fresh process).
* startup: process start to first finished iteration of fresh ``nst transfer`` processes, with
  the split recorded in ``metrics.json`` (imports, model, objective, first iteration with the
  tracing), lean imports against full ones; and the share of start-up in the transfer jobs of
  the last ``make run`` (``results/``), when there is one.

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

from nst import runtime  # noqa: E402
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


def time_to_reach(history, target, before=0.0):
    """Seconds (after ``before``) and iterations until the loss in ``history`` is <= target."""
    seconds = before
    for i, row in enumerate(history, 1):
        seconds += row["seconds"]
        if row["total"] <= target:
            return seconds, i
    return None, None


def bench_multiscale(size, iterations, scales, coarse, checkpoints):
    """One single-scale and one coarse-to-fine run, then time-to-same-loss at checkpoints.

    For each checkpoint N the target is the single-scale loss after N iterations; the
    multi-scale time counts every coarse scale plus its final scale until it is that low.
    """
    content, style = images_for(size)
    _, single, _ = run_transfer(content, style, size=size, iterations=iterations)
    _, multi, _ = run_transfer(
        content, style, size=size, scales=scales, iterations=iterations, coarse_iterations=coarse
    )
    coarse_seconds = sum(s["seconds"] for s in multi.scales[:-1])
    final = [r for r in multi.history if r["size"] == size]
    rows = []
    for n in checkpoints:
        target = single.history[n - 1]["total"]
        single_s = sum(r["seconds"] for r in single.history[:n])
        multi_s, multi_its = time_to_reach(final, target, coarse_seconds)
        rows.append(
            {
                "single_iterations": n,
                "loss": round(target, 3),
                "single_seconds": round(single_s, 2),
                "multi_seconds": None if multi_s is None else round(multi_s, 2),
                "multi_final_scale_iterations": multi_its,
                "time_ratio": None if multi_s is None else round(multi_s / single_s, 3),
            }
        )
    jumps = []  # loss at the end of each scale and right after upsampling to the next
    for a, b in zip(multi.scales, multi.scales[1:], strict=False):
        end = [r for r in multi.history if r["size"] == a["size"]][-1]["total"]
        start = next(r for r in multi.history if r["size"] == b["size"])["total"]
        jumps.append({"from": a["size"], "to": b["size"], "end": end, "after_upsampling": start})
    return {
        "size": size,
        "iterations": iterations,
        "coarse_iterations": coarse,
        "scales": multi.scales,
        "single_final_loss": single.final["total"],
        "multi_final_loss": multi.final["total"],
        "coarse_seconds": round(coarse_seconds, 2),
        "upsampling": jumps,
        "checkpoints": rows,
        "target_ratio": 1 / 3,
    }


def bench_adam(size, evaluations, max_factor):
    from nst import images
    from nst.engine import driver as engine
    from nst.engine import optimize
    from nst.settings import TransferSettings

    content, style = images_for(size)
    settings = TransferSettings(model=MODEL, size=size, print_every=0)
    shape = images.target_shape(*content.shape[:2], size)
    runtime.configure_runtime(settings)
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

    from nst.engine import driver as engine
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
    runtime.configure_runtime(settings)
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
import json, resource, sys
import nst
out, rec = nst.transfer(sys.argv[1], sys.argv[2], model="vgg16-hed", size=int(sys.argv[3]),
                        iterations=int(sys.argv[4]), print_every=0, log=lambda m: None)
print(json.dumps({
    "timings": rec.timings, "evaluations": rec.evaluations,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def input_files(tmp, size):
    """The benchmark's content and style images as PNG files (written once per size)."""
    from PIL import Image

    c, s = tmp / f"content_{size}.png", tmp / f"style_{size}.png"
    if not c.exists():
        content, style = images_for(size)
        Image.fromarray(content.astype(np.uint8)).save(c)
        Image.fromarray(style.astype(np.uint8)).save(s)
    return c, s


def child_run(size, iterations, tmp):
    """One whole transfer in a fresh process (peak memory is the process's own)."""
    c, s = input_files(tmp, size)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(c), str(s), str(size), str(iterations)],
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


def cli_startup(tmp, lean):
    """Start-up record of one ``nst transfer`` process (64 px, one iteration)."""
    c, s = input_files(tmp, 64)
    metrics = tmp / "startup.json"
    cmd = [sys.executable, "-m", "nst", "transfer", str(c), str(s), "-o", str(tmp / "o.png")]
    cmd += ["--size", "64", "--iterations", "1", "--model", MODEL, "--metrics", str(metrics)]
    env = {**os.environ, "NST_LEAN_IMPORTS": "1" if lean else "0"}
    subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT, env=env)
    return json.loads(metrics.read_text())["timings"]


def workflow_share(results):
    """Share of the transfer jobs' time that start-up took, from a workflow's metrics.json."""
    rows = [json.loads(p.read_text()) for p in sorted(results.glob("transfer/**/metrics.json"))]
    rows = [r for r in rows if "startup" in r["timings"]]  # records from before the split lack it
    if not rows:
        return None
    startup = sum(r["timings"]["startup_seconds"] for r in rows)
    # a job: start-up (which ends with the first iteration), then the remaining iterations
    job = sum(
        r["timings"]["startup_seconds"]
        + r["timings"]["optimize_seconds"]
        - r["timings"]["startup"]["first_iteration"]
        for r in rows
    )
    if not job:
        return None
    return {
        "jobs": len(rows),
        "startup_seconds": round(startup, 1),
        "share": round(startup / job, 3),
    }


def bench_startup(repeats, tmp):
    """Fresh ``nst transfer`` processes, alternating lean and full imports (NST_LEAN_IMPORTS)."""
    runs = {"lean": [], "full": []}
    for _ in range(repeats):
        for mode in runs:
            runs[mode].append(cli_startup(tmp, mode == "lean"))

    def median(mode, key=None):
        values = [r["startup_seconds"] if key is None else r["startup"][key] for r in runs[mode]]
        return round(float(np.median(values)), 3)

    parts = list(runs["lean"][0]["startup"])
    result = {
        "repeats": repeats,
        **{
            mode: {"startup_seconds": median(mode), **{k: median(mode, k) for k in parts}}
            for mode in runs
        },
    }
    result["lean_over_full"] = round(
        result["lean"]["startup_seconds"] / result["full"]["startup_seconds"], 3
    )
    result["workflow"] = workflow_share(ROOT / "results")
    return result


def markdown(report):
    lines = [
        f"Machine: {report['machine']['platform']}, {report['machine']['cpus']} CPUs, "
        f"TensorFlow {report['tensorflow']}, model {MODEL}.",
        "",
    ]
    r = report.get("multiscale")
    if r:
        lines += [
            f"Multi-scale: {len(r['scales'])} scales "
            f"({', '.join(str(x['size']) for x in r['scales'])} px), "
            f"{r['coarse_iterations']} iterations per coarser scale ({r['coarse_seconds']} s); "
            f"final losses: single-scale {r['single_final_loss']:.4g}, "
            f"multi-scale {r['multi_final_loss']:.4g} after {r['iterations']} iterations.",
            "",
            "| single-scale iterations | loss | single-scale s | multi-scale s "
            "| final-scale iterations | ratio (target <= 0.33) |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['single_iterations']} | {c['loss']:.4g} | {c['single_seconds']} | "
            f"{c['multi_seconds'] if c['multi_seconds'] is not None else 'not reached'} | "
            f"{c['multi_final_scale_iterations'] or '-'} | {c['time_ratio'] or '-'} |"
            for c in r["checkpoints"]
        ]
        lines += [""]
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
    if r and "lean" in r:
        parts = [k for k in r["lean"] if k != "startup_seconds"]
        lines += [
            f"| start-up of `nst transfer` (median of {r['repeats']}) | lean imports (default) "
            "| full imports (NST_LEAN_IMPORTS=0) |",
            "|---|---|---|",
            f"| process start to first iteration | {r['lean']['startup_seconds']} | "
            f"{r['full']['startup_seconds']} |",
        ]
        lines += [f"| of which {k} | {r['lean'][k]} | {r['full'][k]} |" for k in parts]
        lines += [f"| lean / full | {r['lean_over_full']} | |", ""]
        w = r.get("workflow")
        if w:
            lines += [
                f"Default workflow (`make run`): start-up was {w['share']:.0%} of the time of its "
                f"{w['jobs']} transfer jobs ({w['startup_seconds']} s in all).",
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
                256 if q else 512,
                60 if q else 500,
                3 if q else 4,
                15 if q else 100,
                (20, 40, 60) if q else (100, 200, 300, 400, 500),
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
