"""Where the workflow's results land, relative to its working directory."""

import hashlib
import json

from .data import dataset_files

# The preprocessed dataset: {array name: its .npy file}.
DATASET = dataset_files("results/data/mnist")
# A trained model's folder is named by what it was trained with: the settings
# (a short hash of the training settings and the data's checksums), the dropout
# value and the seed. Models of other settings stay beside it.
MODEL_DIR = "results/models/{settings}/p{dropout}/seed{seed}"
SETTINGS_FILE = "results/models/{settings}/settings.yaml"
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


def settings_key(settings):
    """The short name of a settings dict: the first 12 hex digits of the SHA-256
    of its canonical JSON."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
