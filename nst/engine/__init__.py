"""The optimisation of one image: the driver over scales (:mod:`.driver`), the optimisers
(:mod:`.optimize`) and run records (:mod:`.record`)."""

from nst.lazy import exports

__getattr__, __dir__ = exports(
    "nst.engine",
    {
        "transfer": "nst.engine.driver",
        "transfer_files": "nst.engine.driver",
        "evaluate_loss": "nst.engine.driver",
        "scale_schedule": "nst.engine.driver",
        "TransferResult": "nst.engine.record",
    },
    moved={
        "import_tensorflow": "nst.runtime",
        "configure_runtime": "nst.runtime",
        "keras_policy": "nst.runtime",
        "library_versions": "nst.runtime",
        "feature_extractor": "nst.net.features",
    },
)
