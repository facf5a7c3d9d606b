"""The workflow's ``fast`` section: which styles get a feed-forward network (Johnson et al.),
where each network comes from, and how it is trained; checked when the workflow starts.

A style's network is either trained by the workflow (``train_style``, on the experiment's
content images plus ``extra_content``) or, when ``fast.models`` names a file for the style,
that trained model is used as it is. Either way one ``stylize`` job per content x style writes
``results/transfer/{content}/{style}/fast/``: a column of its own on the contact sheets, beside
the optimised sets.
"""

from __future__ import annotations

from pathlib import Path

from nst.errors import SettingsError
from nst.experiment.grid import select

FAST_SET = "fast"


def section(config: dict) -> dict:
    return config.get("fast") or {}


def check(config: dict, set_names) -> None:
    """Errors a config can hold, before any job: a set named like the fast column, a model file
    that is not there, and training settings nst would refuse."""
    fast = section(config)
    if not fast.get("styles"):
        return
    if FAST_SET in set_names:
        raise SettingsError(
            f"params.{FAST_SET}: the name is taken by the fast (feed-forward) column; rename the "
            "set."
        )
    for style, path in (fast.get("models") or {}).items():
        if not Path(path).is_file():
            raise SettingsError(
                f"fast.models.{style} = {path}: no such model file; train one with "
                "nst train-style, or remove the entry so that the workflow trains it."
            )
    try:
        training_settings(config)
    except SettingsError as exc:
        raise SettingsError(f"fast.train: {exc}") from None


def styles(config: dict, available: list[str]) -> list[str]:
    """The styles with a fast column (a subset of the experiment's styles)."""
    wanted = section(config).get("styles") or []
    return select(available, wanted, "fast style")


def pretrained(config: dict, style: str) -> str | None:
    """The model file the config gives for ``style``, or None when the workflow trains one."""
    return (section(config).get("models") or {}).get(style)


def model_path(config: dict, style: str) -> str:
    return pretrained(config, style) or f"results/models/{style}/model.keras"


def training_record(config: dict, style: str) -> str:
    """The training record (loss curve) of a style's network: beside a given model file
    (``NAME.keras`` -> ``NAME.json``) or the workflow's own."""
    given = pretrained(config, style)
    if given:
        return str(Path(given).with_suffix(".json"))
    return f"results/models/{style}/metrics.json"


def training_settings(config: dict):
    """(loss settings, training settings) of ``fast.train`` (validated)."""
    from nst.settings import training_settings as split

    return split(**dict(section(config).get("train") or {}))


def stylize_size(config: dict) -> int:
    """Longest side of the fast outputs: ``fast.size``, else the defaults' size (the
    optimised columns'), else the prepared images'."""
    fast = section(config)
    return int(
        fast.get("size")
        or (config.get("defaults") or {}).get("size")
        or (config.get("prepare") or {}).get("size", 512)
    )
