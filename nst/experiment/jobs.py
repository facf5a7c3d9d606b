"""What each workflow job does, callable without Snakemake (the scripts in workflow/scripts are
a few lines that hand their inputs, outputs and params to these functions).

Every job logs to its log file; a user error ends the job with one sentence in the log (and on
stderr) and a non-zero exit, leaving no output behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from nst.errors import NSTError


@contextlib.contextmanager
def logged(log_path: str | os.PathLike | None) -> Iterator[None]:
    """Send stdout and stderr (TensorFlow's C++ output included) to ``log_path``; turn a user
    error into one line in the log and on the original stderr, and exit 1."""
    if log_path is None:
        try:
            yield
        except NSTError as exc:
            print(f"nst: error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield
    except NSTError as exc:
        line = f"nst: error: {exc}\n".encode()
        os.write(log_fd, line)
        os.write(saved[1], line)
        raise SystemExit(1) from None
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)


@contextlib.contextmanager
def on_device(what: str, gpus, gpu, lock_dir) -> Iterator[None]:
    """Run a TensorFlow job: a GPU job first takes its own GPU slot (CUDA_VISIBLE_DEVICES),
    then says where it runs and imports TensorFlow (after the slot, so that it sees it)."""
    from nst.experiment.gpu import gpu_slot
    from nst.runtime import import_tensorflow

    with gpu_slot(int(gpus), lock_dir, wanted=int(gpu)) as slot:
        where = "CPU" if slot is None else f"GPU {slot}"
        print(f"nst: {what} on {where}", flush=True)
        import_tensorflow(lean=True)
        yield


def fetch_job(dataset: dict, images_dir, manifest, cache_dir=None) -> None:
    from nst.dataset.config import check_dataset
    from nst.dataset.run import fetch_dataset

    config = check_dataset(dataset)
    fetch_dataset(
        config.sources,
        images_dir,
        manifest,
        cache_dir=cache_dir or config.cache_dir,
        http=config.http,
        strict=config.strict,
        retry_failed_hours=config.retry_failed_hours,
    )


@functools.lru_cache(maxsize=8)
def _manifest_rows(path: str, mtime_ns: int) -> tuple[dict, ...]:
    from nst.dataset.manifest import read_manifest

    return tuple(read_manifest(path))


def manifest_rows(manifest) -> tuple[dict, ...]:
    """The manifest's rows, read once per version of the file.

    Snakemake asks for them from every input function while it builds the DAG (326 times for
    the 23 jobs of the default experiment); the modification time keys the cache, so a new
    fetch is seen at once.
    """
    from nst.dataset.manifest import read_manifest

    path = Path(manifest)
    if not path.is_file():
        return tuple(read_manifest(path))  # raises the one-sentence error
    return _manifest_rows(str(path), path.stat().st_mtime_ns)


def manifest_files(manifest, images_dir, role: str) -> dict[str, Path]:
    """{name: path} of the usable images of ``role`` in a manifest."""
    return {
        r["name"]: Path(images_dir) / r["file"]
        for r in manifest_rows(manifest)
        if r["role"] == role and r["status"] == "ok"
    }


def manifest_failures(manifest, role: str) -> dict[str, str]:
    """{name: reason} of the sources of ``role`` that gave no usable image.

    The workflow keeps them in the grid so that their own jobs fail with the reason (and, with
    --keep-going, only theirs), instead of the image silently missing from the results.
    """
    usable = set(manifest_files(manifest, ".", role))
    return {
        r["name"]: r["note"] or "the source gave no usable image."
        for r in manifest_rows(manifest)
        if r["role"] == role and r["status"] == "failed" and r["name"] not in usable
    }


def prepare_job(src, dst, size: int, failure: str = "") -> None:
    """Prepare one fetched image; a source that failed to fetch fails here with its reason."""
    from nst.dataset.prepare import prepare_image
    from nst.errors import DownloadError

    if failure:
        raise DownloadError(failure)
    prepare_image(src, dst, int(size))


def transfer_job(
    content,
    styles: Sequence,
    image,
    metrics,
    settings: dict,
    *,
    gpus: int = 0,
    gpu: int = 0,
    lock_dir: str | os.PathLike = ".snakemake/gpu-slots",
) -> None:
    """One style-transfer run; a GPU job first takes its own GPU slot."""
    from nst.settings import TransferSettings

    run_settings = TransferSettings.from_dict(dict(settings))
    with on_device(f"transfer {content} x {', '.join(map(str, styles))}", gpus, gpu, lock_dir):
        from nst.engine.driver import transfer_files

        transfer_files(content, list(styles), image, metrics, run_settings)


def load_runs(keys: Sequence[Sequence[str]], images: Sequence, metrics: Sequence):
    from nst.report.sheets import Run

    return [
        Run.load(c, s, p, img, m) for (c, s, p), img, m in zip(keys, images, metrics, strict=True)
    ]


def summary_job(keys, images, metrics, labels: dict[str, str], out, video=((), (), ())) -> None:
    """``video``: (keys, videos, metrics) of the video runs, one row each after the images."""
    from nst.report.summary import write_summary

    runs = load_runs(keys, images, metrics) + load_runs(*video)
    write_summary(runs, labels, out)
    print(f"nst: wrote {out} ({len(runs)} runs)")


def loss_plot_job(keys, images, metrics, out) -> None:
    from nst.report.summary import plot_losses

    runs = load_runs(keys, images, metrics)
    plot_losses(runs, out, f"{runs[0].content} x {runs[0].style}" if runs else "")
    print(f"nst: wrote {out}")


def tradeoff_job(keys, images, metrics, labels: dict[str, str], out) -> None:
    from nst.report.summary import plot_tradeoff

    runs = load_runs(keys, images, metrics)
    plot_tradeoff(runs, labels, out)
    print(f"nst: wrote {out} ({len(runs)} runs)")


def sweep_sheet_job(
    keys, images, metrics, *, axes, points: dict, style_image, out, thumb: int = 160
) -> None:
    """The sweep sheet of one content x style (``keys`` are that pair's sweep runs)."""
    from nst.report import sheets

    runs = load_runs(keys, images, metrics)
    content, style = keys[0][0], keys[0][1]
    image = sheets.sweep_sheet(content, style, style_image, axes, points, runs, thumb=thumb)
    sheets.save_sheet(image, out)
    print(f"nst: wrote {out} ({len(runs)} runs, {image.width}x{image.height} px)")


def sheet_job(
    kind: str,
    keys,
    images,
    metrics,
    *,
    sets: Sequence[str],
    labels: dict[str, str],
    content_images: dict,
    style_images: dict,
    out,
    thumb: int = 160,
) -> None:
    """A contact sheet: ``kind`` is "content" or "style" (one name in ``keys``) or "overview"."""
    from nst.report import sheets

    runs = load_runs(keys, images, metrics)
    contents = list(dict.fromkeys(c for c, _s, _p in keys))
    styles = list(dict.fromkeys(s for _c, s, _p in keys))
    if kind == "overview":
        image = sheets.overview_sheet(
            contents, content_images, styles, style_images, sets, labels, runs, thumb=thumb
        )
    else:
        names = {"content": contents, "style": styles}
        pictures = {"content": content_images, "style": style_images}
        other = "style" if kind == "content" else "content"
        name = names[kind][0]
        image = sheets.axis_sheet(
            kind,
            name,
            pictures[kind].get(name),
            names[other],
            pictures[other],
            sets,
            labels,
            runs,
            thumb=thumb,
        )
    sheets.save_sheet(image, out)
    print(f"nst: wrote {out} ({len(runs)} runs, {image.width}x{image.height} px)")


def prepare_video_job(src, dst, prepare: dict, failure: str = "") -> None:
    """Decode, trim, resample and resize one fetched video into a lossless clip (.npz)."""
    from nst.errors import DownloadError
    from nst.video.clips import read_video, save_clip

    if failure:
        raise DownloadError(failure)
    p = dict(prepare)
    clip = read_video(
        src,
        start=p.get("start", 0.0),
        duration=p.get("duration"),
        fps=p.get("fps"),
        max_frames=p.get("max_frames"),
        size=p.get("size"),
    )
    save_clip(clip, dst)
    print(
        f"nst: {dst}: {len(clip.frames)} frames, {clip.shape[1]}x{clip.shape[0]}, {clip.fps:g} fps"
    )


def video_flow_job(clip, out, steps: Sequence[int]) -> None:
    """Flows of a prepared clip, written once per video (the ``video_flow`` rule)."""
    from nst.runtime import log
    from nst.video.clips import load_clip, save_arrays
    from nst.video.flow import compute_flows

    frames = load_clip(clip).frames
    save_arrays(out, **compute_flows(frames, [int(s) for s in steps], log=log))


def video_transfer_job(
    clip, flows, styles: Sequence, frames, metrics, video_set: dict, *, gpus=0, gpu=0,
    lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """One video x style x set; a GPU job first takes its own GPU slot, as transfer_job does."""
    with on_device(f"video {clip} x {', '.join(map(str, styles))}", gpus, gpu, lock_dir):
        network = video_set.get("network")
        if network is not None:  # a network per frame, blended along the flow
            from nst.video.feedforward import network_to_file

            network_to_file(
                clip, flows, list(styles), frames, metrics, network, video_set["options"],
                settings=video_set["settings"],
            )  # fmt: skip
            return
        from nst.video.temporal import stylize_to_file

        stylize_to_file(
            clip, flows, list(styles), frames, metrics, video_set["settings"], video_set["options"]
        )


def video_encode_job(frames, video, preview) -> None:
    """H.264 mp4 and an animated preview of the stylised frames a video job stored."""
    import numpy as np

    from nst.video.clips import encode_mp4, save_preview

    with np.load(frames, allow_pickle=False) as z:
        stored, fps = z["frames"], float(z["fps"])
    encode_mp4(stored, fps, video)
    save_preview(stored, fps, preview)
    print(f"nst: wrote {video} and {preview}")


def video_sheet_job(
    video: str, clip, keys, frames, metrics, labels: dict, out, columns=6, thumb=160
):
    """The frame strip of one video: the input, then one row per style x set."""
    from nst.report.strips import strip_sheet

    image = strip_sheet(video, clip, keys, frames, metrics, labels, columns=columns, thumb=thumb)
    from nst.report import sheets

    sheets.save_sheet(image, out)
    print(f"nst: wrote {out} ({len(keys)} runs, {image.width}x{image.height} px)")


def train_style_job(
    style, contents: Sequence, model, metrics, settings: dict, *, gpus=0, gpu=0,
    lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """Train one style's fast network on the content images (and folders)."""
    with on_device(f"train-style {style} on {len(contents)} input(s)", gpus, gpu, lock_dir):
        from nst.feedforward.train import train_files

        train_files(style, list(contents), model, metrics, **dict(settings))


def network_cell_job(
    label: str, content, style, image, metrics, loss, stylize_files, describe, *, gpus=0, gpu=0,
    lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """One cell of a network column (fast, arbitrary): ``stylize_files()`` writes the image and
    returns its files-API record; the cell's record is a run like the optimised ones (quality
    figures, seconds, and the loss the optimisation's objective gives the output under
    ``loss``), so sheets, summary and plots take it as one more column. ``describe(run)`` gives
    the record's settings and the network's own entries."""
    with on_device(label, gpus, gpu, lock_dir):
        from nst import images
        from nst.atomic import write_json
        from nst.engine.driver import evaluate_loss
        from nst.engine.record import loss_terms, run_record
        from nst.runtime import configure_runtime

        configure_runtime(loss)
        # both outputs are written atomically; Snakemake removes the image if this job fails
        run = stylize_files()
        out = images.load_image(image, what="stylised image")
        final = evaluate_loss(out, content, [style], loss)
        settings, entries = describe(run)
        row = run["images"][0]
        record = run_record(
            settings,
            **entries,
            inputs={"content": str(content), "styles": [str(style)]},
            output={"height": int(out.shape[0]), "width": int(out.shape[1])},
            iterations=None,
            final_loss=loss_terms(final),
            loss_settings=loss.to_dict(),
            quality=row["quality"],
            timings={
                "total_seconds": row["seconds"],
                "stylize_seconds": row["seconds"],
                "setup_seconds": run["timings"]["setup_seconds"],
            },
            versions=run["versions"],
        )
        write_json(metrics, record)
    print(
        f"nst: {image}: {run['seconds_per_image']:.2f} s; loss {final['total']:.4g}; content "
        f"SSIM {record['quality']['content_ssim']:.3f}, style distance "
        f"{record['quality']['style_distance']:.3f}",
        flush=True,
    )


def _cell_loss(loss_settings: dict, size, threads: int):
    """The settings a network cell's loss is measured under (the optimised sets', at its size)."""
    from nst.settings import TransferSettings

    loss = TransferSettings.from_dict({**dict(loss_settings), "size": int(size)})
    return loss.replace(threads=int(threads)) if threads and not loss.threads else loss


def fast_stylize_job(
    model, content, style, image, metrics, *, size: int, loss_settings: dict, threads: int = 0,
    gpus=0, gpu=0, lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """Stylise one content with a style's fast network (:func:`network_cell_job`)."""
    loss = _cell_loss(loss_settings, size, threads)

    def stylize_files():
        from nst.feedforward.inference import stylize_files

        return stylize_files(
            model, [content], image, size=int(size), style=style, threads=loss.threads
        )

    def describe(run):
        network = run["model"]
        trained = network["info"]
        settings = {
            "method": "fast",
            "model": (trained.get("settings") or {}).get("model"),
            "size": run["size"],
            "work_size": run["images"][0].get("work_size"),
            "width": (trained.get("train") or {}).get("width"),
        }
        return settings, {
            "method": "fast",
            "network": {k: network[k] for k in ("path", "sha256", "format_version")},
            "training": trained,
        }

    network_cell_job(
        f"stylize {content} with {model}", content, style, image, metrics, loss, stylize_files,
        describe, gpus=gpus, gpu=gpu, lock_dir=lock_dir,
    )  # fmt: skip


def train_decoder_job(
    contents: Sequence, decoder, metrics, settings: dict, *, gpus=0, gpu=0,
    lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """Train the decoder of one level of the loss network on photographs (images and folders)."""
    from nst.settings import DecoderSettings

    train = DecoderSettings(**dict(settings))
    what = f"train-decoder level {train.level} on {len(contents)} input(s)"
    with on_device(what, gpus, gpu, lock_dir):
        from nst.feedforward.decoder_train import decoder_files

        decoder_files(list(contents), decoder, metrics, train)


def arbitrary_stylize_job(
    decoders, content, style, image, metrics, *, options: dict, model: str, weights=None,
    loss_settings: dict, threads: int = 0, gpus=0, gpu=0, lock_dir=".snakemake/gpu-slots",
) -> None:  # fmt: skip
    """Stylise one content with any style through the decoders in ``decoders`` (a folder;
    :func:`network_cell_job`)."""
    chosen = dict(options)
    loss = _cell_loss(loss_settings, chosen["size"], threads)

    def stylize_files():
        from nst.feedforward.arbitrary import universal_files
        from nst.universal.model import UniversalOptions

        universal = UniversalOptions(**{**chosen, "levels": tuple(chosen["levels"])})
        return universal_files(
            [content], [style], image, options=universal, decoders=decoders, model=model,
            weights=weights, threads=loss.threads, seed=loss.seed,
        )  # fmt: skip

    def describe(run):
        keys = ("model", "size", "transform", "alpha", "detail", "levels", "seed")
        settings = {"method": "arbitrary", **{k: run["settings"][k] for k in keys}}
        return settings, {"method": "arbitrary", "decoders": run["decoders"], "model": run["model"]}

    network_cell_job(
        f"arbitrary {content} x {style} with {decoders}", content, style, image, metrics, loss,
        stylize_files, describe, gpus=gpus, gpu=gpu, lock_dir=lock_dir,
    )  # fmt: skip


def training_plot_job(styles: Sequence[str], records: Sequence, out) -> None:
    """The loss curves of the fast networks' trainings, one colour per style."""
    import json

    from nst.report.summary import plot_training

    curves = {}
    for style, path in zip(styles, records, strict=True):
        with open(path, encoding="utf-8") as f:
            curves[style] = json.load(f).get("history", [])
    plot_training(curves, out)
    print(f"nst: wrote {out} ({len(curves)} trainings)")
