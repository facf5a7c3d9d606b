"""The real Snakemake workflow on a tiny experiment: outputs, no-op rerun, partial reruns,
schema errors and a broken input under --keep-going."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_content, make_style
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(images: Path, styles=("red", "blue")) -> dict:
    return {
        "dataset": {
            "sources": {
                "content": [
                    {"path": str(images / "c1.png"), "name": "c1"},
                    {"path": str(images / "c2.png"), "name": "c2"},
                ],
                "style": [{"path": str(images / f"{s}.png"), "name": s} for s in styles],
            },
            "cache_dir": str(images.parent / "cache"),
        },
        "prepare": {"size": 64},
        "defaults": {"model": "vgg16-hed", "size": 64, "iterations": 4, "print_every": 1},
        "params": {"soft": {"style_weight": 1.0}, "hard": {"style_weight": 100.0}},
        "resources": {"transfer": {"threads": 1, "mem_mb": 1000, "runtime": 5}},
        "sheets": {"thumb": 48},
    }


def make_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_content(60, 80)).save(folder / "c1.png")
    Image.fromarray(make_content(64, 64)[:, ::-1]).save(folder / "c2.png")
    Image.fromarray(make_style("red", 64)).save(folder / "red.png")
    Image.fromarray(make_style("blue", 64, seed=1)).save(folder / "blue.png")
    Image.fromarray(make_style("red", 64, seed=5)[:, :, ::-1]).save(folder / "green.png")
    return folder


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--cores", "2", "--printshellcmds", *args,
    ]  # fmt: skip


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, *args)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints: {rule: count}."""
    counts = {}
    table = output.split("Job stats:")[-1]
    for line in table.splitlines():
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if m:
            counts[m[1]] = int(m[2])
    return counts


def transfer_images(workdir: Path) -> dict[str, float]:
    return {
        str(p.relative_to(workdir)): p.stat().st_mtime_ns
        for p in sorted((workdir / "results" / "transfer").glob("*/*/*/image.png"))
    }


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """One full run of the tiny experiment, shared by the rerun tests (in order)."""
    root = tmp_path_factory.mktemp("workflow")
    images = make_images(root / "inputs")
    workdir = root / "run"
    write_config(workdir, tiny_config(images))
    proc = snakemake(workdir)
    return {"workdir": workdir, "images": images, "first": proc}


def test_full_run_outputs(experiment):
    wd = experiment["workdir"]
    images = transfer_images(wd)
    assert len(images) == 8  # 2 contents x 2 styles x 2 sets
    for path in images:
        with Image.open(wd / path) as im:
            assert max(im.size) == 64
        metrics = json.loads((wd / path).with_name("metrics.json").read_text())
        assert metrics["settings"]["threads"] == 1 and metrics["iterations"] == 4
        assert metrics["final_loss"]["total"] < metrics["initial_loss"]["total"]
    rows = list(csv.DictReader((wd / "results" / "summary.csv").open()))
    assert len(rows) == 8
    assert {(r["content"], r["style"], r["params"]) for r in rows} == {
        (c, s, p) for c in ("c1", "c2") for s in ("red", "blue") for p in ("soft", "hard")
    }
    assert {r["settings"] for r in rows} == {"style_weight=1", "style_weight=100"}
    # each run ran with its own set's values
    for path in images:
        metrics = json.loads((wd / path).with_name("metrics.json").read_text())
        expected = 100.0 if "/hard/" in path else 1.0
        assert metrics["settings"]["style_weight"] == expected
    cell = 48 + 12
    for kind, names in (("content", ("c1", "c2")), ("style", ("red", "blue"))):
        for name in names:
            with Image.open(wd / "results" / "sheets" / kind / f"{name}.png") as im:
                assert im.width == 3 * cell  # header column + 2 sets
    with Image.open(wd / "results" / "sheets" / "overview.png") as im:
        assert im.width == 5 * cell  # header column + 2 styles x 2 sets
    assert len(list((wd / "results" / "plots").glob("*/*.png"))) == 4
    with Image.open(wd / "results" / "plots" / "tradeoff.png") as im:
        assert im.width >= 600
    for row in rows:  # quality figures of every run in the table
        assert 0 < float(row["content_ssim"]) <= 1
        assert 0 <= float(row["style_distance"]) < 1.5
        assert float(row["color_difference"]) >= 0
    assert not (wd / "results" / "sheets" / "sweep").exists()  # no sweep, no sweep sheets
    log = (wd / "logs" / "transfer" / "c1" / "red" / "soft.log").read_text()
    assert "iter     4/4" in log and "done:" in log
    assert (wd / "benchmarks" / "transfer" / "c1" / "red" / "soft.tsv").is_file()
    assert not list(wd.rglob(".*.tmp-*"))  # no temporary left anywhere


def test_second_run_is_a_noop(experiment):
    wd = experiment["workdir"]
    before = transfer_images(wd)
    proc = snakemake(wd, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    snakemake(wd)
    assert transfer_images(wd) == before


def test_report_links_every_full_size_image_beside_the_sheets(experiment):
    """The report carries each run's image at the size it was made (not only the sheets'
    thumbnails), labelled by style and set under its content."""
    wd = experiment["workdir"]
    snakemake(wd, "--report", "report.zip")
    with zipfile.ZipFile(wd / "report.zip") as archive:
        names = archive.namelist()
        # the report stores each file under a hash of its path, keeping the file's name
        full = [n for n in names if n.endswith("/image.png")]
        assert len(full) == 8  # 2 contents x 2 styles x 2 sets
        with Image.open(archive.open(full[0])) as im:
            assert max(im.size) == 64  # the image itself, not a thumbnail
        assert sum(n.endswith("overview.png") for n in names) == 1
        pages = "".join(
            archive.read(n).decode(errors="ignore") for n in names if n.endswith((".html", ".js"))
        )
    assert "Full-size images" in pages


def test_changing_one_set_reruns_only_its_jobs(experiment):
    wd = experiment["workdir"]
    before = transfer_images(wd)
    config = tiny_config(experiment["images"])
    config["params"]["hard"]["style_weight"] = 50.0
    write_config(wd, config)
    dry = snakemake(wd, "--dry-run")
    assert job_counts(dry.stdout)["transfer"] == 4
    snakemake(wd)
    after = transfer_images(wd)
    changed = sorted(p for p in after if after[p] != before[p])
    assert len(changed) == 4 and all("/hard/" in p for p in changed)


def test_adding_a_style_runs_only_the_new_combinations(experiment):
    wd = experiment["workdir"]
    before = transfer_images(wd)
    config = tiny_config(experiment["images"], styles=("red", "blue", "green"))
    config["params"]["hard"]["style_weight"] = 50.0  # as left by the previous test
    write_config(wd, config)
    proc = snakemake(wd)
    after = transfer_images(wd)
    new = sorted(set(after) - set(before))
    assert len(new) == 4 and all("/green/" in p for p in new)
    assert all(after[p] == before[p] for p in before)
    assert proc.stderr.count("rule transfer:") == 4


def test_schema_violation_fails_before_any_job_naming_the_key(tmp_path):
    images = make_images(tmp_path / "inputs")
    for mutate, key in (
        (lambda c: c["params"]["soft"].update(style_weight="lots"), "style_weight"),
        (lambda c: c["params"]["soft"].update(stlye_weight=3), "stlye_weight"),
        (lambda c: c.update(prepare={"size": 8}), "size"),
        (lambda c: c.update(sweep={"style_weight": "lots"}), "style_weight"),
        (lambda c: c.update(sweep={"tv_wieght": [0, 1]}), "tv_wieght"),
        (lambda c: c.update(sweep={"set": ["nope"]}), "sweep.set"),
    ):
        config = tiny_config(images)
        mutate(config)
        write_config(tmp_path / "run", config)
        proc = snakemake(tmp_path / "run", check=False)
        assert proc.returncode != 0
        assert key in proc.stderr
        assert not (tmp_path / "run" / "results").exists()


def test_sweep_runs_every_point_with_a_sweep_sheet_and_named_sets_beside_it(tmp_path):
    images = make_images(tmp_path / "inputs")
    config = tiny_config(images, styles=("red",))
    config["dataset"]["sources"]["content"] = config["dataset"]["sources"]["content"][:1]
    config["params"] = {"base": {"style_weight": 1.0}}
    config["sweep"] = {"style_weight": [0.1, 10], "tv_weight": [0, 0.5]}
    config["defaults"]["iterations"] = 8
    wd = tmp_path / "run"
    write_config(wd, config)
    proc = snakemake(wd)
    assert proc.stderr.count("rule transfer:") == 5  # the named set + 2 x 2 points
    names = sorted(p.name for p in (wd / "results" / "transfer" / "c1" / "red").iterdir())
    assert names == [
        "base",
        "style_weight~0.1_tv_weight~0",
        "style_weight~0.1_tv_weight~0.5",
        "style_weight~10_tv_weight~0",
        "style_weight~10_tv_weight~0.5",
    ]
    figures = {}
    for name in names:
        metrics = json.loads((wd / "results/transfer/c1/red" / name / "metrics.json").read_text())
        figures[name] = metrics["quality"]
        if name != "base":
            assert metrics["settings"]["style_weight"] == float(name.split("~")[1].split("_")[0])
    # the style weight acts: more style, less content structure at 10 than at 0.1
    low, high = figures["style_weight~0.1_tv_weight~0"], figures["style_weight~10_tv_weight~0"]
    assert high["style_distance"] < low["style_distance"] - 0.1
    assert high["content_ssim"] < low["content_ssim"] - 0.1
    with Image.open(wd / "results" / "sheets" / "sweep" / "c1" / "red.png") as im:
        assert im.width == 3 * (48 + 12)  # header column + 2 tv weights
    rows = list(csv.DictReader((wd / "results" / "summary.csv").open()))
    assert len(rows) == 5
    assert {r["settings"] for r in rows} >= {"style_weight=0.1 tv_weight=0.5"}


def test_malformed_source_stops_the_workflow_before_any_job(tmp_path):
    config = tiny_config(make_images(tmp_path / "inputs"))
    config["dataset"]["sources"]["content"].append({"url": "not a url"})
    write_config(tmp_path / "run", config)
    proc = snakemake(tmp_path / "run", check=False)
    assert proc.returncode != 0
    assert "dataset.sources.content[2].url = 'not a url' is not an http(s) URL" in proc.stderr
    assert not (tmp_path / "run" / "results").exists()
    assert not (tmp_path / "run" / "logs").exists()


@pytest.mark.parametrize("broken", ["corrupt", "tiny"])
def test_keep_going_fails_only_the_broken_image_jobs(tmp_path, broken):
    images = make_images(tmp_path / "inputs")
    if broken == "corrupt":  # a truncated PNG
        data = (images / "c2.png").read_bytes()
        (images / "c2.png").write_bytes(data[: len(data) // 2])
        reason = "c2.png"
    else:  # decodes, but is too small to stylise
        Image.fromarray(np.full((20, 24, 3), 128, np.uint8)).save(images / "c2.png")
        reason = "at least 32 px"
    write_config(tmp_path / "run", tiny_config(images))
    proc = snakemake(tmp_path / "run", "--keep-going", check=False)
    assert proc.returncode != 0
    wd = tmp_path / "run"
    done = transfer_images(wd)
    assert len(done) == 4 and all(p.startswith("results/transfer/c1/") for p in done)
    assert (wd / "results" / "sheets" / "content" / "c1.png").is_file()  # c1 is complete
    log = (wd / "logs" / "prepare" / "content" / "c2.log").read_text()
    errors = [ln for ln in log.splitlines() if ln.startswith("nst: error:")]
    assert len(errors) == 1 and reason in errors[0], log
    assert errors[0].rstrip(".").count(". ") == 0  # one sentence
    assert not list((wd / "results" / "transfer").glob("c2/*/*/image.png"))
    assert "c2" in (wd / "logs" / "dataset" / "fetch.log").read_text()


def test_interrupted_run_leaves_nothing_half_written_and_resumes(tmp_path):
    import signal
    import time

    images = make_images(tmp_path / "inputs")
    config = tiny_config(images)
    config["defaults"]["iterations"] = 60
    wd = tmp_path / "run"
    write_config(wd, config)
    cmd = snakemake_command(wd)
    err = (tmp_path / "snakemake.err").open("w")
    proc = subprocess.Popen(
        cmd, stdout=err, stderr=err, cwd=wd, start_new_session=True,
        # a shell that starts jobs in the background (CI may) passes SIGINT on as ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:

        def running_job():
            """A transfer whose log shows iterations but whose image is not written yet."""
            for log in (wd / "logs" / "transfer").glob("*/*/*.log"):
                c, s, p = log.parts[-3], log.parts[-2], log.stem
                done = (wd / "results" / "transfer" / c / s / p / "image.png").exists()
                if not done and "iter " in log.read_text(errors="replace"):
                    return log
            return None

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if len(transfer_images(wd)) >= 2 and running_job():
                break
            time.sleep(0.2)
        assert len(transfer_images(wd)) >= 2 and running_job()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user would
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # and again, as a user would, if it goes on
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()
    finished = transfer_images(wd)
    assert 2 <= len(finished) < 8
    for path in finished:  # whatever is there is whole: decodes, and has its record
        with Image.open(wd / path) as im:
            im.load()
        json.loads((wd / path).with_name("metrics.json").read_text())
    assert not list((wd / "results").rglob(".*.tmp-*"))
    snakemake(wd)
    assert len(transfer_images(wd)) == 8
    assert all(transfer_images(wd)[p] == finished[p] for p in finished)  # not redone
