"""The ``sources`` of a dataset config, checked into :class:`Source` entries before any request.

Sources, per role (``content``, ``style``, and optionally ``video``: clips for
:mod:`nst.video.temporal`, checked by decoding them instead of as images), each a mapping with
exactly one of:

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
The ``video`` role takes ``url`` and ``path`` entries without a mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nst.dataset.scrape import check_selector
from nst.errors import SettingsError

ROLES = ("content", "style")
VIDEO_ROLE = "video"  # optional: clips for nst.video.temporal
KINDS = ("url", "page", "path")
SPEC_KEYS = {
    "url": {"url", "name", "license", "mask"},
    "page": {
        *("page", "name", "selector", "attribute", "limit", "next", "max_pages"),
        *("license", "license_selector"),
    },
    "path": {"path", "name", "license", "mask", "limit"},
}
TEXT_KEYS = ("name", "license", "mask", "selector", "attribute", "next", "license_selector")
COUNT_KEYS = ("limit", "max_pages")
SELECTOR_KEYS = ("selector", "next", "license_selector")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
ATTRIBUTE_RE = re.compile(r"[A-Za-z_:][\w:.-]*")


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

    @property
    def reserved_name(self) -> str | None:
        """The name (lower case) this source keeps for itself: that of a named source which
        yields exactly one image (a url, or a path that is not a directory); else None."""
        if self.name is None or self.kind == "page":
            return None
        if self.kind == "path" and Path(self.target).expanduser().is_dir():
            return None
        return self.name.lower()


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
        plan[role] = [
            _parse_spec(spec, f"{key}.{role}[{i - 1}]", role, i) for i, spec in enumerate(specs, 1)
        ]
        if role == VIDEO_ROLE:
            _check_video_sources(plan[role], key)
        _check_names_unique(plan[role], f"{key}.{role}")
    return plan


def _check_video_sources(sources: list[Source], key: str) -> None:
    for source in sources:
        if source.kind == "page" or source.mask:
            raise SettingsError(
                f"{key}.video[{source.index - 1}] takes url or path, and no mask; "
                "list the video file or its URL."
            )


def _check_names_unique(sources: list[Source], where: str) -> None:
    seen: set[str] = set()
    for source in sources:
        name = source.reserved_name
        if name is None:
            continue
        if name in seen:
            raise SettingsError(
                f"name {source.name!r} is used twice in {where}; "
                "give every image of a role its own name."
            )
        seen.add(name)


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


def _parse_spec(spec, where: str, role: str, index: int) -> Source:
    """One entry of a role (written at ``where`` in the config) as a :class:`Source`."""
    spec = _as_mapping(spec, where)
    kind = _kind_of(spec, where)
    values = {**_text_values(spec, kind, where), **_count_values(spec, where)}
    _check_values(values, kind, where)
    return Source(
        role=role,
        index=index,
        kind=kind,
        target=values.pop(kind),
        license=values.pop("license", ""),
        **values,
    )


def _as_mapping(spec, where: str) -> dict:
    """The entry as a mapping: a bare string is a url (http/https) or a path."""
    if isinstance(spec, str):
        if URL_SCHEME_RE.match(spec):
            check_url(spec, where)
        spec = {"url" if spec.lower().startswith(("http://", "https://")) else "path": spec}
    if not isinstance(spec, dict):
        raise SettingsError(f"{where} must be a mapping with one of url, page or path.")
    return spec


def _kind_of(spec: dict, where: str) -> str:
    """The entry's one kind (url, page or path), whose keys are the only ones it may have."""
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
    return kind


def _text_values(spec: dict, kind: str, where: str) -> dict[str, str]:
    """The entry's string values that are set, stripped; each must be a non-empty string."""
    values = {}
    for key in (*TEXT_KEYS, kind):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}.{key} must be a non-empty string.")
        values[key] = value.strip()
    return values


def _count_values(spec: dict, where: str) -> dict[str, int | None]:
    """The entry's counts (``limit``, ``max_pages``): None, or a whole number of at least 1."""
    values = {}
    for key in COUNT_KEYS:
        value = spec.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise SettingsError(f"{where}.{key} = {value!r} must be a whole number of at least 1.")
        values[key] = value
    return values


def _check_values(values: dict, kind: str, where: str) -> None:
    """URLs are http(s), a path is no URL, the name is safe, selectors and attribute parse."""
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
    for key in SELECTOR_KEYS:
        if key in values:
            check_selector(values[key], f"{where}.{key}")
    if "attribute" in values and not ATTRIBUTE_RE.fullmatch(values["attribute"]):
        raise SettingsError(f"{where}.attribute {values['attribute']!r} is not an attribute name.")
