import os
import re

import pandas as pd
from snakemake.utils import Paramspace

from nst.experiment import arbitrary, fast, grid, jobs
from nst.experiment import video as video_sets
from nst.experiment import resources as job_resources

IMAGES, MANIFEST = map(
    str, DATASET.outputs("results/dataset/images", "results/dataset/manifest.tsv")
)

# Validated at parse time: a bad hyperparameter set stops the workflow before any job.
# A sweep's points are named by Paramspace (style_weight~0.1_tv_weight~0).
SWEEP = Paramspace(
    pd.DataFrame(grid.sweep_table(config), dtype=object), filename_params="*"
)
SWEEP_AXES = grid.sweep_axes(config)
SWEEP_POINTS = dict(zip(SWEEP.instance_patterns, grid.sweep_table(config)))
SETS = grid.param_sets(config, list(SWEEP_POINTS))
LABELS = {name: grid.describe(v) for name, v in grid.differing_values(SETS).items()}
TRANSFER = config["resources"]["transfer"]
TRANSFER_MEMORY = {
    name: job_resources.transfer_memory(values, TRANSFER)
    for name, values in SETS.items()
}
JOB_MEM_MB = job_resources.fixed_mem_mb(TRANSFER)  # the jobs not sized per set
# The fast (feed-forward) column: checked here, before any job (see nst.fast_config).
fast.check(config, SETS)
FAST = config["fast"]
FAST_SET = fast.FAST_SET
TRAIN = config["resources"]["train"]
# the fast outputs' loss is the engine's objective with the experiment's defaults
FAST_LOSS_SETTINGS = dict(config.get("defaults") or {})
LABELS[FAST_SET] = "feed-forward network (Johnson et al.)"
# The any-style (universal) column; its decoders also give the warm start of sets with
# init: arbitrary (checked with the video sets below).
ARBITRARY_SET = arbitrary.ARBITRARY_SET
LABELS[ARBITRARY_SET] = arbitrary.label(config)
NAME = "[A-Za-z0-9][A-Za-z0-9_.-]*"


wildcard_constraints:
    content=NAME,
    style=NAME,
    name=NAME,
    role="content|style",
    params="|".join(map(re.escape, SETS)),


def dataset_files(role):
    """{name: fetched image or None for a failed source}, once the dataset checkpoint ran."""
    manifest = checkpoints.fetch.get().output.manifest
    failed = dict.fromkeys(jobs.manifest_failures(manifest, role))
    return {**failed, **jobs.manifest_files(manifest, IMAGES, role)}


def fetched_image(wildcards):
    files = dataset_files(wildcards.role)
    if wildcards.name not in files:
        raise ValueError(
            f"no {wildcards.role} image named {wildcards.name} in {MANIFEST}"
        )
    # a failed source has no image: its prepare job reads the manifest and fails with the reason
    return files[wildcards.name] or MANIFEST


def fetch_failure(wildcards):
    manifest = checkpoints.fetch.get().output.manifest
    return jobs.manifest_failures(manifest, wildcards.role).get(wildcards.name, "")


def contents():
    return grid.select(dataset_files("content"), config["contents"], "content")


def styles():
    return grid.select(dataset_files("style"), config["styles"], "style")


def fast_styles():
    """The styles with a fast column."""
    return fast.styles(config, styles())


def fast_train_contents():
    """The dataset's content images the fast networks train on."""
    return grid.select(dataset_files("content"), FAST["contents"], "content")


def fast_train_settings(wildcards):
    settings = dict(FAST["train"])
    settings.setdefault("threads", TRAIN["threads"])
    return settings


def arbitrary_styles():
    """The styles with an any-style column."""
    return arbitrary.styles(config, styles())


def decoders_folder(wildcards, input):
    """The folder of the decoder files a job reads (from its inputs, not spelled twice)."""
    files = (
        [input.decoders] if isinstance(input.decoders, str) else list(input.decoders)
    )
    return os.path.dirname(files[0])


def decoder_training_inputs(wildcards):
    """The dataset's content images, when arbitrary.train.data names no photographs."""
    if arbitrary.train_data(config):
        return []
    return list(prepared("content", dataset_files("content")).values())


def decoder_training_settings(wildcards):
    settings = arbitrary.train_settings(config, wildcards.model, int(wildcards.level))
    settings.setdefault("threads", TRAIN["threads"])
    return settings


def sheet_sets():
    """The columns of the sheets: the hyperparameter sets, then the fast and any-style
    columns."""
    return (
        list(SETS)
        + ([FAST_SET] if fast_styles() else [])
        + ([ARBITRARY_SET] if arbitrary_styles() else [])
    )


def runs(content=None, style=None):
    """(content, style, set) of every transfer and stylize job, optionally for one content
    or style."""
    with_fast = set(fast_styles())
    with_arbitrary = set(arbitrary_styles())
    return [
        (c, s, p)
        for c, s in grid.combinations(config, contents(), styles())
        if content in (None, c) and style in (None, s)
        for p in [
            *SETS,
            *([FAST_SET] if s in with_fast else []),
            *([ARBITRARY_SET] if s in with_arbitrary else []),
        ]
    ]


def sweep_runs(content, style):
    """The sweep's runs of one content x style, in the sweep's order."""
    return [(content, style, p) for p in SWEEP_POINTS]


def run_files(keys, name):
    return [f"results/transfer/{c}/{s}/{p}/{name}" for c, s, p in keys]


def prepared(role, names):
    return {n: f"results/prepared/{role}/{n}.png" for n in names}


def transfer_settings(wildcards):
    settings = arbitrary.with_decoders(config, dict(SETS[wildcards.params]))
    settings.setdefault("threads", TRANSFER["threads"])
    # the run plans its memory (whole image or tiles) within what its job asks for
    settings["max_memory"] = TRANSFER_MEMORY[wildcards.params][1]
    return settings


def transfer_mem_mb(wildcards):
    """A transfer job's memory: from its set's size (resources.transfer.mem_mb: auto)."""
    return TRANSFER_MEMORY[wildcards.params][0]


def warm_start_decoders(wildcards):
    """The decoder files a set with init: arbitrary starts from (none for other sets)."""
    return arbitrary.warm_files(config, SETS[wildcards.params])


def all_sheets_and_plots(wildcards):
    keys = runs()
    pairs = sorted({(c, s) for c, s, _ in keys})
    sweeps = pairs if 1 <= len(SWEEP_AXES) <= 2 else []
    return (
        [f"results/sheets/content/{c}.png" for c in sorted({c for c, _, _ in keys})]
        + [f"results/sheets/style/{s}.png" for s in sorted({s for _, s, _ in keys})]
        + [f"results/plots/{c}/{s}.png" for c, s in pairs]
        + [f"results/sheets/sweep/{c}/{s}.png" for c, s in sweeps]
        + ["results/plots/tradeoff.png"]
        + (["results/plots/training.png"] if fast_styles() else [])
    )


def sheet_runs(wildcards):
    """The runs one sheet shows: those of its content or style, or all for the overview."""
    wanted = {k: v for k, v in wildcards.items() if k in ("content", "style")}
    return runs(**wanted)


def sheet_names(wildcards, role):
    """The content or style names on one sheet, in grid order (only these need thumbnails)."""
    index = 0 if role == "content" else 1
    return list(dict.fromkeys(run[index] for run in sheet_runs(wildcards)))


SHEET_INPUTS = dict(
    images=lambda wc: run_files(sheet_runs(wc), "image.png"),
    metrics=lambda wc: run_files(sheet_runs(wc), "metrics.json"),
    contents=lambda wc: list(prepared("content", sheet_names(wc, "content")).values()),
    styles=lambda wc: list(prepared("style", sheet_names(wc, "style")).values()),
)
SHEET_PARAMS = dict(
    runs=sheet_runs,
    sets=lambda wc: sheet_sets(),
    labels=LABELS,
    content_names=lambda wc: sheet_names(wc, "content"),
    style_names=lambda wc: sheet_names(wc, "style"),
    thumb=config["sheets"]["thumb"],
)


# Videos: dataset role "video", x styles x video sets (config "video"; see nst.video.temporal).
VIDEO = config["video"]
VIDEO_SETS = video_sets.video_sets(config)
VIDEO_STEPS = video_sets.flow_steps(VIDEO_SETS)
arbitrary.check(config, SETS, VIDEO_SETS)
VIDEO_LABELS = {
    name: grid.describe(v)
    for name, v in grid.differing_values(
        {n: video_sets.label_values(s) for n, s in VIDEO_SETS.items()}
    ).items()
}


wildcard_constraints:
    video=NAME,
    vset="|".join(map(re.escape, VIDEO_SETS)),


def fetched_video(wildcards):
    files = dataset_files("video")
    if wildcards.video not in files:
        raise ValueError(f"no video named {wildcards.video} in {MANIFEST}")
    return files[wildcards.video] or MANIFEST


def video_failure(wildcards):
    manifest = checkpoints.fetch.get().output.manifest
    return jobs.manifest_failures(manifest, "video").get(wildcards.video, "")


def video_runs(video=None):
    """(style, set) of every video transfer of one video; (video, style, set) without one."""
    names = grid.select(dataset_files("video"), config["videos"], "video")
    chosen = grid.select(dataset_files("style"), VIDEO["styles"], "style")
    video_sets.check_networks(
        VIDEO_SETS, chosen, fast_styles() + list(FAST.get("models") or {})
    )
    keys = [(v, s, p) for v in names for s in chosen for p in VIDEO_SETS]
    if video is None:
        return keys
    return [(s, p) for v, s, p in keys if v == video]


def video_files(video, name):
    return [f"results/video/{video}/{s}/{p}/{name}" for s, p in video_runs(video)]


def video_set(wildcards):
    chosen = dict(VIDEO_SETS[wildcards.vset])
    settings = arbitrary.with_decoders(config, dict(chosen["settings"]))
    settings.setdefault("threads", TRANSFER["threads"])
    return {
        "settings": settings,
        "options": chosen["options"],
        "network": video_sets.network_job(config, chosen, wildcards.style),
    }


def video_network(wildcards):
    return video_sets.network_files(config, VIDEO_SETS[wildcards.vset], wildcards.style)


def video_warm_start_decoders(wildcards):
    return arbitrary.warm_files(config, VIDEO_SETS[wildcards.vset]["settings"])


def all_videos(wildcards):
    keys = video_runs()
    return [
        f"results/video/{v}/{s}/{p}/{name}"
        for v, s, p in keys
        for name in ("video.mp4", "preview.gif", "metrics.json")
    ] + [f"results/sheets/video/{v}.png" for v in sorted({v for v, _, _ in keys})]
