"""The dataset layer: content and style images from URLs, gallery pages and local files.

:func:`fetch_dataset` turns the ``sources`` of a config into a verified, deduplicated set of
images with a provenance manifest, downloading nothing that is already cached.

Sources, per role (``content``, ``style``, and optionally ``video``: clips for
:mod:`nst.temporal`, checked by decoding them instead of as images), each a mapping with exactly
one of:

- ``url``: one image by direct URL (keys: ``name``, ``license``, ``mask``);
- ``page``: an HTML page scraped for image links (keys: ``name`` used as a prefix, ``selector``
  (CSS, default ``img``), ``attribute`` (default: the largest ``srcset`` candidate, then
  ``data-src`` and friends, then ``src``; ``href`` for links), ``limit``, ``next`` (CSS selector
  of the link to the next page), ``max_pages`` (default 1, or 10 with ``next``), ``license``,
  ``license_selector`` (CSS selector of the element stating the licence; by default the licence
  is taken from ``rel=license`` links, Wikimedia Commons templates and rights meta tags));
- ``path``: a local image file (keys: ``name``, ``license``, ``mask``) or a directory of them
  (keys: ``name`` used as a prefix, ``license``, ``limit``).

A bare string is short for ``{url: ...}`` when it starts with http(s)://, else ``{path: ...}``.

Outputs:

- ``images_dir/{role}/{name}.{ext}``: the image's original bytes; ``ext`` follows the decoded
  format (jpg, png, gif, webp, tif, bmp, ...), never the URL;
- ``images_dir/masks/{role}/{name}.{ext}``: the mask given with a source;
- the manifest, a tab-separated file with a header row and one row per image found (columns in
  :data:`MANIFEST_COLUMNS`; ``status`` is ``ok``, ``duplicate`` or ``failed``; ``file`` and
  ``mask`` are relative to ``images_dir``; ``note`` holds the reason of a failure). Tabs and line
  breaks inside values are replaced by spaces; :func:`read_manifest` reads it back.

The cache (``cache_dir``, default ``$NST_CACHE_DIR``, else ``$XDG_CACHE_HOME/nst/images``, else
``~/.cache/nst/images``; see :mod:`nst.image_cache`) holds the images by content hash, the URLs
and page scrapes that led to them, and the URLs that failed. Cached images are re-hashed and
re-decoded on every run but never re-requested; pages are re-scraped only with ``refresh=True``;
a URL that failed is not requested again for ``retry_failed_hours`` (default 24), unless
``retry_failed=True`` or the http settings changed. So a rerun with nothing new makes no request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from PIL import Image, UnidentifiedImageError

from nst.atomic import write_bytes, write_text
from nst.errors import DownloadError, ImageError, NSTError, SettingsError
from nst.fetcher import IMAGE_ACCEPT, Fetcher, HttpSettings
from nst.image_cache import RETRY_FAILED_HOURS, ImageCache, now, sha256
from nst.images import MIN_SIDE
from nst.scrape import PageImage, check_selector, scrape_page

ROLES = ("content", "style")
VIDEO_ROLE = "video"  # optional: clips for nst.temporal, checked by nst.video.inspect_video
KINDS = ("url", "page", "path")
SPEC_KEYS = {
    "url": {"url", "name", "license", "mask"},
    "page": {
        *("page", "name", "selector", "attribute", "limit", "next", "max_pages"),
        *("license", "license_selector"),
    },
    "path": {"path", "name", "license", "mask", "limit"},
}
VIDEO_ACCEPT = "video/*,image/gif;q=0.9,*/*;q=0.5"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
FORMAT_EXT = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
FORMAT_EXT |= {"TIFF": "tif", "BMP": "bmp"}
MANIFEST_COLUMNS = (
    "role",
    "name",
    "status",
    "file",
    "mask",
    "kind",
    "source",
    "page_url",
    "final_url",
    "sha256",
    "bytes",
    "width",
    "height",
    "format",
    "license",
    "fetched",
    "note",
)
INT_COLUMNS = frozenset({"bytes", "width", "height"})
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
MASKS_DIR = "masks"


def default_cache_dir() -> Path:
    if os.environ.get("NST_CACHE_DIR"):
        return Path(os.environ["NST_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nst" / "images"


def _sentence(text: str) -> str:
    """An error message without its final full stop, to quote inside another sentence."""
    return str(text).rstrip().rstrip(".")


# ---------------------------------------------------------------------------------------------
# Names


def safe_name(text: str) -> str:
    """A filesystem-safe name: ASCII letters, digits, '.', '_' and '-', at most 80 characters."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-._")
    return text[:80].rstrip("-._")


def name_from_url(url: str) -> str:
    """A name derived from a URL's last path segment (Wikimedia ``800px-`` thumbnail prefix off)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed; the download reports it, the name only has to be safe
        return safe_name(url.rsplit("/", 1)[-1]) or "image"
    last = PurePosixPath(unquote(parts.path)).name
    stem = last
    for suffix in (*IMAGE_SUFFIXES, ".svg", ".php", ".html", ".htm"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"^\d+px-", "", stem)
    return safe_name(stem) or safe_name(parts.netloc) or "image"


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True)
class Source:
    """One validated source entry of a role."""

    role: str
    index: int
    kind: str
    target: str
    name: str | None = None
    license: str = ""
    mask: str | None = None
    selector: str | None = None
    attribute: str | None = None
    limit: int | None = None
    next: str | None = None
    max_pages: int | None = None
    license_selector: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role} source {self.index}"


def parse_sources(sources: dict, key: str = "sources") -> dict[str, list[Source]]:
    """Validate the ``sources`` mapping, written under ``key`` in the config; raise
    :class:`SettingsError` naming the bad entry. Every URL is checked here, before any request."""
    if not isinstance(sources, dict):
        raise SettingsError(f"{key} must be a mapping with a 'content' and a 'style' list.")
    unknown = sorted(set(sources) - {*ROLES, VIDEO_ROLE})
    if unknown:
        raise SettingsError(
            f"unknown source role(s) {', '.join(map(str, unknown))} in {key}; "
            "the roles are 'content', 'style' and 'video'."
        )
    plan: dict[str, list[Source]] = {}
    for role in (*ROLES, VIDEO_ROLE):
        specs = sources.get(role)
        if role == VIDEO_ROLE and specs is None:
            continue
        if not isinstance(specs, list) or not specs:
            raise SettingsError(f"{key}.{role} must be a non-empty list of url/page/path entries.")
        plan[role] = [_parse_spec(key, role, i, spec) for i, spec in enumerate(specs, 1)]
        for source in plan[role] if role == VIDEO_ROLE else ():
            if source.kind == "page" or source.mask:
                raise SettingsError(
                    f"{key}.video[{source.index - 1}] takes url or path, and no mask; "
                    "list the video file or its URL."
                )
        seen: set[str] = set()
        for source in plan[role]:
            if _single_image(source):
                key = source.name.lower()
                if key in seen:
                    raise SettingsError(
                        f"name {source.name!r} is used twice in {key}.{role}; "
                        "give every image of a role its own name."
                    )
                seen.add(key)
    return plan


def _single_image(source: Source) -> bool:
    """True for a named source that yields exactly one image (its name is then reserved)."""
    if source.name is None or source.kind == "page":
        return False
    return source.kind == "url" or not Path(source.target).expanduser().is_dir()


def check_url(value: str, where: str) -> None:
    """Raise :class:`SettingsError` unless ``value`` is a well-formed http(s) URL."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        raise SettingsError(f"{where} = {value!r} is not a valid URL; fix it.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{where} = {value!r} is not an http(s) URL; write the whole address, starting "
            "with http:// or https://."
        )


def _parse_spec(key: str, role: str, index: int, spec) -> Source:
    where = f"{key}.{role}[{index - 1}]"
    if isinstance(spec, str):
        if URL_SCHEME_RE.match(spec):
            check_url(spec, where)
        spec = {"url" if spec.lower().startswith(("http://", "https://")) else "path": spec}
    if not isinstance(spec, dict):
        raise SettingsError(f"{where} must be a mapping with one of url, page or path.")
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        raise SettingsError(f"{where} must have exactly one of url, page or path.")
    kind = kinds[0]
    unknown = sorted(set(spec) - SPEC_KEYS[kind])
    if unknown:
        raise SettingsError(
            f"{where} ({kind}) does not take {', '.join(map(str, unknown))}; "
            f"valid keys are {', '.join(sorted(SPEC_KEYS[kind]))}."
        )
    values = {}
    for key in (
        "name",
        "license",
        "mask",
        "selector",
        "attribute",
        "next",
        "license_selector",
        kind,
    ):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}.{key} must be a non-empty string.")
        values[key] = value.strip()
    for key in ("limit", "max_pages"):
        value = spec.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise SettingsError(f"{where}.{key} = {value!r} must be a whole number of at least 1.")
        values[key] = value
    if kind in ("url", "page"):
        check_url(values[kind], f"{where}.{kind}")
    if "path" in values and URL_SCHEME_RE.match(values["path"]):
        raise SettingsError(
            f"{where}.path = {values['path']!r} is a URL, not a local file; list an http(s) "
            "image as url: instead."
        )
    if "mask" in values and URL_SCHEME_RE.match(values["mask"]):
        check_url(values["mask"], f"{where}.mask")
    name = values.get("name")
    if name is not None and not NAME_RE.fullmatch(name):
        raise SettingsError(
            f"{where}.name {name!r} is not a safe file name; use up to 80 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit."
        )
    for key in ("selector", "next", "license_selector"):
        if key in values:
            check_selector(values[key], f"{where}.{key}")
    if "attribute" in values and not re.fullmatch(r"[A-Za-z_:][\w:.-]*", values["attribute"]):
        raise SettingsError(f"{where}.attribute {values['attribute']!r} is not an attribute name.")
    return Source(
        role=role,
        index=index,
        kind=kind,
        target=values[kind],
        name=name,
        license=values.get("license", ""),
        mask=values.get("mask"),
        selector=values.get("selector"),
        attribute=values.get("attribute"),
        limit=values.get("limit"),
        next=values.get("next"),
        max_pages=values.get("max_pages"),
        license_selector=values.get("license_selector"),
    )


@dataclass(frozen=True)
class Candidate:
    """One image a source points at: a URL or a local file."""

    kind: str
    location: str
    page_url: str = ""
    license: str = ""
    name: str | None = None
    base_name: str = "image"


# ---------------------------------------------------------------------------------------------
# Image verification


@dataclass(frozen=True)
class ImageInfo:
    format: str
    ext: str
    width: int
    height: int


def inspect_image(data: bytes, *, what: str, max_pixels: int, content_type: str = "") -> ImageInfo:
    """Decode ``data`` fully; raise :class:`ImageError` unless it is a sane, complete image."""
    bomb = (
        f"{what} is larger than the pixel limit of {max_pixels} pixels (a decompression bomb or "
        "a huge scan); raise http.max_pixels or choose a smaller image."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                fmt = im.format or ""
                if width * height > max_pixels:
                    raise ImageError(
                        bomb.replace("larger than", f"{width}x{height} pixels, more than")
                    )
                im.load()
    except Image.DecompressionBombError:
        raise ImageError(bomb) from None
    except UnidentifiedImageError:
        looks_html = data.lstrip()[:1] == b"<" or "html" in content_type.lower()
        hint = " (it looks like an HTML page)" if looks_html else ""
        served = f", served as {content_type.split(';')[0]}" if content_type else ""
        raise ImageError(
            f"{what} is not an image Pillow can decode{hint}{served}; point the source at the "
            "image file itself."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(
            f"{what} is truncated or corrupt ({_sentence(exc)}); use another copy of the image."
        ) from None
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{what} is only {width}x{height} pixels; images need at least {MIN_SIDE} px a side, "
            "so choose a larger one."
        )
    return ImageInfo(fmt, FORMAT_EXT.get(fmt, fmt.lower() or "img"), width, height)


# ---------------------------------------------------------------------------------------------
# Manifest


def _row(**values) -> dict:
    row = {column: (None if column in INT_COLUMNS else "") for column in MANIFEST_COLUMNS}
    row.update(values)
    return row


def _cell(value) -> str:
    if value is None:
        return ""
    return re.sub(r"[\t\r\n]+", " ", str(value))


def format_manifest(rows: list[dict]) -> str:
    lines = ["\t".join(MANIFEST_COLUMNS)]
    lines += ["\t".join(_cell(row.get(c)) for c in MANIFEST_COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a manifest written by :func:`fetch_dataset` (sizes as int, empty ones as None)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise NSTError(
            f"cannot read manifest {p} ({exc.strerror}); run `nst fetch` first."
        ) from None
    if not lines or tuple(lines[0].split("\t")) != MANIFEST_COLUMNS:
        raise NSTError(f"{p} is not an nst dataset manifest; run `nst fetch` to rewrite it.")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        cells += [""] * (len(MANIFEST_COLUMNS) - len(cells))
        row = dict(zip(MANIFEST_COLUMNS, cells[: len(MANIFEST_COLUMNS)], strict=True))
        for column in INT_COLUMNS:
            row[column] = int(row[column]) if row[column] else None
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class _Obtained:
    data: bytes
    info: ImageInfo
    final_url: str
    fetched: str
    how: str
    local_path: Path | None = None


class _Run:
    """State of one :func:`fetch_dataset` call: fetcher, cache, names taken, files written."""

    def __init__(self, fetcher, cache, settings, images_dir, log, refresh):
        self.fetcher = fetcher
        self.cache = cache
        self.settings = settings
        self.images_dir = images_dir
        self.log = log
        self.refresh = refresh
        self.outputs: set[str] = set()
        self.local_sources: set[Path] = set()
        self.inspect = inspect_image  # nst.video.inspect_video for the video role

    # -- sources to candidates

    def candidates(self, source: Source) -> list[Candidate]:
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

    def _page_candidates(self, source: Source) -> list[Candidate]:
        key = json.dumps(
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
        cached = self.cache.pages.get(key)
        if self._usable_scrape(cached):
            images = [PageImage(*item) for item in cached["images"]]
            stopped = cached.get("stopped_at")
            self.log(
                f"dataset:   {len(images)} image link(s) from the cached scrape of the page"
                + (f" (pagination stopped at {stopped}, a remembered failure)" if stopped else "")
            )
        else:
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
        suffixes = IMAGE_SUFFIXES
        if source.role == VIDEO_ROLE:
            from nst.video import VIDEO_SUFFIXES as suffixes
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
        prefix = f"{source.name}-" if source.name else ""
        return [
            Candidate(
                "path",
                str(p),
                license=source.license,
                base_name=prefix + (safe_name(p.stem) or "image"),
            )
            for p in files[: source.limit]
        ]

    # -- candidates to bytes

    def obtain(self, location: str, kind: str) -> _Obtained:
        max_pixels = self.settings.max_pixels
        if kind == "path":
            path = Path(location)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ImageError(f"cannot read {path} ({exc.strerror}); check the path.") from None
            info = self.inspect(data, what=str(path), max_pixels=max_pixels)
            mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            self.local_sources.add(path.resolve())
            return _Obtained(
                data, info, "", mtime.replace(microsecond=0).isoformat(), "local", path
            )
        hit = self.cache.lookup(location)
        if hit is not None:
            entry, data = hit
            info = self.inspect(data, what=location, max_pixels=max_pixels)
            return _Obtained(
                data, info, entry.get("final_url", ""), entry.get("fetched", ""), "cached"
            )
        video = self.inspect is not inspect_image
        fetched = self.fetcher.get(location, accept=VIDEO_ACCEPT if video else IMAGE_ACCEPT)
        try:
            info = self.inspect(
                fetched.content,
                what=location,
                max_pixels=max_pixels,
                content_type=fetched.content_type,
            )
        except ImageError as exc:
            self.cache.remember(location, str(exc))
            raise
        entry = self.cache.store(
            list(dict.fromkeys([location, fetched.final_url])),
            fetched.content,
            info.ext,
            final_url=fetched.final_url,
            content_type=fetched.content_type,
            fetched=now(),
        )
        return _Obtained(fetched.content, info, fetched.final_url, entry["fetched"], "downloaded")

    def obtain_mask(self, mask: str, image: ImageInfo, name: str) -> _Obtained:
        kind = "url" if mask.lower().startswith(("http://", "https://")) else "path"
        got = self.obtain(mask if kind == "url" else str(Path(mask).expanduser()), kind)
        ratio = image.width / image.height
        mw, mh = got.info.width, got.info.height
        if abs(mw / mh - ratio) > 0.02 * ratio and abs(mh / mw - ratio) > 0.02 * ratio:
            raise ImageError(
                f"mask {mask} is {mw}x{mh} pixels but image {name} is {image.width}x"
                f"{image.height}; draw the mask on the image so that their shapes match."
            )
        return got

    # -- writing

    def place(self, rel: str, got: _Obtained) -> str:
        """Write ``got`` to ``images_dir/rel`` unless that file already holds these bytes."""
        dest = self.images_dir / rel
        self.outputs.add(rel)
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

    def fetch_role(self, role: str, sources: list[Source]) -> list[dict]:
        from nst.video import inspect_video

        self.inspect = inspect_video if role == VIDEO_ROLE else inspect_image
        rows: list[dict] = []
        reserved = {s.name.lower() for s in sources if _single_image(s)}
        taken: set[str] = set()
        by_sha: dict[str, str] = {}
        for source in sources:
            self.log(f"dataset: {source.label} of {len(sources)}: {source.kind} {source.target}")
            try:
                candidates = self.candidates(source)
            except NSTError as exc:
                self.log(f"dataset:   FAILED: {exc}")
                rows.append(
                    _row(
                        role=role,
                        name=source.name or "",
                        status="failed",
                        kind=source.kind,
                        source=source.target,
                        page_url=source.target if source.kind == "page" else "",
                        license=source.license,
                        note=str(exc),
                    )
                )
                continue
            for candidate in candidates:
                rows.append(self._fetch_candidate(role, source, candidate, reserved, taken, by_sha))
        return rows

    def _fetch_candidate(self, role, source, candidate, reserved, taken, by_sha) -> dict:
        row = _row(
            role=role,
            name=candidate.name or "",
            kind=source.kind,
            source=candidate.location,
            page_url=candidate.page_url,
            license=candidate.license,
        )
        try:
            got = self.obtain(candidate.location, candidate.kind)
            sha = sha256(got.data)
            row.update(
                final_url=got.final_url,
                sha256=sha,
                bytes=len(got.data),
                width=got.info.width,
                height=got.info.height,
                format=got.info.format,
                fetched=got.fetched,
            )
            if sha in by_sha:
                row.update(status="duplicate", note=f"same image as {role}/{by_sha[sha]}")
                self.log(f"dataset:   {candidate.location}: duplicate of {by_sha[sha]}, skipped")
                return row
            name = candidate.name or _free_name(candidate.base_name, sha, reserved | taken)
            mask = self.obtain_mask(source.mask, got.info, name) if source.mask else None
        except NSTError as exc:
            row.update(status="failed", note=str(exc))
            self.log(f"dataset:   FAILED: {exc}")
            return row
        taken.add(name.lower())
        by_sha[sha] = name
        rel = f"{role}/{name}.{got.info.ext}"
        how = self.place(rel, got)
        row.update(name=name, status="ok", file=rel)
        if mask is not None:
            mask_rel = f"{MASKS_DIR}/{role}/{name}.{mask.info.ext}"
            self.place(mask_rel, mask)
            row["mask"] = mask_rel
        self.log(
            f"dataset:   {rel} {got.info.width}x{got.info.height} "
            f"{len(got.data) / 1024:.1f} KiB ({got.how}, {how})"
        )
        return row

    def remove_stale(self, previous: list[dict]) -> None:
        """Delete files an earlier run wrote that this run no longer produces."""
        roots = [self.images_dir / d for d in (*ROLES, VIDEO_ROLE, MASKS_DIR)]
        for row in previous:
            for rel in (row.get("file"), row.get("mask")):
                if not rel or rel in self.outputs or ".." in Path(rel).parts:
                    continue
                path = self.images_dir / rel
                if not any(root in path.parents for root in roots) or not path.is_file():
                    continue
                if path.resolve() in self.local_sources:
                    continue
                path.unlink()
                self.log(f"dataset: removed {path}, which the sources no longer produce")


def _free_name(base: str, sha: str, taken: set[str]) -> str:
    """``base``, or ``base-<hash>`` when taken: stable however the sources are ordered."""
    name = base
    if name.lower() in taken:
        name = f"{base[:70]}-{sha[:8]}"
    counter = 2
    while name.lower() in taken:
        name = f"{base[:70]}-{sha[:8]}-{counter}"
        counter += 1
    return name


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

    Writes ``images_dir/{role}/{name}.{ext}`` and the manifest (see the module docstring) and
    returns its rows. A failed source is recorded and logged; :class:`DownloadError` is raised
    (after the manifest is written) only when a role ends up with no image, or when ``strict``
    and anything failed. A URL that failed in the last ``retry_failed_hours`` is not requested
    again (its failure is reported again) unless ``retry_failed``.
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
    try:
        previous = read_manifest(manifest_path) if manifest_path.exists() else []
    except NSTError:
        previous = []
    rows: list[dict] = []
    with Fetcher(settings, log=log, known_failures=cache) as fetcher:
        run = _Run(fetcher, cache, settings, images_dir, log, refresh)
        for role in plan:
            rows += run.fetch_role(role, plan[role])
        requests_made = fetcher.requests_made
    run.remove_stale(previous)
    text = format_manifest(rows)
    if not manifest_path.is_file() or manifest_path.read_text(encoding="utf-8") != text:
        write_text(manifest_path, text)

    counts = {role: sum(r["role"] == role and r["status"] == "ok" for r in rows) for role in ROLES}
    failed = [r for r in rows if r["status"] == "failed"]
    duplicates = sum(r["status"] == "duplicate" for r in rows)
    log(
        f"dataset: {counts['content']} content and {counts['style']} style image(s), "
        f"{duplicates} duplicate(s), {len(failed)} failure(s), {requests_made} HTTP request(s); "
        f"manifest {manifest_path}"
    )
    for role in ROLES:
        if counts[role] == 0:
            reasons = [r["note"] for r in failed if r["role"] == role]
            first = f" (first reason: {_sentence(reasons[0])})" if reasons else ""
            raise DownloadError(
                f"no {role} image could be obtained{first}; fix sources.{role} in the config "
                f"(details in {manifest_path})."
            )
    if strict and failed:
        raise DownloadError(
            f"{len(failed)} image source(s) failed and strict is set (first: "
            f"{_sentence(failed[0]['note'])}); fix them or set strict: false "
            f"(details in {manifest_path})."
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Command line


def run_fetch_command(args: argparse.Namespace) -> int:
    from nst.dataset_config import load_dataset_config

    config = load_dataset_config(args.config)
    images_dir = Path(args.images_dir or config.images_dir or "resources/images")
    fetch_dataset(
        config.sources,
        images_dir,
        Path(args.manifest or config.manifest or images_dir / "manifest.tsv"),
        cache_dir=args.cache_dir or config.cache_dir,
        http=config.http,
        strict=args.strict if args.strict is not None else config.strict,
        refresh=args.refresh,
        retry_failed=args.retry_failed,
        retry_failed_hours=config.retry_failed_hours,
    )
    return 0


def add_cli(subparsers) -> None:
    """Register ``nst fetch`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "fetch",
        help="download, verify and cache the content and style images a config lists",
        description=(
            "Fetch the images listed in the 'sources' section of CONFIG (politely: robots.txt, "
            "per-host delay, retries), verify and deduplicate them, and write "
            "IMAGES_DIR/{content,style}/NAME.EXT plus a tab-separated manifest. Cached images "
            "are never downloaded again, and URLs that failed are not requested again for "
            "retry_failed_hours (default 24) unless --retry-failed."
        ),
    )
    parser.add_argument("config", help="YAML or JSON file with 'sources' (and optional 'http')")
    parser.add_argument(
        "--images-dir", help="output folder (default: config images_dir, else resources/images)"
    )
    parser.add_argument("--manifest", help="manifest path (default: IMAGES_DIR/manifest.tsv)")
    parser.add_argument(
        "--cache-dir",
        help="download cache (default: config cache_dir, else $NST_CACHE_DIR, else "
        "~/.cache/nst/images)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="fail if any source fails (default: config strict, else false)",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="scrape pages again instead of using cached links"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="request again the URLs that failed before (otherwise not requested again for "
        "retry_failed_hours, default 24)",
    )
    parser.set_defaults(func=run_fetch_command)
