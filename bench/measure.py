"""What the memory benches share: a process's own peak memory, and one measurement per process."""

from __future__ import annotations

import json
import subprocess
import sys


def peak_bytes() -> int:
    """This process's peak resident memory: VmHWM, not getrusage's ru_maxrss, which survives
    execve and so holds the parent's peak in a child the bench started."""
    with open("/proc/self/status") as status:
        kib = next(line for line in status if line.startswith("VmHWM:")).split()[1]
    return int(kib) * 1024


def run_child(script: str, payload, failed: dict) -> dict:
    """Run ``script --child JSON(payload)`` in a process of its own (its peak is its own) and
    return the JSON object it prints last, or ``failed`` with the error's last line."""
    done = subprocess.run(
        [sys.executable, script, "--child", json.dumps(payload)], capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["failed (killed?)"]
        return {**failed, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def previous_results(out: str) -> dict:
    """A bench's earlier results (``OUT.json``), so that a partial run (``--only``) keeps the
    parts it did not measure again; empty when there are none."""
    from pathlib import Path

    old = Path(out + ".json")
    return json.loads(old.read_text()) if old.exists() else {}


def save_results(out: str, result: dict, markdown) -> None:
    """``OUT.json`` and ``OUT.md`` (``markdown(result)``), written atomically; the table printed."""
    from nst.atomic import write_json, write_text

    write_json(out + ".json", result)
    text = markdown(result)
    write_text(out + ".md", text)
    print(text)
