from nst.experiment import jobs

with jobs.logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    jobs.fetch_job(snakemake.params.dataset, snakemake.params.images, snakemake.output.manifest)  # noqa: F821
