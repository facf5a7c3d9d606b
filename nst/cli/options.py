"""The options several commands share: the loss's settings, a transfer's settings, training
settings, and the checks of argument values and output names."""

from __future__ import annotations

import argparse
import os
import sys

from nst.errors import NSTError
from nst.runtime import log
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
    SETTING_NAMES,
    TrainSettings,
    TransferSettings,
)


def layer_list(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.replace(",", " ").split() if v)


def positive_int(text: str) -> int:
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
        type=layer_list,
        default=d.content_layers,
        metavar="L[,L...]",
        help=f"default {content}",
    )
    g.add_argument(
        "--style-layers",
        type=layer_list,
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
        help="start: the style term relative to the content's own distance to the style (1 at "
        "the content: weight 1 is balanced for every method, pair, size and network); layer: "
        "each layer's loss relative to its target's energy; term: each whole term relative to "
        "its targets' energy (keeps the raw balance between layers); none: raw terms, for the "
        "peers' weights",
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
    g.add_argument("--size", type=positive_int, default=d.size, help="longest side of the output")
    g.add_argument(
        "--init",
        default=d.init,
        help=f"{'|'.join(INIT_MODES)}|PATH; arbitrary: the warm start, nst arbitrary's result",
    )
    g.add_argument(
        "--decoders", metavar="DIR", help="--init arbitrary: decoders (default: the shipped)"
    )
    g.add_argument(
        "--init-alpha",
        type=float,
        default=d.init_alpha,
        metavar="A",
        help="--init arbitrary: its style strength, 0 … 1 (nst arbitrary --alpha)",
    )
    g.add_argument(
        "--init-detail",
        type=float,
        default=d.init_detail,
        metavar="D",
        help="--init arbitrary: the detail put back, 0 … 1 (nst arbitrary --detail)",
    )
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
    g.add_argument(
        "--tile",
        type=int,
        default=d.tile,
        metavar="N",
        help="evaluate the image in tiles of N px, exactly (default 0: only when the whole "
        "image would not fit the memory)",
    )
    g.add_argument(
        "--max-memory",
        type=float,
        metavar="GIB",
        help="memory the run may use (default: most of what the machine has free)",
    )
    g.add_argument("--save-every", type=int, default=d.save_every, metavar="N")
    g.add_argument("--print-every", type=int, default=d.print_every, metavar="N")


def settings_from_args(args: argparse.Namespace):
    return TransferSettings(**{k: getattr(args, k) for k in SETTING_NAMES if hasattr(args, k)})


def check_output(path: str) -> None:
    from PIL import Image

    ext = os.path.splitext(path)[1].lower()
    if ext not in Image.registered_extensions():
        raise NSTError(f"cannot tell the image format of output {path}; end it in .png or .jpg.")


def add_train_options(p: argparse.ArgumentParser) -> None:
    """TrainSettings fields and the run's seed, precision and threads."""
    d, t = FEEDFORWARD_DEFAULTS, TrainSettings()
    g = p.add_argument_group("training")
    g.add_argument("--width", type=int, choices=(16, 32), default=t.width, help="32: the paper's")
    g.add_argument("--train-size", type=positive_int, default=t.train_size, metavar="N")
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
        "--style-size", type=positive_int, metavar="N", help="style's longest side (train size)"
    )
    g.add_argument(
        "--content-size",
        type=positive_int,
        metavar="N",
        help="resize the contents to this shorter side and cut the crops at that scale "
        "(default: each crop covers most of an image)",
    )
    g.add_argument(
        "--temporal-weight",
        type=float,
        default=t.temporal_weight,
        help="with --video: weight of the temporal term (default %(default)g)",
    )
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--precision", choices=PRECISIONS, default=d.precision)
    g.add_argument("--threads", type=int, default=d.threads, help="0: TensorFlow's default")


def warn(msg: str) -> None:
    """A notice on stderr (e.g. a mask that had to be resized)."""
    log(f"nst: {msg}")


def resumable_training(train, output) -> int:
    """Run ``train()``; cut by Ctrl-C after a checkpoint beside ``output``, say that the same
    command resumes from it and return 130 (without a checkpoint the interruption goes on)."""
    try:
        train()
    except KeyboardInterrupt:
        from nst.feedforward.checkpoint import checkpoint_path

        ckpt = checkpoint_path(output)
        if not ckpt.is_file():
            raise
        print(f"nst: interrupted; the same command resumes from {ckpt}.", file=sys.stderr)
        return 130
    return 0
