"""The package's version (one place: ``nst.__version__`` and every run record read it here)."""

__version__ = "0.1.0"
