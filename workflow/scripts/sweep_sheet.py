from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.sweep_sheet_job(
        sm.params.runs,
        sm.input.images,
        sm.input.metrics,
        axes=sm.params.axes,
        points=sm.params.points,
        style_image=sm.input.style,
        out=sm.output[0],
        thumb=sm.params.thumb,
    )
