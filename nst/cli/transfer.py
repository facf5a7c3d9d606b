"""``nst transfer`` (optimise one image), ``nst color-transfer``, ``nst mask-blend`` and
``nst models``."""

from __future__ import annotations

from nst import images
from nst.cli.options import add_transfer_options, check_output, settings_from_args, warn
from nst.images import color, masks
from nst.runtime import import_tensorflow


def cmd_transfer(args) -> int:
    from nst.engine.driver import transfer_files

    settings = settings_from_args(args)
    check_output(args.output)
    import_tensorflow(lean=True)
    transfer_files(args.content, args.styles, args.output, args.metrics, settings)
    return 0


def cmd_color_transfer(args) -> int:
    check_output(args.output)
    stylised = images.load_image(args.stylised, what="stylised image")
    content = images.load_image(args.content, what="content image")
    if args.mode == "histogram":
        recoloured = color.match_color_histogram(
            stylised, images.resize(content, stylised.shape[:2])
        )
    else:
        recoloured = color.transfer_chroma(stylised, content)
    if args.mask:
        mask = masks.fit_mask(masks.load_mask(args.mask), stylised.shape[:2], "mask", warn)
        recoloured = recoloured * mask[..., None] + stylised * (1 - mask[..., None])
    images.save_image(recoloured, args.output)
    return 0


def cmd_mask_blend(args) -> int:
    check_output(args.output)
    stylised = images.load_image(args.stylised, what="stylised image")
    content = images.load_image(args.content, what="content image")
    mask = masks.fit_mask(masks.load_mask(args.mask), stylised.shape[:2], "mask", warn)
    images.save_image(masks.mask_blend(stylised, content, mask), args.output)
    return 0


def cmd_models(args) -> int:
    from nst.net.weights import MODELS as SPECS

    for spec in SPECS.values():
        print(f"{spec.name}: {' '.join(spec.conv_layers)}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("transfer", help="stylise a content image with one or more styles")
    p.add_argument("content")
    p.add_argument("styles", nargs="+", metavar="style")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg)")
    p.add_argument("--metrics", metavar="JSON", help="write the run record (losses, timings) here")
    add_transfer_options(p)
    p.set_defaults(func=cmd_transfer)

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
