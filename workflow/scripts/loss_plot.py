from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.loss_plot_job(sm.params.runs, sm.input.images, sm.input.metrics, sm.output[0])
