"""The bytes of a candidate: read from a local file, taken from the cache, or downloaded.

Whichever way they come, the bytes are fully decoded and checked (:class:`Media`) before they
are used. A download is cached under the URL asked for and the URL it ended at; one whose bytes
fail the check is not cached, and its failure is remembered like a failed request. Cached bytes
are re-hashed and re-decoded on every run but never requested again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from nst.dataset.cache import ImageCache, now
from nst.dataset.fetcher import Fetcher
from nst.dataset.media import IMAGES, Media
from nst.errors import ImageError
from nst.images.inspect import ImageInfo


@dataclass
class Obtained:
    """Checked bytes, where they came from and how (``local``, ``cached`` or ``downloaded``)."""

    data: bytes
    info: ImageInfo
    final_url: str
    fetched: str
    how: str
    local_path: Path | None = None


class Obtainer:
    """Obtains the bytes of candidates and masks; remembers the local files it read."""

    def __init__(self, fetcher: Fetcher, cache: ImageCache, max_pixels: int):
        self.fetcher = fetcher
        self.cache = cache
        self.max_pixels = max_pixels
        self.local_sources: set[Path] = set()

    def obtain(self, location: str, kind: str, media: Media) -> Obtained:
        """The checked bytes of a local file (``kind`` path) or of a URL (``kind`` url)."""
        if kind == "path":
            return self._read_local(Path(location), media)
        cached = self._from_cache(location, media)
        return cached if cached is not None else self._download(location, media)

    def obtain_mask(self, mask: str, image: ImageInfo, name: str) -> Obtained:
        """The mask of image ``name``: a URL or a local file, of the image's aspect ratio (or
        of the rotated image's)."""
        kind = "url" if mask.lower().startswith(("http://", "https://")) else "path"
        got = self.obtain(mask if kind == "url" else str(Path(mask).expanduser()), kind, IMAGES)
        ratio = image.width / image.height
        mw, mh = got.info.width, got.info.height
        if abs(mw / mh - ratio) > 0.02 * ratio and abs(mh / mw - ratio) > 0.02 * ratio:
            raise ImageError(
                f"mask {mask} is {mw}x{mh} pixels but image {name} is {image.width}x"
                f"{image.height}; draw the mask on the image so that their shapes match."
            )
        return got

    def _read_local(self, path: Path, media: Media) -> Obtained:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read {path} ({exc.strerror}); check the path.") from None
        info = media.inspect(data, what=str(path), max_pixels=self.max_pixels)
        mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        self.local_sources.add(path.resolve())
        return Obtained(data, info, "", mtime.replace(microsecond=0).isoformat(), "local", path)

    def _from_cache(self, url: str, media: Media) -> Obtained | None:
        hit = self.cache.lookup(url)
        if hit is None:
            return None
        entry, data = hit
        info = media.inspect(data, what=url, max_pixels=self.max_pixels)
        return Obtained(data, info, entry.get("final_url", ""), entry.get("fetched", ""), "cached")

    def _download(self, url: str, media: Media) -> Obtained:
        fetched = self.fetcher.get(url, accept=media.accept)
        try:
            info = media.inspect(
                fetched.content,
                what=url,
                max_pixels=self.max_pixels,
                content_type=fetched.content_type,
            )
        except ImageError as exc:
            self.cache.remember(url, str(exc))
            raise
        entry = self.cache.store(
            list(dict.fromkeys([url, fetched.final_url])),
            fetched.content,
            info.ext,
            final_url=fetched.final_url,
            content_type=fetched.content_type,
            fetched=now(),
        )
        return Obtained(fetched.content, info, fetched.final_url, entry["fetched"], "downloaded")
