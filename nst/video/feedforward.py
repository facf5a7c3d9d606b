"""Video with a feed-forward network: a per-style network (or the universal path) on every
frame, made consistent with the optical flow.

Frame by frame, a network flickers: a small change between two input frames becomes a large
change in its texture. Each output frame here is the network's frame blended with the previous
*output* warped onto it by the flow of the input frames, where that flow is reliable (Ruder et
al.'s consistency weights ``c``):

    ``O_t = b c ⊙ warp(O_{t-1}) + (1 - b c) ⊙ S_t``

with ``S_t`` the network's frame and ``b`` the ``blend`` weight. Along a reliable track the
output is an exponential average of the network's frames over about ``1 / (1 - b)`` frames;
where the flow fails (disocclusions, motion boundaries, the frame's edges) ``c = 0`` and the
network's frame is taken as it is, so moving objects leave no trail. A frame whose share of
reliable pixels falls below ``cut_threshold`` is a scene cut and starts again from the network.

The flows are computed on the fly (DIS, two per pair: backward for the warp, forward for the
check) unless given. Every finished frame is a PNG plus a JSON record in the work folder; a run
started again resumes at the first missing frame with the same bytes as an uninterrupted run
(the blend works on the saved 8-bit frames).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nst import images, quality, runtime
from nst.atomic import write_json
from nst.engine.record import run_record
from nst.errors import SettingsError
from nst.settings import VideoOptions
from nst.video import flow
from nst.video.clips import Clip, encode_mp4, load_clip, read_video, save_arrays, save_preview

FrameStylizer = Callable[[np.ndarray], np.ndarray]


def blend_with_previous(
    styled: np.ndarray,
    previous: np.ndarray,
    backward: np.ndarray,
    weights: np.ndarray,
    blend: float,
) -> np.ndarray:
    """``b c ⊙ warp(previous, backward) + (1 - b c) ⊙ styled`` as uint8: the network's frame
    pulled towards the previous output where the flow is reliable."""
    a = (blend * np.asarray(weights, np.float32))[..., None]
    warped = flow.warp(np.asarray(previous, np.float32), backward)
    return images.to_uint8(a * warped + (1.0 - a) * np.asarray(styled, np.float32))


def _frame_file(work_dir: Path, i: int) -> Path:
    return work_dir / f"frame_{i + 1:05d}.png"


def _finished(work_dir: Path, i: int) -> dict | None:
    png = _frame_file(work_dir, i)
    record = png.with_suffix(".json")
    if png.is_file() and record.is_file():
        return json.loads(record.read_text())
    return None


def stylize_frames(
    clip: Clip,
    stylize: FrameStylizer,
    options: VideoOptions,
    work_dir: str | os.PathLike,
    *,
    flows: dict | None = None,
    log: Callable[[str], None] = runtime.log,
) -> tuple[list[np.ndarray], list[dict], dict]:
    """Every frame of ``clip`` through ``stylize`` (uint8 RGB of the frame's size), blended with
    the warped previous output; into ``work_dir`` (resuming there). Returns the frames, their
    records and the flows (``backward_1``, ``forward_1``, ``seconds``)."""
    import cv2

    cv2.setNumThreads(1)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    frames = clip.frames
    n = len(frames)
    given = flows is not None and "backward_1" in flows
    backward = list(flows["backward_1"]) if given else []
    forward = list(flows["forward_1"]) if given else []
    outputs: list[np.ndarray] = []
    records: list[dict] = []
    flow_seconds = 0.0
    resumed = 0
    while resumed < n and _finished(work_dir, resumed) is not None:
        resumed += 1
    if resumed:
        log(f"video: {resumed} frame(s) finished earlier in {work_dir}; resuming at frame "
            f"{resumed + 1}")  # fmt: skip
    with runtime.progress(n, "video", "frame", initial=resumed) as bar:
        for i in range(n):
            t0 = time.perf_counter()
            if i and not given:  # the pair's flows, both ways (the check needs the forward one)
                backward.append(flow.optical_flow(frames[i], frames[i - 1]))
                forward.append(flow.optical_flow(frames[i - 1], frames[i]))
            t_flow = time.perf_counter() - t0
            flow_seconds += t_flow
            if i < resumed:
                outputs.append(images.to_uint8(images.load_image(_frame_file(work_dir, i))))
                records.append(_finished(work_dir, i))
                continue
            t1 = time.perf_counter()
            styled = stylize(frames[i])
            t_net = time.perf_counter() - t1
            weights = flow.consistency(backward[i - 1], forward[i - 1]) if i else None
            reliable = float(weights.mean()) if i else 0.0
            cut = bool(i) and reliable < options.cut_threshold
            if i and not cut and options.blend > 0:
                out = blend_with_previous(
                    styled, outputs[-1], backward[i - 1], weights, options.blend
                )
            else:
                out = images.to_uint8(styled)
            if cut:
                log(f"frame {i + 1} of {n}: scene cut (only {reliable:.0%} of its pixels follow "
                    f"from frame {i}); the network's frame as it is")  # fmt: skip
            seconds = time.perf_counter() - t0
            record = {
                "frame": i + 1,
                "start": "blended" if i and not cut and options.blend > 0 else "network",
                "scene_cut": cut,
                "reliable": round(reliable, 4),
                "network_seconds": round(t_net, 4),
                "flow_seconds": round(t_flow, 4),
                "seconds": round(seconds, 4),
            }
            images.save_image(out, _frame_file(work_dir, i))
            write_json(_frame_file(work_dir, i).with_suffix(".json"), record)
            outputs.append(out)
            records.append(record)
            bar.update(1)
    shape = (0, *frames[0].shape[:2], 2)
    stack = lambda a: np.stack(a) if a else np.zeros(shape, np.float32)  # noqa: E731
    return (
        outputs,
        records,
        {
            "backward_1": stack(backward),
            "forward_1": stack(forward),
            "seconds": np.float64(flow_seconds if not given else flows.get("seconds", 0.0)),
        },
    )


QUALITY_FRAMES = 4  # frames at evenly spaced times measured with nst.quality


def clip_figures(clip: Clip, styles: Sequence, outputs: Sequence[np.ndarray], flows: dict) -> dict:
    """What every video record carries: the warping error of the output and of the input (the
    floor), per pair, and the quality figures (the mean over a few frames)."""
    back, fwd = flows["backward_1"], flows["forward_1"]
    masks = [flow.consistency(back[t], fwd[t]) for t in range(len(back))]
    errors = flow.pair_warping_errors(outputs, back, masks)
    style_arrays = [images.load_image(s, what="style image") for s in styles]
    sampled = np.linspace(0, len(outputs) - 1, min(QUALITY_FRAMES, len(outputs))).round()
    figures = [
        quality.measure(outputs[int(i)], clip.frames[int(i)].astype(np.float32), style_arrays)
        for i in sampled
    ]
    return {
        "output": {
            "frames": len(outputs),
            "height": clip.shape[0],
            "width": clip.shape[1],
            "fps": clip.fps,
        },
        "warping_error": {
            "output": round(float(np.mean(errors)) if errors else 0.0, 6),
            "input": round(flow.warping_error(clip.frames, back, masks), 6),
            "per_pair": [round(e, 6) for e in errors],
        },
        "quality": {k: round(float(np.mean([f[k] for f in figures])), 4) for k in quality.KEYS},
        "quality_frames": [int(i) + 1 for i in sampled],
    }


def network_record(clip, styles, network: dict, options, outputs, records, flows) -> dict:
    """The run record of a feed-forward video: the network, the options, the per-frame records,
    the warping error and quality figures, and the throughput."""
    flow_seconds = float(flows.get("seconds") or 0.0)
    net_seconds = sum(r["network_seconds"] for r in records)
    frame_seconds = sum(r["seconds"] for r in records)
    return run_record(
        {"feed_forward": network},
        video_options=options.to_dict(),
        inputs={"video": clip.source, "styles": [os.fspath(s) for s in styles]},
        **clip_figures(clip, styles, outputs, flows),
        scene_cuts=[r["frame"] for r in records if r["scene_cut"]],
        stop_reason="frames",
        timings={
            "flow_seconds": round(flow_seconds, 3),
            "network_seconds": round(net_seconds, 3),
            "frames_seconds": round(frame_seconds, 3),
            "total_seconds": round(frame_seconds, 3),
            "frames_per_second": round(len(records) / max(frame_seconds, 1e-9), 2),
            "flow_share": round(flow_seconds / max(frame_seconds, 1e-9), 4),
        },
        frames=records,
    )


def network_stylizer(
    network: str | os.PathLike,
    styles: Sequence,
    *,
    decoders: str | os.PathLike | None = None,
    model: str = "vgg16-hed",
    universal_options=None,
) -> tuple[FrameStylizer, dict]:
    """The per-frame function of ``network`` (a ``.keras`` per-style network, or ``arbitrary``
    for the universal decoders with ``styles``) and its description for the record."""
    if os.fspath(network) == "arbitrary":
        from nst.universal.model import UniversalOptions, cached_universal

        o = universal_options or UniversalOptions()
        o = UniversalOptions(**{**o.__dict__, "size": None})  # frames at the clip's size
        universal = cached_universal(decoders, o.levels, model=model)
        style_arrays = [images.load_image(s, what="style image") for s in styles]
        prepared: dict = {}  # the styles' statistics, once per frame size

        def run(frame):
            if frame.shape not in prepared or o.preserve_color == "histogram":
                prepared[frame.shape] = universal.prepare_styles(
                    style_arrays, o, np.asarray(frame, np.float32)
                )
            return universal.stylize(frame, style_arrays, o, prepared=prepared[frame.shape])

        return run, {"network": "arbitrary", "decoders": os.fspath(universal.directory),
                     "alpha": o.alpha, "detail": o.detail, "levels": list(o.levels)}  # fmt: skip

    from nst.feedforward.inference import stylize
    from nst.feedforward.network import load_transformer
    from nst.net.weights import file_digest

    path = Path(network)
    net = load_transformer(path)
    return (lambda frame: stylize(net, frame)), {"network": os.fspath(path),
                                                 "sha256": file_digest(path)}  # fmt: skip


def network_video(
    clip: Clip | str | os.PathLike,
    network: str | os.PathLike,
    styles: Sequence,
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    options: VideoOptions | None = None,
    *,
    size: int | None = None,
    preview: str | os.PathLike | None = None,
    frames_dir: str | os.PathLike | None = None,
    flows: dict | None = None,
    decoders: str | os.PathLike | None = None,
    model: str = "vgg16-hed",
    universal_options=None,
    log: Callable[[str], None] = runtime.log,
) -> dict:
    """Stylise a clip (or a video path) with a network into an H.264 mp4; returns the record.

    Frames are made in ``frames_dir`` (kept) or ``OUTPUT.work/`` (removed once the video is
    written); either resumes a killed run. ``styles`` are the style images the quality figures
    compare with (and the styles of ``arbitrary``).
    """
    t0 = time.perf_counter()
    options = options or VideoOptions()
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise SettingsError(f"output {output} must end in .mp4 (H.264 video).")
    if preview is not None and Path(preview).suffix.lower() not in (".gif", ".webp"):
        raise SettingsError(f"preview {preview} must end in .gif or .webp.")
    for s in styles:  # a bad style fails before any frame is made
        images.load_image(s, what="style image")
    if os.fspath(network) != "arbitrary" and not Path(network).is_file():
        raise SettingsError(
            f"network {network} does not exist; give a .keras file from nst train-style, or "
            "'arbitrary' for the universal decoders."
        )
    if not isinstance(clip, Clip):
        clip = read_video(clip, size=size)
    stylize, described = network_stylizer(
        network, styles, decoders=decoders, model=model, universal_options=universal_options
    )
    work_dir = Path(frames_dir) if frames_dir else output.with_name(output.name + ".work")
    log(
        f"video: {len(clip.frames)} frames of {clip.shape[1]}x{clip.shape[0]} px at "
        f"{clip.fps:g} fps through {described['network']}; blend {options.blend:g}"
    )
    outputs, records, flows = stylize_frames(clip, stylize, options, work_dir, flows=flows, log=log)
    record = network_record(clip, styles, described, options, outputs, records, flows)
    t_encode = time.perf_counter()
    encode_mp4(outputs, clip.fps, output)
    if preview is not None:
        save_preview(outputs, clip.fps, preview)
    record["outputs"] = {"video": os.fspath(output), "preview": preview and os.fspath(preview)}
    record["timings"]["encode_seconds"] = round(time.perf_counter() - t_encode, 3)
    record["timings"]["total_seconds"] = round(time.perf_counter() - t0, 3)
    if metrics is not None:
        write_json(metrics, record)
    if frames_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    log(
        f"video: wrote {output}; warping error {record['warping_error']['output']:.5f} "
        f"(input {record['warping_error']['input']:.5f}), "
        f"{record['timings']['frames_per_second']:.1f} frames/s"
    )
    return record


def network_to_file(
    clip_path, flows_path, styles, frames_out, metrics_out, network: dict, options: dict, *,
    settings: dict | None = None, log=runtime.log,
) -> None:  # fmt: skip
    """The workflow's video job for a network set: stylised frames (lossless .npz) and the run
    record. ``network``: ``{"network": file or "arbitrary", "decoders": folder, "universal":
    options}`` (:func:`nst.experiment.video.network_job`); frames are made in
    ``FRAMES_OUT.work/`` so that a killed job resumes there."""
    from nst.universal.model import UniversalOptions

    clip = load_clip(clip_path)
    chosen = VideoOptions(**dict(options))
    universal = network.get("universal")
    if universal is not None:
        universal = UniversalOptions(**{**universal, "levels": tuple(universal["levels"])})
    stylize, described = network_stylizer(
        network["network"],
        styles,
        decoders=network.get("decoders"),
        model=(settings or {}).get("model", "vgg16-hed"),
        universal_options=universal,
    )
    work_dir = Path(str(frames_out) + ".work")
    outputs, records, flows = stylize_frames(
        clip, stylize, chosen, work_dir, flows=flow.load_flows(flows_path), log=log
    )
    record = network_record(clip, styles, described, chosen, outputs, records, flows)
    save_arrays(frames_out, frames=np.stack(outputs), fps=np.float64(clip.fps))
    write_json(metrics_out, record)
    shutil.rmtree(work_dir, ignore_errors=True)
    log(
        f"video: {len(outputs)} frames through {described['network']}, warping error "
        f"{record['warping_error']['output']:.5f} (input {record['warping_error']['input']:.5f})"
    )
