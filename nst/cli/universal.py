"""``nst arbitrary`` (any style in one pass, no training per style) and ``nst train-decoder``."""

from __future__ import annotations

import argparse

from nst.cli.options import positive_int, resumable_training
from nst.errors import SettingsError
from nst.runtime import import_tensorflow
from nst.settings import MODELS, POOLINGS, UNIVERSAL_LEVELS, DecoderSettings


def _levels(text: str) -> int:
    """A level number; whether it is one the network has is the library's check (one error
    line naming the valid levels)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level number (1 to 5)") from None


def cmd_arbitrary(args) -> int:
    if args.content:
        contents, styles = args.content, args.paths
    else:
        if len(args.paths) < 2:
            raise SettingsError(
                "give a content image (or folder) and at least one style image, or the contents "
                "with --content and the styles as the arguments."
            )
        contents, styles = args.paths[:1], args.paths[1:]
    import_tensorflow(lean=True)
    from nst.feedforward.arbitrary import universal_files
    from nst.universal.model import UniversalOptions

    options = UniversalOptions(
        alpha=args.alpha,
        detail=args.detail,
        transform=args.transform,
        levels=tuple(args.levels),
        size=args.size,
        style_size=args.style_size,
        preserve_color=args.preserve_color,
        blend=tuple(args.style_blend_weights) if args.style_blend_weights else None,
        tile=args.tile,
        max_memory=args.max_memory,
    )
    universal_files(
        contents,
        styles,
        args.output,
        args.metrics,
        options,
        decoders=args.decoders,
        model=args.model,
        weights=args.weights,
        style_masks=args.style_masks,
        threads=args.threads,
        seed=args.seed,
    )
    return 0


def cmd_train_decoder(args) -> int:
    settings = DecoderSettings(
        **{k: getattr(args, k) for k in DecoderSettings.__dataclass_fields__}
    )
    import_tensorflow(lean=True)
    from nst.feedforward.decoder_train import decoder_files

    return resumable_training(
        lambda: decoder_files(args.content, args.output, args.metrics, settings), args.output
    )


def add_commands(sub) -> None:
    p = sub.add_parser(
        "arbitrary",
        help="any style in one pass: feature transforms between the network and its decoders",
        description="nst arbitrary CONTENT STYLE [STYLE ...] -o OUT, or "
        "nst arbitrary --content IMAGES_OR_FOLDERS ... -o FOLDER STYLE [STYLE ...]",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="CONTENT STYLE [STYLE ...]")
    p.add_argument(
        "-c",
        "--content",
        nargs="+",
        metavar="IMAGE_OR_FOLDER",
        help="several contents (images or folders); then every PATH is a style",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output image; a folder with several contents"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        help="style strength: 0 keeps the content's features, 1 takes the style's statistics "
        "(default %(default)g)",
    )
    p.add_argument(
        "--detail",
        type=float,
        default=1.0,
        help="share of what each decoder loses of its input put back: 1 keeps the content's "
        "fine lines and edges, 0 is the plain decoding, softer (default %(default)g)",
    )
    p.add_argument(
        "--transform",
        choices=("wct", "adain"),
        default="wct",
        help="wct: whitening-colouring (the style's covariances); adain: per-channel mean and "
        "deviation only (default %(default)s)",
    )
    p.add_argument(
        "--levels",
        nargs="+",
        type=_levels,
        default=list(UNIVERSAL_LEVELS),
        metavar="K",
        help="the levels, applied in this order (deep to shallow: coarse to fine); default "
        + " ".join(map(str, UNIVERSAL_LEVELS)),
    )
    p.add_argument(
        "--size", type=positive_int, default=512, help="longest side of the output (512)"
    )
    p.add_argument(
        "--style-size",
        type=positive_int,
        help="longest side of the style images (default: the output's); smaller: larger strokes",
    )
    p.add_argument(
        "--style-blend-weights", nargs="+", type=float, metavar="W", help="one per style"
    )
    p.add_argument(
        "--tile",
        type=int,
        default=0,
        metavar="N",
        help="large images: tiles of N px, the statistics summed over the whole image (the "
        "same picture within a few levels of 255); 0: chosen from the memory, whole when it fits",
    )
    p.add_argument(
        "--max-memory",
        type=float,
        metavar="GIB",
        help="memory a call may use (default: 80%% of what is available)",
    )
    p.add_argument(
        "--style-masks",
        nargs="+",
        metavar="MASK",
        help="one mask image per style ('none' for a style everywhere else): regional styles",
    )
    p.add_argument(
        "--preserve-color",
        choices=("none", "chroma", "histogram"),
        default="none",
        help="chroma: the content's colours put back; histogram: the styles recoloured first",
    )
    p.add_argument(
        "--decoders",
        metavar="DIR",
        help="folder of level1.keras ... (default: the shipped decoders of --model)",
    )
    p.add_argument("--model", choices=list(MODELS), default="vgg16-hed")
    p.add_argument("--weights", help="the encoder's weights file (default: the model's)")
    p.add_argument("--metrics", metavar="JSON", help="write the record (timings, quality) here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads; 0: TensorFlow's default")
    p.set_defaults(func=cmd_arbitrary)

    d = DecoderSettings()
    p = sub.add_parser(
        "train-decoder",
        help="train the decoder of one level of the network, on photographs (no style)",
    )
    p.add_argument(
        "content", nargs="+", metavar="IMAGE_OR_FOLDER", help="training photographs or folders"
    )
    p.add_argument("-o", "--output", required=True, help="the decoder (.keras)")
    p.add_argument("--metrics", metavar="JSON", help="write the training record here")
    p.add_argument("--model", choices=list(MODELS), default=d.model)
    p.add_argument("--weights", help="the encoder's weights file (default: the model's)")
    p.add_argument("--pooling", choices=POOLINGS, default=d.pooling)
    p.add_argument("--level", type=_levels, default=d.level, help="default %(default)s")
    p.add_argument("--width", type=float, default=d.width, help="inner channels x this (default 1)")
    p.add_argument(
        "--refine",
        type=int,
        default=d.refine,
        metavar="N",
        help="extra convolutions at the image's resolution before the last (default %(default)s)",
    )
    p.add_argument("--train-size", type=positive_int, default=d.train_size, metavar="N")
    p.add_argument(
        "--source-size",
        type=positive_int,
        default=d.source_size,
        metavar="N",
        help="the photos' shorter side that patches are cut from (default %(default)s)",
    )
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, metavar="N")
    p.add_argument("--steps", type=positive_int, default=d.steps, metavar="N")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="Adam")
    p.add_argument("--lr-decay-every", type=int, default=d.lr_decay_every, metavar="N")
    p.add_argument("--lr-decay-factor", type=float, default=d.lr_decay_factor, metavar="F")
    p.add_argument(
        "--feature-weight",
        type=float,
        default=d.feature_weight,
        help="feature reconstruction beside the pixels' (default %(default)g)",
    )
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N")
    p.add_argument("--print-every", type=int, default=d.print_every, metavar="N")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="0: TensorFlow's default")
    p.set_defaults(func=cmd_train_decoder)
