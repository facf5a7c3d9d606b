"""A throw-away single-node SLURM cluster on 127.0.0.1 for the cluster-submission tests.

``LocalSlurmCluster`` starts munged, slurmctld and slurmd as child processes of the test run, each
with its own socket, ports, state, spool, pid and log files inside one temporary directory, and a
generated ``slurm.conf`` (one node with this machine's CPUs and memory, one default partition,
accounting off, a long ``MinJobAge`` so that ``squeue``/``scontrol`` still know finished jobs).
Nothing outside the temporary directory is read or written, so several clusters (parallel test
runs) can live side by side and a packaged SLURM/munge installation is left alone.

Clients (sbatch, squeue, snakemake with the slurm executor plugin) find the cluster through
``SLURM_CONF``: pass ``cluster.env`` to every subprocess. On exit, also after a failure, the jobs
are cancelled, the daemons stopped by pid, leftovers of our jobs killed and the directory removed.

Usage::

    with LocalSlurmCluster() as cluster:
        job_id = cluster.sbatch("--wrap", "hostname")
        cluster.wait_for_state(job_id, {"COMPLETED"})

or in a test module ``slurm_cluster = slurm_cluster_fixture()``. The packages come from
``tests/install_slurm.sh``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

INSTALL_HINT = (
    "run `sudo tests/install_slurm.sh` (Debian/Ubuntu: slurmctld slurmd slurm-client munge)"
)
REQUIRED_BINARIES = (
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scancel",
    "scontrol",
    "sinfo",
)
CLIENT_COMMANDS = ("srun", "sbatch", "squeue", "scancel", "scontrol", "sinfo", "sacct", "salloc")
# The daemons live in sbin, which is not on every user's PATH.
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
FINISHED_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)


class SlurmUnavailable(RuntimeError):
    """The SLURM or munge programs are missing or the cluster cannot run here."""


def _search_path(base: str | None = None) -> str:
    parts = (base if base is not None else os.environ.get("PATH", "")).split(os.pathsep)
    return os.pathsep.join(parts + [d for d in SBIN_DIRS if d not in parts])


def missing_binaries() -> list[str]:
    """The programs the cluster needs that are not installed."""
    path = _search_path()
    return [name for name in REQUIRED_BINARIES if shutil.which(name, path=path) is None]


def check_installed() -> None:
    missing = missing_binaries()
    if missing:
        raise SlurmUnavailable(
            f"SLURM test cluster: {', '.join(missing)} not found; {INSTALL_HINT}."
        )
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "SLURM test cluster: slurmd must run as root to start jobs; run the tests as root "
            "(as CI does)."
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmUnavailable("SLURM test cluster: no MemTotal in /proc/meminfo")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path.name}: not written)"
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


class LocalSlurmCluster:
    """One-node SLURM cluster in a temporary directory; a context manager.

    Attributes after ``start()``: ``root`` (the temporary directory), ``conf`` (slurm.conf),
    ``env`` (environment for client subprocesses), ``partition``, ``node``, ``cpus``,
    ``memory_mb``.
    """

    def __init__(
        self,
        *,
        cpus: int | None = None,
        memory_mb: int | None = None,
        partition: str = "debug",
        node: str = "nstnode",
        min_job_age: int = 3600,
        start_timeout: float = 60.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.cpus = cpus or os.cpu_count() or 1
        # Leave headroom for the OS and the test run itself; slurmd rejects a node that claims
        # more memory than it has.
        total = machine_memory_mb()
        self.memory_mb = memory_mb or max(256, total - max(512, total // 10))
        self.partition = partition
        self.node = node
        self.cluster_name = "nsttest"
        self.min_job_age = min_job_age
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.root: Path | None = None
        self.conf: Path | None = None
        self.env: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> LocalSlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        check_installed()
        self.root = Path(tempfile.mkdtemp(prefix="nst-slurm-", dir=self.base_dir))
        atexit.register(self.stop)  # a forgotten stop() still runs when the interpreter exits
        try:
            for sub in ("munge", "state", "spool", "log", "run"):
                (self.root / sub).mkdir(mode=0o700)
            self.env = self._client_env()
            self._start_munge()
            self.conf = self.root / "slurm.conf"
            self.conf.write_text(self._slurm_conf())
            self.env["SLURM_CONF"] = str(self.conf)
            self._write_client_shims()
            self._start_daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._wait_for(self._controller_up, "slurmctld to answer")
            self._start_daemon("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
            self._wait_for(self._node_idle, f"node {self.node} to become idle")
        except BaseException:
            self.stop()
            raise

    def _client_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            # A surrounding allocation or user defaults would leak into our jobs.
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "SALLOC_"))
        }
        env["PATH"] = _search_path(env.get("PATH"))
        # Marks every process started for this cluster (daemons and, through sbatch
        # --export=ALL, the jobs), so that stop() can find leftovers by pid.
        env["NST_SLURM_CLUSTER"] = str(self.root)
        return env

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        self.munge_key = munge / "munge.key"
        self.munge_socket = munge / "munge.socket"
        # 1 KiB of random bytes is a valid key (what `mungekey -c` would write).
        self.munge_key.write_bytes(os.urandom(1024))
        self.munge_key.chmod(0o400)
        self._start_daemon(
            "munged",
            [
                "munged",
                "--foreground",
                # Our directories are 0700 (munged wants the socket directory world-searchable
                # for non-root clients; ours are all root).
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={self.munge_key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--seed-file={munge / 'munged.seed'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
            ],
        )
        self._wait_for(self.munge_socket.exists, "munged to open its socket")

    def _slurm_conf(self) -> str:
        root = self.root
        ctld_port, slurmd_port = _free_port(), _free_port()
        while slurmd_port == ctld_port:
            slurmd_port = _free_port()
        self.ports = (ctld_port, slurmd_port)
        mem_per_cpu = max(1, self.memory_mb // self.cpus)
        return f"""\
# Generated by tests/slurm_cluster.py for one test run; removed with it.
ClusterName={self.cluster_name}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "run" / "slurmctld.pid"}
SlurmdPidFile={root / "run" / "slurmd.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no accounting daemon: nothing outside this directory is needed.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU={mem_per_cpu}
# Finished jobs stay visible to squeue/scontrol (the status source without accounting).
MinJobAge={self.min_job_age}
ReturnToService=2
JobRequeue=1
# sbatch rejects what can never run here (more CPUs than the node) instead of pending forever.
EnforcePartLimits=ALL
KillWait=5
InactiveLimit=0
SlurmdTimeout=300
# Take the node as configured instead of draining it over detected-topology differences.
SlurmdParameters=config_overrides
NodeName={self.node} NodeAddr=127.0.0.1 NodeHostname=127.0.0.1 Port={slurmd_port} \
CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""

    def _write_client_shims(self) -> None:
        """Client commands that find slurm.conf without SLURM_CONF.

        Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6) drops every SLURM_* variable
        but the job id before it calls ``srun``, so srun would look for /etc/slurm/slurm.conf and
        then DNS. A real site has that file; we must not write it, so ``bin/`` (first on the
        jobs' PATH via sbatch --export=ALL) holds wrappers that put SLURM_CONF back.
        """
        shim_dir = self.root / "bin"
        shim_dir.mkdir()
        for name in CLIENT_COMMANDS:
            real = shutil.which(name, path=_search_path())
            if real is None:
                continue
            shim = shim_dir / name
            shim.write_text(
                "#!/bin/sh\n"
                f': "${{SLURM_CONF:={self.conf}}}"\n'
                "export SLURM_CONF\n"
                f'exec {real} "$@"\n'
            )
            shim.chmod(0o755)
        self.env["PATH"] = os.pathsep.join([str(shim_dir), self.env["PATH"]])

    def _start_daemon(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 (closed in stop)
        self._logs.append(log)
        # slurmd double-forks slurmstepd for every job; under the reaper those orphans become
        # its children instead of init's, so they are reaped and killed with it (see _reap).
        self._procs[name] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--reap", str(os.getpid()), *argv],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            # Own session: a Ctrl-C in the terminal reaches pytest, which then stops us in order.
            start_new_session=True,
        )

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise SlurmUnavailable(
                        f"SLURM test cluster: {name} exited with status {proc.returncode} "
                        f"while waiting for {what}.\n{self.diagnostics()}"
                    )
            if ready():
                return
            time.sleep(0.2)
        raise SlurmUnavailable(
            f"SLURM test cluster: timed out after {self.start_timeout:.0f} s waiting for "
            f"{what}.\n{self.diagnostics()}"
        )

    def _controller_up(self) -> bool:
        return self.run("scontrol", "ping", check=False).returncode == 0

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False).stdout
        return any(line.split() == [self.node, "idle"] for line in out.splitlines())

    def diagnostics(self) -> str:
        if self.root is None:
            return ""
        names = ("munged.log", "slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")
        return "\n".join(_tail(self.root / "log" / n) for n in names)

    # -- clients ----------------------------------------------------------------------------
    def run(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        proc = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def sbatch(self, *args: str, cwd: str | os.PathLike[str] | None = None) -> str:
        """Submit a batch job; returns its job id."""
        argv = ["sbatch", "--parsable", *args]
        if cwd is not None:
            argv.insert(2, f"--chdir={cwd}")
        out = self.run(*argv).stdout.strip()
        job_id = out.split(";")[0]
        if not job_id.isdigit():
            raise RuntimeError(f"sbatch printed no job id: {out!r}")
        return job_id

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, ExitCode, StdOut, ...)."""
        out = self.run("scontrol", "show", "job", "-o", job_id).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def job_state(self, job_id: str) -> str:
        return self.job_info(job_id).get("JobState", "")

    def squeue_states(self) -> dict[str, str]:
        """Every job slurmctld still knows (finished ones until MinJobAge): id -> state."""
        out = self.run("squeue", "--states=all", "--noheader", "--format=%i|%T").stdout
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)

    def wait_for_state(self, job_id: str, states: Iterable[str], timeout: float = 60.0) -> str:
        wanted = set(states)
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in wanted:
                return state
            if state in FINISHED_STATES:
                break
            time.sleep(0.2)
        raise AssertionError(
            f"job {job_id} is {state or 'unknown'}, expected one of {sorted(wanted)}\n"
            f"{self.diagnostics()}"
        )

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel jobs, stop the daemons by pid, remove the directory. Safe to call twice."""
        if self.root is None:
            return
        try:
            if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
                self._cancel_all_jobs()
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self._procs.pop(name, None)
                if proc is not None:
                    _terminate(proc)
            self._kill_leftovers()
        finally:
            for log in self._logs:
                log.close()
            self._logs.clear()
            self._procs.clear()
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            atexit.unregister(self.stop)

    def _cancel_all_jobs(self) -> None:
        try:
            states = self.squeue_states()
        except (subprocess.SubprocessError, OSError):
            return
        active = [j for j, s in states.items() if s not in FINISHED_STATES]
        if not active:
            return
        self.run("scancel", *active, check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                states = self.squeue_states()
            except (subprocess.SubprocessError, OSError):
                return
            if all(states.get(j, "CANCELLED") in FINISHED_STATES for j in active):
                return
            time.sleep(0.2)

    def our_processes(self) -> list[int]:
        """Pids of live processes started for this cluster (found by the marker variable)."""
        return [] if self.root is None else processes_of(self.root)

    def _kill_leftovers(self) -> None:
        # slurmstepd and job processes are daemonised by slurmd, so they are not our children;
        # they carry our marker in their environment.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.our_processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.our_processes():
                time.sleep(0.1)


def _terminate(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def processes_of(root: str | os.PathLike[str]) -> list[int]:
    """Pids of live processes of the cluster that lived in ``root`` (also after it stopped)."""
    return _pids_with_env("NST_SLURM_CLUSTER", str(root))


def _pids_with_env(name: str, value: str) -> list[int]:
    needle = f"{name}={value}".encode() + b"\0"
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes() + b"\0"
        except OSError:  # gone, or a kernel thread
            continue
        if b"\0" + needle in b"\0" + environ:
            pids.append(int(entry.name))
    return pids


def slurm_cluster_fixture(scope: str = "module", **cluster_options):
    """A pytest fixture that yields a running ``LocalSlurmCluster``.

    ``slurm_cluster = slurm_cluster_fixture()`` in a test module (or conftest.py) gives tests a
    ``slurm_cluster`` argument. Missing packages fail the tests with the install hint; set
    ``NST_SLURM_TESTS=skip`` to skip them instead on a machine without SLURM.
    """
    import pytest

    @pytest.fixture(scope=scope)
    def slurm_cluster() -> Iterator[LocalSlurmCluster]:
        require_slurm()
        with LocalSlurmCluster(**cluster_options) as cluster:
            yield cluster

    return slurm_cluster


def require_slurm() -> None:
    """In a test: fail with the install hint when SLURM is missing (skip instead with
    ``NST_SLURM_TESTS=skip``)."""
    import pytest

    try:
        check_installed()
    except SlurmUnavailable as err:
        if os.environ.get("NST_SLURM_TESTS") == "skip":
            pytest.skip(str(err))
        pytest.fail(str(err), pytrace=False)


def env_with(cluster: LocalSlurmCluster, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The cluster's client environment plus ``extra`` (for snakemake subprocesses)."""
    env = dict(cluster.env)
    env.update(extra or {})
    return env


def local_profile(
    cluster: LocalSlurmCluster,
    profile: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    account: str | None = "nsttest",
) -> Path:
    """Copy the Snakemake profile ``profile`` to ``dest`` with only what this cluster needs
    changed: ``slurm_partition`` (and ``slurm_account``) in ``default-resources``.

    The copy is needed because ``--default-resources`` on the command line replaces the
    profile's whole list (runtime, mem_mb, ... would be lost). Without accounting, any account
    name is accepted. Returns ``dest`` for ``snakemake --profile``.
    """
    import yaml

    src, dest = Path(profile), Path(dest)
    shutil.copytree(src, dest, dirs_exist_ok=True)
    config = yaml.safe_load((src / "config.yaml").read_text())
    resources = config.setdefault("default-resources", {}) or {}
    resources["slurm_partition"] = cluster.partition
    if account:
        resources["slurm_account"] = account
    else:
        resources.pop("slurm_account", None)
    config["default-resources"] = resources
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


SUBMITTED = re.compile(
    r"Job (?P<job>\d+) has been submitted with SLURM jobid (?P<slurm_id>\d+) "
    r"\(log: (?P<log>.*?/slurm_logs/(?:rule|group)_(?P<rule>[^/]+)/[^)]*)\)\."
)


def submitted_jobs(snakemake_log: str) -> list[dict[str, str]]:
    """What snakemake-executor-plugin-slurm logged for each sbatch: Snakemake job id, SLURM job
    id, rule and SLURM log path, in submission order (a retried job appears once per attempt)."""
    return [m.groupdict() for m in SUBMITTED.finditer(snakemake_log)]


# -- the reaper: a tiny supervisor around each daemon -----------------------------------------
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry.name))
    return kids


def _reap(parent: int, argv: list[str]) -> int:
    """Run ``argv`` as a child subreaper: forward SIGTERM/SIGINT to it, reap every orphan that
    is reparented to us, and when the daemon has exited kill what is left of its descendants.
    Should the test process (``parent``) die without stopping the cluster, we get SIGTERM too."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("reaper: prctl(PR_SET_CHILD_SUBREAPER) failed", file=sys.stderr)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    daemon = os.fork()
    if daemon == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        if pid == daemon:
            status = os.waitstatus_to_exitcode(raw)
            break
    # The daemon is gone; whatever it left (slurmstepd, job processes) is ours to end. Orphans
    # keep arriving as their parents die, so signal every child until none is left.
    termed: set[int] = set()
    kill_after = time.monotonic() + 3
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            break  # no children left at all
        late = time.monotonic() > kill_after
        for pid in _children(os.getpid()):
            if late or pid not in termed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
                termed.add(pid)
        time.sleep(0.05)
    return status


if __name__ == "__main__" and sys.argv[1:2] == ["--reap"]:
    sys.exit(_reap(int(sys.argv[2]), sys.argv[3:]))
