"""The experiment grid: named hyperparameter sets crossed with contents and styles.

A config names its hyperparameter sets (``params: {baseline: {...}, strong: {...}}``); each set is
the shared ``defaults`` plus its own values, validated as :class:`~nst.settings.TransferSettings`.
Output folders are named after the sets (``results/transfer/{content}/{style}/{set}``), so paths
stay short and readable and changing one set re-runs only its jobs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from nst.errors import SettingsError
from nst.settings import TransferSettings

SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def param_sets(config: dict) -> dict[str, dict]:
    """{set name: merged settings dict}, each validated (unknown keys name the set)."""
    defaults = dict(config.get("defaults") or {})
    sets = config.get("params") or {}
    if not sets:
        raise SettingsError("the config has no hyperparameter sets; add at least one under params.")
    merged = {}
    for name, values in sets.items():
        if not SET_NAME.fullmatch(str(name)):
            raise SettingsError(
                f"hyperparameter set name {name!r} must be letters, digits, '_', '.' or '-'."
            )
        settings = {**defaults, **(values or {})}
        try:
            TransferSettings.from_dict(settings)
        except SettingsError as exc:
            raise SettingsError(f"params.{name}: {exc}") from None
        merged[str(name)] = settings
    return merged


def differing_values(sets: dict[str, dict]) -> dict[str, dict]:
    """For each set, the settings whose value is not the same in every set (a setting a set
    leaves out counts with the library's default, so labels never read ``key=None``)."""
    defaults = dataclasses.asdict(TransferSettings())
    full = {name: {**defaults, **s} for name, s in sets.items()}
    keys = sorted({k for s in sets.values() for k in s})
    varying = [k for k in keys if len({repr(s[k]) for s in full.values()}) > 1]
    return {name: {k: s[k] for k in varying} for name, s in full.items()}


def describe(values: dict) -> str:
    """``{"style_weight": 100, "method": "gatys"}`` -> ``"method=gatys style_weight=100"``."""
    return " ".join(f"{k}={_short(v)}" for k, v in sorted(values.items()))


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_short(v) for v in value)
    return str(value)


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
