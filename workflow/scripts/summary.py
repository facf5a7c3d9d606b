from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.summary_job(
        sm.params.runs,
        sm.input.images,
        sm.input.metrics,
        {**sm.params.labels, **sm.params.video_labels},
        sm.output[0],
        video=(sm.params.video_runs, sm.input.videos, sm.input.video_metrics),
    )
