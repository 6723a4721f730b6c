"""Rule `aggregate`: every run's history and test metrics into summary.csv and
summary.md, headed by the settings the models were trained with."""

from pathlib import Path

from mnist_dropout.jobs import atomic_output, log_to
from mnist_dropout.tables import SUMMARY_COLUMNS, read_csv, read_json, summary_markdown, summary_row, write_csv

with log_to(snakemake.log[0]):
    rows = [
        summary_row(
            snakemake.params.settings, dropout, seed, read_csv(history), read_json(metrics), snakemake.params.monitor
        )
        for (dropout, seed), history, metrics in zip(
            snakemake.params.runs, snakemake.input.histories, snakemake.input.metrics
        )
    ]
    write_csv(snakemake.output.csv, rows, SUMMARY_COLUMNS)
    markdown = summary_markdown(rows, Path(snakemake.input.settings).read_text())
    with atomic_output(snakemake.output.markdown) as temporary, open(temporary, "w") as stream:
        stream.write(markdown)
    print(markdown)
