"""Tiled optimisation (issue 20): the tiled evaluation is the whole-image evaluation, exactly.

Loss and gradient of every method, with masks, several styles, luminance-only transfer and the
ImageNet layout of VGG19, equal the untiled ones to float32 round-off on a 160 x 176 px image in
tiles of 64 px; 20 iterations of either optimiser end at nearly the same image; the memory plan
picks tiles when the budget is small and says how much is needed when even tiles do not fit.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_content, make_style

from nst import images
from nst.errors import SettingsError
from nst.images import color, masks
from nst.loss import tiled
from nst.loss.objective import Objective
from nst.loss.problem import TransferProblem
from nst.net import weights
from nst.net.features import VGGFeatures, feature_extractor
from nst.settings import TransferSettings

SHAPE = (160, 176)


def content() -> np.ndarray:
    return images.resize(make_content().astype(np.float32), SHAPE)


def styles() -> list[np.ndarray]:
    return [
        make_style("red", 120).astype(np.float32),
        images.resize(make_style("blue", 96, seed=1).astype(np.float32), (90, 110)),
    ]


def random_vgg19(path):
    """A VGG19 weights file in keras.applications' layout, random (the ImageNet file needs the
    internet): the halo and the tiling do not depend on the values."""
    spec = weights.model_spec("vgg19")
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        names = [weights.keras_layer_name(k) for k in spec.conv_layers]
        f.attrs["layer_names"] = [n.encode() for n in names]
        cin = 3
        for layer, name in zip(spec.conv_layers, names, strict=True):
            cout = weights.CHANNELS[int(layer[4]) - 1]
            k = rng.normal(0, (2 / (9 * cin)) ** 0.5, (3, 3, cin, cout)).astype(np.float32)
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            g[f"{name}_W_1:0"] = k
            g[f"{name}_b_1:0"] = np.full(cout, 0.1, np.float32)
            cin = cout
    return str(path)


def test_halo_is_how_far_the_padding_reaches_and_no_less():
    """A padded tile's core features equal the whole image's at every layer with the computed
    halo (64 px for VGG16 to conv5_1, 96 to conv5_3), and differ with one alignment less."""
    assert tiled.halo("vgg16-hed", ["conv5_1"]) == 64
    assert tiled.halo("vgg16-hed", ["conv4_2"]) == 40
    assert tiled.halo("vgg16-hed", ["conv5_3"]) == 96
    assert tiled.halo("vgg19", ["conv5_1"]) == 80
    assert tiled.alignment(["conv1_1", "conv5_1"]) == 16
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_2", "conv5_1"]
    net = VGGFeatures("vgg16-hed", layers, pooling="avg")
    x = np.random.default_rng(0).uniform(0, 255, (1, 320, 336, 3)).astype(np.float32)
    whole = net(x)
    for margin, equal in ((64, True), (48, False)):
        t = next(  # an inner tile: halo on every side
            t
            for t in tiled.tiles((320, 336), 96, margin, 16)
            if t.padded[0] > 0 and t.padded[2] > 0 and t.padded[1] < 320 and t.padded[3] < 336
        )
        y0, y1, x0, x1 = t.padded
        part = net(x[:, y0:y1, x0:x1])
        worst = max(
            float(
                np.abs(tiled.crop(part[k], t.box(k)) - tiled.crop(whole[k], t.box(k, True))).max()
                / np.abs(whole[k]).max()
            )
            for k in layers
        )
        assert (worst < 1e-5) == equal, (margin, worst)


def test_tiles_cover_the_image_once_on_aligned_starts():
    for shape in ((160, 176), (97, 300), (64, 64)):
        ts = tiled.tiles(shape, 64, 64, 16)
        cover = np.zeros(shape, int)
        for t in ts:
            y0, y1, x0, x1 = t.core
            cover[y0:y1, x0:x1] += 1
            assert t.padded[0] % 16 == 0 and t.padded[2] % 16 == 0
        assert (cover == 1).all()
    assert len(tiled.tiles((160, 176), 64, 64, 16)) == 9  # 64, 64, 32 + 16 -> no sliver


CASES = {
    "gatys": dict(method="gatys"),
    "inetwork": dict(method="inetwork"),
    "luminance": dict(method="gatys", preserve_color="luminance"),
    "masks, two styles": dict(method="inetwork", style_masks="MASKS", style_blend_weights=(2, 1)),
    "content mask, layer": dict(method="gatys", content_mask="CMASK", normalize="layer"),
    "vgg19": dict(method="gatys", model="vgg19", weights="VGG19", pooling="max"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tiled_loss_and_gradient_equal_the_whole_images(case, tmp_path):
    kw = dict(CASES[case])
    left = np.zeros(SHAPE + (3,), np.uint8)
    left[:, :90] = 255
    images.save_image(left, tmp_path / "left.png")
    images.save_image(255 - left, tmp_path / "right.png")
    middle = np.zeros(SHAPE + (3,), np.uint8)
    middle[30:130, 40:150] = 255
    images.save_image(middle, tmp_path / "middle.png")
    if kw.get("style_masks") == "MASKS":
        kw["style_masks"] = (str(tmp_path / "left.png"), str(tmp_path / "right.png"))
    if kw.get("content_mask") == "CMASK":
        kw["content_mask"] = str(tmp_path / "middle.png")
    if kw.get("weights") == "VGG19":
        kw["weights"] = random_vgg19(tmp_path / "vgg19.h5")
    kw.setdefault("model", "vgg16-hed")
    settings = TransferSettings(size=SHAPE[1], **kw)
    c = content()
    s = styles() if "style_blend_weights" in kw else styles()[:1]
    problem = TransferProblem(settings, c, s)
    ext = feature_extractor(settings, problem.layers.network)
    style_masks, weight_map = masks.masks_for(settings, len(s), SHAPE, SHAPE, None)
    view = color.prepare_problem(settings, c, s, SHAPE)
    common = dict(
        layers=problem.layers,
        style_masks=style_masks,
        content_weight_map=weight_map,
        to_network=view.to_network,
    )
    whole = Objective(ext, settings, view.content, view.styles, problem.blend, **common)
    part = tiled.TiledObjective(
        ext, settings, view.content, view.styles, problem.blend, tile=64, **common
    )
    assert len(part.tiles) == 9
    rng = np.random.default_rng(1)
    x = np.clip(view.content + rng.normal(0, 30, view.content.shape), 0, 255).astype(np.float32)
    v = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(v)
        values = whole(v)
    grad = tape.gradient(values["total"], v).numpy()
    tiled_values, tiled_grad = part.value_and_grad(x)
    for k in ("total", "content", "style", "tv"):
        assert float(tiled_values[k]) == pytest.approx(float(values[k]), rel=2e-6), k
    assert float(values["style"]) > 0.01 and float(values["content"]) > 0.01
    err = np.abs(tiled_grad.numpy() - grad).max() / np.abs(grad).max()
    assert err < 1e-5


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_twenty_iterations_tiled_end_where_the_whole_image_does(optimizer, tmp_path):
    import nst

    c = images.resize(make_content().astype(np.float32), (128, 144))
    kw = dict(
        model="vgg16-hed",
        size=144,
        iterations=20,
        optimizer=optimizer,
        print_every=0,
        log=lambda _m: None,
        measure_quality=False,
    )
    a, ra = nst.transfer(c, [styles()[0]], **kw)
    b, rb = nst.transfer(c, [styles()[0]], tile=64, **kw)
    assert rb.scales[0]["memory"]["tile"] == 64 and rb.scales[0]["memory"]["halo"] == 64
    assert ra.scales[0]["memory"]["tile"] is None
    diff = np.abs(a.astype(float) - b.astype(float))
    moved = np.abs(a.astype(float) - c).mean()
    assert moved > 10  # the style moved in, and both runs moved it the same way
    # float32 round-off differs, and L-BFGS amplifies it a little over 20 iterations
    assert diff.mean() < 1.5 and diff.mean() < moved / 8
    assert rb.final["total"] == pytest.approx(ra.final["total"], rel=0.02)


def test_memory_plan_tiles_when_the_budget_is_small_and_says_what_is_needed():
    from nst.engine import memory

    s = TransferSettings(model="vgg16-hed", max_memory=64.0)
    whole = memory.plan(s, (2048, 2048), 3, 64, 16)
    assert whole.tile is None and whole.history == 100
    small = memory.plan(s.replace(max_memory=6.0), (2048, 2048), 3, 64, 16)
    assert small.tile is not None and small.tile % 16 == 0 and 128 <= small.tile < 2048
    assert small.estimate_gib <= 6.0
    assert 5 <= small.history < 100  # the L-BFGS history shrinks to what is left
    adam = memory.plan(s.replace(max_memory=6.0, optimizer="adam"), (4096, 4096), 3, 64, 16)
    assert adam.tile is not None and adam.estimate_gib <= 6.0
    forced = memory.plan(s.replace(tile=512), (1024, 1024), 3, 64, 16)
    assert forced.tile == 512 and forced.halo == 64
    assert memory.plan(s.replace(tile=2048), (1024, 1024), 3, 64, 16).tile is None
    with pytest.raises(SettingsError, match=r"needs at least .* GiB.*--max-memory"):
        memory.plan(s.replace(max_memory=1.0), (8192, 8192), 3, 64, 16)
    for bad in (dict(tile=16), dict(tile=-1), dict(max_memory=0)):
        with pytest.raises(SettingsError):
            TransferSettings(**bad)


def test_memory_plan_covers_the_peaks_the_bench_measured():
    """The plan's estimate (and so a workflow job's mem_mb) is at least the peak
    bench/bench_memory.py measured for every run it recorded, whole and tiled, and not wildly
    above it where the optimiser's memory was all in use (Adam: no history to fill)."""
    from pathlib import Path

    from nst.engine import memory

    bench = json.loads((Path(__file__).parents[1] / "bench/results/memory.json").read_text())
    rows = [r for r in bench["tiled"] if "error" not in r]
    assert {r["size"] for r in rows} >= {2048, 4096, 8192}
    for r in rows:
        plan = r["memory_plan"]
        s = TransferSettings(
            model="vgg16-hed",
            optimizer=r["optimizer"],
            tile=r["tile"],
            max_memory=plan["budget_gib"],
        )
        again = memory.plan(s, (r["size"], r["size"]), 3, 64, 16)
        assert again.tile == plan["tile"]
        assert again.estimate_gib >= r["peak_gib"], r
        if r["optimizer"] == "adam":
            assert again.estimate_gib <= 1.5 * r["peak_gib"], r


def test_transfer_command_records_the_tile(sample_images, tmp_path, capsys):
    from nst.cli.main import main

    content_path, style_path = sample_images["content"], sample_images["red"]
    out, metrics = tmp_path / "out.png", tmp_path / "m.json"
    code = main(
        [
            "transfer",
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--model",
            "vgg16-hed",
            "--size",
            "96",
            "--iterations",
            "2",
            "--tile",
            "48",
            "--metrics",
            str(metrics),
        ]
    )
    assert code == 0 and out.exists()
    record = json.loads(metrics.read_text())
    assert record["scales"][0]["memory"]["tile"] == 48
    assert record["scales"][0]["memory"]["halo"] == 64
    assert "tiles of 48 px (halo 64 px" in capsys.readouterr().err


# -- feed-forward networks in tiles (thumbnail instance normalisation) -------------------------


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    """A small transformer with random weights (its look does not matter here: the tiles must
    give what the whole image gives), saved like a trained one."""
    import keras

    from nst.feedforward.network import build_transformer

    keras.utils.set_random_seed(0)
    model = build_transformer(8, info={"style": {}})
    path = tmp_path_factory.mktemp("ff") / "net.keras"
    model.save(path)
    return model, path


def test_tiles_with_the_whole_images_statistics_give_the_whole_image(transformer):
    """With the thumbnail the image itself, tiles of 96 px with the 64 px halo give the
    whole-image output (the statistics fixed, everything else is local); half the halo does
    not, and a smaller thumbnail changes the look only through the statistics."""
    import tensorflow as tf

    from nst.feedforward import tiled as fft
    from nst.feedforward.inference import _forward

    model, _path = transformer
    x = images.resize(make_content().astype(np.float32), (210, 302))
    whole = np.asarray(_forward(model)(tf.constant(fft._pad4(x)[None])))[0, :210, :302]
    exact = fft.stylize_tiled(model, x, tile=96, thumbnail=400)
    assert len(list(fft.tile_boxes((212, 304), 96))) >= 4
    assert np.abs(exact - whole).max() < 1e-3
    short = fft.stylize_tiled(model, x, tile=96, thumbnail=400, halo=32)
    assert np.abs(short - whole).max() > 1.0
    # the statistics of a thumbnail: the same statistics for every tile (no tile looks
    # different from its neighbours), close to the whole image's for a smooth picture
    small = fft.stylize_tiled(model, x, tile=96, thumbnail=152)
    stats = fft.thumbnail_statistics(model, x, 152)
    assert all(m.shape[:3] == (1, 1, 1) for m, _v in stats)
    assert np.abs(small - whole).mean() < np.abs(whole - whole.mean()).mean()


def test_thumbnail_statistics_are_each_normalisation_layers_input_moments(transformer):
    """The statistics one recording pass gathers are the moments of every normalisation
    layer's input in the network run on the thumbnail."""
    import keras
    import tensorflow as tf

    from nst.feedforward import tiled as fft

    model, _path = transformer
    x = images.resize(make_content().astype(np.float32), (120, 160))
    probe = keras.Model(model.input, [layer.input for layer in fft.norm_layers(model)])
    inputs = probe(tf.constant(x[None]), training=False)
    stats = fft.thumbnail_statistics(model, x, 400)
    assert len(stats) == len(inputs) >= 10
    for (mean, var), t in zip(stats, inputs, strict=True):
        want_m, want_v = tf.nn.moments(t, axes=(1, 2), keepdims=True)
        np.testing.assert_allclose(mean, want_m.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(var, want_v.numpy(), rtol=1e-3, atol=1e-4)
    other = fft.thumbnail_statistics(model, x[::-1, ::2], 400)  # the variables are refilled
    assert not np.allclose(other[0][0], stats[0][0])


def test_stylize_command_goes_in_tiles_and_records_them(transformer, sample_images, tmp_path):
    """Tiles only when the thumbnail is smaller than the image: with the thumbnail the image
    itself its statistics pass already is the whole image's output."""
    from nst.cli.main import main

    _model, path = transformer
    outs = {}
    for tile, thumbnail, recorded in (("0", "512", None), ("48", "512", None), ("48", "64", 48)):
        out, metrics = tmp_path / f"out{tile}_{thumbnail}.png", tmp_path / f"m{tile}.json"
        code = main(
            [
                "stylize",
                str(path),
                str(sample_images["content"]),
                "-o",
                str(out),
                "--tile",
                tile,
                "--thumbnail",
                thumbnail,
                "--metrics",
                str(metrics),
            ]
        )
        assert code == 0
        outs[tile, thumbnail] = images.load_image(out)
        row = json.loads(metrics.read_text())["images"][0]
        assert row["tile"] == recorded
        assert row["halo"] == (None if recorded is None else 64)
        assert row["thumbnail"] == (None if recorded is None else int(thumbnail))
    np.testing.assert_array_equal(outs["0", "512"], outs["48", "512"])
    small = outs["48", "64"]  # a 64 px thumbnail's statistics: another look, same picture
    assert small.shape == outs["0", "512"].shape
    assert 0 < np.abs(small - outs["0", "512"]).mean() < 60


def test_workflow_sizes_transfer_jobs_from_the_sets_size():
    """resources.transfer.mem_mb: auto asks for what a set's size needs, up to max_mem_mb, and
    tells the run the same budget; a number is passed through."""
    from nst.experiment.resources import fixed_mem_mb, transfer_memory

    small = {"model": "vgg16-hed", "method": "gatys", "size": 192}
    mb, gib = transfer_memory(small, {})
    assert 900 < mb < 2000 and gib == pytest.approx(mb * 0.9 / 1024, abs=1e-3)
    mid_mb, _ = transfer_memory({**small, "size": 1024}, {})
    ine_mb, _ = transfer_memory({**small, "size": 1024, "method": "inetwork"}, {})
    assert mb < mid_mb < ine_mb  # the documented bytes per pixel of each method
    big_mb, big_gib = transfer_memory({**small, "size": 4096}, {"max_mem_mb": 12000})
    assert big_mb == 12000 and big_gib == pytest.approx(12000 * 0.9 / 1024, abs=1e-3)
    assert transfer_memory(small, {"mem_mb": 3000}) == (3000, round(3000 * 0.9 / 1024, 3))
    assert fixed_mem_mb({}) == 4000 and fixed_mem_mb({"mem_mb": 2500}) == 2500
