"""Rule `plot_test_accuracy`: test accuracy against dropout probability, one
line per combination of swept settings."""

from mnist_dropout.figures import plot_test_accuracy
from mnist_dropout.reading import read_csv
from mnist_dropout.jobs import log_to
from mnist_dropout.tables import SUMMARY_COLUMNS, by_settings, combination_label, per_dropout
from mnist_dropout.uncertainty import CONFIDENCE, intervals_by_dropout

with log_to(snakemake.log[0]):
    swept = snakemake.params.swept
    curves = {
        combination_label(swept[settings]): intervals_by_dropout(per_dropout(rows, "test_accuracy"))
        for settings, rows in by_settings(read_csv(snakemake.input[0], SUMMARY_COLUMNS)).items()
    }
    for label, curve in curves.items():
        for p, drawn in sorted(curve.items()):
            interval = "no interval" if drawn["low"] is None else f"{drawn['low']:.4f} to {drawn['high']:.4f}"
            print(f"{label or 'drawn'}: p = {p:g}, mean of {len(drawn['values'])} {drawn['mean']:.4f}, {interval}")
    plot_test_accuracy(curves, snakemake.output[0], CONFIDENCE)
