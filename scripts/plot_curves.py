"""Rule `plot_curves`: learning curves of the fit and across dropout values."""

from mnist_dropout.figures import plot_fit_loss, plot_metric_by_dropout
from mnist_dropout.tables import group_by_dropout, read_csv
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    histories = group_by_dropout(snakemake.params.runs, [read_csv(path) for path in snakemake.input])
    fit_dropout = min(histories)
    plot_fit_loss(histories[fit_dropout], fit_dropout, snakemake.output.fit_loss)
    for metric, path in (
        ("loss", snakemake.output.train_loss),
        ("val_loss", snakemake.output.val_loss),
        ("val_accuracy", snakemake.output.val_acc),
    ):
        plot_metric_by_dropout(histories, metric, path)
