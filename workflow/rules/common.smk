import re

import pandas as pd
from snakemake.utils import Paramspace

from nst import grid, jobs

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


def runs(content=None, style=None):
    """(content, style, set) of every transfer job, optionally for one content or style."""
    return [
        (c, s, p)
        for c, s in grid.combinations(config, contents(), styles())
        if content in (None, c) and style in (None, s)
        for p in SETS
    ]


def sweep_runs(content, style):
    """The sweep's runs of one content x style, in the sweep's order."""
    return [(content, style, p) for p in SWEEP_POINTS]


def run_files(keys, name):
    return [f"results/transfer/{c}/{s}/{p}/{name}" for c, s, p in keys]


def prepared(role, names):
    return {n: f"results/prepared/{role}/{n}.png" for n in names}


def transfer_settings(wildcards):
    settings = dict(SETS[wildcards.params])
    settings.setdefault("threads", TRANSFER["threads"])
    return settings


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
    sets=list(SETS),
    labels=LABELS,
    content_names=lambda wc: sheet_names(wc, "content"),
    style_names=lambda wc: sheet_names(wc, "style"),
    thumb=config["sheets"]["thumb"],
)
