"""Stylising images with a trained transformation network: :func:`stylize` (arrays) and
:func:`stylize_files` (files and folders in, images and a JSON record out, written atomically)."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nst import images, quality, runtime
from nst.atomic import write_json
from nst.engine.record import run_record
from nst.errors import SettingsError
from nst.feedforward.data import collect_images
from nst.feedforward.network import load_transformer, model_info
from nst.feedforward.tiled import DEFAULT_THUMBNAIL, HALO
from nst.net.weights import file_digest
from nst.settings import TransferSettings

_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model):
    """The model's forward pass, traced once for images of any size."""
    if model not in _FORWARD:
        import tensorflow as tf

        net = weakref.ref(model)  # the cached function must not keep the model alive
        _FORWARD[model] = tf.function(
            lambda x: net()(x, training=False),
            input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32)],
            autograph=False,
        )
    return _FORWARD[model]


def tile_for(
    shape, tile: int = 0, max_memory: float | None = None, thumbnail: int | None = None
) -> int | None:
    """The tile an image of ``shape`` goes in (None: whole).

    None when a whole pass fits the memory and the image is no larger than the ``thumbnail``
    (default :data:`~nst.feedforward.tiled.DEFAULT_THUMBNAIL`): the thumbnail would be the image
    itself, and its statistics pass already is the whole image's output. Otherwise ``tile``
    when it is smaller than the image; with 0, tiles of
    :data:`~nst.feedforward.tiled.DEFAULT_TILE` when a whole pass would not fit ``max_memory``
    GiB (default: most of the memory available).
    """
    from nst.engine import memory
    from nst.feedforward import tiled

    budget = (
        max_memory * memory.GIB if max_memory else memory.AVAILABLE_SHARE * memory.available_bytes()
    )
    fits = not tiled.needs_tiles(shape, budget)
    if fits and max(shape) <= (thumbnail or tiled.DEFAULT_THUMBNAIL):
        return None
    if tile:
        return tile if tile < max(shape) else None
    if not fits and max(shape) > tiled.DEFAULT_TILE:
        return tiled.DEFAULT_TILE
    return None


def native_size(model) -> int | None:
    """The longest side of the images a network paints its strokes for: the style's size in
    its training (the style's Gram matrices were taken at that size), None when unknown."""
    train = model_info(model).get("train") or {}
    return train.get("style_size") or train.get("train_size")


def work_shape(model, shape, work_size: int | None = None) -> tuple[int, int]:
    """The shape a network runs at for an output of ``shape``; the result is resized to it.

    ``work_size`` None: the network's :func:`native_size` when the output is smaller (the
    strokes keep their size relative to the picture, and the result is shrunk, not enlarged),
    else the output's own; 0: always the output's own; N: longest side N.
    """
    h, w = shape[:2]
    if work_size is None:
        work_size = max(max(h, w), native_size(model) or 0)
    if not work_size or work_size == max(h, w):
        return (h, w)
    return images.target_shape(h, w, work_size)


def _check_work_size(work_size) -> None:
    if work_size is None:
        return
    if not isinstance(work_size, int) or isinstance(work_size, bool) or work_size < 0:
        raise SettingsError(f"work size must be 0 or a whole number of pixels, not {work_size!r}.")
    if 0 < work_size < images.MIN_SIDE:
        raise SettingsError(
            f"work size must be at least {images.MIN_SIDE} pixels (or 0), not {work_size}."
        )


def stylize(
    model,
    image: np.ndarray,
    size: int | None = None,
    *,
    work_size: int | None = None,
    tile: int = 0,
    thumbnail: int | None = None,
    max_memory: float | None = None,
) -> np.ndarray:
    """Stylise an (H, W, 3) RGB array in [0, 255] with a transformer (or a model file's path).

    Returns uint8 RGB of the same size, or with the longest side ``size`` when given. The
    network runs at :func:`work_shape` (``work_size``; by default the size its strokes were
    trained for, when the output is smaller) and its result is resized to the output. The image
    is mirrored out to a multiple of 4 pixels for the network and cropped back afterwards.
    An image whose pass would not fit the memory (or larger than ``tile`` px) goes in
    overlapping tiles normalised with a ``thumbnail``'s statistics (:mod:`nst.feedforward.tiled`).
    """
    import tensorflow as tf

    from nst.feedforward import tiled

    if isinstance(model, (str, os.PathLike)):
        model = load_transformer(model)
    _check_work_size(work_size)
    arr = np.asarray(image, np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise SettingsError(f"the image array must have shape (H, W, 3), not {arr.shape}.")
    shape = arr.shape[:2]
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < images.MIN_SIDE:
            raise SettingsError(f"size must be at least {images.MIN_SIDE} pixels, not {size!r}.")
        shape = images.target_shape(*shape, size)
    if min(shape) < images.MIN_SIDE:
        raise SettingsError(f"the image is smaller than {images.MIN_SIDE} px on a side.")
    at = work_shape(model, shape, work_size)
    if at != arr.shape[:2]:
        arr = images.resize(arr, at)
    h, w = at
    chosen = tile_for((h, w), tile, max_memory, thumbnail)
    if chosen is not None:
        out = tiled.stylize_tiled(model, arr, chosen, thumbnail or tiled.DEFAULT_THUMBNAIL)
    else:
        padded = np.pad(arr, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")
        out = np.asarray(_forward(model)(tf.constant(padded[None])))[0, :h, :w]
    if at != shape:
        out = images.resize(np.clip(out, 0, 255).astype(np.float32), shape)
    return images.to_uint8(out)


def _style_for_quality(style, info: dict, log) -> tuple[np.ndarray | None, dict | None]:
    """The style image the quality figures compare with: the given one, or the model's own."""
    if style is not None:
        path = Path(style)
        return images.load_image(path, what="style image"), {
            "path": str(path),
            "sha256": file_digest(path),
        }
    known = info.get("style") or {}
    path = Path(known["path"]) if known.get("path") else None
    if path is None or not path.is_file() or file_digest(path) != known.get("sha256"):
        log("no style image at hand (pass --style): the style distance is not measured")
        return None, None
    return images.load_image(path, what="style image"), dict(known)


def output_paths(inputs: Sequence, files: list[Path], output: Path) -> list[Path]:
    """The output file of each input: ``output`` itself for one input file, else
    ``output/NAME.png`` per input (two inputs of one name are an error)."""
    if len(inputs) == 1 and not Path(inputs[0]).is_dir():
        from PIL import Image

        if output.suffix.lower() not in Image.registered_extensions():
            raise SettingsError(
                f"cannot tell the image format of output {output}; end it in .png or .jpg."
            )
        if output.is_dir():
            raise SettingsError(f"output {output} is a folder; give an image file name.")
        return [output]
    if output.exists() and not output.is_dir():
        raise SettingsError(
            f"output {output} is a file, but several inputs need a folder; give a folder name."
        )
    targets = [output / f"{f.stem}.png" for f in files]
    seen: dict[Path, Path] = {}
    for f, t in zip(files, targets, strict=True):
        if t in seen:
            raise SettingsError(
                f"inputs {seen[t]} and {f} would both be written to {t}; rename one of them."
            )
        seen[t] = f
    return targets


def stylize_each(files, targets, run, figures, command: str, what: str, log) -> list[dict]:
    """Every input file through ``run(content) -> (image, extra fields, note)`` into its target:
    one row per image with its seconds and ``figures(image, content)`` (the loop ``nst
    stylize`` and ``nst arbitrary`` share; a progress bar on a terminal)."""
    rows = []
    with runtime.progress(len(files), command, "image") as bar:
        for src, dst in zip(files, targets, strict=True):
            content = images.load_image(src, what=what)
            t = time.perf_counter()
            out, extra, note = run(content)
            seconds = time.perf_counter() - t
            images.save_image(out, dst)
            rows.append(
                {
                    "input": str(src),
                    "input_sha256": file_digest(src),
                    "output": str(dst),
                    "height": out.shape[0],
                    "width": out.shape[1],
                    "seconds": round(seconds, 4),
                    **extra,
                    "quality": figures(out, content),
                }
            )
            log(f"{src} -> {dst}: {out.shape[1]}x{out.shape[0]} px{note} in {seconds:.2f} s")
            bar.update(1)
    return rows


def stylize_files(
    model: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    *,
    size: int | None = None,
    work_size: int | None = None,
    style: str | os.PathLike | None = None,
    threads: int = 0,
    tile: int = 0,
    thumbnail: int | None = None,
    max_memory: float | None = None,
    log: Callable[[str], None] = runtime.log,
) -> dict:
    """Stylise image files and folders with a trained model; write the images and the record.

    ``output`` is the image file when there is one input file, a folder otherwise (``NAME.png``
    per input). The quality figures compare each output with its input and, when the style is
    known (``style``, or the model's own style image if it is still where it was), the style.
    ``threads``: TensorFlow's threads (0: its default; a process takes the first setting only).
    ``work_size``, ``tile``, ``thumbnail``, ``max_memory``: see :func:`stylize` (each image's
    work size and tile are recorded).
    """
    import tensorflow as tf

    t0 = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if size is not None and (not isinstance(size, int) or size < images.MIN_SIDE):
        raise SettingsError(f"size must be at least {images.MIN_SIDE} pixels, not {size!r}.")
    _check_work_size(work_size)
    output = Path(output)
    files = collect_images(inputs, "input image", log)
    targets = output_paths(inputs, files, output)
    runtime.configure_runtime(TransferSettings(threads=threads))
    model_path = Path(model)
    net = load_transformer(model_path)
    info = model_info(net)
    style_img, style_record = _style_for_quality(style, info, log)
    # trace and optimise the forward pass once (it serves every size), so that the seconds per
    # image are the network's and not TensorFlow's one-off set-up
    stylize(net, np.zeros((images.MIN_SIDE, images.MIN_SIDE, 3), np.float32))
    t_setup = time.perf_counter() - t0

    def run(content):
        at = content.shape[:2] if size is None else images.target_shape(*content.shape[:2], size)
        work = work_shape(net, at, work_size)
        chosen = tile_for(work, tile, max_memory, thumbnail)
        out = stylize(
            net,
            content,
            size,
            work_size=max(work),
            tile=chosen or 0,
            thumbnail=thumbnail,
            max_memory=max_memory,
        )
        extra = {
            "work_size": max(work),
            "tile": chosen,
            "thumbnail": None if chosen is None else (thumbnail or DEFAULT_THUMBNAIL),
            "halo": None if chosen is None else HALO,
        }
        return out, extra, "" if chosen is None else f" in tiles of {chosen} px"

    def figures(out, content):
        if style_img is not None:
            return quality.measure(out, content, [style_img])
        at_size = images.resize(content, out.shape[:2])
        return {
            "content_ssim": round(quality.ssim(out, at_size), 4),
            "style_distance": None,
            "color_difference": round(quality.color_difference(out, at_size), 3),
            "palette_distance": None,
            "texture_distance": None,
        }

    rows = stylize_each(files, targets, run, figures, "stylize", "input image", log)
    record = run_record(
        {
            "model": str(model_path),
            "size": size,
            "work_size": work_size,
            "style": style and str(style),
            "threads": threads,
            "tile": tile,
            "thumbnail": thumbnail,
            "max_memory": max_memory,
        },
        model={
            "path": str(model_path),
            "sha256": file_digest(model_path),
            "format_version": net.get_layer("pixels").format_version,
            "info": info,
        },
        size=size,
        style=style_record,
        images=rows,
        seconds_per_image=round(sum(r["seconds"] for r in rows) / len(rows), 4),
        threads=tf.config.threading.get_intra_op_parallelism_threads(),  # 0: TF's default
        timings={
            "setup_seconds": round(t_setup, 3),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if metrics is not None:
        write_json(metrics, record)
    return record
