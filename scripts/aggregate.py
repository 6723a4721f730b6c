"""Rule `aggregate`: every run's history and test metrics into summary.csv and
summary.md, headed by the settings the models were trained with."""

from pathlib import Path

from mnist_dropout.jobs import atomic_output, log_to
from mnist_dropout.files import write_csv
from mnist_dropout.reading import MODEL_FILE_READERS, read_yaml
from mnist_dropout.summary import summary_markdown
from mnist_dropout.tables import summary_columns, summary_row

read_history, read_metrics = MODEL_FILE_READERS["history.csv"], MODEL_FILE_READERS["metrics.json"]

with log_to(snakemake.log[0]):
    swept, early_stopping = snakemake.params.swept, snakemake.params.early_stopping
    for path in snakemake.input.settings:
        read_yaml(path, ("train", "data", "code"))
    rows = [
        summary_row(
            settings,
            swept[settings],
            dropout,
            seed,
            read_history(history),
            read_metrics(metrics),
            early_stopping[settings],
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
