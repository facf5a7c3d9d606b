"""Sets of images given as files and folders, and the random crops feed-forward training sees.

:func:`collect_images` expands folders (their images, sorted; not recursive) and checks every
file; :class:`CropSampler` holds the training images in memory and draws each step's batch from
``np.random.default_rng([seed, step])``, so the data a step sees depends on the seed and the step
only, and a resumed training sees what an uninterrupted one would have.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nst import images
from nst.errors import ImageError, NSTError

# a crop covers between 1/MAX_SCALE and all of the image's shorter side (Johnson et al. resized
# COCO to 256 x 256; random scales and flips are the usual augmentation on a small set)
MAX_SCALE = 1.25


def collect_images(
    paths: Sequence[str | os.PathLike], what: str, log: Callable[[str], None]
) -> list[Path]:
    """The image files among ``paths``, folders expanded; every one is decoded once to check it.

    A file named directly must be a usable image (else :class:`ImageError`); inside a folder,
    files that are not are skipped with a warning, and a folder without any is an error.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise NSTError(f"give at least one {what} file or folder.")
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            _check(path, what)
            found.append(path)
            continue
        usable = []
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            if child.name.startswith("."):
                continue
            try:
                _check(child, what)
            except ImageError as exc:
                log(f"warning: skipping {child}: {exc}")
                continue
            usable.append(child)
        if not usable:
            raise NSTError(
                f"{what} folder {path} holds no usable image; put PNG or JPEG files in it."
            )
        found.extend(usable)
    return found


def _check(path: Path, what: str) -> None:
    im = images.open_image(path, what=what)
    images.check_size(im, path, what)


def _centre_squares(arrays, count: int, side: int | None, size: int) -> np.ndarray:
    """Centre squares of ``side`` px (None: the shorter side) of up to ``count`` of the arrays,
    evenly spaced in the list, resized to ``size``."""
    picks = np.unique(np.linspace(0, len(arrays) - 1, min(count, len(arrays))))
    out = []
    for i in picks.astype(int):
        image = arrays[i]
        h, w = image.shape[:2]
        s = min(h, w) if side is None else side
        y, x = (h - s) // 2, (w - s) // 2
        out.append(images.resize(image[y : y + s, x : x + s], (size, size)))
    return np.stack(out).astype(np.float32)


class CropSampler:
    """Batches of square random crops, randomly flipped, of a set of images.

    Every image is resized once so that its shorter side is ``MAX_SCALE * size``; a crop then
    takes a square of between ``size`` and that many pixels (a random scale in [1, MAX_SCALE])
    at a random place, resized to ``size``, and mirrored left-right half of the time.
    """

    def __init__(self, arrays: Sequence[np.ndarray], size: int, batch_size: int, seed: int):
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        shorter = round(MAX_SCALE * size)
        self.images = []
        for arr in arrays:
            h, w = arr.shape[:2]
            scale = shorter / min(h, w)
            shape = (max(shorter, round(h * scale)), max(shorter, round(w * scale)))
            self.images.append(images.resize(np.asarray(arr, np.float32), shape))

    def reference(self, count: int = 8) -> np.ndarray:
        """Centre crops of up to ``count`` of the images (evenly spaced in the list), at the
        training size: the contents a "start"-normalised style loss measures its scales on."""
        return _centre_squares(self.images, count, None, self.size)

    def batch(self, step: int) -> np.ndarray:
        """The (batch_size, size, size, 3) float32 batch of training step ``step``."""
        rng = np.random.default_rng([self.seed, step])
        out = np.empty((self.batch_size, self.size, self.size, 3), np.float32)
        for i in range(self.batch_size):
            image = self.images[rng.integers(len(self.images))]
            h, w = image.shape[:2]
            side = min(h, w, max(self.size, round(min(h, w) / rng.uniform(1.0, MAX_SCALE))))
            y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
            crop = images.resize(image[y : y + side, x : x + side], (self.size, self.size))
            out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
        return out


class PatchSampler:
    """Batches of square patches at the photographs' own scale: every image is resized once so
    that its shorter side is ``source`` pixels, and a patch is a square of between ``size`` and
    ``MAX_SCALE * size`` pixels at a random place, resized to ``size`` and mirrored half of the
    time. Decoders learn to invert features at the scale they will see them (a 512 px photo),
    not of whole images shrunk to a crop. Deterministic in the seed and the step."""

    def __init__(
        self, arrays: Sequence[np.ndarray], size: int, batch_size: int, seed: int, source: int
    ):
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.images = []
        for arr in arrays:
            h, w = arr.shape[:2]
            scale = max(source, size) / min(h, w)
            shape = (max(size, round(h * scale)), max(size, round(w * scale)))
            self.images.append(images.resize(np.asarray(arr, np.float32), shape))

    def reference(self, count: int = 8) -> np.ndarray:
        """Centre patches of up to ``count`` of the images (evenly spaced in the list)."""
        return _centre_squares(self.images, count, self.size, self.size)

    def batch(self, step: int) -> np.ndarray:
        """The (batch_size, size, size, 3) float32 batch of training step ``step``."""
        rng = np.random.default_rng([self.seed, step])
        out = np.empty((self.batch_size, self.size, self.size, 3), np.float32)
        for i in range(self.batch_size):
            image = self.images[rng.integers(len(self.images))]
            h, w = image.shape[:2]
            side = min(h, w, round(self.size * rng.uniform(1.0, MAX_SCALE)))
            y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
            patch = images.resize(image[y : y + side, x : x + side], (self.size, self.size))
            out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
        return out
