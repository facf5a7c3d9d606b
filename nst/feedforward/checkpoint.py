"""Training checkpoints: weights, optimizer state, step and loss history in one ``.npz`` beside
the model (``MODEL.keras.ckpt.npz``), with the identity of what they belong to (settings, data,
loss network); a checkpoint made for anything else is set aside with one line saying why."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nst.atomic import atomic_path

CHECKPOINT_FORMAT = 1
# settings a resumed training may change without changing the weights it ends with
RESUMABLE = ("steps", "checkpoint_every", "print_every")


def checkpoint_path(output: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(output)}.ckpt.npz")


def data_digest(style: np.ndarray, contents: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for arr in (style, *contents):
        a = np.ascontiguousarray(arr, np.float32)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def save_checkpoint(path: Path, model, optimizer, identity: dict, step: int, history, seconds):
    """Weights, optimizer state, step, loss history and what they belong to, in one .npz."""
    arrays = {
        "format": np.array(CHECKPOINT_FORMAT),
        "identity": np.array(json.dumps(identity, sort_keys=True)),
        "step": np.array(step),
        "history": np.array(json.dumps(history)),
        "seconds": np.array(seconds),
    }
    for i, w in enumerate(model.weights):
        arrays[f"model_{i}"] = np.asarray(w.numpy())
    for i, v in enumerate(optimizer.variables):
        arrays[f"optimizer_{i}"] = np.asarray(v.numpy())
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def restore_checkpoint(path: Path, model, optimizer, identity: dict, steps: int, log):
    """Load a matching checkpoint into model and optimizer: (step, history, seconds) or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != CHECKPOINT_FORMAT:
                raise ValueError(f"checkpoint format {int(data['format'])}")
            saved = json.loads(str(data["identity"]))
            step = int(data["step"])
            history = json.loads(str(data["history"]))
            seconds = float(data["seconds"])
            weights = [data[f"model_{i}"] for i in range(len(model.weights))]
            state = [data[f"optimizer_{i}"] for i in range(len(optimizer.variables))]
    except Exception as exc:  # truncated, foreign or from another layout
        log(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); starting over.")
        return None
    changed = _differences(saved, identity)
    if changed:
        log(
            f"checkpoint {path} was made with other settings ({', '.join(changed)}); starting over."
        )
        return None
    if step > steps:
        log(
            f"checkpoint {path} is at step {step}, past the {steps} steps asked for; starting over."
        )
        return None
    variables = [*model.weights, *optimizer.variables]
    values = [*weights, *state]
    if any(tuple(v.shape) != a.shape for v, a in zip(variables, values, strict=True)):
        log(f"checkpoint {path} does not fit the network; starting over.")
        return None
    for v, a in zip(variables, values, strict=True):
        v.assign(a)
    log(f"resuming from checkpoint {path} at step {step}/{steps}")
    return step, history, seconds
