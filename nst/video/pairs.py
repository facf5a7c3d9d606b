"""Pairs of consecutive video frames for training a network with a temporal term
(:mod:`nst.feedforward.temporal`): the frames, the flow from each frame back to its predecessor
and Ruder et al.'s consistency weights, cropped at random.

Every clip is resized once so that its shorter side is at least the crop size (and at most
``MAX_SCALE`` times it), its flows computed once (DIS, :mod:`nst.video.flow`). A pair is a random
consecutive pair of a random clip, a square crop of both frames at one place, the flow and weights
of that crop; weights are 0 where the flow leaves the crop (the warp would repeat its edge) and
everything is mirrored left-right half of the time (the flow's x with it). Deterministic in the
seed and the step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np

from nst import images, runtime
from nst.video import flow
from nst.video.clips import Clip

MAX_SCALE = 1.5


class FramePairs:
    """Random crops of consecutive frames of ``clips`` with their flows and weights."""

    def __init__(
        self,
        clips: Sequence[Clip],
        size: int,
        seed: int,
        pairs: int = 1,
        log: Callable[[str], None] = runtime.log,
    ):
        self.size, self.seed, self.pairs = size, seed, pairs
        self.frames: list[np.ndarray] = []  # per clip (T, H, W, 3) float32
        self.backward: list[np.ndarray] = []  # per clip (T - 1, H, W, 2): flow t -> t - 1
        self.weights: list[np.ndarray] = []  # per clip (T - 1, H, W)
        self.sources = []
        for clip in clips:
            frames = np.asarray(clip.frames)
            h, w = frames.shape[1:3]
            if len(frames) < 2:
                continue
            scale = min(max(size / min(h, w), 1.0), MAX_SCALE * size / min(h, w))
            if scale != 1.0:
                shape = (max(size, round(h * scale)), max(size, round(w * scale)))
                frames = np.stack([images.to_uint8(images.resize(f, shape)) for f in frames])
            got = flow.compute_flows(frames, (1,))
            back, fwd = got["backward_1"], got["forward_1"]
            self.frames.append(frames.astype(np.float32))
            self.backward.append(back)
            self.weights.append(
                np.stack([flow.consistency(b, f) for b, f in zip(back, fwd, strict=True)])
            )
            self.sources.append(clip.source)
            log(
                f"temporal pairs: {len(frames) - 1} from {clip.source.get('path', 'a clip')} at "
                f"{frames.shape[2]}x{frames.shape[1]} px (flow {float(got['seconds']):.1f} s), "
                f"{float(self.weights[-1].mean()):.0%} of pixels reliable"
            )
        if not self.frames:
            from nst.errors import SettingsError

            raise SettingsError("the training videos have no pair of consecutive frames.")

    def digest(self) -> str:
        """sha256 of the frames (what a checkpoint resumes only with)."""
        h = hashlib.sha256()
        for frames in self.frames:
            h.update(images.to_uint8(frames).tobytes())
        return h.hexdigest()

    def count(self) -> int:
        return sum(len(b) for b in self.backward)

    def batch(self, step: int):
        """(previous, current, flow, weights) of training step ``step``: (P, S, S, 3) twice,
        (P, S, S, 2) and (P, S, S, 1), float32."""
        rng = np.random.default_rng([self.seed, step, 7])
        s, p = self.size, self.pairs
        prev = np.empty((p, s, s, 3), np.float32)
        cur = np.empty((p, s, s, 3), np.float32)
        flows = np.empty((p, s, s, 2), np.float32)
        weights = np.empty((p, s, s, 1), np.float32)
        for k in range(p):
            c = rng.integers(len(self.frames))
            t = rng.integers(len(self.backward[c]))  # pair (t, t + 1)
            h, w = self.frames[c].shape[1:3]
            y, x = rng.integers(h - s + 1), rng.integers(w - s + 1)
            box = (slice(y, y + s), slice(x, x + s))
            fl = self.backward[c][t][box].copy()
            wt = self.weights[c][t][box].copy()
            gy, gx = np.mgrid[0:s, 0:s].astype(np.float32)
            tx, ty = gx + fl[..., 0], gy + fl[..., 1]
            wt[(tx < 0) | (tx > s - 1) | (ty < 0) | (ty > s - 1)] = 0.0
            a, b = self.frames[c][t][box], self.frames[c][t + 1][box]
            if rng.random() < 0.5:  # mirrored: the flow's x changes sign
                a, b, wt = a[:, ::-1], b[:, ::-1], wt[:, ::-1]
                fl = fl[:, ::-1] * np.array([-1.0, 1.0], np.float32)
            prev[k], cur[k], flows[k], weights[k] = a, b, fl, wt[..., None]
        return prev, cur, flows, weights
