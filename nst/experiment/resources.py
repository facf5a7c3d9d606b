"""What a job asks the scheduler for: the memory of an optimised set from its size.

``resources.transfer.mem_mb: auto`` (the default) sizes each set's transfer jobs with the memory
plan of :mod:`nst.engine.memory` (the documented bytes per pixel of the method's network pass,
the optimiser's image-sized vectors, the L-BFGS history) at the set's size, plus a margin, up to
``resources.transfer.max_mem_mb``; a set larger than that goes in tiles inside it. The run is
told the same figure (``max_memory``), so it plans its tile within what the job was given.
"""

from __future__ import annotations

import math

from nst.engine import memory
from nst.loss.methods import LossLayers
from nst.net import receptive
from nst.settings import SETTING_NAMES, TransferSettings

DEFAULT_MEM_MB = 4000  # the other jobs' memory when transfer jobs are sized automatically
MARGIN = 1.15  # over the estimate (Python, images, the quality figures)
EXTRA_MB = 300
SHARE = 0.9  # of the job's memory the run plans with


def fixed_mem_mb(transfer: dict) -> int:
    """The memory of the jobs that are not sized per set (video, fast, arbitrary)."""
    mem = transfer.get("mem_mb", "auto")
    return DEFAULT_MEM_MB if mem == "auto" else int(mem)


def transfer_memory(settings: dict, transfer: dict) -> tuple[int, float]:
    """(MB the job asks for, GiB the run plans with) for an optimised set's settings."""
    s = TransferSettings(**{k: v for k, v in settings.items() if k in SETTING_NAMES})
    mem = transfer.get("mem_mb", "auto")
    if mem != "auto":
        return int(mem), s.max_memory or round(int(mem) * SHARE / 1024, 3)
    cap = int(transfer.get("max_mem_mb", 16000))
    if s.max_memory:  # the set says what it may use: ask for that
        return min(cap, math.ceil(s.max_memory * 1024 / SHARE)), s.max_memory
    layers = LossLayers.of(s).network
    channels = 1 if s.preserve_color == "luminance" else 3
    plan = memory.plan(
        s.replace(max_memory=cap * SHARE / 1024),
        (s.size, s.size),  # the aspect is not known before the images: the square bounds it
        channels,
        receptive.halo(s.model, layers),
        receptive.alignment(layers),
    )
    mb = min(cap, math.ceil(plan.estimate_gib * 1024 * MARGIN) + EXTRA_MB)
    return mb, round(mb * SHARE / 1024, 3)
