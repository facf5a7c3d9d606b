"""Fetching a dataset: :func:`fetch_dataset` turns the ``sources`` of a config
(:mod:`nst.dataset.sources`) into a verified, deduplicated set of images with a provenance
manifest (:mod:`nst.dataset.manifest`), downloading nothing that is already cached.

Each source of a role is expanded into candidates (:mod:`.candidates`), each candidate's bytes
are obtained and checked (:mod:`.obtain`), named or found a duplicate (:mod:`.names`) and written
under the images folder (:mod:`.outputs`); every candidate, and every source that gave none,
becomes one manifest row.

The cache (``cache_dir``, default :func:`nst.dataset.cache.default_cache_dir`; see
:mod:`nst.dataset.cache`) holds the images by content hash, the URLs and page scrapes that led to
them, and the URLs that failed. Cached images are re-hashed and re-decoded on every run but never
re-requested; pages are re-scraped only with ``refresh=True``; a URL that failed is not requested
again for ``retry_failed_hours`` (default 24), unless ``retry_failed=True`` or the http settings
changed. So a rerun with nothing new makes no request and writes the same manifest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from nst.dataset.cache import RETRY_FAILED_HOURS, ImageCache, default_cache_dir, sha256
from nst.dataset.candidates import Candidate, CandidateFinder
from nst.dataset.fetcher import Fetcher, HttpSettings
from nst.dataset.manifest import manifest_row, read_manifest, write_manifest
from nst.dataset.media import media_of
from nst.dataset.names import RoleNames
from nst.dataset.obtain import Obtained, Obtainer
from nst.dataset.outputs import OutputFiles, image_file, mask_file
from nst.dataset.sources import ROLES, Source, parse_sources
from nst.errors import DownloadError, NSTError, clause


class RoleFetch:
    """Fetches the sources of roles, one manifest row per candidate (or failed source)."""

    def __init__(
        self,
        finder: CandidateFinder,
        obtainer: Obtainer,
        outputs: OutputFiles,
        log: Callable[[str], object],
    ):
        self.finder = finder
        self.obtainer = obtainer
        self.outputs = outputs
        self.log = log

    def rows(self, role: str, sources: list[Source]) -> list[dict]:
        names = RoleNames({s.reserved_name for s in sources if s.reserved_name is not None})
        rows: list[dict] = []
        for source in sources:
            self.log(f"dataset: {source.label} of {len(sources)}: {source.kind} {source.target}")
            try:
                candidates = self.finder.find(source)
            except NSTError as exc:
                self.log(f"dataset:   FAILED: {exc}")
                rows.append(_failed_source_row(source, exc))
                continue
            rows += [self._candidate_row(source, c, names) for c in candidates]
        return rows

    def _candidate_row(self, source: Source, candidate: Candidate, names: RoleNames) -> dict:
        role = source.role
        row = manifest_row(
            role=role,
            name=candidate.name or "",
            kind=source.kind,
            source=candidate.location,
            page_url=candidate.page_url,
            license=candidate.license,
        )
        try:
            got = self.obtainer.obtain(candidate.location, candidate.kind, media_of(role))
            sha = sha256(got.data)
            row.update(_provenance(got, sha))
            earlier = names.duplicate_of(sha)
            if earlier is not None:
                row.update(status="duplicate", note=f"same image as {role}/{earlier}")
                self.log(f"dataset:   {candidate.location}: duplicate of {earlier}, skipped")
                return row
            name = names.name_for(candidate.name, candidate.base_name, sha)
            mask = self.obtainer.obtain_mask(source.mask, got.info, name) if source.mask else None
        except NSTError as exc:
            row.update(status="failed", note=str(exc))
            self.log(f"dataset:   FAILED: {exc}")
            return row
        names.claim(name, sha)
        row.update(name=name, status="ok", **self._write(role, name, got, mask))
        return row

    def _write(self, role: str, name: str, got: Obtained, mask: Obtained | None) -> dict:
        """Place the image (and its mask); their ``file`` and ``mask`` columns."""
        rel = image_file(role, name, got.info.ext)
        how = self.outputs.place(rel, got)
        columns = {"file": rel}
        if mask is not None:
            columns["mask"] = mask_file(role, name, mask.info.ext)
            self.outputs.place(columns["mask"], mask)
        self.log(
            f"dataset:   {rel} {got.info.width}x{got.info.height} "
            f"{len(got.data) / 1024:.1f} KiB ({got.how}, {how})"
        )
        return columns


def _failed_source_row(source: Source, exc: NSTError) -> dict:
    return manifest_row(
        role=source.role,
        name=source.name or "",
        status="failed",
        kind=source.kind,
        source=source.target,
        page_url=source.target if source.kind == "page" else "",
        license=source.license,
        note=str(exc),
    )


def _provenance(got: Obtained, sha: str) -> dict:
    return {
        "final_url": got.final_url,
        "sha256": sha,
        "bytes": len(got.data),
        "width": got.info.width,
        "height": got.info.height,
        "format": got.info.format,
        "fetched": got.fetched,
    }


def fetch_dataset(
    sources: dict,
    images_dir: str | os.PathLike,
    manifest_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    http: dict | None = None,
    strict: bool = False,
    log: Callable[[str], object] = print,
    refresh: bool = False,
    retry_failed: bool = False,
    retry_failed_hours: float = RETRY_FAILED_HOURS,
) -> list[dict]:
    """Fetch, verify, deduplicate and record the content and style images of ``sources``.

    Writes ``images_dir/{role}/{name}.{ext}`` (and masks, see :mod:`nst.dataset.outputs`) and
    the manifest (see :mod:`nst.dataset.manifest`) and returns its rows. A failed source is
    recorded and logged; :class:`DownloadError` is raised (after the manifest is written) only
    when a role ends up with no image, or when ``strict`` and anything failed. A URL that failed
    in the last ``retry_failed_hours`` is not requested again (its failure is reported again)
    unless ``retry_failed``.
    """
    plan = parse_sources(sources)
    settings = HttpSettings.from_dict(http)
    images_dir = Path(images_dir)
    manifest_path = Path(manifest_path)
    cache = ImageCache(
        cache_dir if cache_dir is not None else default_cache_dir(),
        log=log,
        retry_after_hours=retry_failed_hours,
        retry_all=retry_failed,
        settings=settings.fingerprint,
    )
    previous = _previous_rows(manifest_path)
    outputs = OutputFiles(images_dir, log)
    with Fetcher(settings, log=log, known_failures=cache) as fetcher:
        obtainer = Obtainer(fetcher, cache, settings.max_pixels)
        fetch = RoleFetch(CandidateFinder(fetcher, cache, log, refresh), obtainer, outputs, log)
        rows = [row for role in plan for row in fetch.rows(role, plan[role])]
        requests_made = fetcher.requests_made
    outputs.remove_stale(previous, keep=obtainer.local_sources)
    write_manifest(manifest_path, rows)
    log(_summary(rows, requests_made, manifest_path))
    _check_outcome(rows, manifest_path, strict)
    return rows


def _previous_rows(manifest_path: Path) -> list[dict]:
    """The rows an earlier run left; none when there is no readable manifest."""
    try:
        return read_manifest(manifest_path) if manifest_path.exists() else []
    except NSTError:
        return []


def _summary(rows: list[dict], requests_made: int, manifest_path: Path) -> str:
    counts = {role: sum(r["role"] == role and r["status"] == "ok" for r in rows) for role in ROLES}
    failed = sum(r["status"] == "failed" for r in rows)
    duplicates = sum(r["status"] == "duplicate" for r in rows)
    return (
        f"dataset: {counts['content']} content and {counts['style']} style image(s), "
        f"{duplicates} duplicate(s), {failed} failure(s), {requests_made} HTTP request(s); "
        f"manifest {manifest_path}"
    )


def _check_outcome(rows: list[dict], manifest_path: Path, strict: bool) -> None:
    """Raise :class:`DownloadError` when a role has no image, or when ``strict`` and anything
    failed."""
    failed = [r for r in rows if r["status"] == "failed"]
    for role in ROLES:
        if not any(r["role"] == role and r["status"] == "ok" for r in rows):
            reasons = [r["note"] for r in failed if r["role"] == role]
            first = f" (first reason: {clause(reasons[0])})" if reasons else ""
            raise DownloadError(
                f"no {role} image could be obtained{first}; fix sources.{role} in the config "
                f"(details in {manifest_path})."
            )
    if strict and failed:
        raise DownloadError(
            f"{len(failed)} image source(s) failed and strict is set (first: "
            f"{clause(failed[0]['note'])}); fix them or set strict: false "
            f"(details in {manifest_path})."
        )
