"""MLflow's own UI (`mlflow ui`) over an exported store, seen in headless
Chromium: for the tests, and to redraw docs/figures/mlflow_compare.png from the
test subset's runs at two learning rates (tests/test_tracking.py trains the same),
in an empty folder, with mirror.yaml pointing data.mirrors at tests/data/mnist-subset
and learning_rate.yaml setting train: {learning_rate: 0.0005, epochs: 4}:

    C="--configfile REPO/tests/config/subset_sha256.yaml REPO/tests/config/e2e.yaml mirror.yaml"
    snakemake -s REPO/Snakefile --cores 2 $C learning_rate.yaml -- results/mlflow/mlflow.db
    snakemake -s REPO/Snakefile --cores 2 $C -- results/mlflow/mlflow.db
    python REPO/tests/mlflow_ui.py results/mlflow/mlflow.db REPO/docs/figures/mlflow_compare.png
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright import sync_api

from conftest import CHROMIUM, CHROMIUM_ARGS
from mnist_dropout.tracking import EXPERIMENT

MLFLOW = Path(sys.executable).with_name("mlflow")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(store, log_path, env=None, timeout=120):
    """Run `mlflow ui` over the SQLite store `store` on a loopback port, with
    the environment variables `env` added; yield its URL."""
    port = free_port()
    command = [str(MLFLOW), "ui", "--backend-store-uri", f"sqlite:///{Path(store).resolve()}"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.read().strip() == b"OK":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow ui did not start:\n{Path(log_path).read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def rest(url, endpoint, body=None):
    """A call of MLflow's REST API: GET without `body`, else POST it as JSON."""
    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/{endpoint}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def experiment_runs(url):
    """(experiment id, [run]) of the study's experiment, through the REST API."""
    experiment = rest(url, f"experiments/get-by-name?experiment_name={EXPERIMENT}")["experiment"]
    found = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 1000})
    return experiment["experiment_id"], found.get("runs", [])


@contextlib.contextmanager
def browser_page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def open_experiment(page, url, experiment_id):
    page.goto(f"{url}/#/experiments/{experiment_id}/runs")


def open_comparison(page, url, experiment_id, run_ids, params=("learning_rate", "dropout"), metric="test_accuracy"):
    """MLflow's comparison of `run_ids`: their parameters and metrics, and the
    parallel-coordinates plot of `params` against `metric`."""
    runs = json.dumps(sorted(run_ids))
    page.goto(f"{url}/#/compare-runs?runs={runs}&experiments={json.dumps([experiment_id])}")
    page.get_by_text("Parallel Coordinates Plot").first.wait_for(timeout=60_000)
    assistant = page.get_by_role("button", name="Close")  # MLflow's assistant panel, where shown
    if assistant.count():
        assistant.last.click()
    page.get_by_role("button", name="Clear All").click()
    parameters, metrics = page.get_by_role("combobox").all()
    for box, names in ((parameters, params), (metrics, [metric])):
        box.click()
        for name in names:
            box.fill(name)
            page.keyboard.press("Enter")
        page.keyboard.press("Escape")


def main(store, screenshot):
    with mlflow_ui(store, Path(screenshot).with_suffix(".log")) as url, browser_page() as page:
        experiment_id, runs = experiment_runs(url)
        open_comparison(page, url, experiment_id, [run["info"]["run_id"] for run in runs])
        page.wait_for_timeout(3000)
        page.screenshot(path=screenshot, full_page=True)
    Path(screenshot).with_suffix(".log").unlink()


if __name__ == "__main__":
    main(*sys.argv[1:])
