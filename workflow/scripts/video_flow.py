from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.video_flow_job(sm.input[0], sm.output[0], sm.params.steps)
