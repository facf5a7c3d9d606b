"""Quality figures (nst.quality), the normalised loss weights, and that the weights act."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_content, make_style
from scipy import ndimage

import nst
from nst import images, quality
from nst.errors import SettingsError
from nst.images import color
from nst.settings import TransferSettings

ROOT = Path(__file__).resolve().parents[1]


def test_ssim_of_an_image_with_itself_is_one_and_falls_with_damage():
    content = make_content(96, 128).astype(np.float32)
    assert quality.ssim(content, content) == pytest.approx(1.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = [np.clip(content + rng.normal(0, s, content.shape), 0, 255) for s in (5, 20, 60)]
    scores = [quality.ssim(n, content) for n in noisy]
    assert scores[0] > scores[1] > scores[2]
    assert scores[0] < 0.999 and scores[2] < 0.5
    # agrees with TensorFlow's SSIM (same window and constants, no border padding there)
    import tensorflow as tf

    y = color.rgb_to_luminance(content)
    blurred = ndimage.gaussian_filter(content, (3, 3, 0))
    for damaged in (*noisy, blurred):
        tf_ssim = float(
            tf.image.ssim(tf.constant(color.rgb_to_luminance(damaged)), tf.constant(y), 255.0)
        )
        assert quality.ssim(damaged, content) == pytest.approx(tf_ssim, abs=0.03)
    # the same image brightened keeps its structure better than noise of similar size hurts it
    assert quality.ssim(np.clip(content + 20, 0, 255), content) > scores[1]
    with pytest.raises(ValueError, match="one size"):
        quality.ssim(content, content[:-1])


def test_color_difference_counts_chroma_not_brightness():
    content = make_content(64, 64).astype(np.float32)
    assert quality.color_difference(content, content) == 0.0
    grey = np.repeat(content.mean(-1, keepdims=True), 3, -1)
    brighter = np.clip(content * 0.6 + 40, 0, 255)
    # a grey version loses all chroma; a darker/brighter version keeps most of it
    assert quality.color_difference(grey, content) > 10
    assert quality.color_difference(brighter, content) < quality.color_difference(grey, content)
    yellow = np.full((8, 8, 3), (255, 255, 0), np.float32)
    blue = np.full((8, 8, 3), (0, 0, 255), np.float32)
    iq = color.rgb_to_yiq(yellow)[0, 0, 1:] - color.rgb_to_yiq(blue)[0, 0, 1:]
    assert quality.color_difference(yellow, blue) == pytest.approx(np.hypot(*iq), rel=1e-5)


def test_style_distance_is_one_for_the_content_and_near_zero_for_the_style():
    content = make_content(96, 128).astype(np.float32)
    style = make_style("red", 128).astype(np.float32)
    meter = quality.QualityMeter(content, [style])
    assert meter.style_distance(content) == pytest.approx(1.0, abs=1e-6)
    # the style itself, at the output size, matches its own statistics
    as_output = images.resize(style, content.shape[:2])
    assert meter.style_distance(as_output) < 0.15
    # halfway between content and style lies between the two
    mix = 0.5 * content + 0.5 * as_output
    assert 0.15 < meter.style_distance(mix) < 1.0
    figures = meter.measure(content)
    assert figures == {
        "content_ssim": 1.0,
        "style_distance": 1.0,
        "color_difference": 0.0,
        "palette_distance": 1.0,
        "texture_distance": 1.0,
    }


def test_outputs_larger_than_the_measuring_side_are_measured_shrunk(monkeypatch):
    monkeypatch.setattr(quality, "MEASURE_SIDE", 64)
    content = make_content(96, 128).astype(np.float32)
    style = make_style("red", 128).astype(np.float32)
    output = 0.6 * content + 0.4 * images.resize(style, content.shape[:2])
    shrunk = images.resize_longest(output, 64)
    assert shrunk.shape[:2] == (48, 64)
    big, small = (
        quality.measure(output, content, [style]),
        quality.measure(shrunk, content, [style]),
    )
    assert big == small
    meter = quality.QualityMeter(content, [style])
    assert meter.style_distance(output) == meter.style_distance(shrunk)
    monkeypatch.setattr(quality, "MEASURE_SIDE", 1024)
    assert quality.measure(output, content, [style]) != small  # at its own size otherwise


def test_palette_and_texture_judge_the_style_apart_from_the_loss_network():
    """The independent figures: the content recoloured with the style's colours takes the
    palette but not the texture; the style's texture in the content's colours the reverse;
    the style itself both."""
    content = make_content(96, 128).astype(np.float32)
    style = make_style("red", 128).astype(np.float32)
    meter = quality.QualityMeter(content, [style])
    itself = style[:96]  # the style at the output's size, unstretched
    recoloured = color.match_color_histogram(content, style)
    strokes = color.rgb_to_luminance(itself).repeat(3, axis=-1)
    textured = content + 0.8 * (strokes - strokes.mean())  # the strokes in the content's colours
    mix = 0.5 * content + 0.5 * itself
    same, palette_only, texture_only, half = (
        meter.measure(np.clip(x, 0, 255)) for x in (itself, recoloured, textured, mix)
    )
    assert same["palette_distance"] < 0.1 and same["texture_distance"] < 0.1
    assert palette_only["palette_distance"] < 0.3 and palette_only["texture_distance"] > 0.9
    assert texture_only["texture_distance"] < 0.8 and texture_only["palette_distance"] > 0.9
    assert 0.3 < half["palette_distance"] < 0.7 and 0.3 < half["texture_distance"] < 0.7


def test_lab_of_known_colours():
    lab = color.rgb_to_lab(np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], np.float32))
    np.testing.assert_allclose(lab[0, 0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[0, 1], [0, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[0, 2], [53.24, 80.09, 67.20], atol=0.1)


def test_two_styles_weighted_by_blend():
    content = make_content(64, 64).astype(np.float32)
    red = make_style("red", 64).astype(np.float32)
    blue = make_style("blue", 64, seed=1).astype(np.float32)
    only_red = quality.QualityMeter(content, [red, blue], [1.0, 0.0])
    assert only_red.style_distance(red) < 0.15
    assert only_red.style_distance(blue) > 0.5
    even = quality.QualityMeter(content, [red, blue], [1.0, 1.0])
    assert even.style_distance(red) == pytest.approx(
        0.5 * only_red.style_distance(red)
        + 0.5 * quality.QualityMeter(content, [blue]).style_distance(red),
        rel=1e-5,
    )


def test_normalised_terms_start_at_one_for_every_method_and_size(sample_images):
    """With "start" normalisation (the default) the style term is exactly 1 at the content for
    every method and size (each gatys layer's term, inetwork's whole weighted term); with "layer"
    each term is relative to its target's energy and near 1 from a wholly unlike start; the tv
    term is 1 at the content; the raw terms differ by orders of magnitude between sizes and
    methods."""
    from nst.engine.driver import build_objective

    content = images.load_image(sample_images["content"])
    style = images.load_image(sample_images["red"])
    starts = {}
    for method in ("gatys", "inetwork"):
        for size in (64, 128):
            for normalize in ("start", "layer", "none"):
                s = TransferSettings(
                    model="vgg16-hed", method=method, size=size, normalize=normalize
                )
                shape = images.target_shape(*content.shape[:2], size)
                objective, problem = build_objective(s, content, [style], shape)
                at_content = objective(problem.content)
                starts[method, size, normalize] = float(at_content["style"])
                if normalize != "none":
                    assert float(at_content["content"]) == 0.0
                    assert float(at_content["tv"]) == pytest.approx(1.0, rel=1e-4)
                if normalize == "layer":
                    assert 0.3 < float(at_content["style"]) < 3.0
                if normalize == "start":
                    assert float(at_content["style"]) == pytest.approx(1.0, rel=1e-4)
                    scales = objective.style.scales[0]
                    if method == "gatys":  # one scale per layer: each starts at 1
                        assert len(set(scales)) == len(scales)
                    else:  # one for the whole term: the geometric weights on the raw balance
                        assert len(set(scales)) == 1
    raw = [v for (_m, _s, n), v in starts.items() if n == "none"]
    assert max(raw) / min(raw) > 100
    with pytest.raises(SettingsError, match="normalize"):
        TransferSettings(normalize="energy")


def test_start_normalisation_of_a_style_that_is_the_content_stays_finite(sample_images):
    """The content's distance to itself is 0: the scales are floored, the loss is finite, and
    the content is already the optimum (style and content terms 0)."""
    from nst.engine.driver import build_objective

    content = images.load_image(sample_images["content"])
    s = TransferSettings(model="vgg16-hed", size=64)
    shape = images.target_shape(*content.shape[:2], 64)
    objective, problem = build_objective(s, content, [content], shape)
    values = objective(problem.content)
    assert np.isfinite(objective.style.scales[0]).all()
    assert float(values["style"]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_style_weight_one_is_balanced_for_both_methods_and_pale_styles():
    """Weight 1 means "balanced" whatever the method and pair: on the project's own photos and
    a bold and a pale style, gatys and inetwork move the structure and the palette (judged by
    figures no loss minimises) by similar amounts. With inetwork's geometric weights on terms
    that each start at 1 (``--normalize layer``), its palette hardly moves at weight 1."""
    root = ROOT / "resources/images"
    pairs = (("chelsea.jpg", "brushstrokes.png"), ("astronaut.jpg", "ihc.jpg"))
    judged = {}
    for content_name, style_name in pairs:
        content = images.load_image(root / "content" / content_name)
        style = images.load_image(root / "style" / style_name)
        meter = quality.QualityMeter(content, [style])
        figures = {}
        for method, normalize in (("gatys", "start"), ("inetwork", "start"), ("inetwork", "layer")):
            out, _ = nst.transfer(
                content,
                [style],
                model="vgg16-hed",
                method=method,
                normalize=normalize,
                size=96,
                iterations=40,
                print_every=0,
                log=lambda _m: None,
            )
            figures[method, normalize] = meter.measure(out)
        judged[style_name] = figures
        gatys, inetwork = figures["gatys", "start"], figures["inetwork", "start"]
        for f in (gatys, inetwork):
            assert 0.25 < f["content_ssim"] < 0.8, (style_name, figures)
            assert f["palette_distance"] < 0.9, (style_name, figures)
        assert abs(gatys["content_ssim"] - inetwork["content_ssim"]) < 0.2, figures
        assert abs(gatys["palette_distance"] - inetwork["palette_distance"]) < 0.2, figures
    # chelsea x brushstrokes: per-layer terms leave inetwork's palette where it was
    bold = judged["brushstrokes.png"]
    assert bold["inetwork", "layer"]["palette_distance"] > 0.9, bold
    assert (
        bold["inetwork", "layer"]["palette_distance"]
        > bold["inetwork", "start"]["palette_distance"] + 0.25
    ), bold


@pytest.mark.slow
def test_style_weight_acts_monotonically_across_its_documented_range(sample_images):
    """The documented range 0.1 .. 10 goes from the content with a hint of the style to the
    style's texture: content SSIM falls and the style distance falls, by a wide margin."""
    content = images.load_image(sample_images["content"])
    style = images.load_image(sample_images["red"])
    meter = quality.QualityMeter(content, [style])
    figures = []
    for weight in (0.1, 0.3, 1.0, 3.0, 10.0):
        out, record = nst.transfer(
            content,
            [style],
            model="vgg16-hed",
            size=96,
            iterations=40,
            style_weight=weight,
            print_every=0,
            log=lambda _m: None,
        )
        figures.append(meter.measure(out))
        assert record.quality == figures[-1]
    ssim = [f["content_ssim"] for f in figures]
    dist = [f["style_distance"] for f in figures]
    assert all(b < a for a, b in zip(ssim[:-1], ssim[1:], strict=True)), ssim
    assert all(b < a for a, b in zip(dist[:-1], dist[1:], strict=True)), dist
    assert ssim[0] > 0.7 and ssim[-1] < 0.35, ssim
    assert dist[0] > 0.5 and dist[-1] < 0.2, dist
