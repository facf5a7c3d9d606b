"""Optimisation-based neural style transfer in TensorFlow 2 / Keras 3.

The public entry point is :func:`nst.transfer` (arrays or paths in, image and record out) and
:func:`nst.transfer_files` (paths in, image and ``metrics.json`` written atomically). The
subpackages, one concern each, are listed in docs/architecture.md. Heavy modules (TensorFlow)
are imported lazily so that ``import nst`` stays cheap.
"""

from nst.errors import DownloadError, ImageError, NSTError, SettingsError, WeightsError
from nst.lazy import exports
from nst.version import __version__

__all__ = [
    "DownloadError",
    "ImageError",
    "NSTError",
    "SettingsError",
    "TransferResult",
    "TransferSettings",
    "WeightsError",
    "__version__",
    "transfer",
    "transfer_files",
]

__getattr__, __dir__ = exports(
    "nst",
    {
        "transfer": "nst.engine.driver",
        "transfer_files": "nst.engine.driver",
        "TransferResult": "nst.engine.record",
        "TransferSettings": "nst.settings",
        "feedforward": "nst.feedforward",
        "quality": "nst.quality",
        "video": "nst.video",
    },
)
