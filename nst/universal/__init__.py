"""Universal (any-style) transfer: decoders that invert the loss network's features
(:mod:`.decoder`), feature transforms (:mod:`.transforms`: whitening-colouring, AdaIN) and the
coarse-to-fine pipeline (:mod:`.model`). Training the decoders and the file-level command live in
:mod:`nst.feedforward` (they keep records); the engine's warm start (``--init arbitrary``) uses
this package directly."""

from nst.lazy import exports

__getattr__, __dir__ = exports(
    "nst.universal",
    {
        "Universal": "nst.universal.model",
        "UniversalOptions": "nst.universal.model",
        "FeatureStats": "nst.universal.transforms",
        "transform": "nst.universal.transforms",
        "build_decoder": "nst.universal.decoder",
        "load_decoder": "nst.universal.decoder",
    },
)
