"""Temporal video transfer against frame-by-frame transfer on the sample clip.

    python bench/bench_video.py [--frames 8] [--iterations 20] [--weights 1 3 10] [--out DIR]

Both runs use the same settings and style; frame-by-frame is the same frame loop with temporal
weight 0, every frame started from its content with the first frame's iterations. Reported: the
warping error (Lai et al. 2018) of each output and of the input (the floor), their ratio (target
<= 1/3), the mean per-frame style loss of each and its ratio (target within 25%), seconds per
frame (first and the rest) and the share of the time spent computing optical flow (target < 5%).
Several ``--weights`` compare temporal weights against one frame-by-frame run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nst.atomic import write_json, write_text  # noqa: E402
from nst.settings import TransferSettings  # noqa: E402
from nst.video import temporal  # noqa: E402
from nst.video.clips import read_video  # noqa: E402

CLIP = ROOT / "resources" / "video" / "bunny.mp4"
STYLE = ROOT / "resources" / "images" / "style" / "brushstrokes.png"


def quiet(msg: str) -> None:
    if msg.startswith(("frame", "video:", "flow:")):
        print(msg, file=sys.stderr, flush=True)


def run(clip, settings, options, tmp: Path, name: str) -> dict:
    record = temporal.video_transfer(
        clip, [STYLE], tmp / f"{name}.mp4", None, settings, options, log=quiet
    )
    t = record["timings"]
    return {
        "temporal_weight": options.temporal_weight,
        "warm_start": options.warm_start,
        "warping_error": record["warping_error"]["output"],
        "input_warping_error": record["warping_error"]["input"],
        "mean_style_loss": record["style_loss"]["mean"],
        "first_frame_seconds": t["first_frame_seconds"],
        "later_frame_seconds": t["later_frame_seconds"],
        "flow_seconds": t["flow_seconds"],
        "flow_share": t["flow_share"],
        "iterations": [f["iterations"] for f in record["frames"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=20, help="later frames")
    ap.add_argument("--first-iterations", type=int, default=60)
    ap.add_argument("--min-improvement", type=float, default=0.002)
    ap.add_argument(
        "--weights", type=float, nargs="+", default=[temporal.VideoOptions().temporal_weight]
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    clip = read_video(CLIP, max_frames=args.frames)
    settings = TransferSettings(
        model="vgg16-hed",
        size=max(clip.shape),
        iterations=args.iterations,
        min_improvement=args.min_improvement,
        print_every=0,
        threads=2,
    )
    first = args.first_iterations
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline = run(
            clip,
            settings,
            temporal.VideoOptions(temporal_weight=0, warm_start=False, first_iterations=first),
            tmp,
            "frame_by_frame",
        )
        runs = []
        for weight in args.weights:
            options = temporal.VideoOptions(temporal_weight=weight, first_iterations=first)
            r = run(clip, settings, options, tmp, f"temporal_{weight:g}")
            r["warping_error_ratio"] = round(r["warping_error"] / baseline["warping_error"], 4)
            r["style_loss_ratio"] = round(r["mean_style_loss"] / baseline["mean_style_loss"], 4)
            runs.append(r)
            print(r, file=sys.stderr)
    result = {
        "clip": str(CLIP.relative_to(ROOT)),
        "frames": len(clip.frames),
        "size": list(clip.shape),
        "style": str(STYLE.relative_to(ROOT)),
        "settings": {
            "model": "vgg16-hed",
            "iterations": args.iterations,
            "first_iterations": first,
            "min_improvement": args.min_improvement,
            "threads": 2,
        },
        "frame_by_frame": baseline,
        "temporal": runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path(args.out)
    write_json(out / "video.json", result)
    write_text(out / "video.md", table(result))
    print(table(result))


def table(result: dict) -> str:
    b = result["frame_by_frame"]
    lines = [
        f"Sample clip {result['clip']}: {result['frames']} frames of {result['size'][1]}x"
        f"{result['size'][0]} px, style {result['style']}, settings {result['settings']}.",
        "",
        "| run | warping error | vs frame-by-frame | mean style loss | vs frame-by-frame "
        "| s first frame | s later frames | flow share |",
        "|---|---|---|---|---|---|---|---|",
        f"| input video (floor) | {b['input_warping_error']:.5f} | | | | | | |",
        f"| frame-by-frame | {b['warping_error']:.5f} | 1 | {b['mean_style_loss']:.4f} | 1 "
        f"| {b['first_frame_seconds']:.1f} | {b['later_frame_seconds']:.1f} "
        f"| {b['flow_share']:.2%} |",
    ]
    for r in result["temporal"]:
        lines.append(
            f"| temporal, weight {r['temporal_weight']:g} | {r['warping_error']:.5f} "
            f"| {r['warping_error_ratio']:.3f} | {r['mean_style_loss']:.4f} "
            f"| {r['style_loss_ratio']:.3f} | {r['first_frame_seconds']:.1f} "
            f"| {r['later_frame_seconds']:.1f} | {r['flow_share']:.2%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
