"""Rule `plot_fscore`: per-digit precision and recall of the analysed run (the
analysed settings and dropout value), over all its seeds."""

import numpy as np

from mnist_dropout.figures import plot_precision_recall
from mnist_dropout.files import write_csv
from mnist_dropout.jobs import log_to
from mnist_dropout.kept import MODEL_FILE_READERS, by_model, read_csv, training_settings
from mnist_dropout.tables import SUMMARY_COLUMNS, combination_labels, select_dropout

with log_to(snakemake.log[0]):
    settings = snakemake.params.analysed
    summary = read_csv(snakemake.input.summary, SUMMARY_COLUMNS)
    dropout = select_dropout([row for row in summary if row["settings"] == settings], snakemake.params.choice)
    print(f"analysed: settings {settings}, p = {dropout:g} (analysis.dropout = {snakemake.params.choice})")
    seeds = by_model(snakemake.input.metrics)[settings][dropout]
    metrics = {seed: MODEL_FILE_READERS["metrics.json"](path) for seed, path in seeds.items()}
    precisions = np.array([m["precision"] for m in metrics.values()])
    recalls = np.array([m["recall"] for m in metrics.values()])
    print(f"drawn: the mean over seeds {list(seeds)}, bars from their minimum to maximum")
    label = combination_labels(training_settings(snakemake.input.settings))[settings]
    plot_precision_recall(precisions, recalls, dropout, snakemake.output.figure, label)
    write_csv(
        snakemake.output.table,
        [
            {
                "dropout": dropout,
                "seed": seed,
                "digit": digit,
                "precision": m["precision"][digit],
                "recall": m["recall"][digit],
                "f1": m["f1"][digit],
            }
            for seed, m in metrics.items()
            for digit in range(len(m["precision"]))
        ],
        ("dropout", "seed", "digit", "precision", "recall", "f1"),
    )
