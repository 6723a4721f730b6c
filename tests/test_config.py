"""Malformed configs: each is refused with one line naming the key and what is
allowed (mnist_dropout.config.check_config); `snakemake` stops with that line
before any job, leaving results/ untouched."""

import copy

import pytest
import yaml

from conftest import REPO, snakemake, write_yaml
from mnist_dropout.config import ConfigError, check_config, load_config, merge

BASE = yaml.safe_load((REPO / "config.yaml").read_text())

GOOD_SHA = "0" * 64
CASES = {
    "dropout_at_one": ({"dropout": [0.0, 1.0]}, "dropout[1]", "0 <= p < 1"),
    "dropout_negative": ({"dropout": [-0.1]}, "dropout[0]", "0 <= p < 1"),
    "dropout_empty": ({"dropout": []}, "dropout", "non-empty"),
    "dropout_duplicate": ({"dropout": [0.1, 0.1]}, "dropout", "distinct"),
    "dropout_not_a_list": ({"dropout": 0.5}, "dropout", "list"),
    "dropout_text": ({"dropout": ["half"]}, "dropout[0]", "is not of type 'number'"),
    "dropout_boolean": ({"dropout": [True]}, "dropout[0]", "is not of type 'number'"),
    "seed_negative": ({"seeds": [-1]}, "seeds[0]", "integer from 0"),
    "seed_fraction": ({"seeds": [1.5]}, "seeds[0]", "integer from 0"),
    "seeds_duplicate": ({"seeds": [3, 3]}, "seeds", "distinct"),
    "unknown_top_level_key": ({"dropouts": [0.1]}, "top level", "unknown key 'dropouts'"),
    "typo_in_train": ({"train": {"epoch": 5}}, "train", "unknown key 'epoch'"),
    "epochs_zero": ({"train": {"epochs": 0}}, "train.epochs", "positive integer"),
    "epochs_text": ({"train": {"epochs": "ten"}}, "train.epochs", "positive integer"),
    "batch_size_negative": ({"train": {"batch_size": -128}}, "train.batch_size", "positive integer"),
    "validation_split_zero": ({"train": {"validation_split": 0}}, "train.validation_split", "strictly between 0 and 1"),
    "validation_split_one": (
        {"train": {"validation_split": 1.0}},
        "train.validation_split",
        "strictly between 0 and 1",
    ),
    "learning_rate_zero": ({"train": {"learning_rate": 0}}, "train.learning_rate", "positive number"),
    "hidden_units_empty": ({"train": {"hidden_units": []}}, "train.hidden_units", "non-empty list"),
    "hidden_units_zero": ({"train": {"hidden_units": [512, 0]}}, "train.hidden_units[1]", "positive integer"),
    "early_stopping_bad_monitor": (
        {"train": {"early_stopping": {"monitor": "val_los", "patience": 2}}},
        "train.early_stopping.monitor",
        "one of val_loss, val_accuracy, loss, accuracy",
    ),
    "early_stopping_negative_patience": (
        {"train": {"early_stopping": {"monitor": "val_loss", "patience": -1}}},
        "train.early_stopping.patience",
        "an integer >= 0",
    ),
    "threads_zero": ({"train": {"threads": 0}}, "train.threads", "integer >= 1"),
    "backend_unknown": ({"train": {"backend": "torch"}}, "train.backend", "the Keras backend, jax or tensorflow"),
    "optimizer_unknown": ({"train": {"optimizer": "sgd"}}, "train.optimizer", "rmsprop (the original's) or adam"),
    "sweep_optimizer_unknown": ({"sweep": {"optimizer": ["rmsprop", "sgd"]}}, "sweep.optimizer[1]", "or adam"),
    "analysis_dropout_not_in_sweep": ({"analysis": {"dropout": 0.35}}, "analysis.dropout", "not in the sweep"),
    "analysis_dropout_word": ({"analysis": {"dropout": "worst"}}, "analysis.dropout", "'best' or one value"),
    "failure_digit_ten": ({"analysis": {"failure_digit": 10}}, "analysis.failure_digit", "digit from 0 to 9"),
    "failure_digit_negative": ({"analysis": {"failure_digit": -1}}, "analysis.failure_digit", "digit from 0 to 9"),
    "mirror_ftp": ({"data": {"mirrors": ["ftp://example.org/mnist/"]}}, "data.mirrors[0]", "http:// or https://"),
    "mirror_s3": ({"data": {"mirrors": ["s3://bucket/mnist"]}}, "data.mirrors[0]", "http:// or https://"),
    "mirrors_empty": ({"data": {"mirrors": []}}, "data.mirrors", "non-empty"),
    "sha256_short": (
        {"data": {"sha256": {"train-images-idx3-ubyte": "abc123"}}},
        "data.sha256.train-images-idx3-ubyte",
        "64 lowercase hexadecimal",
    ),
    "sha256_uppercase": (
        {"data": {"sha256": {"t10k-labels-idx1-ubyte": "F" * 64}}},
        "data.sha256.t10k-labels-idx1-ubyte",
        "64 lowercase",
    ),
    # Whole-number floats where an integer belongs: JSON Schema would accept them.
    "failure_digit_float": ({"analysis": {"failure_digit": 8.0}}, "analysis.failure_digit", "digit from 0 to 9"),
    "epochs_float": ({"train": {"epochs": 20.0}}, "train.epochs", "20.0 is not of type 'integer'"),
    "batch_size_float": ({"train": {"batch_size": 128.0}}, "train.batch_size", "positive integer"),
    "seed_float": ({"seeds": [1.0]}, "seeds[0]", "integer from 0"),
    "hidden_units_float": ({"train": {"hidden_units": [512.0, 512]}}, "train.hidden_units[0]", "positive integer"),
    "threads_float": ({"train": {"threads": 1.0}}, "train.threads", "integer >= 1"),
    # Non-finite numbers, which YAML reads from .nan and .inf.
    "dropout_nan": ({"dropout": [0.0, float("nan")]}, "dropout[1]", "nan is not a finite number"),
    "learning_rate_infinite": ({"train": {"learning_rate": float("inf")}}, "train.learning_rate", "not a finite"),
    "validation_split_nan": ({"train": {"validation_split": float("nan")}}, "train.validation_split", "not a finite"),
    "analysis_dropout_nan": ({"analysis": {"dropout": float("nan")}}, "analysis.dropout", "'best' or one value"),
    # Values whose label (the name of their result files) would differ from them.
    "dropout_rounds_to_one": ({"dropout": [0.9999999999999]}, "dropout[0]", "would train as p = 1.0"),
    "dropout_tiny": ({"dropout": [0.0, 4e-13]}, "dropout[1]", "would train as p = 0.0"),
    # The sweep section: known settings, non-empty lists of distinct values each
    # setting's own check accepts, and train: holding one of them.
    "sweep_unknown_setting": ({"sweep": {"learning_rat": [0.1]}}, "sweep", "unknown key 'learning_rat'"),
    "sweep_execution_setting": ({"sweep": {"threads": [1, 2]}}, "sweep", "unknown key 'threads'"),
    "sweep_empty": ({"sweep": {"learning_rate": []}}, "sweep.learning_rate", "non-empty list"),
    "sweep_not_a_list": ({"sweep": {"batch_size": 64}}, "sweep.batch_size", "list of distinct values"),
    "sweep_duplicate": ({"sweep": {"batch_size": [128, 128]}}, "sweep.batch_size", "distinct"),
    "sweep_refused_value": ({"sweep": {"learning_rate": [0.001, -0.1]}}, "sweep.learning_rate[1]", "positive number"),
    "sweep_refused_width": (
        {"sweep": {"hidden_units": [[512, 512], [512, 0]]}},
        "sweep.hidden_units[1][1]",
        "positive integer",
    ),
    "sweep_refused_monitor": (
        {"sweep": {"early_stopping": [None, {"monitor": "val_los", "patience": 2}]}},
        "sweep.early_stopping[1].monitor",
        "one of val_loss, val_accuracy, loss, accuracy",
    ),
    "sweep_float_epochs": ({"sweep": {"epochs": [5, 10.0]}}, "sweep.epochs[1]", "positive integer"),
    "sweep_nan": ({"sweep": {"learning_rate": [0.001, float("nan")]}}, "sweep.learning_rate[1]", "not a finite"),
    "swept_and_fixed_elsewhere": (
        {"sweep": {"learning_rate": [0.01, 0.1]}},
        "sweep.learning_rate",
        "leaves out train.learning_rate = 0.001; set train.learning_rate to one of the swept values",
    ),
    "sha256_unknown_file": (
        {"data": {"sha256": {"train-images": GOOD_SHA}}},
        "data.sha256",
        "unknown key 'train-images'",
    ),
}


@pytest.mark.parametrize("change, key, allowed", CASES.values(), ids=CASES.keys())
def test_bad_config_is_refused_in_one_line(change, key, allowed):
    with pytest.raises(ConfigError) as refused:
        check_config(merge(copy.deepcopy(BASE), change))
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"Invalid config: {key}: ") and allowed in message, message


def test_defaults_are_filled_in():
    config = load_config()
    assert config["train"]["backend"] == "jax" and config["train"]["threads"] == 1
    assert config["train"]["steps_per_execution"] == 32 and config["sweep"] == {}
    # An overlay replaces lists and merges mappings, as Snakemake's --configfile.
    merged = merge(BASE, {"dropout": [0.5], "train": {"epochs": 3}})
    assert merged["dropout"] == [0.5] and merged["train"]["epochs"] == 3 and merged["train"]["batch_size"] == 128


@pytest.mark.parametrize(
    "change, key", [(CASES["epochs_float"][0], "train.epochs"), (CASES["sweep_empty"][0], "sweep")]
)
def test_bad_config_stops_snakemake_before_any_job(tmp_path, change, key):
    kept = tmp_path / "results" / "summary.csv"
    kept.parent.mkdir()
    kept.write_text("earlier results\n")
    result = snakemake(tmp_path, "--cores", "1", configs=[write_yaml(tmp_path / "bad.yaml", change)], check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("Invalid config:")]
    assert len(lines) == 1 and lines[0].startswith(f"Invalid config: {key}"), result.stderr
    assert "Select jobs to execute" not in result.stderr
    assert [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "results").rglob("*")] == ["results/summary.csv"]
    assert kept.read_text() == "earlier results\n"
