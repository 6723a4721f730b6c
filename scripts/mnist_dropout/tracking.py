"""Every model kept under results/models as one run of an MLflow tracking store
in SQLite, to compare them in MLflow's UI. The store is a view rebuilt from the
kept files on every export, never a record of its own; training never imports
MLflow."""

import re
import shutil
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from .jobs import atomic_output
from .reading import read_yaml
from .kept import (
    code_version_text,
    damage,
    model_dirs,
    model_status,
    read_model_file,
    settings_file,
    training_settings,
)
from .settings import TRAINING_SCRIPT, dropout_label, settings_key
from .tables import SUMMARY_COLUMNS, setting_text, summary_row

EXPERIMENT = "mnist-dropout"
DESCRIPTION = (
    "Every model kept under results/models, one run each, exported by "
    "`snakemake --cores 1 results/mlflow/mlflow.db` and rebuilt on every export. "
    "Filter `tags.current = 'yes'` for the models the config of the export uses."
)
# The small files of a model and of its settings folder copied as artifacts
# (model.keras is named by the tag model_path, not copied).
MODEL_ARTIFACTS = ("metrics.json", "train_info.json")
# MLflow's status of a run by the model folder's (kept.model_status): a folder
# without test metrics is what an interrupted job left.
RUN_STATUS = {"evaluated": "FINISHED", "trained": "KILLED", "incomplete": "KILLED"}


def flatten(mapping, prefix=""):
    """{"a.b": value} of a nested mapping; lists and other values as table cells."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(setting_text(value))
    return flat


def run_times(model_dir, history):
    """(start, end, [end of each epoch]) in milliseconds since the epoch, from
    the modification times of the model's files: training started the sum of its
    epochs' seconds before history.csv was written, and the run ended when its
    last file (or, if it has none, the folder) was."""
    end = max(path.stat().st_mtime for path in [model_dir, *model_dir.iterdir()])
    if not history:
        return int(end * 1000), int(end * 1000), []
    start = (model_dir / "history.csv").stat().st_mtime - sum(row["seconds"] for row in history)
    epoch_ends, elapsed = [], 0.0
    for row in history:
        elapsed += row["seconds"]
        epoch_ends.append(int((start + elapsed) * 1000))
    return int(start * 1000), int(end * 1000), epoch_ends


def model_run(results_dir, model_dir, fields, train, current):
    """What MLflow records of one model folder: {name, params, metrics, tags,
    status, start, end, artifacts}; `train` its training settings, `current`
    the (settings, dropout, seed) the config uses; a damaged kept file raises
    DamagedFileError."""
    key, dropout, seed = fields["settings"], fields["dropout"], fields["seed"]
    status = model_status(model_dir)
    if status == "damaged":
        raise damage(model_dir)
    history = read_model_file(model_dir, "history.csv") or []
    metrics = read_model_file(model_dir, "metrics.json") or {}
    info = read_model_file(model_dir, "train_info.json") or {}
    # A damaged settings.yaml stops the export too; a missing one is not made yet.
    described = settings_file(results_dir, fields)
    described = read_yaml(described) if described.is_file() else {}
    environment = info.get("environment") or metrics.get("training_environment") or {}
    start, end, epoch_ends = run_times(model_dir, history)

    series = [
        Metric(name, row[name], epoch_end, row["epoch"])
        for row, epoch_end in zip(history, epoch_ends)
        for name in row
        if name != "epoch"
    ]
    if history:
        outcome = summary_row(
            key,
            {},
            dropout,
            seed,
            history,
            {"test_loss": metrics.get("test_loss"), "test_accuracy": metrics.get("test_accuracy")},
            train.get("early_stopping"),
        )
        # The summary's columns after settings, dropout and seed: epochs, best and tested epoch, test metrics.
        series += [Metric(name, outcome[name], end, 0) for name in SUMMARY_COLUMNS[3:] if outcome[name] is not None]

    params = {
        **flatten(train),
        "dropout": str(dropout),
        "seed": str(seed),
        "settings": key,
        "code_version": code_version_text(environment),
    }
    if "code" in described:
        params["code_digest"] = described["code"]["digest"]
    if "data" in described:
        params["dataset"] = settings_key(described["data"])
    tags = {
        "current": "yes" if (key, dropout, seed) in current else "no",
        "status": status,
        "model_path": str((model_dir / "model.keras").resolve()),
        **flatten({name: value for name, value in environment.items() if name != "code"}, "environment."),
        "mlflow.source.name": f"scripts/{TRAINING_SCRIPT}",
        "mlflow.source.type": "LOCAL",
    }
    commit = (environment.get("code") or {}).get("git_commit", "")
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        tags["mlflow.source.git.commit"] = commit
    artifacts = [model_dir / name for name in MODEL_ARTIFACTS] + [settings_file(results_dir, fields)]
    return {
        "name": f"{key}/p{dropout_label(dropout)}/seed{seed}",
        "params": params,
        "metrics": series,
        "tags": tags,
        "status": RUN_STATUS[status],
        "start": start,
        "end": end,
        "artifacts": [path for path in artifacts if path.is_file()],
    }


def export(results_dir, store, artifacts, current):
    """Every model folder under `results_dir` as one run of the experiment
    EXPERIMENT in a new SQLite store at `store` (replacing any), its small files
    under the folder `artifacts`; `current`: the (settings, dropout, seed) the
    config uses."""
    current = {(key, float(dropout), int(seed)) for key, dropout, seed in current}
    shutil.rmtree(artifacts, ignore_errors=True)
    folders = model_dirs(results_dir)
    trained_with = training_settings(results_dir, folders)
    with atomic_output(store) as temporary:
        client = MlflowClient(tracking_uri=f"sqlite:///{Path(temporary).resolve()}")
        experiment = client.create_experiment(
            EXPERIMENT,
            artifact_location=Path(artifacts).resolve().as_uri(),
            tags={"mlflow.note.content": DESCRIPTION},
        )
        # Every new store has a "Default" experiment: deleted, the UI shows only the study's.
        client.delete_experiment(client.get_experiment_by_name("Default").experiment_id)
        for model_dir, fields in folders:
            run = model_run(results_dir, model_dir, fields, trained_with.get(fields["settings"], {}), current)
            created = client.create_run(experiment, start_time=run["start"], run_name=run["name"])
            run_id = created.info.run_id
            client.log_batch(
                run_id,
                metrics=run["metrics"],
                params=[Param(name, value) for name, value in run["params"].items()],
                tags=[RunTag(name, value) for name, value in run["tags"].items()],
            )
            for path in run["artifacts"]:
                client.log_artifact(run_id, str(path))
            client.set_terminated(run_id, status=run["status"], end_time=run["end"])
            print(f"{run['name']}: {run['status'].lower()}, current: {run['tags']['current']}")
