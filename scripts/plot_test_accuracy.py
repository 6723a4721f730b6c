"""Rule `plot_test_accuracy`: test accuracy against dropout probability, one
line per combination of swept settings."""

from mnist_dropout.figures import plot_test_accuracy
from mnist_dropout.jobs import log_to
from mnist_dropout.kept import read_csv, training_settings
from mnist_dropout.tables import SUMMARY_COLUMNS, by_settings, combination_labels, per_dropout
from mnist_dropout.uncertainty import CONFIDENCE, intervals_by_dropout

with log_to(snakemake.log[0]):
    rows = read_csv(snakemake.input.summary, SUMMARY_COLUMNS)
    labels = combination_labels(training_settings(snakemake.input.settings))
    curves = {
        labels[settings]: intervals_by_dropout(per_dropout(group, "test_accuracy"))
        for settings, group in by_settings(rows).items()
    }
    for label, curve in curves.items():
        for p, drawn in sorted(curve.items()):
            interval = "no interval" if drawn["low"] is None else f"{drawn['low']:.4f} to {drawn['high']:.4f}"
            print(f"{label or 'drawn'}: p = {p:g}, mean of {len(drawn['values'])} {drawn['mean']:.4f}, {interval}")
    plot_test_accuracy(curves, snakemake.output[0], CONFIDENCE)
