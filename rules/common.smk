# What the rules get from the config: the checked config, the settings of each
# model and the lists of runs and files. The logic is in mnist_dropout.settings.

import functools
import os
import tempfile

from mnist_dropout import settings as study
from mnist_dropout.config import ConfigError, check_config as check_study_config
from mnist_dropout.idx import IDX_FILES, IDX_NAMES
from mnist_dropout.jobs import write_fault
from mnist_dropout.kept import kept_models_state
from mnist_dropout.paths import DATASET, FIGURE, MODEL_DIR, SETTINGS_FILE


def check_config(config):
    try:
        check_study_config(config)
    except ConfigError as error:
        raise WorkflowError(str(error)) from None


def check_results_writable():
    """Stop before any job when results/ cannot be written (a read-only
    filesystem, no permission): every job would fail on it."""
    try:
        os.makedirs("results", exist_ok=True)
        with tempfile.TemporaryFile(dir="results"):
            pass
    except OSError as error:
        error = OSError(error.errno, error.strerror, "results/")
        raise WorkflowError(write_fault(error) or str(error)) from None


@functools.cache
def get_code():
    """Digests of the code that preprocesses and trains, read once per run."""
    return study.workflow_code()


def get_script_code(script):
    """Digest of what the rule script `script` runs (comments, docstrings and
    layout aside): as a param, editing that code reruns exactly its jobs."""
    return study.script_code(script)["digest"]


def get_dataset_files():
    """The preprocessed dataset of the config's data and preprocessing code."""
    dataset = study.settings_key(study.data_settings(config, get_code()))
    return [path.format(dataset=dataset) for path in DATASET.values()]


@functools.cache
def get_settings_grid():
    """{settings key: model settings} of every combination, in sweep order."""
    return study.settings_grid(config, get_code())


def get_settings(key):
    """The model settings named by a settings key of the current config."""
    grid = get_settings_grid()
    if key not in grid:
        raise WorkflowError(
            f"results/models/{key} holds models of other settings or code than the config's "
            f"({', '.join(grid)}); ask for those, or for results/summary.csv"
        )
    return grid[key]


def get_analysed_settings():
    """The key of `train:`'s combination, whose precision, recall and failures are drawn."""
    combination = study.analysed_combination(config)
    return study.settings_key(study.model_settings(config, get_code(), combination))


def get_runs():
    """Every (settings key, dropout, seed) to train, in a fixed order."""
    return study.runs(config, get_settings_grid())


def get_run_files(pattern, settings=None):
    """`pattern` (with {settings}, {dropout} and {seed}) expanded for every run
    (of the settings key `settings`), in run order."""
    runs = [run for run in get_runs() if settings in (None, run[0])]
    return [pattern.format(settings=key, dropout=study.dropout_label(p), seed=seed) for key, p, seed in runs]


def get_raw_idx_files():
    """{split_kind: path} of the downloaded IDX files, e.g. train_images."""
    return {f"{split}_{kind}": f"results/data/raw/{name}" for (split, kind), name in IDX_NAMES.items()}


def get_kept_models_state():
    """A digest of the kept model folders the config does not use, for the export."""
    return kept_models_state("results", set(get_runs()))


def figure(name, category):
    """The figure `name` of paths.FIGURES in the report, captioned by report/NAME.rst."""
    caption = f"../report/{name.format(digit='')}.rst"
    return report(FIGURE.format(name=name), caption=caption, category=category)
