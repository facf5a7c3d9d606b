"""Sources expanded into candidates: the images (or clips) each source points at.

A ``url`` source is its own one candidate; a ``page`` source gives the image links found on the
page (and the pages after it), scraped once and then read from the cache's ``pages.json`` unless
refreshing; a ``path`` source gives its file, or the image files of its directory. A source that
gives nothing raises an :class:`NSTError` with the reason, which the run records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst.dataset.cache import ImageCache, now
from nst.dataset.fetcher import Fetcher
from nst.dataset.media import media_of
from nst.dataset.names import name_from_url, safe_name
from nst.dataset.scrape import PageImage, scrape_page
from nst.dataset.sources import Source
from nst.errors import DownloadError, ImageError, SettingsError


@dataclass(frozen=True)
class Candidate:
    """One image a source points at: a URL or a local file."""

    kind: str
    location: str
    page_url: str = ""
    license: str = ""
    name: str | None = None
    base_name: str = "image"


class CandidateFinder:
    """Expands sources into candidates, scraping pages through the run's fetcher and cache."""

    def __init__(
        self, fetcher: Fetcher, cache: ImageCache, log: Callable[[str], object], refresh: bool
    ):
        self.fetcher = fetcher
        self.cache = cache
        self.log = log
        self.refresh = refresh

    def find(self, source: Source) -> list[Candidate]:
        if source.kind == "url":
            return [
                Candidate(
                    "url",
                    source.target,
                    license=source.license,
                    name=source.name,
                    base_name=name_from_url(source.target),
                )
            ]
        if source.kind == "page":
            return self._page_candidates(source)
        return self._path_candidates(source)

    # -- pages

    def _page_candidates(self, source: Source) -> list[Candidate]:
        images = self._page_images(source)
        if not images:
            raise DownloadError(
                f"page {source.target} has no image matching {source.selector or 'img'!r} "
                "and no og:image; check the selector and attribute (or rerun with --refresh)."
            )
        prefix = f"{source.name}-" if source.name else ""
        return [
            Candidate(
                "url",
                image.url,
                page_url=image.page_url,
                license=source.license or image.license,
                base_name=prefix + name_from_url(image.url),
            )
            for image in images
        ]

    def _page_images(self, source: Source) -> list[PageImage]:
        """The image links of a page source: from the cached scrape if it serves, else scraped
        (and cached)."""
        key = _scrape_key(source)
        cached = self.cache.pages.get(key)
        if self._usable_scrape(cached):
            images = [PageImage(*item) for item in cached["images"]]
            stopped = cached.get("stopped_at")
            self.log(
                f"dataset:   {len(images)} image link(s) from the cached scrape of the page"
                + (f" (pagination stopped at {stopped}, a remembered failure)" if stopped else "")
            )
            return images
        images, stopped = scrape_page(
            self.fetcher,
            source.target,
            selector=source.selector,
            attribute=source.attribute,
            limit=source.limit,
            next_selector=source.next,
            max_pages=source.max_pages,
            license_selector=source.license_selector,
        )
        self.cache.store_page(
            key,
            {
                "images": [[i.url, i.page_url, i.license] for i in images],
                "fetched": now(),
                "stopped_at": stopped,
            },
        )
        self.log(f"dataset:   {len(images)} image link(s) found on the page")
        return images

    def _usable_scrape(self, cached) -> bool:
        """A cached scrape serves unless refreshing, or its pagination stopped at a page whose
        failure is no longer remembered (then the pages are read again)."""
        if (
            self.refresh
            or not isinstance(cached, dict)
            or not isinstance(cached.get("images"), list)
        ):
            return False
        stopped = cached.get("stopped_at")
        return not stopped or self.cache.recall(stopped) is not None

    # -- local files

    def _path_candidates(self, source: Source) -> list[Candidate]:
        path = Path(source.target).expanduser()
        if not path.exists():
            raise ImageError(f"{source.label}: {path} does not exist; fix the path in the config.")
        if path.is_file():
            return [
                Candidate(
                    "path",
                    str(path),
                    license=source.license,
                    name=source.name,
                    base_name=safe_name(path.stem) or "image",
                )
            ]
        if source.mask:
            raise SettingsError(
                f"{source.label}: a mask belongs to one image, but {path} is a directory; "
                "list the image file itself."
            )
        prefix = f"{source.name}-" if source.name else ""
        return [
            Candidate(
                "path",
                str(p),
                license=source.license,
                base_name=prefix + (safe_name(p.stem) or "image"),
            )
            for p in _directory_files(source, path)[: source.limit]
        ]


def _directory_files(source: Source, path: Path) -> list[Path]:
    """The files of a ``path`` directory that the source's role takes, sorted by name."""
    suffixes = media_of(source.role).suffixes
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )
    if not files:
        raise ImageError(
            f"{source.label}: directory {path} holds no image files "
            f"({', '.join(sorted(suffixes))}); add images or fix the path."
        )
    return files


def _scrape_key(source: Source) -> str:
    """The key of a page source's scrape in the cache: everything that changes its result."""
    return json.dumps(
        {
            "page": source.target,
            "selector": source.selector,
            "attribute": source.attribute,
            "limit": source.limit,
            "next": source.next,
            "max_pages": source.max_pages,
            **({"license": source.license_selector} if source.license_selector else {}),
        },
        sort_keys=True,
    )
