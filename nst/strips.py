"""Frame strips of a video: the input in the first row, one row per style x set, the columns
frames at fixed times, each row labelled with its warping error (laid out by nst.sheets)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from nst.sheets import Cell, Header, contact_sheet
from nst.video import load_clip


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
    records; columns are ``columns`` frames at evenly spaced times."""
    clip = load_clip(clip_path)
    n = len(clip.frames)
    index = np.linspace(0, n - 1, min(columns, n)).round().astype(int)
    records = [json.loads(Path(m).read_text()) for m in metrics]
    floor = records[0]["warping_error"]["input"] if records else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)

        def picture(array, name) -> Path:
            path = tmp / f"{name}.png"
            Image.fromarray(np.asarray(array, np.uint8)).save(path)
            return path

        header = [Header([f"frame {i + 1}", f"{i / clip.fps:.2f} s"]) for i in index]
        rows = [Header(["input", f"warping error {floor:.4f}" if floor is not None else ""])]
        cells = [[Cell(picture(clip.frames[i], f"in{i}"), []) for i in index]]
        for k, ((style, vset), path, record) in enumerate(zip(keys, frames, records, strict=True)):
            out = _frames(path)
            err = record["warping_error"]["output"]
            rows.append(
                Header(
                    [
                        f"{style} / {vset}",
                        *([labels[vset]] if labels.get(vset) else []),
                        f"warping error {err:.4f}",
                        f"style loss {record['style_loss']['mean']:.3g}, "
                        f"{record['timings']['total_seconds']:.0f} s",
                    ]
                )
            )
            cells.append([Cell(picture(out[i], f"r{k}_{i}"), []) for i in index])
        title = (
            f"{video}: {n} frames of {clip.shape[1]}x{clip.shape[0]} px at {clip.fps:g} fps; "
            "warping error (Lai et al. 2018) of each row, the input's is the floor"
        )
        return contact_sheet(Header([video]), header, rows, cells, thumb=thumb, title=title)
