"""Why does the palette not move? The independent style figures (palette and texture distance,
nst.quality) of optimised outputs under the settings that could decide it: the style weight, the
normalisation (per layer or per term, which keeps the raw loss's weight on the shallow,
colour-carrying layers), the style layers, and the start (``init palette``: the content in the
style's colours).

    python bench/bench_palette.py [--size 192] [--iterations 60] [--jobs 2]

Pairs: chelsea x brushstrokes and astronaut x ihc (the default experiment's photos and styles),
gatys on vgg16-hed. Each run is one `nst.transfer` in a worker process of its own (one thread).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nst.atomic import write_json, write_text  # noqa: E402

PAIRS = (("chelsea.jpg", "brushstrokes.png"), ("astronaut.jpg", "ihc.jpg"))
VARIANTS = {
    "default (layer, weight 1)": {},
    "style weight 3": {"style_weight": 3.0},
    "style weight 10": {"style_weight": 10.0},
    "normalize term": {"normalize": "term"},
    "normalize term, weight 10": {"normalize": "term", "style_weight": 10.0},
    "shallow layers conv1_1,conv2_1": {"style_layers": ("conv1_1", "conv2_1")},
    "init palette": {"init": "palette"},
    "init palette, style weight 3": {"init": "palette", "style_weight": 3.0},
}


def run(args) -> dict:
    content, style, name, overrides, size, iterations = args
    import nst

    _image, record = nst.transfer(
        ROOT / "resources/images/content" / content,
        [ROOT / "resources/images/style" / style],
        model="vgg16-hed",
        size=size,
        iterations=iterations,
        print_every=0,
        threads=1,
        log=lambda m: None,
        **overrides,
    )
    return {"pair": f"{content.split('.')[0]} x {style.split('.')[0]}", "variant": name,
            **record.quality}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    tasks = [
        (c, s, name, overrides, args.size, args.iterations)
        for c, s in PAIRS
        for name, overrides in VARIANTS.items()
    ]
    with ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
        rows = list(pool.map(run, tasks))
    out = Path(args.out)
    write_json(out / "palette.json", {"settings": vars(args), "rows": rows})
    lines = [
        f"# Palette and texture under the settings ({args.size} px, {args.iterations} L-BFGS "
        "iterations, gatys, vgg16-hed)",
        "",
        "| pair | variant | content SSIM | style (Gram) | palette | texture |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pair']} | {r['variant']} | {r['content_ssim']:.2f} | "
            f"{r['style_distance']:.2f} | {r['palette_distance']:.2f} | "
            f"{r['texture_distance']:.2f} |"
        )
    write_text(out / "palette.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
