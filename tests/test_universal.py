"""Universal (any-style) transfer: feature transforms, decoders, their training, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nst.errors import NSTError, SettingsError
from nst.universal import transforms
from nst.universal.transforms import FeatureStats

ROOT = Path(__file__).resolve().parents[1]


def features(seed: int, n: int = 4000, c: int = 16, scale: float = 1.0) -> np.ndarray:
    """Correlated, non-negative (ReLU-like) features of n positions and c channels."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(c, c)) * scale
    f = np.maximum(rng.normal(size=(n, c)) @ mix + rng.normal(size=c), 0.0)
    return f.reshape(40, n // 40, c).astype(np.float32)


def covariance(f: np.ndarray) -> np.ndarray:
    x = f.reshape(-1, f.shape[-1]).astype(np.float64)
    x = x - x.mean(axis=0)
    return x.T @ x / len(x)


def test_wct_gives_the_style_its_covariance_and_mean_exactly():
    content, style = features(0), features(1, n=2400, scale=2.0)
    out = transforms.transform(content, [FeatureStats.of(style)])
    assert out.shape == content.shape and out.dtype == np.float32
    np.testing.assert_allclose(
        covariance(out), covariance(style), atol=1e-3 * covariance(style).max()
    )
    np.testing.assert_allclose(
        out.reshape(-1, 16).mean(0), style.reshape(-1, 16).mean(0), atol=1e-3
    )
    # the content's arrangement stays: the output correlates with the content position by position
    corr = np.corrcoef(out[..., 0].ravel(), content[..., 0].ravel())[0, 1]
    assert abs(corr) > 0.3


def test_adain_matches_per_channel_mean_and_deviation_only():
    content, style = features(0), features(1, n=2400, scale=2.0)
    out = transforms.transform(content, [FeatureStats.of(style)], kind="adain")
    flat, target = out.reshape(-1, 16), style.reshape(-1, 16)
    np.testing.assert_allclose(flat.mean(0), target.mean(0), atol=1e-3)
    np.testing.assert_allclose(flat.std(0), target.std(0), rtol=1e-3, atol=1e-4)
    # the cross-channel covariance is not the style's (that is what wct adds)
    off = ~np.eye(16, dtype=bool)
    assert np.abs(covariance(out) - covariance(style))[off].max() > 0.05 * covariance(style).max()


def test_alpha_mixes_content_and_transformed_features_linearly():
    content, style = features(0), FeatureStats.of(features(1, n=2400, scale=2.0))
    full = transforms.transform(content, [style])
    np.testing.assert_array_equal(transforms.transform(content, [style], alpha=0.0), content)
    half = transforms.transform(content, [style], alpha=0.5)
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * content, atol=1e-4)
    distances = [
        np.abs(covariance(transforms.transform(content, [style], alpha=a)) - covariance(full)).sum()
        for a in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert all(b < a for a, b in zip(distances[:-1], distances[1:], strict=True)), distances
    with pytest.raises(SettingsError, match="alpha"):
        transforms.transform(content, [style], alpha=1.5)
    with pytest.raises(SettingsError, match="transform"):
        transforms.transform(content, [style], kind="swap")


def test_blend_weights_and_regional_masks():
    content = features(0)
    a, b = FeatureStats.of(features(1, scale=2.0)), FeatureStats.of(features(2, scale=0.5))
    only_a = transforms.transform(content, [a])
    only_b = transforms.transform(content, [b])
    blended = transforms.transform(content, [a, b], blend=[3, 1])
    np.testing.assert_allclose(blended, 0.75 * only_a + 0.25 * only_b, rtol=1e-4, atol=1e-3)
    # a mask per style: the left half takes a (with the left half's own statistics), the right b
    mask = np.zeros(content.shape[:2], np.float32)
    mask[:, : content.shape[1] // 2] = 1.0
    regional = transforms.transform(content, [a, b], masks=[mask, 1.0 - mask])
    left = regional[:, : content.shape[1] // 2]
    right = regional[:, content.shape[1] // 2 :]
    np.testing.assert_allclose(left.reshape(-1, 16).mean(0), a.mean, atol=1e-3)
    np.testing.assert_allclose(right.reshape(-1, 16).mean(0), b.mean, atol=1e-3)
    # a masked style alone keeps the content's features outside its mask
    partial = transforms.transform(content, [a], masks=[mask])
    np.testing.assert_array_equal(
        partial[:, content.shape[1] // 2 :], content[:, content.shape[1] // 2 :]
    )


def test_feature_stats_of_a_degenerate_style_stay_finite():
    flat = np.ones((10, 10, 8), np.float32)  # no variance at all
    stats = FeatureStats.of(flat)
    out = transforms.transform(features(0, c=8), [stats])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, 1.0, atol=1e-3)  # every position becomes the style's mean


def test_decoder_plan_refine_and_a_deep_decoder_starts_away_from_the_mean_image():
    """``refine`` adds full-resolution convolutions before the last; He initialisation keeps a
    new level-4 decoder's output varied (with Glorot's it started at one flat grey and stayed
    there for hundreds of steps)."""
    from nst.universal.decoder import build_decoder, decoder_plan

    plan = decoder_plan("vgg16-hed", 1)
    assert plan == [("rgb", 3)]
    assert decoder_plan("vgg16-hed", 1, 0.5, refine=2) == [("conv", 32), ("conv", 32), ("rgb", 3)]
    deep = decoder_plan("vgg16-hed", 4, 1.0)
    assert [k for k, _ in deep].count("up") == 3 and deep[-1] == ("rgb", 3)
    x = np.abs(np.random.default_rng(0).normal(size=(1, 16, 16, 512))).astype(np.float32)
    out = np.asarray(build_decoder("vgg16-hed", 4, 0.5, feature_scale=1.0)(x))
    assert out.shape == (1, 128, 128, 3)
    assert out.std() > 10.0  # pixels: not a flat image
    with pytest.raises(NSTError, match="refine"):
        build_decoder("vgg16-hed", 1, refine=-1)


class Cut(Exception):
    pass


def test_decoder_training_lowers_the_loss_and_resumes_bit_for_bit(tmp_path):
    """A training cut after its step-4 checkpoint, run again, ends with the weights of an
    uninterrupted one; the loss falls; the record names every training image's sha256."""
    import keras

    from nst.feedforward.checkpoint import checkpoint_path
    from nst.feedforward.decoder_train import decoder_files
    from nst.net.weights import file_digest
    from nst.settings import DecoderSettings

    data = [ROOT / "resources/images/content"]
    settings = DecoderSettings(
        level=2,
        width=0.25,
        train_size=64,
        batch_size=2,
        steps=8,
        learning_rate=1e-3,
        checkpoint_every=4,
        print_every=1,
    )
    straight = decoder_files(
        data, tmp_path / "straight.keras", settings=settings, log=lambda _m: None
    )

    def cut(message):
        if message.startswith("step 6/"):
            raise Cut

    out = tmp_path / "cut.keras"
    with pytest.raises(Cut):
        decoder_files(data, out, settings=settings, log=cut)
    assert checkpoint_path(out).is_file() and not out.exists()  # nothing half-written
    resumed = decoder_files(data, out, settings=settings, log=lambda _m: None)
    assert resumed["resumed_from"] == 4 and not checkpoint_path(out).exists()
    a = keras.saving.load_model(tmp_path / "straight.keras", compile=False).get_weights()
    b = keras.saving.load_model(out, compile=False).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert [r["total"] for r in resumed["history"]] == [r["total"] for r in straight["history"]]
    history = [r["total"] for r in straight["history"]]
    assert np.mean(history[-3:]) < history[0]
    names = sorted(p.name for p in (ROOT / "resources/images/content").iterdir())
    assert [Path(r["path"]).name for r in straight["data"]["images"]] == names
    assert all(r["sha256"] == file_digest(r["path"]) for r in straight["data"]["images"])


# --- the pipeline and the command, on decoders trained briefly here ---------------------------


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """Decoders of levels 1 to 3 trained for a few steps on the sample photos: the plumbing and
    the properties that hold for any decoders, not image quality."""
    from nst.feedforward.decoder_train import decoder_files
    from nst.settings import DecoderSettings

    out = tmp_path_factory.mktemp("decoders")
    for level in (1, 2, 3):
        settings = DecoderSettings(
            level=level,
            width=0.25,
            train_size=64,
            source_size=128,
            batch_size=2,
            steps=20,
            learning_rate=2e-3,
            checkpoint_every=0,
            print_every=0,
        )
        decoder_files(
            [ROOT / "resources/images/content"],
            out / f"level{level}.keras",
            settings=settings,
            log=lambda _m: None,
        )
    return out


@pytest.fixture(scope="module")
def universal(decoders):
    from nst.universal.model import Universal

    return Universal(decoders)


@pytest.fixture(scope="module")
def photo():
    from nst import images

    return images.resize_longest(
        images.load_image(ROOT / "resources/images/content/chelsea.jpg"), 128
    )


def _style(name="brushstrokes.png"):
    from nst import images

    return images.load_image(ROOT / "resources/images/style" / name)


def test_alpha_zero_keeps_the_contents_features_and_a_style_equal_to_the_content_gives_it_back(
    universal, photo
):
    """At alpha 0 no style reaches the output (the same bytes whatever the style); a style
    equal to the content is whitened and coloured with its own statistics: the decoder's
    reconstruction again, up to the dropped eigenvalues; another style moves it."""
    from nst import quality
    from nst.universal.model import UniversalOptions

    keep = UniversalOptions(size=128, alpha=0.0)
    a = universal.stylize(photo, [_style()], keep)
    b = universal.stylize(photo, [_style("ihc.jpg")], keep)
    np.testing.assert_array_equal(a, b)
    # one level: the content's own statistics make the transform the identity (with several,
    # each later level starts from the previous decoder's image, not the photo)
    one, keep_one = (
        UniversalOptions(size=128, levels=(3,)),
        UniversalOptions(size=128, alpha=0.0, levels=(3,)),
    )
    itself = universal.stylize(photo, [photo], one)
    plain = universal.stylize(photo, [photo], keep_one)
    moved = universal.stylize(photo, [_style()], one)
    assert quality.ssim(itself, plain) > 0.95, quality.ssim(itself, plain)
    assert quality.ssim(moved, plain) < quality.ssim(itself, plain) - 0.05


def test_detail_puts_back_what_the_decoders_lose(universal, photo):
    """--detail 1 adds each level's reconstruction residual: at alpha 0 the chain gives the
    content back to the uint8 rounding (each level returns its own input), where the plain
    decoding (--detail 0) keeps only what the decoders can draw; under a style, detail raises
    the content SSIM and leaves the style's statistics to the transform (the same style
    distance within a few hundredths)."""
    from nst import images, quality
    from nst.errors import SettingsError
    from nst.universal.model import UniversalOptions

    style = _style()
    kept = universal.stylize(photo, [style], UniversalOptions(size=128, alpha=0.0, detail=1.0))
    plain = universal.stylize(photo, [style], UniversalOptions(size=128, alpha=0.0, detail=0.0))
    target = images.to_uint8(images.resize_longest(photo, 128))
    assert np.abs(kept.astype(int) - target.astype(int)).max() <= 2
    assert quality.ssim(plain, target) < 0.9, quality.ssim(plain, target)
    half = universal.stylize(photo, [style], UniversalOptions(size=128, alpha=0.0, detail=0.5))
    assert quality.ssim(plain, target) < quality.ssim(half, target) < quality.ssim(kept, target)
    meter = quality.QualityMeter(target, [style])
    full = meter.measure(universal.stylize(photo, [style], UniversalOptions(size=128)))
    bare = meter.measure(universal.stylize(photo, [style], UniversalOptions(size=128, detail=0)))
    assert full["content_ssim"] > bare["content_ssim"] + 0.05, (full, bare)
    with pytest.raises(SettingsError, match="detail"):
        UniversalOptions(detail=1.5)


def run_cli(args, capsys):
    from nst.cli.main import main

    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_arbitrary_command_writes_deterministic_images_and_a_record(decoders, tmp_path, capsys):
    content = ROOT / "resources/images/content/chelsea.jpg"
    style = ROOT / "resources/images/style/brushstrokes.png"
    outs = []
    for i in (1, 2):
        out = tmp_path / f"out{i}.png"
        metrics = tmp_path / f"m{i}.json"
        args = ["arbitrary", content, style, "-o", out, "--size", 96, "--metrics", metrics]
        code, err = run_cli([*args, "--decoders", decoders], capsys)
        assert code == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    record = json.loads((tmp_path / "m1.json").read_text())
    row = record["images"][0]
    assert (row["height"], row["width"]) == (64, 96)
    assert 0 < row["quality"]["content_ssim"] < 1 and row["quality"]["style_distance"] > 0
    assert record["settings"]["levels"] == [3, 2, 1]
    assert set(record["decoders"]) == {"3", "2", "1"}
    # several contents into a folder, two styles blended
    code, err = run_cli(
        [
            "arbitrary",
            "-c",
            content,
            ROOT / "resources/images/content/coffee.jpg",
            "-o",
            tmp_path / "many",
            "--size",
            64,
            "--decoders",
            decoders,
            style,
            ROOT / "resources/images/style/ihc.jpg",
            "--style-blend-weights",
            3,
            1,
        ],
        capsys,
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["chelsea.png", "coffee.png"]


@pytest.mark.parametrize(
    "case",
    [
        "not-an-image",
        "other-encoder",
        "unknown-level",
        "bad-alpha",
        "bad-detail",
        "bad-tile",
        "bad-memory",
        "no-decoders",
    ],
)
def test_arbitrary_bad_inputs_end_with_one_error_line_and_nothing_written(tmp_path, capsys, case):
    from nst.universal.decoder import build_decoder

    content = ROOT / "resources/images/content/chelsea.jpg"
    style = ROOT / "resources/images/style/brushstrokes.png"
    out = tmp_path / "out.png"
    args = ["arbitrary", content, style, "-o", out, "--size", 64]
    expect = ""
    if case == "not-an-image":
        bad = tmp_path / "notes.png"
        bad.write_text("not a picture")
        args[1] = bad
        expect = "cannot read content image"
    elif case == "other-encoder":
        other = tmp_path / "decoders"
        other.mkdir()
        for level in (1, 2, 3):
            build_decoder("vgg16", level, 0.25).save(other / f"level{level}.keras")
        args += ["--decoders", other]
        expect = "decodes vgg16 features"
    elif case == "unknown-level":
        args += ["--levels", 3, 7]
        expect = "unknown level 7"
    elif case == "bad-alpha":
        args += ["--alpha", 1.5]
        expect = "alpha"
    elif case == "bad-detail":
        args += ["--detail", -0.5]
        expect = "detail must be in [0, 1]"
    elif case == "bad-tile":
        args += ["--tile", 32]
        expect = "tile must be 0 (chosen from the memory) or at least 64 px"
    elif case == "bad-memory":
        args += ["--max-memory", 0]
        expect = "max-memory must be a positive number of GiB"
    else:
        args += ["--decoders", tmp_path / "none"]
        expect = "no decoder file"
    code, err = run_cli(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("nst: error:") and expect in lines[0], err
    assert not out.exists() and list(tmp_path.glob("out*")) == []


def test_moments_summed_over_parts_give_the_whole_statistics():
    from nst.universal.transforms import FeatureStats, Moments

    rng = np.random.default_rng(3)
    mixing = np.eye(6) + 0.3 * rng.normal(size=(6, 6))  # well conditioned: whiten is stable
    feats = (rng.normal(size=(40, 30, 6)) @ mixing + 50).astype(np.float32)
    weights = rng.uniform(size=(40, 30)).astype(np.float32)
    for w in (None, weights):
        whole = FeatureStats.of(feats, w)
        parts = Moments()
        for rows in (slice(0, 7), slice(7, 25), slice(25, 40)):
            parts.add(feats[rows], None if w is None else w[rows])
        summed = parts.stats()
        np.testing.assert_allclose(summed.mean, whole.mean, rtol=1e-6)
        np.testing.assert_allclose(summed.color, whole.color, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(summed.whiten, whole.whiten, rtol=1e-4, atol=1e-4)
    empty = Moments()
    empty.add(feats[:2], np.zeros((2, 30), np.float32))
    assert empty.stats() is None


def test_tiles_give_the_whole_image(universal, photo, monkeypatch):
    """--tile: the content's statistics summed over tiles and each tile decoded with the context
    its networks need give the whole image's pixels (within one level of 255), for detail 0 and
    1, alpha, AdaIN, regional masks with blended styles, and the style's statistics too; with
    too little context the seams show, so the test can fail."""
    from nst.universal.model import UniversalOptions

    styles = [_style(), _style("ihc.jpg")]
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[:, : photo.shape[1] // 3] = 1.0
    cases = [
        ({}, None, styles[:1]),
        ({"detail": 0.0, "alpha": 0.6}, None, styles[:1]),
        ({"transform": "adain"}, None, styles[:1]),
        ({"blend": (0.3, 0.7)}, [mask, None], styles),
    ]
    for kw, masks, chosen in cases:
        whole = universal.stylize(photo, chosen, UniversalOptions(size=128, **kw), masks)
        assert universal.last_tile == 0
        tiled = universal.stylize(photo, chosen, UniversalOptions(size=128, tile=64, **kw), masks)
        assert universal.last_tile == 64
        diff = np.abs(whole.astype(int) - tiled.astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.05, (kw, diff.max(), diff.mean())
    big = _style()
    by_tiles, at_once = universal.style_stats(big, tile=64), universal.style_stats(big)
    for level, stats in at_once.items():
        np.testing.assert_allclose(by_tiles[level].mean, stats.mean, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(by_tiles[level].color, stats.color, rtol=1e-3, atol=1e-2)
    monkeypatch.setattr(type(universal), "_decoder_halo", lambda self, level: 0)
    seams = universal.stylize(photo, styles[:1], UniversalOptions(size=128, tile=64))
    whole = universal.stylize(photo, styles[:1], UniversalOptions(size=128))
    assert np.abs(whole.astype(int) - seams.astype(int)).max() > 5


def test_the_tile_is_chosen_from_the_memory(universal):
    from nst.errors import SettingsError
    from nst.universal.model import UniversalOptions

    assert universal.tile_for((512, 512), UniversalOptions(max_memory=4)) == 0
    tile = universal.tile_for((4096, 4096), UniversalOptions(max_memory=4))
    assert tile >= 512 and tile % 64 == 0 and tile < 4096, tile
    assert universal.tile_for((4096, 4096), UniversalOptions(max_memory=8)) > tile
    assert universal.tile_for((4096, 4096), UniversalOptions(tile=256)) == 256
    with pytest.raises(SettingsError, match="even 64 px tiles need about"):
        universal.tile_for((4096, 4096), UniversalOptions(max_memory=1.01))


def test_the_memory_estimate_covers_the_peaks_the_bench_measured():
    """The plan's estimate (whole and tiled) against bench/bench_universal_tiled.py's peaks, for
    the shipped decoders: at least the peak, so that a planned tile fits, and not wildly over."""
    from nst.universal.model import GIB, Universal

    bench = json.loads((ROOT / "bench/results/universal_tiled.json").read_text())
    rows = [r for r in bench["rows"] if "error" not in r]
    assert len(rows) == 4
    net = Universal(model="vgg16-hed")
    for r in rows:
        estimate = net.estimate_bytes((r["side"], r["side"]), r["tile"]) / GIB
        assert r["peak_gib"] <= estimate <= 1.3 * r["peak_gib"], (r, estimate)


def test_warm_start_takes_its_strength_and_detail(decoders, photo):
    """--init-alpha / --init-detail reach the warm start: alpha 0 with detail 1 starts at the
    content itself, a stronger alpha further from it; detail 0 keeps only what the decoders
    draw; out of [0, 1] is an error."""
    from nst import quality
    from nst.engine.driver import initial_image
    from nst.errors import SettingsError
    from nst.settings import TransferSettings

    style = _style()

    def start(**kw):
        settings = TransferSettings(
            model="vgg16-hed", size=128, init="arbitrary", decoders=str(decoders), **kw
        )
        return initial_image(settings, photo, [style], photo.shape[:2])

    # the content back, up to rounding and the resampling to the decoders' multiple of 8 px
    kept = start(init_alpha=0.0)
    assert np.abs(kept - photo).mean() < 1.0, np.abs(kept - photo).mean()
    ssims = [quality.ssim(start(init_alpha=a), photo) for a in (0.0, 0.5, 1.0)]
    assert ssims[0] > 0.99 and ssims[0] > ssims[1] + 0.1 > ssims[2] + 0.2, ssims
    plain = quality.ssim(start(init_alpha=0.0, init_detail=0.0), photo)
    assert plain < ssims[0] - 0.05, plain
    for bad in (1.5, -0.1):
        with pytest.raises(SettingsError, match="init-alpha must be in"):
            TransferSettings(init_alpha=bad)
    with pytest.raises(SettingsError, match="init-detail must be in"):
        TransferSettings(init="arbitrary", init_detail=2)
    # without the arbitrary start they would be ignored: an error instead
    with pytest.raises(SettingsError, match="init-alpha sets the --init arbitrary start"):
        TransferSettings(init="palette", init_alpha=0.5)


def test_warm_start_without_decoders_is_one_error_before_the_network_loads(tmp_path, capsys):
    content = ROOT / "resources/images/content/chelsea.jpg"
    style = ROOT / "resources/images/style/brushstrokes.png"
    out = tmp_path / "out.png"
    (tmp_path / "decoders").mkdir()
    args = ["transfer", content, style, "-o", out, "--init", "arbitrary", "--model", "vgg16-hed"]
    code, err = run_cli([*args, "--decoders", tmp_path / "decoders"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("nst: error: --init arbitrary needs decoders of vgg16-hed")
    assert "has no level3.keras, level2.keras, level1.keras" in lines[0]
    assert not out.exists()


def test_warm_start_begins_at_the_arbitrary_result(decoders, photo):
    """--init arbitrary: the optimisation's first image is the universal transfer's output."""
    import nst
    from nst.universal.model import UniversalOptions, cached_universal

    style = _style()
    seen = {}
    nst.transfer(
        photo,
        [style],
        model="vgg16-hed",
        size=64,
        iterations=1,
        init="arbitrary",
        decoders=str(decoders),
        save_every=1,
        on_checkpoint=seen.__setitem__,
        print_every=0,
        log=lambda _m: None,
    )
    from nst import images

    start = cached_universal(decoders).stylize(
        images.resize_longest(photo, 64), [style], UniversalOptions(size=None)
    )
    assert 0 in seen or 1 in seen
    first = seen.get(0, seen.get(1))
    # one L-BFGS iteration from the arbitrary result stays near it, far from the content
    from nst import quality

    near = quality.ssim(first, start)
    assert near > quality.ssim(first, images.resize(photo, first.shape[:2])) + 0.1, near
