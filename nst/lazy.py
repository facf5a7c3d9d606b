"""Packages that offer their modules' names without importing those modules (and TensorFlow,
OpenCV or PyAV behind them) when the package is imported."""

from __future__ import annotations

import importlib
import sys
import warnings


def exports(package: str, names: dict[str, str], moved: dict[str, str] | None = None):
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps a public name to the module
    that defines it (or a subpackage to itself), imported on first use. ``moved`` maps old
    names kept for one release to their new ``module:name``; using one warns
    (DeprecationWarning, once) and names the new place."""
    moved = moved or {}

    def __getattr__(name: str):
        if name in names:
            module = importlib.import_module(names[name])
            value = module if names[name] == f"{package}.{name}" else getattr(module, name)
        elif name in moved:
            module, _, new = moved[name].partition(":")
            warnings.warn(
                f"{package}.{name} moved to {module}.{new or name}; the old name goes in the "
                "next release.",
                DeprecationWarning,
                stacklevel=2,
            )
            value = getattr(importlib.import_module(module), new or name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # resolved once (and warned once)
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(moved))

    return __getattr__, __dir__


def moved_module(old: str, new: str) -> None:
    """Warn that module ``old`` is now ``new`` (a shim module calls this when imported)."""
    warnings.warn(
        f"module {old} moved to {new}; the old name goes in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
