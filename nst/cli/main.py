"""Command line: ``nst transfer``, ``nst train-style`` / ``nst stylize`` (feed-forward),
``nst video``, ``nst color-transfer``, ``nst mask-blend``, ``nst models`` and the dataset
commands ``nst fetch`` / ``nst prepare``; each group's commands live in a module of their own.

A user error (bad file, bad setting, no network) ends with one line ``nst: error: ...`` and exit
status 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys

from nst.cli import dataset, fast, transfer, universal, video
from nst.errors import NSTError
from nst.version import __version__

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nst", description="Neural style transfer (Gatys et al.; Novak & Nikulin)."
    )
    parser.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (transfer, fast, universal, dataset, video):
        group.add_commands(sub)
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
