"""Faults of the machine and of kept files (docs/reliability.md): the run stops
with one `ERROR:` line naming the path, the cause and the fix, never a
traceback; no other kept file changes; the rerun after the fix trains exactly
the lost model and gives the undisturbed run's results."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from conftest import REPO, planned_jobs, snakemake, without_cpus, without_seconds
from mnist_dropout.runs import list_runs

pytestmark = pytest.mark.workflow

# The model each test makes the run lose, and the rerun retrains.
LOST = "p0.3/seed0"
# What the run computed that a failed job leaves alone: Snakemake deletes the
# outputs of the jobs that failed (here tables and figures), which the rerun remakes.
KEPT = ("models", "data")


def kept_digests(workdir, skip=None):
    """{path: SHA-256} of every kept file under results/ but those under `skip`."""
    digests = {}
    for name in KEPT:
        top = workdir / "results" / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if path.is_file() and not (skip and path.is_relative_to(skip)):
                digests[path.relative_to(workdir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def comparable(workdir, model_dir):
    """What the model computed: predictions, metrics and history less when and
    where the job ran; and the summary."""
    with np.load(model_dir / "predictions.npz", allow_pickle=False) as stored:
        predictions = {name: stored[name].tobytes() for name in stored}
    history = without_seconds((model_dir / "history.csv").read_text())
    summary = (workdir / "results/summary.csv").read_text()
    return without_cpus(model_dir / "metrics.json"), predictions, history, summary


def the_lost_model(workdir):
    (model_dir,) = (workdir / "results" / "models").glob(f"*/{LOST}")
    return model_dir


def error_lines(output):
    assert "Traceback" not in output, output
    return re.findall(r"^ERROR: .*$", output, flags=re.MULTILINE)


def rerun_trains_the_lost_model_only(reference, workdir, configs, *args):
    assert planned_jobs(workdir, configs, *args)["train_and_evaluate"] == 1
    snakemake(workdir, "--cores", "2", *args, configs=configs)
    assert kept_digests(workdir, the_lost_model(workdir)) == kept_digests(reference, the_lost_model(reference))
    assert comparable(workdir, the_lost_model(workdir)) == comparable(reference, the_lost_model(reference))


@pytest.fixture
def copied_run(run, tmp_path):
    """A copy of the shared subset run to damage: (reference, copy, configs)."""
    reference, configs = run
    workdir = tmp_path / "run"
    shutil.copytree(reference, workdir, symlinks=True)
    return reference, workdir, configs


@contextmanager
def results_on_tmpfs(workdir, room):
    """The copy's results/ moved onto a tmpfs with `room` bytes free; yields
    the mount point, unmounted afterwards."""
    results = workdir / "results"
    kept = results.rename(workdir / "kept")
    used = sum(-(-path.stat().st_size // 4096) * 4096 for path in kept.rglob("*") if path.is_file())
    results.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={used + room}", "tmpfs", str(results)])
    if mounted.returncode != 0:
        pytest.skip("needs to mount a tmpfs (root on Linux)")
    try:
        shutil.copytree(kept, results, symlinks=True, dirs_exist_ok=True)
        yield results
    finally:
        subprocess.run(["umount", "--lazy", str(results)], check=True)


def remount(results, options):
    subprocess.run(["mount", "-o", f"remount,{options}", str(results)], check=True)


def test_results_that_cannot_be_written_stop_with_one_line_and_the_rerun_trains_the_lost_model(copied_run):
    reference, workdir, configs = copied_run
    # A model not made yet: its folder and what is made from it absent.
    shutil.rmtree(the_lost_model(workdir))
    for made in ("summary.csv", "summary.md"):
        (workdir / "results" / made).unlink()
    before = kept_digests(workdir)
    # 2 MB free: the model (5.4 MB) does not fit.
    with results_on_tmpfs(workdir, room=2 * 2**20) as results:
        remount(results, "ro")
        refused = snakemake(workdir, "--cores", "2", configs=configs, check=False)
        assert refused.returncode == 1
        line = "cannot write results/: Read-only file system (EROFS); make its filesystem writable, then rerun"
        assert line in refused.stderr and "Traceback" not in refused.stderr, refused.stderr

        remount(results, "rw")
        full = snakemake(workdir, "--cores", "2", configs=configs, check=False)
        assert full.returncode == 1
        # In the job's log, which Snakemake prints: the model's path, the cause, the fix.
        model = (the_lost_model(reference) / "model.keras").relative_to(reference)
        expected = (
            f"ERROR: cannot write {model}: No space left on device (ENOSPC); free space on its filesystem, "
            "then rerun the same command: finished models are kept"
        )
        assert error_lines(full.stdout + full.stderr) == [expected]
        (log,) = (results / "logs" / "train").rglob(f"{LOST.replace('/', '_')}.log")
        assert error_lines(log.read_text()) == [expected]
        assert kept_digests(workdir) == before
        assert not [path for path in results.rglob(".*.tmp*")]

        remount(results, "size=64m")
        rerun_trains_the_lost_model_only(reference, workdir, configs)


# A kept file of each model damaged after its job ended, each its own way.
DAMAGED = {
    "p0.0/seed0/metrics.json": lambda path: path.write_bytes(path.read_bytes()[:100]),
    "p0.3/seed0/history.csv": lambda path: path.write_bytes(path.read_bytes()[:-20]),
    "p0.5/seed0/model.keras": lambda path: path.write_bytes(b"not a zip archive"),
}


def test_damaged_kept_files_are_named_and_the_rerun_they_name_retrains_their_models(copied_run):
    reference, workdir, configs = copied_run
    (settings,) = (workdir / "results" / "models").iterdir()
    paths = [settings.relative_to(workdir) / name for name in DAMAGED]
    for path, damage in zip(paths, DAMAGED.values()):
        damage(workdir / path)
    before = kept_digests(workdir)

    def line(path):
        return (
            re.escape(f"{path}: unreadable, or not what the workflow wrote (")
            + ".+"
            + re.escape(
                f"); to train its model again, rerun snakemake with --forcerun {path} (a model of the current config), "
                f"or delete {path.parent}"
            )
        )

    # The summary meets the metrics first, the learning curves the history:
    # each job that reads a damaged file stops naming it.
    stopped = snakemake(workdir, "--cores", "2", configs=configs, check=False)
    assert stopped.returncode == 1
    errors = sorted(set(error_lines(stopped.stdout + stopped.stderr)))
    assert len(errors) == 2 and all(re.fullmatch("ERROR: " + line(path), error) for path, error in zip(paths, errors))
    assert kept_digests(workdir) == before
    # The runs listing shows each damaged, and why.
    assert {row["status"] for row in list_runs(workdir / "results")} == {"damaged"}
    listing = subprocess.run(
        [sys.executable, "-m", "mnist_dropout.runs", "--results", str(workdir / "results"), "--configfile", *configs],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
        check=True,
    )
    assert listing.stdout.count("| damaged |") == 3
    reasons = [reason for reason in listing.stdout.splitlines() if "unreadable" in reason]
    # Named as snakemake names them, whatever folder --results gave.
    assert all(re.fullmatch(line(path), reason) for path, reason in zip(paths, reasons, strict=True))

    forced = ["--forcerun", *map(str, paths)]
    assert planned_jobs(workdir, configs, *forced)["train_and_evaluate"] == 3
    snakemake(workdir, "--cores", "2", *forced, configs=configs)
    # The dataset untouched; the models made again with the same results.
    assert kept_digests(workdir, settings) == kept_digests(reference, reference / settings.relative_to(workdir))
    for model_dir in (workdir / "results" / "models").glob("*/p*/seed*"):
        assert comparable(workdir, model_dir) == comparable(reference, reference / model_dir.relative_to(workdir))
