"""Labelled contact sheets: results side by side, with the inputs in the header row and column.

* per content: rows = styles, columns = hyperparameter sets, the content in the corner;
* per style: rows = contents, columns = hyperparameter sets, the style in the corner;
* overview: rows = contents, columns = styles x sets, content and style thumbnails as headers;
* sweep (per content x style): rows = one swept setting's values, columns = another's.

Column headers name the set and the values that distinguish it (wrapped, never cut); every cell
gives the run's quality figures (content SSIM, style distance, colour difference; see
:mod:`nst.quality`) and the seconds it took.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from nst.atomic import atomic_path


def short(value) -> str:
    """A setting's value as a label shows it: ``0.1``, ``conv1_1,conv2_1``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(short(v) for v in value)
    return str(value)


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

    @property
    def quality(self) -> dict:
        return self.metrics.get("quality") or {}


@dataclass
class Header:
    lines: list[str]
    image: Path | None = None


@dataclass
class Cell:
    image: Path | None
    lines: list[str]


def load_font(size: int):
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


def wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Lines of at most ``width`` pixels, broken between words; a word longer than a line
    (a long set name) is broken after one of ``_~,=`` where it can be, else between letters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        while draw.textlength(word, font=font) > width:
            cut = _break_at(draw, word, font, width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines or [""]


def _break_at(draw, word: str, font, width: int) -> int:
    fits = max(
        1, max(i for i in range(1, len(word) + 1) if draw.textlength(word[:i], font=font) <= width)
    )
    soft = [i + 1 for i in range(fits) if word[i] in "_~,="]
    return soft[-1] if soft and soft[-1] < len(word) else fits


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
    font, bold = load_font(font_size), load_font(font_size + 3)
    line_h = font_size + 3
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def wrapped(lines: list[str]) -> list[tuple[str, tuple[int, int, int]]]:
        # the first line in ink, the rest muted
        return [
            (part, INK if i == 0 else MUTED)
            for i, text in enumerate(lines)
            for part in wrap(measure, text, font, thumb)
        ]

    corner = Header(wrapped(corner.lines), corner.image)
    columns = [Header(wrapped(h.lines), h.image) for h in columns]
    rows = [Header(wrapped(h.lines), h.image) for h in rows]
    cells = [[Cell(c.image, wrapped(c.lines)) for c in row] for row in cells]
    n_lines = max([len(c.lines) for row in cells for c in row] + [len(h.lines) for h in rows] + [1])
    head_lines = max([len(h.lines) for h in columns] + [len(corner.lines), 1])
    has_col_images = any(h.image for h in columns) or corner.image is not None
    cell_w = thumb + 2 * PAD
    cell_h = thumb + n_lines * line_h + 2 * PAD
    head_h = (thumb if has_col_images else 0) + head_lines * line_h + 2 * PAD
    title_lines = wrap(measure, title, bold, cell_w * (len(columns) + 1) - 2 * PAD) if title else []
    title_h = (len(title_lines) * (font_size + 5) - 2 + 2 * PAD) if title else 0
    width = cell_w * (len(columns) + 1)
    height = title_h + head_h + cell_h * len(rows)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(title_lines):
        draw.text((PAD, PAD + i * (font_size + 5)), line, fill=INK, font=bold)

    def place(x, y, header_image, lines, show_image, header=False):
        # a header without a picture keeps its text at the top of its (blank) picture area
        if show_image and not (header and header_image is None):
            sheet.paste(_thumb(header_image, thumb), (x + PAD, y + PAD))
            y += thumb
        for i, (text, colour) in enumerate(lines):
            draw.text((x + PAD, y + PAD + i * line_h), text, fill=colour, font=font)

    place(0, title_h, corner.image, corner.lines, has_col_images, header=True)
    for j, col in enumerate(columns):
        place(cell_w * (j + 1), title_h, col.image, col.lines, has_col_images, header=True)
    for i, (row, row_cells) in enumerate(zip(rows, cells, strict=True)):
        y = title_h + head_h + i * cell_h
        place(0, y, row.image, row.lines, True, header=True)
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


def quality_lines(run: Run) -> list[str]:
    """A cell's figures: content SSIM and style distance first, then the palette and texture
    distances (when the record has them), then colour and seconds."""
    q = run.quality
    secs = _seconds(run.seconds) if run.seconds is not None else ""
    if not q:  # a record from before quality figures
        loss = f"loss {run.final_loss:.4g}" if run.final_loss is not None else ""
        return [f"{loss}  {secs}".strip()]
    lines = [
        f"SSIM {q['content_ssim']:.2f} · style {q['style_distance']:.2f}",
        f"colour {q['color_difference']:.1f}" + (f" · {secs}" if secs else ""),
    ]
    if q.get("palette_distance") is not None and q.get("texture_distance") is not None:
        # the independent judge (figures no loss term sees), beside the loss network's
        lines.insert(
            1, f"palette {q['palette_distance']:.2f} · texture {q['texture_distance']:.2f}"
        )
    return lines


def _seconds(seconds: float) -> str:
    """Seconds with the digits that matter: a fast network's 0.12 s as well as 93 s."""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def _cell(run: Run | None) -> Cell:
    if run is None:
        return Cell(None, ["(missing)"])
    return Cell(run.image, quality_lines(run))


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
        [[_cell(idx.get(key(o, p))) for p in sets] for o in others],
        title=f"{name}: {other}s x hyperparameter sets",
        **kw,
    )


def overview_sheet(contents, content_images, styles, style_images, sets, labels, runs, **kw):
    """Rows = contents, columns = every style with every set."""
    idx = _index(runs)
    columns = [(s, p) for s in styles for p in sets]
    return contact_sheet(
        Header(["rows: contents", "columns: style, set"]),
        [Header([f"style: {s}", p, labels.get(p, "")], style_images.get(s)) for s, p in columns],
        [Header([f"content: {c}"], content_images.get(c)) for c in contents],
        [[_cell(idx.get((c, s, p))) for s, p in columns] for c in contents],
        title="overview: every content, style and hyperparameter set",
        **kw,
    )


def sweep_sheet(content, style, style_image, axes, points, runs, **kw):
    """One content x style over a sweep of one or two settings: rows = the first axis's values,
    columns = the second's (one row for a one-axis sweep). ``points`` maps each sweep set's name
    to its values, e.g. ``{"style_weight~1_tv_weight~0": {"style_weight": 1, "tv_weight": 0}}``.
    """
    if not 1 <= len(axes) <= 2:
        raise ValueError(f"a sweep sheet lays out one or two settings, not {len(axes)}.")
    idx = _index(runs)
    by_values = {tuple(repr(v[a]) for a in axes): name for name, v in points.items()}

    def values(axis):
        return list({repr(v[axis]): v[axis] for v in points.values()}.items())

    row_values = values(axes[0])
    col_values = values(axes[1]) if len(axes) == 2 else [(None, None)]

    def run_at(r, c):
        key = (r,) if c is None else (r, c)
        return idx.get((content, style, by_values.get(key)))

    col_title = f"columns: {axes[1]}" if len(axes) == 2 else ""
    return contact_sheet(
        Header(
            [f"style: {style}", f"content: {content}", f"rows: {axes[0]}", col_title], style_image
        ),
        [Header([f"{axes[1]} = {short(c)}" if k else ""]) for k, c in col_values],
        [Header([f"{axes[0]} = {short(r)}"]) for _k, r in row_values],
        [[_cell(run_at(r, c)) for c, _v in col_values] for r, _v in row_values],
        title=f"{content} x {style}: sweep of {' x '.join(axes)}",
        **kw,
    )
