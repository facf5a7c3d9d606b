# Fast feed-forward style transfer (Johnson et al.): one network per style (trained here, or a
# model file from config fast.models), then one stylize job per content x style, written where
# the optimised sets write theirs so that the sheets, summary and report show a "fast" column.


rule train_style:
    input:
        style="results/prepared/style/{style}.png",
        contents=lambda wc: list(prepared("content", fast_train_contents()).values()),
    output:
        model="results/models/{style}/model.keras",
        metrics="results/models/{style}/metrics.json",
    log:
        "logs/models/{style}.log",
    benchmark:
        "benchmarks/models/{style}.tsv"
    conda:
        "../../envs/nst.yaml"
    threads: TRAIN["threads"]
    resources:
        mem_mb=TRAIN["mem_mb"],
        runtime=TRAIN["runtime"],
        gpu=TRAIN["gpu"],
    params:
        settings=fast_train_settings,
        extra=FAST["extra_content"],
    script:
        "../scripts/train_style.py"


rule stylize:
    input:
        model=lambda wc: fast.model_path(config, wc.style),
        content="results/prepared/content/{content}.png",
        style="results/prepared/style/{style}.png",
    output:
        image=report(
            "results/transfer/{content}/{style}/fast/image.png",
            caption="../report/full_size.rst",
            category="Full-size images",
            subcategory="{content}",
            labels={"style": "{style}", "set": "fast"},
        ),
        metrics="results/transfer/{content}/{style}/fast/metrics.json",
    log:
        "logs/transfer/{content}/{style}/fast.log",
    benchmark:
        "benchmarks/transfer/{content}/{style}/fast.tsv"
    conda:
        "../../envs/nst.yaml"
    threads: TRANSFER["threads"]
    resources:
        mem_mb=JOB_MEM_MB,
        runtime=TRANSFER["runtime"],
        gpu=TRANSFER["gpu"],
    params:
        size=fast.stylize_size(config),
        loss_settings=FAST_LOSS_SETTINGS,
        threads=TRANSFER["threads"],
    script:
        "../scripts/stylize.py"


rule training_plot:
    input:
        lambda wc: [fast.training_record(config, s) for s in fast_styles()],
    output:
        report(
            "results/plots/training.png",
            caption="../report/training_plot.rst",
            category="Loss curves",
            subcategory="Fast training",
        ),
    log:
        "logs/report/plots/training.log",
    conda:
        "../../envs/nst.yaml"
    params:
        styles=lambda wc: fast_styles(),
    script:
        "../scripts/training_plot.py"
