"""End to end: the real workflow through `snakemake` on the shipped MNIST subset
(2,000 training and 500 test images), then what a config change reruns."""

import ast
import base64
import contextlib
import csv
import datetime
import hashlib
import itertools
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import CONFIGS, REPO, RUN_CPUS, SUBSET, dataset_files, planned_jobs, snakemake, write_yaml
from mnist_dropout.figures import failure_indices
from mnist_dropout.paths import figure_paths
from mnist_dropout import runs
from mnist_dropout.runs import current_runs, list_runs
from mnist_dropout.config import load_config

pytestmark = pytest.mark.workflow

DROPOUTS = [0.0, 0.3, 0.5]


def read_summary(workdir):
    with open(workdir / "results" / "summary.csv") as stream:
        return list(csv.DictReader(stream))


def settings_of(workdir):
    """The settings folder of the run in `workdir`, as its summary names it."""
    (settings,) = {row["settings"] for row in read_summary(workdir)}
    return settings


def model_dir(workdir, p, seed=0):
    return workdir / "results" / "models" / settings_of(workdir) / f"p{p}" / f"seed{seed}"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_downloads_are_the_verified_subset(run):
    workdir, _ = run
    expected = yaml.safe_load((CONFIGS / "subset_sha256.yaml").read_text())["data"]["sha256"]
    for name, digest in expected.items():
        assert hashlib.sha256((workdir / "results" / "data" / "raw" / name).read_bytes()).hexdigest() == digest
    data = {name: np.load(path, allow_pickle=False) for name, path in dataset_files(workdir).items()}
    assert data["x_train"].shape == (2000, 784) and data["x_train"].dtype == np.float32
    assert data["x_test"].shape == (500, 784) and 0 <= data["x_test"].min() and data["x_test"].max() == 1
    assert data["y_train"].shape == (2000,) and sorted(set(data["y_test"].tolist())) == list(range(10))


def test_summary_has_one_plausible_row_per_model(run):
    workdir, _ = run
    rows = read_summary(workdir)
    assert [(float(r["dropout"]), int(r["seed"])) for r in rows] == [(p, 0) for p in DROPOUTS]
    for row in rows:
        # 1,800 training images for at most 8 epochs: far from 98%, far above chance
        # (seeds 0-4 of this sweep span 0.75-0.92 in accuracy, 0.28-0.80 in loss).
        assert 0.80 <= float(row["test_accuracy"]) <= 0.97, row
        assert 0.1 <= float(row["test_loss"]) <= 0.9, row
        assert 1 <= int(row["epochs"]) <= 8 and int(row["best_epoch"]) <= int(row["epochs"])
        assert row["tested_epoch"] == row["epochs"]  # the last epoch's weights, as the original
    markdown = (workdir / "results" / "summary.md").read_text()
    assert "## Which p is best, and how sure\n\nBest test accuracy: p = " in markdown
    assert "With one seed per p no uncertainty can be given" in markdown
    for row in rows:
        assert f"| {float(row['test_accuracy']):.4f} |" in markdown


def test_each_model_is_specified_trained_and_checked(run):
    workdir, _ = run
    for p in DROPOUTS:
        model = model_dir(workdir, p)
        info = json.loads((model / "train_info.json").read_text())
        assert info["parameters"] == 669_706
        assert info["environment"]["seed"] == 0 and info["environment"]["threads"] == 1
        with open(model / "history.csv") as stream:
            history = list(csv.DictReader(stream))
        assert len(history) == info["epochs_run"]
        metrics = json.loads((model / "metrics.json").read_text())
        environment = metrics["training_environment"]
        # The default backend: each job on a CPU of its own, no TensorFlow loaded,
        # full float32 matrix products.
        assert environment["backend"] == "jax" and environment["seed"] == 0 and environment["threads"] == 1
        assert len(environment["cpus"]) == 1 and "tensorflow" not in environment
        assert environment["matmul_precision"] == "highest"
        matrix = np.array(metrics["confusion_matrix"])
        assert matrix.shape == (10, 10) and matrix.sum() == 500
        # Keras' evaluate() and the saved predictions agree on accuracy.
        assert np.trace(matrix) / 500 == pytest.approx(metrics["test_accuracy"], abs=1e-6)
        benchmark = workdir / "results" / "benchmarks" / "train" / settings_of(workdir) / f"p{p}_seed0.tsv"
        benchmark = benchmark.read_text().splitlines()
        assert benchmark[0].startswith("s\t") and float(benchmark[1].split("\t")[0]) > 0
    # Compiled steps were cached for the jobs after the first.
    assert len(list((workdir / ".cache" / "jax").iterdir())) >= 5


# Loads a saved model where no part of this repository is on the path (but
# the Python environment, which may live in it) nor importable, predicts the
# stored test images, and prints the largest difference from the stored
# probabilities.
PLAIN_KERAS = """
import importlib.util, sys
sys.path[:] = [path for path in sys.path if not path.startswith({repo!r}) or path.startswith(sys.prefix)]
assert importlib.util.find_spec("mnist_dropout") is None
import json, keras, numpy as np
model = keras.saving.load_model("model.keras")
with np.load("predictions.npz", allow_pickle=False) as stored:
    difference = np.abs(model.predict(np.load("x_test.npy"), verbose=0) - stored["probabilities"]).max()
print("LOADED", json.dumps([keras.backend.backend(), [type(layer).__name__ for layer in model.layers], float(difference)]))
"""


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_saved_model_loads_with_plain_keras_and_predicts_the_stored_probabilities(run, tmp_path, backend):
    workdir, _ = run
    for name in ("model.keras", "predictions.npz"):
        shutil.copy(model_dir(workdir, 0.3) / name, tmp_path / name)
    shutil.copy(dataset_files(workdir)["x_test"], tmp_path / "x_test.npy")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", PLAIN_KERAS.format(repo=str(REPO))],
        cwd=tmp_path,
        env={**environment, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    loaded_backend, layers, difference = json.loads(line.removeprefix("LOADED "))
    assert loaded_backend == backend and layers == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert difference <= 1e-5


def test_no_two_training_jobs_compute_on_one_cpu(run):
    workdir, _ = run
    jobs = []
    for p in DROPOUTS:
        model = model_dir(workdir, p)
        environment = json.loads((model / "train_info.json").read_text())["environment"]
        benchmark = workdir / "results" / "benchmarks" / "train" / settings_of(workdir) / f"p{p}_seed0.tsv"
        seconds = float(benchmark.read_text().splitlines()[1].split("\t")[0])
        jobs.append(
            {
                "cpus": set(environment["cpus"]),
                "waited": environment["cpu_wait_seconds"],
                "started": benchmark.stat().st_mtime - seconds,
                "claimed": datetime.datetime.fromisoformat(environment["cpus_claimed_at"]).timestamp(),
                # The job's last write: it held its CPU until a moment later.
                "finished": (workdir / "results" / "logs" / "train" / settings_of(workdir) / f"p{p}_seed0.log")
                .stat()
                .st_mtime,
            }
        )
    # `--cores 4` started all three jobs at once on two CPUs...
    assert max(job["started"] for job in jobs) < min(job["finished"] for job in jobs)
    assert all(len(job["cpus"]) == 1 and job["cpus"] <= set(RUN_CPUS) for job in jobs)
    # ...so one waited for a CPU, and no two held one CPU at the same time.
    assert sorted(job["waited"] > 0.1 for job in jobs) == [False, False, True]
    for first, second in itertools.combinations(jobs, 2):
        if first["cpus"] & second["cpus"]:
            assert first["finished"] < second["claimed"] or second["finished"] < first["claimed"], (first, second)


def test_a_two_seed_study_on_tensorflow_gives_intervals_bars_and_the_lowest_seeds_failures(tmp_path, subset_configs):
    study = {"dropout": [0.5], "seeds": [0, 1], "train": {"backend": "tensorflow", "epochs": 3, "threads": 1}}
    configs = [*subset_configs, write_yaml(tmp_path / "study.yaml", {**study, "analysis": {"dropout": 0.5}})]
    result = snakemake(tmp_path, "--cores", "2", configs=configs)
    assert (
        re.findall(r"^\s*(?:local)?rule (\w+):", result.stdout + result.stderr, flags=re.MULTILINE).count(
            "train_and_evaluate"
        )
        == 2
    )
    rows = read_summary(tmp_path)
    assert [(float(r["dropout"]), int(r["seed"])) for r in rows] == [(0.5, 0), (0.5, 1)]
    for row in rows:
        # 1,800 training images for 3 epochs.
        assert 0.70 <= float(row["test_accuracy"]) <= 0.97, row
        metrics = json.loads(
            (model_dir(tmp_path, float(row["dropout"]), int(row["seed"])) / "metrics.json").read_text()
        )
        environment = metrics["training_environment"]
        assert environment["backend"] == "tensorflow" and environment["tensorflow"] == "2.21.0"
        assert environment["intra_op_threads"] == environment["inter_op_threads"] == 1
        assert environment["tensor_float_32"] is False and "onednn_opts" in environment
        assert environment["machine"]["cpu"]["model"] and "python" in environment["machine"]
        assert np.trace(metrics["confusion_matrix"]) / 500 == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    # p over its two seeds: the mean with its 95% interval, in summary.md and in the figure.
    accuracies = [float(r["test_accuracy"]) for r in rows]
    half = 12.706204736174707 * np.std(accuracies, ddof=1) / 2**0.5  # t(0.975, 1 degree of freedom)
    interval = f"{np.mean(accuracies) - half:.4f} to {np.mean(accuracies) + half:.4f}"
    markdown = (tmp_path / "results" / "summary.md").read_text()
    assert f"| 0.5 | 2 | {np.mean(accuracies):.4f} | " in markdown and f"| {interval} |" in markdown
    drawn = (tmp_path / "results" / "logs" / "plot_test_accuracy.log").read_text()
    assert f"drawn: p = 0.5, mean of 2 {np.mean(accuracies):.4f}, {interval}" in drawn
    # Precision and recall of p = 0.5 over both seeds (their min-max bars); the failures of seed 0.
    with open(tmp_path / "results" / "analysis" / "precision_recall.csv") as stream:
        table = list(csv.DictReader(stream))
    assert [(r["dropout"], r["seed"]) for r in table] == [("0.5", str(seed)) for seed in (0, 1) for _ in range(10)]
    assert "drawn: the mean over seeds [0, 1]" in (tmp_path / "results" / "logs" / "plot_fscore.log").read_text()
    assert ", p = 0.5, seed 0: test images [" in (tmp_path / "results" / "logs" / "plot_failures_8.log").read_text()


def test_figures_are_drawn(run):
    workdir, _ = run
    figures = figure_paths(8)
    # The figures the workflow draws are the list the tests and CI check (other
    # tests add failure figures of other digits to this run).
    drawn = {str(path.relative_to(workdir)) for path in (workdir / "results" / "figures").iterdir()}
    assert set(figures) <= drawn and all(name.startswith("results/figures/failure") for name in drawn - set(figures))
    for path in figures:
        width, height = png_size(workdir / path)
        assert width >= 600 and height >= 400, path


def test_analysis_uses_the_best_model_and_its_failures(run):
    workdir, _ = run
    rows = read_summary(workdir)
    best = max(rows, key=lambda r: (float(r["best_val_accuracy"]), -float(r["dropout"])))
    with open(workdir / "results" / "analysis" / "precision_recall.csv") as stream:
        table = list(csv.DictReader(stream))
    assert {float(r["dropout"]) for r in table} == {float(best["dropout"])}
    assert [int(r["digit"]) for r in table] == list(range(10))
    metrics = json.loads((model_dir(workdir, float(best["dropout"])) / "metrics.json").read_text())
    assert [float(r["recall"]) for r in table] == pytest.approx(metrics["recall"])
    with np.load(model_dir(workdir, float(best["dropout"])) / "predictions.npz") as predictions:
        expected = failure_indices(predictions["y_true"], predictions["y_pred"], 8).tolist()
    log = (workdir / "results" / "logs" / "plot_failures_8.log").read_text()
    assert f"test images {expected} misjudged" in log
    assert len(expected) >= 5


def test_rerun_without_changes_does_nothing(run):
    workdir, configs = run
    assert planned_jobs(workdir, configs) == {}


DOWNSTREAM = ["aggregate", "plot_curves", "plot_test_accuracy", "plot_fscore", "plot_failures", "all"]


def retrained(models):
    """The jobs after `models` new or changed models: their training and
    evaluation (one job each), then every aggregation and figure once."""
    return {**({"train_and_evaluate": models} if models else {}), **{rule: 1 for rule in DOWNSTREAM}}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"analysis": {"failure_digit": 3}}, {"plot_failures": 1, "all": 1}),
        ({"train": {"steps_per_execution": 16}}, {}),
        ({"train": {"threads": 2}}, {}),
        ({"analysis": {"dropout": 0.5}}, {"plot_fscore": 1, "plot_failures": 1, "all": 1}),
        ({"dropout": DROPOUTS + [0.2]}, retrained(1)),
        ({"seeds": [0, 1]}, retrained(3)),
        # New training settings: a new settings folder, its models and its description.
        ({"train": {"epochs": 9}}, {"describe_settings": 1, **retrained(3)}),
        ({"train": {"backend": "tensorflow"}}, {"describe_settings": 1, **retrained(3)}),
        ({"train": {"optimizer": "adam"}}, {"describe_settings": 1, **retrained(3)}),
        (
            {"train": {"early_stopping": {"monitor": "val_loss", "patience": 2, "restore_best_weights": True}}},
            {"describe_settings": 1, **retrained(3)},
        ),
        # A sweep of one value each is the config without it: nothing to redo.
        ({"sweep": {"learning_rate": [0.001], "hidden_units": [[512, 512]], "backend": ["jax"]}}, {}),
        ({"sweep": {"batch_size": [128, 64]}}, {"describe_settings": 1, **retrained(3)}),
        # Where the verified bytes come from is not what they are.
        ({"data": {"mirrors": [f"file://{SUBSET}"]}}, {}),
        ({"data": {"mirrors": ["http://127.0.0.1:9/mnist/", str(SUBSET)]}}, {}),
        ({"data": {"mirrors": [str(SUBSET), "https://example.org/mnist/"]}}, {}),
        # A checksum is what the bytes are: that file is fetched again, and what follows rerun.
        (
            {"data": {"sha256": {"t10k-labels-idx1-ubyte": "0" * 64}}},
            {"download": 1, "preprocess": 1, "describe_settings": 1, **retrained(3)},
        ),
    ],
    ids=[
        "failure_digit",
        "steps_per_execution",
        "threads",
        "analysis_dropout",
        "add_dropout",
        "add_seed",
        "epochs",
        "backend",
        "optimizer",
        "restore_best_weights",
        "one_value_sweep",
        "sweep_adds_a_value",
        "mirror_as_file_url",
        "mirror_added_before",
        "mirror_added_after",
        "sha256",
    ],
)
def test_config_change_reruns_exactly_what_it_affects(run, tmp_path, change, expected):
    workdir, configs = run
    assert planned_jobs(workdir, configs + [write_yaml(tmp_path / "change.yaml", change)]) == expected


def test_downloading_again_retrains_nothing(run, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir)
    raw = sorted((workdir / "results" / "data" / "raw").iterdir())
    for path in raw:
        path.unlink()
    # Nothing needs them until something reads them again.
    assert planned_jobs(workdir, configs) == {}
    snakemake(workdir, "--cores", "1", *(path.relative_to(workdir) for path in raw), configs=configs)
    # The same bytes, newer: the dataset is rebuilt in its folder; the models,
    # trained on that folder's content, are not (nor the failure figure:
    # Snakemake sees the test images' checksum unchanged).
    assert planned_jobs(workdir, configs) == {"preprocess": 1}


def test_settings_revisited_train_nothing_and_give_the_same_results(run, two_settings, tmp_path):
    source, configs = run
    first = settings_of(source)
    assert planned_jobs(source, two_settings[2]) == {"describe_settings": 1, **retrained(3)}
    # The run's folder after that plan ran (the fixture two_settings).
    workdir = tmp_path / "copy"
    shutil.copytree(two_settings[0], workdir)
    second = settings_of(workdir)
    assert second != first
    # Both sets of models are kept, each folder with what it was trained with.
    described = yaml.safe_load((workdir / "results" / "models" / second / "settings.yaml").read_text())
    assert described["train"]["learning_rate"] == 0.0005 and "threads" not in described["train"]
    assert len(list((workdir / "results" / "models").glob("*/p*/seed0/model.keras"))) == 2 * len(DROPOUTS)
    assert f"## Trained with settings {second}" in (workdir / "results" / "summary.md").read_text()
    # Back to the first settings: no training, and the same tables and figures, byte for byte.
    assert planned_jobs(workdir, configs) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs)
    for path in ["results/summary.csv", "results/summary.md", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path
    # Listing what is kept: both settings, with the setting in which they differ,
    # the code version, and which the current config and code use; a folder left
    # by a job killed before writing anything, and one of a settings folder
    # interrupted before its settings.yaml, listed too.
    (model_dir(workdir, 0.5) / "metrics.json").unlink()
    models = workdir / "results" / "models"
    (models / second / "p0.7" / "seed0").mkdir(parents=True)
    shutil.copytree(models / first / "p0.0" / "seed0", models / "0123456789ab" / "p0.0" / "seed0")
    kept = list_runs(workdir / "results", current_runs(load_config(configs)))
    expected = [
        (key, rate, p, status, key == first)
        for key, rate, ps in (
            ("0123456789ab", 0.001, [0.0]),
            (first, 0.001, DROPOUTS),
            (second, 0.0005, DROPOUTS + [0.7]),
        )
        for p in ps
        for status in ["incomplete" if p == 0.7 else "trained" if (key, p) == (first, 0.5) else "evaluated"]
    ]
    assert [(r["settings"], r["learning_rate"], r["dropout"], r["status"], r["current"]) for r in kept] == sorted(
        expected
    )
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert {row["code"].split()[0] for row in kept if row["status"] != "incomplete"} == {commit[:12]}
    accuracies = {float(row["dropout"]): float(row["test_accuracy"]) for row in read_summary(source)}
    assert {row["dropout"]: row["test_accuracy"] for row in kept if row["settings"] == first} == {
        **accuracies,
        0.5: None,
    }
    # Pruning deletes nothing unless confirmed, then exactly the models not in use.
    before = sorted(models.rglob("*"))
    runs.main(["--results", str(workdir / "results"), "--configfile", *map(str, configs), "--prune"])
    assert sorted(models.rglob("*")) == before
    runs.main(["--results", str(workdir / "results"), "--configfile", *map(str, configs), "--prune", "--yes"])
    assert sorted(path.name for path in models.iterdir()) == [first]
    assert [path for path in before if first in path.parts] == sorted(models.rglob("*"))


def test_a_grid_trains_exactly_its_new_cells(run, two_settings, tmp_path):
    source, configs = run
    first = settings_of(source)
    rates = {"learning_rate": [0.001, 0.0005]}
    with_rates = configs + [write_yaml(tmp_path / "rates.yaml", {"sweep": rates})]
    assert planned_jobs(source, with_rates) == {"describe_settings": 1, **retrained(3)}
    # Its models are those of train.learning_rate: 0.0005 (two_settings): sweeping trains nothing more.
    workdir = tmp_path / "copy"
    shutil.copytree(two_settings[0], workdir)
    models = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "models").rglob("model.keras")}
    assert planned_jobs(workdir, with_rates) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=with_rates)
    # A second setting: only the cells with the new width are trained.
    grid = configs + [write_yaml(tmp_path / "grid.yaml", {"sweep": {**rates, "hidden_units": [[512, 512], [64, 64]]}})]
    assert planned_jobs(workdir, grid) == {"describe_settings": 2, **retrained(6)}
    snakemake(workdir, "--cores", "2", configs=grid)
    assert {path: path.stat().st_mtime_ns for path in models} == models
    rows = read_summary(workdir)
    # Combinations in the order of the sweep as written (safe_dump sorts it: hidden_units first).
    assert [(row["hidden_units"], row["learning_rate"], float(row["dropout"])) for row in rows] == [
        (units, rate, p) for units in ("[512, 512]", "[64, 64]") for rate in ("0.001", "0.0005") for p in DROPOUTS
    ]
    for row in rows:
        described = yaml.safe_load((workdir / "results" / "models" / row["settings"] / "settings.yaml").read_text())
        assert [described["train"]["learning_rate"], described["train"]["hidden_units"]] == [
            float(row["learning_rate"]),
            json.loads(row["hidden_units"]),
        ]
        assert 0.6 < float(row["test_accuracy"]) <= 1
    # train: names the analysed combination: the first run's, with the same metrics.
    assert [{k: v for k, v in row.items() if k not in rates and k != "hidden_units"} for row in rows[:3]] == (
        read_summary(source)
    )
    assert (workdir / "results" / "analysis" / "precision_recall.csv").read_bytes() == (
        source / "results" / "analysis" / "precision_recall.csv"
    ).read_bytes()
    assert f"settings {first}, p = " in (workdir / "results" / "logs" / "plot_failures_8.log").read_text()
    assert len({row["settings"] for row in rows}) == 4 and len(list_runs(workdir / "results")) == 12
    # The key figure: one line per combination, each with its accuracies.
    assert png_size(workdir / "results" / "figures" / "test_acc_dropout.png") == (1080, 660)
    # The report holds the settings of every run shown.
    report = tmp_path / "report.html"
    snakemake(workdir, "--report", str(report), configs=grid)
    html = report.read_text()
    for key in {row["settings"] for row in rows}:
        described = (workdir / "results" / "models" / key / "settings.yaml").read_bytes()
        assert base64.b64encode(described).decode() in html, key
    # Without the sweep: nothing trains, and the tables and figures are the first run's.
    assert planned_jobs(workdir, configs) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs)
    for path in ["results/summary.csv", "results/summary.md", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path


def test_failure_digit_change_redraws_without_training(run, tmp_path):
    workdir, configs = run
    models = sorted((workdir / "results" / "models").rglob("*"))
    before = {path: path.stat().st_mtime_ns for path in models}
    change = write_yaml(tmp_path / "digit.yaml", {"analysis": {"failure_digit": 3}})
    result = snakemake(workdir, "--cores", "2", configs=configs + [change])
    assert sorted(set(re.findall(r"localrule (\w+):|^rule (\w+):", result.stderr, flags=re.MULTILINE))) == [
        ("all", ""),
        ("plot_failures", ""),
    ]
    assert png_size(workdir / "results" / "figures" / "failure3.png")[0] >= 600
    assert {path: path.stat().st_mtime_ns for path in models} == before


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """A second checkout of the workflow (not a git one), to edit: it shares the
    test's Python environment, where the package is installed from the first."""
    copy = tmp_path_factory.mktemp("code")
    for name in ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "report", "profiles", "envs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, copy / name)
    return copy


@contextlib.contextmanager
def edited(path, old, new):
    """`path` with `old` replaced by `new` (appended if `old` is empty), restored after."""
    original = path.read_text()
    assert old in original
    path.write_text(original.replace(old, new, 1) if old else original + new)
    try:
        yield
    finally:
        path.write_text(original)


def test_comment_docstring_and_layout_edits_of_every_module_plan_no_job(run, workflow_copy):
    workdir, configs = run
    assert planned_jobs(workdir, configs, workflow=workflow_copy) == {}
    scripts = workflow_copy / "scripts"
    originals = {path: path.read_text() for path in [*scripts.glob("*.py"), *scripts.glob("mnist_dropout/*.py")]}
    try:
        for path, source in originals.items():
            # Reformatted (ast.unparse lays it out anew, dropping comments),
            # docstrings reworded, a comment added.
            tree = ast.parse(source)
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                    if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                        body[0].value.value = "Reworded. " + body[0].value.value
            path.write_text("# edited\n" + ast.unparse(tree) + "\n")
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == {}
    finally:
        for path, source in originals.items():
            path.write_text(source)


# What an edit of what the code does reruns. A model's folder is named by the
# code that trains and evaluates it, and the dataset's by the preprocessing code:
# such edits train new models into new folders.
NEW_MODELS = {"describe_settings": 1, **retrained(3)}
CODE_CHANGES = {
    "mnist_dropout/figures.py": {rule: 1 for rule in DOWNSTREAM if rule != "aggregate"},
    "mnist_dropout/tables.py": retrained(0),
    "plot_fscore.py": {"plot_fscore": 1, "all": 1},
    "mnist_dropout/model.py": NEW_MODELS,
    "mnist_dropout/files.py": NEW_MODELS,
    "mnist_dropout/evaluation.py": NEW_MODELS,
    "train_and_evaluate.py": NEW_MODELS,
    "mnist_dropout/dataset.py": {"preprocess": 1, **NEW_MODELS},
    "mnist_dropout/idx.py": {"preprocess": 1, **NEW_MODELS},
    # The checksums pin what is downloaded: its code changes nothing.
    "mnist_dropout/mirrors.py": {},
    "download.py": {},
    "mnist_dropout/runs.py": {},
    "mnist_dropout/kept.py": {},
    # Read by the tables and figures alone: editing it redraws them, trains nothing.
    "mnist_dropout/reading.py": retrained(0),
    # The MLflow export is no part of the default target.
    "mnist_dropout/tracking.py": {},
    "export_mlflow.py": {},
}


@pytest.mark.parametrize("module", CODE_CHANGES)
def test_editing_what_code_does_reruns_exactly_the_jobs_that_run_it(run, workflow_copy, module):
    workdir, configs = run
    with edited(workflow_copy / "scripts" / module, "", "\nEDITED_BY_THE_TEST = True\n"):
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == CODE_CHANGES[module]


def test_a_code_edit_trains_into_a_new_folder_with_the_checkouts_own_code(run, workflow_copy, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir)
    first = settings_of(workdir)
    models = workdir / "results" / "models"
    kept = {path: path.read_bytes() for path in models.rglob("*") if path.is_file()}
    name = "keras.Sequential([keras.Input(shape=(input_dim,))]"
    with edited(workflow_copy / "scripts" / "mnist_dropout" / "model.py", name, name + ', name="edited_mlp"'):
        assert planned_jobs(workdir, configs, workflow=workflow_copy) == NEW_MODELS
        snakemake(workdir, "--cores", "2", configs=configs, workflow=workflow_copy)
    second = settings_of(workdir)
    assert second != first
    # The old models keep their bytes; the new ones were made by this checkout's
    # code, though the environment's package is the first checkout's.
    assert {path: path.read_bytes() for path in kept} == kept
    for p in DROPOUTS:
        for folder, made_here in ((model_dir(workdir, p), True), (model_dir(source, p), False)):
            with zipfile.ZipFile(folder / "model.keras") as archive:
                assert ("edited_mlp" in archive.read("config.json").decode()) == made_here, folder
            code = json.loads((folder / "train_info.json").read_text())["environment"]["code"]
            # The digest of the code that ran is the one its settings folder is named by.
            planned = yaml.safe_load((folder.parent.parent / "settings.yaml").read_text())["code"]["digest"]
            assert code["digest"] == planned
            if made_here:
                assert code == {"digest": planned, "git_commit": "not a git checkout"}
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", code["git_commit"]) and isinstance(
                    code["uncommitted_changes"], bool
                )
    described = {key: yaml.safe_load((models / key / "settings.yaml").read_text()) for key in (first, second)}
    assert described[first]["train"] == described[second]["train"]
    differing = {
        name
        for name, digest in described[first]["code"]["files"].items()
        if digest != described[second]["code"]["files"][name]
    }
    assert differing == {"mnist_dropout/model.py"}
    # The edit undone: the first models again, no training.
    assert planned_jobs(workdir, configs, workflow=workflow_copy) == retrained(0)
    snakemake(workdir, "--cores", "2", configs=configs, workflow=workflow_copy)
    assert settings_of(workdir) == first
    for path in ["results/summary.csv", *figure_paths(8)]:
        assert (workdir / path).read_bytes() == (source / path).read_bytes(), path


def test_an_import_the_code_digest_cannot_follow_stops_the_run(run, workflow_copy):
    workdir, configs = run
    script = workflow_copy / "scripts" / "plot_fscore.py"
    with edited(script, "import numpy as np\n", "import numpy as np\nimport mnist_dropout\n"):
        result = snakemake(workdir, "--dry-run", configs=configs, workflow=workflow_copy, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    (line,) = [line for line in output.splitlines() if "Cannot tell what code a job runs" in line]
    assert f"{script}:" in line and "`import mnist_dropout`: import the modules of mnist_dropout by name" in line


def test_a_diverged_model_fails_naming_it_and_nothing_runs_on_it(tmp_path, subset_configs):
    diverging = write_yaml(
        tmp_path / "diverging.yaml", {"dropout": [0.0], "train": {"epochs": 2, "learning_rate": 1e12}}
    )
    result = snakemake(tmp_path, "--cores", "2", configs=[*subset_configs, diverging], check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert errors and errors[0].startswith("ERROR: model p0.0 seed 0: ") and "not finite" in errors[0], errors
    assert not list((tmp_path / "results" / "models").glob("*/p0.0/seed0/model.keras"))
    assert not (tmp_path / "results" / "summary.csv").exists()


def job_process(log):
    """The process id of the job whose output goes to `log`, or None."""
    for fd in Path("/proc").glob("[0-9]*/fd/1"):
        try:
            if os.readlink(fd) == str(log):
                return int(fd.parts[2])
        except OSError:
            continue
    return None


def test_one_failed_model_does_not_stop_the_others(run, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir, ignore=shutil.ignore_patterns("figures", "benchmarks"))
    # Three new models long enough to catch one training; its process is killed
    # (a node lost, an out-of-memory kill) while the others train.
    longer = write_yaml(tmp_path / "longer.yaml", {"train": {"epochs": 60, "batch_size": 32, "early_stopping": None}})
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", "2", "--configfile", *map(str, configs + [longer])]
    snakemake_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and snakemake_process.poll() is None:
        for log in (workdir / "results" / "logs" / "train").glob("*/p0.3_seed0.log"):
            victim = victim or job_process(log.resolve())
        time.sleep(0.1)
    assert victim, "the p = 0.3 job was not caught"
    # Past its start-up, into its 60 epochs.
    time.sleep(4)
    os.kill(victim, signal.SIGKILL)
    _, stderr = snakemake_process.communicate(timeout=600)
    assert snakemake_process.returncode != 0
    assert re.search(r"Error in rule train_and_evaluate:.*?log: results/logs/train/\w+/p0\.3_seed0\.log", stderr, re.S)
    settings = {path.parent.parent.name for path in (workdir / "results" / "models").glob("*/p0.0/seed0")}
    (new,) = settings - {settings_of(source)}
    models = workdir / "results" / "models" / new
    for p in (0.0, 0.5):  # trained all the same (keep-going)
        assert json.loads((models / f"p{p}" / "seed0" / "metrics.json").read_text())["test_accuracy"] > 0.6
    assert not (models / "p0.3" / "seed0" / "metrics.json").exists()
    # The first settings' models are untouched.
    for p in DROPOUTS:
        assert (model_dir(workdir, p) / "metrics.json").read_bytes() == (
            model_dir(source, p) / "metrics.json"
        ).read_bytes()


def test_a_damaged_dataset_file_is_named(run, tmp_path):
    source, configs = run
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir, ignore=shutil.ignore_patterns("figures", "benchmarks"))
    (path,) = workdir.glob("results/data/mnist/*/x_test.npy")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    # A new seed trains on it; the models already trained are not touched.
    seeds = write_yaml(tmp_path / "seeds.yaml", {"seeds": [0, 1]})
    result = snakemake(workdir, "--cores", "2", configs=configs + [seeds], check=False)
    assert result.returncode != 0
    message = f"ERROR: {path.relative_to(workdir)}: damaged or not a preprocessed MNIST array"
    assert any(line.startswith(message) for line in result.stderr.splitlines()), result.stderr[-3000:]
    assert not list((workdir / "results" / "models").glob("*/p*/seed1/metrics.json"))
    for p in DROPOUTS:
        assert (model_dir(workdir, p) / "metrics.json").read_bytes() == (
            model_dir(source, p) / "metrics.json"
        ).read_bytes()
