"""The workflow's ``video`` section: its sets (transfer settings and video options, validated
when the DAG is built) and the frame distances the flow job computes. No OpenCV, PyAV or
TensorFlow is imported here."""

from __future__ import annotations

from pathlib import Path

from nst.errors import SettingsError
from nst.experiment.grid import SET_NAME, validated
from nst.settings import VideoOptions

VIDEO_KEYS = ("temporal_weight", "temporal_frames", "first_iterations", "blend")
NETWORKS = ("fast", "arbitrary")  # feed_forward: the style's fast network, or the decoders


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
        network = merged.pop("feed_forward", None)
        if network is not None and network not in NETWORKS and not Path(network).is_file():
            raise SettingsError(
                f"video.params.{name}.feed_forward: {network!r} is neither "
                f"{' nor '.join(NETWORKS)} nor a network file; train one with nst train-style."
            )
        try:
            VideoOptions(**options)
        except SettingsError as exc:
            raise SettingsError(f"video.params.{name}: {exc}") from None
        out[str(name)] = {
            "settings": validated(f"video.params.{name}", merged),
            "options": options,
            "network": network,
        }
    return out


def check_networks(sets: dict[str, dict], video_styles: list[str], fast_styles: list[str]) -> None:
    """A set with ``feed_forward: fast`` needs a fast network for every video style."""
    with_network = set(fast_styles)
    for name, s in sets.items():
        missing = [v for v in video_styles if v not in with_network]
        if s["network"] == "fast" and missing:
            raise SettingsError(
                f"video.params.{name}.feed_forward: fast needs a fast network for style(s) "
                f"{', '.join(missing)}; add them to fast.styles (or fast.models)."
            )


def network_files(config: dict, video_set: dict, style: str) -> list[str]:
    """The network files a video set's jobs read for ``style``: the style's fast network, the
    any-style column's decoders, or none (optimisation)."""
    from nst.experiment import arbitrary, fast

    if video_set["network"] == "fast":
        return [fast.model_path(config, style)]
    if video_set["network"] == "arbitrary":
        return arbitrary.column_decoders(config)
    return [] if video_set["network"] is None else [video_set["network"]]


def network_job(config: dict, video_set: dict, style: str) -> dict | None:
    """What the video job of a network set needs: ``{"network": file or "arbitrary",
    "decoders": folder, "universal": options}``; None for an optimised set."""
    from nst.experiment import arbitrary, fast

    if video_set["network"] is None:
        return None
    if video_set["network"] == "fast":
        return {"network": fast.model_path(config, style)}
    if video_set["network"] != "arbitrary":
        return {"network": video_set["network"]}
    return {
        "network": "arbitrary",
        "decoders": arbitrary.decoders_dir(config),
        "universal": {**arbitrary.options(config), "size": None},
    }


def flow_steps(sets: dict[str, dict]) -> list[int]:
    """Every frame distance any video set looks back (the flow job computes them all once)."""
    return sorted({j for s in sets.values() for j in VideoOptions(**s["options"]).temporal_frames})


def label_values(video_set: dict) -> dict:
    """A video set's settings, video options (defaults filled in) and network, for its label."""
    options = VideoOptions(**video_set["options"]).to_dict()
    return {**video_set["settings"], **options, "feed_forward": video_set["network"] or "none"}
