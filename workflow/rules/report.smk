rule summary:
    input:
        images=lambda wc: run_files(runs(), "image.png"),
        metrics=lambda wc: run_files(runs(), "metrics.json"),
        videos=lambda wc: [
            f"results/video/{v}/{s}/{p}/video.mp4" for v, s, p in video_runs()
        ],
        video_metrics=lambda wc: [
            f"results/video/{v}/{s}/{p}/metrics.json" for v, s, p in video_runs()
        ],
    output:
        report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/report/summary.log",
    conda:
        "../../envs/nst.yaml"
    params:
        runs=lambda wc: runs(),
        labels=LABELS,
        video_runs=lambda wc: video_runs(),
        video_labels=VIDEO_LABELS,
    script:
        "../scripts/summary.py"


rule loss_plot:
    input:
        images=lambda wc: run_files(runs(wc.content, wc.style), "image.png"),
        metrics=lambda wc: run_files(runs(wc.content, wc.style), "metrics.json"),
    output:
        report(
            "results/plots/{content}/{style}.png",
            caption="../report/loss_plot.rst",
            category="Loss curves",
            subcategory="{content}",
        ),
    log:
        "logs/report/plots/{content}/{style}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        runs=lambda wc: runs(wc.content, wc.style),
    script:
        "../scripts/loss_plot.py"


rule sheet_content:
    input:
        **SHEET_INPUTS,
    output:
        report(
            "results/sheets/content/{content}.png",
            caption="../report/sheet_content.rst",
            category="Contact sheets",
            subcategory="Per content",
        ),
    log:
        "logs/report/sheets/content/{content}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        **SHEET_PARAMS,
        kind="content",
    script:
        "../scripts/sheet.py"


rule sheet_style:
    input:
        **SHEET_INPUTS,
    output:
        report(
            "results/sheets/style/{style}.png",
            caption="../report/sheet_style.rst",
            category="Contact sheets",
            subcategory="Per style",
        ),
    log:
        "logs/report/sheets/style/{style}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        **SHEET_PARAMS,
        kind="style",
    script:
        "../scripts/sheet.py"


rule sheet_overview:
    input:
        **SHEET_INPUTS,
    output:
        report(
            "results/sheets/overview.png",
            caption="../report/sheet_overview.rst",
            category="Contact sheets",
            subcategory="Overview",
        ),
    log:
        "logs/report/sheets/overview.log",
    conda:
        "../../envs/nst.yaml"
    params:
        **SHEET_PARAMS,
        kind="overview",
    script:
        "../scripts/sheet.py"


rule tradeoff_plot:
    input:
        images=lambda wc: run_files(runs(), "image.png"),
        metrics=lambda wc: run_files(runs(), "metrics.json"),
    output:
        report(
            "results/plots/tradeoff.png",
            caption="../report/tradeoff.rst",
            category="Summary",
        ),
    log:
        "logs/report/plots/tradeoff.log",
    conda:
        "../../envs/nst.yaml"
    params:
        runs=lambda wc: runs(),
        labels=LABELS,
    script:
        "../scripts/tradeoff.py"


rule sheet_sweep:
    input:
        images=lambda wc: run_files(sweep_runs(wc.content, wc.style), "image.png"),
        metrics=lambda wc: run_files(sweep_runs(wc.content, wc.style), "metrics.json"),
        style="results/prepared/style/{style}.png",
    output:
        report(
            "results/sheets/sweep/{content}/{style}.png",
            caption="../report/sweep_sheet.rst",
            category="Contact sheets",
            subcategory="Sweeps",
        ),
    log:
        "logs/report/sheets/sweep/{content}/{style}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        runs=lambda wc: sweep_runs(wc.content, wc.style),
        axes=SWEEP_AXES,
        points=SWEEP_POINTS,
        thumb=config["sheets"]["thumb"],
    script:
        "../scripts/sweep_sheet.py"
