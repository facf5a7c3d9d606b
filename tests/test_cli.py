"""The command line: a real run, and every kind of bad input ending in one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nst.cli.main import main

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


def _stderr_on_a_terminal(argv: list[str]) -> str:
    """What ``python -m nst ARGV`` writes to stderr when stderr is a terminal (100 columns)."""
    import fcntl
    import struct
    import termios

    main_fd, term_fd = os.openpty()
    fcntl.ioctl(term_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "NST_PROGRESS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=term_fd,
        env=env,
    )
    os.close(term_fd)
    out = b""
    try:
        while True:
            if select.select([main_fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:  # EIO: the process closed its end
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)
    return out.decode(errors="replace")


PROGRESS = ["--model", "vgg16-hed", "--size", "64", "--iterations", "12", "--print-every", "5"]


def test_transfer_shows_a_bar_on_a_terminal_and_plain_lines_elsewhere(
    sample_images, tmp_path, capsys
):
    c, s = str(sample_images["content"]), str(sample_images["red"])
    # on a terminal: one bar over the 12 iterations, with rate, ETA and loss; the plain lines
    # are written above it, unchanged
    err = _stderr_on_a_terminal(["transfer", c, s, "-o", str(tmp_path / "t.png"), *PROGRESS])
    bars = [part for part in re.split(r"[\r\n]+", err) if part.startswith("transfer:")]
    assert bars and bars[-1].startswith("transfer: 100%|") and "12/12 [" in bars[-1]
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+(it/s|s/it), loss=", bars[-1])
    assert re.search(r"\niter +12/12  total ", err.replace("\r", "\n"))
    assert "done: 12 iterations" in err
    # not a terminal (a log, a pipe): today's lines only, no bar
    assert main(["transfer", c, s, "-o", str(tmp_path / "p.png"), *PROGRESS]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("iter")]
    assert [ln.split()[1] for ln in lines] == ["1/12", "5/12", "10/12", "12/12"]
    assert "\r" not in err and "it/s" not in err and "%|" not in err


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
