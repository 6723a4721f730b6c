"""The self-contained HTML report, opened in headless Chromium: every figure
is listed under its category, loads, and draws a non-blank picture."""

import io

import matplotlib.image
import numpy as np
import pytest
from playwright import sync_api

from conftest import CHROMIUM, CHROMIUM_ARGS, snakemake

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]

FIGURES = {
    "Learning curves": ["fit_loss", "train_loss_dropout", "val_loss_dropout", "val_acc_dropout"],
    "Test metrics": ["test_acc_dropout", "fscore", "failure8"],
}


@pytest.fixture(scope="module")
def report(run, tmp_path_factory):
    workdir, configs = run
    path = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(workdir, "--report", str(path), configs=configs)
    return path


def test_report_is_self_contained_with_captions(report):
    html = report.read_text()
    assert "mean over the seeds that reached that epoch" in html  # a figure caption
    assert "trained once per dropout probability p and per seed" in html  # the workflow description
    assert 'src="http' not in html and 'href="http' not in html


def test_every_figure_renders_in_chromium(report, tmp_path):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(report.as_uri())
            for category, names in FIGURES.items():
                page.get_by_role("link", name=category, exact=True).click()
                for name in names:
                    row = page.locator("tr", has_text=f"results/figures/{name}.png")
                    row.locator("a[iconname=eye]").click()
                    image = page.locator(f"img[src^='data:image/png'][src*='filename={name}.png']")
                    image.wait_for(timeout=10_000)
                    width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
                    assert width >= 600, f"{name}.png did not load in the report"
                    shot = matplotlib.image.imread(io.BytesIO(image.screenshot()), format="png")
                    # A drawn figure has dark lines and text on white, not one flat colour.
                    assert shot[..., :3].std() > 0.05, f"{name}.png renders blank"
                    assert np.mean(shot[..., :3] < 0.5) > 0.005, f"{name}.png renders without ink"
                page.get_by_role("link", name="Results", exact=True).first.click()
        finally:
            browser.close()
