"""Where the workflow's results land, relative to its working directory."""

MODEL_DIR = "results/models/p{dropout}/seed{seed}"
# The figures of a run, in results/figures/NAME.png; failure{digit} is drawn for
# analysis.failure_digit.
FIGURES = (
    "fit_loss",
    "train_loss_dropout",
    "val_loss_dropout",
    "val_acc_dropout",
    "test_acc_dropout",
    "fscore",
    "failure{digit}",
)


def figure_paths(failure_digit):
    """Every figure file of a run analysing `failure_digit`."""
    return [f"results/figures/{name.format(digit=failure_digit)}.png" for name in FIGURES]
