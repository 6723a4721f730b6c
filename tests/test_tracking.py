"""The MLflow export (rule export_mlflow): every kept model one run whose values
are those of the model's own files, read back with MLflow's client and seen in
its real UI; rebuilt, not appended to, on every export; rerun exactly when the
kept models or the config change; without MLflow, one line."""

import csv
import os
import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import CHROMIUM, planned_jobs, snakemake
from mnist_dropout.kept import read_csv, read_json
from mnist_dropout.kept import model_dirs
from mnist_dropout.settings import dropout_label
from mnist_dropout.tracking import EXPERIMENT

pytestmark = pytest.mark.workflow

STORE = "results/mlflow/mlflow.db"
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


# The export runs offline, like the workflow (scripts/export_mlflow.py); so do these reads.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def exported(two_settings, tmp_path_factory):
    """The subset run's models, those of a second learning rate and two folders
    an interrupted run left in its settings folder (a model trained but not
    evaluated, an empty folder), exported with the first config current:
    (workdir, first configs, second configs). The tests below change it, in
    file order."""
    source, configs, second = two_settings
    workdir = tmp_path_factory.mktemp("tracking") / "copy"
    shutil.copytree(source, workdir)
    snakemake(workdir, "--cores", "1", STORE, configs=second)
    # The tables and figures of the first config, as the run left them.
    snakemake(workdir, "--cores", "1", configs=configs)
    (other,) = {fields["settings"] for _, fields in model_dirs(workdir / "results")} - current_settings(workdir)
    models = workdir / "results" / "models" / other
    # Copied without its files' times (no `cp -p`).
    shutil.copytree(models / "p0.5" / "seed0", models / "p0.5" / "seed1", copy_function=shutil.copyfile)
    for name in ("metrics.json", "predictions.npz"):
        (models / "p0.5" / "seed1" / name).unlink()
    (models / "p0.7" / "seed0").mkdir(parents=True)
    snakemake(workdir, "--cores", "1", STORE, configs=configs)
    return workdir, configs, second


def current_settings(workdir):
    """The settings keys of the summary, made by the first config."""
    return {row["settings"] for row in read_csv(workdir / "results/summary.csv")}


def exported_runs(workdir, copies):
    """(client, {run name: mlflow Run}) of the store under `workdir`, by MLflow's
    search. Read from a copy in the folder `copies`: MLflow's client keeps a
    connection open per store path, which would go on reading an export since replaced."""
    copy = Path(copies) / f"mlflow-{len(list(Path(copies).glob('mlflow-*.db')))}.db"
    shutil.copyfile(workdir / STORE, copy)
    mlflow.set_tracking_uri(f"sqlite:///{copy}")
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT], output_format="list", max_results=1000)
    names = [found.info.run_name for found in runs]
    assert len(names) == len(set(names)), f"duplicate runs: {sorted(names)}"
    return MlflowClient(tracking_uri=f"sqlite:///{copy}"), {found.info.run_name: found for found in runs}


def run_name(fields):
    return f"{fields['settings']}/p{dropout_label(fields['dropout'])}/seed{fields['seed']}"


def epoch_series(client, found, name):
    return sorted((point.step, point.value) for point in client.get_metric_history(found.info.run_id, name))


def test_every_kept_model_is_one_run_with_the_values_of_its_files(exported, tmp_path):
    workdir, configs, _ = exported
    results = workdir / "results"
    folders = model_dirs(results)
    client, runs = exported_runs(workdir, tmp_path)
    assert [experiment.name for experiment in client.search_experiments()] == [EXPERIMENT]
    assert len(folders) == 8 and sorted(runs) == sorted(run_name(fields) for _, fields in folders)
    summary = {(row["settings"], row["dropout"], row["seed"]): row for row in read_csv(results / "summary.csv")}
    (dataset,) = [path.name for path in (results / "data" / "mnist").iterdir()]
    statuses, learning_rates = [], set()
    for model_dir, fields in folders:
        found = runs[run_name(fields)]
        key = (fields["settings"], fields["dropout"], fields["seed"])
        described = yaml.safe_load((results / "models" / fields["settings"] / "settings.yaml").read_text())
        params, tags = found.data.params, found.data.tags
        statuses.append((found.info.status, tags["status"]))
        # Identity and settings, for every folder (an empty one included).
        assert (params["dropout"], params["seed"], params["settings"]) == tuple(map(str, key[1:])) + (key[0],)
        assert params["learning_rate"] == str(described["train"]["learning_rate"])
        assert params["hidden_units"] == "[512, 512]" and params["early_stopping.monitor"] == "val_loss"
        assert params["backend"] == described["train"]["backend"] and params["dataset"] == dataset
        assert params["code_digest"] == described["code"]["digest"]
        # Training runs none of the export's code: MLflow leaves settings keys alone.
        assert not {"mnist_dropout/tracking.py", "mnist_dropout/runs.py"} & set(described["code"]["files"])
        assert tags["current"] == ("yes" if key in summary else "no")
        assert tags["model_path"] == str((model_dir / "model.keras").resolve())
        learning_rates.add(described["train"]["learning_rate"])
        if not (model_dir / "history.csv").exists():
            assert found.data.metrics == {}
            assert [item.path for item in client.list_artifacts(found.info.run_id)] == ["settings.yaml"]
            continue
        # The per-epoch series, step = epoch.
        history, info = read_csv(model_dir / "history.csv"), read_json(model_dir / "train_info.json")
        for name in EPOCH_METRICS:
            assert epoch_series(client, found, name) == [(row["epoch"], row[name]) for row in history], name
        assert params["code_version"].startswith(info["environment"]["code"]["git_commit"][:12])
        artifacts = sorted(item.path for item in client.list_artifacts(found.info.run_id))
        if not (model_dir / "metrics.json").exists():
            assert "test_accuracy" not in found.data.metrics and "metrics.json" not in artifacts
            continue
        # Test metrics as the model's own files and the summary give them.
        metrics = read_json(model_dir / "metrics.json")
        assert found.data.metrics["test_accuracy"] == metrics["test_accuracy"]
        assert found.data.metrics["test_loss"] == metrics["test_loss"]
        if key in summary:
            for name in ("best_epoch", "best_val_accuracy", "tested_epoch", "test_accuracy"):
                assert found.data.metrics[name] == summary[key][name], name
        # Times within the training job's, as Snakemake's benchmark of it
        # records them (its wall seconds, written when the job ended).
        label = f"p{dropout_label(fields['dropout'])}_seed{fields['seed']}"
        benchmark = results / "benchmarks" / "train" / fields["settings"] / f"{label}.tsv"
        job_end = benchmark.stat().st_mtime
        job_start = job_end - benchmark_seconds(benchmark)
        assert job_start - 1 <= found.info.start_time / 1000 < found.info.end_time / 1000 <= job_end + 1
        # Small files as artifacts, model.keras by its path.
        assert artifacts == ["metrics.json", "settings.yaml", "train_info.json"]
        copy = client.download_artifacts(found.info.run_id, "settings.yaml", str(tmp_path))
        assert Path(copy).read_bytes() == (model_dir.parent.parent / "settings.yaml").read_bytes()
    assert learning_rates == {0.001, 0.0005}
    # The times are those the job recorded, not the files': the copy has its original's.
    (other,) = {fields["settings"] for _, fields in folders} - current_settings(workdir)
    copy, original = (runs[f"{other}/p0.5/seed{seed}"].info for seed in (1, 0))
    assert (copy.start_time, copy.end_time) == (original.start_time, original.end_time)
    assert sorted(statuses).count(("FINISHED", "evaluated")) == 6
    assert sorted(status for status in statuses if status[0] != "FINISHED") == [
        ("KILLED", "incomplete"),
        ("KILLED", "trained"),
    ]
    assert sum(found.data.tags["current"] == "yes" for found in runs.values()) == 3


def benchmark_seconds(path):
    """The wall seconds a Snakemake benchmark file (tab-separated) records."""
    with open(path, newline="") as stream:
        return float(next(csv.DictReader(stream, delimiter="\t"))["s"])


def test_exporting_again_rebuilds_the_same_runs(exported, tmp_path):
    workdir, configs, _ = exported
    _, before = exported_runs(workdir, tmp_path)
    snakemake(workdir, "--cores", "1", "--forcerun", "export_mlflow", "--", STORE, configs=configs)
    _, after = exported_runs(workdir, tmp_path)
    assert sorted(after) == sorted(before)
    for name, found in after.items():
        assert found.info.run_id != before[name].info.run_id  # a new store, not appended to
        assert found.data.metrics == before[name].data.metrics
        assert found.data.params == before[name].data.params
        assert (found.info.start_time, found.info.end_time) == (
            before[name].info.start_time,
            before[name].info.end_time,
        )


def test_the_export_reruns_when_the_kept_models_or_the_config_change(exported, tmp_path):
    workdir, configs, second = exported
    assert planned_jobs(workdir, configs, STORE) == {}
    # The other config's models tagged current instead: a new export, no training.
    assert planned_jobs(workdir, second, STORE) == {"export_mlflow": 1}
    # A kept model the config does not use deleted: a new export, without it.
    unused = [
        path for path, fields in model_dirs(workdir / "results") if fields["settings"] not in current_settings(workdir)
    ]
    shutil.rmtree(unused[0])
    assert planned_jobs(workdir, configs, STORE) == {"export_mlflow": 1}
    snakemake(workdir, "--cores", "1", STORE, configs=configs)
    assert len(exported_runs(workdir, tmp_path)[1]) == len(model_dirs(workdir / "results")) == 7


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_mlflow_ui_lists_and_compares_the_runs_and_shows_a_new_export(exported, tmp_path):
    from playwright.sync_api import expect

    from mlflow_ui import browser_page, experiment_runs, mlflow_ui, open_comparison, open_experiment

    workdir, configs, _ = exported

    def kept_names():
        return sorted(run_name(fields) for _, fields in model_dirs(workdir / "results"))

    names = kept_names()
    # A connection per request (docs/tracking.md): the UI reads each new export, not the file it replaced.
    live = {"MLFLOW_SQLALCHEMYSTORE_POOLCLASS": "NullPool"}
    with mlflow_ui(workdir / STORE, tmp_path / "mlflow_ui.log", live) as url, browser_page() as page:
        experiment_id, runs = experiment_runs(url)
        assert sorted(found["info"]["run_name"] for found in runs) == names
        open_experiment(page, url, experiment_id)
        page.get_by_text(f"{len(names)} matching runs").wait_for(timeout=60_000)
        for found in runs:
            link = page.get_by_role("link", name=found["info"]["run_name"], exact=True)
            link.wait_for(timeout=60_000)
            assert link.get_attribute("href") == f"#/experiments/{experiment_id}/runs/{found['info']['run_id']}"
        open_comparison(page, url, experiment_id, [found["info"]["run_id"] for found in runs])
        page.get_by_text(f"Comparing {len(names)} Runs from 1 Experiment").wait_for()
        axes = page.locator(".js-plotly-plot .parcoords text.axis-title")
        expect(axes).to_have_text(["learning_rate", "dropout", "test_accuracy"])
        # Exported anew while the UI runs (a kept model deleted): shown on reload.
        current = {row["settings"] for row in read_csv(workdir / "results/summary.csv")}
        shutil.rmtree(
            next(path for path, fields in model_dirs(workdir / "results") if fields["settings"] not in current)
        )
        snakemake(workdir, "--cores", "1", STORE, configs=configs)
        experiment_id, runs = experiment_runs(url)
        assert sorted(found["info"]["run_name"] for found in runs) == kept_names() != names
        open_experiment(page, url, experiment_id)
        page.get_by_text(f"{len(runs)} matching runs").wait_for(timeout=60_000)


def test_without_mlflow_the_export_names_the_pip_install(exported, tmp_path):
    workdir, configs, _ = exported
    # An environment without MLflow: importing it fails as when it is not installed.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoMlflow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'mlflow':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoMlflow())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = snakemake(
        workdir, "--cores", "1", "--forcerun", "export_mlflow", "--", STORE, configs=configs, env=env, check=False
    )
    message = "ERROR: MLflow is not installed: pip install -r requirements-tracking.txt"
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert (workdir / "results/logs/export_mlflow.log").read_text().splitlines() == [message]
    assert planned_jobs(workdir, configs) == {}  # the models and figures untouched


def test_a_damaged_kept_model_stops_the_export_naming_it(exported, tmp_path):
    workdir, configs, _ = exported
    (damaged, fields), *_ = [(path, fields) for path, fields in model_dirs(workdir / "results") if fields["seed"] == 1]
    (damaged / "model.keras").write_bytes(b"cut short")
    # The damaged file changed the kept models' state: the export reruns by itself.
    result = snakemake(workdir, "--cores", "1", STORE, configs=configs, check=False)
    path = (damaged / "model.keras").relative_to(workdir)
    fix = f"(a model of the current config), or delete {damaged.relative_to(workdir)}"
    (line,) = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert line.startswith(f"ERROR: {path}: unreadable, or not what the workflow wrote (") and line.endswith(fix)
    shutil.rmtree(damaged)
    snakemake(workdir, "--cores", "1", STORE, configs=configs)
    assert run_name(fields) not in exported_runs(workdir, tmp_path)[1]
