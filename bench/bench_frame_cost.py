"""What a video frame costs beyond its optimisation: the objective built and traced once per clip
(nst.loss.problem keeps it) against built and traced again every frame (the cache off).

    python bench/bench_frame_cost.py [--frames 10] [--size 192] [--iterations 20] [--repeats 2]

Each variant runs in its own process (TensorFlow's state shared by neither), the two taking turns
``--repeats`` times; the same clip (the sample bunny), style and settings as the default
experiment's video. Reported per variant: mean seconds of a later frame, its optimisation's
seconds, and the rest (objective, tracing, warping, I/O), medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nst.atomic import write_json, write_text  # noqa: E402

CHILD = """
import json, sys, tempfile
from nst.loss import problem
from nst.settings import TransferSettings, VideoOptions
from nst.video.clips import read_video
from nst.video.temporal import stylize_frames
frames, size, iterations, cached = map(int, sys.argv[1:5])
problem.OBJECTIVES_KEPT = 4 if cached else 0
clip = read_video("resources/video/bunny.mp4", max_frames=frames, size=size)
settings = TransferSettings(model="vgg16-hed", size=max(clip.shape), iterations=iterations,
                            min_improvement=0.002, print_every=0, threads=1)
options = VideoOptions(temporal_weight=1.0, first_iterations=60)
with tempfile.TemporaryDirectory() as tmp:
    _, records, _ = stylize_frames(clip, ["resources/images/style/brushstrokes.png"], settings,
                                   options, tmp, log=lambda m: None)
later = records[1:]
print(json.dumps({
    "frame_seconds": sum(r["seconds"] for r in later) / len(later),
    "optimize_seconds": sum(r["optimize_seconds"] for r in later) / len(later),
    "iterations": sum(r["iterations"] for r in later) / len(later),
}))
"""


def child(frames: int, size: int, iterations: int, cached: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(frames), str(size), str(iterations), str(int(cached))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"rebuilt": [], "cached": []}
    for _ in range(args.repeats):
        for name in runs:  # taking turns, so that a slower minute hits both
            runs[name].append(child(args.frames, args.size, args.iterations, name == "cached"))
    result = {"settings": vars(args), "machine": platform.platform(), "variants": {}}
    for name, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        med["rest_seconds"] = med["frame_seconds"] - med["optimize_seconds"]
        result["variants"][name] = {k: round(v, 3) for k, v in med.items()}
    before, after = result["variants"]["rebuilt"], result["variants"]["cached"]
    result["later_frame_ratio"] = round(after["frame_seconds"] / before["frame_seconds"], 3)
    out = Path(args.out)
    write_json(out / "frame_cost.json", result)
    lines = [
        f"# Video frame cost ({args.frames} frames at {args.size} px, {args.iterations} iterations"
        f" a later frame, median of {args.repeats})",
        "",
        "| objective | later frame s | of it optimisation s | rest s | iterations |",
        "|---|---|---|---|---|",
    ]
    for name, v in result["variants"].items():
        lines.append(
            f"| {name} | {v['frame_seconds']:.2f} | {v['optimize_seconds']:.2f} | "
            f"{v['rest_seconds']:.2f} | {v['iterations']:.1f} |"
        )
    lines += ["", f"later frame, cached / rebuilt: {result['later_frame_ratio']:.2f}"]
    write_text(out / "frame_cost.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
