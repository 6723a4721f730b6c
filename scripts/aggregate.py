"""Rule `aggregate`: every run's history and test metrics into summary.csv and
summary.md, headed by the settings the models were trained with."""

from pathlib import Path

from mnist_dropout.jobs import atomic_output, log_to
from mnist_dropout.files import read_csv, read_json, write_csv
from mnist_dropout.summary import summary_markdown
from mnist_dropout.tables import summary_columns, summary_row

with log_to(snakemake.log[0]):
    swept, early_stopping = snakemake.params.swept, snakemake.params.early_stopping
    rows = [
        summary_row(
            settings, swept[settings], dropout, seed, read_csv(history), read_json(metrics), early_stopping[settings]
        )
        for (settings, dropout, seed), history, metrics in zip(
            snakemake.params.runs, snakemake.input.histories, snakemake.input.metrics
        )
    ]
    names = list(next(iter(swept.values())))
    write_csv(snakemake.output.csv, rows, summary_columns(names))
    markdown = summary_markdown(
        rows, Path(snakemake.input.analysed_settings).read_text(), names, snakemake.params.analysed
    )
    with atomic_output(snakemake.output.markdown) as temporary, open(temporary, "w") as stream:
        stream.write(markdown)
    print(markdown)
