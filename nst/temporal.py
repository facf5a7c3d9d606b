"""Moved to :mod:`nst.video.temporal`; this name goes in the next release."""

from nst.lazy import moved_module
from nst.video.temporal import *  # noqa: F403

moved_module("nst.temporal", "nst.video.temporal")
