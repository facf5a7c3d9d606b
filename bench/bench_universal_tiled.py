"""Any style at any size: ``nst arbitrary`` whole and in tiles (nst/universal/model.py).

    python bench/bench_universal_tiled.py

The shipped decoders (levels 3 2 1, detail 1) with ``brushstrokes`` on the astronaut photo
enlarged, the style at the output's size, each case in a process of its own (its peak is its
own; one timed pass after a warm-up at 256 px that traces the networks):

* 2048 px whole and in 1024 px tiles: seconds, peak, and the difference of the two pictures
  (levels of 255: the order of the float sums in the statistics is all that differs);
* 4096 px with the tile chosen from the memory (``--tile 0``) and with ``--max-memory 6``.

Results go to ``bench/results/universal_tiled.json`` and ``universal_tiled.md``; the outputs to
``build/bench_universal_tiled/``. Run alone (about 12 minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402

PHOTO = ROOT / "resources/images/content/astronaut.jpg"
STYLE = ROOT / "resources/images/style/brushstrokes.png"
OUT = ROOT / "build/bench_universal_tiled"
GIB = 2**30
WHOLE = 10**4  # --max-memory GiB that any image fits: the whole image in one pass
# (side, tile, max_memory GiB or None)
CASES = ((2048, 0, WHOLE), (2048, 1024, None), (4096, 0, None), (4096, 0, 6))


def child(side: int, tile: int, max_memory) -> dict:
    from nst import images
    from nst.universal.model import Universal, UniversalOptions

    net = Universal(model="vgg16-hed")
    content = images.resize(images.load_image(PHOTO), (side, side))
    style = images.load_image(STYLE)
    net.stylize(content, [style], UniversalOptions(size=256))  # traces the networks
    options = UniversalOptions(size=side, tile=tile, max_memory=max_memory)
    t = time.perf_counter()
    out = net.stylize(content, [style], options)
    seconds = time.perf_counter() - t
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{side}_tile{tile}_memory{max_memory}.png"
    images.save_image(out, path)
    return {
        "side": side,
        "tile_asked": tile,
        "max_memory_gib": max_memory,
        "tile": net.last_tile,
        "seconds": round(seconds, 1),
        "peak_gib": round(measure.peak_bytes() / GIB, 2),
        "output": str(path.relative_to(ROOT)),
    }


def difference(a: str, b: str) -> dict:
    from nst import images

    x = images.load_image(ROOT / a).astype(np.float64)
    y = images.load_image(ROOT / b).astype(np.float64)
    d = np.abs(x - y)
    return {"max": int(d.max()), "mean": round(float(d.mean()), 3)}


def markdown(result) -> str:
    lines = [
        f"Machine: {result['machine']}, {os.cpu_count()} CPUs; decoders {result['decoders']}, "
        "levels 3 2 1, detail 1; brushstrokes on the astronaut photo enlarged.",
        "",
        "| output | asked | tile | peak GiB | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        asked = (
            "whole"
            if r.get("max_memory_gib") == WHOLE
            else (f"--tile {r['tile_asked']}" if r["tile_asked"] else "--tile 0")
        )
        if r.get("max_memory_gib") not in (None, WHOLE):
            asked += f" --max-memory {r['max_memory_gib']}"
        if "error" in r:
            lines.append(f"| {r['side']} px | {asked} | failed: {r['error'][:60]} | | |")
            continue
        tile = f"{r['tile']} px" if r["tile"] else "whole"
        lines.append(f"| {r['side']} px | {asked} | {tile} | {r['peak_gib']} | {r['seconds']} |")
    lines.append("")
    ok = {(r["side"], r["tile_asked"], r["max_memory_gib"]): r for r in result["rows"]}
    whole, tiles = ok.get((2048, 0, WHOLE)), ok.get((2048, 1024, None))
    if whole and tiles and "error" not in whole and "error" not in tiles:
        d = result["difference_2048"]
        lines += [
            f"At 2048 px, tiles of {tiles['tile']} px take "
            f"{tiles['seconds'] / whole['seconds']:.2f}x the whole pass's time in "
            f"{tiles['peak_gib'] / whole['peak_gib']:.2f}x its memory; the two pictures differ "
            f"by at most {d['max']} levels of 255, {d['mean']} on average.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(*json.loads(sys.argv[2]))))
        return
    rows = []
    for side, tile, max_memory in CASES:
        failed = {"side": side, "tile_asked": tile, "max_memory_gib": max_memory}
        row = measure.run_child(__file__, [side, tile, max_memory], failed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    by_case = {(r["side"], r["tile_asked"], r["max_memory_gib"]): r for r in rows}
    result = {
        "machine": platform.platform(),
        "decoders": "resources/decoders/vgg16-hed",
        "rows": rows,
    }
    whole, tiles = by_case[(2048, 0, WHOLE)], by_case[(2048, 1024, None)]
    if "error" not in whole and "error" not in tiles:
        result["difference_2048"] = difference(whole["output"], tiles["output"])
    measure.save_results(str(ROOT / "bench/results/universal_tiled"), result, markdown)


if __name__ == "__main__":
    main()
