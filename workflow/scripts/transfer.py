from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.transfer_job(
        sm.input.content,
        [sm.input.style],
        sm.output.image,
        sm.output.metrics,
        sm.params.settings,
        gpus=sm.config["gpus"],  # not a param: changing it must not re-run jobs
        gpu=sm.resources.gpu,
    )
