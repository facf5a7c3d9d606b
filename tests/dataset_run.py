"""Helpers of the dataset tests: fast HTTP settings and a fetch_dataset that keeps its log."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nst.dataset.run import fetch_dataset

FAST = {
    "contact": "tests@example.org",
    "delay": 0,
    "backoff": 0.01,
    "timeout": 2,
    "retries": 2,
    "max_wait": 5,
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def by_source(rows):
    return {row["source"]: row for row in rows}


class Run:
    """fetch_dataset with test defaults; keeps the log lines."""

    def __init__(self, tmp_path: Path):
        self.images = tmp_path / "images"
        self.manifest = self.images / "manifest.tsv"
        self.cache = tmp_path / "cache"
        self.lines: list[str] = []

    def __call__(self, sources, **kwargs):
        http = {**FAST, **kwargs.pop("http", {})}
        kwargs.setdefault("cache_dir", self.cache)
        return fetch_dataset(
            sources, self.images, self.manifest, http=http, log=self.lines.append, **kwargs
        )
