"""Optical flow between video frames, warping, consistency weights and the warping error.

Conventions: a flow is an (H, W, 2) float32 array of (dx, dy) in pixels. ``flow(b -> a)`` at a
pixel x of frame b says where x is in frame a, so ``warp(image_a, flow(b -> a))`` is frame a
moved onto frame b's grid. Flows are computed on the input frames with OpenCV's DIS (Kroeger
et al. 2016), "medium" preset.

Consistency weights follow Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos"
(2016), section 3: 0 where the forward-backward check fails (disocclusions) or at motion
boundaries, 1 elsewhere. The warping error is Lai et al., "Learning blind video temporal
consistency" (ECCV 2018), eq. 8, on [0, 1] pixel values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame, np.uint8), cv2.COLOR_RGB2GRAY)


def _dis():
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis


def optical_flow(frame_b: np.ndarray, frame_a: np.ndarray) -> np.ndarray:
    """flow(b -> a) of two uint8 RGB frames (DIS, medium preset)."""
    return _dis().calc(_gray(frame_b), _gray(frame_a), None)


def frame_flows(frames: Sequence[np.ndarray], step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(backward, forward) flows of every pair (i - step, i): ``backward[k]`` is
    flow(i -> i - step) and ``forward[k]`` flow(i - step -> i) for i = k + step."""
    cv2.setNumThreads(1)  # the pairs are tiny; OpenCV's thread pool only adds jitter
    dis = _dis()
    grays = [_gray(f) for f in frames]
    backward, forward = [], []
    for i in range(step, len(grays)):
        backward.append(dis.calc(grays[i], grays[i - step], None))
        forward.append(dis.calc(grays[i - step], grays[i], None))
    shape = (0, *np.shape(frames[0])[:2], 2)
    empty = np.zeros(shape, np.float32)
    return (
        np.stack(backward) if backward else empty,
        np.stack(forward) if forward else empty,
    )


def _grid(shape) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape[:2]
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear; edges repeated): image moved along ``flow``."""
    gx, gy = _grid(flow.shape)
    image = np.asarray(image, np.float32)
    out = cv2.remap(
        image,
        gx + flow[..., 0],
        gy + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(image.shape)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al.'s weights c (H, W) in {0, 1} for frame b, given ŵ = flow(b -> a) and
    w = flow(a -> b).

    0 where the forward-backward check fails, ``|w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5`` with
    ``w̃(x) = w(x + ŵ(x))`` (the pixel was hidden in frame a), at motion boundaries,
    ``|∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002``, and where x + ŵ(x) leaves frame a; 1 elsewhere.
    """
    w_hat = np.asarray(backward, np.float32)
    w_tilde = warp(forward, w_hat)
    sq = np.sum
    occluded = sq((w_tilde + w_hat) ** 2, -1) > 0.01 * (sq(w_tilde**2, -1) + sq(w_hat**2, -1)) + 0.5
    du_y, du_x = np.gradient(w_hat[..., 0])
    dv_y, dv_x = np.gradient(w_hat[..., 1])
    grad = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    boundary = grad > 0.01 * sq(w_hat**2, -1) + 0.002
    gx, gy = _grid(w_hat.shape)
    x, y = gx + w_hat[..., 0], gy + w_hat[..., 1]
    h, w = w_hat.shape[:2]
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return (~(occluded | boundary | outside)).astype(np.float32)


def long_term_weights(weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Ruder et al.'s c_long for previous frames ordered nearest first (j = 1, 2, 4, ...):
    ``max(c_j - Σ_{k<j} c_k, 0)``, so each pixel is taken from the nearest frame where it is
    reliable and from no other."""
    out, covered = [], np.zeros_like(weights[0]) if weights else None
    for c in weights:
        out.append(np.maximum(c - covered, 0.0).astype(np.float32))
        covered = covered + c
    return out


def warping_error(outputs: Sequence[np.ndarray], backward: np.ndarray, masks: np.ndarray) -> float:
    """Lai et al.'s E_warp of ``outputs`` (uint8 or [0, 255] frames): the mean over t of
    ``Σ M ⊙ ‖O_{t+1} − warp(O_t)‖² / Σ M`` on [0, 1] values, the squared norm summed over the
    colour channels, with ``backward[t]`` = flow(t+1 -> t) and ``masks[t]`` its consistency
    weights, both from the input frames."""
    errors = pair_warping_errors(outputs, backward, masks)
    return float(np.mean(errors)) if errors else 0.0


def pair_warping_errors(outputs, backward, masks) -> list[float]:
    """The per-pair terms of :func:`warping_error` (pair t compares frames t and t + 1)."""
    errors = []
    for t in range(len(outputs) - 1):
        prev = np.asarray(outputs[t], np.float32) / 255.0
        nxt = np.asarray(outputs[t + 1], np.float32) / 255.0
        m = masks[t]
        diff = (nxt - warp(prev, backward[t])) ** 2
        errors.append(float((m[..., None] * diff).sum() / max(float(m.sum()), 1.0)))
    return errors


def compute_flows(frames: np.ndarray, steps: Sequence[int] = (1,), log=None) -> dict:
    """{"backward_j": ..., "forward_j": ...} for every step j (see :func:`frame_flows`), plus
    the seconds it took (what the workflow's flow job stores once per clip)."""
    t = time.perf_counter()
    out = {}
    for j in sorted(set(steps)):
        out[f"backward_{j}"], out[f"forward_{j}"] = frame_flows(frames, j)
    out["seconds"] = np.float64(time.perf_counter() - t)
    if log:
        steps_text = ",".join(map(str, sorted(set(steps))))
        log(f"flow: {len(frames)} frames, steps {steps_text}: {float(out['seconds']):.2f} s")
    return out


def load_flows(path) -> dict:
    """Flows stored by :func:`compute_flows` (an ``.npz``)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
