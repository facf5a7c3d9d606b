"""How much memory a run needs, and the tile and L-BFGS history that keep it within a budget.

An evaluation of the whole image holds every layer's activations and their gradients, which
grows with the pixels (``NETWORK_BYTES_PER_PIXEL``, measured by ``bench/bench_memory.py``); the
optimiser holds a few image-sized vectors, and L-BFGS ``2 m`` more for its history of ``m``
corrections (float64, as scipy keeps them). When the whole image does not fit the budget
(``--max-memory``, default most of the memory available), the evaluation goes tile by tile
(:mod:`nst.loss.tiled`, exact), with the largest tile that fits, and the L-BFGS history shrinks
to what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from nst.errors import SettingsError
from nst.runtime import AVAILABLE_SHARE, GIB, available_bytes

__all__ = ["AVAILABLE_SHARE", "GIB", "available_bytes"]  # with the planning below
# Peak bytes per input pixel of one value-and-gradient evaluation of the whole image, over the
# process before it (network built and traced at a small size), from bench/bench_memory.py:
# the slope between 512 and 1024 px, float32 (measured 2205 and 4233, each in a process of its
# own; inetwork reads all 13 layers and their chained pairs).
NETWORK_BYTES_PER_PIXEL = {"gatys": 2200.0, "inetwork": 4250.0}
NETWORK_BASE_BYTES = 0.85 * GIB  # TensorFlow, the network's weights (measured 0.78-0.84 GiB)
# image-sized vectors besides the history: scipy's L-BFGS-B keeps about 12 float64 vectors of
# its own and the driver a few float32 copies; Adam keeps the variable, two moments and the
# gradient, and its eager update, the clip, the driver's copies and (tiled) the content targets
# add about as many again: bench/bench_memory.py measured 6.29 GiB at 4096 px and 19.25 GiB at
# 8192 px in tiles of 1024 (the network's share and the base taken off: 59 and 84 bytes per
# value), so Adam counts the larger, 21 float32 copies
LBFGS_VECTORS_BYTES = 12 * 8 + 6 * 4
ADAM_VECTORS_BYTES = 21 * 4
MAX_HISTORY = 100
MIN_HISTORY = 5
MIN_TILE = 128


def budget_bytes(settings) -> int:
    if settings.max_memory is not None:
        return int(float(settings.max_memory) * GIB)
    return int(AVAILABLE_SHARE * available_bytes())


def network_bytes(method: str, pixels: float) -> float:
    per_pixel = NETWORK_BYTES_PER_PIXEL.get(method, max(NETWORK_BYTES_PER_PIXEL.values()))
    return per_pixel * pixels


def optimiser_bytes(settings, pixels: float, channels: int, history: int) -> float:
    n = pixels * channels
    if settings.optimizer == "lbfgs":
        return n * (LBFGS_VECTORS_BYTES + 2 * history * 8)
    return n * ADAM_VECTORS_BYTES


@dataclass(frozen=True)
class MemoryPlan:
    """A scale's evaluation (whole image, or tiles of ``tile`` px with a ``halo``), the L-BFGS
    history, and the estimate against the budget, in GiB."""

    tile: int | None
    halo: int
    history: int
    estimate_gib: float
    budget_gib: float

    def to_dict(self) -> dict:
        return {
            "tile": self.tile,
            "halo": self.halo,
            "lbfgs_history": self.history,
            "estimate_gib": round(self.estimate_gib, 3),
            "budget_gib": round(self.budget_gib, 3),
        }


def plan(settings, shape: tuple[int, int], channels: int, halo: int, align: int) -> MemoryPlan:
    """The tile and L-BFGS history of a scale of ``shape``: the settings' tile if given (the
    whole image when it covers it), else the whole image when it fits the budget, else the
    largest tile (a multiple of ``align``) that does. A budget too small even for the smallest
    tile is a SettingsError saying how much the run needs."""
    h, w = shape
    pixels = float(h * w)
    budget = budget_bytes(settings)

    def history_for(network: float) -> int:
        if settings.optimizer != "lbfgs":
            return MAX_HISTORY
        spare = (
            budget - NETWORK_BASE_BYTES - network - optimiser_bytes(settings, pixels, channels, 0)
        )
        return int(max(MIN_HISTORY, min(MAX_HISTORY, spare // (16 * pixels * channels))))

    def estimate(network: float, history: int) -> float:
        return NETWORK_BASE_BYTES + network + optimiser_bytes(settings, pixels, channels, history)

    def tiled(tile: int) -> MemoryPlan:
        side = min(tile + 2 * halo, max(h, w))
        network = network_bytes(settings.method, min(pixels, side * side))
        history = history_for(network)
        return MemoryPlan(tile, halo, history, estimate(network, history) / GIB, budget / GIB)

    if settings.tile:
        if settings.tile >= max(h, w):
            network = network_bytes(settings.method, pixels)
            history = history_for(network)
            return MemoryPlan(None, 0, history, estimate(network, history) / GIB, budget / GIB)
        return tiled(settings.tile)
    network = network_bytes(settings.method, pixels)
    least = estimate(network, MIN_HISTORY if settings.optimizer == "lbfgs" else 0)
    if least <= budget:
        history = history_for(network)
        return MemoryPlan(None, 0, history, estimate(network, history) / GIB, budget / GIB)
    # the largest tile whose evaluation leaves room for the optimiser's vectors
    room = budget - NETWORK_BASE_BYTES - optimiser_bytes(settings, pixels, channels, MIN_HISTORY)
    per_pixel = network_bytes(settings.method, 1.0)
    side = int((max(room, 0) / per_pixel) ** 0.5) - 2 * halo
    tile = side // align * align
    if tile < MIN_TILE:
        need = estimate(network_bytes(settings.method, (MIN_TILE + 2 * halo) ** 2), MIN_HISTORY)
        hint = (
            " or --optimizer adam (fewer image-sized vectors)"
            if settings.optimizer == "lbfgs"
            else ""
        )
        raise SettingsError(
            f"a {w}x{h} px run needs at least {need / GIB:.1f} GiB even in tiles; the budget is "
            f"{budget / GIB:.1f} GiB: give --max-memory more, a smaller --size{hint}."
        )
    return tiled(tile)
