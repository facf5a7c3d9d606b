"""The experiment grid: named hyperparameter sets crossed with contents and styles.

A config names its hyperparameter sets (``params: {baseline: {...}, strong: {...}}``); each set is
the shared ``defaults`` plus its own values, validated as :class:`~nst.settings.TransferSettings`.
Output folders are named after the sets (``results/transfer/{content}/{style}/{set}``), so paths
stay short and readable and changing one set re-runs only its jobs.

A ``sweep`` crosses lists of values (``sweep: {style_weight: [0.1, 1, 10], tv_weight: [0, 0.01]}``)
into one set per combination, named after its values the way Snakemake's ``Paramspace`` names
its instances (``style_weight~0.1_tv_weight~0``); the axis ``set`` sweeps over named sets, whose
values the point then starts from. Sweep sets and named sets run side by side.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable

from nst.errors import SettingsError
from nst.report.sheets import short
from nst.settings import SETTING_NAMES, TransferSettings

SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~+-]*")
SET_AXIS = "set"  # the sweep axis over named hyperparameter sets


def sweep_table(config: dict) -> list[dict]:
    """The sweep's points in order (the last axis varies fastest); [] without a sweep.

    Every axis is a setting name (or ``set``) with a non-empty list of values; a point's
    settings are validated in :func:`param_sets`.
    """
    sweep = config.get("sweep") or {}
    if not isinstance(sweep, dict):
        raise SettingsError("sweep must map setting names to lists of values.")
    named = config.get("params") or {}
    settings = set(SETTING_NAMES)
    for axis, values in sweep.items():
        if axis != SET_AXIS and axis not in settings:
            raise SettingsError(
                f"sweep.{axis}: unknown setting; sweep over settings ({', '.join(SETTING_NAMES)}) "
                f"or '{SET_AXIS}' (named sets)."
            )
        if not isinstance(values, list) or not values:
            raise SettingsError(f"sweep.{axis} must be a non-empty list of values.")
        if len({repr(v) for v in values}) != len(values):
            raise SettingsError(f"sweep.{axis} lists a value twice: {values}.")
        if axis == SET_AXIS:
            missing = [v for v in values if v not in named]
            if missing:
                raise SettingsError(
                    f"sweep.set names {', '.join(map(str, missing))}, not sets under params."
                )
    axes = list(sweep)
    if not axes:
        return []
    return [dict(zip(axes, point, strict=True)) for point in itertools.product(*sweep.values())]


def sweep_name(point: dict) -> str:
    """``{"style_weight": 0.1, "tv_weight": 0}`` -> ``"style_weight~0.1_tv_weight~0"`` (the
    instance name Snakemake's ``Paramspace(table, filename_params="*")`` gives the same row)."""
    return "_".join(f"{k}~{v}" for k, v in point.items())


def param_sets(config: dict, sweep_names: list[str] | None = None) -> dict[str, dict]:
    """{set name: merged settings dict}, each validated (unknown keys name the set).

    Named sets come first, then one set per sweep point, named ``sweep_names[i]`` (the
    workflow passes Paramspace's names) or :func:`sweep_name`.
    """
    defaults = dict(config.get("defaults") or {})
    sets = config.get("params") or {}
    points = sweep_table(config)
    if not sets and not points:
        raise SettingsError(
            "the config has no hyperparameter sets; add at least one under params or a sweep."
        )
    merged = {}
    for name, values in sets.items():
        if not SET_NAME.fullmatch(str(name)):
            raise SettingsError(
                f"hyperparameter set name {name!r} must be letters, digits, '_', '.' or '-'."
            )
        merged[str(name)] = validated(f"params.{name}", {**defaults, **(values or {})})
    names = sweep_names if sweep_names is not None else [sweep_name(p) for p in points]
    for name, point in zip(names, points, strict=True):
        if not SWEEP_NAME.fullmatch(name):
            raise SettingsError(f"sweep point {name!r} makes no usable folder name.")
        base = sets.get(point.get(SET_AXIS)) or {}
        values = {k: v for k, v in point.items() if k != SET_AXIS}
        merged[name] = validated(f"sweep point {name}", {**defaults, **base, **values})
    return merged


def sweep_axes(config: dict) -> list[str]:
    """The swept settings in the config's order (rows, then columns of a sweep sheet)."""
    return list(config.get("sweep") or {})


def validated(where: str, settings: dict) -> dict:
    try:
        TransferSettings.from_dict(settings)
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    return settings


def differing_values(sets: dict[str, dict]) -> dict[str, dict]:
    """For each set, the settings whose value is not the same in every set (a setting a set
    leaves out counts with the library's default, so labels never read ``key=None``). Values
    are compared as values: ``1`` from YAML equals a default ``1.0``, a list equals a tuple."""
    defaults = dataclasses.asdict(TransferSettings())
    full = {name: {**defaults, **s} for name, s in sets.items()}
    keys = sorted({k for s in sets.values() for k in s})

    def varies(key: str) -> bool:
        first, *rest = (_as_value(s[key]) for s in full.values())
        return any(value != first for value in rest)

    varying = [k for k in keys if varies(k)]
    return {name: {k: s[k] for k in varying} for name, s in full.items()}


def _as_value(value):
    """A setting in a form that compares by value (tuples and lists alike, nested)."""
    if isinstance(value, (list, tuple)):
        return [_as_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_value(v) for k, v in value.items()}
    return value


def describe(values: dict) -> str:
    """``{"style_weight": 100, "method": "gatys"}`` -> ``"method=gatys style_weight=100"``."""
    return " ".join(f"{k}={short(v)}" for k, v in sorted(values.items()))


def select(available: Iterable[str], wanted, role: str) -> list[str]:
    """The names of ``role`` to use: all available (``"all"``) or the listed ones, in order."""
    available = list(available)
    if wanted in (None, "all"):
        return available
    missing = [w for w in wanted if w not in available]
    if missing:
        raise SettingsError(
            f"{role} {', '.join(missing)} not in the dataset; available: {', '.join(available)}."
        )
    return list(wanted)


def combinations(config: dict, contents: list[str], styles: list[str]) -> list[tuple[str, str]]:
    """(content, style) pairs: the listed ``pairs``, or every content with every style."""
    pairs = config.get("pairs") or []
    if not pairs:
        return [(c, s) for c in contents for s in styles]
    out = []
    for pair in pairs:
        c, s = pair
        select(contents, [c], "content")
        select(styles, [s], "style")
        out.append((c, s))
    return out
