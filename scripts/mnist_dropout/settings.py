"""The study's checked config (config.py) turned into the runs to train, each
model keyed by everything that can change it: its training settings, the
data's checksums and the code that preprocesses, trains and evaluates."""

import hashlib
import itertools
import json
from pathlib import Path

import yaml

from .jobs import atomic_output
from .provenance import code_digest

PACKAGE_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = PACKAGE_DIR.parent
WORKFLOW_DIR = SCRIPTS_DIR.parent

# The modules of this package each rule script runs that can change what it
# computes or writes: an edit of the script or of one of them (comments,
# docstrings and layout aside) reruns that rule's jobs, and keys new models for
# training and preprocessing. Logging and fault lines (jobs.py), CPU claims
# (cpus.py) and provenance records (provenance.py) are in none: editing them
# reruns nothing. tests/test_imports.py checks each list against the imports.
NOT_KEYED = ("__init__", "jobs", "cpus", "provenance")
TRAINING_SCRIPT = "train_and_evaluate.py"
SCRIPT_MODULES = {
    "preprocess.py": ("dataset", "idx"),
    "train_and_evaluate.py": ("backend", "dataset", "evaluation", "files", "model", "training"),
    "aggregate.py": ("dataset", "files", "kept", "paths", "summary", "tables", "uncertainty"),
    "plot_curves.py": ("dataset", "figures", "files", "kept", "paths", "tables"),
    "plot_test_accuracy.py": ("dataset", "figures", "files", "kept", "paths", "tables", "uncertainty"),
    "plot_fscore.py": ("dataset", "figures", "files", "kept", "paths", "tables"),
    "plot_failures.py": ("dataset", "figures", "files", "idx", "kept", "paths", "tables"),
    "export_mlflow.py": ("dataset", "files", "kept", "paths", "settings", "tables", "tracking"),
}

# Settings of how training runs, not what it computes (tests show the same bits
# for any steps_per_execution; threads are the job's threads, recorded): not in
# the settings key, so changing them retrains nothing.
EXECUTION_SETTINGS = ("threads", "steps_per_execution")


def dropout_label(dropout):
    """The wildcard value naming a dropout probability in positional notation,
    e.g. 0.3 -> '0.3', 0 -> '0.0', 1e-5 -> '0.00001'."""
    whole, fraction = f"{float(dropout):.12f}".split(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}"


def settings_key(settings):
    """The short name of a settings dict: the first 12 hex digits of the SHA-256
    of its canonical JSON."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def script_code(script, scripts_dir=SCRIPTS_DIR):
    """The code digest of the rule script `script` and its SCRIPT_MODULES."""
    scripts_dir = Path(scripts_dir)
    modules = [scripts_dir / PACKAGE_DIR.name / f"{name}.py" for name in SCRIPT_MODULES[script]]
    return code_digest([scripts_dir / script, *modules], scripts_dir)


def workflow_code(scripts_dir=SCRIPTS_DIR):
    """The code digests of the steps that make a model: preprocessing, and
    training with evaluation."""
    return {
        "preprocessing": script_code("preprocess.py", scripts_dir),
        "training": script_code(TRAINING_SCRIPT, scripts_dir),
    }


def data_settings(config, code):
    """What the preprocessed dataset depends on: the IDX files' checksums and
    the preprocessing code (`code`, of workflow_code)."""
    return {"sha256": config["data"]["sha256"], "preprocessing_code": code["preprocessing"]["digest"]}


def combinations(config):
    """[{setting: value}] of every combination of the swept values, the first
    swept setting varying slowest; [{}] without a sweep."""
    sweep = config["sweep"]
    return [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]


def model_settings(config, code, combination):
    """Everything a model depends on besides its dropout value and seed: the
    `train` config without execution settings, with `combination`'s swept
    values; the data; the training code (files and digests). Keys in sorted
    order, at every level: Snakemake compares params as text, so the same
    settings reached through `train:` or through a sweep (whose key orders
    differ) must read the same, or its models would be trained again."""
    train = {key: value for key, value in config["train"].items() if key not in EXECUTION_SETTINGS}
    settings = {"train": {**train, **combination}, "data": data_settings(config, code), "code": code["training"]}
    return json.loads(json.dumps(settings, sort_keys=True))


def settings_grid(config, code):
    """{settings key: model settings} of every combination, in sweep order."""
    return {
        settings_key(settings): settings
        for settings in (model_settings(config, code, combination) for combination in combinations(config))
    }


def analysed_combination(config):
    """The combination with `train:`'s values, in the sweep's spelling (1 or 1.0)."""
    train = config["train"]
    return {name: values[values.index(train[name])] for name, values in config["sweep"].items()}


def write_settings(path, settings, log):
    """`settings` as readable YAML at `path`, written whole; says so in `log`."""
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        yaml.safe_dump(settings, stream, sort_keys=False)
    Path(log).write_text(f"wrote {path}\n")


def runs(config, grid):
    """Every (settings key, dropout, seed) to train, in a fixed order."""
    return [(key, float(p), int(seed)) for key in grid for p in config["dropout"] for seed in config["seeds"]]
