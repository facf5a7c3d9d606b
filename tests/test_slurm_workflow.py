"""The real workflow on the local SLURM cluster (issue 6): every transfer runs as a SLURM job
through the project's profile, a job cancelled with scancel while it runs is retried, and the
images equal those of a plain local run with the same seed and thread count.

One SLURM run (with one cancellation) and one local run of a tiny experiment (1 content x
1 style x 2 sets, 64 px) are shared by the tests below. Needs root and the packages from
tests/install_slurm.sh (CI installs them); see tests/SLURM_NOTES.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from slurm_cluster import env_with, local_profile, slurm_cluster_fixture, submitted_jobs
from test_workflow import ROOT, make_images, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

slurm_cluster = slurm_cluster_fixture()

SETS = ("soft", "hard")
# Long enough (about 15-25 s per job on 2 cores) to catch a transfer job while it iterates.
ITERATIONS = 250
RUN_TIMEOUT = 420  # seconds for the whole SLURM run


def experiment_config(images: Path) -> dict:
    config = tiny_config(images, styles=("red",))
    config["contents"] = ["c1"]
    config["defaults"].update(iterations=ITERATIONS, print_every=10, seed=7)
    # One thread per job, here and in SLURM (cpus-per-task follows it): same arithmetic.
    config["resources"]["transfer"]["threads"] = 1
    return config


def transfer_dir(workdir: Path, params: str) -> Path:
    return workdir / "results" / "transfer" / "c1" / "red" / params


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("slurm-inputs") / "images")


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, images, tmp_path_factory) -> dict:
    """The workflow through `--profile` (the project profile, partition/account for this
    cluster); once a transfer job is RUNNING and iterating, it is cancelled with scancel."""
    root = tmp_path_factory.mktemp("slurm-run")
    workdir = root / "run"
    config = experiment_config(images)
    write_config(workdir, config)
    profile = local_profile(slurm_cluster, ROOT / "profiles" / "slurm", root / "profile")
    wanted = yaml.safe_load((profile / "config.yaml").read_text())["set-resources"]["transfer"]
    # the profile leaves a transfer job's memory to the workflow (the config's, or each set's
    # estimate from its size)
    assert "mem_mb" not in wanted
    asked = config["resources"]["transfer"]["mem_mb"]
    assert asked <= slurm_cluster.memory_mb, (
        f"the workflow asks {asked} MB per transfer job, the test node has only "
        f"{slurm_cluster.memory_mb} MB: sbatch would reject the job"
    )
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(profile),
        # No --workflow-profile none: Snakemake also applies profiles/default (the workflow
        # profile next to the Snakefile), exactly as for a user, and the test checks that the
        # SLURM profile's partition, account and runtime survive it (SLURM_NOTES.md, gotcha 4).
        "--slurm-init-seconds-before-status-checks",
        "1",
    ]
    env = env_with(slurm_cluster, {"TF_CPP_MIN_LOG_LEVEL": "2"})
    out_path, err_path = root / "snakemake.out", root / "snakemake.err"
    cancelled = None
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its local-rule children go down with it in `finally`
        )
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while proc.poll() is None:
                assert time.monotonic() < deadline, (
                    f"SLURM run still going after {RUN_TIMEOUT} s\n{_tail(err_path)}\n"
                    f"{slurm_cluster.diagnostics()}"
                )
                if cancelled is None:
                    cancelled = _cancel_a_running_transfer(slurm_cluster, workdir)
                time.sleep(0.5)
        finally:
            _stop(proc)
    stderr = err_path.read_text(errors="replace")
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{stderr[-6000:]}"
    assert cancelled is not None, "no transfer job was ever seen RUNNING and iterating"
    return {"workdir": workdir, "log": stderr, "cancelled": cancelled}


def _cancel_a_running_transfer(cluster, workdir: Path) -> dict | None:
    """scancel the first transfer job that is RUNNING and has logged an iteration."""
    out = cluster.run(
        "squeue", "--noheader", "--states=RUNNING", "--format=%i|%T|%k", check=False
    ).stdout
    for line in out.splitlines():
        job_id, state, comment = (line.split("|", 2) + ["", ""])[:3]
        if state != "RUNNING" or not comment.startswith("rule_transfer_wildcards_"):
            continue
        params = comment.rsplit("_", 1)[-1]
        log = workdir / "logs" / "transfer" / "c1" / "red" / f"{params}.log"
        try:
            iterating = "iter " in log.read_text(errors="replace")
        except OSError:
            iterating = False
        if iterating:
            cluster.run("scancel", job_id)
            return {"slurm_id": job_id, "params": params, "comment": comment}
    return None


def _stop(proc: subprocess.Popen) -> None:
    """End a still-running snakemake (it cancels its SLURM jobs on SIGTERM), then its group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=30)


def _tail(path: Path, chars: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"({path} not written)"


@pytest.fixture(scope="module")
def local_run(images, tmp_path_factory) -> Path:
    """The same config with plain `snakemake --cores 2` (no profile, no SLURM)."""
    workdir = tmp_path_factory.mktemp("local-run") / "run"
    write_config(workdir, experiment_config(images))
    snakemake(workdir)
    return workdir


def metrics_total(workdir: Path, params: str) -> float:
    metrics = json.loads((transfer_dir(workdir, params) / "metrics.json").read_text())
    return metrics["final_loss"]["total"]


def attempts_by_output(log: str) -> dict[str, list[dict]]:
    """The transfer submissions per output (wildcards, e.g. c1_red_soft), in order."""
    attempts = defaultdict(list)
    for sub in submitted_jobs(log):
        if sub["rule"] == "transfer":
            attempts[Path(sub["log"]).parent.name].append(sub)
    return dict(attempts)


def test_every_transfer_job_ran_as_a_slurm_job(slurm_cluster, slurm_run):
    wd = slurm_run["workdir"]
    submitted = submitted_jobs(slurm_run["log"])
    # prepare is submitted too; fetch, sheets, summary and plots are local rules
    assert {s["rule"] for s in submitted} == {"prepare", "transfer"}
    assert len({s["slurm_id"] for s in submitted}) == len(submitted)
    attempts = attempts_by_output(slurm_run["log"])
    assert sorted(attempts) == [f"c1_red_{p}" for p in sorted(SETS)]
    transfer_ids = {a["slurm_id"] for subs in attempts.values() for a in subs}
    print(f"SLURM submissions: {[(s['rule'], s['job'], s['slurm_id']) for s in submitted]}")
    print(f"cancelled: {slurm_run['cancelled']}")
    for params in SETS:
        subs = attempts[f"c1_red_{params}"]
        assert len({a["job"] for a in subs}) == 1  # retries keep the Snakemake job number
        final = subs[-1]["slurm_id"]
        metrics = json.loads((transfer_dir(wd, params) / "metrics.json").read_text())
        recorded = metrics["versions"]["environment"]["slurm_job_id"]
        assert recorded in transfer_ids
        assert recorded == final  # the attempt that finished wrote the outputs
        assert metrics["settings"]["threads"] == 1
        assert metrics["iterations"] == ITERATIONS
        info = slurm_cluster.job_info(final)
        assert info["JobState"] == "COMPLETED", info
        assert info["ExitCode"] == "0:0"
        assert info["Comment"] == f"rule_transfer_wildcards_c1_red_{params}"
        assert info["Partition"] == slurm_cluster.partition
        assert info["Account"] == "nsttest"
        assert info["NumCPUs"] == "1"  # cpus_per_task: threads
        assert info["TimeLimit"] == "02:00:00"  # runtime from the profile's set-resources
    for sub in submitted:
        if sub["rule"] == "prepare":
            info = slurm_cluster.job_info(sub["slurm_id"])
            assert info["JobState"] == "COMPLETED", info
            assert info["Account"] == "nsttest"
            assert info["TimeLimit"] == "00:30:00"  # runtime from the profile's default-resources


def test_a_cancelled_running_job_is_retried_and_the_workflow_completes(slurm_cluster, slurm_run):
    wd, cancelled = slurm_run["workdir"], slurm_run["cancelled"]
    info = slurm_cluster.job_info(cancelled["slurm_id"])
    assert info["JobState"] == "CANCELLED", info
    subs = attempts_by_output(slurm_run["log"])[f"c1_red_{cancelled['params']}"]
    ids = [a["slurm_id"] for a in subs]
    assert cancelled["slurm_id"] in ids
    later = ids[ids.index(cancelled["slurm_id"]) + 1 :]
    assert later, f"job {cancelled['slurm_id']} was not resubmitted: {ids}"
    assert slurm_cluster.job_info(later[-1])["JobState"] == "COMPLETED"
    log = slurm_run["log"]
    assert f"SLURM-job '{cancelled['slurm_id']}' failed, SLURM status is: 'CANCELLED'" in log
    assert f"Trying to restart job {subs[0]['job']}." in log
    # the failed attempt's SLURM log is kept; the successful ones are removed
    kept = Path(subs[ids.index(cancelled["slurm_id"])]["log"])
    assert kept.is_file() and "CANCELLED" in kept.read_text(errors="replace")
    for params in SETS:
        for name in ("image.png", "metrics.json"):
            assert (transfer_dir(wd, params) / name).is_file()
    for path in ("summary.csv", "sheets/overview.png", "sheets/content/c1.png", "plots/c1/red.png"):
        assert (wd / "results" / path).is_file(), path


def test_slurm_outputs_equal_a_local_run(slurm_run, local_run):
    diffs, losses = {}, {}
    for params in SETS:
        with Image.open(transfer_dir(slurm_run["workdir"], params) / "image.png") as im:
            on_slurm = np.asarray(im.convert("RGB"), dtype=np.int16)
        with Image.open(transfer_dir(local_run, params) / "image.png") as im:
            local = np.asarray(im.convert("RGB"), dtype=np.int16)
        assert on_slurm.shape == local.shape
        diffs[params] = int(np.abs(on_slurm - local).max())
        losses[params] = (
            metrics_total(slurm_run["workdir"], params),
            metrics_total(local_run, params),
        )
        metrics = [
            json.loads((transfer_dir(wd, params) / "metrics.json").read_text())
            for wd in (slurm_run["workdir"], local_run)
        ]
        if "SLURM_JOB_ID" not in os.environ:  # the local run really ran outside SLURM
            assert "slurm_job_id" not in metrics[1]["versions"]["environment"]
        assert metrics[0]["settings"] == metrics[1]["settings"]
        assert metrics[0]["iterations"] == metrics[1]["iterations"] == ITERATIONS
    # Same seed, same thread count, same machine: the same pixels (1 level of slack at most).
    print(f"max abs pixel difference SLURM vs local: {diffs}; final losses: {losses}")
    assert max(diffs.values()) <= 1, diffs
