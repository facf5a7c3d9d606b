from nst.experiment import jobs

with jobs.logged(snakemake.log[0]):  # noqa: F821 (snakemake is injected)
    jobs.prepare_job(
        snakemake.input[0],  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.size,  # noqa: F821
        snakemake.params.failure,  # noqa: F821
    )
