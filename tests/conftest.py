"""Shared fixtures: running the
workflow through the real `snakemake` command on the shipped MNIST subset.
Under CI=true a skipped test fails, naming what is missing, unless it is in
ALLOWED_SKIPS."""

import csv
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_dropout.paths import DATASET

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "tests" / "data" / "mnist-subset"
CONFIGS = REPO / "tests" / "config"
# Debian's Chromium (.ci/run installs it), as root in a closed network: no
# sandbox, no background connections.
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Tests CI may skip, each with the reason CI cannot meet it.
ALLOWED_SKIPS = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and os.environ.get("CI") == "true" and item.nodeid not in ALLOWED_SKIPS:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI=true, so this test must run, but it was skipped: {reason}"
    return report


# pytest.ini runs the tests on every CPU (pytest-xdist), handing each worker a
# file at a time in this order: the longest first, so that the short files fill
# in at the end instead of one long file running alone.
LONGEST_FIRST = [
    "test_reruns.py",
    "test_extending.py",
    "test_model.py",
    "test_tracking.py",
    "test_workflow.py",
    "test_slurm.py",
    "test_faults.py",
    "test_interrupt.py",
    "test_download_faults.py",
    "test_style.py",
]


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per CPU this process may use, as RUN_CPUS counts them."""
    return len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(items):
    def rank(item):
        return LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def snakemake(workdir, *args, configs=(), check=True, timeout=900, workflow=REPO, env=None, cpus=None):
    """Run the workflow in the folder `workflow` with results under `workdir`;
    config overlays in order; `env` the environment (default: this one); `cpus`
    the CPUs it may run on (default: this process's)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile"), "--directory", str(workdir)]
    if configs:
        command += ["--configfile", *map(str, configs)]
    pin = None if cpus is None else lambda: os.sched_setaffinity(0, cpus)
    result = subprocess.run(
        command + list(args), capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=pin
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# The shared run's dropout values.
DROPOUTS = yaml.safe_load((CONFIGS / "e2e.yaml").read_text())["dropout"]


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


# What two runs of one model share: all but when and where it ran.
def without_seconds(history):
    """history.csv's rows without the last column, wall seconds."""
    return [line.rsplit(",", 1)[0] for line in history.splitlines()]


def without_cpus(metrics_path):
    """metrics.json without the CPUs the job happened to be pinned to, and when."""
    metrics = json.loads(metrics_path.read_text())
    for key in ("cpus", "cpus_claimed_at", "cpu_wait_seconds"):
        metrics["training_environment"].pop(key)
    return metrics


def planned_jobs(workdir, configs=(), *args, workflow=REPO):
    """{rule: count} of the jobs a dry run would execute."""
    result = snakemake(workdir, "--dry-run", *args, configs=configs, workflow=workflow)
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    block = output.split("Job stats:", 1)[1]
    return {
        rule: int(count)
        for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", block, flags=re.MULTILINE)
        if rule != "total"
    }


def dataset_files(workdir):
    """{array name: path} of the one preprocessed dataset under `workdir`."""
    (folder,) = (workdir / "results" / "data" / "mnist").iterdir()
    return {name: workdir / path.format(dataset=folder.name) for name, path in DATASET.items()}


def copy_workflow(destination):
    """A second checkout of the workflow in `destination` (not a git one), to
    edit: it shares the test's Python environment, where the package is
    installed from the first. Returns `destination`."""
    destination.mkdir(exist_ok=True)
    for name in ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "report", "profiles", "envs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, destination / name)
    return destination


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def subset_configs(tmp_path):
    """Config overlays: the subset's checksums and a mirror pointing at it."""
    mirror = write_yaml(tmp_path / "mirror.yaml", {"data": {"mirrors": [str(SUBSET)]}})
    return [CONFIGS / "subset_sha256.yaml", mirror]


# The shared run's CPUs: at most 2, fewer than its 3 training jobs and its
# `--cores 4` (the README's), on any machine.
RUN_CPUS = sorted(os.sched_getaffinity(0))[:2]


def built_once(tmp_path_factory, name, build):
    """The folder `name`, made by `build(folder)` once per test session: under
    pytest-xdist the first worker to need it builds it, the others wait and share it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, built, failed = root / name, root / f"{name}.built", root / f"{name}.failed"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            raise RuntimeError(failed.read_text())
        if not built.exists():
            folder.mkdir()
            try:
                build(folder)
            except BaseException as error:
                failed.write_text(f"{name}: its build failed in another test: {error}")
                raise
            built.touch()
    return folder


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """One complete run on the subset (3 dropout values, 8 epochs, 1 thread per
    job) at `--cores 4` on RUN_CPUS; returns its directory and config overlays.
    Tests copy it before changing it."""

    def configs(workdir):
        return [CONFIGS / "subset_sha256.yaml", CONFIGS / "e2e.yaml", workdir / "mirror.yaml"]

    def build(workdir):
        write_yaml(workdir / "mirror.yaml", {"data": {"mirrors": [str(SUBSET)]}})
        # CPU locks of its own (under its TMPDIR): other test workers' jobs make none of its jobs wait.
        locks = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("e2e-tmp"))}
        snakemake(workdir, "--cores", "4", configs=configs(workdir), cpus=RUN_CPUS, env=locks)

    workdir = built_once(tmp_path_factory, "e2e", build)
    return workdir, configs(workdir)


@pytest.fixture(scope="session")
def two_settings(run, tmp_path_factory):
    """The shared run's folder with the models of a second learning rate
    (0.0005) trained too, its tables and figures drawn last; returns its
    directory, the run's config overlays and those with the second rate. Tests
    copy it before changing it."""
    source, configs = run

    def second(workdir):
        return configs + [workdir / "learning_rate.yaml"]

    def build(workdir):
        shutil.copytree(source, workdir, dirs_exist_ok=True)
        write_yaml(workdir / "learning_rate.yaml", {"train": {"learning_rate": 0.0005}})
        snakemake(workdir, "--cores", "2", configs=second(workdir))

    workdir = built_once(tmp_path_factory, "two-settings", build)
    return workdir, configs, second(workdir)
