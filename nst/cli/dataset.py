"""``nst fetch`` (download, verify and cache a config's images) and ``nst prepare`` (one image
made upright, RGB, bounded in size, as PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nst.dataset.config import load_dataset_config
from nst.dataset.prepare import prepare_image
from nst.dataset.run import fetch_dataset


def cmd_fetch(args: argparse.Namespace) -> int:
    config = load_dataset_config(args.config)
    images_dir = Path(args.images_dir or config.images_dir or "resources/images")
    fetch_dataset(
        config.sources,
        images_dir,
        Path(args.manifest or config.manifest or images_dir / "manifest.tsv"),
        cache_dir=args.cache_dir or config.cache_dir,
        http=config.http,
        strict=args.strict if args.strict is not None else config.strict,
        refresh=args.refresh,
        retry_failed=args.retry_failed,
        retry_failed_hours=config.retry_failed_hours,
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    shape = prepare_image(args.src, args.dst, args.size, mask_src=args.mask, mask_dst=args.mask_out)
    print(f"prepared {args.dst} ({shape['width']}x{shape['height']})")
    return 0


def add_commands(sub) -> None:
    """Register ``nst fetch`` and ``nst prepare`` on an argparse subparsers object."""
    parser = sub.add_parser(
        "fetch",
        help="download, verify and cache the content and style images a config lists",
        description=(
            "Fetch the images listed in the 'sources' section of CONFIG (politely: robots.txt, "
            "per-host delay, retries), verify and deduplicate them, and write "
            "IMAGES_DIR/{content,style}/NAME.EXT plus a tab-separated manifest. Cached images "
            "are never downloaded again, and URLs that failed are not requested again for "
            "retry_failed_hours (default 24) unless --retry-failed."
        ),
    )
    parser.add_argument("config", help="YAML or JSON file with 'sources' (and optional 'http')")
    parser.add_argument(
        "--images-dir", help="output folder (default: config images_dir, else resources/images)"
    )
    parser.add_argument("--manifest", help="manifest path (default: IMAGES_DIR/manifest.tsv)")
    parser.add_argument(
        "--cache-dir",
        help="download cache (default: config cache_dir, else $NST_CACHE_DIR, else "
        "~/.cache/nst/images)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="fail if any source fails (default: config strict, else false)",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="scrape pages again instead of using cached links"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="request again the URLs that failed before (otherwise not requested again for "
        "retry_failed_hours, default 24)",
    )
    parser.set_defaults(func=cmd_fetch)

    parser = sub.add_parser(
        "prepare",
        help="make an image upright, RGB, at most --size px a side, as PNG (mask aligned)",
        description=(
            "Apply the EXIF orientation, convert to RGB (transparency on white), shrink so the "
            "longest side is at most --size (never enlarge) and write a PNG atomically. With "
            "--mask, the mask is written to --mask-out at exactly the same size."
        ),
    )
    parser.add_argument("src", help="input image")
    parser.add_argument("dst", help="output .png")
    parser.add_argument("--size", type=int, default=512, help="longest side in px (default 512)")
    parser.add_argument("--mask", help="mask image drawn on SRC")
    parser.add_argument("--mask-out", help="output .png for the aligned mask")
    parser.set_defaults(func=cmd_prepare)
