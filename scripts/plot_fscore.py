"""Rule `plot_fscore`: per-digit precision and recall of the analysed run (the
analysed settings and dropout value), over all its seeds."""

import numpy as np

from mnist_dropout.figures import plot_precision_recall
from mnist_dropout.files import write_csv
from mnist_dropout.reading import MODEL_FILE_READERS, read_csv
from mnist_dropout.tables import SUMMARY_COLUMNS, combination_label, seeds_of, select_dropout
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    settings = snakemake.params.analysed
    rows = [row for row in read_csv(snakemake.input.summary, SUMMARY_COLUMNS) if row["settings"] == settings]
    dropout = select_dropout(rows, snakemake.params.choice)
    print(f"analysed: settings {settings}, p = {dropout:g} (analysis.dropout = {snakemake.params.choice})")
    seeds = seeds_of(dropout, snakemake.params.runs, snakemake.input.metrics)
    metrics = [MODEL_FILE_READERS["metrics.json"](path) for _seed, path in seeds]
    precisions = np.array([m["precision"] for m in metrics])
    recalls = np.array([m["recall"] for m in metrics])
    print(f"drawn: the mean over seeds {[seed for seed, _path in seeds]}, bars from their minimum to maximum")
    label = combination_label(snakemake.params.swept)
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
            for (seed, _path), m in zip(seeds, metrics)
            for digit in range(len(m["precision"]))
        ],
        ("dropout", "seed", "digit", "precision", "recall", "f1"),
    )
