"""End to end: the real workflow through `snakemake` on the shipped MNIST subset
(2,000 training and 500 test images): what it computes, records and draws, and
how a failed model or a damaged input stops it."""

import csv
import datetime
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import (
    CONFIGS,
    DROPOUTS,
    REPO,
    RUN_CPUS,
    dataset_files,
    model_dir,
    png_size,
    read_summary,
    settings_of,
    snakemake,
    write_yaml,
)
from mnist_dropout.figures import failure_indices
from mnist_dropout.paths import figure_paths

pytestmark = pytest.mark.workflow


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
    # The figures the workflow draws are the list the tests and CI check.
    assert {str(path.relative_to(workdir)) for path in (workdir / "results" / "figures").iterdir()} == set(figures)
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
    first = settings_of(source)
    workdir = tmp_path / "copy"
    shutil.copytree(source, workdir, ignore=shutil.ignore_patterns("figures", "benchmarks"))
    # Three new models, two at a time; the first to reach its third of 30
    # epochs has its process killed (a node lost, an out-of-memory kill).
    longer = write_yaml(tmp_path / "longer.yaml", {"train": {"epochs": 30, "early_stopping": None}})
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", "2", "--configfile", *map(str, configs + [longer])]
    snakemake_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and snakemake_process.poll() is None:
        started = [log for log in (workdir / "results" / "logs" / "train").glob("*/p*.log") if log.parent.name != first]
        for log in started:
            pid = job_process(log.resolve()) if "Epoch 3/" in log.read_text(errors="replace") else None
            victim = (log, pid) if pid else victim
        time.sleep(0.1)
    assert victim, "no training job was caught"
    # The third model has not started: it trains only if the run keeps going.
    assert len(started) == 2, started
    victim, pid = victim
    os.kill(pid, signal.SIGKILL)
    _, stderr = snakemake_process.communicate(timeout=600)
    killed = victim.name.split("_")[0]  # p0.3_seed0.log: p0.3
    assert snakemake_process.returncode != 0
    assert re.search(
        rf"Error in rule train_and_evaluate:.*?log: results/logs/train/\w+/{re.escape(killed)}_seed0\.log", stderr, re.S
    )
    models = workdir / "results" / "models" / victim.parent.name
    for p in DROPOUTS:
        metrics = models / f"p{p}" / "seed0" / "metrics.json"
        if f"p{p}" == killed:
            assert not metrics.exists()
        else:  # trained all the same (keep-going)
            assert json.loads(metrics.read_text())["test_accuracy"] > 0.6
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
