from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.training_plot_job(sm.params.styles, list(sm.input), sm.output[0])
