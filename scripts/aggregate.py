"""Rule `aggregate`: every run's history and test metrics into summary.csv and summary.md."""

from mnist_dropout.tables import SUMMARY_COLUMNS, read_csv, read_json, summary_markdown, summary_row, write_csv
from mnist_dropout.jobs import atomic_output, log_to

with log_to(snakemake.log[0]):
    rows = [
        summary_row(dropout, seed, read_csv(history), read_json(metrics), snakemake.params.monitor)
        for (dropout, seed), history, metrics in zip(
            snakemake.params.runs, snakemake.input.histories, snakemake.input.metrics
        )
    ]
    write_csv(snakemake.output.csv, rows, SUMMARY_COLUMNS)
    with atomic_output(snakemake.output.markdown) as temporary, open(temporary, "w") as stream:
        stream.write(summary_markdown(rows))
    print(summary_markdown(rows))
