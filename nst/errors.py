"""Errors a user can cause: each carries one sentence that names the thing and the way out."""


class NSTError(Exception):
    """A problem with the user's input or environment (exit status 2 on the command line)."""


class ImageError(NSTError):
    """An image (or mask) file is missing, unreadable, corrupt or unusable."""


class SettingsError(NSTError):
    """A setting is out of range, unknown, or inconsistent with another."""


class WeightsError(NSTError):
    """Network weights could not be found, downloaded or loaded."""


class DownloadError(NSTError):
    """A source URL could not be fetched or did not hold a usable image."""


def clause(text) -> str:
    """An error message without its final full stop, to quote inside another sentence."""
    return str(text).rstrip().rstrip(".")
