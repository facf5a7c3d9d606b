"""Video: clips in and out (:mod:`.clips`: decode, trim, resample, resize, encode H.264 and
previews), optical flow and its reliability (:mod:`.flow`), and style transfer with temporal
consistency (:mod:`.temporal`, Ruder et al.). Nothing here imports PyAV, OpenCV or TensorFlow
until it is used."""

from nst.lazy import exports

__getattr__, __dir__ = exports(
    "nst.video",
    {
        "Clip": "nst.video.clips",
        "VideoError": "nst.video.clips",
        "read_video": "nst.video.clips",
        "encode_mp4": "nst.video.clips",
        "save_preview": "nst.video.clips",
        "save_clip": "nst.video.clips",
        "load_clip": "nst.video.clips",
        "frames_at": "nst.video.clips",
        "VideoOptions": "nst.video.temporal",
        "video_transfer": "nst.video.temporal",
    },
)
