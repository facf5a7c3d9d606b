"""The dataset manifest: the record of a fetch, one row per image found.

A tab-separated file with a header row (the columns of :data:`MANIFEST_COLUMNS`): ``status`` is
``ok``, ``duplicate`` or ``failed``; ``file`` and ``mask`` are relative to the images folder;
``note`` holds the reason of a failure, worded as when it first failed, so that two runs over the
same inputs write the same bytes. Tabs and line breaks inside values are replaced by spaces;
:func:`read_manifest` reads it back (sizes as int, empty ones as None).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nst.atomic import write_text
from nst.errors import NSTError

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


def manifest_row(**values) -> dict:
    """A manifest row: ``values``, every other column empty ("" or None for a size)."""
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


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Write the manifest, unless the file already holds these bytes (it keeps its time)."""
    text = format_manifest(rows)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text(path, text)


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a manifest written by :func:`nst.dataset.run.fetch_dataset`."""
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
