"""Feed-forward networks at any size: tiles with thumbnail instance normalisation (issue 20).

    python bench/bench_fast_tiled.py [--only memory seams] [--tile 2048] [--thumbnail 2048]

* memory: ``nst stylize`` with the shipped ``brushstrokes`` network on the astronaut photo
  enlarged to 2048, 4096, 8192 px square and 12000 x 8000 px, in tiles of ``--tile`` px, and
  whole where that fits: the process's peak memory and the seconds per megapixel (median of 2
  after a warm-up at the same size; above 16 MP one run after a warm-up at 2560 px, in tiles
  too), each in a process of its own.
* seams: the tiled output (default thumbnail) against the whole-image output at 2048 px (the
  astronaut enlarged, and a 1920 x 1080 photograph) and 4096 px (the photograph): the mean
  absolute difference in levels of 255, and its profile by distance to the nearest tile border
  (a seam would show as a peak at distance 0); crops across a border at 100 % (whole left,
  tiles right) are written to ``build/bench_fast_tiled/``.

Results go to ``bench/results/fast_tiled.json`` and ``fast_tiled.md``. Run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402

MODEL = ROOT / "resources/models/brushstrokes.keras"
PHOTO = ROOT / "resources/images/content/astronaut.jpg"
OUT = ROOT / "build/bench_fast_tiled"
SIZES = ((2048, 2048), (4096, 4096), (8192, 8192), (8000, 12000))
GIB = 2**30


def enlarged(shape) -> np.ndarray:
    from nst import images

    return images.resize(images.load_image(PHOTO), shape)


def child(shape, tile, thumbnail) -> dict:
    from nst.feedforward.inference import stylize
    from nst.feedforward.network import load_transformer

    net = load_transformer(MODEL)
    image = enlarged(tuple(shape))
    # warm-up: the traced functions take any size, so above 16 MP a smaller image traces them
    small = shape[0] * shape[1] > 4096 * 4096
    warm = enlarged((2560, 2560)) if small else image
    stylize(net, warm, tile=tile, thumbnail=thumbnail)
    times = []
    for _ in range(1 if small else 2):
        t = time.perf_counter()
        stylize(net, image, tile=tile, thumbnail=thumbnail)
        times.append(time.perf_counter() - t)
    seconds = statistics.median(times)
    megapixels = shape[0] * shape[1] / 1e6
    from nst.feedforward.inference import tile_for

    return {
        "shape": list(shape),
        "tile": tile,
        "tiled": tile_for(tuple(shape), tile, None, thumbnail) is not None,
        "seconds": round(seconds, 2),
        "seconds_per_megapixel": round(seconds / megapixels, 3),
        "peak_gib": round(measure.peak_bytes() / GIB, 2),
    }


def run_child(shape, tile, thumbnail) -> dict:
    failed = {"shape": list(shape), "tile": tile}
    return measure.run_child(__file__, [list(shape), tile, thumbnail], failed)


def bench_memory(tile, thumbnail) -> list[dict]:
    rows = []
    for shape in SIZES:
        for t in (tile, 10**6):  # tiled, and whole (a tile larger than the image)
            if t != tile and shape[0] * shape[1] > 4096 * 4096:
                continue  # whole passes above 16 MP do not fit 24 GiB
            row = run_child(shape, t, thumbnail)
            row["evaluation"] = "tiles" if row.get("tiled") else "whole"
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# a photograph near its own resolution (1920 x 1080, from the training corpus of the universal
# decoders, never seen by the per-style networks) beside the 512 px astronaut enlarged 4-8x
NATIVE = ROOT / "data/corpus/photos/erase-heron.webp"


def seam_image(name: str, side: int) -> np.ndarray:
    from nst import images

    if name == "astronaut":
        return enlarged((side, side))
    return images.resize_longest(images.load_image(NATIVE), side)


def bench_seams(tile_size, thumbnail) -> list[dict]:
    """Tiled against whole, in tiles of ``tile_size`` px (half the side at most): at 2048 px
    with the default thumbnail (the image is its own thumbnail: the tiles alone; ``nst stylize``
    itself would run this image whole), then with a 1024 px thumbnail, and at 4096 px with the
    default thumbnail (half the side). The statistics of a smaller picture change the look
    evenly; a seam would show as a peak in the border profile."""
    from nst import images
    from nst.feedforward import tiled
    from nst.feedforward.inference import stylize
    from nst.feedforward.network import load_transformer

    net = load_transformer(MODEL)
    rows = []
    cases = [(name, 2048, t) for t in (thumbnail, 1024) for name in ("astronaut", "heron")]
    cases.append(("heron", 4096, thumbnail))
    for name, side, thumb in cases:
        tile = min(tile_size, side // 2)  # at least two tiles a side: borders to measure
        image = seam_image(name, side)
        h, w = image.shape[:2]
        whole = stylize(net, image, tile=10**6, thumbnail=10**6).astype(np.float32)
        parts = tiled.stylize_tiled(net, image.astype(np.float32), tile, thumb)
        parts = np.clip(np.round(parts), 0, 255)
        diff = np.abs(whole - parts).mean(axis=-1)
        # distance of every pixel to the nearest tile border (inside the image)
        borders_y, borders_x = set(), set()
        for (y0, y1, x0, x1), _padded in tiled.tile_boxes((h, w), tile):
            borders_y.update({y0, y1})
            borders_x.update({x0, x1})
        borders_y -= {0, h}
        borders_x -= {0, w}
        yy, xx = np.mgrid[0:h, 0:w]
        dist = np.full((h, w), 10**6)
        for b in borders_y:
            dist = np.minimum(dist, np.abs(yy - b + 0.5).astype(int))
        for b in borders_x:
            dist = np.minimum(dist, np.abs(xx - b + 0.5).astype(int))
        profile = {d: round(float(diff[dist == d].mean()), 3) for d in (0, 1, 2, 4, 8, 16, 32, 64)}
        OUT.mkdir(parents=True, exist_ok=True)
        if borders_x:
            b = min(borders_x)
            y = h // 2 - 128
            crop = (slice(y, y + 256), slice(b - 128, b + 128))
            images.save_image(
                np.concatenate([whole[crop], parts[crop]], axis=1).clip(0, 255).astype(np.uint8),
                OUT / f"border_crop_{name}_{side}_thumbnail{thumb}.png",
            )
        row = {
            "image": name,
            "shape": [h, w],
            "tile": tile,
            "thumbnail": min(thumb, max(h, w)),
            "mean_abs_difference": round(float(diff.mean()), 3),
            "profile_by_distance_to_border": profile,
            "inside_tiles": round(float(diff[dist > 64].mean()), 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(result) -> str:
    lines = [f"Machine: {result['machine']}, {os.cpu_count()} CPUs, network {MODEL.name}.", ""]
    if "memory" in result:
        lines += [
            "| output | evaluation | peak GiB | seconds | s / megapixel |",
            "|---|---|---|---|---|",
        ]
        for r in result["memory"]:
            size = f"{r['shape'][1]}x{r['shape'][0]}"
            if "error" in r:
                lines.append(f"| {size} | {r.get('evaluation')} | failed: {r['error'][:60]} | | |")
            else:
                lines.append(
                    f"| {size} | {r['evaluation']} | {r['peak_gib']} | {r['seconds']} | "
                    f"{r['seconds_per_megapixel']} |"
                )
        lines.append("")
        ok = [r for r in result["memory"] if "error" not in r]
        whole = [r for r in ok if r["evaluation"] == "whole"]
        if whole:
            ref = max(whole, key=lambda r: r["shape"][0] * r["shape"][1])
            per = ref["seconds_per_megapixel"]
            ratios = ", ".join(
                f"{r['shape'][1]}x{r['shape'][0]} {r['seconds_per_megapixel'] / per:.2f}x"
                for r in ok
                if r["evaluation"] == "tiles"
            )
            lines += [
                f"Tiles against the largest whole pass ({ref['shape'][1]}x{ref['shape'][0]}, "
                f"{ref['seconds_per_megapixel']} s / megapixel): {ratios}.",
                "",
            ]
    if "seams" in result:
        lines += [
            "Tiled against whole (mean absolute difference, levels of 255; by distance to the "
            "nearest tile border in px; inside the tiles is > 64 px from a border):",
            "",
            "| image | output | tile | thumbnail | mean | inside tiles | border profile |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["seams"]:
            profile = ", ".join(f"{d}: {v}" for d, v in r["profile_by_distance_to_border"].items())
            lines.append(
                f"| {r['image']} | {r['shape'][1]}x{r['shape'][0]} | {r['tile']} | "
                f"{r['thumbnail']} | {r['mean_abs_difference']} | {r['inside_tiles']} | "
                f"{profile} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=("memory", "seams"))
    ap.add_argument("--tile", type=int, default=2048)  # nst.feedforward.tiled.DEFAULT_TILE
    ap.add_argument("--thumbnail", type=int, default=2048)
    ap.add_argument("--child")
    ap.add_argument("--out", default=str(ROOT / "bench/results/fast_tiled"))
    args = ap.parse_args(argv)
    if args.child:
        shape, tile, thumbnail = json.loads(args.child)
        print(json.dumps(child(tuple(shape), tile, thumbnail)))
        return
    parts = args.only or ["memory", "seams"]
    result = measure.previous_results(args.out)
    result["machine"] = platform.platform()
    if "seams" in parts:
        result["seams"] = bench_seams(args.tile, args.thumbnail)
    if "memory" in parts:
        result["memory"] = bench_memory(args.tile, args.thumbnail)
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    main()
