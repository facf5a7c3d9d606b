"""The command line: a real run, and every kind of bad input ending in one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nst.cli import main

FAST = ["--model", "vgg16-hed", "--size", "64", "--iterations", "5", "--print-every", "0"]


def test_transfer_writes_image_and_metrics(sample_images, tmp_path, capsys):
    out, metrics = tmp_path / "out.jpg", tmp_path / "m.json"
    rc = main(
        [
            "transfer",
            str(sample_images["content"]),
            str(sample_images["red"]),
            str(sample_images["blue"]),
            "-o",
            str(out),
            "--metrics",
            str(metrics),
            "--style-blend-weights",
            "3",
            "1",
            "--method",
            "inetwork",
            *FAST,
        ]
    )
    assert rc == 0
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (64, 48)
    m = json.loads(metrics.read_text())
    assert m["settings"]["method"] == "inetwork"
    assert m["settings"]["style_blend_weights"] == [3.0, 1.0]
    assert len(m["inputs"]["styles"]) == 2
    assert "done:" in capsys.readouterr().err


@pytest.fixture
def bad_inputs(tmp_path, sample_images):
    corrupt = tmp_path / "corrupt.jpg"
    data = (sample_images["content"]).read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    html = tmp_path / "page.jpg"
    html.write_text("<html><body>404 not found</body></html>")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((20, 100, 3), np.uint8)).save(tiny)
    return {"corrupt": corrupt, "html": html, "tiny": tiny}


def _cases(s, b, tmp):
    c, r, blue = str(s["content"]), str(s["red"]), str(s["blue"])
    return {
        "missing": ([str(tmp / "nope.png"), r], "not found: "),
        "corrupt": ([str(b["corrupt"]), r], "truncated or corrupt"),
        "html": ([c, str(b["html"])], "not an image Pillow can decode"),
        "small": ([str(b["tiny"]), r], "at least 32 px"),
        "size0": ([c, r, "--size", "0"], "must be a positive number"),
        "size-neg": ([c, r, "--size", "-5"], "must be a positive number"),
        "layer": ([c, r, "--style-layers", "conv1_1,conv9_9"], "valid layers are conv1_1"),
        "content-layer": ([c, r, "--content-layers", "relu4_2"], "unknown content layer"),
        "blend": ([c, r, blue, "--style-blend-weights", "1"], "one per style"),
        "model": ([c, r, "--model", "resnet"], "invalid choice: 'resnet'"),
        "init": ([c, r, "--init", "sparkles"], "neither one of content"),
        "output": ([c, r, "-o", str(tmp / "out.xyz")], "image format"),
        "overflow": ([c, r, "--style-weight", "1e39"], "the loss is not finite at the start"),
    }


CASES = [
    "missing",
    "corrupt",
    "html",
    "small",
    "size0",
    "size-neg",
    "layer",
    "content-layer",
    "blend",
    "model",
    "init",
    "output",
    "overflow",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_nothing_written(
    case, sample_images, bad_inputs, tmp_path, capsys
):
    args, expected = _cases(sample_images, bad_inputs, tmp_path)[case]
    out = tmp_path / "out.png"
    # every case but "model" stays on the offline model, so no case touches the network
    argv = ["transfer", *args, *(FAST[2:] if case == "model" else FAST)]
    if "-o" not in args:
        argv += ["-o", str(out), "--metrics", str(tmp_path / "m.json")]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert expected in err[-1]
    assert err[-1].startswith("nst")
    leftovers = sorted(
        p.name for p in tmp_path.iterdir() if p.name not in {"corrupt.jpg", "page.jpg", "tiny.png"}
    )
    assert leftovers == []


def test_models_lists_layers(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "vgg19: conv1_1 conv1_2" in out and "conv5_4" in out
