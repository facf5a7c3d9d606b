from nst.experiment import jobs

sm = snakemake  # noqa: F821 (snakemake is injected)
with jobs.logged(sm.log[0]):
    jobs.sheet_job(
        sm.params.kind,
        sm.params.runs,
        sm.input.images,
        sm.input.metrics,
        sets=sm.params.sets,
        labels=sm.params.labels,
        content_images=dict(zip(sm.params.content_names, sm.input.contents, strict=True)),
        style_images=dict(zip(sm.params.style_names, sm.input.styles, strict=True)),
        out=sm.output[0],
        thumb=sm.params.thumb,
    )
