"""``nst train-style`` (train a feed-forward network for one style) and ``nst stylize``."""

from __future__ import annotations

from pathlib import Path

from nst.cli.options import (
    add_loss_options,
    add_train_options,
    positive_int,
    resumable_training,
)
from nst.errors import SettingsError
from nst.runtime import import_tensorflow
from nst.settings import (
    FEEDFORWARD_DEFAULTS,
    LOSS_FIELDS,
    TRAIN_FIELDS,
    TrainSettings,
    TransferSettings,
)


def cmd_train_style(args) -> int:
    settings = TransferSettings(**{k: getattr(args, k) for k in LOSS_FIELDS})
    train = TrainSettings(**{k: getattr(args, k) for k in TRAIN_FIELDS})
    if args.init is not None and not Path(args.init).is_file():
        raise SettingsError(f"--init {args.init} does not exist; give a .keras network.")
    clips = []
    if args.video:  # decoded (and checked) before TensorFlow starts
        from nst.video.clips import read_video

        clips = [
            read_video(v, max_frames=args.video_frames, size=args.video_size) for v in args.video
        ]
    import_tensorflow(lean=True)
    from nst.feedforward.train import train_files

    pairs = None
    if clips:
        from nst.video.pairs import FramePairs

        pairs = FramePairs(clips, train.train_size, settings.seed)
    return resumable_training(
        lambda: train_files(
            args.style,
            args.content,
            args.output,
            args.metrics,
            settings,
            train,
            pairs=pairs,
            init=args.init,
        ),
        args.output,
    )


def cmd_stylize(args) -> int:
    import_tensorflow(lean=True)
    from nst.feedforward.inference import stylize_files

    stylize_files(
        args.model,
        args.inputs,
        args.output,
        args.metrics,
        size=args.size,
        work_size=args.work_size,
        style=args.style,
        threads=args.threads,
        tile=args.tile,
        thumbnail=args.thumbnail,
        max_memory=args.max_memory,
    )
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "train-style", help="train a feed-forward network for one style (Johnson et al.)"
    )
    p.add_argument("style")
    p.add_argument("-o", "--output", required=True, help="the model (.keras)")
    p.add_argument(
        "--content",
        nargs="+",
        required=True,
        metavar="DIR_OR_FILE",
        help="content images, or folders of them, to train on",
    )
    p.add_argument("--metrics", metavar="JSON", help="write the training record here")
    p.add_argument(
        "--video",
        nargs="+",
        metavar="DIR_OR_FILE",
        help="videos (or folders of frames) whose consecutive frames, with their flow, train "
        "the network to be stable in time (the temporal term, --temporal-weight)",
    )
    p.add_argument(
        "--video-size",
        type=positive_int,
        default=256,
        metavar="N",
        help="longest side the videos are decoded at (default %(default)s)",
    )
    p.add_argument("--video-frames", type=positive_int, metavar="N", help="at most N per video")
    p.add_argument(
        "--init",
        metavar="MODEL.keras",
        help="start from this network's weights (same --width): fine-tune it, e.g. on --video",
    )
    add_loss_options(p, FEEDFORWARD_DEFAULTS)
    add_train_options(p)
    p.set_defaults(func=cmd_train_style)

    p = sub.add_parser("stylize", help="stylise images with a network trained by train-style")
    p.add_argument("model", help="a .keras model from nst train-style")
    p.add_argument("inputs", nargs="+", metavar="input", help="images or folders of images")
    p.add_argument(
        "-o", "--output", required=True, help="output image; a folder with several inputs"
    )
    p.add_argument("--size", type=positive_int, help="longest side of the output")
    p.add_argument(
        "--work-size",
        type=int,
        metavar="N",
        help="longest side the network paints at, the result resized to the output: larger "
        "makes the strokes smaller against the picture (default: the style size it was trained "
        "with, for smaller outputs; 0: the output's own size)",
    )
    p.add_argument("--metrics", metavar="JSON", help="write the record (timings, quality) here")
    p.add_argument("--style", help="the style image, to measure the style distance")
    p.add_argument("--threads", type=int, default=0, help="CPU threads; 0: TensorFlow's default")
    p.add_argument(
        "--tile",
        type=int,
        default=0,
        metavar="N",
        help="stylise in overlapping tiles of N px (default 0: only when the whole image would "
        "not fit the memory)",
    )
    p.add_argument(
        "--thumbnail",
        type=positive_int,
        metavar="N",
        help="tiles are normalised with the statistics of the image at N px (default 2048)",
    )
    p.add_argument("--max-memory", type=float, metavar="GIB", help="memory the run may use")
    p.set_defaults(func=cmd_stylize)
