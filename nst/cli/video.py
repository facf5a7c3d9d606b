"""``nst video``: stylise a video with temporal consistency (Ruder et al.)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nst.cli.options import add_transfer_options, settings_from_args
from nst.errors import SettingsError
from nst.runtime import import_tensorflow
from nst.settings import VideoOptions


def _frames_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of frame distances") from None


def add_commands(sub) -> None:
    p = sub.add_parser("video", help="stylise a video with temporal consistency (Ruder et al.)")
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
    f = p.add_argument_group("feed-forward (a network per frame instead of optimisation)")
    f.add_argument(
        "--feed-forward",
        metavar="MODEL.keras|arbitrary",
        help="stylise each frame with this per-style network (nst train-style), or 'arbitrary' "
        "for the universal decoders with the given style; made consistent with the flow",
    )
    f.add_argument(
        "--blend",
        type=float,
        default=d.blend,
        help="share of the warped previous output kept where the flow is reliable; default "
        "%(default)g (0: the network frame by frame)",
    )
    f.add_argument(
        "--alpha", type=float, default=1.0, help="style strength of 'arbitrary' (default 1)"
    )
    f.add_argument(
        "--detail",
        type=float,
        default=1.0,
        help="'arbitrary': share of the decoders' lost detail put back (default 1)",
    )
    g.add_argument("--fps", type=float, help="resample to this frame rate")
    g.add_argument("--start", type=float, default=0.0, help="seconds into the video")
    g.add_argument("--duration", type=float, help="seconds of video to stylise")
    g.add_argument("--max-frames", type=int, metavar="N", help="at most N frames")
    add_transfer_options(p)
    # smaller and shorter than an image by default: a later frame starts close to its answer
    p.set_defaults(func=cmd_video, size=256, iterations=30, min_improvement=0.002)


def cmd_video(args) -> int:
    from nst.video.clips import read_video

    settings = settings_from_args(args)
    options = VideoOptions(
        temporal_weight=args.temporal_weight,
        temporal_frames=args.temporal_frames,
        first_iterations=args.first_iterations,
        blend=args.blend,
    )
    if Path(args.output).suffix.lower() != ".mp4":
        raise SettingsError(f"output {args.output} must end in .mp4 (H.264 video).")
    network = args.feed_forward
    if network is not None and network != "arbitrary" and not Path(network).is_file():
        raise SettingsError(
            f"network {network} does not exist; give a .keras file from nst train-style, or "
            "'arbitrary' for the universal decoders."
        )
    universal_options = None
    if network == "arbitrary":
        from nst.universal.model import UniversalOptions

        universal_options = UniversalOptions(alpha=args.alpha, detail=args.detail, size=None)
    clip = read_video(
        args.input,
        start=args.start,
        duration=args.duration,
        fps=args.fps,
        max_frames=args.max_frames,
        size=settings.size,
    )
    import_tensorflow(lean=True)  # after the checks: a bad input fails without TensorFlow
    if network is not None:
        from nst.video.feedforward import network_video

        network_video(
            clip,
            network,
            args.styles,
            args.output,
            args.metrics,
            options,
            preview=args.preview,
            frames_dir=args.frames,
            decoders=args.decoders,
            model=settings.model,
            universal_options=universal_options,
        )
        return 0
    from nst.video.temporal import video_transfer

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
