"""Rule `plot_curves`: learning curves of the fit and across dropout values,
in one panel per combination of swept settings."""

from mnist_dropout.figures import plot_fit_loss, plot_metric_by_dropout
from mnist_dropout.reading import MODEL_FILE_READERS
from mnist_dropout.tables import combination_label, group_by_run
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    swept = snakemake.params.swept
    histories = group_by_run(
        snakemake.params.runs, [MODEL_FILE_READERS["history.csv"](path) for path in snakemake.input]
    )
    analysed = histories[snakemake.params.analysed]
    fit_dropout = min(analysed)
    label = combination_label(swept[snakemake.params.analysed])
    plot_fit_loss(analysed[fit_dropout], fit_dropout, snakemake.output.fit_loss, label)
    panels = {combination_label(swept[settings]): by_dropout for settings, by_dropout in histories.items()}
    for metric, path in (
        ("loss", snakemake.output.train_loss),
        ("val_loss", snakemake.output.val_loss),
        ("val_accuracy", snakemake.output.val_acc),
    ):
        plot_metric_by_dropout(panels, metric, path)
