"""The download cache of the dataset layer, and its memory of failed requests.

``root`` holds ``objects/ab/<sha256>.<ext>`` (each distinct image once, however many URLs serve
it), ``urls.json`` (URL -> sha256, final URL, time fetched; an image reached through redirects
is indexed under the URL asked for and under its final URL), ``pages.json`` (page source -> the
image links found) and ``failures.json`` (URL -> why it failed, when, and when it will be
requested again: ``retry_after``, as the run that failed counted it).

A remembered failure is reported again instead of being requested again, so that a rerun never
waits on a known-dead host, until ``retry_after_hours`` have passed since it failed (counted by
the run that recalls it; 0: not remembered between runs), the run retries every failure
(``retry_all``, ``nst fetch --retry-failed``), or the settings the failure depended on changed
(``settings``, a fingerprint of the http settings: the failures suggest raising a limit or a
timeout, and doing so retries them). Within one run a URL that failed is never requested twice.

A recalled failure keeps the wording it had when it failed, so that the manifest of a rerun with
nothing new is the same; the log says when it will be requested again.

The cache's place (:func:`default_cache_dir`): ``$NST_CACHE_DIR``, else
``$XDG_CACHE_HOME/nst/images``, else ``~/.cache/nst/images``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nst.atomic import write_bytes, write_json

RETRY_FAILED_HOURS = 24.0


def default_cache_dir() -> Path:
    if os.environ.get("NST_CACHE_DIR"):
        return Path(os.environ["NST_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nst" / "images"


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageCache:
    """Images stored once by content hash, indexed by the URLs that served them."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        log: Callable[[str], object] = print,
        retry_after_hours: float = RETRY_FAILED_HOURS,
        retry_all: bool = False,
        settings: str = "",
    ):
        self.root = Path(root).expanduser()
        self.log = log
        self.retry_after = timedelta(hours=retry_after_hours)
        self.retry_all = retry_all
        self.settings = settings
        self.urls = self._load("urls.json")
        self.pages = self._load("pages.json")
        self.failures = self._load("failures.json")
        self._failed_this_run: dict[str, str] = {}
        self._announced: set[str] = set()

    def _load(self, name: str) -> dict:
        path = self.root / name
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.log(f"dataset: ignoring unreadable cache index {path} ({exc}).")
            return {}
        return data if isinstance(data, dict) else {}

    # -- images and pages

    def blob_path(self, sha: str, ext: str) -> Path:
        return self.root / "objects" / sha[:2] / f"{sha}.{ext}"

    def lookup(self, url: str) -> tuple[dict, bytes] | None:
        """The index entry and bytes cached for ``url``, or None (missing or damaged blob)."""
        entry = self.urls.get(url)
        try:
            data = self.blob_path(entry["sha256"], entry["ext"]).read_bytes()
        except (TypeError, KeyError, OSError):
            return None
        return (entry, data) if sha256(data) == entry["sha256"] else None

    def store(self, urls: list[str], data: bytes, ext: str, **meta) -> dict:
        """Store ``data`` once, indexed under each of ``urls`` (asked for, and after redirects)."""
        sha = sha256(data)
        blob = self.blob_path(sha, ext)
        if not blob.is_file() or sha256(blob.read_bytes()) != sha:
            write_bytes(blob, data)
        entry = {"sha256": sha, "ext": ext, "bytes": len(data), **meta}
        for i, url in enumerate(urls):
            old = self.urls.get(url)
            if i and isinstance(old, dict) and old.get("sha256") == sha:
                # a redirect onto a URL cached with these bytes: that URL keeps its own record
                # (when it was fetched), or a rerun's manifest would differ from the first run's
                continue
            self.urls[url] = entry
        write_json(self.root / "urls.json", self.urls)
        return entry

    def store_page(self, key: str, value: dict) -> None:
        self.pages[key] = value
        write_json(self.root / "pages.json", self.pages)

    # -- failures

    def recall(self, url: str) -> str | None:
        """Why ``url`` failed, worded as when it failed, if it is not to be requested again now;
        else None. The first time in a run that a failure of an earlier run is recalled, the log
        says when it will be requested again."""
        if url in self._failed_this_run:
            return self._failed_this_run[url]
        entry = self.failures.get(url)
        if self.retry_all or not isinstance(entry, dict) or entry.get("settings") != self.settings:
            return None
        try:
            failed = datetime.fromisoformat(entry["failed"])
            note = str(entry["note"])
        except (KeyError, TypeError, ValueError):
            return None
        until = failed + self.retry_after
        if datetime.now(timezone.utc) >= until:
            return None
        if url not in self._announced:
            self._announced.add(url)
            self.log(
                f"dataset:   {url} failed at {entry['failed']}; not requested again before "
                f"{until.isoformat()}, or sooner with `nst fetch --retry-failed`."
            )
        return note

    def remember(self, url: str, note: str) -> None:
        self._failed_this_run[url] = note
        if self.retry_after > timedelta(0):
            failed = datetime.now(timezone.utc).replace(microsecond=0)
            self.failures[url] = {
                "note": note,
                "failed": failed.isoformat(),
                "retry_after": (failed + self.retry_after).isoformat(),
                "settings": self.settings,
            }
            write_json(self.root / "failures.json", self.failures)

    def forget(self, url: str) -> None:
        if self.failures.pop(url, None) is not None:
            write_json(self.root / "failures.json", self.failures)
