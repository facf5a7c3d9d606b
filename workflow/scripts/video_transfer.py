from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.video_transfer_job(
        sm.input.clip,
        sm.input.flows,
        [sm.input.style],
        sm.output.frames,
        sm.output.metrics,
        sm.params.video_set,
        gpus=sm.config["gpus"],  # not a param: changing it must not re-run jobs
        gpu=sm.resources.gpu,
    )
