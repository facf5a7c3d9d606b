"""Fast feed-forward style transfer (Johnson et al.): the transformation network
(:mod:`.network`), training crops (:mod:`.data`), resumable training (:mod:`.train`,
:mod:`.checkpoint`) and stylising images with a trained network (:mod:`.inference`)."""

from nst.lazy import exports

__getattr__, __dir__ = exports(
    "nst.feedforward",
    {
        "TrainResult": "nst.feedforward.train",
        "train_transformer": "nst.feedforward.train",
        "train_files": "nst.feedforward.train",
        "make_train_step": "nst.feedforward.train",
        "TrainSettings": "nst.settings",
        "training_settings": "nst.settings",
        "load_transformer": "nst.feedforward.network",
        "model_info": "nst.feedforward.network",
        "checkpoint_path": "nst.feedforward.checkpoint",
        "stylize": "nst.feedforward.inference",
        "stylize_files": "nst.feedforward.inference",
    },
)
