"""Frame strips of a video: the input in the first row, one row per style x set, the columns
frames at fixed times, each row labelled with its warping error. Frames keep their aspect ratio
(a contact sheet's square cells would leave wide frames in a band of grey); the fonts, colours
and wrapping are those of :mod:`nst.report.sheets`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nst.report.sheets import BACKGROUND, INK, MUTED, PAD, load_font, wrap
from nst.video.clips import load_clip

FONT_SIZE = 11
LINE = FONT_SIZE + 3


def _frames(path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        return z["frames"]


def strip_sheet(
    video: str,
    clip_path,
    keys: Sequence[Sequence[str]],
    frames: Sequence,
    metrics: Sequence,
    labels: dict[str, str],
    *,
    columns: int = 6,
    thumb: int = 160,
) -> Image.Image:
    """``keys`` are (style, set) of the runs, ``frames`` their stored frames, ``metrics`` their
    records; ``columns`` frames at evenly spaced times, each ``thumb`` px wide."""
    clip = load_clip(clip_path)
    n = len(clip.frames)
    index = np.linspace(0, n - 1, min(columns, n)).round().astype(int)
    records = [json.loads(Path(m).read_text()) for m in metrics]
    floor = records[0]["warping_error"]["input"] if records else None
    rows = [(["input", f"warping error {floor:.4f}" if floor is not None else ""], clip.frames)]
    for (style, vset), path, record in zip(keys, frames, records, strict=True):
        lines = [f"{style} / {vset}", *([labels[vset]] if labels.get(vset) else [])]
        lines += [
            f"warping error {record['warping_error']['output']:.4f}",
            f"style distance {record['quality']['style_distance']:.3f}, "
            f"{record['timings']['total_seconds']:.0f} s",
        ]
        rows.append((lines, _frames(path)))

    font, bold = load_font(FONT_SIZE), load_font(FONT_SIZE + 3)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    h, w = clip.shape
    tile_h = max(1, round(thumb * h / w))
    cell_w = thumb + 2 * PAD
    width = cell_w * (len(index) + 1)
    title = (
        f"{video}: {n} frames of {w}x{h} px at {clip.fps:g} fps; warping error (Lai et al. "
        "2018) of each row, the input's own is the floor"
    )
    title_lines = wrap(measure, title, bold, width - 2 * PAD)
    wrapped = [
        [part for text in lines for part in wrap(measure, text, font, thumb)] for lines, _ in rows
    ]
    head_h = len(title_lines) * (FONT_SIZE + 5) + 2 * LINE + 3 * PAD
    row_hs = [max(tile_h, len(lines) * LINE) + 2 * PAD for lines in wrapped]
    sheet = Image.new("RGB", (width, head_h + sum(row_hs)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, line in enumerate(title_lines):
        draw.text((PAD, PAD + i * (FONT_SIZE + 5)), line, fill=INK, font=bold)
    y = head_h - 2 * LINE - PAD
    for j, i in enumerate(index):
        x = cell_w * (j + 1) + PAD
        draw.text((x, y), f"frame {i + 1}", fill=INK, font=font)
        draw.text((x, y + LINE), f"{i / clip.fps:.2f} s", fill=MUTED, font=font)
    y = head_h
    for lines, (_, pictures), row_h in zip(wrapped, rows, row_hs, strict=True):
        draw.line([(0, y), (width, y)], fill=(200, 200, 200))
        for k, text in enumerate(lines):
            draw.text((PAD, y + PAD + k * LINE), text, fill=INK if k == 0 else MUTED, font=font)
        for j, i in enumerate(index):
            tile = Image.fromarray(np.asarray(pictures[i], np.uint8))
            tile = tile.resize((thumb, tile_h), Image.Resampling.LANCZOS)
            sheet.paste(tile, (cell_w * (j + 1) + PAD, y + PAD))
        y += row_h
    draw.line([(cell_w, head_h), (cell_w, sheet.height)], fill=(200, 200, 200))
    return sheet
