"""Each figure draws the values it is given: checked on the artists a plotting
function leaves on its figure, so a bar, band or line left out fails."""

import re

import numpy as np
import pytest

from mnist_dropout.figures import plot_failures, plot_fit_loss, plot_metric_by_dropout, plot_precision_recall
from mnist_dropout.figures import plot_test_accuracy
from mnist_dropout.paths import figure_paths
from mnist_dropout.uncertainty import intervals_by_dropout
from conftest import snakemake, write_yaml
from test_uncertainty import T_975_4, TABLE


def errorbars(axes):
    """[(x, y, low, high)] of each point of each errorbar container, in order."""
    drawn = []
    for container in axes.containers:
        line, _caps, (bars,) = container.lines
        for x, y, segment in zip(line.get_xdata(), line.get_ydata(), bars.get_segments(), strict=True):
            drawn.append((x, y, segment[0][1], segment[1][1]))
    return drawn


def assert_close(drawn, expected):
    """Drawn values (a list of points, or {label: ydata}) equal `expected` to float precision."""
    if isinstance(expected, dict):
        assert sorted(drawn) == sorted(expected)
        for label in expected:
            np.testing.assert_allclose(drawn[label], expected[label], rtol=1e-12, err_msg=label)
    else:
        np.testing.assert_allclose(np.array(drawn, dtype=float), np.array(expected, dtype=float), rtol=1e-12)


def lines(axes, linestyle=None):
    return {line.get_label(): line.get_ydata() for line in axes.lines if linestyle in (None, line.get_linestyle())}


def history(losses, offset=0.0):
    return [{"epoch": e + 1, "loss": v, "val_loss": v + offset} for e, v in enumerate(losses)]


def test_the_test_accuracy_figure_draws_each_mean_with_its_interval(tmp_path):
    accuracies = {p: list(by_seed.values()) for p, by_seed in TABLE.items()}
    figure = plot_test_accuracy({"": intervals_by_dropout(accuracies)}, tmp_path / "test_acc.png", 0.95)
    expected = []
    for p, values in accuracies.items():
        half = T_975_4 * np.std(values, ddof=1) / 5**0.5
        expected.append((p, np.mean(values), np.mean(values) - half, np.mean(values) + half))
    assert_close(errorbars(figure.axes[0]), expected)
    # The seeds themselves as dots.
    dots = np.concatenate([collection.get_offsets() for collection in figure.axes[0].collections[1:]])
    assert sorted(dots[:, 1]) == pytest.approx(sorted(v for values in accuracies.values() for v in values))
    # One seed: the means alone, bars of no length.
    single = plot_test_accuracy({"": intervals_by_dropout({0.0: [0.97], 0.5: [0.98]})}, tmp_path / "one.png", 0.95)
    assert_close(errorbars(single.axes[0]), [(0.0, 0.97, 0.97, 0.97), (0.5, 0.98, 0.98, 0.98)])


def test_several_combinations_draw_one_line_and_band_each(tmp_path):
    curves = {
        "rate 0.001": intervals_by_dropout({0.0: [0.97, 0.96], 0.5: [0.98, 0.99]}),
        "rate 0.0005": intervals_by_dropout({0.0: [0.95, 0.96], 0.5: [0.97, 0.97]}),
    }
    axes = plot_test_accuracy(curves, tmp_path / "sweep.png", 0.95).axes[0]
    assert_close(lines(axes), {"rate 0.001": [0.965, 0.985], "rate 0.0005": [0.955, 0.97]})
    assert len(axes.collections) == 2  # the confidence bands


def test_precision_recall_draws_the_mean_over_seeds_with_min_max_bars(tmp_path):
    precisions = np.array([np.linspace(0.90, 0.99, 10), np.linspace(0.92, 0.97, 10), np.linspace(0.91, 0.98, 10)])
    recalls = precisions[::-1] - 0.01
    axes = plot_precision_recall(precisions, recalls, 0.3, tmp_path / "fscore.png").axes[0]
    drawn = errorbars(axes)
    for values, points in ((precisions, drawn[:10]), (recalls, drawn[10:])):
        assert_close(points, list(zip(range(10), values.mean(axis=0), values.min(axis=0), values.max(axis=0))))
    assert "mean of 3 seeds (bars min–max)" in axes.get_title()


def test_learning_curves_draw_the_mean_per_epoch_and_the_seeds_band(tmp_path):
    panels = {"": {0.0: [history([0.5, 0.3, 0.2]), history([0.7, 0.5])], 0.5: [history([0.6, 0.4, 0.35])]}}
    axes = plot_metric_by_dropout(panels, "loss", tmp_path / "loss.png").axes[0]
    # p = 0: both seeds for 2 epochs, then dashed where one had stopped early.
    assert_close(lines(axes, "-"), {"p = 0": [0.6, 0.4], "p = 0.5": [0.6, 0.4, 0.35]})
    (dashed,) = [line for line in axes.lines if line.get_linestyle() == "--"]
    assert dashed.get_ydata().tolist() == pytest.approx([0.4, 0.2])
    (band,) = axes.collections  # the min-max band of p = 0's two seeds
    assert band.get_paths()[0].vertices[:, 1].min() == pytest.approx(0.2)

    fit = plot_fit_loss([history([0.5, 0.3], offset=0.1)], 0.0, tmp_path / "fit.png").axes[0]
    assert_close(lines(fit), {"training loss": [0.5, 0.3], "validation loss": [0.6, 0.4]})


def test_the_failure_grid_shows_each_image_titled_with_its_prediction(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    figure = plot_failures(images, [3, 8, 5], 8, 0.3, 0, tmp_path / "failure8.png")
    shown = [axes for axes in figure.axes if axes.images]
    assert [axes.get_title() for axes in shown] == ["pred 3", "pred 8", "pred 5"]
    for axes, image in zip(shown, images, strict=True):
        np.testing.assert_array_equal(axes.images[0].get_array(), image)
    assert len(figure.axes) == 32 and 'wrongly judged "is an 8" (p = 0.3, seed 0)' in figure._suptitle.get_text()


@pytest.mark.workflow
def test_the_rules_draw_exactly_the_figure_list(tmp_path, subset_configs):
    # A dry run of everything: each job's outputs, one line each.
    digit = write_yaml(tmp_path / "digit.yaml", {"analysis": {"failure_digit": 3}})
    result = snakemake(tmp_path, "--dry-run", "--forceall", configs=[*subset_configs, digit])
    outputs = re.findall(r"^\s+output: (.+)$", result.stdout + result.stderr, flags=re.MULTILINE)
    drawn = {path for line in outputs for path in line.split(", ") if path.startswith("results/figures/")}
    assert sorted(drawn) == sorted(figure_paths(3))
