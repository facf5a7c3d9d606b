"""The dataset section of a config, checked once for both entry points.

``nst fetch CONFIG`` and the workflow (its Snakefile, before any job) read the section through
:func:`check_dataset`: the shipped JSON schema types every key and rejects unknown ones, then every
source is parsed (a ``url``/``page`` must be an http(s) URL) and the http settings are built. A
bad config thus ends in one sentence naming the key and the value, before any request or file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from nst.dataset.cache import RETRY_FAILED_HOURS
from nst.dataset.fetcher import HttpSettings
from nst.dataset.schema import key_path, validate_section
from nst.dataset.sources import parse_sources
from nst.errors import SettingsError


@dataclass(frozen=True)
class DatasetConfig:
    """The checked dataset section (unset keys are None: each entry point has its defaults)."""

    sources: dict
    http: dict | None = None
    strict: bool = False
    cache_dir: str | None = None
    images_dir: str | None = None
    manifest: str | None = None
    retry_failed_hours: float = RETRY_FAILED_HOURS

    def outputs(self, images_dir: str, manifest: str) -> tuple[Path, Path]:
        """Images folder and manifest: the config's, else these defaults (a manifest next to
        the images when only ``images_dir`` is set)."""
        images = Path(self.images_dir or images_dir)
        if self.manifest:
            return images, Path(self.manifest)
        return images, images / "manifest.tsv" if self.images_dir else Path(manifest)


def check_dataset(values, key: str = "dataset") -> DatasetConfig:
    """Check a dataset section written under ``key`` ("" for a file holding only the section)."""
    validate_section(values, "dataset", key)
    parse_sources(values["sources"], key=key_path(key, ["sources"]))
    HttpSettings.from_dict(values.get("http"))
    return DatasetConfig(
        sources=values["sources"],
        http=values.get("http"),
        strict=values.get("strict", False),
        cache_dir=values.get("cache_dir"),
        images_dir=values.get("images_dir"),
        manifest=values.get("manifest"),
        retry_failed_hours=values.get("retry_failed_hours", RETRY_FAILED_HOURS),
    )


def load_dataset_config(path: str | os.PathLike) -> DatasetConfig:
    """Read a YAML or JSON config and check its ``dataset`` section (or the whole file, when it
    holds only that section: ``sources`` at the top)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config {p} ({exc.strerror}); check the path.") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SettingsError(
            f"config {p} is not valid YAML/JSON ({first}); fix its syntax."
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"config {p} must be a mapping with a 'dataset' section.")
    if "dataset" in data:
        return check_dataset(data["dataset"], "dataset")
    if "sources" in data:
        return check_dataset(data, "")
    raise SettingsError(
        f"config {p} has no 'dataset' section; list the content and style sources under "
        "dataset.sources."
    )
