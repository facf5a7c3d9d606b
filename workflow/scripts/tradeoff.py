from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.tradeoff_job(
        sm.params.runs, sm.input.images, sm.input.metrics, sm.params.labels, sm.output[0]
    )
