"""A run killed with SIGKILL mid-training resumes as the README says, keeping
the models it finished, and gives the same results as an uninterrupted run; a
second snakemake is locked out."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, planned_jobs, snakemake, without_cpus, without_seconds

pytestmark = pytest.mark.workflow


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def finished_models(workdir):
    return [path.parent for path in (workdir / "results" / "models").glob("*/p*/seed*/metrics.json")]


def training_logs(workdir, epoch):
    """The training jobs' logs that reached `epoch`."""
    logs = (workdir / "results" / "logs" / "train").rglob("*.log")
    return [log for log in logs if f"Epoch {epoch}/" in log.read_text(errors="replace")]


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
        # One job at a time: one model finishes before the next starts.
        "--cores",
        "1",
        "--configfile",
        *map(str, configs),
    ]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: training_logs(tmp_path, 3), 240, "training to start")
        # A second run in the same directory (checked below)...
        second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # ...leaves the first one unharmed. It is killed once a model is
        # finished and the next one is training.
        wait_for(lambda: finished_models(tmp_path) and len(training_logs(tmp_path, 2)) >= 2, 240, "a model done")
        assert first.poll() is None
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # ...is refused by Snakemake's lock.
    _, refused = second.communicate(timeout=300)
    assert second.returncode != 0 and "Directory cannot be locked" in refused
    assert not (tmp_path / "results" / "summary.csv").exists()
    # Every output file is whole: written under a temporary name, then renamed. A
    # job killed between two renames leaves only some of its outputs; Snakemake
    # has marked them incomplete, and the rerun redoes the job (rerun-incomplete
    # in the workflow profile). A whole history is that of an uninterrupted run.
    histories = list((tmp_path / "results" / "models").glob("*/p*/seed*/history.csv"))
    assert histories  # the finished model's at least
    for history in histories:
        uninterrupted = reference / history.relative_to(tmp_path)
        assert without_seconds(history.read_text()) == without_seconds(uninterrupted.read_text())

    finished = finished_models(tmp_path)
    assert 1 <= len(finished) <= 2  # the kill came with a model still training
    kept = {path: path.stat().st_mtime_ns for model in finished for path in model.iterdir()}

    # As the README says: unlock, then run the same command again. The finished
    # model is kept as it is; the other two are trained.
    snakemake(tmp_path, "--unlock", configs=configs)
    assert planned_jobs(tmp_path, configs)["train_and_evaluate"] == 3 - len(finished)
    snakemake(tmp_path, "--cores", "2", configs=configs)
    assert {path: path.stat().st_mtime_ns for path in kept} == kept

    for model_dir in sorted((reference / "results" / "models").glob("*/p*/seed*")):
        resumed = tmp_path / model_dir.relative_to(reference)
        history = without_seconds((resumed / "history.csv").read_text())
        assert history == without_seconds((model_dir / "history.csv").read_text()), f"{resumed} history differs"
        assert without_cpus(resumed / "metrics.json") == without_cpus(model_dir / "metrics.json")
        with np.load(model_dir / "predictions.npz") as a, np.load(resumed / "predictions.npz") as b:
            assert np.array_equal(a["probabilities"], b["probabilities"])
    assert (tmp_path / "results" / "summary.csv").read_text() == (reference / "results" / "summary.csv").read_text()
    # Killed while training, before writing: no temporary file of theirs is left.
    assert not [path.name for path in (tmp_path / "results").rglob("*") if ".tmp" in path.name]
