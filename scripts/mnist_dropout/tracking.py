"""Every model kept under results/models as one run of an MLflow tracking store
in SQLite, to compare them in MLflow's UI. The store is a view rebuilt from the
kept files on every export, never a record of its own; training never imports
MLflow."""

import itertools
import re
import shutil
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from .jobs import atomic_output
from .kept import model_dirs, model_record
from .settings import TRAINING_SCRIPT, dropout_label, settings_key
from .tables import SUMMARY_COLUMNS, setting_text, summary_row

EXPERIMENT = "mnist-dropout"
DESCRIPTION = (
    "Every model kept under results/models, one run each, exported by "
    "`snakemake --cores 1 results/mlflow/mlflow.db` and rebuilt on every export. "
    "Filter `tags.current = 'yes'` for the models the config of the export uses."
)
# Copied as artifacts (model.keras is named by the tag model_path).
ARTIFACTS = ("metrics.json", "train_info.json", "settings.yaml")
# By the folder's status: one without test metrics is an interrupted job's.
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


def model_run(record, current):
    """What MLflow records of a kept.model_record: {name, params, metrics, tags,
    status, start, end, artifacts}; `current`: the (settings, dropout, seed) in
    use. A damaged kept file raises its DamagedFileError."""
    if record["damage"]:
        raise record["damage"]
    key, dropout, seed, train = record["settings"], record["dropout"], record["seed"], record["train"]
    history, metrics, described = record["history.csv"], record["metrics.json"], record["settings.yaml"]
    environment = record["train_info.json"].get("environment", {})
    # The job's recorded times; a folder without them (an earlier version's) has its files'.
    end = max(path.stat().st_mtime for path in [record["path"], *record["path"].iterdir()])
    start, end = record["times"] or (end - sum(row["seconds"] for row in history), end)
    start, end = int(start * 1000), int(end * 1000)
    elapsed = itertools.accumulate(row["seconds"] for row in history)
    series = [
        Metric(name, row[name], start + int(seconds * 1000), row["epoch"])
        for row, seconds in zip(history, elapsed)
        for name in row
        if name != "epoch"
    ]
    if history:
        tested = {"test_loss": metrics.get("test_loss"), "test_accuracy": metrics.get("test_accuracy")}
        outcome = summary_row(key, {}, dropout, seed, history, tested, train.get("early_stopping"))
        # The summary's columns after settings, dropout and seed: epochs, best and tested epoch, test metrics.
        series += [Metric(name, outcome[name], end, 0) for name in SUMMARY_COLUMNS[3:] if outcome[name] is not None]
    params = {
        **flatten(train),
        "dropout": str(dropout),
        "seed": str(seed),
        "settings": key,
        "code_version": record["code"],
    }
    if described:
        params |= {"code_digest": described["code"]["digest"], "dataset": settings_key(described["data"])}
    tags = {
        "current": "yes" if (key, dropout, seed) in current else "no",
        "status": record["status"],
        "model_path": str((record["path"] / "model.keras").resolve()),
        **flatten({name: value for name, value in environment.items() if name != "code"}, "environment."),
        "mlflow.source.name": f"scripts/{TRAINING_SCRIPT}",
        "mlflow.source.type": "LOCAL",
    }
    commit = environment.get("code", {}).get("git_commit", "")
    if re.fullmatch(r"[0-9a-f]{40}", commit):
        tags["mlflow.source.git.commit"] = commit
    return {
        "name": f"{key}/p{dropout_label(dropout)}/seed{seed}",
        "params": params,
        "metrics": series,
        "tags": tags,
        "status": RUN_STATUS[record["status"]],
        "start": start,
        "end": end,
        "artifacts": [record["paths"][name] for name in ARTIFACTS if record[name]],
    }


def export(results_dir, store, artifacts, current):
    """Every model folder under `results_dir` as one run of EXPERIMENT in a new
    SQLite `store`, small files under `artifacts`; `current` as in model_run."""
    current = {(key, float(dropout), int(seed)) for key, dropout, seed in current}
    shutil.rmtree(artifacts, ignore_errors=True)
    with atomic_output(store) as temporary:
        client = MlflowClient(tracking_uri=f"sqlite:///{Path(temporary).resolve()}")
        experiment = client.create_experiment(
            EXPERIMENT,
            artifact_location=Path(artifacts).resolve().as_uri(),
            tags={"mlflow.note.content": DESCRIPTION},
        )
        # Every new store has a "Default" experiment: deleted, the UI shows only the study's.
        client.delete_experiment(client.get_experiment_by_name("Default").experiment_id)
        for folder in model_dirs(results_dir):
            run = model_run(model_record(*folder), current)
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
