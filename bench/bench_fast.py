"""Fast feed-forward style transfer (issue 13): training step cost, inference speed and memory,
and the shipped networks' quality on contents held out of their training.

    python bench/bench_fast.py [--only step inference memory quality scale]
                               [--models resources/models]

* step: one training step (nst.feedforward.make_train_step: transformer forward and backward, the
  loss network on the outputs forward and backward, the contents' features, the loss terms, Adam)
  against the bare passes on the same batch, paired step by step in one process: transformer
  forward+backward with the VGG forward+backward on its outputs (the sum of the loss layers'
  activations as the "loss"), and the same plus the VGG forward of the contents that the content
  term needs. The three take every place in the order in turn (what ran just before can slow a
  pass); medians; target <= 1.2 (against the first).
* inference: seconds per image of a shipped network at 256 / 512 / 1024 px (median of 5 after a
  warm-up), against 100 L-BFGS iterations of nst.transfer at 512 px; target >= 100x.
* memory: peak resident memory of a fresh process stylising one 1024 and one 2048 px image.
* quality: on the sample photos the shipped networks were not trained on (chelsea, astronaut),
  at 256 px: the engine's loss (the training's own settings) of the fast output against the
  loss nst.transfer's L-BFGS reaches after 10, 20, 50 and 100 iterations from the content on the
  same image, with the quality figures of each (target: the fast loss at most the 20th's).
* scale: content SSIM and style distance at 256 / 512 / 1024 px on held-out photographs of the
  corpus at their own resolution, the network painting at its default work size, at the
  output's own size and at its training style size (target: at 512 and 1024 px no worse than
  at 256 px).

Results go to bench/results/fast.json and fast.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402

MODEL = "vgg16-hed"
STYLES = {"brushstrokes": "brushstrokes.png", "ihc": "ihc.jpg"}
HELD_OUT = ("chelsea.jpg", "astronaut.jpg")


def quiet(_msg):
    pass


def load(role, name):
    from nst import images

    return images.load_image(ROOT / "resources/images" / role / name)


def bench_step(width, train_size, batch_size, repeats):
    """Median seconds of a training step and of the bare passes, paired."""
    import keras
    import tensorflow as tf

    from nst.feedforward.network import build_transformer
    from nst.feedforward.train import make_train_step
    from nst.loss.methods import LossLayers
    from nst.loss.objective import BatchObjective, StyleLoss
    from nst.net.features import feature_extractor
    from nst.runtime import configure_runtime
    from nst.settings import FEEDFORWARD_DEFAULTS

    settings = FEEDFORWARD_DEFAULTS.replace(model=MODEL)
    configure_runtime(settings)
    extractor = feature_extractor(settings, LossLayers.of(settings).network)
    style = load("style", STYLES["brushstrokes"])
    objective = BatchObjective(extractor, settings, StyleLoss(extractor, settings, [style]))
    model = build_transformer(width, {})
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    shape = (batch_size, train_size, train_size, 3)
    step = make_train_step(model, objective, optimizer, shape)
    spec = [tf.TensorSpec(shape, tf.float32)]

    def bare(with_contents):
        @tf.function(input_signature=spec, autograph=False)
        def passes(batch):
            with tf.GradientTape() as tape:
                feats = extractor(model(batch, training=True))
                loss = tf.add_n([tf.reduce_sum(f) for f in feats.values()])
            grads = tape.gradient(loss, model.trainable_variables)
            if with_contents:
                targets = objective.content_network(batch, training=False)
                loss += tf.add_n([tf.reduce_sum(t) for t in targets.values()])
            return loss, grads

        return passes

    bare_vgg, bare_all = bare(False), bare(True)
    rng = np.random.default_rng(0)
    times = {"step": [], "bare": [], "bare_with_contents": []}
    fns = [("step", step), ("bare", bare_vgg), ("bare_with_contents", bare_all)]
    for i in range(repeats + 2):  # two warm-ups (tracing)
        batch = tf.constant(rng.uniform(0, 255, shape).astype(np.float32))
        # each takes every place in the order in turn: what ran just before can slow a pass
        for name, fn in fns[i % 3 :] + fns[: i % 3]:
            t = time.perf_counter()
            out = fn(batch)
            tf.nest.map_structure(lambda v: v.numpy(), out)
            if i >= 2:
                times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "width": width,
        "train_size": train_size,
        "batch_size": batch_size,
        "repeats": repeats,
        "seconds": {k: round(v, 4) for k, v in med.items()},
        "ratio": round(med["step"] / med["bare"], 3),
        "ratio_with_contents": round(med["step"] / med["bare_with_contents"], 3),
    }


def bench_inference(model_path, sizes, lbfgs_size, lbfgs_iterations):
    import nst
    from nst import images
    from nst.feedforward import load_transformer, stylize

    net = load_transformer(model_path)
    content = load("content", HELD_OUT[0])
    rows = []
    for size in sizes:
        image = images.resize_longest(content, size)
        stylize(net, image)  # warm-up
        seconds = []
        for _ in range(5):
            t = time.perf_counter()
            stylize(net, image)
            seconds.append(time.perf_counter() - t)
        rows.append({"size": size, "seconds": round(statistics.median(seconds), 4)})
        print(f"inference {size}px: {rows[-1]['seconds']} s", flush=True)
    t = time.perf_counter()
    _out, rec = nst.transfer(
        content,
        [load("style", STYLES["brushstrokes"])],
        model=MODEL,
        size=lbfgs_size,
        iterations=lbfgs_iterations,
        print_every=0,
        log=quiet,
        measure_quality=False,
    )
    lbfgs = time.perf_counter() - t
    fast = next(r["seconds"] for r in rows if r["size"] == lbfgs_size)
    print(f"L-BFGS {lbfgs_iterations} iterations at {lbfgs_size}px: {lbfgs:.1f} s", flush=True)
    return {
        "model": str(model_path),
        "per_size": rows,
        "lbfgs": {
            "size": lbfgs_size,
            "iterations": len(rec.history),
            "seconds": round(lbfgs, 2),
            "optimize_seconds": rec.timings["optimize_seconds"],
        },
        "speedup": round(lbfgs / fast, 1),
    }


CHILD = r"""
import json, sys, time
import numpy as np
from nst import images
from nst.runtime import configure_runtime
from nst.feedforward import load_transformer, stylize
from nst.settings import TransferSettings
configure_runtime(TransferSettings())
net = load_transformer(sys.argv[1])
image = images.resize_longest(images.load_image(sys.argv[2]), int(sys.argv[3]))
t = time.perf_counter()
out = stylize(net, image)
# VmHWM, not ru_maxrss: getrusage's peak survives execve, so it held the parent's own peak
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"seconds": time.perf_counter() - t, "shape": list(out.shape),
                  "peak_rss_mib": int(hwm) / 1024}))
"""


def bench_memory(model_path, sizes):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image

        from nst import images

        for size in sizes:
            # a sample photo upsampled to the size, so the child reads an image of that size
            # (stylising it costs what a real photo would)
            src = Path(tmp) / f"content_{size}.png"
            Image.fromarray(
                images.to_uint8(images.resize_longest(load("content", HELD_OUT[0]), size))
            ).save(src)
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(model_path), str(src), str(size)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                {
                    "size": size,
                    "peak_rss_mib": round(r["peak_rss_mib"]),
                    "seconds_first_image": round(r["seconds"], 3),
                    "shape": r["shape"],
                }
            )
            print(f"memory {size}px: {rows[-1]}", flush=True)
    return rows


def bench_quality(models_dir, size, checkpoints):
    import nst
    from nst import images, quality
    from nst.engine.driver import evaluate_loss
    from nst.feedforward import load_transformer, stylize
    from nst.feedforward.network import model_info
    from nst.settings import TransferSettings

    rows = []
    for style_name, style_file in STYLES.items():
        path = models_dir / f"{style_name}.keras"
        net = load_transformer(path)
        trained = model_info(net)
        settings = TransferSettings.from_dict({**trained["settings"], "size": size})
        style = load("style", style_file)
        for content_name in HELD_OUT:
            content = images.resize_longest(load("content", content_name), size)
            fast = stylize(net, content)
            fast_loss = evaluate_loss(fast, content, [style], settings)
            snaps = {}
            _out, rec = nst.transfer(
                content,
                [style],
                settings,
                iterations=max(checkpoints),
                save_every=min(checkpoints),
                on_checkpoint=lambda it, img, snaps=snaps: snaps.__setitem__(it, img),
                print_every=0,
                log=quiet,
                measure_quality=False,
            )
            lbfgs = {}
            for it in checkpoints:
                lbfgs[it] = {
                    "loss": round(rec.history[it - 1]["total"], 4),
                    "seconds": round(sum(h["seconds"] for h in rec.history[:it]), 2),
                    **quality.measure(snaps[it], content, [style]),
                }
            reached = next(
                (h["iteration"] for h in rec.history if h["total"] <= fast_loss["total"]), None
            )
            row = {
                "style": style_name,
                "content": content_name,
                "lbfgs_iterations_to_fast_loss": reached,
                "fast": {
                    "loss": round(fast_loss["total"], 4),
                    **quality.measure(fast, content, [style]),
                },
                "lbfgs": lbfgs,
            }
            rows.append(row)
            print(f"quality {style_name} x {content_name}: {row}", flush=True)
    return rows


SCALE_SIZES = (256, 512, 1024)
# photographs of the corpus that the per-style networks' training leaves out (resources/models/
# README.md), at their own 1920 x 1080
SCALE_PHOTOS = ("erase-heron.webp", "erase-kitten.webp")
SCALE_KINDS = {"default": None, "own": 0, "native": "native"}


def bench_scale(models_dir, sizes=SCALE_SIZES):
    """Content SSIM and style distance of each shipped network at several output sizes on
    held-out photographs at their own resolution: painted at the default work size, at the
    output's own size (--work-size 0), and at the network's training style size (resized)."""
    from nst import images, quality
    from nst.feedforward import load_transformer, stylize
    from nst.feedforward.inference import native_size, work_shape

    rows = []
    for style_name, style_file in STYLES.items():
        net = load_transformer(models_dir / f"{style_name}.keras")
        style = load("style", style_file)
        for photo_name in SCALE_PHOTOS:
            photo = images.load_image(ROOT / "data/corpus/photos" / photo_name)
            row = {"style": style_name, "content": photo_name, "sizes": {}}
            for size in sizes:
                content = images.resize_longest(photo, size)
                meter = quality.QualityMeter(content, [style])
                cell = {}
                for kind, work in SCALE_KINDS.items():
                    work = native_size(net) if work == "native" else work
                    t = time.perf_counter()
                    out = stylize(net, photo, size, work_size=work)
                    seconds = time.perf_counter() - t
                    m = meter.measure(out)
                    cell[kind] = {
                        "content_ssim": m["content_ssim"],
                        "style_distance": m["style_distance"],
                        "work_size": max(work_shape(net, content.shape, work)),
                        "seconds": round(seconds, 3),
                    }
                row["sizes"][size] = cell
            rows.append(row)
            print(f"scale {style_name} x {photo_name}: {row}", flush=True)
    return rows


def training_summary(models_dir):
    out = {}
    for style_name in STYLES:
        record = json.loads((models_dir / f"{style_name}.json").read_text())
        out[style_name] = {
            "steps": record["steps"],
            "train": record["train"],
            "images": len(record["contents"]),
            "train_seconds": record["timings"]["train_seconds_total"],
            "initial_loss": record["initial_loss"]["total"],
            "final_loss": record["final_loss"]["total"],
        }
    return out


def markdown(result) -> str:
    lines = [f"Machine: {result['machine']}, {os.cpu_count()} CPUs, loss network {MODEL}.", ""]
    if "step" in result:
        lines += [
            "Training step against the bare passes on the same batch (medians; the passes take "
            "turns in the order):",
            "",
            "| width | crops | batch | step (s) | transformer+VGG fwd/bwd (s) "
            "| ratio (target <= 1.2) | + contents' VGG forward (s) | ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in result["step"]:
            s = r["seconds"]
            lines.append(
                f"| {r['width']} | {r['train_size']} px | {r['batch_size']} | {s['step']:.3f} | "
                f"{s['bare']:.3f} | {r['ratio']:.2f} | {s['bare_with_contents']:.3f} | "
                f"{r['ratio_with_contents']:.2f} |"
            )
        lines.append("")
    if "inference" in result:
        inf = result["inference"]
        sizes = ", ".join(f"{r['size']} px {r['seconds']:.3f} s" for r in inf["per_size"])
        lb = inf["lbfgs"]
        lines += [
            f"Inference ({inf['model']}): {sizes}. {lb['iterations']} L-BFGS iterations at "
            f"{lb['size']} px: {lb['seconds']:.1f} s; the network is **{inf['speedup']:.0f}x** "
            "faster (target >= 100x).",
            "",
        ]
    if "memory" in result:
        mem = ", ".join(
            f"{r['size']} px {r['peak_rss_mib'] / 1024:.2f} GiB ({r['seconds_first_image']:.1f} s "
            "first image)"
            for r in result["memory"]
        )
        lines += [f"Peak memory of a process stylising one image: {mem}.", ""]
    if "quality" in result:
        lines += [
            "Quality on contents held out of training, 256 px, loss = the engine's objective with "
            "the training's own settings:",
            "",
            "| style | content | fast loss | L-BFGS 20 it. | L-BFGS 50 it. | L-BFGS 100 it. | "
            "L-BFGS reaches the fast loss at | fast SSIM / style distance | "
            "L-BFGS 20 SSIM / style | L-BFGS 100 SSIM / style |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["quality"]:
            f, lb = r["fast"], r["lbfgs"]
            t, a, b = lb.get("20"), lb["50"], lb["100"]
            twenty = f"{t['loss']:.3f} ({t['seconds']:.0f} s)" if t else "-"
            twenty_q = f"{t['content_ssim']:.2f} / {t['style_distance']:.2f}" if t else "-"
            lines.append(
                f"| {r['style']} | {r['content']} | {f['loss']:.3f} | {twenty} | {a['loss']:.3f} "
                f"({a['seconds']:.0f} s) | {b['loss']:.3f} ({b['seconds']:.0f} s) | "
                f"iteration {r['lbfgs_iterations_to_fast_loss']} | "
                f"{f['content_ssim']:.2f} / {f['style_distance']:.2f} | {twenty_q} | "
                f"{b['content_ssim']:.2f} / {b['style_distance']:.2f} |"
            )
        lines.append("")
    if "scale" in result:
        lines += [
            "Style at the sizes people stylise: held-out photographs of the corpus at their own "
            "1920 x 1080 (left out of the per-style networks' training), shrunk to each size; "
            "the style distance compares with the style image at the output's size. Content "
            "SSIM / style distance when the network paints at the default work size (its "
            "training style size for smaller outputs, else the output's), at the output's own "
            "size (`--work-size 0`), and at its style size, resized (`--work-size` = style "
            "size); the work size in brackets:",
            "",
            "| style | content | size | default | own size | style size |",
            "|---|---|---|---|---|---|",
        ]
        for r in result["scale"]:
            for size, cell in r["sizes"].items():
                cells = [
                    f"{q['content_ssim']:.2f} / {q['style_distance']:.3f} ({q['work_size']})"
                    for q in (cell[k] for k in SCALE_KINDS)
                ]
                lines.append(
                    f"| {r['style']} | {r['content']} | {size} | " + " | ".join(cells) + " |"
                )
        lines.append("")
    if "training" in result:
        lines += ["Shipped networks (resources/models/, commands in its README):", ""]
        for style, t in result["training"].items():
            lines.append(
                f"* {style}: {t['steps']} steps of {t['train']['batch_size']} crop(s) of "
                f"{t['train']['train_size']} px from {t['images']} images, width "
                f"{t['train']['width']}, {t['train_seconds'] / 60:.0f} min; loss "
                f"{t['initial_loss']:.3g} -> {t['final_loss']:.3g}"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--only", nargs="+", choices=("step", "inference", "memory", "quality", "scale")
    )
    ap.add_argument("--models", default=str(ROOT / "resources/models"))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "bench/results/fast"))
    args = ap.parse_args(argv)
    parts = args.only or ["step", "inference", "memory", "quality", "scale"]
    models = Path(args.models)
    import tensorflow as tf

    result = {"machine": platform.platform(), "tensorflow": tf.__version__}
    if args.only and Path(args.out + ".json").exists():  # a partial rerun keeps the other parts
        result = {**json.loads(Path(args.out + ".json").read_text()), **result}
    if "step" in parts:
        result["step"] = [
            bench_step(16, 128, 4, args.repeats),
            bench_step(32, 256, 1, args.repeats),
        ]
        for r in result["step"]:
            print(f"step: {r}", flush=True)
    if "inference" in parts:
        result["inference"] = bench_inference(
            models / "brushstrokes.keras", (256, 512, 1024), 512, 100
        )
    if "memory" in parts:
        result["memory"] = bench_memory(models / "brushstrokes.keras", (1024, 2048))
    if "quality" in parts:
        result["quality"] = bench_quality(models, 256, (10, 20, 50, 100))
        result["training"] = training_summary(models)
    if "scale" in parts:
        result["scale"] = bench_scale(models)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result = json.loads(json.dumps(result))  # as read back: string keys (the quality table's)
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    main()
