"""Where the workflow's results land, relative to its working directory."""

from .dataset import dataset_files

# The preprocessed dataset, named by a hash of the IDX checksums and its code.
DATASET_DIR = "results/data/mnist/{dataset}"
DATASET = dataset_files(DATASET_DIR)
# A model's folder: a hash of its training settings, data and code, then its
# dropout value and seed. Models of other settings stay beside it.
SETTINGS_DIR = "results/models/{settings}"
MODEL_DIR = SETTINGS_DIR + "/p{dropout}/seed{seed}"
SETTINGS_FILE = SETTINGS_DIR + "/settings.yaml"
# The figures a run draws (rules/analysis.smk), as the tests and CI check them;
# failure{digit} is drawn for analysis.failure_digit.
FIGURE = "results/figures/{name}.png"
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
    return [FIGURE.format(name=name.format(digit=failure_digit)) for name in FIGURES]
