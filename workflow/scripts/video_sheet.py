from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.video_sheet_job(
        sm.wildcards.video,
        sm.input.clip,
        sm.params.runs,
        sm.input.frames,
        sm.input.metrics,
        sm.params.labels,
        sm.output[0],
        columns=sm.params.columns,
        thumb=sm.params.thumb,
    )
