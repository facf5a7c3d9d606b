"""Regenerate the embedded default dataset under resources/images/ (run from the repository root).

Content and two style images are small copies of public-domain / CC0 photographs that ship with
scikit-image (see resources/ATTRIBUTION.md); two more style images are painted here from a fixed
seed, so that stylisation is clearly visible. Needs Pillow and numpy (and scikit-image for the
copies); the output is the same bytes on every run with the same library versions.

    python resources/make_images.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
OUT = HERE / "images"
LONGEST_SIDE = 320
JPEG_QUALITY = 88

# (scikit-image data file, role, output name)
COPIES = [
    ("astronaut.png", "content", "astronaut"),
    ("chelsea.png", "content", "chelsea"),
    ("coffee.png", "content", "coffee"),
    ("rocket.jpg", "content", "rocket"),
    ("ihc.png", "style", "ihc"),
    ("hubble_deep_field.jpg", "style", "hubble"),
]

# A warm/cool palette loosely after late-19th-century painting.
PALETTE = np.array(
    [
        (22, 45, 112),
        (40, 89, 170),
        (92, 151, 214),
        (236, 204, 84),
        (244, 160, 46),
        (206, 80, 40),
        (246, 236, 196),
        (46, 110, 78),
    ],
    dtype=np.float64,
)


def _save_jpeg(im: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=JPEG_QUALITY, optimize=True)


def copy_skimage_images() -> None:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise SystemExit("scikit-image is not installed; pip install scikit-image to copy photos.")
    data_dir = Path(spec.origin).parent / "data"
    for filename, role, name in COPIES:
        with Image.open(data_dir / filename) as im:
            im = im.convert("RGB")
            im.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
            _save_jpeg(im, OUT / role / f"{name}.jpg")


def brushstrokes(size: int = 320, seed: int = 7) -> Image.Image:
    """Short thick strokes that follow a swirling flow field, on a two-colour gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    sky = PALETTE[1] * (1 - y[..., None]) + PALETTE[0] * y[..., None]
    im = Image.fromarray(sky.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    centres = rng.uniform(0.2, 0.8, size=(3, 2))
    for _ in range(2600):
        px, py = rng.uniform(0, 1, size=2)
        angle = np.pi / 2
        for cx, cy in centres:
            angle += np.arctan2(py - cy, px - cx) + np.pi / 2
        angle += 0.6 * np.sin(6 * px) * np.cos(5 * py)
        length = rng.uniform(0.02, 0.06)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        base = PALETTE[rng.choice(len(PALETTE), p=[0.2, 0.2, 0.15, 0.12, 0.1, 0.06, 0.1, 0.07])]
        colour = np.clip(base + rng.normal(0, 14, size=3), 0, 255).astype(int)
        draw.line(
            [((px - dx) * size, (py - dy) * size), ((px + dx) * size, (py + dy) * size)],
            fill=tuple(int(c) for c in colour),
            width=int(rng.integers(3, 7)),
        )
    return im.filter(ImageFilter.SMOOTH)


def mosaic(size: int = 320, cells: int = 240, seed: int = 11) -> Image.Image:
    """Voronoi tiles in saturated colours with dark grout, like a glass or stone mosaic."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, size=(cells, 2))
    colours = PALETTE[rng.integers(0, len(PALETTE), size=cells)]
    colours = np.clip(colours + rng.normal(0, 18, size=colours.shape), 0, 255)
    y, x = np.mgrid[0:size, 0:size]
    points = np.stack([x.ravel(), y.ravel()], axis=1).astype(np.float64)
    dist = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(dist, axis=1)[:, :2]
    d0 = np.sqrt(np.take_along_axis(dist, nearest[:, :1], axis=1))[:, 0]
    d1 = np.sqrt(np.take_along_axis(dist, nearest[:, 1:2], axis=1))[:, 0]
    rgb = colours[nearest[:, 0]]
    shade = 0.85 + 0.15 * np.clip(1 - d0 / 14, 0, 1)
    rgb = rgb * shade[:, None]
    grout = (d1 - d0) < 1.6
    rgb[grout] = (34, 28, 24)
    return Image.fromarray(rgb.reshape(size, size, 3).astype(np.uint8), "RGB")


def main() -> None:
    copy_skimage_images()
    (OUT / "style").mkdir(parents=True, exist_ok=True)
    brushstrokes().save(OUT / "style" / "brushstrokes.png", optimize=True)
    mosaic().save(OUT / "style" / "mosaic.png", optimize=True)
    for path in sorted(OUT.rglob("*.*")):
        print(f"{path.relative_to(HERE)}  {path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
