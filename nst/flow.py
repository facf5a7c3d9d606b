"""Moved to :mod:`nst.video.flow`; this name goes in the next release."""

from nst.lazy import moved_module
from nst.video.flow import *  # noqa: F403

moved_module("nst.flow", "nst.video.flow")
