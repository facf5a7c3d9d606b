"""Every image mode Pillow reads ends up as upright 8-bit RGB."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst import images
from nst.errors import ImageError


def _save(tmp_path, im, name, **kw):
    path = tmp_path / name
    im.save(path, **kw)
    return path


def test_modes(tmp_path):
    rgba = Image.new("RGBA", (40, 36), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 20, 36))
    arr = images.load_image(_save(tmp_path, rgba, "a.png"))
    assert arr.shape == (36, 40, 3)
    assert tuple(arr[0, 0]) == (0, 0, 255) and tuple(arr[0, 39]) == (255, 255, 255)  # on white

    la = Image.new("LA", (40, 40), (100, 255))
    assert tuple(images.load_image(_save(tmp_path, la, "la.png"))[5, 5]) == (100, 100, 100)

    p = Image.new("P", (40, 40))
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p.paste(1, (0, 0, 40, 40))
    assert tuple(images.load_image(_save(tmp_path, p, "p.png"))[0, 0]) == (10, 200, 30)

    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red
    red = images.load_image(_save(tmp_path, cmyk, "c.jpg", quality=100))[10, 10]
    assert red[0] > 240 and red[1] < 15 and red[2] < 15

    sixteen = Image.fromarray(np.full((40, 40), 65535, np.uint16))
    assert images.load_image(_save(tmp_path, sixteen, "g16.png"))[0, 0, 0] == 255
    half = Image.fromarray(np.full((40, 40), 32896, np.uint16))
    assert images.load_image(_save(tmp_path, half, "h16.png"))[0, 0, 0] == 128

    grey = Image.new("L", (40, 40), 77)
    assert tuple(images.load_image(_save(tmp_path, grey, "l.png"))[0, 0]) == (77, 77, 77)


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (60, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 10, 10))  # white block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = rotate 90 degrees clockwise
    path = _save(tmp_path, im, "rot.jpg", exif=exif, quality=100)
    arr = images.load_image(path)
    assert arr.shape == (60, 40, 3)  # portrait once upright
    assert arr[2, 37].mean() > 200 and arr[2, 2].mean() < 50  # block moved to the top-right


def test_resize_keeps_aspect_and_save_is_atomic(tmp_path):
    arr = np.zeros((50, 100, 3), np.float32)
    assert images.resize_longest(arr, 64).shape == (32, 64, 3)
    assert images.target_shape(50, 100, None) == (50, 100)
    out = images.save_image(arr, tmp_path / "o.png")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_pixel_bomb_is_refused(tmp_path, monkeypatch):
    path = _save(tmp_path, Image.new("L", (400, 400)), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageError, match="pixel limit"):
        images.open_image(path)
