"""The workflow's any-style column (universal decoders): stylize_arbitrary per content x style,
the column on the sheets and in summary.csv, the warm start of a set with init arbitrary (the
decoders as inputs of its jobs), train_decoder, and the config's errors before any job."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from test_fast_workflow import jobs_run
from test_workflow import job_counts, make_images, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LABEL = "any-style network (universal, WCT, alpha=0.5)"
CELL = 48 + 2 * 6  # thumb 48 and its padding


@pytest.fixture(scope="module")
def tiny_decoders(tmp_path_factory):
    """Decoders of levels 1 to 3 (the warm start decodes all three), a few steps each on the
    sample photos: for the plumbing, not for quality."""
    from nst.feedforward.decoder_train import decoder_files
    from nst.settings import DecoderSettings

    out = tmp_path_factory.mktemp("decoders")
    for level in (1, 2, 3):
        settings = DecoderSettings(
            level=level,
            width=0.25,
            train_size=64,
            batch_size=2,
            steps=30,
            learning_rate=1e-3,
            checkpoint_every=0,
            print_every=0,
            threads=1,
        )
        decoder_files(
            [ROOT / "resources/images/content"],
            out / f"level{level}.keras",
            settings=settings,
            log=lambda _m: None,
        )
    return out


def arbitrary_config(images: Path, **arbitrary) -> dict:
    """One content x one style, a plain set and a warm set (init arbitrary), the column on."""
    config = tiny_config(images, styles=("red",))
    config["dataset"]["sources"]["content"] = config["dataset"]["sources"]["content"][:1]
    config["params"] = {
        "soft": {"style_weight": 1.0},
        "warm": {"style_weight": 1.0, "init": "arbitrary", "iterations": 2},
    }
    config["arbitrary"] = {"styles": "all", **arbitrary}
    return config


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_decoders):
    root = tmp_path_factory.mktemp("arbitrary")
    images = make_images(root / "inputs")
    workdir = root / "run"
    write_config(workdir, arbitrary_config(images, decoders=str(tiny_decoders), alpha=0.5))
    proc = snakemake(workdir)
    return {"workdir": workdir, "decoders": tiny_decoders, "proc": proc}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_arbitrary_column_beside_the_optimised_sets(experiment):
    wd, decoders = experiment["workdir"], experiment["decoders"]
    counts = jobs_run(experiment["proc"])
    assert counts["stylize_arbitrary"] == 1 and counts["transfer"] == 2
    assert "train_decoder" not in counts  # the given folder is used as it is

    run = wd / "results/transfer/c1/red/arbitrary"
    with (
        Image.open(run / "image.png") as im,
        Image.open(wd / "results/prepared/content/c1.png") as prepared,
    ):
        assert im.size == prepared.size  # size 64 = the prepared image's longest side
    record = read(run / "metrics.json")
    assert record["method"] == "arbitrary" and record["iterations"] is None
    assert record["settings"]["method"] == "arbitrary"
    assert record["settings"]["transform"] == "wct" and record["settings"]["levels"] == [3, 2, 1]
    assert record["settings"]["detail"] == 1.0  # the decoders' lost detail put back by default
    for level in (1, 2, 3):  # each decoder named by path and checksum
        entry = record["decoders"][str(level)]
        path = decoders / f"level{level}.keras"
        assert entry["path"] == str(path)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    q = record["quality"]
    # the fixture's 30-step decoders draw next to nothing: with --detail 1 the output is about
    # the content plus the difference of two poor decodings, far from a flat red style
    assert 0 < q["content_ssim"] < 1 and 0 < q["style_distance"] < 10
    assert q["palette_distance"] >= 0 and q["texture_distance"] >= 0
    assert record["final_loss"]["total"] > 0 and record["timings"]["total_seconds"] > 0
    assert record["loss_settings"]["model"] == "vgg16-hed"  # the experiment's objective

    rows = {r["params"]: r for r in csv.DictReader((wd / "results/summary.csv").open())}
    assert set(rows) == {"soft", "warm", "arbitrary"}
    row = rows["arbitrary"]
    assert (row["content"], row["style"], row["method"], row["settings"]) == (
        "c1",
        "red",
        "arbitrary",
        LABEL,
    )
    assert float(row["loss_total"]) == pytest.approx(record["final_loss"]["total"])
    assert float(row["content_ssim"]) == pytest.approx(q["content_ssim"])
    assert row["iterations"] == ""

    # one more column on every sheet: corner + soft + warm + arbitrary
    for sheet in ("content/c1.png", "style/red.png", "overview.png"):
        with Image.open(wd / "results/sheets" / sheet) as im:
            assert im.width == 4 * CELL, sheet
    assert (wd / "results/plots/tradeoff.png").is_file()
    assert (wd / "results/plots/c1/red.png").is_file()


def test_warm_set_starts_from_the_arbitrary_result(experiment):
    wd, decoders = experiment["workdir"], experiment["decoders"]
    warm = read(wd / "results/transfer/c1/red/warm/metrics.json")
    soft = read(wd / "results/transfer/c1/red/soft/metrics.json")
    column = read(wd / "results/transfer/c1/red/arbitrary/metrics.json")
    assert warm["settings"]["init"] == "arbitrary"
    assert warm["settings"]["decoders"] == str(decoders)
    assert soft["settings"]["init"] == "content" and soft["settings"]["decoders"] is None
    # the column's alpha (0.5 here) and detail reach the warm start
    assert (warm["settings"]["init_alpha"], warm["settings"]["init_detail"]) == (0.5, 1.0)
    # the warm start is the column's picture (same decoders, levels, size, alpha): its loss is the
    # loss the column's output has; the content start has no content loss at all
    assert warm["initial_loss"]["total"] == pytest.approx(column["final_loss"]["total"], rel=1e-3)
    assert warm["initial_loss"]["content"] > 0.1 and soft["initial_loss"]["content"] == 0
    assert warm["iterations"] == 2

    # the decoder files are inputs of the warm set's jobs (and the column's), not of the others:
    # a changed decoder re-runs exactly those two (Snakemake compares the inputs' checksums)
    level1 = decoders / "level1.keras"
    original = level1.read_bytes()
    level1.write_bytes(original + b"changed")
    try:
        counts = job_counts(snakemake(wd, "--dry-run").stdout)
    finally:
        level1.write_bytes(original)
    assert counts["transfer"] == 1 and counts["stylize_arbitrary"] == 1
    assert "Nothing to be done" in snakemake(wd, "--dry-run").stdout


def test_train_decoder_rule_trains_the_levels_on_the_contents(tmp_path):
    images = make_images(tmp_path / "inputs")
    workdir = tmp_path / "run"
    train = {"width": 0.25, "train_size": 64, "batch_size": 1, "steps": 2, "print_every": 1}
    config = arbitrary_config(images, train=train, levels=[2, 1])
    config["resources"]["train"] = {"threads": 1}
    write_config(workdir, config)
    proc = snakemake(workdir, "results/decoders/vgg16-hed/level2.keras")
    assert jobs_run(proc)["train_decoder"] == 1
    record = read(workdir / "results/decoders/vgg16-hed/level2.json")
    assert record["settings"]["level"] == 2 and record["settings"]["width"] == 0.25
    assert record["settings"]["model"] == "vgg16-hed"
    assert record["steps"] == 2 and [h["step"] for h in record["history"]] == [1, 2]
    # trained on the dataset's (prepared) content image, the one the experiment uses
    assert [Path(i["path"]).name for i in record["data"]["images"]] == ["c1.png"]
    assert not list((workdir / "results/decoders/vgg16-hed").glob("*.ckpt*"))
    # the rest of the experiment: the other levels, each once (the warm start needs 3 to 1,
    # the column 2 and 1), before the column and the warm set
    dry = snakemake(workdir, "--dry-run")
    counts = job_counts(dry.stdout)
    assert counts["train_decoder"] == 2 and counts["stylize_arbitrary"] == 1
    for level in (1, 3):
        assert f"results/decoders/vgg16-hed/level{level}.keras" in dry.stdout


@pytest.mark.parametrize(
    "arbitrary, params, message",
    [
        (
            {"styles": "all", "decoders": "nowhere"},
            None,
            "arbitrary.decoders = nowhere: no such folder; give a folder of decoders trained "
            "with nst train-decoder",
        ),
        ({"styles": "all", "decoders": "HALF"}, None, "no level3.keras; give"),
        ({}, {"warm": {"init": "arbitrary"}}, "arbitrary.decoders = resources/decoders/vgg16-hed"),
        ({"styles": "all"}, {"arbitrary": {"style_weight": 2.0}}, "params.arbitrary: the name"),
        ({"styles": "all", "train": {"data": ["nowhere"]}}, None, "arbitrary.train.data: nowhere"),
        ({"styles": "all", "train": {"train_size": 34}}, None, "arbitrary.train: train-size 34"),
    ],
)
def test_bad_arbitrary_sections_fail_before_any_job_naming_the_key(
    tmp_path, arbitrary, params, message
):
    images = make_images(tmp_path / "inputs")
    config = arbitrary_config(images)
    if arbitrary.get("decoders") == "HALF":  # levels 2 and 1 only
        half = tmp_path / "half"
        half.mkdir()
        for level in (1, 2):
            (half / f"level{level}.keras").write_bytes(b"")
        arbitrary = {**arbitrary, "decoders": str(half)}
    config["arbitrary"] = arbitrary
    if params:
        config["params"] = params
    write_config(tmp_path / "run", config)
    proc = snakemake(tmp_path / "run", check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if message in line]
    assert len(lines) == 1, proc.stderr[-2000:]  # one sentence, on one line
    assert not (tmp_path / "run" / "results").exists()


def test_warm_start_takes_the_columns_alpha_and_detail_unless_the_set_gives_its_own():
    from nst.experiment import arbitrary

    config = {"arbitrary": {"styles": "all", "alpha": 0.4, "detail": 0.5}}
    warm = arbitrary.with_decoders(config, {"init": "arbitrary", "model": "vgg16-hed"})
    assert (warm["init_alpha"], warm["init_detail"]) == (0.4, 0.5)
    assert warm["decoders"] == "resources/decoders/vgg16-hed"
    own = arbitrary.with_decoders(config, {"init": "arbitrary", "init_alpha": 0.9})
    assert (own["init_alpha"], own["init_detail"]) == (0.9, 0.5)
    assert arbitrary.with_decoders(config, {"init": "content"}) == {"init": "content"}
    plain = arbitrary.with_decoders({}, {"init": "arbitrary"})
    assert (plain["init_alpha"], plain["init_detail"]) == (1.0, 1.0)
