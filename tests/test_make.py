"""`make test` does all the set-up the suite needs on a fresh machine: it installs the SLURM test
cluster when its binaries are missing (with sudo when not root), saying in one line what and why.

The installation itself is played against stand-ins for sudo, apt-get and friends on a PATH
without the SLURM client tools, so the test changes nothing on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None or not shutil.which("bash"), reason="needs make")
TOOLS = ("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "squeue", "scancel", "scontrol")
STUB = """#!/bin/sh
echo "$(/usr/bin/basename "$0") $*" >> "$STUB_LOG"
"""
# sudo runs nothing; "installing" the packages puts stand-ins for their binaries on the PATH.
SUDO = (
    STUB
    + """case "$*" in *"apt-get install"*)
  for b in {tools} sinfo; do printf '#!/bin/sh\\n' > "$STUB_DIR/$b"; /bin/chmod +x "$STUB_DIR/$b"
  done;;
esac
""".format(tools=" ".join(TOOLS))
)


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=ROOT,
        env=env or os.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_test_installs_slurm_before_the_suite():
    env = {k: v for k, v in os.environ.items() if k != "NST_SLURM_TESTS"}
    steps = make("-n", "test", env=env).stdout.splitlines()
    lint = steps.index(".venv/bin/snakemake --lint --cores 1")
    install = steps.index("bash tests/install_slurm.sh")
    suite = next(i for i, step in enumerate(steps) if step.startswith(".venv/bin/python -m pytest"))
    assert lint < install < suite
    steps = make("-n", "test", "NST_SLURM_TESTS=skip", env=env).stdout.splitlines()
    assert "bash tests/install_slurm.sh" not in steps


@pytest.fixture
def fresh_machine(tmp_path):
    """A PATH with stand-ins for sudo, apt-get, dpkg-query and id (a user who is not root),
    and without the SLURM client tools."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in {
        "sudo": SUDO,
        "apt-get": STUB,
        "dpkg-query": STUB + 'printf "slurmctld 22.05; "\n',
        "id": "#!/bin/sh\necho 1000\n",
    }.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    (stubs / "bash").symlink_to(shutil.which("bash"))
    log = tmp_path / "calls.log"
    log.touch()
    env = {
        "PATH": str(stubs),
        "STUB_LOG": str(log),
        "STUB_DIR": str(stubs),
        "HOME": str(tmp_path),
    }
    return env, log


def test_make_slurm_installs_slurm_with_sudo_when_missing(fresh_machine):
    env, log = fresh_machine
    proc = make("slurm", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "install_slurm: installing slurmctld slurmd slurm-client munge (apt-get via sudo) because "
        "the SLURM tests start a real single-node cluster and "
    )
    assert "sbatch squeue scancel scontrol sinfo are missing" in lines[0]
    assert lines[1] == "install_slurm: installed slurmctld 22.05; "
    calls = log.read_text().splitlines()
    assert "sudo apt-get update -qq" in calls
    install = [c for c in calls if c.startswith("sudo env DEBIAN_FRONTEND=noninteractive apt-get")]
    assert len(install) == 1
    assert install[0].endswith("slurmctld slurmd slurm-client munge")

    proc = make("slurm", env=env)  # now there: nothing to do, and one line saying so
    assert proc.stdout.startswith("install_slurm: SLURM and munge already installed")
    assert len(log.read_text().splitlines()) == len(calls) + 1  # dpkg-query only


def test_make_slurm_is_skipped_with_nst_slurm_tests_skip(fresh_machine):
    env, log = fresh_machine
    proc = make("slurm", "NST_SLURM_TESTS=skip", env=env)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "make: SLURM not checked or installed: NST_SLURM_TESTS=skip skips the SLURM tests"
    ]
    assert log.read_text() == ""
