"""The workflow's ``video`` section: its sets (transfer settings and video options, validated
when the DAG is built) and the frame distances the flow job computes. No OpenCV, PyAV or
TensorFlow is imported here."""

from __future__ import annotations

from nst.errors import SettingsError
from nst.experiment.grid import SET_NAME, validated
from nst.settings import VideoOptions

VIDEO_KEYS = ("temporal_weight", "temporal_frames", "first_iterations")


def video_sets(config: dict) -> dict[str, dict]:
    """{set name: {"settings": {...}, "options": {...}}} of the config's ``video`` section: the
    top-level ``defaults``, then ``video.defaults``, then each set under ``video.params``; the
    keys in :data:`VIDEO_KEYS` are video options, the rest transfer settings (both validated)."""
    section = config.get("video") or {}
    base = {**(config.get("defaults") or {}), **(section.get("defaults") or {})}
    out = {}
    for name, values in (section.get("params") or {"temporal": {}}).items():
        if not SET_NAME.fullmatch(str(name)):
            raise SettingsError(
                f"video set name {name!r} must be letters, digits, '_', '.' or '-'."
            )
        merged = {**base, **(values or {})}
        options = {k: merged.pop(k) for k in VIDEO_KEYS if k in merged}
        try:
            VideoOptions(**options)
        except SettingsError as exc:
            raise SettingsError(f"video.params.{name}: {exc}") from None
        out[str(name)] = {
            "settings": validated(f"video.params.{name}", merged),
            "options": options,
        }
    return out


def flow_steps(sets: dict[str, dict]) -> list[int]:
    """Every frame distance any video set looks back (the flow job computes them all once)."""
    return sorted({j for s in sets.values() for j in VideoOptions(**s["options"]).temporal_frames})
