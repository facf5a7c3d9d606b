"""The ways into video transfer: the ``nst video`` command and the workflow's video sets and
jobs (prepared clip -> flows -> stylised frames -> mp4 and preview). The work is in
:mod:`nst.temporal`, :mod:`nst.video` and :mod:`nst.flow`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nst.atomic import write_json
from nst.errors import SettingsError
from nst.settings import TransferSettings
from nst.temporal import (
    VideoOptions,
    _log,
    compute_flows,
    finish_record,
    load_flows,
    stylize_frames,
    video_transfer,
)
from nst.video import encode_mp4, load_clip, read_video, save_arrays, save_preview

# ---------------------------------------------------------------------------------------------
# Command line


def _frames_list(text: str) -> tuple[int, ...]:
    import argparse

    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of frame distances") from None


def add_cli(subparsers) -> None:
    from nst.cli import add_transfer_options

    p = subparsers.add_parser(
        "video", help="stylise a video with temporal consistency (Ruder et al.)"
    )
    p.add_argument("input", help="video file (mp4, mov, avi, mkv, gif) or folder of frames")
    p.add_argument("styles", nargs="+", metavar="style")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, H.264)")
    p.add_argument("--metrics", metavar="JSON", help="write the run record here")
    p.add_argument("--preview", metavar="GIF|WEBP", help="also write an animated preview")
    p.add_argument("--frames", metavar="DIR", help="keep the stylised frames (PNG) in DIR")
    g = p.add_argument_group("video")
    d = VideoOptions()
    g.add_argument(
        "--temporal-weight",
        type=float,
        default=d.temporal_weight,
        help="γ of the temporal loss; default %(default)g (0: no temporal loss)",
    )
    g.add_argument(
        "--temporal-frames",
        type=_frames_list,
        default=d.temporal_frames,
        metavar="J[,J...]",
        help="earlier frames the temporal loss looks at, e.g. 1,2,4 (default 1)",
    )
    g.add_argument(
        "--first-iterations", type=int, metavar="N", help="first frame (default 2 x iterations)"
    )
    g.add_argument("--fps", type=float, help="resample to this frame rate")
    g.add_argument("--start", type=float, default=0.0, help="seconds into the video")
    g.add_argument("--duration", type=float, help="seconds of video to stylise")
    g.add_argument("--max-frames", type=int, metavar="N", help="at most N frames")
    add_transfer_options(p)
    # smaller and shorter than an image by default: a later frame starts close to its answer
    p.set_defaults(func=run_video_command, size=256, iterations=30, min_improvement=0.002)


def run_video_command(args) -> int:
    from nst.cli import settings_from_args
    from nst.engine import import_tensorflow

    settings = settings_from_args(args)
    options = VideoOptions(
        temporal_weight=args.temporal_weight,
        temporal_frames=args.temporal_frames,
        first_iterations=args.first_iterations,
    )
    if Path(args.output).suffix.lower() != ".mp4":
        raise SettingsError(f"output {args.output} must end in .mp4 (H.264 video).")
    clip = read_video(
        args.input,
        start=args.start,
        duration=args.duration,
        fps=args.fps,
        max_frames=args.max_frames,
        size=settings.size,
    )
    import_tensorflow(lean=True)
    video_transfer(
        clip,
        args.styles,
        args.output,
        args.metrics,
        settings,
        options,
        preview=args.preview,
        frames_dir=args.frames,
    )
    return 0


# ---------------------------------------------------------------------------------------------
# The workflow's video sets and jobs

VIDEO_KEYS = ("temporal_weight", "temporal_frames", "first_iterations")


def video_sets(config: dict) -> dict[str, dict]:
    """{set name: {"settings": {...}, "options": {...}}} of the config's ``video`` section: the
    top-level ``defaults``, then ``video.defaults``, then each set under ``video.params``; the
    keys in :data:`VIDEO_KEYS` are video options, the rest transfer settings (both validated)."""
    from nst.grid import SET_NAME, _validated

    section = config.get("video") or {}
    base = {**(config.get("defaults") or {}), **(section.get("defaults") or {})}
    out = {}
    for name, values in (section.get("params") or {"temporal": {}}).items():
        if not SET_NAME.fullmatch(str(name)):
            raise SettingsError(
                f"video set name {name!r} must be letters, digits, '_', '.' or '-'."
            )
        merged = {**base, **(values or {})}
        options = {k: merged.pop(k) for k in VIDEO_KEYS if k in merged}
        try:
            VideoOptions(**options)
        except SettingsError as exc:
            raise SettingsError(f"video.params.{name}: {exc}") from None
        out[str(name)] = {
            "settings": _validated(f"video.params.{name}", merged),
            "options": options,
        }
    return out


def flow_steps(sets: dict[str, dict]) -> list[int]:
    """Every frame distance any video set looks back (the flow job computes them all once)."""
    return sorted({j for s in sets.values() for j in VideoOptions(**s["options"]).temporal_frames})


def stylize_job(
    clip_path, flows_path, styles, frames_out, metrics_out, settings, options, log=_log
):
    """The workflow's video transfer: stylised frames (lossless .npz) and the run record; the
    frames are made in ``FRAMES_OUT.work/`` so that a killed job resumes there."""
    clip = load_clip(clip_path)
    # frames are stylised at the prepared clip's size (video.prepare.size), whatever size says
    settings = TransferSettings.from_dict({**settings, "size": max(clip.shape)})
    options = VideoOptions(**dict(options))
    work_dir = Path(str(frames_out) + ".work")
    flows = load_flows(flows_path)
    outputs, records, flows = stylize_frames(
        clip, styles, settings, options, work_dir, flows=flows, log=log
    )
    record = finish_record(clip, styles, settings, options, outputs, records, flows)
    save_arrays(frames_out, frames=np.stack(outputs), fps=np.float64(clip.fps))
    write_json(metrics_out, record)
    shutil.rmtree(work_dir, ignore_errors=True)


def encode_job(frames_path, video_out, preview_out=None) -> None:
    """H.264 mp4 (and an animated preview) of stylised frames stored by :func:`stylize_job`."""
    with np.load(frames_path, allow_pickle=False) as z:
        frames, fps = z["frames"], float(z["fps"])
    encode_mp4(frames, fps, video_out)
    if preview_out:
        save_preview(frames, fps, preview_out)


def flow_job(clip_path, out, steps: Sequence[int] = (1,)) -> None:
    """Flows of a prepared clip, written once per video (the workflow's ``video_flow`` rule)."""
    clip = load_clip(clip_path)
    save_arrays(out, **compute_flows(clip.frames, steps, log=_log))
