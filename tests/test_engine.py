"""Real (small) style-transfer runs with the offline vgg16-hed weights."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import nst
from nst.loss import terms as losses
from nst.loss.methods import GATYS_STYLE_LAYERS
from nst.net.features import VGGFeatures

pytestmark = pytest.mark.slow

# These tests exercise the optimisation's mechanics (init modes, pooling, optimisers, scales,
# precision, pixel bounds) by how far the style loss falls; they run on the raw terms with the
# old style weight, where the style dominates, so their thresholds do not depend on the weights'
# scale. The normalised weights themselves are tested in test_quality.py.
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


def run(content, styles, **kw):
    return nst.transfer(content, styles, log=quiet, **{**FAST, **kw})


def style_distance(image, style, layers=GATYS_STYLE_LAYERS):
    """Sum over layers of the mean squared Gram difference (independent of the loss code paths)."""
    ext = VGGFeatures("vgg16-hed", layers, pooling="avg")
    a = ext(tf.constant(np.asarray(image, np.float32)[None]))
    b = ext(tf.constant(np.asarray(style, np.float32)[None]))
    return sum(
        float(losses.squared_error(losses.gram_matrix(a[k]), losses.gram_matrix(b[k])))
        for k in layers
    )


def load(path, size=None):
    im = Image.open(path).convert("RGB")
    if size:
        im = im.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(im, np.float32)


@pytest.mark.parametrize("method", ["gatys", "inetwork"])
def test_style_loss_falls_tenfold_and_output_is_new(sample_images, method):
    out, rec = run(sample_images["content"], sample_images["red"], method=method, iterations=40)
    assert rec.initial["style"] / rec.final["style"] >= 10, (rec.initial, rec.final)
    assert rec.initial["content"] == pytest.approx(0.0, abs=1e-3)  # started from the content
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    content = load(sample_images["content"], (64, 48))
    style = load(sample_images["red"], (64, 48))
    assert np.abs(out - content).mean() > 10  # moved away from the content...
    assert np.abs(out - style).mean() > 10  # ...without becoming the style image
    # ...and towards the style's statistics, measured independently of the objective
    assert style_distance(out, load(sample_images["red"])) < 0.5 * style_distance(
        content, load(sample_images["red"])
    )
    assert len(rec.history) == 40
    assert {"total", "content", "style", "tv", "seconds"} <= set(rec.history[0])


def test_inetwork_uses_all_layers_geometric_weights_and_chain():
    from nst.loss.methods import style_terms
    from nst.settings import TransferSettings

    terms = style_terms(TransferSettings(method="inetwork", model="vgg16-hed"))
    assert len(terms) == 12  # 13 conv layers of VGG16 -> 12 adjacent pairs
    assert [t[:2] for t in terms[:2]] == [("conv1_1", "conv1_2"), ("conv1_2", "conv2_1")]
    weights = [t[2] for t in terms]
    assert sum(weights) == pytest.approx(1.0)
    assert all(b / a == pytest.approx(2.0) for a, b in zip(weights, weights[1:], strict=False))
    assert all(w > 0 for w in weights)  # no negative weight on the deepest layer
    gatys = style_terms(TransferSettings(method="gatys", model="vgg19"))
    assert [t[0] for t in gatys] == list(GATYS_STYLE_LAYERS) and {t[1] for t in gatys} == {None}
    assert [t[2] for t in gatys] == pytest.approx([0.2] * 5)


def test_shifted_gram_differs_from_plain():
    f = tf.constant(np.random.default_rng(0).random((1, 4, 4, 3)), tf.float32)
    plain = losses.gram_matrix(f).numpy()
    shifted = losses.gram_matrix(f, shift=-1.0).numpy()
    flat = f.numpy().reshape(-1, 3) - 1.0
    np.testing.assert_allclose(shifted, flat.T @ flat / 16, rtol=1e-5)
    assert not np.allclose(plain, shifted)


@pytest.mark.parametrize(
    "shape,shift,batched", [((1, 6, 5, 4), 0.0, False), ((3, 6, 5, 4), -1.0, True)]
)
def test_gram_gradient_matches_the_product_rule(shape, shift, batched):
    """The Gram matrix's one-product gradient equals differentiating F^T F term by term."""
    rng = np.random.default_rng(1)
    f = tf.constant(rng.normal(size=shape), tf.float32)
    c = shape[-1]
    target = tf.constant(rng.normal(size=(c, c)), tf.float32)
    weights = tf.constant(rng.normal(size=(c, c)), tf.float32)  # an asymmetric upstream gradient

    def loss(gram_fn):
        with tf.GradientTape() as tape:
            tape.watch(f)
            g = gram_fn(f)
            value = tf.reduce_sum(weights * g) + losses.squared_error(g, target)
        return g.numpy(), tape.gradient(value, f).numpy()

    def by_hand(x):
        a = tf.reshape(x, (shape[0], -1, c) if batched else (-1, c)) + shift
        return tf.matmul(a, a, transpose_a=True) / (
            shape[1] * shape[2] * (1 if batched else shape[0])
        )

    g, grad = loss(lambda x: losses.gram_matrix(x, shift, batched=batched))
    g_ref, grad_ref = loss(by_hand)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-4, atol=1e-6)
    assert np.abs(grad).max() > 1e-3  # a gradient that is there, not zeros on both sides


@pytest.mark.parametrize("shape", [(1, 5, 7, 3), (3, 6, 4, 2)])
def test_total_variation_gradient_matches_the_slices(shape):
    x = tf.constant(np.random.default_rng(2).normal(size=shape) * 10, tf.float32)

    def value_and_grad(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            v = 3.0 * fn(x)
        return float(v), tape.gradient(v, x).numpy()

    def by_hand(im):
        dy, dx = im[:, 1:] - im[:, :-1], im[:, :, 1:] - im[:, :, :-1]
        return tf.reduce_mean(dy**2) + tf.reduce_mean(dx**2)

    v, g = value_and_grad(losses.total_variation)
    v_ref, g_ref = value_and_grad(by_hand)
    assert v == pytest.approx(v_ref, rel=1e-6) and v > 1.0
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)


def test_two_styles_blend_between_single_style_results(sample_images):
    c, r, b = sample_images["content"], sample_images["red"], sample_images["blue"]
    only_red, _ = run(c, [r, b], style_blend_weights=(1, 0), iterations=30)
    only_blue, _ = run(c, [r, b], style_blend_weights=(0, 1), iterations=30)
    mixed, rec = run(c, [r, b], style_blend_weights=(1, 1), iterations=30)
    red, blue = load(r), load(b)
    d = {
        k: (style_distance(v, red), style_distance(v, blue))
        for k, v in {"red": only_red, "blue": only_blue, "mixed": mixed}.items()
    }
    assert d["red"][0] < d["mixed"][0] < d["blue"][0]
    assert d["blue"][1] < d["mixed"][1] < d["red"][1]
    # and it is a picture of its own, not one of the two
    assert np.abs(mixed.astype(float) - only_red).mean() > 5
    assert np.abs(mixed.astype(float) - only_blue).mean() > 5
    assert rec.settings["style_blend_weights"] == [1.0, 1.0]


@pytest.mark.parametrize("init", ["content", "noise", "gray", "style", "path"])
def test_every_init_mode_with_avg_and_max_pooling(sample_images, init, tmp_path):
    init_value = init
    if init == "path":
        init_value = str(tmp_path / "init.png")
        Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(init_value)
    pooling = "max" if init in ("noise", "path") else "avg"
    out, rec = run(
        sample_images["content"],
        sample_images["red"],
        init=init_value,
        pooling=pooling,
        iterations=15,
    )
    assert rec.final["total"] < 0.5 * rec.initial["total"]
    assert out.shape == (48, 64, 3)
    assert rec.model["pooling"] == pooling
    if init == "gray":
        assert rec.initial["tv"] == pytest.approx(0.0)
    if init == "content":
        assert rec.initial["content"] == pytest.approx(0.0, abs=1e-3)
    else:
        assert rec.initial["content"] > 1.0


def test_same_seed_same_bytes(sample_images, tmp_path):
    outs = []
    for i, seed in enumerate([7, 7, 8]):
        path = tmp_path / f"out{i}.png"
        nst.transfer_files(
            sample_images["content"],
            [sample_images["red"]],
            path,
            tmp_path / f"m{i}.json",
            log=quiet,
            init="noise",
            seed=seed,
            iterations=10,
            **FAST,
        )
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_adam_min_improvement_save_every_and_progress(sample_images, tmp_path):
    lines = []
    out = tmp_path / "adam.png"
    rec = nst.transfer_files(
        sample_images["content"],
        [sample_images["red"]],
        out,
        tmp_path / "adam.json",
        log=lines.append,
        **{**FAST, "print_every": 5},
        optimizer="adam",
        learning_rate=10.0,
        iterations=20,
        save_every=10,
    )
    assert rec.final["style"] < rec.initial["style"] / 3, (rec.initial, rec.final)
    assert (tmp_path / "adam_0010.png").is_file() and (tmp_path / "adam_0020.png").is_file()
    iter_lines = [ln for ln in lines if ln.startswith("iter")]
    assert len(iter_lines) == 5  # 1, 5, 10, 15, 20
    assert "s/it" in iter_lines[-1] and "style" in iter_lines[-1]
    # a loose min-improvement stops L-BFGS long before the budget
    _, early = run(
        sample_images["content"], sample_images["red"], iterations=200, min_improvement=0.2
    )
    assert early.stop_reason == "min-improvement"
    assert len(early.history) < 50


def test_metrics_record_has_provenance(sample_images, tmp_path):
    import json

    nst.transfer_files(
        sample_images["content"],
        [sample_images["red"]],
        tmp_path / "o.png",
        tmp_path / "m.json",
        log=quiet,
        iterations=3,
        **FAST,
    )
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["model"]["name"] == "vgg16-hed" and len(m["model"]["weights_sha256"]) == 64
    assert m["seed"] == 0 and m["settings"]["size"] == 64
    assert {"tensorflow", "keras", "numpy", "nst"} <= set(m["versions"])
    assert m["timings"]["startup_seconds"] > 0 and m["timings"]["seconds_per_iteration"] > 0
    parts = m["timings"]["startup"]
    assert set(parts) == {
        "import_tensorflow",
        "model",
        "objective",
        "first_iteration",
        "other",
    }
    assert parts["first_iteration"] > 0 and parts["objective"] > 0
    assert sum(parts.values()) == pytest.approx(m["timings"]["startup_seconds"], abs=0.01)
    assert len(m["history"]) == m["iterations"] == 3
    assert m["final_loss"]["total"] <= m["initial_loss"]["total"]


def test_multiscale_grows_by_sqrt2_and_starts_each_scale_from_the_last(sample_images):
    from nst.engine.driver import scale_schedule

    assert scale_schedule(512, 4) == [181, 256, 362, 512]
    with pytest.raises(nst.SettingsError, match="at least 64 px"):
        scale_schedule(96, 3)
    lines = []
    out, rec = nst.transfer(
        sample_images["content"],
        sample_images["red"],
        log=lines.append,
        **{**FAST, "size": 96},
        scales=2,
        iterations=20,
        coarse_iterations=10,
    )
    assert out.shape == (72, 96, 3)
    assert [s["size"] for s in rec.scales] == [68, 96]
    assert [s["iterations"] for s in rec.scales] == [10, 20]
    assert {r["size"] for r in rec.history} == {68, 96}
    assert sum(1 for ln in lines if ln.startswith("scale ")) == 2
    # the fine scale starts from the upsampled coarse result, not from the content
    fine_start = rec.history[10]
    assert fine_start["content"] > 1.0 and fine_start["style"] < rec.initial["style"] / 5


@pytest.mark.parametrize("precision", ["bfloat16", "mixed_float16"])
def test_reduced_precision_runs_and_lowers_the_loss(sample_images, precision):
    out, rec = run(
        sample_images["content"], sample_images["red"], precision=precision, iterations=15
    )
    assert rec.final["style"] < rec.initial["style"] / 5
    # the same start as float32 (mixed_float16's Gram matrices once overflowed to NaN)
    start = run(sample_images["content"], sample_images["red"], iterations=1)[1].initial
    assert rec.initial["style"] == pytest.approx(start["style"], rel=0.05)
    assert out.shape == (48, 64, 3)
    _, again = run(sample_images["content"], sample_images["red"], iterations=2)
    import keras

    assert again.settings["precision"] == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy was put back


@pytest.mark.parametrize("method", ["gatys", "inetwork"])
def test_lbfgs_keeps_pixels_valid_so_the_written_image_has_the_recorded_loss(sample_images, method):
    from nst import images
    from nst.engine import driver as engine
    from nst.engine import optimize
    from nst.settings import TransferSettings

    settings = TransferSettings(method=method, **FAST)
    content = images.load_image(sample_images["content"])
    style = images.load_image(sample_images["red"])
    objective, problem = engine.build_objective(settings, content, [style], (48, 64))
    result = optimize.lbfgs(objective, problem.content, iterations=30, print_every=0)
    assert result.image.min() >= 0.0 and result.image.max() <= 255.0
    written = images.to_uint8(result.image).astype(np.float32)
    judged = float(objective(tf.constant(written))["total"])
    assert judged == pytest.approx(result.history[-1]["total"], rel=0.05)
    assert result.history[-1]["total"] < result.initial["total"] / 10


LEAN_PROBE = """
import json, sys, time
started = time.time()
from nst import runtime
age = started - runtime.process_start_time()
seconds = runtime.import_tensorflow(lean=sys.argv[1] == "lean")
from keras.src.trainers.data_adapters import array_slicing
loaded = {m: m in sys.modules for m in ("pandas", "matplotlib")}
import pandas  # still importable afterwards
print(json.dumps({"loaded": loaded, "keras_pandas": array_slicing.pandas is not None,
                  "pandas_after": pandas.__name__, "seconds": seconds, "age": age}))
"""


def probe_imports(mode, **env):
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", LEAN_PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_lean_import_keeps_pandas_and_matplotlib_out_of_the_start_up():
    lean = probe_imports("lean")
    assert lean["loaded"] == {"pandas": False, "matplotlib": False}
    assert lean["keras_pandas"] is False and lean["pandas_after"] == "pandas"
    assert lean["seconds"] > 0
    # the library default and the escape hatch leave Keras's own imports alone
    assert probe_imports("full")["loaded"] == {"pandas": True, "matplotlib": True}
    off = probe_imports("lean", NST_LEAN_IMPORTS="0")
    assert off["loaded"]["pandas"] and off["keras_pandas"]


def test_process_start_time_is_the_real_start():
    # psutil's create_time is off by the boot time's rounding (up to 1 s); ours by ~10 ms
    age = probe_imports("full")["age"]
    assert 0 <= age < 0.5


class _Terminal:
    """A stand-in for stderr on a terminal: collects what is written to it."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_the_lines_unchanged(monkeypatch):
    from nst import runtime

    monkeypatch.delenv("NST_PROGRESS", raising=False)
    # not a terminal (a log file, a pipe, the workflow's jobs): no bar, the lines as they were
    plain = _Terminal()
    plain.isatty = lambda: False
    monkeypatch.setattr("sys.stderr", plain)
    with runtime.progress(10, "transfer") as bar:
        assert not bar.shown
        bar.update(1, loss=0.5)
        runtime.log("iter     1/10  total 0.5")
    assert plain.text == "iter     1/10  total 0.5\n"

    # a terminal: one bar with rate and ETA; the lines are written above it, unchanged
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    with runtime.progress(10, "transfer") as bar:
        assert bar.shown
        with runtime.progress(5, "inner") as inner:  # a job inside another: no second bar
            assert not inner.shown
        bar.update(1, loss=0.5)
        runtime.log("scale 2/2: 64x48 px")
        bar.update(6, loss=0.25)
        bar.shorten(3)  # the last scale stopped early
    runtime.log("done: 7 iterations")
    assert "inner" not in term.text
    assert "\rscale 2/2: 64x48 px\n" in term.text
    final = term.text.split("\r")[-1]  # the bar as it was left, then the line after it
    assert final.startswith("transfer: 100%|") and "7/7 [" in final and "loss=0.25" in final
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+(it/s|s/it)", final)
    assert final.endswith("]\ndone: 7 iterations\n")

    # NST_PROGRESS=0 turns it off on a terminal too
    monkeypatch.setenv("NST_PROGRESS", "0")
    with runtime.progress(10, "transfer") as bar:
        assert not bar.shown


def test_an_objective_reused_for_another_content_equals_one_built_for_it():
    """nst.loss.problem keeps an objective per network, settings, styles and shape: a second
    content of that shape gets the same object (its traced gradient too) with the new content's
    targets, and its values are those of an objective built for that content."""
    from conftest import make_content, make_style

    from nst.loss.objective import Objective
    from nst.loss.problem import TransferProblem
    from nst.net.features import feature_extractor
    from nst.runtime import configure_runtime
    from nst.settings import TransferSettings

    settings = TransferSettings(model="vgg16-hed", size=64, tv_weight=0.05)
    configure_runtime(settings)
    style = make_style("red", 64).astype(np.float32)
    first = make_content(48, 64).astype(np.float32)
    second = np.ascontiguousarray(first[:, ::-1] * 0.7 + 40)  # another picture, same shape
    problem = TransferProblem(settings, first, [style])
    extractor = feature_extractor(settings, problem.layers.network)
    used, _view = problem.objective(extractor, (48, 64))
    x = make_style("blue", 64)[:48].astype(np.float32)
    before = {k: float(v) for k, v in used(tf.constant(x)).items()}
    again, _view = TransferProblem(settings, second, [style]).objective(extractor, (48, 64))
    assert again is used
    fresh = Objective(extractor, settings, second, [style], [1.0], layers=problem.layers)
    reused = {k: float(v) for k, v in again(tf.constant(x)).items()}
    for k, v in fresh(tf.constant(x)).items():
        assert reused[k] == pytest.approx(float(v), rel=1e-5), k
    assert reused["content"] != pytest.approx(before["content"], rel=1e-3)
    other, _view = TransferProblem(settings.replace(style_weight=3.0), second, [style]).objective(
        extractor, (48, 64)
    )
    assert other is not used  # another loss setting: another objective


def test_the_palette_start_is_the_content_in_the_styles_colours():
    from conftest import make_content, make_style

    from nst.engine.driver import initial_image
    from nst.settings import TransferSettings

    content = make_content(48, 64).astype(np.float32)
    red, blue = make_style("red", 64).astype(np.float32), make_style("blue", 64).astype(np.float32)
    settings = TransferSettings(init="palette")
    start = initial_image(settings, content, [red], (48, 64))
    np.testing.assert_allclose(start.reshape(-1, 3).mean(0), red.reshape(-1, 3).mean(0), atol=3)
    # the content's layout: its structure correlates with the content's luminance
    lum = lambda x: x.mean(-1).ravel()  # noqa: E731
    assert np.corrcoef(lum(start), lum(content))[0, 1] ** 2 > 0.5
    both = initial_image(settings, content, [red, blue], (48, 64), [0.5, 0.5])
    mean = (red.reshape(-1, 3).mean(0) + blue.reshape(-1, 3).mean(0)) / 2
    np.testing.assert_allclose(both.reshape(-1, 3).mean(0), mean, atol=6)
    grey = content.mean(-1, keepdims=True)  # luminance-only transfer keeps the content
    np.testing.assert_array_equal(initial_image(settings, grey, [red[..., :1]], (48, 64)), grey)
