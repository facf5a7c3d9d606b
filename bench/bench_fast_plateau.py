"""Why the per-style networks stop short of the loss target (issue 19): the held-out engine loss
along a training run, and what one network of the same width reaches on a single photo.

    python bench/bench_fast_plateau.py --run build/retrain2 [--start build/retrain]
                                       [--only curve capacity] [--capacity-steps 100]

* curve: bench_fast's quality rows without the L-BFGS runs (chelsea and astronaut at 256 px,
  painted at the default work size; the engine's loss with the training's own settings, content
  SSIM and style distance) for the shipped network, the network the run started from
  (``--start``) and every checkpoint copied into ``RUN/snap/STYLE_STEP.npz`` while the run went
  on, then the run's final network. The target beside it: the loss of 20 L-BFGS iterations.
* capacity: the started-from network trained further on the held-out photo itself (chelsea at
  256 px, the engine's objective at that size, the network at the photo's own size): whether a
  network of this width can paint one photo below the target at all, i.e. whether what is
  missing is capacity or generalisation.

Results go to bench/results/fast_plateau.json and fast_plateau.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402
from bench.bench_fast import HELD_OUT, STYLES, load  # noqa: E402

# where the loss of 20 L-BFGS iterations from the content on the held-out photos was measured
TRIAL_RESULTS = ROOT / "bench/results/fast_corpus_trial.json"
SNAPSHOT = re.compile(r"_(\d+)\.npz$")


def targets() -> dict:
    """(style, content): the loss of 20 L-BFGS iterations, from the trial's quality rows."""
    rows = json.loads(TRIAL_RESULTS.read_text())["quality"]
    return {(r["style"], r["content"]): r["lbfgs"]["20"]["loss"] for r in rows}


def _settings(net):
    from nst.feedforward.network import model_info
    from nst.settings import TransferSettings

    return TransferSettings.from_dict({**model_info(net)["settings"], "size": 256})


def _rate(net, style, settings) -> dict:
    from nst import images, quality
    from nst.engine.driver import evaluate_loss
    from nst.feedforward import stylize

    row = {}
    for name in HELD_OUT:
        content = images.resize_longest(load("content", name), 256)
        out = stylize(net, content)
        q = quality.measure(out, content, [style])
        row[name] = {
            "loss": round(evaluate_loss(out, content, [style], settings)["total"], 4),
            "content_ssim": q["content_ssim"],
            "style_distance": q["style_distance"],
        }
    return row


def _networks(run: Path, start: Path, style_name: str, first):
    """(kind, step of the run, network) in the curve's order: the shipped network, the one the
    run started from, each checkpoint copied into RUN/snap (its weights loaded into ``first``,
    which is rated before them), and the run's final network."""
    from nst.feedforward import load_transformer

    yield "shipped", None, load_transformer(ROOT / f"resources/models/{style_name}.keras")
    yield "start", 0, first
    snapshots = sorted(
        (int(SNAPSHOT.search(p.name).group(1)), p)
        for p in (run / "snap").glob(f"{style_name}_*.npz")
    )
    for step, path in snapshots:
        with np.load(path) as data:
            first.set_weights([data[f"model_{i}"] for i in range(len(first.weights))])
        yield "checkpoint", step, first
    final = run / f"{style_name}.keras"
    if final.exists():
        steps = json.loads((run / f"{style_name}.json").read_text())["train"]["steps"]
        yield "final", steps, load_transformer(final)


def bench_curve(run: Path, start: Path) -> list[dict]:
    from nst.feedforward import load_transformer

    rows = []
    for style_name, style_file in STYLES.items():
        style = load("style", style_file)
        first = load_transformer(start / f"{style_name}.keras")
        settings = _settings(first)
        for kind, step, net in _networks(run, start, style_name, first):
            row = {"style": style_name, "network": kind, "step": step}
            row.update(_rate(net, style, settings))
            rows.append(row)
            print(f"curve: {json.dumps(row)}", flush=True)
    return rows


def run_records(run: Path) -> dict:
    """What each network of the run was trained with, from its --metrics record."""
    records = {}
    for style_name in STYLES:
        path = run / f"{style_name}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            records[style_name] = {
                "train": rec["train"],
                "init": rec.get("init"),
                "contents": len(rec["contents"]),
                "minutes": round(rec["timings"]["train_seconds_total"] / 60),
                "steps_per_second": rec["timings"]["steps_per_second"],
            }
    return records


def bench_capacity(start: Path, steps: int, every: int) -> list[dict]:
    import tensorflow as tf

    from nst import images, runtime
    from nst.engine.driver import evaluate_loss
    from nst.feedforward import load_transformer
    from nst.feedforward.network import model_info
    from nst.feedforward.train import _network_and_optimizer, make_train_step
    from nst.loss.methods import LossLayers
    from nst.loss.objective import BatchObjective, StyleLoss
    from nst.net.features import feature_extractor
    from nst.settings import TrainSettings

    rows = []
    for style_name, style_file in STYLES.items():
        first = load_transformer(start / f"{style_name}.keras")
        settings = _settings(first)
        runtime.configure_runtime(settings)
        style = load("style", style_file)
        content = images.resize_longest(load("content", HELD_OUT[0]), 256).astype(np.float32)
        # the network's two stride-2 stages: a side that is a multiple of 4 comes back unchanged
        content = content[: content.shape[0] // 4 * 4, : content.shape[1] // 4 * 4]
        layers = LossLayers.of(settings)
        extractor = feature_extractor(settings, layers.network)
        style_loss = StyleLoss(
            extractor, settings, [images.resize_longest(style, max(content.shape))], layers=layers
        )
        objective = BatchObjective(extractor, settings, style_loss, layers)
        width = model_info(first)["train"]["width"]  # the same network, trained further
        train = TrainSettings(width=width, train_size=256, learning_rate=1e-3, steps=steps)
        net, optimizer = _network_and_optimizer(settings, train, {}, "float32")
        net.set_weights(first.get_weights())
        step_fn = make_train_step(net, objective, optimizer, (1, *content.shape))
        batch = tf.constant(content[None])
        t0 = time.perf_counter()
        for step in range(steps + 1):
            if step:
                step_fn(batch)
            if step % every == 0:
                out = net(batch).numpy()[0]
                loss = evaluate_loss(out, content, [style], settings)["total"]
                row = {
                    "style": style_name,
                    "content": HELD_OUT[0],
                    "step": step,
                    "loss": round(loss, 4),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                rows.append(row)
                print(f"capacity: {json.dumps(row)}", flush=True)
    return rows


def markdown(result) -> str:
    target = targets()
    lines = [
        "# Per-style networks: the held-out loss along training, and one network's capacity",
        "",
        f"Machine: {result['machine']}. Run `{result['run']}`, started from `{result['start']}`.",
        "",
    ]
    for style_name, r in result.get("records", {}).items():
        t = r["train"]
        init = (r["init"] or {}).get("path", "a fresh network")
        lines.append(
            f"* {style_name}: from {init}, {t['steps']} steps of {t['batch_size']} crop(s) of "
            f"{t['train_size']} px from {r['contents']} photographs at {t['content_size']} px, "
            f"style at {t['style_size']} px, width {t['width']}, learning rate "
            f"{t['learning_rate']:g} halved every {t['lr_decay_every']} steps; {r['minutes']} min "
            f"({r['steps_per_second']:.2f} steps/s)"
        )
    if result.get("records"):
        lines.append("")
    if result.get("curve"):
        lines += [
            "Held-out photos at 256 px (the network at its default work size), engine loss with "
            "the training's settings / content SSIM / style distance; the target is the loss "
            "of 20 L-BFGS iterations from the content:",
            "",
            "| style | network | step of the run | "
            + " | ".join(f"{c} loss / SSIM / SD" for c in HELD_OUT)
            + " |",
            "|---|---|---|" + "---|" * len(HELD_OUT),
        ]
        for style_name in STYLES:
            goals = " | ".join(f"**{target[(style_name, c)]:.3f}**" for c in HELD_OUT)
            lines.append(f"| {style_name} | target (L-BFGS 20 it.) | | {goals} |")
            for r in (r for r in result["curve"] if r["style"] == style_name):
                cells = " | ".join(
                    f"{r[c]['loss']:.3f} / {r[c]['content_ssim']:.2f} / "
                    f"{r[c]['style_distance']:.2f}"
                    for c in HELD_OUT
                )
                step = "" if r["step"] is None else r["step"]
                lines.append(f"| {style_name} | {r['network']} | {step} | {cells} |")
        lines.append("")
    if result.get("capacity"):
        lines += [
            f"Capacity: the started-from network trained on {HELD_OUT[0]} itself at 256 px "
            "(the engine's objective at that size), loss after each number of steps:",
            "",
            "| style | target | "
            + " | ".join(
                f"step {r['step']}" for r in result["capacity"] if r["style"] == "brushstrokes"
            )
            + " |",
            "|---|---|" + "---|" * sum(r["style"] == "brushstrokes" for r in result["capacity"]),
        ]
        for style_name in STYLES:
            rows = [r for r in result["capacity"] if r["style"] == style_name]
            lines.append(
                f"| {style_name} | {target[(style_name, HELD_OUT[0])]:.3f} | "
                + " | ".join(f"{r['loss']:.3f} ({r['seconds']:.0f} s)" for r in rows)
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="the training run's output folder")
    ap.add_argument("--start", default=str(ROOT / "resources/models"))
    ap.add_argument("--only", nargs="+", choices=("curve", "capacity"))
    ap.add_argument("--capacity-steps", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench/results/fast_plateau"))
    args = ap.parse_args(argv)
    parts = args.only or ["curve", "capacity"]
    run, start = Path(args.run), Path(args.start)
    result = {"machine": platform.platform(), "run": args.run, "start": args.start}
    if args.only and Path(args.out + ".json").exists():  # a partial rerun keeps the other parts
        result = {**json.loads(Path(args.out + ".json").read_text()), **result}
    if "curve" in parts:
        result["curve"] = bench_curve(run, start)
        result["records"] = run_records(run)
    if "capacity" in parts:
        result["capacity"] = bench_capacity(start, args.capacity_steps, 25)
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    main()
