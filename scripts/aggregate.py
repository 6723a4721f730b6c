"""Rule `aggregate`: every run's history and test metrics into summary.csv and
summary.md, with a column per setting in which the settings folders differ."""

from pathlib import Path

from mnist_dropout.files import write_csv
from mnist_dropout.jobs import atomic_output, log_to
from mnist_dropout.kept import MODEL_FILE_READERS, model_fields, training_settings
from mnist_dropout.summary import summary_markdown
from mnist_dropout.tables import differing_settings, summary_row

read_history, read_metrics = MODEL_FILE_READERS["history.csv"], MODEL_FILE_READERS["metrics.json"]

with log_to(snakemake.log[0]):
    trained_with = training_settings(snakemake.input.settings)
    swept = differing_settings(trained_with)
    rows = []
    for history, metrics in zip(snakemake.input.histories, snakemake.input.metrics):
        run = model_fields(Path(history).parent)
        train = trained_with[run["settings"]]
        swept_values = {name: train[name] for name in swept}
        rows.append(
            summary_row(
                run["settings"],
                swept_values,
                run["dropout"],
                run["seed"],
                read_history(history),
                read_metrics(metrics),
                train["early_stopping"],
            )
        )
    write_csv(snakemake.output.csv, rows, list(rows[0]))  # a column per swept setting after settings
    analysed = snakemake.params.analysed
    (described,) = [path for path in snakemake.input.settings if Path(path).parent.name == analysed]
    markdown = summary_markdown(rows, Path(described).read_text(), swept, analysed)
    with atomic_output(snakemake.output.markdown) as temporary, open(temporary, "w") as stream:
        stream.write(markdown)
    print(markdown)
