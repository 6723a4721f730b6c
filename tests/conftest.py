"""Shared fixtures: running the
workflow through the real `snakemake` command on the shipped MNIST subset."""

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


def snakemake(workdir, *args, configs=(), check=True, timeout=900, workflow=REPO, env=None):
    """Run the workflow in the folder `workflow` with results under `workdir`;
    config overlays in order; `env` the environment (default: this one)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(workflow / "Snakefile"), "--directory", str(workdir)]
    if configs:
        command += ["--configfile", *map(str, configs)]
    result = subprocess.run(command + list(args), capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


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


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def subset_configs(tmp_path):
    """Config overlays: the subset's checksums and a mirror pointing at it."""
    mirror = write_yaml(tmp_path / "mirror.yaml", {"data": {"mirrors": [str(SUBSET)]}})
    return [CONFIGS / "subset_sha256.yaml", mirror]


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """One complete run on the subset (3 dropout values, 8 epochs, 1 thread per
    job); returns its directory and config overlays."""
    workdir = tmp_path_factory.mktemp("e2e")
    mirror = write_yaml(workdir / "mirror.yaml", {"data": {"mirrors": [str(SUBSET)]}})
    configs = [CONFIGS / "subset_sha256.yaml", CONFIGS / "e2e.yaml", mirror]
    snakemake(workdir, "--cores", "2", configs=configs)
    return workdir, configs
