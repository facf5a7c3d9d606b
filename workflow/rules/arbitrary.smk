# Universal (any-style) transfer (Li et al. 2017): the decoders of the loss network's levels
# (config arbitrary.decoders, the shipped resources/decoders/{model}, or trained here with
# arbitrary.train), then one stylize_arbitrary job per content x style, written where the
# optimised sets write theirs so that the sheets, summary and report show an "arbitrary" column.
# The same decoders give the warm start of any set with init: arbitrary (rule transfer).


# a set named "arbitrary" is refused while the column is on; with the column off it is a set
ruleorder: transfer > stylize_arbitrary


rule train_decoder:
    input:
        contents=decoder_training_inputs,
    output:
        decoder="results/decoders/{model}/level{level}.keras",
        metrics="results/decoders/{model}/level{level}.json",
    log:
        "logs/decoders/{model}/level{level}.log",
    benchmark:
        "benchmarks/decoders/{model}/level{level}.tsv"
    wildcard_constraints:
        model="vgg19|vgg16|vgg16-hed",
        level="[1-5]",
    conda:
        "../../envs/nst.yaml"
    threads: TRAIN["threads"]
    resources:
        mem_mb=TRAIN["mem_mb"],
        runtime=TRAIN["runtime"],
        gpu=TRAIN["gpu"],
    params:
        settings=decoder_training_settings,
        data=arbitrary.train_data(config),
    script:
        "../scripts/train_decoder.py"


rule stylize_arbitrary:
    input:
        decoders=arbitrary.column_decoders(config),
        content="results/prepared/content/{content}.png",
        style="results/prepared/style/{style}.png",
    output:
        image=report(
            "results/transfer/{content}/{style}/arbitrary/image.png",
            caption="../report/full_size.rst",
            category="Full-size images",
            subcategory="{content}",
            labels={"style": "{style}", "set": "arbitrary"},
        ),
        metrics="results/transfer/{content}/{style}/arbitrary/metrics.json",
    log:
        "logs/transfer/{content}/{style}/arbitrary.log",
    benchmark:
        "benchmarks/transfer/{content}/{style}/arbitrary.tsv"
    conda:
        "../../envs/nst.yaml"
    threads: TRANSFER["threads"]
    resources:
        mem_mb=JOB_MEM_MB,
        runtime=TRANSFER["runtime"],
        gpu=TRANSFER["gpu"],
    params:
        decoders=decoders_folder,
        options=arbitrary.options(config),
        model=arbitrary.experiment_model(config),
        weights=(config.get("defaults") or {}).get("weights"),
        # the outputs' loss is the engine's objective with the experiment's defaults
        loss_settings=dict(config.get("defaults") or {}),
        threads=TRANSFER["threads"],
    script:
        "../scripts/stylize_arbitrary.py"
