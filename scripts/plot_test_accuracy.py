"""Rule `plot_test_accuracy`: test accuracy against dropout probability."""

from figures import plot_test_accuracy
from results import per_dropout, read_csv
from script_io import log_to

with log_to(snakemake.log[0]):
    summary = read_csv(snakemake.input[0])
    plot_test_accuracy(per_dropout(summary, "test_accuracy"), snakemake.output[0])
