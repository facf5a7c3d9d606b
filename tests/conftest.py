"""Shared fixtures: small procedural content and style images (deterministic, no downloads), and
for the dataset tests a real HTTP server on 127.0.0.1 with a fetch_dataset bound to tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pytest
from dataset_run import Run
from http_fixtures import FixtureServer, png_bytes
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# subprocesses (snakemake and its scripts, `python -m nst`) import this checkout's nst, not
# whatever an editable install elsewhere points at (git worktrees share one virtualenv)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p
)


def make_content(h: int = 72, w: int = 96) -> np.ndarray:
    """A 'photo': smooth background gradient with a few solid shapes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([60 + 120 * x / w, 90 + 100 * y / h, 160 - 60 * x / w], axis=-1)
    disc = (x - w * 0.35) ** 2 + (y - h * 0.5) ** 2 < (h * 0.25) ** 2
    img[disc] = (230, 200, 40)
    img[int(h * 0.2) : int(h * 0.6), int(w * 0.6) : int(w * 0.85)] = (40, 60, 70)
    return img.astype(np.uint8)


def make_style(kind: str, size: int = 96, seed: int = 0) -> np.ndarray:
    """Strongly textured 'paintings': red diagonal strokes or blue dots."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "red":
        stripes = (np.sin((x + y) * 0.7) > 0).astype(np.float32)
        img = np.stack([200 + 50 * stripes, 40 + 120 * stripes, 30 + 20 * stripes], -1)
    else:
        dots = (np.sin(x * 0.9) * np.sin(y * 0.9) > 0.3).astype(np.float32)
        img = np.stack([20 + 30 * dots, 50 + 150 * dots, 120 + 130 * dots], -1)
    img = img + rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory):
    """Paths of a content image and two style images, written once per session."""
    d = tmp_path_factory.mktemp("samples")
    paths = {
        "content": d / "content.png",
        "red": d / "style_red.png",
        "blue": d / "style_blue.png",
    }
    Image.fromarray(make_content()).save(paths["content"])
    Image.fromarray(make_style("red")).save(paths["red"])
    Image.fromarray(make_style("blue", seed=1)).save(paths["blue"])
    return paths


@pytest.fixture
def server(monkeypatch):
    # A proxy configured in the environment must not intercept requests to the local server.
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    with FixtureServer() as srv:
        yield srv


@pytest.fixture
def style_file(tmp_path):
    """A local style image, so that tests about content URLs have a non-empty style role."""
    path = tmp_path / "local" / "style.png"
    path.parent.mkdir()
    path.write_bytes(png_bytes(999))
    return str(path)


@pytest.fixture
def run(tmp_path):
    return Run(tmp_path)
