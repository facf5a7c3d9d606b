"""Where the any-style output loses to the peer on Kandinsky's Composition VIII (issue 19): the
style distance of nst.quality split by the metric's layers.

    python bench/bench_universal_layers.py   (after bench/bench_universal.py, whose peer outputs
                                              in build/bench_universal/peer it reads)

For chelsea and coffee at 384 px against the painting: each layer's Gram distance (the quality
module's, relative to the style's Gram energy) divided by the content's whole distance, so that
the five shares add up to the style distance. Rows: the content itself, the peer at its default
strength 1, nst arbitrary (shipped levels 3 2 1) at alpha 0.6 and 1 with --detail 1 and 0, and
100 L-BFGS iterations of nst.transfer's defaults on chelsea.

Results go to bench/results/universal_layers.json and universal_layers.md.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import measure  # noqa: E402
from bench.bench_universal import (  # noqa: E402
    MODEL,
    PAINTINGS,
    PHOTOS,
    lbfgs_snapshots,
    peer_output,
)

STYLE = "wassily-kandinsky-composition-viii-1923.png"
CONTENTS = ("chelsea.jpg", "coffee.jpg")
SIZE = 384


def shares(image, targets, base) -> list[float]:
    from nst import quality

    return [
        round(quality._gram_distance([g], [t]) / base, 4)
        for g, t in zip(quality._grams(image), targets, strict=True)
    ]


def bench_layers() -> dict:
    from nst import images, quality
    from nst.images import color
    from nst.universal.model import Universal, UniversalOptions

    net = Universal(None, (3, 2, 1), model=MODEL)
    style = images.load_image(PAINTINGS / STYLE)
    result = {}
    for name in CONTENTS:
        content = images.resize_longest(images.load_image(PHOTOS / name), SIZE)
        targets = quality._grams(
            images.resize(style, color.style_shape(style, content.shape[:2], 1.0))
        )
        base = quality._gram_distance(quality._grams(content), targets)
        meter = quality.QualityMeter(content, [style])
        outputs = {"content": content}
        peer = images.load_image(peer_output(name, STYLE, 1))
        outputs["peer, strength 1"] = images.resize(peer, content.shape[:2])
        for alpha in (0.6, 1.0):
            for detail in (1.0, 0.0):
                options = UniversalOptions(size=None, alpha=alpha, detail=detail)
                outputs[f"nst alpha {alpha:g}, detail {detail:g}"] = net.stylize(
                    content, [style], options
                )
        if name == CONTENTS[0]:
            snaps = lbfgs_snapshots(content, style, SIZE, every=100)
            outputs["L-BFGS 100 iterations"] = snaps[100]
        rows = {}
        for label, image in outputs.items():
            rows[label] = {
                "layers": shares(image, targets, base),
                "content_ssim": meter.measure(image)["content_ssim"],
            }
            print(f"{name} {label}: {rows[label]}", flush=True)
        result[name] = rows
    return result


def markdown(result) -> str:
    from nst.quality import METRIC_LAYERS

    lines = [
        "# Style distance by layer: Kandinsky's *Composition VIII* (issue 19)",
        "",
        f"Machine: {result['machine']}. {SIZE} px; each layer's share of the style distance "
        "(the five add up to it); the content's own distance is 1.",
        "",
    ]
    for name, rows in result["layers"].items():
        lines += [
            f"{name} x {Path(STYLE).stem}:",
            "",
            "| output | " + " | ".join(METRIC_LAYERS) + " | style distance | content SSIM |",
            "|---|" + "---|" * (len(METRIC_LAYERS) + 2),
        ]
        for label, r in rows.items():
            lines.append(
                f"| {label} | "
                + " | ".join(f"{v:.4f}" for v in r["layers"])
                + f" | {sum(r['layers']):.3f} | {r['content_ssim']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    out = str(ROOT / "bench/results/universal_layers")
    result = {"machine": platform.platform(), "layers": bench_layers()}
    result = json.loads(json.dumps(result))
    measure.save_results(out, result, markdown)


if __name__ == "__main__":
    main()
