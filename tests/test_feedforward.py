"""Feed-forward style transfer: the network, training (loss, resume, records), stylising, the CLI.

Small and quick: 64 px crops, a width-8 network, a few steps, the offline vgg16-hed weights.
"""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import make_content, make_style
from PIL import Image

from nst import feedforward as ff
from nst.cli.main import main
from nst.errors import NSTError, SettingsError
from nst.feedforward import network as transformer
from nst.feedforward.data import CropSampler, collect_images
from nst.loss import terms as losses
from nst.loss.objective import StyleLoss
from nst.settings import FEEDFORWARD_DEFAULTS, TrainSettings

pytestmark = pytest.mark.slow

LOSS = dict(model="vgg16-hed", threads=2)
SMALL = dict(width=8, train_size=64, batch_size=2, print_every=0)


def quiet(_msg):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A style image and a folder of two content images (and a text file to skip)."""
    d = tmp_path_factory.mktemp("ff")
    (d / "contents").mkdir()
    Image.fromarray(make_content(72, 96)).save(d / "contents" / "a.png")
    Image.fromarray(np.ascontiguousarray(make_content(96, 80)[:, ::-1])).save(
        d / "contents" / "b.jpg"
    )
    (d / "contents" / "readme.txt").write_text("not an image")
    Image.fromarray(make_style("red", 96)).save(d / "style.png")
    return {"style": d / "style.png", "contents": d / "contents", "dir": d}


@pytest.fixture(scope="module")
def trained(data):
    """A model trained for a few steps through the files API, with its record."""
    out = data["dir"] / "model" / "style.keras"
    lines = []
    record = ff.train_files(
        data["style"],
        [data["contents"]],
        out,
        data["dir"] / "model" / "train.json",
        log=lines.append,
        steps=4,
        checkpoint_every=2,
        **SMALL,
        **LOSS,
    )
    return {"path": out, "record": record, "log": lines}


# --- losses -----------------------------------------------------------------------------------


def test_batched_gram_is_per_image_and_the_single_image_result_is_unchanged():
    rng = np.random.default_rng(0)
    f = tf.constant(rng.random((3, 5, 4, 6)), tf.float32)
    batched = losses.gram_matrix(f, -1.0, batched=True).numpy()
    assert batched.shape == (3, 6, 6)
    for i in range(3):
        single = losses.gram_matrix(f[i : i + 1], -1.0).numpy()
        flat = f[i].numpy().reshape(-1, 6) - 1.0
        np.testing.assert_allclose(single, flat.T @ flat / 20, rtol=1e-5)
        np.testing.assert_allclose(batched[i], single, rtol=1e-5)
    mask = tf.constant(rng.random((5, 4)), tf.float32)
    masked = losses.cross_gram(f, f, 0.0, mask, batched=True).numpy()
    np.testing.assert_allclose(masked[1], losses.cross_gram(f[1:2], f[1:2], 0.0, mask), rtol=1e-5)
    # the unbatched call still pools every position of the batch into one matrix
    assert losses.gram_matrix(f).shape == (6, 6)


def test_style_loss_of_a_batch_is_the_mean_of_its_images():
    from nst.loss.methods import LossLayers
    from nst.net.features import feature_extractor
    from nst.runtime import configure_runtime

    settings = FEEDFORWARD_DEFAULTS.replace(**LOSS, method="inetwork")  # shifted, chained
    configure_runtime(settings)
    ext = feature_extractor(settings, LossLayers.of(settings).network)
    style = StyleLoss(ext, settings, [make_style("red", 64).astype(np.float32)])
    batch = np.stack([make_content(48, 48), make_style("blue", 48)]).astype(np.float32)
    together = float(style(ext(tf.constant(batch)), batched=True))
    apart = [float(style(ext(tf.constant(b[None])))) for b in batch]
    assert together == pytest.approx(np.mean(apart), rel=1e-5)
    assert apart[0] != pytest.approx(apart[1], rel=0.1)


def test_start_normalised_training_loss_is_one_at_the_reference_contents():
    """normalize="start" in training: the style terms are relative to the reference contents'
    own distance to the style (a batch of them), so the style term of those contents is 1 for
    both methods; a reference is required."""
    from nst.feedforward.data import CropSampler
    from nst.loss.methods import LossLayers
    from nst.net.features import feature_extractor
    from nst.runtime import configure_runtime

    contents = [make_content(64, 80), make_style("blue", 72), make_content(96, 64)]
    sampler = CropSampler(contents, 48, 2, 0)
    reference = sampler.reference()
    assert reference.shape == (3, 48, 48, 3)
    np.testing.assert_array_equal(reference, sampler.reference())  # deterministic
    for method in ("gatys", "inetwork"):
        settings = FEEDFORWARD_DEFAULTS.replace(**LOSS, method=method, normalize="start")
        configure_runtime(settings)
        ext = feature_extractor(settings, LossLayers.of(settings).network)
        feats = ext(tf.constant(reference))
        style_img = make_style("red", 64).astype(np.float32)
        style = StyleLoss(ext, settings, [style_img], reference=feats)
        assert float(style(feats, batched=True)) == pytest.approx(1.0, rel=1e-4)
        with pytest.raises(ValueError, match="reference"):
            StyleLoss(ext, settings, [style_img])


# --- the network ------------------------------------------------------------------------------


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def test_network_layout_and_no_transposed_convolutions():
    model = transformer.build_transformer(32)
    layers = list(_all_layers(model))
    assert not [la for la in layers if isinstance(la, keras.layers.Conv2DTranspose)]
    assert not [la for la in layers if "transpose" in type(la).__name__.lower()]
    convs = [la for la in layers if isinstance(la, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128] + [128] * 10 + [64, 32, 3]
    assert [c.kernel_size[0] for c in convs] == [9, 3, 3] + [3] * 10 + [3, 3, 9]
    assert [c.strides[0] for c in convs] == [1, 2, 2] + [1] * 10 + [1, 1, 1]
    assert all(c.padding == "valid" for c in convs)  # padding is the reflection layers'
    assert sum(isinstance(la, transformer.InstanceNormalization) for la in layers) == 15
    assert sum(isinstance(la, keras.layers.UpSampling2D) for la in layers) == 2
    assert sum(isinstance(la, keras.layers.Add) for la in layers) == 5
    assert 1.6e6 < model.count_params() < 1.8e6  # the paper's network has about 1.7 M
    out = model(tf.constant(np.full((2, 36, 52, 3), 200.0, np.float32)))
    assert out.shape == (2, 36, 52, 3)
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 255.0


def test_instance_norm_is_per_image_and_channel():
    layer = transformer.InstanceNormalization()
    x = np.random.default_rng(1).normal(3.0, 2.0, (2, 6, 5, 4)).astype(np.float32)
    x[1] *= 10
    y = layer(tf.constant(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-2)


# --- training data ----------------------------------------------------------------------------


def test_folders_are_expanded_sorted_and_non_images_skipped(data, tmp_path):
    lines = []
    files = collect_images([data["contents"], data["style"]], "content image", lines.append)
    assert [f.name for f in files] == ["a.png", "b.jpg", "style.png"]
    assert len(lines) == 1 and "readme.txt" in lines[0] and lines[0].startswith("warning:")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NSTError, match="content image folder .*empty holds no usable image"):
        collect_images([tmp_path / "empty"], "content image", quiet)


def test_crops_depend_on_seed_and_step_only():
    imgs = [make_content(72, 96).astype(np.float32), make_style("blue", 80).astype(np.float32)]
    a = CropSampler(imgs, 32, 3, seed=5)
    b = CropSampler(imgs, 32, 3, seed=5)
    assert a.batch(7).shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(a.batch(7), b.batch(7))
    assert not np.array_equal(a.batch(7), a.batch(8))
    assert not np.array_equal(a.batch(7), CropSampler(imgs, 32, 3, seed=6).batch(7))


# --- training ---------------------------------------------------------------------------------


def test_training_lowers_the_loss():
    contents = [make_content(72, 96), make_content(96, 80)[:, ::-1]]
    settings, train = ff.training_settings(
        **LOSS, **{**SMALL, "batch_size": 2}, steps=20, learning_rate=1e-2
    )
    lines = []
    result = ff.train_transformer(
        make_style("red", 96), contents, settings, train.replace(print_every=10), log=lines.append
    )
    totals = [row["total"] for row in result.history]
    assert len(totals) == 20 and [row["step"] for row in result.history] == list(range(1, 21))
    assert np.mean(totals[-3:]) < 0.7 * totals[0], totals
    assert result.history[-1]["style"] < result.history[0]["style"]
    progress = [ln for ln in lines if ln.startswith("step ")]
    assert [ln.split()[1] for ln in progress] == ["1/20", "10/20", "20/20"]
    assert "steps/s  ETA 00:00" in progress[-1] and "(content " in progress[-1]


@pytest.mark.parametrize("precision", ["bfloat16", "mixed_float16"])
def test_reduced_precision_training_lowers_the_loss_and_keeps_a_float32_network(precision):
    contents = [make_content(72, 96), make_content(96, 80)[:, ::-1]]
    settings, train = ff.training_settings(
        **LOSS, **SMALL, steps=12, learning_rate=1e-2, precision=precision
    )
    try:
        result = ff.train_transformer(make_style("red", 96), contents, settings, train, log=quiet)
    finally:  # the run's precision stays the process's policy, as after nst.transfer
        keras.mixed_precision.set_global_policy("float32")
    totals = [row["total"] for row in result.history]
    assert np.isfinite(totals).all() and np.mean(totals[-3:]) < 0.8 * totals[0], totals
    # the trained weights in a float32 network: the saved file stylises in float32 anywhere
    assert {layer.dtype_policy.name for layer in result.model.layers} == {"float32"}
    image = make_content(64, 64)
    out = ff.stylize(result.model, image)
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3) and out.std() > 1.0


class Killed(Exception):
    pass


def _kill_at(step):
    def log(msg):
        if msg.startswith(f"checkpoint at step {step}:"):
            raise Killed

    return log


def _weights(path):
    return [w.numpy() for w in ff.load_transformer(path).weights]


def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_one(data, tmp_path):
    # the learning rate steps down at step 2 and 4, across the checkpoint at 3
    run = dict(steps=6, checkpoint_every=3, lr_decay_every=2, lr_decay_factor=0.1, **SMALL, **LOSS)
    whole = tmp_path / "whole.keras"
    ff.train_files(data["style"], [data["contents"]], whole, log=quiet, **run)
    assert not ff.checkpoint_path(whole).exists()  # removed after success
    constant = tmp_path / "constant.keras"
    ff.train_files(
        data["style"], [data["contents"]], constant, log=quiet, **{**run, "lr_decay_every": 0}
    )
    # decayed steps are smaller: the weights move less from step 2 on
    first = tmp_path / "first.keras"
    ff.train_files(data["style"], [data["contents"]], first, log=quiet, **{**run, "steps": 2})
    moved = [
        sum(float(np.abs(a - b).sum()) for a, b in zip(_weights(p), _weights(first), strict=True))
        for p in (whole, constant)
    ]
    assert 0 < moved[0] < 0.5 * moved[1], moved

    resumed = tmp_path / "resumed.keras"
    with pytest.raises(Killed):
        ff.train_files(data["style"], [data["contents"]], resumed, log=_kill_at(3), **run)
    assert ff.checkpoint_path(resumed).is_file() and not resumed.exists()
    lines = []
    record = ff.train_files(
        data["style"], [data["contents"]], resumed, tmp_path / "m.json", log=lines.append, **run
    )
    assert any(ln.startswith("resuming from checkpoint") and "step 3/6" in ln for ln in lines)
    assert record["resumed_from"] == 3 and [r["step"] for r in record["history"]] == [*range(1, 7)]
    assert not ff.checkpoint_path(resumed).exists()
    for a, b in zip(_weights(whole), _weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit


def test_a_checkpoint_of_other_settings_is_not_reused(data, tmp_path):
    run = dict(steps=4, checkpoint_every=2, **SMALL, **LOSS)
    out = tmp_path / "m.keras"
    with pytest.raises(Killed):
        ff.train_files(data["style"], [data["contents"]], out, log=_kill_at(2), **run)
    lines = []
    record = ff.train_files(
        data["style"], [data["contents"]], out, log=lines.append, **{**run, "style_weight": 2.0}
    )
    assert any("other settings (settings.style_weight); starting over" in ln for ln in lines)
    assert record["resumed_from"] == 0 and len(record["history"]) == 4
    assert not ff.checkpoint_path(out).exists()


def test_metrics_record_has_the_loss_curve_and_provenance(trained, data):
    m = json.loads((data["dir"] / "model" / "train.json").read_text())
    assert m == json.loads(json.dumps(trained["record"]))
    assert [r["step"] for r in m["history"]] == [1, 2, 3, 4]
    assert all({"total", "content", "style", "tv"} <= set(r) for r in m["history"])
    assert [c["path"].rsplit("/", 1)[-1] for c in m["contents"]] == ["a.png", "b.jpg"]
    assert all(len(c["sha256"]) == 64 for c in m["contents"])
    assert m["contents"][0]["sha256"] != m["contents"][1]["sha256"]
    assert m["style"]["path"] == str(data["style"]) and len(m["style"]["sha256"]) == 64
    assert m["model"]["name"] == "vgg16-hed" and len(m["model"]["weights_sha256"]) == 64
    assert m["settings"]["content_layers"] == ["conv2_2"] and m["train"]["width"] == 8
    assert {"nst", "tensorflow", "keras", "numpy"} <= set(m["versions"])
    assert m["timings"]["steps_per_second"] > 0 and m["timings"]["total_seconds"] > 0
    assert m["output"]["sha256"] and m["output"]["format_version"] == transformer.FORMAT_VERSION
    assert any(ln.startswith("warning: skipping") for ln in trained["log"])


# --- stylising --------------------------------------------------------------------------------


def test_stylize_keeps_odd_sizes_and_is_deterministic(trained):
    model = ff.load_transformer(trained["path"])
    image = make_content(61, 83)
    a, b = ff.stylize(model, image), ff.stylize(model, image)
    assert a.shape == (61, 83, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert np.abs(a.astype(float) - image).mean() > 5  # it did something
    assert ff.stylize(model, image, size=50).shape == (37, 50, 3)
    with pytest.raises(SettingsError, match="at least 32"):
        ff.stylize(model, image, size=8)


def test_a_smaller_output_is_painted_at_the_networks_own_size_and_shrunk(trained, tmp_path):
    """The network paints strokes for images of its training's style size (64 px here): a
    smaller output is painted at that size and shrunk, so its strokes keep their size against
    the picture; --work-size 0 paints at the output's own size, N at N."""
    from nst import images
    from nst.feedforward.inference import native_size, work_shape

    model = ff.load_transformer(trained["path"])
    assert native_size(model) == 64
    assert work_shape(model, (36, 48)) == (48, 64)
    assert work_shape(model, (36, 48), 0) == (36, 48)
    assert work_shape(model, (72, 96)) == (72, 96)  # larger outputs: their own size
    assert work_shape(model, (72, 96), 128) == (96, 128)
    image = make_content(72, 96)
    auto = ff.stylize(model, image, size=48).astype(float)
    own = ff.stylize(model, image, size=48, work_size=0).astype(float)
    painted = ff.stylize(model, image, size=64, work_size=0).astype(np.float32)
    shrunk = images.to_uint8(images.resize(painted, (36, 48))).astype(float)
    assert auto.shape == own.shape == (36, 48, 3)
    assert np.abs(auto - shrunk).max() <= 2  # the same picture, rounded once more
    assert np.abs(auto - own).mean() > 2  # and not the one painted at 48 px
    rec = ff.stylize_files(
        trained["path"], [trained["path"].parent.parent / "contents" / "a.png"],
        tmp_path / "o.png", size=48, log=quiet,
    )  # fmt: skip
    assert rec["settings"]["work_size"] is None and rec["images"][0]["work_size"] == 64
    rec = ff.stylize_files(
        trained["path"], [trained["path"].parent.parent / "contents" / "a.png"],
        tmp_path / "o.png", size=48, work_size=0, log=quiet,
    )  # fmt: skip
    assert rec["settings"]["work_size"] == 0 and rec["images"][0]["work_size"] == 48


def test_content_size_cuts_the_crops_at_the_photographs_scale(data, tmp_path):
    """--content-size N: the contents at N px (shorter side), crops of train-size cut there."""
    from nst.feedforward.data import PatchSampler

    photo = make_content(72, 96).astype(np.float32)
    whole = CropSampler([photo], 32, 1, seed=0)
    patches = PatchSampler([photo], 32, 1, seed=0, source=96)
    assert whole.images[0].shape[:2] == (40, 53) and patches.images[0].shape[:2] == (96, 128)
    assert patches.reference().shape == (1, 32, 32, 3)
    lines = []
    record = ff.train_files(
        data["style"], [data["contents"]], tmp_path / "m.keras", log=lines.append,
        steps=2, content_size=96, checkpoint_every=0, **SMALL, **LOSS,
    )  # fmt: skip
    assert record["train"]["content_size"] == 96
    assert any("from 2 image(s) at 96 px (shorter side)" in ln for ln in lines), lines


def test_saved_model_gives_the_output_of_the_trained_one(data, tmp_path):
    settings, train = ff.training_settings(**LOSS, **SMALL, steps=2)
    result = ff.train_transformer(
        make_style("red", 64), [make_content(72, 96)], settings, train, log=quiet
    )
    path = tmp_path / "m.keras"
    result.model.save(path)
    image = make_content(70, 90)
    direct = ff.stylize(result.model, image)
    # a plain Keras load works too (the layers are registered) and carries the provenance
    plain = keras.models.load_model(path)
    np.testing.assert_array_equal(ff.stylize(plain, image), direct)
    np.testing.assert_array_equal(ff.stylize(ff.load_transformer(path), image), direct)
    assert transformer.model_info(plain)["train"]["steps"] == 2
    # no style image known to the model or given: the style distance is left out
    lines = []
    rec = ff.stylize_files(path, [data["contents"] / "a.png"], tmp_path / "o.png", log=lines.append)
    assert rec["style"] is None and rec["images"][0]["quality"]["style_distance"] is None
    assert rec["images"][0]["quality"]["content_ssim"] > 0
    assert any("style distance is not measured" in ln for ln in lines)


def test_stylize_files_writes_images_and_record(trained, data, tmp_path):
    out = tmp_path / "styled"
    rec = ff.stylize_files(
        trained["path"], [data["contents"]], out, tmp_path / "s.json", size=64, log=quiet
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert [(r["height"], r["width"]) for r in rec["images"]] == [(48, 64), (64, 53)]
    assert all(r["seconds"] > 0 for r in rec["images"]) and rec["seconds_per_image"] > 0
    assert rec["model"]["sha256"] == trained["record"]["output"]["sha256"]
    assert json.loads((tmp_path / "s.json").read_text())["images"][0]["output"] == str(
        out / "a.png"
    )
    # the model remembers its style image, so the style distance is measured
    q = rec["images"][0]["quality"]
    assert 0 < q["content_ssim"] < 1 and q["style_distance"] > 0 and q["color_difference"] >= 0
    # one file in, one file out
    single = tmp_path / "one.jpg"
    rec = ff.stylize_files(trained["path"], [data["contents"] / "a.png"], single, log=quiet)
    with Image.open(single) as im:
        assert im.format == "JPEG" and im.size == (96, 72)
    assert rec["style"]["sha256"] == trained["record"]["style"]["sha256"]


# --- the command line -------------------------------------------------------------------------


def test_cli_trains_and_stylizes(data, tmp_path, capsys):
    model, metrics = tmp_path / "m" / "model.keras", tmp_path / "m" / "train.json"
    args = ["--model", "vgg16-hed", "--width", "16", "--train-size", "64", "--batch-size", "1"]
    rc = main(
        [
            "train-style",
            str(data["style"]),
            "-o",
            str(model),
            "--content",
            str(data["contents"] / "a.png"),
            str(data["contents"] / "b.jpg"),
            "--metrics",
            str(metrics),
            "--steps",
            "2",
            "--print-every",
            "1",
            "--style-weight",
            "3",
            *args,
        ]
    )
    assert rc == 0 and model.is_file()
    m = json.loads(metrics.read_text())
    assert m["settings"]["style_weight"] == 3.0 and m["train"]["width"] == 16
    err = capsys.readouterr().err
    assert "step 2/2" in err
    # not a terminal (a log, a pipe): the plain lines, no progress bar (see test_cli.py)
    assert "\r" not in err and "step/s" not in err and "%|" not in err
    out, rec = tmp_path / "out.png", tmp_path / "stylize.json"
    argv = ["stylize", str(model), str(data["contents"] / "b.jpg"), "-o", str(out)]
    assert main([*argv, "--metrics", str(rec), "--threads", "1"]) == 0
    with Image.open(out) as im:
        assert im.size == (80, 96)
    # the threads TensorFlow really uses (a process takes only its first setting)
    threads = json.loads(rec.read_text())["threads"]
    assert threads == tf.config.threading.get_intra_op_parallelism_threads()


def _corrupt_model(trained, tmp_path):
    data = trained["path"].read_bytes()
    path = tmp_path / "corrupt.keras"
    path.write_bytes(data[: len(data) // 2])
    return path


def _foreign_keras(tmp_path):
    path = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    return path


def _foreign_h5(tmp_path):
    path = tmp_path / "foreign.weights.h5"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save_weights(path)
    return path


def _newer_model(trained, tmp_path):
    """The trained model with its format version raised, as a later nst might write it."""
    path = tmp_path / "newer.keras"
    with zipfile.ZipFile(trained["path"]) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            payload = src.read(item)
            if item.filename == "config.json":
                text = payload.decode().replace('"format_version": 1', '"format_version": 7')
                payload = text.encode()
            dst.writestr(item, payload)
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "file not found"),
        ("corrupt", "not a readable .keras file"),
        ("foreign-keras", "it is not an nst feed-forward model (train one with nst train-style)"),
        ("foreign-h5", "it is not an nst feed-forward model"),
        ("newer", "saved in model format 7 by nst 0.1.0"),
        ("output-format", "cannot tell the image format"),
        ("bad-input", "not an image Pillow can decode"),
        ("work-size", "work size must be at least 32 pixels (or 0), not 8"),
    ],
)
def test_stylize_bad_input_is_one_line_and_writes_nothing(
    case, expected, trained, data, tmp_path, capsys
):
    model = str(trained["path"])
    image = str(data["contents"] / "a.png")
    out = tmp_path / "out" / "styled.png"
    if case == "missing":
        model = str(tmp_path / "nope.keras")
    elif case == "corrupt":
        model = str(_corrupt_model(trained, tmp_path))
    elif case == "foreign-keras":
        model = str(_foreign_keras(tmp_path))
    elif case == "foreign-h5":
        model = str(_foreign_h5(tmp_path))
    elif case == "newer":
        model = str(_newer_model(trained, tmp_path))
    elif case == "output-format":
        out = tmp_path / "out" / "styled.xyz"
    elif case == "bad-input":
        image = str(data["contents"] / "readme.txt")
    extra = ["--work-size", "8"] if case == "work-size" else []
    capsys.readouterr()
    assert main(["stylize", model, image, "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nst: error: ") and expected in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty-folder", "content image folder"),
        ("style-not-image", "cannot read style image file"),
        ("missing-content", "content image file not found"),
        ("output", "must end in .keras"),
        ("width", "invalid choice: 8"),
        ("layer", "unknown style layer(s) conv5_4"),
        ("train-size", "not a multiple of 4"),
        ("content-size", "content-size must be a whole number of at least 64, not 48"),
    ],
)
def test_train_style_bad_input_is_one_line_and_writes_nothing(
    case, expected, data, tmp_path, capsys
):
    style, content = str(data["style"]), str(data["contents"])
    out = tmp_path / "out" / "model.keras"
    extra = ["--steps", "1", "--train-size", "64", "--model", "vgg16-hed"]
    if case == "empty-folder":
        (tmp_path / "empty").mkdir()
        content = str(tmp_path / "empty")
    elif case == "style-not-image":
        style = str(data["contents"] / "readme.txt")
    elif case == "missing-content":
        content = str(tmp_path / "nope.png")
    elif case == "output":
        out = tmp_path / "out" / "model.h5"
    elif case == "width":
        extra += ["--width", "8"]
    elif case == "layer":
        extra += ["--style-layers", "conv1_2,conv5_4"]
    elif case == "train-size":
        extra += ["--train-size", "66"]
    elif case == "content-size":
        extra += ["--content-size", "48"]
    capsys.readouterr()
    try:
        rc = main(["train-style", style, "-o", str(out), "--content", content, *extra])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    if case == "width":  # argparse: the usage, then one error line
        assert err[-1].startswith("nst train-style: error:") and expected in err[-1]
    else:
        assert len(err) == 1 and err[0].startswith("nst: error: ") and expected in err[0], err
    assert not (tmp_path / "out").exists()


def test_train_settings_are_checked():
    with pytest.raises(SettingsError, match="batch-size must be a whole number of at least 1"):
        TrainSettings(batch_size=0)
    with pytest.raises(SettingsError, match="unknown training setting"):
        ff.training_settings(iterations=3)
    s, t = ff.training_settings(learning_rate=0.01, style_weight=2.0)
    assert t.learning_rate == 0.01 and s.learning_rate == FEEDFORWARD_DEFAULTS.learning_rate
    assert s.style_weight == 2.0 and s.content_layers == ("conv2_2",)
    for factor in (0, 1.5):
        with pytest.raises(SettingsError, match="lr-decay-factor must be in"):
            TrainSettings(lr_decay_every=100, lr_decay_factor=factor)
    with pytest.raises(SettingsError, match="lr-decay-every must be a whole number"):
        TrainSettings(lr_decay_every=-1)
