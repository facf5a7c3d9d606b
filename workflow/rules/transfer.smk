rule transfer:
    input:
        content="results/prepared/content/{content}.png",
        style="results/prepared/style/{style}.png",
        decoders=warm_start_decoders,  # init: arbitrary starts from the decoders' result
    output:
        image=report(
            "results/transfer/{content}/{style}/{params}/image.png",
            caption="../report/full_size.rst",
            category="Full-size images",
            subcategory="{content}",
            labels={"style": "{style}", "set": "{params}"},
        ),
        metrics="results/transfer/{content}/{style}/{params}/metrics.json",
    log:
        "logs/transfer/{content}/{style}/{params}.log",
    benchmark:
        "benchmarks/transfer/{content}/{style}/{params}.tsv"
    conda:
        "../../envs/nst.yaml"
    threads: TRANSFER["threads"]
    resources:
        mem_mb=transfer_mem_mb,
        runtime=TRANSFER["runtime"],
        gpu=TRANSFER["gpu"],
    params:
        settings=transfer_settings,
    script:
        "../scripts/transfer.py"
