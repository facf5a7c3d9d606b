"""Build the GCompris photograph corpus (and its held-out paintings) from the Debian package.

    python resources/corpus/build_corpus.py                    # apt-get download, then build
    python resources/corpus/build_corpus.py --deb PATH.deb     # a .deb (or unpacked folder) at hand

Without ``--deb`` the package is downloaded with ``apt-get download gcompris-qt-data`` into the
cache folder (unless a .deb is already there) and not installed. The corpus is written to
``--out`` (default ``data/corpus/``); ``--attribution`` also writes its attribution table there
(this folder's ``attribution.csv`` is the table of a real build). See README.md beside this
script for what is kept and why.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nst.atomic import write_text  # noqa: E402
from nst.dataset.corpus import (  # noqa: E402
    COLUMNS,
    MIN_SIDE,
    PACKAGE,
    attribution_rows,
    build_corpus,
    format_csv,
)
from nst.errors import NSTError  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nst" / "deb"


def download(cache: Path, version: str | None) -> Path:
    """The package's .deb in ``cache``, fetched with apt-get if none is there yet."""
    pattern = f"{PACKAGE}_{version or '*'}_all.deb"
    found = sorted(cache.glob(pattern))
    if found:
        print(f"corpus: using {found[-1]}")
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    spec = f"{PACKAGE}={version}" if version else PACKAGE
    print(f"corpus: apt-get download {spec} (into {cache})", flush=True)
    try:
        subprocess.run(["apt-get", "download", spec], cwd=cache, check=True)
    except FileNotFoundError:
        raise NSTError(
            "apt-get is not available here; download the .deb elsewhere and pass --deb."
        ) from None
    except subprocess.CalledProcessError as exc:
        raise NSTError(
            f"`apt-get download {spec}` failed (exit status {exc.returncode}); run "
            "`apt-get update` or pass a downloaded .deb with --deb."
        ) from None
    found = sorted(cache.glob(pattern))
    if not found:
        raise NSTError(f"apt-get left no {pattern} in {cache}; pass the .deb with --deb.")
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deb", type=Path, help="the .deb, or the folder it was unpacked into")
    parser.add_argument("--version", help=f"the {PACKAGE} version to download (default: apt's)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download folder")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument(
        "--min-side", type=int, default=MIN_SIDE, help="shortest side a photograph may have (px)"
    )
    parser.add_argument(
        "--exclude",
        type=Path,
        nargs="*",
        default=[ROOT / "resources/images/content", ROOT / "resources/images/style"],
        help="folders of held-out images that training must not contain",
    )
    parser.add_argument("--attribution", type=Path, help="also write the attribution table here")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        deb = args.deb or download(args.cache.expanduser(), args.version)
        result = build_corpus(
            deb,
            args.out,
            min_side=args.min_side,
            exclude_dirs=args.exclude,
            log=lambda line: print(line, flush=True),
        )
        if args.attribution:
            write_text(args.attribution, format_csv(attribution_rows(result.kept), COLUMNS))
            print(f"corpus: attribution table also written to {args.attribution}")
    except NSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = result.counts()
    print(
        f"corpus: {counts['train']} training photograph(s), {counts['heldout-style']} held-out "
        f"painting(s), {counts['skipped']} left out, in {time.monotonic() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
