"""GPU slots: each running GPU job gets its own CUDA_VISIBLE_DEVICES, released however it ends."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from nst.errors import NSTError
from nst.experiment.gpu import gpu_slot


def _hold(lock_dir, gpus, hold, queue):
    env = {}
    with gpu_slot(gpus, lock_dir, env=env, poll=0.05, timeout=30) as slot:
        queue.put((os.getpid(), slot, env["CUDA_VISIBLE_DEVICES"], time.monotonic()))
        time.sleep(hold)
    queue.put((os.getpid(), "released", None, time.monotonic()))


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(tmp_path, 2, 1.0, q)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=20) for _ in range(4)]
    for p in procs:
        p.join(20)
    held = [g for g in got if g[1] != "released"]
    assert sorted(g[1] for g in held) == [0, 1]
    assert sorted(g[2] for g in held) == ["0", "1"]


def test_a_third_job_waits_for_a_free_gpu(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    first = [ctx.Process(target=_hold, args=(tmp_path, 2, 1.5, q)) for _ in range(2)]
    for p in first:
        p.start()
    starts = [q.get(timeout=20) for _ in range(2)]
    late = ctx.Process(target=_hold, args=(tmp_path, 2, 0.1, q))
    late.start()
    events = [q.get(timeout=20) for _ in range(4)]
    for p in [*first, late]:
        p.join(20)
    late_start = next(e for e in events if e[0] == late.pid and e[1] != "released")
    first_release = min(e[3] for e in events if e[1] == "released" and e[0] != late.pid)
    assert late_start[3] >= first_release  # it only started once a slot came free
    assert late_start[1] in (0, 1) and max(s[3] for s in starts) < late_start[3]


def test_a_killed_job_frees_its_gpu(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    victim = ctx.Process(target=_hold, args=(tmp_path, 1, 60, q))
    victim.start()
    assert q.get(timeout=20)[1] == 0
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    env = {}
    with gpu_slot(1, tmp_path, env=env, timeout=5, poll=0.05) as slot:
        assert slot == 0 and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in env  # restored on exit


def test_cpu_jobs_hide_the_gpus_and_gpu_jobs_need_gpus(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3"}
    with gpu_slot(2, tmp_path, wanted=0, env=env) as slot:
        assert slot is None and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    with pytest.raises(NSTError, match="lists none"), gpu_slot(0, tmp_path, env={}):
        pass


def test_no_free_slot_times_out_with_a_clear_error(tmp_path):
    with (
        gpu_slot(1, tmp_path, env={}),
        pytest.raises(NSTError, match="no free GPU slot"),
        gpu_slot(1, tmp_path, env={}, timeout=0.2, poll=0.05),
    ):
        pass
