"""Labelled contact sheets: results side by side, with the inputs in the header row and column.

* per content: rows = styles, columns = hyperparameter sets, the content in the corner;
* per style: rows = contents, columns = hyperparameter sets, the style in the corner;
* overview: rows = contents, columns = styles x sets, content and style thumbnails as headers.

Every cell says what it is: content and style names, the values that distinguish its set, the
final loss and the seconds the run took.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from nst.atomic import atomic_path

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (110, 110, 110)
PAD = 6


@dataclass
class Run:
    """One finished transfer: where its image and record are, and what produced it."""

    content: str
    style: str
    params: str
    image: Path
    metrics: dict = field(default_factory=dict)

    @classmethod
    def load(cls, content, style, params, image, metrics_path) -> Run:
        with open(metrics_path, encoding="utf-8") as f:
            return cls(content, style, params, Path(image), json.load(f))

    @property
    def final_loss(self) -> float | None:
        return (self.metrics.get("final_loss") or {}).get("total")

    @property
    def seconds(self) -> float | None:
        return (self.metrics.get("timings") or {}).get("total_seconds")


@dataclass
class Header:
    lines: list[str]
    image: Path | None = None


@dataclass
class Cell:
    image: Path | None
    lines: list[str]


def _font(size: int):
    return ImageFont.load_default(size=size)


def _thumb(path: Path | None, size: int) -> Image.Image:
    tile = Image.new("RGB", (size, size), (235, 235, 235))
    if path is None or not Path(path).is_file():
        return tile
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        tile.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return tile


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(
    corner: Header,
    columns: list[Header],
    rows: list[Header],
    cells: list[list[Cell]],
    *,
    thumb: int = 160,
    title: str = "",
    font_size: int = 11,
) -> Image.Image:
    """A grid image: ``corner`` top-left, ``columns`` across the top, ``rows`` down the left."""
    font, bold = _font(font_size), _font(font_size + 3)
    line_h = font_size + 3
    n_lines = max([len(c.lines) for row in cells for c in row] + [len(h.lines) for h in rows] + [1])
    head_lines = max([len(h.lines) for h in columns] + [len(corner.lines), 1])
    has_col_images = any(h.image for h in columns) or corner.image is not None
    cell_w = thumb + 2 * PAD
    cell_h = thumb + n_lines * line_h + 2 * PAD
    head_h = (thumb if has_col_images else 0) + head_lines * line_h + 2 * PAD
    title_h = (font_size + 3 + 2 * PAD) if title else 0
    width = cell_w * (len(columns) + 1)
    height = title_h + head_h + cell_h * len(rows)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PAD, PAD), _fit(draw, title, bold, width - 2 * PAD), fill=INK, font=bold)

    def place(x, y, header_image, lines, show_image, muted_from=1, header=False):
        # a header without a picture keeps its text at the top of its (blank) picture area
        if show_image and not (header and header_image is None):
            sheet.paste(_thumb(header_image, thumb), (x + PAD, y + PAD))
            y += thumb
        for i, text in enumerate(lines):
            colour = INK if i < muted_from else MUTED
            draw.text(
                (x + PAD, y + PAD + i * line_h),
                _fit(draw, text, font, thumb),
                fill=colour,
                font=font,
            )

    place(0, title_h, corner.image, corner.lines, has_col_images, header=True)
    for j, col in enumerate(columns):
        place(cell_w * (j + 1), title_h, col.image, col.lines, has_col_images, header=True)
    for i, (row, row_cells) in enumerate(zip(rows, cells, strict=True)):
        y = title_h + head_h + i * cell_h
        place(0, y, row.image, row.lines, True)
        for j, cell in enumerate(row_cells):
            place(cell_w * (j + 1), y, cell.image, cell.lines, True)
    # grid lines between the headers and the results
    draw.line([(cell_w, title_h), (cell_w, height)], fill=(200, 200, 200))
    draw.line([(0, title_h + head_h), (width, title_h + head_h)], fill=(200, 200, 200))
    return sheet


def save_sheet(image: Image.Image, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        image.save(tmp, "PNG", optimize=True)
    return Path(path)


def _cell(run: Run | None, labels: dict[str, str]) -> Cell:
    if run is None:
        return Cell(None, ["(missing)"])
    loss = f"loss {run.final_loss:.4g}" if run.final_loss is not None else "loss ?"
    secs = f"{run.seconds:.0f} s" if run.seconds is not None else ""
    return Cell(
        run.image,
        [
            f"{run.content} x {run.style}",
            f"set: {run.params}",
            labels.get(run.params, ""),
            f"{loss}  {secs}".strip(),
        ],
    )


def _index(runs: list[Run]) -> dict[tuple[str, str, str], Run]:
    return {(r.content, r.style, r.params): r for r in runs}


def axis_sheet(kind, name, image, others, other_images, sets, labels, runs, **kw):
    """One content (``kind`` "content": rows = styles) or one style (``kind`` "style": rows =
    contents); columns = hyperparameter sets."""
    other = {"content": "style", "style": "content"}[kind]
    idx = _index(runs)

    def key(o, p):
        return (name, o, p) if kind == "content" else (o, name, p)

    return contact_sheet(
        Header([f"{kind}: {name}"], image),
        [Header([s, labels.get(s, "")]) for s in sets],
        [Header([f"{other}: {o}"], other_images.get(o)) for o in others],
        [[_cell(idx.get(key(o, p)), labels) for p in sets] for o in others],
        title=f"{name}: {other}s x hyperparameter sets",
        **kw,
    )


def overview_sheet(contents, content_images, styles, style_images, sets, labels, runs, **kw):
    """Rows = contents, columns = every style with every set."""
    idx = _index(runs)
    columns = [(s, p) for s in styles for p in sets]
    return contact_sheet(
        Header(["rows: contents", "columns: style, set"]),
        [Header([f"style: {s}", p], style_images.get(s)) for s, p in columns],
        [Header([f"content: {c}"], content_images.get(c)) for c in contents],
        [[_cell(idx.get((c, s, p)), labels) for s, p in columns] for c in contents],
        title="overview: every content, style and hyperparameter set",
        **kw,
    )
