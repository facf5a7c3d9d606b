"""Names of dataset images: filesystem-safe, derived from a URL or a file, unique within a role.

An image is written as ``{role}/{name}.{ext}``. A source may name its image; otherwise the name
comes from the URL's last path segment (:func:`name_from_url`) or the file's stem
(:func:`safe_name`). :class:`RoleNames` hands the names out within one role.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

# The file suffixes taken for images: in a ``path`` directory, and cut off a URL's last segment.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
NAME_LENGTH = 80


def safe_name(text: str) -> str:
    """A filesystem-safe name: ASCII letters, digits, '.', '_' and '-', at most 80 characters."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-._")
    return text[:NAME_LENGTH].rstrip("-._")


def name_from_url(url: str) -> str:
    """A name derived from a URL's last path segment (Wikimedia ``800px-`` thumbnail prefix off)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed; the download reports it, the name only has to be safe
        return safe_name(url.rsplit("/", 1)[-1]) or "image"
    stem = PurePosixPath(unquote(parts.path)).name
    for suffix in (*IMAGE_SUFFIXES, ".svg", ".php", ".html", ".htm"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"^\d+px-", "", stem)
    return safe_name(stem) or safe_name(parts.netloc) or "image"


class RoleNames:
    """The names given out within one role, compared without case.

    A name that a single-image source asks for is reserved for it from the start; any other
    image whose name is in use gets its short content hash appended (stable however the sources
    are ordered); an image whose bytes already have a name is a duplicate of that image.
    """

    def __init__(self, reserved: set[str]):
        self.reserved = reserved
        self.taken: set[str] = set()
        self.by_sha: dict[str, str] = {}

    def duplicate_of(self, sha: str) -> str | None:
        """The name already given to an image with this content hash, if any."""
        return self.by_sha.get(sha)

    def name_for(self, wanted: str | None, base: str, sha: str) -> str:
        """``wanted`` (the source's own name), else ``base`` or, when that is in use, a
        ``base-<hash>`` that is free."""
        if wanted:
            return wanted
        in_use = self.reserved | self.taken
        name = base
        if name.lower() in in_use:
            name = f"{base[:70]}-{sha[:8]}"
        counter = 2
        while name.lower() in in_use:
            name = f"{base[:70]}-{sha[:8]}-{counter}"
            counter += 1
        return name

    def claim(self, name: str, sha: str) -> None:
        """Record ``name`` as given to the image with content hash ``sha``."""
        self.taken.add(name.lower())
        self.by_sha[sha] = name
