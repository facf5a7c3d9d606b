"""The experiment's table (one row per run), loss curves (one plot per content x style) and the
trade-off plot (style distance against content structure, one point per run)."""

from __future__ import annotations

import csv
import io
import os
import textwrap
from pathlib import Path

from nst.atomic import atomic_path, write_text
from nst.quality import KEYS as QUALITY_KEYS
from nst.report.sheets import Run

COLUMNS = (
    "content",
    "style",
    "params",
    "method",
    "model",
    "size",
    "iterations",
    "evaluations",
    "stop_reason",
    "loss_total",
    "loss_content",
    "loss_style",
    "loss_tv",
    "content_ssim",
    "style_distance",
    "color_difference",
    "palette_distance",
    "texture_distance",
    "seconds_total",
    "seconds_per_iteration",
    "startup_seconds",
    "warping_error",  # video runs (content = the video): Lai et al.'s E_warp of the output
    "settings",
    "image",
)


def summary_rows(runs: list[Run], labels: dict[str, str]) -> list[dict]:
    rows = []
    for r in runs:
        m = r.metrics
        final = m.get("final_loss", {})
        timings = m.get("timings", {})
        settings = m.get("settings", {})
        rows.append(
            {
                "content": r.content,
                "style": r.style,
                "params": r.params,
                "method": settings.get("method"),
                "model": settings.get("model"),
                "size": settings.get("size"),
                "iterations": m.get("iterations"),
                "evaluations": m.get("evaluations"),
                "stop_reason": m.get("stop_reason"),
                "loss_total": final.get("total"),
                "loss_content": final.get("content"),
                "loss_style": final.get("style"),
                "loss_tv": final.get("tv"),
                **{k: r.quality.get(k) for k in QUALITY_KEYS},
                "seconds_total": timings.get("total_seconds"),
                "seconds_per_iteration": timings.get("seconds_per_iteration"),
                "startup_seconds": timings.get("startup_seconds"),
                "warping_error": (m.get("warping_error") or {}).get("output"),
                "settings": labels.get(r.params, ""),
                "image": str(r.image),
            }
        )
    return rows


def write_summary(runs: list[Run], labels: dict[str, str], path: str | os.PathLike) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(summary_rows(runs, labels))
    write_text(path, buf.getvalue())
    return Path(path)


def plot_losses(runs: list[Run], path: str | os.PathLike, title: str = "") -> Path:
    """Total, content and style loss per iteration, one colour per hyperparameter set."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for i, run in enumerate(sorted(runs, key=lambda r: r.params)):
        history = run.metrics.get("history") or []
        x = [h["iteration"] for h in history]
        final = run.metrics.get("final_loss") or {}
        for ax, term in zip(axes, ("total", "content", "style"), strict=True):
            if history:
                ax.plot(x, [h[term] for h in history], label=run.params, color=f"C{i}")
            elif term in final:  # a fast network's output: one value, no iterations
                ax.axhline(final[term], label=run.params, color=f"C{i}", linestyle="--")
    return _finish_loss_panels(plt, fig, axes, "iteration", title, path)


def plot_training(curves: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """Total, content and style loss per training step of each style's fast network."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for i, (style, history) in enumerate(curves.items()):
        steps = [h["step"] for h in history]
        for ax, term in zip(axes, ("total", "content", "style"), strict=True):
            values = [h[term] for h in history]
            ax.plot(steps, values, color=f"C{i}", alpha=0.25, linewidth=0.8)
            ax.plot(steps, _running_mean(values, 25), color=f"C{i}", label=style)
    title = "Training of the fast networks, one per style (faint: each step; bold: 25-step mean)"
    return _finish_loss_panels(plt, fig, axes, "training step", title, path)


def _finish_loss_panels(plt, fig, axes, xlabel: str, title: str, path) -> Path:
    """Titles, log scale and legend of the three loss panels; the figure written atomically."""
    for ax, term in zip(axes, ("total", "content", "style"), strict=True):
        ax.set_title(f"{term} loss")
        ax.set_xlabel(xlabel)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _running_mean(values: list[float], n: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= n:
            total -= values[i - n]
        out.append(total / min(i + 1, n))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style_distance(quality: dict) -> float | None:
    return quality.get("style_distance")


def judged_style(quality: dict) -> float | None:
    """The independent judge's style figure: the mean of the palette and texture distances."""
    parts = [quality.get("palette_distance"), quality.get("texture_distance")]
    return None if any(v is None for v in parts) else sum(parts) / 2


def plot_tradeoff(runs: list[Run], labels: dict[str, str], path: str | os.PathLike) -> Path:
    """Style distance against content SSIM, one point per run, one colour per set; each point
    is labelled with its content and style, the legend with the set and what distinguishes it.
    Two panels: the loss network's style distance, and the independent judge's (palette and
    texture, :func:`judged_style`), which no loss term sees.

    Up and left is the content kept, down and right the style taken: sets on the lower right
    of the others reach more style for the same content structure.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 6), constrained_layout=True, sharex=True)
    figures = (
        ("style distance in the loss network (Gram; 1 = no style moved in)", _style_distance),
        ("judged style distance: palette and texture (1 = no style moved in)", judged_style),
    )
    sets = list(dict.fromkeys(r.params for r in runs))
    for ax, (ylabel, figure) in zip(axes, figures, strict=True):
        for i, name in enumerate(sets):
            points = [
                (r, figure(r.quality))
                for r in runs
                if r.params == name and r.quality and figure(r.quality) is not None
            ]
            label = f"{name}: {labels[name]}" if labels.get(name) else name
            ax.scatter(
                [r.quality["content_ssim"] for r, _y in points],
                [y for _r, y in points],
                color=f"C{i % 10}",
                marker="os^Dv<>p*h"[i // 10 % 10],
                label=textwrap.fill(label, 60),
                s=36,
            )
            for r, y in points:
                ax.annotate(
                    f"{r.content}×{r.style}",
                    (r.quality["content_ssim"], y),
                    textcoords="offset points",
                    xytext=(4, 3),
                    fontsize=6,
                    color=f"C{i % 10}",
                )
        ax.set_xlabel("content structure (SSIM against the content; 1 = unchanged)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Trade-off: style taken against content kept, one point per run")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
