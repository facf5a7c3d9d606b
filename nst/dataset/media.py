"""What the files of a role are: images (``content``, ``style``) or clips (``video``).

The :class:`Media` of a role says how its bytes are checked (fully decoded: :func:`inspect_image`
or :func:`nst.video.clips.inspect_video`, both returning an :class:`ImageInfo`), which files of
a ``path`` directory are taken, and what a download asks the server for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from nst.dataset.fetcher import IMAGE_ACCEPT
from nst.dataset.names import IMAGE_SUFFIXES
from nst.dataset.sources import VIDEO_ROLE
from nst.images.inspect import ImageInfo, inspect_image
from nst.video.clips import VIDEO_SUFFIXES, inspect_video

VIDEO_ACCEPT = "video/*,image/gif;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class Media:
    """How the files of one role are checked, listed and asked for."""

    inspect: Callable[..., ImageInfo]
    suffixes: Collection[str]
    accept: str


IMAGES = Media(inspect_image, IMAGE_SUFFIXES, IMAGE_ACCEPT)
VIDEOS = Media(inspect_video, VIDEO_SUFFIXES, VIDEO_ACCEPT)


def media_of(role: str) -> Media:
    return VIDEOS if role == VIDEO_ROLE else IMAGES
