"""The files a fetch writes under the images folder, and the removal of those it no longer makes.

Each image is written with its original bytes to ``{role}/{name}.{ext}`` (``ext`` follows the
decoded format, never the URL), each mask to ``masks/{role}/{name}.{ext}``; a file that already
holds the bytes is left alone, so a rerun changes no file. Files an earlier run wrote (its
manifest's ``file`` and ``mask``) that this run no longer produces are deleted, but never a
file outside those folders nor a local source file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nst.atomic import write_bytes
from nst.dataset.cache import sha256
from nst.dataset.obtain import Obtained
from nst.dataset.sources import ROLES, VIDEO_ROLE

MASKS_DIR = "masks"


def image_file(role: str, name: str, ext: str) -> str:
    return f"{role}/{name}.{ext}"


def mask_file(role: str, name: str, ext: str) -> str:
    return f"{MASKS_DIR}/{role}/{name}.{ext}"


class OutputFiles:
    """The files of one run under ``images_dir``, by path relative to it."""

    def __init__(self, images_dir: Path, log: Callable[[str], object]):
        self.images_dir = images_dir
        self.log = log
        self.written: set[str] = set()

    def place(self, rel: str, got: Obtained) -> str:
        """Write ``got`` to ``images_dir/rel`` unless that file already holds these bytes; say
        which (``written``, ``unchanged``, or ``in place`` when it is the source file itself)."""
        dest = self.images_dir / rel
        self.written.add(rel)
        if (
            got.local_path is not None
            and dest.exists()
            and dest.resolve() == got.local_path.resolve()
        ):
            return "in place"
        if dest.is_file() and sha256(dest.read_bytes()) == sha256(got.data):
            return "unchanged"
        write_bytes(dest, got.data)
        return "written"

    def remove_stale(self, previous: list[dict], keep: set[Path]) -> None:
        """Delete the files of the ``previous`` manifest rows that this run did not place,
        except those in ``keep`` (resolved paths: the local sources read)."""
        roots = [self.images_dir / d for d in (*ROLES, VIDEO_ROLE, MASKS_DIR)]
        for row in previous:
            for rel in (row.get("file"), row.get("mask")):
                if not rel or rel in self.written or ".." in Path(rel).parts:
                    continue
                path = self.images_dir / rel
                if not any(root in path.parents for root in roots) or not path.is_file():
                    continue
                if path.resolve() in keep:
                    continue
                path.unlink()
                self.log(f"dataset: removed {path}, which the sources no longer produce")
