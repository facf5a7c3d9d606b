"""The ``nst`` command: one module per command group, the shared options in :mod:`.options`."""

from nst.cli.main import main

__all__ = ["main"]
