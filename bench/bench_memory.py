"""Memory and time of large outputs: whole-image against tiled optimisation (issue 20).

    python bench/bench_memory.py [--only calibrate tiled] [--iterations 3]

* calibrate: the peak memory of one value-and-gradient evaluation of the whole image at 512 and
  1024 px (square), gatys and inetwork on ``vgg16-hed``, over the process before it (network
  built and traced at 64 px): bytes per pixel, the slope ``nst.engine.memory`` plans with.
* tiled: ``nst.transfer`` (gatys) at 2048 px whole and in tiles of a fixed size (L-BFGS,
  ``--iterations``), and at 4096 and 8192 px in those tiles (one Adam iteration, one evaluation:
  tens of minutes on 2 cores; L-BFGS's own float64 vectors are in the memory plan): the
  process's peak memory, the seconds per iteration and evaluation, and their ratios.

Every measurement runs in a process of its own (its peak is its own). Results go to
``bench/results/memory.json`` and ``memory.md``. Run alone: other CPU work distorts the times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402

MODEL = "vgg16-hed"
CONTENT = ROOT / "resources/images/content/astronaut.jpg"  # square: sizes are both sides
STYLE = ROOT / "resources/images/style/brushstrokes.png"
GIB = 2**30


def child_evaluate(method: str, size: int) -> dict:
    import tensorflow as tf

    from nst import images
    from nst.engine.driver import build_objective
    from nst.settings import TransferSettings

    settings = TransferSettings(model=MODEL, method=method, size=size)
    content = images.load_image(CONTENT)
    style = images.load_image(STYLE)

    def evaluate(side):
        objective, view = build_objective(settings, content, [style], (side, side))
        x = tf.constant(view.content)
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = objective(x)
        return float(values["total"]), tape.gradient(values["total"], x)

    evaluate(64)
    base = measure.peak_bytes()
    evaluate(size)
    return {"method": method, "size": size, "base": base, "peak": measure.peak_bytes()}


def child_transfer(size: int, tile: int, iterations: int, optimizer: str) -> dict:
    import nst
    from nst import images

    content = images.load_image(CONTENT)
    style = images.load_image(STYLE)
    t = time.perf_counter()
    _out, rec = nst.transfer(
        content,
        [style],
        model=MODEL,
        size=size,
        tile=tile,
        iterations=iterations,
        optimizer=optimizer,
        learning_rate=5.0,
        print_every=1,
        measure_quality=False,
    )
    return {
        "size": size,
        "tile": tile,
        "optimizer": optimizer,
        "iterations": len(rec.history),
        "evaluations": rec.evaluations,
        "seconds_per_iteration": rec.timings["seconds_per_iteration"],
        "seconds_per_evaluation": rec.timings["seconds_per_evaluation"],
        "memory_plan": rec.scales[-1]["memory"],
        "peak": measure.peak_bytes(),
        "total_seconds": round(time.perf_counter() - t, 1),
    }


def run_child(**kw) -> dict:
    return measure.run_child(__file__, kw, kw)


def calibrate() -> dict:
    rows = []
    for method in ("gatys", "inetwork"):
        for size in (512, 1024):
            r = run_child(kind="evaluate", method=method, size=size)
            r["delta_gib"] = round((r["peak"] - r["base"]) / GIB, 3)
            rows.append(r)
            print(json.dumps(r), flush=True)
    slopes = {}
    for method in ("gatys", "inetwork"):
        a, b = (r for r in rows if r["method"] == method)
        slopes[method] = round(
            ((b["peak"] - b["base"]) - (a["peak"] - a["base"])) / (b["size"] ** 2 - a["size"] ** 2)
        )
    return {"rows": rows, "bytes_per_pixel": slopes}


def tiled(iterations: int, tile: int) -> list[dict]:
    # one evaluation costs about 13 s per megapixel here (twice the tiles' area through the
    # network, once back): at 4096 and 8192 px one Adam iteration (one evaluation) each
    runs = [
        dict(size=2048, tile=0, optimizer="lbfgs", iterations=iterations),
        dict(size=2048, tile=tile, optimizer="lbfgs", iterations=iterations),
        dict(size=4096, tile=tile, optimizer="adam", iterations=1),
        dict(size=8192, tile=tile, optimizer="adam", iterations=1),
    ]
    rows = []
    for r in runs:
        out = run_child(kind="transfer", **r)
        if "peak" in out:
            out["peak_gib"] = round(out["peak"] / GIB, 2)
        rows.append(out)
        print(json.dumps(out), flush=True)
    return rows


def markdown(result) -> str:
    lines = [f"Machine: {result['machine']}, {os.cpu_count()} CPUs, network {MODEL}.", ""]
    if "calibrate" in result:
        c = result["calibrate"]
        lines += [
            "One whole-image value-and-gradient evaluation, peak memory over the process before "
            "it (GiB):",
            "",
            "| method | 512 px | 1024 px | bytes per pixel (slope) |",
            "|---|---|---|---|",
        ]
        for method, slope in c["bytes_per_pixel"].items():
            a, b = (r for r in c["rows"] if r["method"] == method)
            lines.append(f"| {method} | {a['delta_gib']} | {b['delta_gib']} | {slope} |")
        lines.append("")
    if "tiled" in result:
        lines += [
            "nst.transfer (gatys), peak memory of the process and seconds per iteration:",
            "",
            "| size | evaluation | optimiser | L-BFGS history | peak GiB | s / iteration "
            "| s / evaluation |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["tiled"]:
            if "error" in r:
                lines.append(f"| {r['size']} | tile {r['tile']} | {r['optimizer']} | | "
                             f"failed: {r['error'][:80]} | | |")  # fmt: skip
                continue
            plan = r["memory_plan"]
            how = (
                "whole"
                if plan["tile"] is None
                else f"tiles of {plan['tile']} (halo {plan['halo']})"
            )
            history = plan["lbfgs_history"] if r["optimizer"] == "lbfgs" else "-"
            lines.append(
                f"| {r['size']} | {how} | {r['optimizer']} | {history} | {r['peak_gib']} | "
                f"{r['seconds_per_iteration']:.2f} | {r['seconds_per_evaluation']:.2f} |"
            )
        lines.append("")
        at = [r for r in result["tiled"] if r["size"] == 2048 and "error" not in r]
        whole = [r for r in at if r["memory_plan"]["tile"] is None]
        tiles = [r for r in at if r["memory_plan"]["tile"] is not None]
        if whole and tiles:
            w, t = whole[0], tiles[0]
            lines += [
                f"At 2048 px, tiles against the whole image: "
                f"{t['seconds_per_iteration'] / w['seconds_per_iteration']:.2f}x the seconds per "
                f"iteration, {t['seconds_per_evaluation'] / w['seconds_per_evaluation']:.2f}x "
                f"per evaluation, {t['peak_gib'] / w['peak_gib']:.2f}x the peak memory.",
                "",
            ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=("calibrate", "tiled"))
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--child")
    ap.add_argument("--out", default=str(ROOT / "bench/results/memory"))
    args = ap.parse_args(argv)
    if args.child:
        kw = json.loads(args.child)
        kind = kw.pop("kind")
        out = child_evaluate(**kw) if kind == "evaluate" else child_transfer(**kw)
        print(json.dumps(out))
        return
    parts = args.only or ["calibrate", "tiled"]
    result = measure.previous_results(args.out)
    result["machine"] = platform.platform()
    if "calibrate" in parts:
        result["calibrate"] = calibrate()
    if "tiled" in parts:
        result["tiled"] = tiled(args.iterations, args.tile)
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
