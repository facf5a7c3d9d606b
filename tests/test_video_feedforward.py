"""Video through a feed-forward network: the flow blend against frame by frame, a static clip,
scene cuts, resume, bad inputs; training with the temporal term on pairs of frames."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_content, make_style
from PIL import Image

from nst.settings import VideoOptions
from nst.video import clips as video
from nst.video import flow

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "resources" / "video" / "bunny.mp4"
STYLE = ROOT / "resources" / "images" / "style" / "brushstrokes.png"
NETWORK = ROOT / "resources" / "models" / "brushstrokes.keras"


def shifted_clip(n=6, h=64, w=80, step=3) -> video.Clip:
    """A textured picture panning ``step`` px to the left per frame."""
    from scipy import ndimage

    noise = np.random.default_rng(0).uniform(-60, 60, (h, w + n * step, 3))
    grain = ndimage.gaussian_filter(noise, (1.5, 1.5, 0))
    big = np.clip(make_content(h, w + n * step) + 2 * grain, 0, 255).astype(np.uint8)
    frames = np.stack([big[:, i * step : i * step + w] for i in range(n)])
    return video.Clip(frames, 10.0, {"path": "panned"})


def run_network(clip, tmp_path, name, **options):
    from nst.video.feedforward import network_video

    lines: list[str] = []
    record = network_video(
        clip, NETWORK, [STYLE], tmp_path / f"{name}.mp4", tmp_path / f"{name}.json",
        VideoOptions(**options), frames_dir=tmp_path / f"{name}_frames", log=lines.append,
    )  # fmt: skip
    frames = [
        np.asarray(Image.open(p)) for p in sorted((tmp_path / f"{name}_frames").glob("*.png"))
    ]
    return record, frames, lines


def test_warp_tensor_is_the_warp_of_the_flow_module():
    import tensorflow as tf

    from nst.feedforward.temporal import warp_tensor

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (2, 24, 32, 3)).astype(np.float32)
    flows = rng.normal(0, 3, (2, 24, 32, 2)).astype(np.float32)
    got = warp_tensor(tf.constant(image), tf.constant(flows)).numpy()
    want = np.stack([flow.warp(image[i], flows[i]) for i in range(2)])
    assert np.abs(got - want).max() < 0.05  # cv2 interpolates with 5-bit weights


def test_pairs_carry_the_flow_that_maps_each_frame_onto_the_next():
    from nst.video.pairs import FramePairs

    pairs = FramePairs([shifted_clip(n=5, h=72, w=96)], 48, seed=3, pairs=4, log=lambda m: None)
    prev, cur, flows, weights = pairs.batch(1)
    assert prev.shape == cur.shape == (4, 48, 48, 3) and weights.shape == (4, 48, 48, 1)
    moved = np.stack([flow.warp(prev[k], flows[k]) for k in range(4)])
    err = (weights * np.abs(moved - cur)).sum() / weights.sum() / 3
    still = (weights * np.abs(prev - cur)).sum() / weights.sum() / 3
    assert err < 0.25 * still  # mirrored pairs too: the flow's x turns with the image
    assert 0.5 < float(weights.mean()) < 1.0  # the band that leaves the crop is left out
    np.testing.assert_array_equal(pairs.batch(1)[0], prev)  # deterministic in the step


@pytest.mark.slow
def test_the_blend_cuts_flicker_and_keeps_the_network_where_the_flow_fails(tmp_path):
    clip = video.read_video(CLIP, max_frames=6, size=128)
    fbf, fbf_frames, _ = run_network(clip, tmp_path, "fbf", blend=0.0)
    ours, frames, lines = run_network(clip, tmp_path, "blend", blend=0.6)
    assert ours["warping_error"]["output"] < 0.5 * fbf["warping_error"]["output"]
    assert ours["warping_error"]["input"] == fbf["warping_error"]["input"] > 0
    assert [f["start"] for f in ours["frames"]] == ["network"] + ["blended"] * 5
    np.testing.assert_array_equal(frames[0], fbf_frames[0])  # the first frame is the network's
    assert ours["timings"]["frames_per_second"] > 0 and ours["quality"]["style_distance"] > 0
    assert (tmp_path / "blend.mp4").stat().st_size > 1000
    assert any("frames/s" in line for line in lines)


@pytest.mark.slow
def test_a_static_clip_gives_identical_frames(tmp_path):
    still = make_content(64, 80)
    clip = video.Clip(np.stack([still] * 4), 10.0, {"path": "still"})
    record, frames, _ = run_network(clip, tmp_path, "still")
    assert len(frames) == 4
    for f in frames[1:]:
        np.testing.assert_array_equal(f, frames[0])
    assert record["warping_error"]["output"] == 0.0


@pytest.mark.slow
def test_a_scene_cut_takes_the_networks_frame_as_it_is(tmp_path):
    a = shifted_clip(n=3).frames
    b = np.stack([np.asarray(Image.fromarray(make_style("blue", 80, seed=i)))[:64] for i in (1, 1)])
    clip = video.Clip(np.concatenate([a, b]), 10.0, {"path": "spliced"})
    record, frames, lines = run_network(clip, tmp_path, "cut")
    alone, alone_frames, _ = run_network(video.Clip(b, 10.0, {"path": "b"}), tmp_path, "alone")
    assert record["scene_cuts"] == [4]
    assert [f["start"] for f in record["frames"]] == ["network", "blended", "blended",
                                                      "network", "blended"]  # fmt: skip
    np.testing.assert_array_equal(frames[3], alone_frames[0])
    assert any("frame 4 of 5: scene cut" in line for line in lines)


@pytest.mark.slow
def test_a_resumed_run_gives_the_same_frames(tmp_path):
    clip = shifted_clip(n=6)
    _, whole, _ = run_network(clip, tmp_path, "whole")
    _, _, _ = run_network(clip, tmp_path, "cut")
    work = tmp_path / "cut_frames"
    for name in ("frame_00004", "frame_00005", "frame_00006"):
        (work / f"{name}.png").unlink()
        (work / f"{name}.json").unlink()
    _, again, lines = run_network(clip, tmp_path, "cut")
    assert any("resuming at frame 4" in line for line in lines)
    digest = [hashlib.sha256(f.tobytes()).hexdigest() for f in again]
    assert digest == [hashlib.sha256(f.tobytes()).hexdigest() for f in whole]


def test_bad_feed_forward_inputs_are_one_error_line_and_nothing_written(tmp_path):
    cases = {
        "missing network": (["--feed-forward", str(tmp_path / "none.keras")], "does not exist"),
        "bad blend": (["--feed-forward", str(NETWORK), "--blend", "1.0"], "blend"),
    }
    for case, (extra, phrase) in cases.items():
        out = tmp_path / case.replace(" ", "_")
        out.mkdir()
        proc = subprocess.run(
            [sys.executable, "-m", "nst", "video", str(CLIP), str(STYLE), "-o",
             str(out / "v.mp4"), *extra],
            capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )  # fmt: skip
        assert proc.returncode == 2, (case, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("nst: error:"), (case, proc.stderr)
        assert phrase in lines[0], (case, lines[0])
        assert not list(out.iterdir()), case


@pytest.mark.slow
def test_the_temporal_term_falls_in_training(tmp_path):
    from nst.feedforward.train import train_transformer
    from nst.settings import FEEDFORWARD_DEFAULTS, TrainSettings
    from nst.video.pairs import FramePairs

    pairs = FramePairs([shifted_clip(n=8, h=64, w=64, step=2)], 32, seed=0, log=lambda m: None)
    contents = [make_content(64, 64), make_content(48, 64)]
    result = train_transformer(
        make_style("red", 64),
        contents,
        FEEDFORWARD_DEFAULTS.replace(model="vgg16-hed", seed=0),
        TrainSettings(
            width=16,
            train_size=32,
            batch_size=1,
            steps=60,
            print_every=0,
            checkpoint_every=0,
            temporal_weight=20.0,
        ),  # fmt: skip
        pairs=pairs,
        log=lambda m: None,
    )
    temporal = [row["temporal"] for row in result.history]
    assert np.mean(temporal[-10:]) < 0.5 * np.mean(temporal[:10])
    assert all(np.isfinite(row["total"]) for row in result.history)
