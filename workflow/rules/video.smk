# the video chain holds the run's longest job: it starts first and the image cells fill in
# beside it (run at the end, it alone made the last minutes of the default experiment)
rule prepare_video:
    input:
        fetched_video,
    output:
        "results/prepared/video/{video}.npz",
    log:
        "logs/prepare/video/{video}.log",
    priority: 10
    conda:
        "../../envs/nst.yaml"
    params:
        prepare=VIDEO["prepare"],
        failure=video_failure,
    script:
        "../scripts/video_prepare.py"


rule video_flow:
    input:
        "results/prepared/video/{video}.npz",
    output:
        "results/video/{video}/flow.npz",
    log:
        "logs/video/{video}/flow.log",
    benchmark:
        "benchmarks/video/{video}/flow.tsv"
    priority: 10
    conda:
        "../../envs/nst.yaml"
    params:
        steps=VIDEO_STEPS,
    script:
        "../scripts/video_flow.py"


rule video_transfer:
    input:
        clip="results/prepared/video/{video}.npz",
        flows="results/video/{video}/flow.npz",
        style="results/prepared/style/{style}.png",
        decoders=video_warm_start_decoders,  # init: arbitrary starts from the decoders' result
        network=video_network,  # feed_forward: the style's fast network or the decoders
    output:
        frames="results/video/{video}/{style}/{vset}/frames.npz",
        metrics="results/video/{video}/{style}/{vset}/metrics.json",
    log:
        "logs/video/{video}/{style}/{vset}.log",
    benchmark:
        "benchmarks/video/{video}/{style}/{vset}.tsv"
    priority: 10
    conda:
        "../../envs/nst.yaml"
    threads: TRANSFER["threads"]
    resources:
        mem_mb=JOB_MEM_MB,
        runtime=TRANSFER["runtime"],
        gpu=TRANSFER["gpu"],
    params:
        video_set=video_set,
    script:
        "../scripts/video_transfer.py"


rule video_encode:
    input:
        "results/video/{video}/{style}/{vset}/frames.npz",
    output:
        video="results/video/{video}/{style}/{vset}/video.mp4",
        preview=report(
            "results/video/{video}/{style}/{vset}/preview.gif",
            caption="../report/video_preview.rst",
            category="Videos",
            subcategory="{video}",
            labels={"video": "{video}", "style": "{style}", "set": "{vset}"},
        ),
    log:
        "logs/video/{video}/{style}/{vset}.encode.log",
    conda:
        "../../envs/nst.yaml"
    script:
        "../scripts/video_encode.py"


rule video_sheet:
    input:
        clip="results/prepared/video/{video}.npz",
        frames=lambda wc: video_files(wc.video, "frames.npz"),
        metrics=lambda wc: video_files(wc.video, "metrics.json"),
    output:
        report(
            "results/sheets/video/{video}.png",
            caption="../report/video_sheet.rst",
            category="Contact sheets",
            subcategory="Videos",
        ),
    log:
        "logs/report/sheets/video/{video}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        runs=lambda wc: video_runs(wc.video),
        labels=VIDEO_LABELS,
        columns=VIDEO["strip_frames"],
        thumb=config["sheets"]["thumb"],
    script:
        "../scripts/video_sheet.py"
