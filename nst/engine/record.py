"""Run records: what produced an output and how the run went, one JSON object per run.

Every kind of run (an optimised image, a video, a fast network's training and its stylising, the
workflow's fast column) builds its record with :func:`run_record`, so that the keys they share
mean the same, come in the same order, and name the same versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nst import runtime

LOSS_KEYS = ("total", "content", "style", "tv")


def loss_terms(row: dict) -> dict:
    """The four loss terms of a history row (or of the objective's values)."""
    return {k: row[k] for k in LOSS_KEYS}


def model_entry(settings, weights) -> dict:
    """The loss network: name, weights file and checksum, pooling."""
    return {
        "name": settings.model,
        "weights_path": weights.path,
        "weights_sha256": weights.sha256,
        "pooling": settings.pooling,
    }


def run_record(settings: dict, *, timings: dict, versions: dict | None = None, **fields) -> dict:
    """A run's record: its settings and seed, then the kind's own ``fields`` in the order given,
    then timings and versions (this process's, unless a record it continues has them)."""
    return {
        "settings": settings,
        "seed": settings.get("seed"),
        **fields,
        "timings": timings,
        "versions": versions if versions is not None else runtime.versions(),
    }


@dataclass
class TransferResult:
    """What produced an image, and how the optimisation went."""

    settings: dict
    history: list[dict]
    model: dict
    layers: dict
    timings: dict
    versions: dict
    inputs: dict
    output_shape: tuple[int, int]
    evaluations: int
    stop_reason: str
    scales: list[dict] = field(default_factory=list)
    initial: dict = field(default_factory=dict)  # loss terms at the starting image
    quality: dict = field(default_factory=dict)  # nst.quality figures of the output

    @property
    def final(self) -> dict:
        return loss_terms(self.history[-1] if self.history else self.initial)  # none: the start

    def to_dict(self) -> dict:
        return run_record(
            self.settings,
            inputs=self.inputs,
            output={"height": self.output_shape[0], "width": self.output_shape[1]},
            model=self.model,
            layers=self.layers,
            iterations=len(self.history),
            evaluations=self.evaluations,
            stop_reason=self.stop_reason,
            initial_loss=self.initial,
            final_loss=self.final,
            quality=self.quality,
            scales=self.scales,
            history=self.history,
            timings=self.timings,
            versions=self.versions,
        )
