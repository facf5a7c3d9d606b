"""Sweeps: lists of values crossed into hyperparameter sets, validated, named like Paramspace."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image
from snakemake.utils import Paramspace

from nst.errors import SettingsError
from nst.experiment import grid
from nst.report import sheets


def _config(**extra):
    return {"defaults": {"model": "vgg16-hed", "size": 64}, **extra}


def test_sweep_crosses_values_in_order_and_names_them_like_paramspace():
    config = _config(sweep={"style_weight": [0.1, 1, 10], "tv_weight": [0, 0.001]})
    table = grid.sweep_table(config)
    assert len(table) == 6
    assert table[0] == {"style_weight": 0.1, "tv_weight": 0}
    assert table[1] == {"style_weight": 0.1, "tv_weight": 0.001}
    assert table[-1] == {"style_weight": 10, "tv_weight": 0.001}
    names = [grid.sweep_name(p) for p in table]
    space = Paramspace(pd.DataFrame(table, dtype=object), filename_params="*")
    assert names == list(space.instance_patterns)
    assert names[0] == "style_weight~0.1_tv_weight~0"
    sets = grid.param_sets(config)
    assert list(sets) == names
    assert sets["style_weight~10_tv_weight~0.001"] == {
        "model": "vgg16-hed",
        "size": 64,
        "style_weight": 10,
        "tv_weight": 0.001,
    }
    assert grid.sweep_axes(config) == ["style_weight", "tv_weight"]


def test_sweep_and_named_sets_combine_and_the_set_axis_starts_from_named_sets():
    config = _config(
        params={"gatys": {"method": "gatys"}, "inet": {"method": "inetwork", "size": 96}},
        sweep={"set": ["gatys", "inet"], "style_weight": [1, 3]},
    )
    sets = grid.param_sets(config)
    assert list(sets)[:2] == ["gatys", "inet"]
    assert len(sets) == 2 + 4
    point = sets["set~inet_style_weight~3"]
    assert point["method"] == "inetwork" and point["size"] == 96 and point["style_weight"] == 3
    assert "set" not in point
    labels = grid.differing_values(sets)
    assert labels["set~inet_style_weight~3"]["style_weight"] == 3


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"style_wieght": [1, 2]}, "sweep.style_wieght: unknown setting"),
        ({"style_weight": []}, "sweep.style_weight must be a non-empty list"),
        ({"style_weight": 3}, "sweep.style_weight must be a non-empty list"),
        ({"style_weight": [1, 1]}, "lists a value twice"),
        ({"set": ["nope"]}, "sweep.set names nope"),
        ({"method": ["gatys", "picasso"]}, "sweep point method~picasso: unknown method"),
        ({"size": [16]}, "sweep point size~16: size 16 is too small"),
        ({"style_weight": [-1]}, "style-weight must be zero or positive"),
    ],
)
def test_bad_sweeps_are_errors_naming_the_key(sweep, message):
    with pytest.raises(SettingsError, match=message):
        grid.param_sets(_config(sweep=sweep))


def test_no_sets_and_no_sweep_is_an_error():
    with pytest.raises(SettingsError, match="under params or a sweep"):
        grid.param_sets(_config())


def _run(tmp_path, name, ssim, distance, colour=(200, 40, 40)):
    img = tmp_path / f"{name}.png"
    Image.new("RGB", (64, 48), colour).save(img)
    metrics = tmp_path / f"{name}.json"
    metrics.write_text(
        json.dumps(
            {
                "quality": {
                    "content_ssim": ssim,
                    "style_distance": distance,
                    "color_difference": 12.5,
                },
                "timings": {"total_seconds": 30.0},
                "final_loss": {"total": 1.0},
            }
        )
    )
    return sheets.Run.load("cat", "waves", name, img, metrics)


def test_sweep_sheet_lays_values_on_rows_and_columns(tmp_path):
    config = _config(sweep={"style_weight": [0.1, 1, 10], "tv_weight": [0, 0.01]})
    table = grid.sweep_table(config)
    points = {grid.sweep_name(p): p for p in table}
    runs = []
    for i, name in enumerate(points):
        shade = 40 + 30 * i
        runs.append(_run(tmp_path, name, 0.9 - 0.1 * i, 0.8 - 0.1 * i, (shade, shade, 255 - shade)))
    style = tmp_path / "style.png"
    Image.new("RGB", (50, 50), (0, 200, 0)).save(style)
    thumb = 64
    sheet = sheets.sweep_sheet(
        "cat", "waves", style, ["style_weight", "tv_weight"], points, runs, thumb=thumb
    )
    cell_w = thumb + 2 * sheets.PAD
    assert sheet.width == cell_w * 3  # header column + 2 tv values
    # each cell shows its own run's image: find the colour of every run on the sheet
    pixels = sheet.convert("RGB")
    colours = {
        tuple(pixels.getpixel((x, y))) for x in range(sheet.width) for y in range(sheet.height)
    }
    for i in range(6):
        shade = 40 + 30 * i
        assert (shade, shade, 255 - shade) in colours
    with pytest.raises(ValueError, match="one or two settings"):
        sheets.sweep_sheet("cat", "waves", style, ["a", "b", "c"], points, runs)


def test_wrap_breaks_between_words_and_never_drops_text():
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = ImageFont.load_default(size=11)
    text = "method=gatys preserve_color=luminance style_weight~0.1_tv_weight~0.001_more"
    lines = sheets.wrap(draw, text, font, 80)
    assert len(lines) > 2
    assert all(draw.textlength(line, font=font) <= 80 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert "method=gatys" in lines[0]  # words are kept whole where they fit
    assert not any(line.endswith("…") for line in lines)


def test_labels_compare_values_not_their_spelling():
    # a YAML 1 against 1.0 (given, or the library's default), a list against a tuple: the
    # same value, so no label; only the method differs
    sets = {
        "a": {"temporal_weight": 1, "style_layers": ["conv1_1", "conv2_1"], "method": "gatys"},
        "b": {"temporal_weight": 1.0, "style_layers": ("conv1_1", "conv2_1"), "method": "inetwork"},
        "c": {"temporal_weight": 1.0, "style_layers": ["conv1_1", "conv2_1"], "style_weight": 1},
    }
    labels = grid.differing_values(sets)
    assert labels == {
        "a": {"method": "gatys"},
        "b": {"method": "inetwork"},
        "c": {"method": "gatys"},
    }
    sets["c"]["style_layers"] = ["conv1_1"]
    assert grid.differing_values(sets)["c"] == {"method": "gatys", "style_layers": ["conv1_1"]}
