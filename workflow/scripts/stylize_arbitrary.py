from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.arbitrary_stylize_job(
        sm.params.decoders,
        sm.input.content,
        sm.input.style,
        sm.output.image,
        sm.output.metrics,
        options=sm.params.options,
        model=sm.params.model,
        weights=sm.params.weights,
        loss_settings=sm.params.loss_settings,
        threads=sm.params.threads,
        gpus=sm.config["gpus"],  # not a param: changing it must not re-run jobs
        gpu=sm.resources.gpu,
    )
