"""Video in and out: decode a file or a folder of numbered frames into a :class:`Clip` (trimmed,
resampled, resized), store clips and flows losslessly, encode H.264 mp4 and animated previews.

Decoding and encoding use PyAV (FFmpeg); every output is written atomically, and writing is
deterministic (same frames, same bytes).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nst import images
from nst.atomic import atomic_path
from nst.errors import ImageError, SettingsError
from nst.images.inspect import ImageInfo

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".gif", ".webm", ".m4v")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
FOLDER_FPS = 25.0  # frames of a folder have no timing; --fps overrides


class VideoError(ImageError):
    """A video file or frames folder is missing, unreadable or unusable."""


@dataclass
class Clip:
    """Frames (N, H, W, 3) uint8 at ``fps`` frames per second, and where they came from."""

    frames: np.ndarray
    fps: float
    source: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.frames.shape[1], self.frames.shape[2]


CONTAINER_EXT = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "mkv", "avi": "avi"}


def _still_image(container) -> bool:
    """FFmpeg opens a JPEG or PNG as a one-frame "video"; that is not one."""
    name = container.format.name
    return name.endswith("_pipe") or name == "image2"


def inspect_video(data: bytes, *, what: str, max_pixels: int, content_type: str = ""):
    """The dataset's check of a ``video`` source: decodes as a video with at least one frame of
    at most ``max_pixels``; returns its :class:`nst.images.inspect.ImageInfo` (container, size)."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            fmt = container.format.name
            if _still_image(container):
                raise VideoError(f"{what} is a still image, not a video; use it as content.")
            if not container.streams.video:
                raise VideoError(f"{what} holds no video frames (it has no video stream).")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise VideoError(f"{what} uses a video codec FFmpeg does not know; re-encode it.")
            frame = next(container.decode(stream), None)
    except av.error.FFmpegError:
        served = f", served as {content_type.split(';')[0]}" if content_type else ""
        raise VideoError(
            f"{what} is not a video FFmpeg can read{served}; point the source at an mp4, mov, avi, "
            "mkv or gif file."
        ) from None
    if frame is None:
        raise VideoError(f"{what} holds no video frames; give a video with at least one frame.")
    if frame.width * frame.height > max_pixels:
        raise VideoError(f"{what} has {frame.width}x{frame.height} pixel frames, over the limit.")
    if min(frame.width, frame.height) < images.MIN_SIDE:
        raise VideoError(f"{what} is only {frame.width}x{frame.height} pixels; use a larger video.")
    return ImageInfo(fmt, CONTAINER_EXT.get(fmt, fmt.split(",")[0]), frame.width, frame.height)


def even_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """``images.target_shape`` rounded down to even sides (H.264 in 4:2:0 needs them)."""
    h, w = images.target_shape(height, width, size)
    return max(2, h - h % 2), max(2, w - w % 2)


def _frame_number(path: Path) -> tuple[int, str]:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def _folder_files(folder: Path) -> list[Path]:
    """The numbered frames of a folder, all of one size (read from the headers only)."""
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()),
        key=_frame_number,
    )
    files = [p for p in files if not p.name.startswith(".")]
    if not files:
        raise VideoError(
            f"folder {folder} holds no frames ({', '.join(FRAME_SUFFIXES)}); "
            "point INPUT at a folder of numbered images or at a video file."
        )
    sizes = []
    for p in files:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
        except (UnidentifiedImageError, OSError) as exc:
            raise VideoError(f"frame {p} cannot be read ({exc}); replace or remove it.") from None
        if sizes[-1] != sizes[0]:
            raise VideoError(
                f"frame {p.name} is {sizes[-1][0]}x{sizes[-1][1]} but {files[0].name} is "
                f"{sizes[0][0]}x{sizes[0][1]}; every frame of {folder} must have the same size."
            )
    return files


def _load_frame(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(images.to_rgb(im))
    except (UnidentifiedImageError, OSError) as exc:
        raise VideoError(f"frame {path} cannot be read ({exc}); replace or remove it.") from None


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.InvalidDataError, av.error.DemuxerNotFoundError, UnicodeDecodeError):
        raise VideoError(
            f"{path} is not a video FFmpeg can read; give an mp4, mov, avi, mkv or gif file, "
            "or a folder of frames."
        ) from None
    except OSError as exc:
        raise VideoError(f"cannot open {path} ({exc.strerror or exc}); check the path.") from None
    if _still_image(container):
        container.close()
        raise VideoError(
            f"{path} is a still image, not a video; give a video file or a folder of frames."
        )
    if not container.streams.video:
        container.close()
        raise VideoError(
            f"{path} holds no video frames (it has no video stream); give a video file."
        )
    if container.streams.video[0].codec_context is None:
        container.close()
        raise VideoError(
            f"{path} uses a video codec FFmpeg does not know; re-encode it (e.g. "
            "`ffmpeg -i IN -c:v libx264 OUT.mp4`)."
        )
    return container


def _decode(path: Path, start: float, until, shape_for) -> tuple[list, list, list, float, int]:
    """Decode only what a trim needs: the frame shown at ``start`` and those after it, until
    ``until(time, kept)`` says stop; each kept frame resized by ``shape_for(h, w)`` at once.
    Returns (frames, times from the first frame, decoded indices, frame rate, frames decoded)."""
    import av

    frames, times, indices = [], [], []
    n = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        first = None
        try:
            for n, frame in enumerate(container.decode(stream), 1):
                t = float(frame.time) if frame.time is not None else (n - 1) / rate
                first = t if first is None else first
                t -= first
                if frames and t > start + 1e-6 and until(t, len(frames)):
                    break
                shape = shape_for(frame.height, frame.width)
                array = frame.to_ndarray(format="rgb24")
                if shape != array.shape[:2]:
                    array = _resize_frame(array, shape)
                if frames and t <= start + 1e-6:  # not shown at start: the newer one is
                    frames[-1], times[-1], indices[-1] = array, t, n - 1
                else:
                    frames.append(array)
                    times.append(t)
                    indices.append(n - 1)
        except av.error.FFmpegError as exc:
            if not frames:
                raise VideoError(
                    f"{path} cannot be decoded ({exc}); re-encode it or use another copy."
                ) from None
    if not frames:
        raise VideoError(f"{path} holds no video frames; give a video with at least one frame.")
    return frames, times, indices, rate, n


def _select(times: list[float], start: float, stop: float, fps: float | None) -> list[int]:
    """Positions in ``times`` of the frames shown from ``start`` to ``stop`` (s): each frame,
    or with ``fps`` the one shown at each output time ``start + k / fps``."""
    if fps is None:
        shown = max((i for i, t in enumerate(times) if t <= start + 1e-6), default=0)
        return [shown] + [i for i, t in enumerate(times) if start + 1e-6 < t < stop - 1e-6]
    picks, k = [], 0
    while not picks or start + k / fps < stop - 1e-9:
        t = start + k / fps
        picks.append(max((i for i, ti in enumerate(times) if ti <= t + 1e-6), default=0))
        k += 1
    return picks


def read_video(
    path: str | os.PathLike,
    *,
    start: float = 0.0,
    duration: float | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    size: int | None = None,
) -> Clip:
    """Decode a video file (mp4, mov, avi, mkv, gif, ...) or a folder of numbered frames.

    ``start`` and ``duration`` in seconds trim it, ``fps`` resamples it (each output time takes
    the frame shown then), ``max_frames`` keeps the first ones, ``size`` resizes the longest
    side (sides rounded down to even numbers). Only the trimmed part is decoded and kept, so a
    long video costs the memory of its clip. Raises :class:`VideoError` naming the problem.
    """
    if start < 0 or (duration is not None and duration <= 0) or (fps is not None and fps <= 0):
        raise SettingsError("--start must be zero or positive, --duration and --fps positive.")
    if max_frames is not None and max_frames < 1:
        raise SettingsError(f"--max-frames must be at least 1, not {max_frames}.")
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video {p} does not exist; check the path.")
    start = float(start)
    end = start + duration if duration else float("inf")
    if max_frames and fps:
        end = min(end, start + (max_frames - 0.5) / fps)
    source_size: list[int] = []

    def shape_for(h: int, w: int) -> tuple[int, int]:
        if not source_size:
            source_size.extend((w, h))
            if min(h, w) < images.MIN_SIDE:
                raise VideoError(
                    f"{p} is only {w}x{h} pixels; videos need at least {images.MIN_SIDE} px a side."
                )
        return even_shape(h, w, size)

    if p.is_dir():
        files = _folder_files(p)
        rate = float(fps or FOLDER_FPS)
        times = [i / rate for i in range(len(files))]
        length = len(files) / rate
        picks = _select(times, start, min(end, length), None)
        if start >= length:
            picks = []
        frames, indices, decoded = [], [], len(files)
        for i in picks[:max_frames]:
            frame = _load_frame(files[i])
            frames.append(_resize_frame(frame, shape_for(*frame.shape[:2])))
            indices.append(i)
        source_fps = rate
    else:

        def until(t: float, kept: int) -> bool:
            return t >= end - 1e-6 or (
                fps is None and max_frames is not None and kept >= max_frames
            )

        frames, times, indices, source_fps, decoded = _decode(p, start, until, shape_for)
        length = times[-1] + (times[-1] - times[-2] if len(times) > 1 else 1.0 / source_fps)
        picks = [] if start >= length else _select(times, start, min(end, length), fps)
        frames = [frames[i] for i in picks[:max_frames]]
        indices = [indices[i] for i in picks[:max_frames]]
    if not frames:
        raise SettingsError(
            f"--start {start:g} s is past the end of the video ({length:.2f} s long); "
            "choose an earlier start."
        )
    source = {
        "path": os.fspath(p),
        "width": source_size[0],
        "height": source_size[1],
        "decoded_frames": decoded,
        "fps": round(source_fps, 6),
        "start": start,
        "duration": duration,
        "frame_indices": [int(i) for i in indices],
    }
    return Clip(np.stack(frames).astype(np.uint8), float(fps) if fps else source_fps, source)


def _resize_frame(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == tuple(shape):
        return frame
    with Image.fromarray(frame) as im:
        return np.asarray(im.resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


# ---------------------------------------------------------------------------------------------
# Lossless storage (deterministic .npz: fixed zip timestamps)


def save_arrays(path: str | os.PathLike, **arrays) -> Path:
    """Like ``np.savez_compressed``, but the same arrays give the same bytes (atomic)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    return Path(path)


def save_clip(clip: Clip, path: str | os.PathLike) -> Path:
    import json

    return save_arrays(
        path, frames=clip.frames, fps=np.float64(clip.fps), source=json.dumps(clip.source)
    )


def load_clip(path: str | os.PathLike) -> Clip:
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            return Clip(z["frames"], float(z["fps"]), json.loads(str(z["source"])))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise VideoError(f"{path} is not a prepared clip ({exc}); prepare it again.") from None


# ---------------------------------------------------------------------------------------------
# Output


def encode_mp4(frames, fps: float, path: str | os.PathLike, *, crf: int = 18) -> Path:
    """Encode uint8 RGB frames as H.264 (yuv420p, libx264 at ``crf``) in an mp4, atomically."""
    import av

    frames = [np.ascontiguousarray(f, np.uint8) for f in frames]
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise SettingsError(f"H.264 needs even sides, not {w}x{h}; resize the frames.")
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path, suffix=".mp4") as tmp, av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        planes = [_yuv420p(frame) for frame in frames]
        for plane in planes:
            for packet in stream.encode(av.VideoFrame.from_ndarray(plane, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)


def _yuv420p(frame: np.ndarray) -> np.ndarray:
    """RGB to 8-bit YUV 4:2:0 (BT.601, limited range: FFmpeg's default, so decoders give the
    colours back) in PyAV's (H * 3 / 2, W) layout, computed here. FFmpeg's own conversion,
    inside the encoder or called directly, made other bytes from the same frames now and then
    (1 to 5 in 15 encodes of the sample clip); the encoder alone is deterministic."""
    rgb = np.asarray(frame, np.float64)
    h, w = rgb.shape[:2]
    m = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
    ycc = rgb @ (m.T / 255.0) + np.array([16.0, 128.0, 128.0])
    chroma = ycc[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    planes = [ycc[..., 0].ravel(), chroma[..., 0].ravel(), chroma[..., 1].ravel()]
    return np.clip(np.rint(np.concatenate(planes)), 0, 255).astype(np.uint8).reshape(-1, w)


def save_preview(frames, fps: float, path: str | os.PathLike, *, size: int | None = 320) -> Path:
    """An animated GIF or WebP (by the suffix) of the frames, longest side at most ``size``."""
    target = Path(path)
    fmt = {".gif": "GIF", ".webp": "WEBP"}.get(target.suffix.lower())
    if fmt is None:
        raise SettingsError(f"preview {target} must end in .gif or .webp.")
    h, w = np.shape(frames[0])[:2]
    shape = images.target_shape(h, w, min(size, max(h, w)) if size else None)
    pictures = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    if shape != (h, w):
        pictures = [p.resize((shape[1], shape[0]), Image.Resampling.LANCZOS) for p in pictures]
    kwargs = {"save_all": True, "append_images": pictures[1:], "loop": 0}
    kwargs["duration"] = max(20, round(1000 / fps))
    if fmt == "WEBP":
        kwargs.update(quality=80, method=4)
    else:
        kwargs.update(optimize=False, disposal=1)
    with atomic_path(target) as tmp:
        pictures[0].save(tmp, fmt, **kwargs)
    return target


def frames_at(path: str | os.PathLike, count: int) -> list[np.ndarray]:
    """``count`` frames of a video at evenly spaced times (first and last included)."""
    frames = read_video(path).frames
    index = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in index]
