"""The local SLURM cluster the cluster-submission tests run on: jobs really run through
slurmctld/slurmd, scancel works, and the harness leaves nothing behind.

Needs root and the packages from tests/install_slurm.sh (CI installs them).
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import (
    LocalSlurmCluster,
    local_profile,
    processes_of,
    require_slurm,
    slurm_cluster_fixture,
    submitted_jobs,
)

slurm_cluster = slurm_cluster_fixture()
REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def test_batch_jobs_run_as_slurm_jobs(slurm_cluster, tmp_path):
    jobs = {}
    for name in ("one", "two"):
        jobs[name] = slurm_cluster.sbatch(
            f"--output={tmp_path / name}.log",
            "--wrap",
            f'echo "$SLURM_JOB_ID $SLURM_JOB_PARTITION" > {name}.txt; sleep 1',
            cwd=tmp_path,
        )
    assert len(set(jobs.values())) == 2
    for name, job_id in jobs.items():
        assert slurm_cluster.wait_for_state(job_id, {"COMPLETED"}, timeout=30) == "COMPLETED"
        assert (tmp_path / f"{name}.txt").read_text().split() == [job_id, slurm_cluster.partition]
        # Finished jobs stay known (MinJobAge): what the executor plugin's squeue status needs.
        info = slurm_cluster.job_info(job_id)
        assert info["ExitCode"] == "0:0"
        assert info["NodeList"] == slurm_cluster.node
    states = slurm_cluster.squeue_states()
    assert {states[j] for j in jobs.values()} == {"COMPLETED"}


def test_job_steps_find_the_cluster_without_slurm_conf(slurm_cluster, tmp_path):
    # The slurm jobstep plugin calls srun with every SLURM_* variable removed.
    job_id = slurm_cluster.sbatch(
        f"--output={tmp_path / 'step.log'}",
        "--wrap",
        "env -u SLURM_CONF srun -n1 sh -c 'echo step $SLURM_JOB_ID.$SLURM_STEP_ID' > step.txt",
        cwd=tmp_path,
    )
    slurm_cluster.wait_for_state(job_id, {"COMPLETED"}, timeout=30)
    assert (tmp_path / "step.txt").read_text().strip() == f"step {job_id}.0"


def test_scancel_of_a_running_job_shows_cancelled(slurm_cluster, tmp_path):
    job_id = slurm_cluster.sbatch("--wrap", "touch started; sleep 300", cwd=tmp_path)
    slurm_cluster.wait_for_state(job_id, {"RUNNING"}, timeout=30)
    _wait_for_file(tmp_path / "started")
    slurm_cluster.run("scancel", job_id)
    assert slurm_cluster.wait_for_state(job_id, {"CANCELLED"}, timeout=30) == "CANCELLED"
    assert slurm_cluster.squeue_states()[job_id] == "CANCELLED"


def test_stop_leaves_nothing_behind_also_after_an_error():
    require_slurm()
    with pytest.raises(RuntimeError, match="body failed"):  # noqa: SIM117
        with LocalSlurmCluster() as cluster:
            root = cluster.root
            daemons = cluster.our_processes()
            assert len(daemons) >= 3  # munged, slurmctld, slurmd (and their reapers)
            job_id = cluster.sbatch("--wrap", "sleep 300", cwd=root)
            cluster.wait_for_state(job_id, {"RUNNING"}, timeout=30)
            raise RuntimeError("body failed")
    assert not root.exists()
    assert processes_of(root) == []
    for pid in daemons:
        assert not _alive(pid), f"pid {pid} still running"


def test_project_profile_submits_through_the_slurm_plugin(slurm_cluster, tmp_path):
    """profiles/slurm with only partition and account changed drives a real sbatch."""
    (tmp_path / "Snakefile").write_text(
        "localrules: all\n"
        "rule all:\n"
        "    input: 'out/a.txt'\n"
        "rule transfer:\n"
        "    output: 'out/{name}.txt'\n"
        "    threads: 1\n"
        "    shell: 'echo $SLURM_JOB_ID > {output}'\n"
    )
    profile = local_profile(slurm_cluster, REPO / "profiles" / "slurm", tmp_path / "profile")
    run = subprocess.run(
        [
            str(SNAKEMAKE),
            "--profile",
            str(profile),
            "--slurm-init-seconds-before-status-checks",
            "1",
        ],
        cwd=tmp_path,
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (submitted,) = submitted_jobs(run.stderr)
    assert submitted["rule"] == "transfer"
    assert (tmp_path / "out" / "a.txt").read_text().strip() == submitted["slurm_id"]
    info = slurm_cluster.job_info(submitted["slurm_id"])
    assert info["JobState"] == "COMPLETED"
    assert info["Partition"] == slurm_cluster.partition
    assert info["Account"] == "nsttest"
    assert info["TimeLimit"] == "02:00:00"  # runtime: 120 from the profile's set-resources
    assert info["NumCPUs"] == "1"  # cpus_per_task: threads


def _wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Running (a zombie or a vanished pid counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_submitted_jobs_parses_the_slurm_plugin_log():
    log = (
        "Job 2 has been submitted with SLURM jobid 7 "
        "(log: /w/.snakemake/slurm_logs/rule_first/x/7.log).\n"
        "Job 1 has been submitted with SLURM jobid 12 "
        "(log: /w/.snakemake/slurm_logs/rule_transfer/a_b_c/12.log).\n"
    )
    assert submitted_jobs(log) == [
        {
            "job": "2",
            "slurm_id": "7",
            "log": "/w/.snakemake/slurm_logs/rule_first/x/7.log",
            "rule": "first",
        },
        {
            "job": "1",
            "slurm_id": "12",
            "rule": "transfer",
            "log": "/w/.snakemake/slurm_logs/rule_transfer/a_b_c/12.log",
        },
    ]
