"""The workflow's ``arbitrary`` section: the universal (any-style) column and the decoders it and
the warm start (``init: arbitrary``) share; checked when the workflow starts.

The decoders of a model (``level1.keras`` ...) come from ``arbitrary.decoders``, else from
``results/decoders/{model}/`` when ``arbitrary.train`` is given (one ``train_decoder`` job per
level), else from the shipped ``resources/decoders/{model}/``. One ``stylize_arbitrary`` job per
content x listed style writes ``results/transfer/{content}/{style}/arbitrary/``: a column of its
own on the contact sheets, beside the optimised sets and the fast column. An optimised set with
``init: arbitrary`` starts from the same decoders' result, so their files are inputs of its jobs.
No TensorFlow is imported here.
"""

from __future__ import annotations

from pathlib import Path

from nst.errors import SettingsError
from nst.experiment.grid import select
from nst.settings import UNIVERSAL_LEVELS, DecoderSettings, TransferSettings

ARBITRARY_SET = "arbitrary"
LEVELS = UNIVERSAL_LEVELS
# the engine's warm start (nst.engine.driver.initial_image) decodes every one of these levels
WARM_LEVELS = UNIVERSAL_LEVELS
WARM_INIT = "arbitrary"
TRANSFORM_NAMES = {"wct": "WCT", "adain": "AdaIN"}


def section(config: dict) -> dict:
    return config.get("arbitrary") or {}


def styles(config: dict, available: list[str]) -> list[str]:
    """The styles with an any-style column (a subset of the experiment's styles)."""
    return select(available, section(config).get("styles") or [], "arbitrary style")


def experiment_model(config: dict) -> str:
    """The loss network of the experiment (``defaults.model``): the decoders' encoder."""
    return (config.get("defaults") or {}).get("model") or TransferSettings().model


def trains(config: dict) -> bool:
    """Whether the workflow trains the decoders (``arbitrary.train`` given, no ``decoders``)."""
    s = section(config)
    return not s.get("decoders") and s.get("train") is not None


def decoders_dir(config: dict, model: str | None = None) -> str:
    """The folder of the decoders of ``model`` (default: the experiment's)."""
    s = section(config)
    model = model or experiment_model(config)
    if s.get("decoders"):
        return str(s["decoders"])
    if trains(config):
        return f"results/decoders/{model}"
    return f"resources/decoders/{model}"


def level_file(folder: str, level: int) -> str:
    """``folder/level{k}.keras`` (nst.universal.model.decoder_path, without importing it)."""
    return f"{folder}/level{int(level)}.keras"


def levels(config: dict) -> list[int]:
    return [int(v) for v in section(config).get("levels") or LEVELS]


def column_decoders(config: dict) -> list[str]:
    """The decoder files the column reads (one per level)."""
    folder = decoders_dir(config)
    return [level_file(folder, v) for v in levels(config)]


def size(config: dict) -> int:
    """Longest side of the column's outputs: ``arbitrary.size``, else the defaults' size (the
    optimised columns'), else the prepared images'."""
    return int(
        section(config).get("size")
        or (config.get("defaults") or {}).get("size")
        or (config.get("prepare") or {}).get("size", 512)
    )


def options(config: dict) -> dict:
    """The column's nst.universal.UniversalOptions, as a mapping."""
    s = section(config)
    return {
        "alpha": float(s.get("alpha", 1.0)),
        "detail": float(s.get("detail", 1.0)),
        "transform": s.get("transform", "wct"),
        "levels": levels(config),
        "size": size(config),
    }


def label(config: dict) -> str:
    """The column's heading: what it is, and its settings when not the defaults."""
    s = section(config)
    parts = ["universal", TRANSFORM_NAMES.get(s.get("transform", "wct"), s.get("transform"))]
    if float(s.get("alpha", 1.0)) != 1.0:
        parts.append(f"alpha={float(s['alpha']):g}")
    if float(s.get("detail", 1.0)) != 1.0:
        parts.append(f"detail={float(s['detail']):g}")
    if tuple(levels(config)) != LEVELS:
        parts.append("levels " + " ".join(map(str, levels(config))))
    return f"any-style network ({', '.join(parts)})"


def warm_decoders(config: dict, settings: dict) -> str | None:
    """The decoders' folder a set's transfer starts from (``init: arbitrary``), or None: the
    set's own ``decoders``, else the section's for the set's model."""
    if settings.get("init") != WARM_INIT:
        return None
    return settings.get("decoders") or decoders_dir(
        config, settings.get("model") or TransferSettings().model
    )


def warm_files(config: dict, settings: dict) -> list[str]:
    """The decoder files a set's transfer jobs read (inputs, so that new decoders re-run it)."""
    folder = warm_decoders(config, settings)
    return [] if folder is None else [level_file(folder, v) for v in WARM_LEVELS]


def with_decoders(config: dict, settings: dict) -> dict:
    """A set's settings with its warm start filled in: the decoders' folder, and the column's
    ``alpha`` and ``detail`` as ``init_alpha`` / ``init_detail`` where the set gives none, so
    that it starts from the result the sheet's arbitrary column shows."""
    folder = warm_decoders(config, settings)
    if folder is None:
        return settings
    column = options(config)
    start = {"init_alpha": column["alpha"], "init_detail": column["detail"]}
    return {**start, **settings, "decoders": folder}


def train_settings(config: dict, model: str, level: int) -> dict:
    """The DecoderSettings of one level's training job (``arbitrary.train`` without ``data``;
    the encoder is the experiment's model and weights)."""
    values = {k: v for k, v in (section(config).get("train") or {}).items() if k != "data"}
    values.update(model=model, level=int(level))
    weights = (config.get("defaults") or {}).get("weights")
    if weights and model == experiment_model(config):
        values["weights"] = weights
    return values


def train_data(config: dict) -> list[str]:
    """The training photographs' files and folders; [] means the dataset's content images."""
    return [str(p) for p in (section(config).get("train") or {}).get("data") or []]


def check(config: dict, sets: dict[str, dict], video_sets: dict[str, dict] | None = None):
    """Errors a config can hold, before any job: a set named like the column, a decoders folder
    without the levels it must hold, training settings or data nst would refuse.

    ``sets`` and ``video_sets`` are the merged settings of the optimised and video sets (those
    with ``init: arbitrary`` need the decoders too).
    """
    s = section(config)
    column = bool(s.get("styles"))
    if column and ARBITRARY_SET in sets:
        raise SettingsError(
            f"params.{ARBITRARY_SET}: the name is taken by the any-style (universal) column; "
            "rename the set."
        )
    # {folder: (levels, the key that names the folder)}
    needed: dict[str, tuple[set[int], str]] = {}

    def need(folder: str, wanted, key: str) -> None:
        have, first = needed.get(folder, (set(), key))
        needed[folder] = (have | {int(v) for v in wanted}, first)

    default_key = "arbitrary.decoders"
    if column:
        need(decoders_dir(config), levels(config), default_key)
    warm = {f"params.{n}": v for n, v in sets.items()}
    warm.update({f"video.params.{n}": v["settings"] for n, v in (video_sets or {}).items()})
    for where, settings in warm.items():
        folder = warm_decoders(config, settings)
        if folder is not None:
            need(
                folder,
                WARM_LEVELS,
                f"{where}.decoders" if settings.get("decoders") else default_key,
            )
    if not needed:
        return
    if trains(config):
        for level in sorted({v for have, _ in needed.values() for v in have}):
            try:
                DecoderSettings(**train_settings(config, experiment_model(config), level))
            except (SettingsError, TypeError) as exc:
                raise SettingsError(f"arbitrary.train: {exc}") from None
        for path in train_data(config):
            if not Path(path).exists():
                raise SettingsError(
                    f"arbitrary.train.data: {path}: no such file or folder of training photos."
                )
    for folder, (have, key) in needed.items():
        if trains(config) and key == default_key:
            continue  # the workflow trains them (train_decoder)
        files = [Path(level_file(folder, v)) for v in sorted(have, reverse=True)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            where = "no such folder" if not Path(folder).is_dir() else f"no {', '.join(missing)}"
            raise SettingsError(
                f"{key} = {folder}: {where}; give a folder of decoders trained with "
                "nst train-decoder (level1.keras ...), or set arbitrary.train so that the "
                "workflow trains them."
            )
