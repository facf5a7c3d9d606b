"""Style transfer for videos with temporal consistency (Ruder, Dosovitskiy & Brox 2016/2018).

Each frame is one :func:`nst.engine.transfer` run, the engine unchanged but for two inputs:

* the start: the previous stylised frame warped onto this frame by the optical flow of the
  input frames, the content frame where that warp is unreliable (``c = 0``);
* an extra loss term, ``temporal_weight * Σ_j mean(c_long_j ⊙ (x − warp(x_{i−j}))²) / var(f_i)``
  over the previous frames j in ``temporal_frames`` (long-term consistency with the paper's
  ``c_long``: each pixel from the nearest earlier frame where it is reliable), divided by the
  content frame's pixel variance, so the term is 1 when the frame departs from its warped
  predecessor as much as the content's pixels depart from their mean. The weight then means
  the same at every size and contrast. The default 1 cuts the warping error of frame-by-frame
  transfer about seventeenfold at the same style loss on the sample clip (bench/bench_video.py).

The first frame (and the first after a scene cut, a frame where most of ``c`` is 0) starts from
its content and gets ``first_iterations``; the others stop early on ``min_improvement``. Every
finished frame is a PNG plus a JSON record in the work folder, written atomically; a run started
again resumes at the first missing frame and, the frames being a deterministic function of the
earlier ones, gives the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst import images, quality, runtime
from nst.atomic import write_json
from nst.engine.driver import transfer
from nst.engine.record import run_record
from nst.errors import SettingsError
from nst.images import color
from nst.settings import TransferSettings, VideoOptions
from nst.video import flow
from nst.video.clips import Clip, encode_mp4, load_clip, read_video, save_arrays, save_preview

# keys of an engine history row that are not loss terms
HISTORY_BOOKKEEPING = ("iteration", "size", "evaluations", "seconds")


# ---------------------------------------------------------------------------------------------
# The temporal loss term


class TemporalLoss:
    """``Σ_j mean(c_j ⊙ (x − target_j)²) / variance`` at whatever scale the engine optimises.

    One per clip: :meth:`set` gives it a frame's warped targets, weights and variance, held in
    variables (one set per shape the engine asks for, resized when set), so that the objective
    holding it is built and traced once per clip and shape. ``slots`` is the number of earlier
    frames it compares with (default: as many as ``targets``); a frame with fewer gets zero
    weights in the rest.
    """

    def __init__(self, targets=None, weights=None, variance=None, *, slots: int | None = None):
        self.slots = slots or len(targets or ()) or 1
        self.variables: dict = {}  # (shape, channels) -> (targets, weights, scale)
        if targets is not None:
            self.set(targets, weights, variance)

    def set(self, targets: Sequence[np.ndarray], weights: Sequence[np.ndarray], variance) -> None:
        if not 1 <= len(targets) <= self.slots or len(weights) != len(targets):
            raise ValueError(f"{len(targets)} targets for {self.slots} slots")
        self.targets = [np.asarray(t, np.float32) for t in targets]
        self.weights = [np.asarray(c, np.float32) for c in weights]
        self.scale = 1.0 / max(float(variance), 1.0)
        for (shape, channels), (t_var, c_var, s_var) in self.variables.items():
            t, c = self._at(shape, channels)
            t_var.assign(t)
            c_var.assign(c)
            s_var.assign(self.scale)

    def _at(self, shape, channels) -> tuple[np.ndarray, np.ndarray]:
        """The targets (slots, h, w, channels) and weights (slots, h, w, 1) at ``shape``."""
        h, w = shape
        targets = np.zeros((self.slots, h, w, channels), np.float32)
        weights = np.zeros((self.slots, h, w, 1), np.float32)
        for j, (target, c) in enumerate(zip(self.targets, self.weights, strict=True)):
            if target.shape[:2] != tuple(shape):
                target = images.resize(target, shape)
                c = images.resize(c[..., None], shape)[..., 0].clip(0, 1)
            targets[j] = color.rgb_to_luminance(target) if channels == 1 else target
            weights[j] = c[..., None]
        return targets, weights

    def __call__(self, x):
        import tensorflow as tf

        key = (tuple(x.shape[:2]), int(x.shape[-1]))
        if key not in self.variables:
            t, c = self._at(*key)
            with tf.init_scope():  # created once, outside the traced function
                self.variables[key] = (
                    tf.Variable(t, trainable=False),
                    tf.Variable(c, trainable=False),
                    tf.Variable(self.scale, dtype=tf.float32, trainable=False),
                )
        targets, weights, scale = self.variables[key]
        per_frame = tf.reduce_mean(weights * tf.square(x[None] - targets), axis=(1, 2, 3))
        return tf.reduce_sum(per_frame) * scale


# ---------------------------------------------------------------------------------------------
# The frame loop


def frame_path(work_dir: Path, i: int) -> Path:
    return Path(work_dir) / f"frame_{i + 1:05d}.png"


def _finished(work_dir: Path, i: int) -> dict | None:
    png, record = frame_path(work_dir, i), frame_path(work_dir, i).with_suffix(".json")
    if png.is_file() and record.is_file():
        return json.loads(record.read_text())
    return None


@dataclass
class _Pair:
    """What frame i knows about an earlier frame i - j: flow back to it and weights."""

    step: int
    backward: np.ndarray
    weights: np.ndarray


def _pairs(flows: dict, i: int, steps: Sequence[int]) -> list[_Pair]:
    pairs = []
    for j in steps:
        if i - j < 0:
            continue
        back, fwd = flows[f"backward_{j}"][i - j], flows[f"forward_{j}"][i - j]
        pairs.append(_Pair(j, back, flow.consistency(back, fwd)))
    return pairs


def stylize_frames(
    clip: Clip,
    styles: Sequence,
    settings: TransferSettings,
    options: VideoOptions,
    work_dir: str | os.PathLike,
    *,
    flows: dict | None = None,
    log: Callable[[str], None] = runtime.log,
) -> tuple[list[np.ndarray], list[dict], dict]:
    """Stylise every frame of ``clip`` into ``work_dir`` (resuming there); returns the frames,
    their records and the flows used. On a terminal, one progress bar over the frames (the
    transfer of a frame shows none of its own)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    frames = clip.frames
    n = len(frames)
    steps = options.temporal_frames
    flow_seconds = 0.0
    if flows is None or any(f"backward_{j}" not in flows for j in steps):
        cache = work_dir / "flows.npz"
        flows = flow.load_flows(cache) if cache.is_file() else {}
        if any(f"backward_{j}" not in flows for j in steps):
            flows = flow.compute_flows(frames, steps, log=log)
            save_arrays(cache, **flows)
            flow_seconds = float(flows["seconds"])
    style_arrays = [images.load_image(s, what="style image") for s in styles]
    outputs: list[np.ndarray] = []
    records: list[dict] = []
    back_1, fwd_1 = flows["backward_1"], flows["forward_1"]
    masks_1 = [flow.consistency(back_1[t], fwd_1[t]) for t in range(n - 1)]
    pair_errors: list[float] = []

    def engine_log(msg: str) -> None:  # the frame's own line below sums up the engine's "done:"
        if not msg.startswith("done:"):
            log(msg)

    # on a terminal one bar over the frames; each frame's transfer leaves its own bar out
    resumed = 0
    while resumed < n and _finished(work_dir, resumed) is not None:
        resumed += 1
    resuming = True
    # one temporal term for the clip, given each frame's targets: the objective that holds it is
    # built and traced once (nst.loss.problem keeps it)
    temporal = TemporalLoss(slots=len(steps))
    with runtime.progress(n, "video", "frame", initial=resumed) as bar:
        for i in range(n):
            done = _finished(work_dir, i) if resuming else None
            if resuming and done is None and i:
                log(
                    f"video: {i} frame(s) finished earlier in {work_dir}; resuming at frame {i + 1}"
                )
            resuming = done is not None
            if done is not None:
                outputs.append(images.to_uint8(images.load_image(frame_path(work_dir, i))))
                records.append(done)
                if i:
                    pair_errors += flow.pair_warping_errors(
                        outputs[-2:], back_1[i - 1 : i], masks_1[i - 1 : i]
                    )
                continue
            t0 = time.perf_counter()
            content = frames[i].astype(np.float32)
            pairs = _pairs(flows, i, steps) if i else []
            reliable = float(pairs[0].weights.mean()) if pairs else 0.0
            cut = bool(pairs) and reliable < options.cut_threshold
            warm = bool(pairs) and options.warm_start and not cut
            if cut:
                log(
                    f"frame {i + 1} of {n}: scene cut (only {reliable:.0%} of its pixels "
                    f"follow from frame {i}); starting again from its content"
                )
            kwargs: dict = {}
            if warm:
                prev = _warped(outputs, pairs)
                c1 = pairs[0].weights[..., None]
                kwargs["init_image"] = c1 * prev[0] + (1 - c1) * content
                if options.temporal_weight > 0:
                    weights = flow.long_term_weights([p.weights for p in pairs])
                    temporal.set(prev, weights, content.var())
                    kwargs["extra_terms"] = {"temporal": (options.temporal_weight, temporal)}
            if warm:
                frame_settings = settings
            else:
                frame_settings = settings.replace(
                    iterations=options.iterations_first(settings), min_improvement=0.0
                )
            image, result = transfer(
                content,
                style_arrays,
                frame_settings,
                log=engine_log,
                measure_quality=False,
                **kwargs,
            )
            seconds = time.perf_counter() - t0
            outputs.append(image)
            if i:
                pair_errors += flow.pair_warping_errors(
                    outputs[-2:], back_1[i - 1 : i], masks_1[i - 1 : i]
                )
            last = result.history[-1]
            record = {
                "frame": i + 1,
                "start": "warped" if warm else "content",
                "scene_cut": cut,
                "reliable": round(reliable, 4),
                "iterations": len(result.history),
                "stop_reason": result.stop_reason,
                "final_loss": {k: v for k, v in last.items() if k not in HISTORY_BOOKKEEPING},
                "initial_loss": result.initial,
                "seconds": round(seconds, 3),
                "optimize_seconds": result.timings["optimize_seconds"],
            }
            write_json(frame_path(work_dir, i).with_suffix(".json"), record)
            images.save_image(image, frame_path(work_dir, i))
            records.append(record)
            so_far = float(np.mean(pair_errors)) if pair_errors else 0.0
            log(
                f"frame {i + 1} of {n}: loss {last['total']:.4g} (style {last['style']:.3g}"
                + (f", temporal {last['temporal']:.3g}" if "temporal" in last else "")
                + f"), {result.history[-1]['iteration']} iterations, {seconds:.1f} s, "
                f"warping error so far {so_far:.5f}"
            )
            bar.update(1, loss=last["total"])
    return outputs, records, {**flows, "computed_seconds": flow_seconds}


def _warped(outputs: list[np.ndarray], pairs: list[_Pair]) -> list[np.ndarray]:
    return [flow.warp(outputs[-p.step].astype(np.float32), p.backward) for p in pairs]


# ---------------------------------------------------------------------------------------------
# Files in, video and record out


def video_transfer(
    clip: Clip | str | os.PathLike,
    styles: Sequence,
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    options: VideoOptions | None = None,
    *,
    preview: str | os.PathLike | None = None,
    frames_dir: str | os.PathLike | None = None,
    flows: str | os.PathLike | dict | None = None,
    log: Callable[[str], None] = runtime.log,
) -> dict:
    """Stylise a clip (or a video path) into an H.264 mp4; returns the run record.

    Frames are made in ``frames_dir`` (kept) or in ``OUTPUT.work/`` beside the output (removed
    once the video is written); either resumes a killed run. ``flows`` is a file written by
    :func:`nst.experiment.jobs.video_flow_job` (or such a dict); without it the flows are
    computed and cached there.
    """
    t0 = time.perf_counter()
    settings = settings or TransferSettings()
    options = options or VideoOptions()
    output = Path(output)
    if output.suffix.lower() != ".mp4":
        raise SettingsError(f"output {output} must end in .mp4 (H.264 video).")
    if preview is not None and Path(preview).suffix.lower() not in (".gif", ".webp"):
        raise SettingsError(f"preview {preview} must end in .gif or .webp.")
    if not isinstance(clip, Clip):
        clip = read_video(clip, size=settings.size)
    style_paths = list(styles)
    for s in style_paths:  # a bad style fails before any frame is made
        images.load_image(s, what="style image")
    if not isinstance(flows, dict) and flows is not None:
        flows = flow.load_flows(flows)
    work_dir = Path(frames_dir) if frames_dir else output.with_name(output.name + ".work")
    size = max(clip.shape)
    if size != settings.size:
        settings = settings.replace(size=size)  # frames are stylised at the clip's size
    log(
        f"video: {len(clip.frames)} frames of {clip.shape[1]}x{clip.shape[0]} px at "
        f"{clip.fps:g} fps; temporal weight {options.temporal_weight:g}, frames "
        f"{','.join(map(str, options.temporal_frames))}"
    )
    outputs, records, flows = stylize_frames(
        clip, style_paths, settings, options, work_dir, flows=flows, log=log
    )
    record = finish_record(clip, style_paths, settings, options, outputs, records, flows)
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
        f"(input {record['warping_error']['input']:.5f}), mean style loss "
        f"{record['style_loss']['mean']:.4g}"
    )
    return record


QUALITY_FRAMES = 4  # frames at evenly spaced times measured with nst.quality


def finish_record(clip, styles, settings, options, outputs, records, flows) -> dict:
    """The video's run record: settings, per-frame records, warping error of the output and of
    the input (the floor), style loss per frame, quality figures (the mean over a few frames)
    and timings; its keys match an image run's where they mean the same (summary.csv)."""
    back, fwd = flows["backward_1"], flows["forward_1"]
    masks = [flow.consistency(back[t], fwd[t]) for t in range(len(back))]
    errors = flow.pair_warping_errors(outputs, back, masks)
    style_arrays = [images.load_image(s, what="style image") for s in styles]
    sampled = np.linspace(0, len(outputs) - 1, min(QUALITY_FRAMES, len(outputs))).round()
    figures = [
        quality.measure(outputs[int(i)], clip.frames[int(i)].astype(np.float32), style_arrays)
        for i in sampled
    ]
    style_losses = [r["final_loss"]["style"] for r in records]
    later = [r["seconds"] for r in records[1:]]
    flow_seconds = float(flows.get("computed_seconds") or flows.get("seconds") or 0.0)
    frame_seconds = sum(r["seconds"] for r in records)
    iterations = sum(r["iterations"] for r in records)
    terms = sorted({k for r in records for k in r["final_loss"]})
    return run_record(
        settings.to_dict(),
        video_options=options.to_dict(),
        inputs={"video": clip.source, "styles": [os.fspath(s) for s in styles]},
        output={
            "frames": len(records),
            "height": clip.shape[0],
            "width": clip.shape[1],
            "fps": clip.fps,
        },
        warping_error={
            "output": round(float(np.mean(errors)) if errors else 0.0, 6),
            "input": round(flow.warping_error(clip.frames, back, masks), 6),
            "per_pair": [round(e, 6) for e in errors],
        },
        style_loss={"mean": float(np.mean(style_losses)), "per_frame": style_losses},
        scene_cuts=[r["frame"] for r in records if r["scene_cut"]],
        # as an image run's record, for summary.csv: losses are means over the frames
        iterations=iterations,
        stop_reason="frames",
        final_loss={
            k: float(np.mean([r["final_loss"].get(k, 0.0) for r in records])) for k in terms
        },
        quality={k: round(float(np.mean([f[k] for f in figures])), 4) for k in quality.KEYS},
        quality_frames=[int(i) + 1 for i in sampled],
        timings={
            "flow_seconds": round(flow_seconds, 3),
            "flow_share": round(flow_seconds / max(flow_seconds + frame_seconds, 1e-9), 4),
            "first_frame_seconds": records[0]["seconds"],
            "later_frame_seconds": round(float(np.mean(later)), 3) if later else None,
            "frames_seconds": round(frame_seconds, 3),
            "total_seconds": round(frame_seconds + flow_seconds, 3),
            "seconds_per_iteration": round(frame_seconds / max(iterations, 1), 4),
        },
        frames=records,
    )


def stylize_to_file(clip_path, flows_path, styles, frames_out, metrics_out, settings, options,
                    log=runtime.log) -> None:  # fmt: skip
    """The workflow's video transfer: stylised frames (lossless .npz) and the run record; the
    frames are made in ``FRAMES_OUT.work/`` so that a killed job resumes there."""
    clip = load_clip(clip_path)
    # frames are stylised at the prepared clip's size (video.prepare.size), whatever size says
    settings = TransferSettings.from_dict({**settings, "size": max(clip.shape)})
    options = VideoOptions(**dict(options))
    work_dir = Path(str(frames_out) + ".work")
    outputs, records, flows = stylize_frames(
        clip, styles, settings, options, work_dir, flows=flow.load_flows(flows_path), log=log
    )
    record = finish_record(clip, styles, settings, options, outputs, records, flows)
    save_arrays(frames_out, frames=np.stack(outputs), fps=np.float64(clip.fps))
    write_json(metrics_out, record)
    shutil.rmtree(work_dir, ignore_errors=True)
