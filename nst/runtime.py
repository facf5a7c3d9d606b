"""The process around a run: TensorFlow's import and configuration (threads, determinism,
precision), Keras dtype policies, the versions and environment a record names, the one
logger every long job writes its progress lines with, and the progress bar a long job shows on a
terminal (:func:`progress`).

Nothing here imports TensorFlow at module import time: ``import nst.runtime`` stays cheap, and
:func:`import_tensorflow` is the one place that pays for it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time

from nst.version import __version__

# Keras 3 imports pandas and matplotlib.pyplot at import time whenever they are installed (for
# DataFrame inputs to fit() and image galleries); style transfer uses neither, and they cost
# about 0.6 s of every job's start-up (bench/bench_performance.py --only startup).
KERAS_OPTIONAL_IMPORTS = ("pandas", "matplotlib")

# what this process has done so far: TensorFlow configured, its import's cost, a transfer run
STATE: dict = {"configured": False, "import_seconds": None, "transfer_started": False}


# the tqdm bar on stderr now, if any (:func:`progress`): one at a time
_BAR: dict = {"shown": None}


GIB = 2**30
AVAILABLE_SHARE = 0.8  # of the memory available when a run starts, without --max-memory


def available_bytes() -> int:
    """The memory the machine has available now (MemAvailable; the physical memory where that
    cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def log(msg: str) -> None:
    """Progress and notices of a long job: one line on stderr, at once (logs and terminals).

    While a progress bar is shown (:func:`progress`) the line is written above it, unchanged,
    and the bar drawn again below it."""
    if _BAR["shown"] is not None:
        _BAR["shown"].write(msg, file=sys.stderr)
        sys.stderr.flush()
        return
    print(msg, file=sys.stderr, flush=True)


def progress_enabled() -> bool:
    """Whether :func:`progress` draws bars: stderr is a terminal and ``NST_PROGRESS`` is not
    ``0`` (logs, pipes and the workflow's jobs get the plain lines only)."""
    if os.environ.get("NST_PROGRESS", "1").strip() in ("0", "false", "no", "off"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class Progress:
    """A long job's progress bar: a tqdm bar with rate and ETA on stderr, or nothing.

    ``update(n, **postfix)`` advances it (postfix: figures shown after the rate, such as the
    loss), ``close()`` ends it; also a context manager. The jobs' plain progress lines are not
    its business: they are printed as before, above the bar while there is one (see
    :func:`log`). Without a bar every method does nothing.
    """

    def __init__(self, bar=None):
        self._bar = bar

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1, **postfix) -> None:
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)

    def shorten(self, n: int) -> None:
        """``n`` of the planned steps will not run (a stage that stopped early): the total and
        the ETA leave them out."""
        if self._bar is not None and n > 0:
            self._bar.total = max(self._bar.n, self._bar.total - n)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.close()
            if _BAR["shown"] is bar:
                _BAR["shown"] = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int, desc: str, unit: str = "it", initial: int = 0) -> Progress:
    """A progress bar over ``total`` steps (``initial`` of them done before: a resumed job) on
    stderr, when it is a terminal (:func:`progress_enabled`), there are two steps or more, and no
    other bar is shown: a job inside another (the video's frames, each a transfer) leaves the
    outer one alone. Otherwise a :class:`Progress` that does nothing."""
    if total - initial < 2 or _BAR["shown"] is not None or not progress_enabled():
        return Progress()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - a dependency; the plain lines suffice without it
        return Progress()
    try:  # a terminal that tells no width (a bare pseudo-terminal) would get no bar at all
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError, AttributeError):
        sized = False
    bar = tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=sized,  # follows the window's width
        ncols=None if sized else 80,
        nrows=None if sized else 24,
        leave=True,
    )
    _BAR["shown"] = bar
    return Progress(bar)


def clock(seconds: float) -> str:
    """``MM:SS`` or ``H:MM:SS`` of a duration (ETAs and elapsed times)."""
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def library_versions() -> dict:
    import keras
    import numpy as np
    import PIL
    import scipy
    import tensorflow as tf

    return {
        "nst": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def job_environment() -> dict:
    """Where the job ran: the scheduler's job id and the GPU slot, when there are any."""
    keys = ("SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "CUDA_VISIBLE_DEVICES", "HOSTNAME")
    env = {k.lower(): os.environ[k] for k in keys if os.environ.get(k)}
    env["hostname"] = platform.node()
    return env


def versions() -> dict:
    """The ``versions`` entry of every run record: libraries, devices and where the job ran."""
    return {**library_versions(), "environment": job_environment()}


def process_start_time() -> float:
    """Wall-clock time at which this process started (for the start-up cost in the record).

    On Linux it is read as the process's age: start time and uptime are both counted from boot
    to 10 ms. psutil adds the boot time, which the kernel gives in whole seconds, so its answer
    is off by a constant of up to a second (0.7 s on the benchmark machine).
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - started)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # pragma: no cover - psutil ships with snakemake, but be safe
        return time.time()


def import_tensorflow(lean: bool = False) -> float:
    """Import TensorFlow and Keras once; returns the seconds this call spent importing.

    With ``lean`` the modules in :data:`KERAS_OPTIONAL_IMPORTS` are hidden from Keras while it
    imports (they stay importable afterwards; Keras just will not take DataFrames in ``fit``).
    The CLI and the workflow's jobs ask for it because they own their process; the library
    leaves a caller's interpreter alone. ``NST_LEAN_IMPORTS=0`` turns it off.
    """
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return 0.0
    hidden = []
    if lean and os.environ.get("NST_LEAN_IMPORTS", "1") != "0":
        hidden = [name for name in KERAS_OPTIONAL_IMPORTS if name not in sys.modules]
    start = time.perf_counter()
    for name in hidden:
        sys.modules[name] = None  # makes `import name` raise ImportError
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    seconds = time.perf_counter() - start
    STATE["import_seconds"] = seconds
    return seconds


def configure_runtime(settings) -> None:
    """Threads, determinism and numeric precision of a :class:`~nst.settings.TransferSettings`;
    TensorFlow only takes some of this once."""
    import_tensorflow()
    import keras
    import tensorflow as tf

    if not STATE["configured"]:
        if settings.threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(settings.threads)
                tf.config.threading.set_inter_op_parallelism_threads(min(2, settings.threads))
            except RuntimeError:
                log("nst: TensorFlow is already running; --threads is ignored.")
        tf.config.experimental.enable_op_determinism()
        STATE["configured"] = True
    keras.utils.set_random_seed(settings.seed)
    policy = {"float32": "float32", "bfloat16": "bfloat16"}.get(
        settings.precision, settings.precision
    )
    keras.mixed_precision.set_global_policy(policy)


@contextlib.contextmanager
def keras_policy(name: str):
    """Layers built inside compute under dtype policy ``name``; the global one is put back."""
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)
