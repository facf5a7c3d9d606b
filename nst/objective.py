"""Moved to :mod:`nst.loss.objective`; this name goes in the next release."""

from nst.lazy import moved_module
from nst.loss.objective import *  # noqa: F403

moved_module("nst.objective", "nst.loss.objective")
