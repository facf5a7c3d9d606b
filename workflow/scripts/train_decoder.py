from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.train_decoder_job(
        list(sm.input.contents) + list(sm.params.data),
        sm.output.decoder,
        sm.output.metrics,
        sm.params.settings,
        gpus=sm.config["gpus"],  # not a param: changing it must not re-run jobs
        gpu=sm.resources.gpu,
    )
