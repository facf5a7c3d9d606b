"""One GPU per running job on a workstation.

Snakemake counts ``--resources gpu=N`` but does not say *which* GPU a local job may use. Each
job that wants a GPU takes a slot: it holds an exclusive ``fcntl`` lock on ``slot-K.lock`` in a
shared folder and runs with ``CUDA_VISIBLE_DEVICES=K``. The operating system drops the lock when
the process ends, however it ends, so a killed job never leaves a slot taken. A job that asks for
no GPU gets ``CUDA_VISIBLE_DEVICES=""``, so TensorFlow leaves the GPUs alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from nst.errors import NSTError


@contextlib.contextmanager
def gpu_slot(
    gpus: int,
    lock_dir: str | os.PathLike,
    *,
    wanted: int = 1,
    timeout: float = 3600.0,
    poll: float = 0.5,
    env: dict | None = None,
) -> Iterator[int | None]:
    """Hold a free GPU slot (0..gpus-1) and set ``CUDA_VISIBLE_DEVICES`` in ``env`` for it.

    Yields the slot number, or ``None`` when ``wanted`` is 0 (GPUs hidden). ``env`` defaults to
    ``os.environ``; the previous value is restored on exit.
    """
    env = os.environ if env is None else env
    previous = env.get("CUDA_VISIBLE_DEVICES")
    if wanted == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
        try:
            yield None
        finally:
            _restore(env, previous)
        return
    if gpus < 1:
        raise NSTError(
            "this job asks for a GPU but the config lists none; set gpus in the config or run "
            "it with gpu: 0."
        )
    folder = Path(lock_dir)
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for slot in range(gpus):
            fd = os.open(folder / f"slot-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            env["CUDA_VISIBLE_DEVICES"] = str(slot)
            try:
                yield slot
            finally:
                _restore(env, previous)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() > deadline:
            raise NSTError(
                f"no free GPU slot among {gpus} in {folder} after {timeout:.0f} s; run fewer "
                "GPU jobs at once (--resources gpu=N) or raise gpus in the config."
            )
        time.sleep(poll)


def _restore(env, previous):
    if previous is None:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        env["CUDA_VISIBLE_DEVICES"] = previous
