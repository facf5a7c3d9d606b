"""Contact sheets and the summary table, from fabricated runs (no style transfer needed)."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from nst.experiment import grid
from nst.report import sheets, summary

PAD = sheets.PAD


def _runs(tmp_path):
    colours = {
        ("c1", "s1"): (255, 0, 0),
        ("c1", "s2"): (0, 255, 0),
        ("c2", "s1"): (0, 0, 255),
        ("c2", "s2"): (255, 255, 0),
    }
    runs = []
    for (c, s), colour in colours.items():
        for k, p in enumerate(["low", "high"]):
            img = tmp_path / f"{c}_{s}_{p}.png"
            Image.new("RGB", (80, 60), tuple(v // (k + 1) for v in colour)).save(img)
            history = [
                {
                    "iteration": i + 1,
                    "total": 100.0 / (i + 1),
                    "content": 1.0 + i,
                    "style": 50.0 / (i + 1),
                    "tv": 1.0,
                }
                for i in range(5)
            ]
            metrics = {
                "final_loss": {"total": 20.0 + k, "content": 5.0, "style": 10.0, "tv": 1.0},
                "quality": {
                    "content_ssim": 0.5 + 0.1 * k,
                    "style_distance": 0.3 - 0.1 * k,
                    "color_difference": 20.0,
                },
                "timings": {
                    "total_seconds": 12.0,
                    "seconds_per_iteration": 0.5,
                    "startup_seconds": 3.0,
                },
                "settings": {"method": "gatys", "model": "vgg16-hed", "size": 80},
                "iterations": 5,
                "evaluations": 6,
                "stop_reason": "iterations",
                "history": history,
            }
            mpath = tmp_path / f"{c}_{s}_{p}.json"
            mpath.write_text(json.dumps(metrics))
            runs.append(sheets.Run.load(c, s, p, img, mpath))
    return runs


def test_content_sheet_layout_images_and_labels(tmp_path):
    runs = _runs(tmp_path)
    thumb = 128
    labels = {"low": "style_weight=1", "high": "style_weight=100"}
    content = tmp_path / "content.png"
    Image.new("RGB", (40, 40), (9, 9, 9)).save(content)
    sheet = sheets.axis_sheet(
        "content", "c1", content, ["s1", "s2"], {}, ["low", "high"], labels, runs, thumb=thumb
    )
    cell_w = thumb + 2 * PAD
    assert sheet.width == 3 * cell_w  # header column + 2 sets
    arr = np.asarray(sheet)
    # the top-left of the grid: header height, then row 1 (style s1), column 1 (set low)
    n_lines, line_h = 2, 11 + 3  # SSIM and style distance; colour difference and seconds
    cell_h = thumb + n_lines * line_h + 2 * PAD
    head_h = thumb + 2 * line_h + 2 * PAD
    title_h = 11 + 3 + 2 * PAD
    y = title_h + head_h + PAD + thumb // 2
    x = cell_w + PAD + thumb // 2
    assert tuple(arr[y, x]) == (255, 0, 0)  # c1 x s1, set low
    assert tuple(arr[y, x + cell_w]) == (127, 0, 0)  # c1 x s1, set high
    assert tuple(arr[y + cell_h, x]) == (0, 255, 0)  # c1 x s2, set low
    assert sheet.height == title_h + head_h + 2 * cell_h
    assert tuple(arr[title_h + PAD + thumb // 2, PAD + thumb // 2]) == (9, 9, 9)  # the corner
    # every cell has text under its image (dark pixels in the caption band)
    band = arr[y + thumb // 2 + PAD : y + thumb // 2 + PAD + n_lines * line_h, cell_w : 2 * cell_w]
    assert (band[:, 1:].mean(axis=2) < 180).sum() > 60


def test_missing_run_is_marked_and_overview_covers_everything(tmp_path):
    runs = _runs(tmp_path)[:-1]  # c2 x s2 x high missing
    overview = sheets.overview_sheet(
        ["c1", "c2"], {}, ["s1", "s2"], {}, ["low", "high"], {}, runs, thumb=48
    )
    assert overview.width == 5 * (48 + 2 * PAD)
    arr = np.asarray(overview)
    cell_w = 48 + 2 * PAD
    # the last cell of the last row is the grey "missing" tile, and only that one
    grey = np.all(arr == 235, axis=-1)
    half = arr.shape[0] // 2 + 40
    assert grey[half:, 4 * cell_w + PAD : 5 * cell_w - PAD].sum() > 40 * 40
    assert grey[half:, cell_w : 4 * cell_w].sum() < 0.3 * 3 * 48 * 48


def test_summary_csv_and_labels(tmp_path):
    runs = _runs(tmp_path)
    sets = {"low": {"style_weight": 1, "size": 64}, "high": {"style_weight": 100, "size": 64}}
    labels = {k: grid.describe(v) for k, v in grid.differing_values(sets).items()}
    assert labels == {"low": "style_weight=1", "high": "style_weight=100"}
    out = summary.write_summary(runs, labels, tmp_path / "summary.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8
    assert rows[1]["params"] == "high" and rows[1]["settings"] == "style_weight=100"
    assert float(rows[1]["loss_total"]) == 21.0 and rows[0]["stop_reason"] == "iterations"
    plot = summary.plot_losses(
        [r for r in runs if r.content == "c1" and r.style == "s1"], tmp_path / "p.png", "c1 × s1"
    )
    with Image.open(plot) as im:
        assert im.size[0] > 600 and im.size[1] > 200
