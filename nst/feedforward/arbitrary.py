"""``nst arbitrary`` on files: any style image, no training per style (:mod:`nst.universal`);
contents as files and folders in, images and a JSON record (quality figures, seconds) out."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nst import images, quality, runtime
from nst.atomic import write_json
from nst.engine.record import run_record
from nst.errors import SettingsError
from nst.feedforward.data import collect_images
from nst.feedforward.inference import output_paths, stylize_each
from nst.images.masks import load_mask
from nst.net.weights import file_digest
from nst.settings import TransferSettings
from nst.universal.model import Universal, UniversalOptions, decoder_path


def universal_files(
    inputs: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    options: UniversalOptions | None = None,
    *,
    decoders: str | os.PathLike | None = None,
    model: str = "vgg16-hed",
    weights: str | os.PathLike | None = None,
    style_masks: Sequence[str | os.PathLike] | None = None,
    threads: int = 0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Stylise image files and folders with any style images; write the images and the record.

    ``output`` is the image file when there is one input file, a folder otherwise (``NAME.png``
    per input). Every output carries the quality figures of the other runs (content SSIM, style,
    palette and texture distances) and its seconds. Bad input fails before anything is written.
    """
    import tensorflow as tf

    log = log or runtime.log
    t0 = time.perf_counter()
    o = options or UniversalOptions()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    style_paths = [Path(s) for s in styles]
    if not style_paths:
        raise SettingsError("give at least one style image.")
    if style_masks is not None and len(style_masks) != len(style_paths):
        raise SettingsError(
            f"{len(style_masks)} style mask(s) for {len(style_paths)} style(s); give one per "
            "style ('none' for a style without a region)."
        )
    style_imgs = [images.load_image(p, what="style image") for p in style_paths]
    masks = None
    if style_masks is not None:
        masks = [None if str(m) == "none" else load_mask(m) for m in style_masks]
    files = collect_images(inputs, "content image", log)
    targets = output_paths(inputs, files, Path(output))
    runtime.configure_runtime(TransferSettings(threads=threads, seed=seed))
    net = Universal(decoders, o.levels, model=model, weights=weights)
    # trace every level once (any size after), so that the seconds per image are the networks'
    warm = UniversalOptions(size=64, levels=o.levels)
    net.stylize(np.zeros((64, 64, 3), np.float32), [style_imgs[0]], warm)
    t_setup = time.perf_counter() - t0
    rows = stylize_each(
        files,
        targets,
        lambda content: _stylized(net, content, style_imgs, o, masks),
        lambda out, content: quality.measure(out, content, style_imgs),
        "arbitrary",
        "content image",
        log,
    )
    settings = {
        "alpha": o.alpha,
        "detail": o.detail,
        "transform": o.transform,
        "levels": list(o.levels),
        "size": o.size,
        "style_size": o.style_size,
        "preserve_color": o.preserve_color,
        "style_blend_weights": list(o.blend) if o.blend else None,
        "tile": o.tile,
        "max_memory": o.max_memory,
        "style_masks": [str(m) for m in style_masks] if style_masks else None,
        "model": model,
        "seed": seed,
        "threads": threads,
    }
    record = run_record(
        settings,
        method="universal",
        decoders={
            str(level): {
                "path": str(decoder_path(net.directory, level)),
                "sha256": file_digest(decoder_path(net.directory, level)),
                "info": {k: v for k, v in net.info[level].items() if k != "history"},
            }
            for level in o.levels
        },
        model={"name": model, "weights": net.weights.path, "sha256": net.weights.sha256},
        styles=[{"path": str(p), "sha256": file_digest(p)} for p in style_paths],
        images=rows,
        seconds_per_image=round(sum(r["seconds"] for r in rows) / len(rows), 4),
        threads=tf.config.threading.get_intra_op_parallelism_threads(),
        timings={
            "setup_seconds": round(t_setup, 3),
            "total_seconds": round(time.perf_counter() - t0, 3),
        },
    )
    if metrics is not None:
        write_json(metrics, record)
    return record


def _stylized(net, content, styles, options, masks):
    """One image through ``net`` as :func:`stylize_each` runs it: the image, the tile it took
    (0: whole) and a note for the log line."""
    out = net.stylize(content, styles, options, masks)
    tile = net.last_tile
    return out, {"tile": tile}, f" in tiles of {tile} px" if tile else ""
