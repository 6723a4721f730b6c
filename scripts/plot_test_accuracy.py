"""Rule `plot_test_accuracy`: test accuracy against dropout probability."""

from mnist_dropout.figures import plot_test_accuracy
from mnist_dropout.tables import per_dropout, read_csv
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    summary = read_csv(snakemake.input[0])
    plot_test_accuracy(per_dropout(summary, "test_accuracy"), snakemake.output[0])
