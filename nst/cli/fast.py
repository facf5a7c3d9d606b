"""``nst train-style`` (train a feed-forward network for one style) and ``nst stylize``."""

from __future__ import annotations

from nst.cli.options import (
    add_loss_options,
    add_train_options,
    positive_int,
    resumable_training,
)
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
    import_tensorflow(lean=True)
    from nst.feedforward.train import train_files

    return resumable_training(
        lambda: train_files(args.style, args.content, args.output, args.metrics, settings, train),
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
        help="tiles are normalised with the statistics of the image at N px (default 1024)",
    )
    p.add_argument("--max-memory", type=float, metavar="GIB", help="memory the run may use")
    p.set_defaults(func=cmd_stylize)
