"""Video transfer: optical flow and consistency on a synthetic moving square, reading and writing
videos, every bad input, temporal against frame-by-frame transfer, resume, scene cuts."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from nst.errors import NSTError
from nst.settings import CUT_THRESHOLD
from nst.video import clips as video
from nst.video import flow

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "resources" / "video" / "bunny.mp4"
STYLE = ROOT / "resources" / "images" / "style" / "brushstrokes.png"
NETWORK = ROOT / "resources" / "models" / "brushstrokes.keras"
STEP = 5  # pixels the square moves per frame


def texture(h, w, seed, sigma):
    rng = np.random.default_rng(seed)
    t = ndimage.gaussian_filter(rng.uniform(0, 255, (h, w, 3)), (sigma, sigma, 0))
    return np.clip((t - t.mean()) / t.std() * 40 + 128, 0, 255)


def moving_square(n=3, h=96, w=128, side=40, x0=30, y0=28):
    """A textured square moving STEP px to the right per frame over a textured background."""
    background = texture(h, w, 1, 2.0)
    square = np.clip(texture(side, side, 2, 1.0) * 0.6 + np.array([200, 60, 40]) * 0.4, 0, 255)
    frames = []
    for i in range(n):
        f = background.copy()
        f[y0 : y0 + side, x0 + i * STEP : x0 + i * STEP + side] = square
        frames.append(f.astype(np.uint8))
    return frames


# ---------------------------------------------------------------------------------------------
# Flow, consistency, warping error


def test_flow_recovers_the_known_motion():
    frames = moving_square()
    backward, forward = flow.frame_flows(frames)
    assert backward.shape == forward.shape == (2, 96, 128, 2)
    inside_b = backward[0][38:58, 45:65].reshape(-1, 2)  # square in frame 1: x 35..75, y 28..68
    inside_f = forward[0][38:58, 40:60].reshape(-1, 2)  # square in frame 0: x 30..70
    np.testing.assert_allclose(np.median(inside_b, 0), (-STEP, 0), atol=0.3)
    np.testing.assert_allclose(np.median(inside_f, 0), (STEP, 0), atol=0.3)
    still = backward[0][75:, :].reshape(-1, 2)  # background below the square
    assert np.abs(np.median(still, 0)).max() < 0.1


def test_consistency_is_zero_on_the_disoccluded_band_and_one_elsewhere():
    frames = moving_square()
    backward, forward = flow.frame_flows(frames)
    c = flow.consistency(backward[0], forward[0])
    assert set(np.unique(c)) <= {0.0, 1.0}
    band = c[30:66, 30:35]  # background that the square covered in frame 0
    assert band.mean() == 0.0
    away = np.ones_like(c, bool)
    away[20:76, 22:83] = False  # the square, its band and a margin for its moving edges
    assert c[away].mean() > 0.97
    assert c[36:60, 42:68].mean() > 0.95  # the square's interior moved consistently


def test_warp_moves_an_image_along_the_flow():
    frames = moving_square()
    backward, forward = flow.frame_flows(frames)
    warped = flow.warp(frames[0].astype(np.float32), backward[0])
    c = flow.consistency(backward[0], forward[0])
    err = np.abs(warped - frames[1])[c > 0].mean()
    assert err < 3.0  # the previous frame moved onto the next matches it where reliable
    assert np.abs(frames[0].astype(np.float32) - frames[1])[c > 0].mean() > 4 * err


def test_long_term_weights_take_each_pixel_from_the_nearest_reliable_frame():
    c1 = np.array([[1, 0, 0, 1]], np.float32)
    c2 = np.array([[1, 1, 0, 0]], np.float32)
    c4 = np.array([[1, 1, 1, 0]], np.float32)
    long = flow.long_term_weights([c1, c2, c4])
    np.testing.assert_array_equal(long[0], [[1, 0, 0, 1]])
    np.testing.assert_array_equal(long[1], [[0, 1, 0, 0]])
    np.testing.assert_array_equal(long[2], [[0, 0, 1, 0]])


def test_warping_error_is_low_for_the_input_and_high_for_flicker():
    frames = moving_square(n=4)
    backward, forward = flow.frame_flows(frames)
    masks = [flow.consistency(b, f) for b, f in zip(backward, forward, strict=True)]
    steady = flow.warping_error(frames, backward, masks)
    rng = np.random.default_rng(0)
    flicker = [np.clip(f + rng.normal(0, 20, f.shape), 0, 255) for f in frames]
    assert steady < 0.002
    assert flow.warping_error(flicker, backward, masks) > 10 * steady


def test_a_scene_cut_leaves_almost_nothing_consistent():
    clip = video.read_video(CLIP, max_frames=2)
    other = np.ascontiguousarray(moving_square(n=1, h=108, w=192)[0])
    same_b, same_f = flow.frame_flows(clip.frames)
    cut_b, cut_f = flow.frame_flows([clip.frames[0], other])
    assert flow.consistency(same_b[0], same_f[0]).mean() > 0.8
    assert flow.consistency(cut_b[0], cut_f[0]).mean() < CUT_THRESHOLD


# ---------------------------------------------------------------------------------------------
# Reading and writing


def test_sample_clip_reads_with_trim_fps_and_size():
    clip = video.read_video(CLIP)
    assert clip.frames.shape == (24, 108, 192, 3) and clip.fps == pytest.approx(12.5)
    trimmed = video.read_video(CLIP, start=0.4, duration=0.8, fps=5, size=96)
    assert trimmed.frames.shape == (4, 54, 96, 3) and trimmed.fps == 5
    assert trimmed.source["frame_indices"] == [5, 7, 10, 12]  # shown at 0.4, 0.6, 0.8, 1.0 s
    assert len(video.read_video(CLIP, max_frames=3).frames) == 3
    window = video.read_video(CLIP, start=0.4, max_frames=2)  # decodes only up to its end
    assert window.source["frame_indices"] == [5, 6] and window.source["decoded_frames"] <= 8


def test_folders_gifs_and_mp4_round_trip(tmp_path):
    frames = moving_square(n=4, h=72, w=96, side=24, y0=20)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):  # numbered, not zero-padded: 2 sorts before 10
        Image.fromarray(f).save(folder / f"f{[1, 2, 10, 11][i]}.png")
    clip = video.read_video(folder, fps=8)
    np.testing.assert_array_equal(clip.frames, np.stack(frames))
    assert clip.fps == 8
    later = video.read_video(folder, fps=8, start=0.25)  # frames at 0, 1/8, 2/8, 3/8 s
    assert later.source["frame_indices"] == [2, 3]
    video.save_preview(frames, 8, tmp_path / "p.gif", size=None)
    assert len(video.read_video(tmp_path / "p.gif").frames) == 4
    video.encode_mp4(frames, 8, tmp_path / "a.mp4")
    video.encode_mp4(frames, 8, tmp_path / "b.mp4")
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    sample = video.read_video(CLIP).frames  # FFmpeg's RGB-to-YUV made other bytes now and then
    digests = {hashlib.sha256(video.encode_mp4(sample, 12.5, tmp_path / "s.mp4").read_bytes())
               .hexdigest() for _ in range(8)}  # fmt: skip
    assert len(digests) == 1
    back = video.read_video(tmp_path / "a.mp4")
    assert back.frames.shape == (4, 72, 96, 3) and back.fps == 8
    assert np.abs(back.frames.astype(float) - np.stack(frames)).mean() < 10  # H.264 4:2:0, CRF 18
    video.save_preview(frames, 8, tmp_path / "p.webp")
    with Image.open(tmp_path / "p.webp") as im:
        assert im.n_frames == 4
    clip_file = video.save_clip(clip, tmp_path / "c.npz")
    again = video.save_clip(clip, tmp_path / "d.npz")
    assert clip_file.read_bytes() == again.read_bytes()  # deterministic
    np.testing.assert_array_equal(video.load_clip(clip_file).frames, clip.frames)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, list[str], str]]:
    """{case: (input, extra args, what the error names)}."""
    (tmp_path / "text.mp4").write_text("not a video at all")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(mixed / "1.png")
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(mixed / "2.png")
    data = CLIP.read_bytes()
    assert data.count(b"avc1") >= 1
    (tmp_path / "codec.mp4").write_bytes(data.replace(b"avc1", b"zzzz"))
    import av

    with av.open(str(tmp_path / "noframes.mp4"), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()  # a header, and not one frame
    return {
        "not a video": (tmp_path / "text.mp4", [], "not a video"),
        "no frames": (tmp_path / "noframes.mp4", [], "no video frames"),
        "empty folder": (empty, [], "no frames"),
        "mixed sizes": (mixed, [], "same size"),
        "unknown codec": (tmp_path / "codec.mp4", [], "codec"),
        "start past the end": (CLIP, ["--start", "30"], "past the end"),
    }


def test_every_bad_input_is_one_error_line_exit_2_nothing_written(tmp_path):
    for case, (path, extra, phrase) in bad_inputs(tmp_path).items():
        out = tmp_path / "out" / case.replace(" ", "_")
        out.mkdir(parents=True)
        proc = subprocess.run(
            [sys.executable, "-m", "nst", "video", str(path), str(STYLE), "-o",
             str(out / "v.mp4"), "--model", "vgg16-hed", *extra],
            capture_output=True, text=True, cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )  # fmt: skip
        assert proc.returncode == 2, (case, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("nst: error:"), (case, proc.stderr)
        assert phrase in lines[0], (case, lines[0])
        assert not list(out.iterdir()), case


def test_dataset_video_role_from_a_path_and_a_url_cached_with_provenance(tmp_path, monkeypatch):
    from http_fixtures import FixtureServer, png_bytes

    from nst.dataset.manifest import read_manifest
    from nst.dataset.run import fetch_dataset

    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    (tmp_path / "c.png").write_bytes(png_bytes(1))
    (tmp_path / "s.png").write_bytes(png_bytes(2))
    short = video.encode_mp4(video.read_video(CLIP, max_frames=3).frames, 12.5, tmp_path / "v.mp4")
    data = short.read_bytes()
    with FixtureServer() as srv:
        url = srv.add("/clips/walk.mp4", *[_reply(data)])
        srv.add("/clips/still.mp4", _reply(png_bytes(3)))
        sources = {
            "content": [str(tmp_path / "c.png")],
            "style": [str(tmp_path / "s.png")],
            "video": [
                {"path": str(CLIP), "name": "local", "license": "CC BY 3.0"},
                {"url": url, "name": "remote"},
                {"url": srv.url("/clips/still.mp4"), "name": "still"},
            ],
        }
        args = (sources, tmp_path / "images", tmp_path / "manifest.tsv")
        kw = dict(cache_dir=tmp_path / "cache", http={"delay": 0}, log=lambda m: None)
        fetch_dataset(*args, **kw)
        fetch_dataset(*args, **kw)  # a rerun asks the server nothing
        assert srv.counts["/clips/walk.mp4"] == 1
    rows = {r["name"]: r for r in read_manifest(tmp_path / "manifest.tsv") if r["role"] == "video"}
    assert rows["local"]["status"] == rows["remote"]["status"] == "ok"
    assert rows["remote"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert (rows["remote"]["width"], rows["remote"]["height"]) == (192, 108)
    assert rows["local"]["license"] == "CC BY 3.0" and rows["remote"]["file"] == "video/remote.mp4"
    assert (tmp_path / "images" / "video" / "remote.mp4").read_bytes() == data
    assert rows["still"]["status"] == "failed" and "still image" in rows["still"]["note"]


def test_dataset_video_sources_take_no_pages_or_masks():
    from nst.dataset.sources import parse_sources

    base = {"content": ["c.png"], "style": ["s.png"]}
    for spec in ({"page": "https://example.org/"}, {"path": "v.mp4", "mask": "m.png"}):
        with pytest.raises(NSTError, match=r"sources.video\[0\] takes url or path"):
            parse_sources({**base, "video": [spec]})
    assert "video" not in parse_sources(base)


def _reply(body: bytes):
    from http_fixtures import Reply

    return Reply(body=body, content_type="video/mp4")


# ---------------------------------------------------------------------------------------------
# Transfer (slow: real optimisation at small sizes)


def _video_cli(tmp: Path, name: str, *extra: str, frames: int = 4) -> list[str]:
    return [
        sys.executable, "-m", "nst", "video", str(CLIP), str(STYLE), "-o", str(tmp / f"{name}.mp4"),
        "--model", "vgg16-hed", "--size", "96", "--max-frames", str(frames), "--iterations", "6",
        "--first-iterations", "12", "--threads", "2", "--print-every", "0", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_temporal_transfer_flickers_much_less_than_frame_by_frame(tmp_path):
    from nst.settings import TransferSettings
    from nst.video import temporal

    clip = video.read_video(CLIP, max_frames=5, size=96)
    settings = TransferSettings(model="vgg16-hed", size=96, iterations=8, print_every=0)
    logs: list[str] = []
    records = {}
    for name, options in {
        "frame_by_frame": temporal.VideoOptions(0, warm_start=False, first_iterations=16),
        "temporal": temporal.VideoOptions(first_iterations=16),
        "long_term": temporal.VideoOptions(temporal_frames=(1, 2, 4), first_iterations=16),
    }.items():
        records[name] = temporal.video_transfer(
            clip, [STYLE], tmp_path / f"{name}.mp4", tmp_path / f"{name}.json", settings,
            options, preview=tmp_path / f"{name}.gif", log=logs.append,
        )  # fmt: skip
    fbf, tmp = records["frame_by_frame"], records["temporal"]
    assert tmp["warping_error"]["output"] < 0.5 * fbf["warping_error"]["output"]
    long = records["long_term"]  # frame 5 also looks back to frames 3 and 1
    assert long["video_options"]["temporal_frames"] == [1, 2, 4]
    assert long["warping_error"]["output"] < 0.5 * fbf["warping_error"]["output"]
    assert tmp["warping_error"]["input"] == fbf["warping_error"]["input"] > 0
    assert tmp["style_loss"]["mean"] < 1.5 * fbf["style_loss"]["mean"]
    assert [f["start"] for f in tmp["frames"]] == ["content"] + ["warped"] * 4
    assert all("temporal" in f["final_loss"] for f in tmp["frames"][1:])
    assert tmp["frames"][0]["iterations"] == 16
    assert json.loads((tmp_path / "temporal.json").read_text())["warping_error"]
    assert not (tmp_path / "temporal.mp4.work").exists()  # the work folder is removed
    assert any(line.startswith("frame 5 of 5: loss") and "warping error so far" in line
               for line in logs)  # fmt: skip
    with Image.open(tmp_path / "temporal.gif") as im:
        assert im.n_frames == 5


@pytest.mark.slow
def test_a_killed_run_resumes_and_gives_the_same_bytes(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(_video_cli(tmp_path, "whole"), check=True, env=env, cwd=ROOT,
                   capture_output=True)  # fmt: skip
    work = tmp_path / "killed.mp4.work"
    proc = subprocess.Popen(_video_cli(tmp_path, "killed"), env=env, cwd=ROOT,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (work / "frame_00002.png").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert (work / "frame_00002.png").exists() and not (tmp_path / "killed.mp4").exists()
    assert not (work / "frame_00004.png").exists()
    done = subprocess.run(_video_cli(tmp_path, "killed"), env=env, cwd=ROOT, text=True,
                          capture_output=True, check=True)  # fmt: skip
    assert "resuming at frame" in done.stderr
    digest = {n: hashlib.sha256((tmp_path / f"{n}.mp4").read_bytes()).hexdigest()
              for n in ("whole", "killed")}  # fmt: skip
    assert digest["whole"] == digest["killed"]


@pytest.mark.slow
def test_a_scene_cut_starts_again_from_the_content(tmp_path):
    from nst.settings import TransferSettings
    from nst.video import temporal

    bunny = video.read_video(CLIP, max_frames=2).frames
    other = np.stack(moving_square(n=2, h=108, w=192))
    clip = video.Clip(np.concatenate([bunny, other]), 12.5, {"path": "spliced"})
    settings = TransferSettings(model="vgg16-hed", size=192, iterations=3, print_every=0)
    logs: list[str] = []
    record = temporal.video_transfer(
        clip, [STYLE], tmp_path / "cut.mp4", None, settings,
        temporal.VideoOptions(first_iterations=4), log=logs.append,
    )  # fmt: skip
    assert record["scene_cuts"] == [3]
    assert [f["start"] for f in record["frames"]] == ["content", "warped", "content", "warped"]
    assert any("frame 3 of 4: scene cut" in line for line in logs)
    assert record["frames"][2]["iterations"] == 4  # a new shot gets the first frame's iterations


def test_video_sets_with_a_network_are_checked():
    from nst.experiment import video as sections

    sets = sections.video_sets(
        {"video": {"params": {"net": {"feed_forward": "fast", "blend": 0.3}, "opt": {}}}}
    )
    assert sets["net"]["network"] == "fast" and sets["net"]["options"] == {"blend": 0.3}
    assert sets["opt"]["network"] is None
    assert sections.network_files({}, sets["net"], "red") == ["results/models/red/model.keras"]
    assert sections.network_files({}, sets["opt"], "red") == []
    sections.check_networks(sets, ["red"], ["red"])
    with pytest.raises(NSTError, match="fast needs a fast network for style"):
        sections.check_networks(sets, ["red", "blue"], ["red"])
    with pytest.raises(NSTError, match="feed_forward: 'fasst' is neither"):
        sections.video_sets({"video": {"params": {"net": {"feed_forward": "fasst"}}}})
    with pytest.raises(NSTError, match="blend must be in"):
        sections.video_sets({"video": {"params": {"net": {"feed_forward": "fast", "blend": 1}}}})


def test_options_are_checked():
    from nst.video import temporal

    with pytest.raises(NSTError, match="include 1"):
        temporal.VideoOptions(temporal_frames=(2, 4))
    with pytest.raises(NSTError, match="zero or positive"):
        temporal.VideoOptions(temporal_weight=-1)
    assert temporal.VideoOptions(temporal_frames="4,1,2").temporal_frames == (1, 2, 4)


# ---------------------------------------------------------------------------------------------
# The workflow


@pytest.mark.slow
def test_workflow_runs_a_video_job_end_to_end(tmp_path):
    import csv

    from test_workflow import make_images, snakemake_command, tiny_config, write_config

    images = make_images(tmp_path / "inputs")
    config = tiny_config(images, styles=("red",))
    config["dataset"]["sources"]["content"] = config["dataset"]["sources"]["content"][:1]
    config["dataset"]["sources"]["video"] = [{"path": str(CLIP), "name": "bunny"}]
    config["params"] = {"soft": {"style_weight": 1.0}}
    config["video"] = {
        "prepare": {"size": 64, "max_frames": 4, "fps": 6.25},
        "defaults": {"iterations": 3, "first_iterations": 4},
        "params": {
            "still": {"temporal_weight": 0},
            "steady": {"temporal_weight": 1},
            "net": {"feed_forward": str(NETWORK), "blend": 0.5},
        },
        "strip_frames": 3,
    }
    wd = tmp_path / "run"
    write_config(wd, config)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # conftest puts this checkout first
    proc = subprocess.run(snakemake_command(wd), capture_output=True, text=True, env=env, cwd=wd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("rule video_flow:") == 1  # one flow, shared by all sets
    assert proc.stderr.count("rule video_transfer:") == 3
    net = json.loads(
        (wd / "results" / "video" / "bunny" / "red" / "net" / "metrics.json").read_text()
    )
    assert net["settings"]["feed_forward"]["network"] == str(NETWORK)
    assert net["video_options"]["blend"] == 0.5 and net["output"]["frames"] == 4
    assert [f["start"] for f in net["frames"]][1:] == ["blended"] * 3
    for vset in ("still", "steady"):
        run = wd / "results" / "video" / "bunny" / "red" / vset
        clip = video.read_video(run / "video.mp4")
        assert clip.frames.shape == (4, 36, 64, 3) and clip.fps == 6.25
        with Image.open(run / "preview.gif") as im:
            assert im.n_frames == 4
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["output"]["frames"] == 4 and metrics["warping_error"]["output"] > 0
        assert metrics["settings"]["size"] == 64  # the prepared clip's size, not the sets'
        assert metrics["video_options"]["temporal_weight"] == {"still": 0, "steady": 1}[vset]
        assert not (run / "frames.npz.work").exists()
    with Image.open(wd / "results" / "sheets" / "video" / "bunny.png") as im:
        assert im.width == 4 * (48 + 12)  # header column + 3 frames
    rows = list(csv.DictReader((wd / "results" / "summary.csv").open()))
    videos = [r for r in rows if r["content"] == "bunny"]
    assert len(rows) == 4 and len(videos) == 3
    assert all(float(r["warping_error"]) > 0 for r in videos)
    assert (wd / "logs" / "video" / "bunny" / "red" / "steady.log").read_text().count(
        " of 4: loss"
    ) == 4


@pytest.mark.slow
@pytest.mark.parametrize("preserve_color", ["none", "luminance"])
def test_the_temporal_term_rides_on_the_engine_at_every_scale(preserve_color):
    """The engine's hooks: the start image is used, the extra term is optimised and recorded,
    under luminance-only transfer (one channel) and across scales (targets resized)."""
    from nst.engine.driver import transfer
    from nst.video.temporal import TemporalLoss

    frames = moving_square(n=2, h=72, w=96, side=24, y0=20)
    content = frames[1].astype(np.float32)
    target = frames[0].astype(np.float32)  # pull the frame towards a shifted copy
    term = TemporalLoss([target], [np.ones(content.shape[:2], np.float32)], content.var())
    common = dict(model="vgg16-hed", size=96, iterations=6, print_every=0, scales=2,
                  preserve_color=preserve_color, coarse_iterations=3)  # fmt: skip
    out, rec = transfer(content, [str(STYLE)], **common, init_image=target,
                        extra_terms={"temporal": (100.0, term)}, log=lambda m: None)  # fmt: skip
    assert [s["size"] for s in rec.scales] == [68, 96]
    assert rec.initial["temporal"] < 1e-4  # started from the target (resized to 68 px)
    assert all("temporal" in row for row in rec.history)
    plain, _ = transfer(content, [str(STYLE)], **common, log=lambda m: None)
    far = np.abs(plain.astype(float) - target).mean()
    assert np.abs(out.astype(float) - target).mean() < 0.5 * far  # the term held it there


def test_a_temporal_term_given_new_targets_equals_one_made_for_them():
    """One TemporalLoss per clip (its variables traced once): set() with a frame's targets gives
    the values of a term made for them, at any shape and with fewer targets than slots."""
    import tensorflow as tf

    from nst.video.temporal import TemporalLoss

    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, (24, 32, 3)).astype(np.float32))
    a, b = (rng.uniform(0, 255, (48, 64, 3)).astype(np.float32) for _ in range(2))
    c = rng.uniform(0, 1, (48, 64)).astype(np.float32)
    term = TemporalLoss(slots=2)
    term.set([a, b], [c, 1 - c], 300.0)
    first = float(term(x))  # makes its variables at 24x32
    term.set([b], [c], 200.0)
    assert float(term(x)) == pytest.approx(float(TemporalLoss([b], [c], 200.0)(x)), rel=1e-6)
    assert first == pytest.approx(float(TemporalLoss([a, b], [c, 1 - c], 300.0)(x)), rel=1e-6)
