"""Rule `plot_curves`: learning curves of the fit and across dropout values,
in one panel per combination of swept settings."""

from mnist_dropout.figures import plot_fit_loss, plot_metric_by_dropout
from mnist_dropout.jobs import log_to
from mnist_dropout.kept import MODEL_FILE_READERS, by_model, training_settings
from mnist_dropout.tables import combination_labels

with log_to(snakemake.log[0]):
    labels = combination_labels(training_settings(snakemake.input.settings))
    histories = {
        labels[settings]: {
            p: [MODEL_FILE_READERS["history.csv"](path) for path in seeds.values()] for p, seeds in by_p.items()
        }
        for settings, by_p in by_model(snakemake.input.histories).items()
    }
    analysed = histories[labels[snakemake.params.analysed]]
    fit_dropout = min(analysed)
    plot_fit_loss(analysed[fit_dropout], fit_dropout, snakemake.output.fit_loss, labels[snakemake.params.analysed])
    for metric, path in (
        ("loss", snakemake.output.train_loss),
        ("val_loss", snakemake.output.val_loss),
        ("val_accuracy", snakemake.output.val_acc),
    ):
        plot_metric_by_dropout(histories, metric, path)
