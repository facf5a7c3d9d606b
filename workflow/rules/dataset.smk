checkpoint fetch:
    output:
        manifest=MANIFEST,
    log:
        "logs/dataset/fetch.log",
    conda:
        "../../envs/nst.yaml"
    params:
        dataset=config["dataset"],
        images=IMAGES,
    script:
        "../scripts/fetch.py"


rule prepare:
    input:
        fetched_image,
    output:
        "results/prepared/{role}/{name}.png",
    log:
        "logs/prepare/{role}/{name}.log",
    conda:
        "../../envs/nst.yaml"
    params:
        size=config["prepare"]["size"],
        failure=fetch_failure,
    script:
        "../scripts/prepare.py"
