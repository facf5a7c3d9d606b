# Neural style transfer experiment: content x style x hyperparameter grid -> contact sheets.
# The DAG only; the work is done by the nst library (workflow/scripts -> nst/experiment/jobs.py).
from snakemake.utils import min_version, validate

from nst.dataset.config import check_dataset

min_version("9.0")


configfile: "config/config.yaml"


# The dataset section by the library's check (as `nst fetch` reads it: one sentence naming the
# key, every URL checked), then the whole config by the same schema, which fills in defaults.
DATASET = check_dataset(config.get("dataset"))
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/video.smk"
include: "workflow/rules/fast.smk"
include: "workflow/rules/arbitrary.smk"


localrules:
    all,
    fetch,
    summary,
    loss_plot,
    sheet_content,
    sheet_style,
    sheet_overview,
    sheet_sweep,
    tradeoff_plot,
    video_sheet,
    training_plot,


rule all:
    input:
        "results/summary.csv",
        "results/sheets/overview.png",
        all_sheets_and_plots,
        all_videos,
