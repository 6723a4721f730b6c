"""A run killed with SIGKILL mid-training resumes as the README says and gives
the same results as an uninterrupted run; a second snakemake is locked out."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import REPO, snakemake


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def without_seconds(history):
    """history.csv's rows without the last column, wall seconds."""
    return [line.rsplit(",", 1)[0] for line in history.splitlines()]


def training_in_progress(workdir):
    logs = (workdir / "results" / "logs" / "train").glob("*.log")
    return any("Epoch 3/" in log.read_text(errors="replace") for log in logs)


def test_sigkill_then_unlock_and_rerun_matches_an_uninterrupted_run(run, tmp_path):
    reference, configs = run
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "2",
        "--configfile",
        *map(str, configs),
    ]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: training_in_progress(tmp_path), 240, "training to start")

        # A second run in the same directory is refused by Snakemake's lock...
        second = snakemake(tmp_path, "--cores", "1", configs=configs, check=False)
        assert second.returncode != 0 and "Directory cannot be locked" in second.stderr
        # ...and the first one is unharmed.
        assert first.poll() is None
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert not (tmp_path / "results" / "summary.csv").exists()
    # Nothing half-written under a real output name: a model directory holds none
    # of a job's outputs or all of them, and then they are those of an
    # uninterrupted run (a short job may finish in the seconds before the kill).
    train_outputs, evaluate_outputs = {"model.keras", "history.csv", "train_info.json"}, {
        "metrics.json",
        "predictions.npz",
    }
    for model_dir in (tmp_path / "results" / "models").glob("p*/seed*"):
        present = {path.name for path in model_dir.iterdir() if not path.name.startswith(".")}
        assert present in (set(), train_outputs, train_outputs | evaluate_outputs), f"{model_dir}: {present}"
        if present:
            finished = reference / model_dir.relative_to(tmp_path)
            assert without_seconds((model_dir / "history.csv").read_text()) == without_seconds(
                (finished / "history.csv").read_text()
            )

    # As the README says: unlock, then run the same command again.
    snakemake(tmp_path, "--unlock", configs=configs)
    snakemake(tmp_path, "--cores", "2", configs=configs)

    for model_dir in sorted((reference / "results" / "models").glob("p*/seed*")):
        resumed = tmp_path / model_dir.relative_to(reference)
        for name in ("history.csv", "metrics.json"):
            expected = (model_dir / name).read_text()
            actual = (resumed / name).read_text()
            if name == "history.csv":
                expected, actual = without_seconds(expected), without_seconds(actual)
            assert actual == expected, f"{resumed / name} differs from an uninterrupted run"
        with np.load(model_dir / "predictions.npz") as a, np.load(resumed / "predictions.npz") as b:
            assert np.array_equal(a["probabilities"], b["probabilities"])
    assert (tmp_path / "results" / "summary.csv").read_text() == (reference / "results" / "summary.csv").read_text()
