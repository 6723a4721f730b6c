"""Rule `plot_failures`: the first 32 test images wrongly judged "is digit d"
by the analysed run's model (analysed settings and dropout value) with the
lowest seed."""

from mnist_dropout.figures import failure_indices, plot_failures
from mnist_dropout.idx import load_idx
from mnist_dropout.reading import MODEL_FILE_READERS, read_csv
from mnist_dropout.tables import SUMMARY_COLUMNS, combination_label, seeds_of, select_dropout
from mnist_dropout.jobs import log_to

with log_to(snakemake.log[0]):
    settings = snakemake.params.analysed
    rows = [row for row in read_csv(snakemake.input.summary, SUMMARY_COLUMNS) if row["settings"] == settings]
    dropout = select_dropout(rows, snakemake.params.choice)
    seed, path = seeds_of(dropout, snakemake.params.runs, snakemake.input.predictions)[0]
    predictions = MODEL_FILE_READERS["predictions.npz"](path)
    y_true, y_pred = predictions["y_true"], predictions["y_pred"]
    digit = snakemake.params.digit
    chosen = failure_indices(y_true, y_pred, digit)
    print(
        f"settings {settings}, p = {dropout:g}, seed {seed}: test images {chosen.tolist()} misjudged as to digit {digit}"
    )
    images = load_idx(snakemake.input.images)[chosen]
    label = combination_label(snakemake.params.swept)
    plot_failures(images, y_pred[chosen], digit, dropout, seed, snakemake.output[0], label)
