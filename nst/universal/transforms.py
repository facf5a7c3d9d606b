"""Feature transforms of the universal path: a content's features given a style's statistics.

* ``wct``: whitening and colouring (Li et al. 2017): the content features, centred, are
  whitened (their covariance becomes the identity) and coloured with the style's covariance and
  mean, so that their second-order statistics (the Gram matrix the optimisation matches) are the
  style's exactly, while the spatial arrangement stays the content's.
* ``adain``: adaptive instance normalisation (Huang & Belongie 2017): each channel's mean and
  standard deviation become the style's (the diagonal of the same idea; cheaper, less colour).

``alpha`` mixes the transformed features with the content's own (0: the content's features, 1:
the full transform). Several styles are blended feature-wise with their weights; regional
styles (a mask per style) transform the content's features under each mask with that region's
own statistics, and keep the content's features where no mask reaches.

The products over positions are float32, the channel-by-channel algebra (eigendecompositions of
up to 512 x 512 covariances) float64; eigenvalues below ``EIGEN_FLOOR`` of the largest are
dropped, as an almost singular covariance would otherwise amplify noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nst.errors import SettingsError

TRANSFORMS = ("wct", "adain")
EIGEN_FLOOR = 1e-5


@dataclass(frozen=True)
class FeatureStats:
    """Mean, per-channel standard deviation and covariance square roots of (N, C) features."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    color: np.ndarray  # (C, C): cov^(1/2)
    whiten: np.ndarray  # (C, C): cov^(-1/2)

    @classmethod
    def of(cls, features: np.ndarray, weights: np.ndarray | None = None) -> FeatureStats:
        """Statistics of (H, W, C) or (N, C) features, optionally weighted per position.

        The products over positions run in float32 (BLAS), the C x C algebra in float64.
        """
        f = np.asarray(features, np.float32).reshape(-1, features.shape[-1])
        if weights is None:
            mean = f.mean(axis=0, dtype=np.float64)
            centred = f - mean.astype(np.float32)
            cov = (centred.T @ centred).astype(np.float64) / len(f)
        else:
            w = np.asarray(weights, np.float64).reshape(-1)
            w = (w / max(w.sum(), 1e-12)).astype(np.float32)
            mean = (w @ f).astype(np.float64)
            centred = f - mean.astype(np.float32)
            cov = ((centred * w[:, None]).T @ centred).astype(np.float64)
        return cls.of_moments(mean, cov)

    @classmethod
    def of_moments(cls, mean: np.ndarray, cov: np.ndarray) -> FeatureStats:
        """Statistics of a mean (C,) and covariance (C, C)."""
        values, vectors = np.linalg.eigh(np.asarray(cov, np.float64))
        keep = values > EIGEN_FLOOR * max(values.max(), 1e-12)
        values, vectors = values[keep], vectors[:, keep]
        root = np.sqrt(values)
        return cls(
            mean=mean,
            std=np.sqrt(np.maximum(np.diag(cov), 0.0)),
            color=(vectors * root) @ vectors.T,
            whiten=(vectors / root) @ vectors.T,
        )


class Moments:
    """Statistics of features that come in parts (the tiles of a large image): sums of the
    (weighted) positions, features and their outer products, about a reference point (the first
    part's mean) so that the float64 sums lose nothing to cancellation."""

    def __init__(self):
        self.weight, self.sum, self.outer, self.origin = 0.0, None, None, None

    def add(self, features: np.ndarray, weights: np.ndarray | None = None) -> None:
        f = np.asarray(features, np.float32).reshape(-1, features.shape[-1])
        if self.origin is None:
            self.origin = f.mean(axis=0, dtype=np.float64).astype(np.float32)
            c = f.shape[1]
            self.sum, self.outer = np.zeros(c, np.float64), np.zeros((c, c), np.float64)
        d = f - self.origin
        if weights is None:
            self.weight += len(d)
            self.sum += d.sum(axis=0, dtype=np.float64)
            self.outer += (d.T @ d).astype(np.float64)
        else:
            w = np.asarray(weights, np.float32).reshape(-1)
            self.weight += float(w.sum(dtype=np.float64))
            self.sum += (w @ d).astype(np.float64)
            self.outer += ((d * w[:, None]).T @ d).astype(np.float64)

    def stats(self) -> FeatureStats | None:
        """The statistics of every part added; None when nothing (or no weight) was."""
        if self.origin is None or self.weight < 1e-6:
            return None
        shift = self.sum / self.weight
        cov = self.outer / self.weight - np.outer(shift, shift)
        return FeatureStats.of_moments(self.origin.astype(np.float64) + shift, cov)


def check_transform(name: str) -> str:
    if name not in TRANSFORMS:
        raise SettingsError(f"unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}.")
    return name


def _transfer(f: np.ndarray, content: FeatureStats, style: FeatureStats, kind: str) -> np.ndarray:
    """(N, C) content features with the style's statistics, by ``kind``."""
    centred = f - content.mean.astype(np.float32)
    if kind == "adain":
        gain = style.std / np.maximum(content.std, 1e-8)
        return centred * gain.astype(np.float32) + style.mean.astype(np.float32)
    # one C x C matrix: whiten with the content's covariance, colour with the style's
    return centred @ (content.whiten @ style.color).astype(np.float32) + style.mean.astype(
        np.float32
    )


def transform(
    content: np.ndarray,
    styles: Sequence[FeatureStats],
    *,
    blend: Sequence[float] | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    alpha: float = 1.0,
    kind: str = "wct",
    content_stats: tuple | None = None,
) -> np.ndarray:
    """The (H, W, C) content features transformed towards the styles (float32).

    ``blend``: one weight per style (normalised; default equal); ``masks``: one (H, W) map in
    [0, 1] or None per style, at the features' grid: regional transfer, where the masked styles
    share each position by their masks and an unmasked style fills the rest.
    ``content_stats``: (the whole content's statistics, [each masked region's or None]) when
    ``content`` is one tile of a larger image (:func:`content_moments`); default: ``content``'s.
    """
    check_transform(kind)
    if not 0 <= alpha <= 1:
        raise SettingsError(f"alpha must be in [0, 1], not {alpha!r}.")
    h, w, c = content.shape
    f = np.asarray(content, np.float32).reshape(-1, c)
    masks = list(masks) if masks is not None else [None] * len(styles)
    weights = np.asarray(blend if blend is not None else [1.0] * len(styles), np.float64)
    if weights.sum() <= 0:
        raise SettingsError("style blend weights must not all be zero.")
    regional = [m is not None for m in masks]
    rest = [(st, wt) for st, wt, r in zip(styles, weights, regional, strict=True) if not r]
    mixed = None
    if rest:  # the unmasked styles, blended
        stats = content_stats[0] if content_stats is not None else FeatureStats.of(f)
        total = sum(wt for _s, wt in rest)
        for st, wt in rest:
            moved = _transfer(f, stats, st, kind)
            mixed = (
                moved * np.float32(wt / total) if mixed is None else mixed + moved * (wt / total)
            )
    out = mixed if mixed is not None else f
    if any(regional):
        region = np.zeros_like(f)
        cover = np.zeros(len(f), np.float32)
        for i, (st, mask) in enumerate(zip(styles, masks, strict=True)):
            if mask is None:
                continue
            m = np.clip(np.asarray(mask, np.float32).reshape(-1), 0.0, 1.0)
            if content_stats is not None:
                own = content_stats[1][i]
                if own is None or m.sum() == 0:
                    continue
            elif m.sum() < 1e-6:
                continue
            else:
                own = FeatureStats.of(f, m)
            region += m[:, None] * _transfer(f, own, st, kind)
            cover += m
        over = cover > 1.0  # overlapping masks share a position
        region[over] /= cover[over, None]
        cover = np.minimum(cover, 1.0)[:, None]
        out = region + (1.0 - cover) * out  # the rest: the unmasked styles, or the content
    if alpha < 1:
        out = np.float32(alpha) * out + np.float32(1.0 - alpha) * f
    return out.reshape(h, w, c).astype(np.float32, copy=False)
