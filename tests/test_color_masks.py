"""Colour preservation (Gatys et al. 2016) and masked / regional transfer, measured on numbers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst
from nst import images
from nst.cli.main import main
from nst.images import color

pytestmark = pytest.mark.slow

# raw terms with a dominant style, as in test_engine.py: these tests measure where the style goes
FAST = dict(
    model="vgg16-hed",
    size=64,
    print_every=0,
    threads=2,
    normalize="none",
    style_weight=10.0,
    tv_weight=1e-3,
)


def quiet(_msg):
    pass


def chroma_error(out: np.ndarray, content: np.ndarray) -> float:
    """Mean |IQ(out) - IQ(content)| over pixels that were not clipped to 0 or 255."""
    ok = ((out > 0) & (out < 255)).all(axis=-1)
    diff = np.abs(color.rgb_to_yiq(out)[..., 1:] - color.rgb_to_yiq(content)[..., 1:])
    assert ok.mean() > 0.5  # most pixels are comparable
    return float(diff[ok].mean())


@pytest.mark.parametrize("mode", ["luminance", "chroma"])
def test_output_keeps_the_content_chroma(sample_images, mode):
    out, rec = nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=quiet,
        preserve_color=mode,
        iterations=25,
        **FAST,
    )
    content = images.resize_longest(images.load_image(sample_images["content"]), 64)
    assert chroma_error(out.astype(np.float32), content) < 1.0  # rounding to 8 bits only
    assert rec.final["style"] < rec.initial["style"] / 10
    # the luminance did change: the picture is stylised, not a copy
    y_out = color.rgb_to_luminance(out.astype(np.float32))
    assert np.abs(y_out - color.rgb_to_luminance(content)).mean() > 5
    # without preservation the red style's chroma takes over
    plain, _ = nst.transfer(
        sample_images["content"], sample_images["red"], log=quiet, iterations=25, **FAST
    )
    assert chroma_error(plain.astype(np.float32), content) > 5


def test_luminance_matching_and_histogram_matching_statistics(sample_images):
    content = images.load_image(sample_images["content"])
    style = images.load_image(sample_images["red"])
    matched = color.match_luminance(color.rgb_to_luminance(style), color.rgb_to_luminance(content))
    y = color.rgb_to_luminance(content)
    assert matched.mean() == pytest.approx(y.mean(), rel=1e-4)
    assert matched.std() == pytest.approx(y.std(), rel=1e-4)

    recoloured = color.match_color_histogram(style, content)
    c = content.reshape(-1, 3).astype(np.float64)
    r = recoloured.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(r.mean(0), c.mean(0), atol=1e-2)
    np.testing.assert_allclose(
        np.cov(r, rowvar=False), np.cov(c, rowvar=False), rtol=1e-3, atol=1e-2
    )
    # and it really changed the style (its red cast is gone)
    assert abs(style[..., 0].mean() - recoloured[..., 0].mean()) > 20


def test_histogram_mode_runs_with_the_recoloured_style(sample_images):
    out, rec = nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=quiet,
        preserve_color="histogram",
        iterations=25,
        **FAST,
    )
    content = images.resize_longest(images.load_image(sample_images["content"]), 64)
    plain_style_red = images.load_image(sample_images["red"])[..., 0].mean()
    assert rec.final["style"] < rec.initial["style"] / 10
    # the output's colours follow the content, not the red style
    assert abs(out[..., 0].mean() - content[..., 0].mean()) < abs(
        plain_style_red - content[..., 0].mean()
    )


def half_mask(path, shape=(48, 64), left_white=True):
    m = np.zeros(shape, np.uint8)
    if left_white:
        m[:, : shape[1] // 2] = 255
    else:
        m[:, shape[1] // 2 :] = 255
    Image.fromarray(m).save(path)
    return path


def test_style_mask_restricts_the_style_to_its_half(sample_images, tmp_path):
    mask = half_mask(tmp_path / "left.png")
    out, _ = nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=quiet,
        style_masks=(str(mask),),
        iterations=30,
        **FAST,
    )
    content = images.resize_longest(images.load_image(sample_images["content"]), 64)
    diff = np.abs(out.astype(np.float32) - content).mean(axis=(0, 2))
    styled, kept = diff[:28].mean(), diff[36:].mean()  # leave out the seam's receptive field
    assert styled > 4 * kept, (styled, kept)


def test_two_styles_each_dominate_their_region(sample_images, tmp_path):
    from test_engine import style_distance

    left = half_mask(tmp_path / "left.png")
    right = half_mask(tmp_path / "right.png", left_white=False)
    out, _ = nst.transfer(
        sample_images["content"],
        [sample_images["red"], sample_images["blue"]],
        log=quiet,
        style_masks=(str(left), str(right)),
        iterations=40,
        **FAST,
    )
    red = images.load_image(sample_images["red"])
    blue = images.load_image(sample_images["blue"])
    left_half, right_half = out[:, :32].astype(np.float32), out[:, 32:].astype(np.float32)
    assert style_distance(left_half, red) < style_distance(left_half, blue)
    assert style_distance(right_half, blue) < style_distance(right_half, red)


def test_content_mask_keeps_the_masked_out_half(sample_images, tmp_path):
    mask = half_mask(tmp_path / "right.png", left_white=False)
    lines = []
    out, _ = nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=lines.append,
        content_mask=str(mask),
        iterations=30,
        **FAST,
    )
    content = images.resize_longest(images.load_image(sample_images["content"]), 64)
    diff = np.abs(out.astype(np.float32) - content).mean(axis=(0, 2))
    assert diff[36:].mean() > 4 * diff[:28].mean()
    assert not any("warning" in ln for ln in lines)  # same aspect: no warning


def test_mask_of_another_size_is_resized_with_a_warning(sample_images, tmp_path):
    mask = half_mask(tmp_path / "square.png", shape=(80, 80))
    lines = []
    nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=lines.append,
        style_masks=(str(mask),),
        iterations=2,
        **FAST,
    )
    warnings = [ln for ln in lines if ln.startswith("warning")]
    assert len(warnings) == 1 and "stretched" in warnings[0] and "square.png" in warnings[0]


@pytest.mark.parametrize("case", ["unreadable", "count", "black"])
def test_bad_masks_exit_2_naming_the_file(case, sample_images, tmp_path, capsys):
    c, r = str(sample_images["content"]), str(sample_images["red"])
    if case == "unreadable":
        bad = tmp_path / "mask.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
        extra, name = ["--style-masks", str(bad)], "mask.png"
    elif case == "count":
        m = half_mask(tmp_path / "m.png")
        extra, name = ["--style-masks", str(m), str(m)], "2 style masks for 1 style"
    else:
        black = tmp_path / "black.png"
        Image.fromarray(np.zeros((48, 64), np.uint8)).save(black)
        extra, name = ["--content-mask", str(black)], "black.png"
    out = tmp_path / "out.png"
    rc = main(
        [
            "transfer",
            c,
            r,
            "-o",
            str(out),
            "--model",
            "vgg16-hed",
            "--size",
            "64",
            "--iterations",
            "2",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and name in err[-1] and err[-1].startswith("nst: error:")
    assert not out.exists()


def test_color_transfer_and_mask_blend_commands(sample_images, tmp_path):
    stylised_path = tmp_path / "stylised.png"
    nst.transfer_files(
        sample_images["content"],
        [sample_images["red"]],
        stylised_path,
        log=quiet,
        iterations=10,
        **FAST,
    )
    stylised = images.load_image(stylised_path)
    content = images.resize(images.load_image(sample_images["content"]), stylised.shape[:2])
    mask = half_mask(tmp_path / "left.png")

    out = tmp_path / "recoloured.png"
    assert (
        main(["color-transfer", str(stylised_path), str(sample_images["content"]), "-o", str(out)])
        == 0
    )
    assert chroma_error(images.load_image(out), content) < 1.0

    out_masked = tmp_path / "recoloured_left.png"
    assert (
        main(
            [
                "color-transfer",
                str(stylised_path),
                str(sample_images["content"]),
                "-o",
                str(out_masked),
                "--mask",
                str(mask),
            ]
        )
        == 0
    )
    rec = images.load_image(out_masked)
    np.testing.assert_array_equal(rec[:, 40:], stylised[:, 40:])  # untouched outside the mask
    assert chroma_error(rec[:, :24], content[:, :24]) < 1.0

    blended = tmp_path / "blend.png"
    assert (
        main(
            [
                "mask-blend",
                str(stylised_path),
                str(sample_images["content"]),
                str(mask),
                "-o",
                str(blended),
            ]
        )
        == 0
    )
    b = images.load_image(blended)
    np.testing.assert_array_equal(b[:, :30], stylised[:, :30])
    assert np.abs(b[:, 34:] - np.rint(content[:, 34:])).max() <= 1
