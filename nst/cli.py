"""Command line: ``nst transfer``, ``nst train-style`` / ``nst stylize`` (feed-forward),
``nst color-transfer``, ``nst mask-blend``, ``nst models`` and the dataset commands ``nst fetch`` /
``nst prepare``.

A user error (bad file, bad setting, no network) ends with one line ``nst: error: ...`` and exit
status 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys

from nst.errors import NSTError
from nst.settings import (
    CHAINS,
    DEFAULTS,
    FEEDFORWARD_DEFAULTS,
    INIT_MODES,
    METHODS,
    MODELS,
    NORMALIZATIONS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    PRESERVE_COLOR,
)

EXIT_USER_ERROR = 2


def _layers(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.replace(",", " ").split() if v)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive number of pixels")
    return value


def add_loss_options(p: argparse.ArgumentParser, d=DEFAULTS):
    """The loss's TransferSettings fields (network, layers, weights); returns the weights group.

    ``d`` gives the defaults shown and used: the engine's, or feed-forward training's.
    """
    g = p.add_argument_group("method and network")
    g.add_argument("--method", choices=METHODS, default=d.method)
    g.add_argument(
        "--model", choices=MODELS, default=d.model, help="%(default)s (vgg16-hed: offline)"
    )
    g.add_argument(
        "--weights", metavar="PATH", help="local .h5 weights file instead of the download"
    )
    g.add_argument("--pooling", choices=POOLINGS, default=d.pooling)
    content = ",".join(d.content_layers) if d.content_layers else "conv4_2"
    style = ",".join(d.style_layers) if d.style_layers else "per method"
    g.add_argument(
        "--content-layers",
        type=_layers,
        default=d.content_layers,
        metavar="L[,L...]",
        help=f"default {content}",
    )
    g.add_argument(
        "--style-layers",
        type=_layers,
        default=d.style_layers,
        metavar="L[,L...]",
        help=f"default {style}",
    )
    g.add_argument("--shift", type=float, help="activation shift (inetwork: -1)")
    g.add_argument("--chain", choices=CHAINS, help="inetwork: correlation (default) or none")
    g = p.add_argument_group("loss weights")
    g.add_argument(
        "--content-weight", type=float, default=d.content_weight, help="default %(default)g"
    )
    g.add_argument(
        "--style-weight",
        type=float,
        default=d.style_weight,
        help="default %(default)g; 0.1 (a hint of the style) to 10 (the style's texture)",
    )
    g.add_argument("--tv-weight", type=float, default=d.tv_weight, help="default %(default)g")
    g.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        default=d.normalize,
        help="layer: each layer's loss relative to its target's energy (weights act alike at "
        "every size, method and network); term: each whole term relative to its targets' energy "
        "(keeps the raw balance between layers); none: raw terms, for the peers' weights",
    )
    return g


def add_transfer_options(p: argparse.ArgumentParser) -> None:
    """The TransferSettings fields as options (defaults shown are the library's)."""
    d = DEFAULTS
    g = add_loss_options(p, d)
    g.add_argument(
        "--style-blend-weights", type=float, nargs="+", metavar="W", help="one per style"
    )
    g.add_argument("--style-scale", type=float, default=d.style_scale)
    g = p.add_argument_group("image")
    g.add_argument("--size", type=_positive_int, default=d.size, help="longest side of the output")
    g.add_argument("--init", default=d.init, help=f"{'|'.join(INIT_MODES)}|PATH")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--preserve-color", choices=PRESERVE_COLOR, default=d.preserve_color)
    g.add_argument("--style-masks", nargs="+", metavar="MASK", help="one grey mask per style")
    g.add_argument("--content-mask", metavar="MASK", help="white = stylise, black = keep")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    g.add_argument("--iterations", type=int, default=d.iterations)
    g.add_argument("--learning-rate", type=float, default=d.learning_rate, help="adam only")
    g.add_argument("--min-improvement", type=float, default=d.min_improvement)
    g.add_argument("--scales", type=int, default=d.scales, help="coarse-to-fine steps of ~sqrt(2)")
    g.add_argument(
        "--coarse-iterations", type=int, metavar="N", help="per coarser scale (default: 1/4)"
    )
    g.add_argument("--precision", choices=PRECISIONS, default=d.precision)
    g.add_argument("--threads", type=int, default=d.threads, help="0: TensorFlow's default")
    g.add_argument("--save-every", type=int, default=d.save_every, metavar="N")
    g.add_argument("--print-every", type=int, default=d.print_every, metavar="N")


def settings_from_args(args: argparse.Namespace):
    from nst.settings import SETTING_NAMES, TransferSettings

    return TransferSettings(**{k: getattr(args, k) for k in SETTING_NAMES if hasattr(args, k)})


def _check_output(path: str) -> None:
    from PIL import Image

    ext = os.path.splitext(path)[1].lower()
    if ext not in Image.registered_extensions():
        raise NSTError(f"cannot tell the image format of output {path}; end it in .png or .jpg.")


def cmd_transfer(args) -> int:
    from nst.engine import import_tensorflow, transfer_files

    settings = settings_from_args(args)
    _check_output(args.output)
    import_tensorflow(lean=True)
    transfer_files(args.content, args.styles, args.output, args.metrics, settings)
    return 0


def add_train_options(p: argparse.ArgumentParser) -> None:
    """TrainSettings fields and the run's seed, precision and threads."""
    from nst.settings import TrainSettings

    d, t = FEEDFORWARD_DEFAULTS, TrainSettings()
    g = p.add_argument_group("training")
    g.add_argument("--width", type=int, choices=(16, 32), default=t.width, help="32: the paper's")
    g.add_argument("--train-size", type=_positive_int, default=t.train_size, metavar="N")
    g.add_argument("--batch-size", type=int, default=t.batch_size, metavar="N")
    g.add_argument("--steps", type=int, default=t.steps, metavar="N")
    g.add_argument("--learning-rate", type=float, default=t.learning_rate, help="Adam")
    g.add_argument(
        "--lr-decay-every",
        type=int,
        default=t.lr_decay_every,
        metavar="N",
        help="multiply the learning rate by --lr-decay-factor every N steps (0: constant)",
    )
    g.add_argument("--lr-decay-factor", type=float, default=t.lr_decay_factor, metavar="F")
    g.add_argument(
        "--checkpoint-every", type=int, default=t.checkpoint_every, metavar="N", help="0: none"
    )
    g.add_argument("--print-every", type=int, default=t.print_every, metavar="N")
    g.add_argument(
        "--style-size", type=_positive_int, metavar="N", help="style's longest side (train size)"
    )
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--precision", choices=PRECISIONS, default=d.precision)
    g.add_argument("--threads", type=int, default=d.threads, help="0: TensorFlow's default")


def cmd_train_style(args) -> int:
    from nst.engine import import_tensorflow
    from nst.settings import LOSS_FIELDS, TRAIN_FIELDS, TrainSettings, TransferSettings

    settings = TransferSettings(**{k: getattr(args, k) for k in LOSS_FIELDS})
    train = TrainSettings(**{k: getattr(args, k) for k in TRAIN_FIELDS})
    import_tensorflow(lean=True)
    from nst.feedforward import checkpoint_path, train_files

    try:
        train_files(args.style, args.content, args.output, args.metrics, settings, train)
    except KeyboardInterrupt:
        ckpt = checkpoint_path(args.output)
        if not ckpt.is_file():
            raise
        print(f"nst: interrupted; the same command resumes from {ckpt}.", file=sys.stderr)
        return 130
    return 0


def cmd_stylize(args) -> int:
    from nst.engine import import_tensorflow

    import_tensorflow(lean=True)
    from nst.feedforward import stylize_files

    stylize_files(
        args.model,
        args.inputs,
        args.output,
        args.metrics,
        size=args.size,
        style=args.style,
        threads=args.threads,
    )
    return 0


def cmd_color_transfer(args) -> int:
    from nst import color, images, masks

    _check_output(args.output)
    stylised = images.load_image(args.stylised, what="stylised image")
    content = images.load_image(args.content, what="content image")
    if args.mode == "histogram":
        recoloured = color.match_color_histogram(
            stylised, images.resize(content, stylised.shape[:2])
        )
    else:
        recoloured = color.transfer_chroma(stylised, content)
    if args.mask:
        mask = masks.fit_mask(masks.load_mask(args.mask), stylised.shape[:2], "mask", _warn)
        recoloured = recoloured * mask[..., None] + stylised * (1 - mask[..., None])
    images.save_image(recoloured, args.output)
    return 0


def cmd_mask_blend(args) -> int:
    from nst import images, masks

    _check_output(args.output)
    stylised = images.load_image(args.stylised, what="stylised image")
    content = images.load_image(args.content, what="content image")
    mask = masks.fit_mask(masks.load_mask(args.mask), stylised.shape[:2], "mask", _warn)
    images.save_image(masks.mask_blend(stylised, content, mask), args.output)
    return 0


def cmd_models(args) -> int:
    from nst.weights import MODELS as SPECS

    for spec in SPECS.values():
        print(f"{spec.name}: {' '.join(spec.conv_layers)}")
    return 0


def _warn(msg: str) -> None:
    print(f"nst: {msg}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nst", description="Neural style transfer (Gatys et al.; Novak & Nikulin)."
    )
    from nst import __version__

    parser.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("transfer", help="stylise a content image with one or more styles")
    p.add_argument("content")
    p.add_argument("styles", nargs="+", metavar="style")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg)")
    p.add_argument("--metrics", metavar="JSON", help="write the run record (losses, timings) here")
    add_transfer_options(p)
    p.set_defaults(func=cmd_transfer)

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
    p.add_argument("--size", type=_positive_int, help="longest side of the output")
    p.add_argument("--metrics", metavar="JSON", help="write the record (timings, quality) here")
    p.add_argument("--style", help="the style image, to measure the style distance")
    p.add_argument("--threads", type=int, default=0, help="CPU threads; 0: TensorFlow's default")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("color-transfer", help="give a stylised image the content's colours")
    p.add_argument("stylised")
    p.add_argument("content")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--mode", choices=("chroma", "histogram"), default="chroma")
    p.add_argument("--mask", help="recolour only where the mask is white")
    p.set_defaults(func=cmd_color_transfer)

    p = sub.add_parser("mask-blend", help="combine a stylised image with the content via a mask")
    p.add_argument("stylised")
    p.add_argument("content")
    p.add_argument("mask")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_mask_blend)

    p = sub.add_parser("models", help="list the models and their layer names")
    p.set_defaults(func=cmd_models)

    from nst import dataset, preprocess, video_commands

    dataset.add_cli(sub)
    preprocess.add_cli(sub)
    video_commands.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("nst: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
