"""Optimisation-based neural style transfer in TensorFlow 2 / Keras 3.

The public entry point is :func:`nst.transfer` (arrays or paths in, image and record out) and
:func:`nst.transfer_files` (paths in, image and ``metrics.json`` written atomically).
Heavy modules (TensorFlow) are imported lazily so that ``import nst`` stays cheap.
"""

from nst.errors import DownloadError, ImageError, NSTError, SettingsError, WeightsError

__version__ = "0.1.0"

__all__ = [
    "DownloadError",
    "ImageError",
    "NSTError",
    "SettingsError",
    "TransferResult",
    "TransferSettings",
    "WeightsError",
    "transfer",
    "transfer_files",
]


def __getattr__(name):
    if name in ("transfer", "transfer_files", "TransferResult"):
        from nst import engine as _engine

        return getattr(_engine, name)
    if name == "TransferSettings":
        from nst.settings import TransferSettings

        return TransferSettings
    raise AttributeError(f"module 'nst' has no attribute {name!r}")
