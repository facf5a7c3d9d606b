"""The workflow's fast column (Johnson et al.): train_style per style, stylize per content x
style, the column on the sheets and in summary.csv, the training plot, and a trained model
file given in the config instead of a training job."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from test_workflow import make_images, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

TRAIN = {
    "model": "vgg16-hed",
    "width": 8,
    "steps": 6,
    "train_size": 48,
    "batch_size": 1,
    "checkpoint_every": 3,
    "print_every": 2,
}


def jobs_run(proc) -> dict[str, int]:
    """{rule: jobs started} from Snakemake's log ("rule X:" / "localrule X:" per job)."""
    counts: dict[str, int] = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.fullmatch(r"(?:local)?rule (\w+):", line.strip())
        if m:
            counts[m[1]] = counts.get(m[1], 0) + 1
    return counts


def fast_config(images: Path, **fast) -> dict:
    config = tiny_config(images)
    config["params"] = {"soft": {"style_weight": 1.0}}
    config["fast"] = {"styles": ["red"], "train": dict(TRAIN), **fast}
    config["resources"]["train"] = {"threads": 1}
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast")
    images = make_images(root / "inputs")
    workdir = root / "run"
    write_config(workdir, fast_config(images))
    proc = snakemake(workdir)
    return {"workdir": workdir, "images": images, "proc": proc}


def test_fast_column_is_trained_and_stylised_beside_the_optimised_sets(trained):
    wd = trained["workdir"]
    counts = jobs_run(trained["proc"])
    assert counts["train_style"] == 1  # one network, for the one fast style
    assert counts["stylize"] == 2  # two contents x that style
    assert counts["transfer"] == 4  # 2 contents x 2 styles x 1 set

    training = json.loads((wd / "results/models/red/metrics.json").read_text())
    assert [h["step"] for h in training["history"]] == list(range(1, 7))
    assert training["train"]["width"] == 8
    shas = {Path(c["path"]).name: c["sha256"] for c in training["contents"]}
    assert set(shas) == {"c1.png", "c2.png"}  # the experiment's prepared contents
    assert not list((wd / "results/models/red").glob("*.ckpt*"))  # removed after success

    for content in ("c1", "c2"):
        run = wd / "results/transfer" / content / "red" / "fast"
        with (
            Image.open(run / "image.png") as im,
            Image.open(wd / "results/prepared/content" / f"{content}.png") as prepared,
        ):
            assert im.size == prepared.size  # size 64 = the prepared images' longest side
        record = json.loads((run / "metrics.json").read_text())
        assert record["settings"]["method"] == "fast"
        assert record["network"]["path"] == "results/models/red/model.keras"
        q = record["quality"]
        assert 0 < q["content_ssim"] < 1 and 0 < q["style_distance"] < 2
        assert record["final_loss"]["total"] > 0 and record["timings"]["total_seconds"] > 0
    assert not (wd / "results/transfer/c1/blue/fast").exists()  # blue has no fast network

    rows = list(csv.DictReader((wd / "results/summary.csv").open()))
    fast_rows = [r for r in rows if r["params"] == "fast"]
    assert {(r["content"], r["style"], r["method"]) for r in fast_rows} == {
        ("c1", "red", "fast"),
        ("c2", "red", "fast"),
    }
    assert all(float(r["loss_total"]) > 0 and float(r["content_ssim"]) > 0 for r in fast_rows)
    assert {r["settings"] for r in fast_rows} == {"feed-forward network (Johnson et al.)"}

    # the sheets gain the fast column: the per-content sheet is one cell wider than one set's
    with Image.open(wd / "results/sheets/content/c1.png") as sheet:
        assert sheet.width == (1 + 2) * (48 + 2 * 6)  # corner + soft + fast, thumb 48
    with Image.open(wd / "results/plots/training.png") as plot:
        assert plot.width > 600


def test_a_given_model_is_used_instead_of_training(trained, tmp_path):
    model = tmp_path / "models" / "red.keras"
    model.parent.mkdir()
    shutil.copy(trained["workdir"] / "results/models/red/model.keras", model)
    shutil.copy(trained["workdir"] / "results/models/red/metrics.json", model.with_suffix(".json"))
    workdir = tmp_path / "run"
    write_config(workdir, fast_config(trained["images"], models={"red": str(model)}))
    targets = [f"results/transfer/{c}/red/fast/image.png" for c in ("c1", "c2")]
    proc = snakemake(workdir, *targets)
    counts = jobs_run(proc)
    assert "train_style" not in counts and counts["stylize"] == 2
    record = json.loads((workdir / "results/transfer/c1/red/fast/metrics.json").read_text())
    assert record["network"]["path"] == str(model)
    # the same network gives the same picture as in the run that trained it
    same = trained["workdir"] / "results/transfer/c1/red/fast/image.png"
    assert (workdir / "results/transfer/c1/red/fast/image.png").read_bytes() == same.read_bytes()


@pytest.mark.parametrize(
    "fast, params, message",
    [
        ({"styles": ["red"], "models": {"red": "nowhere.keras"}}, None, "fast.models.red"),
        ({"styles": ["red"], "train": {"train_size": 50}}, None, "['fast']['train']['train_size']"),
        ({"styles": ["red"]}, {"fast": {"style_weight": 2.0}}, "params.fast"),
        ({"styles": ["purple"]}, None, "purple"),
    ],
)
def test_bad_fast_sections_fail_before_any_job_naming_the_key(tmp_path, fast, params, message):
    images = make_images(tmp_path / "inputs")
    config = fast_config(images)
    config["fast"] = fast
    if params:
        config["params"] = params
    write_config(tmp_path / "run", config)
    proc = snakemake(tmp_path / "run", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "run" / "results" / "transfer").exists()
