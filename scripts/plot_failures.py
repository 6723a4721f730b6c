"""Rule `plot_failures`: the first 32 test images wrongly judged "is digit d"
by the analysed run's model (analysed settings and dropout value) with the
lowest seed."""

from mnist_dropout.figures import failure_indices, plot_failures
from mnist_dropout.idx import load_idx
from mnist_dropout.jobs import log_to
from mnist_dropout.kept import MODEL_FILE_READERS, by_model, read_csv, training_settings
from mnist_dropout.tables import SUMMARY_COLUMNS, combination_labels, select_dropout

with log_to(snakemake.log[0]):
    settings = snakemake.params.analysed
    summary = read_csv(snakemake.input.summary, SUMMARY_COLUMNS)
    dropout = select_dropout([row for row in summary if row["settings"] == settings], snakemake.params.choice)
    seed, path = next(iter(by_model(snakemake.input.predictions)[settings][dropout].items()))
    predictions = MODEL_FILE_READERS["predictions.npz"](path)
    y_true, y_pred = predictions["y_true"], predictions["y_pred"]
    digit = snakemake.params.digit
    chosen = failure_indices(y_true, y_pred, digit)
    print(
        f"settings {settings}, p = {dropout:g}, seed {seed}: test images {chosen.tolist()} misjudged as to digit {digit}"
    )
    images = load_idx(snakemake.input.images)[chosen]
    label = combination_labels(training_settings(snakemake.input.settings))[settings]
    plot_failures(images, y_pred[chosen], digit, dropout, seed, snakemake.output[0], label)
