"""The study's figures, drawn with matplotlib from plain arrays. No TensorFlow."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .jobs import atomic_output  # noqa: E402

METRIC_LABELS = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "accuracy": "training accuracy",
    "val_accuracy": "validation accuracy",
}


def curve_band(histories, metric):
    """Mean, min and max of `metric` per epoch over runs (seeds).

    Runs stopped early have no value after their last epoch: each epoch is
    summarised over the runs that reached it, and `counts` says how many did."""
    length = max(len(history) for history in histories)
    epochs = np.arange(1, length + 1)
    values = np.full((len(histories), length), np.nan)
    for i, history in enumerate(histories):
        values[i, : len(history)] = [row[metric] for row in history]
    counts = np.sum(~np.isnan(values), axis=0)
    return epochs, np.nanmean(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0), counts


def _save(figure, path):
    """Write `figure` to `path` as PNG; returns it, closed, for what it drew."""
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return figure


def _draw_band(axes, histories, metric, label, color):
    """Mean over seeds, solid while every seed is still training and dashed once
    early stopping has ended some; the band spans the seeds' min to max."""
    epochs, mean, low, high, counts = curve_band(histories, metric)
    complete = int(np.sum(counts == len(histories)))
    axes.plot(epochs[:complete], mean[:complete], marker="o", markersize=3, color=color, label=label)
    if complete < len(epochs):
        tail = slice(complete - 1, None)
        axes.plot(epochs[tail], mean[tail], marker="o", markersize=2, linestyle="--", linewidth=1, color=color)
    if len(histories) > 1:
        axes.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)


def _seeds_note(histories):
    """Title suffix saying how several seeds are drawn."""
    runs = max(len(h) for h in histories)
    if runs < 2:
        return ""
    return f"\nmean of {runs} seeds, band min–max; dashed once some seeds had stopped early"


def _dropout_colors(dropouts):
    colormap = plt.get_cmap("viridis")
    span = max(len(dropouts) - 1, 1)
    return {p: colormap(0.9 * i / span) for i, p in enumerate(sorted(dropouts))}


def _titled(text, label):
    """A title naming the swept settings' values, when several were swept."""
    return f"{text}, {label}" if label else text


def plot_fit_loss(histories, dropout, path, label=""):
    """Training and validation loss per epoch of one dropout value."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    _draw_band(axes, histories, "loss", "training loss", "tab:blue")
    _draw_band(axes, histories, "val_loss", "validation loss", "tab:orange")
    title = _titled(f"Training and validation loss, p = {dropout:g}", label) + _seeds_note([histories])
    axes.set(title=title, xlabel="epoch", ylabel="loss")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend()
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_metric_by_dropout(panels, metric, path):
    """One line (mean over seeds, min–max band) per dropout value, in one panel
    per combination of swept settings: `panels` is {label: {dropout: histories}}."""
    columns = min(len(panels), 2)
    rows = math.ceil(len(panels) / columns)
    size = (8, 5) if len(panels) == 1 else (6 * columns + 1.5, 4.2 * rows + 0.8)
    figure, grid = plt.subplots(rows, columns, figsize=size, squeeze=False, sharex=True, sharey=True)
    label = METRIC_LABELS[metric]
    title = f"{label.capitalize()} per epoch by dropout probability p"
    histories = [seeds for panel in panels.values() for seeds in panel.values()]
    for axes, (name, histories_by_dropout) in zip(grid.flat, panels.items()):
        colors = _dropout_colors(histories_by_dropout)
        for dropout, seeds in sorted(histories_by_dropout.items()):
            _draw_band(axes, seeds, metric, f"p = {dropout:g}", colors[dropout])
        axes.set(title=name, xlabel="epoch", ylabel=label)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
    for axes in grid.flat[len(panels) :]:
        axes.axis("off")
    if len(panels) == 1:
        grid[0, 0].set_title(title + _seeds_note(histories))
        grid[0, 0].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        figure.suptitle(title + _seeds_note(histories))
        grid[0, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def plot_test_accuracy(curves, path, confidence):
    """Test accuracy against p, one line per combination of swept settings
    (`curves`: {label: {dropout: {values: accuracies over seeds, mean, low,
    high}}}, the `confidence` interval of the mean, no bounds for one seed):
    the means with their intervals (bars for one line, bands for several),
    seeds as dots."""
    figure, axes = plt.subplots(figsize=(7, 4.5) if len(curves) == 1 else (9, 5.5))
    seeds = max(len(summary["values"]) for curve in curves.values() for summary in curve.values())
    dropouts = sorted({p for curve in curves.values() for p in curve})
    for name, accuracies_by_dropout in curves.items():
        ps = sorted(accuracies_by_dropout)
        intervals = [accuracies_by_dropout[p] for p in ps]
        means = np.array([row["mean"] for row in intervals])
        # One seed: no interval (drawn as none).
        lows = np.array([means[i] if row["low"] is None else row["low"] for i, row in enumerate(intervals)])
        highs = np.array([means[i] if row["high"] is None else row["high"] for i, row in enumerate(intervals)])
        if len(curves) == 1:
            label = f"mean of {seeds} seeds, bars {confidence:.0%} CI" if seeds > 1 else "one run per p"
            axes.errorbar(ps, means, yerr=[means - lows, highs - means], marker="o", capsize=4, label=label)
            for p in ps:
                values = accuracies_by_dropout[p]["values"]
                axes.scatter([p] * len(values), values, s=10, color="grey", alpha=0.6, zorder=3)
        else:
            (line,) = axes.plot(ps, means, marker="o", label=name)
            if seeds > 1:
                axes.fill_between(ps, lows, highs, color=line.get_color(), alpha=0.15, linewidth=0)
    title = "Test accuracy by dropout probability"
    if len(curves) > 1:
        title += f"\nmean of {seeds} seeds, band {confidence:.0%} CI" if seeds > 1 else "\none run per p"
    axes.set(title=title, xlabel="dropout probability p", ylabel="test accuracy")
    axes.set_xticks(dropouts)
    axes.legend(fontsize="small" if len(curves) > 1 else None)
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_precision_recall(precisions, recalls, dropout, path, label=""):
    """Per-digit precision and recall; arrays are (seeds, 10), mean drawn, min–max as bars."""
    precisions, recalls = np.atleast_2d(precisions), np.atleast_2d(recalls)
    digits = np.arange(precisions.shape[1])
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for values, name, marker in ((precisions, "precision", "o"), (recalls, "recall", "s")):
        mean = values.mean(axis=0)
        errors = [mean - values.min(axis=0), values.max(axis=0) - mean] if len(values) > 1 else None
        axes.errorbar(digits, mean, yerr=errors, marker=marker, capsize=3, label=name)
    runs = len(precisions)
    detail = f", mean of {runs} seeds (bars min–max)" if runs > 1 else ""
    title = _titled(f"Precision and recall per digit, p = {dropout:g}{detail}", label)
    axes.set(title=title, xlabel="Number", ylabel="score")
    axes.set_xticks(digits)
    axes.legend()
    axes.grid(alpha=0.3)
    return _save(figure, path)


def digit_with_article(digit):
    """ "an 8", "a 3": the article as the digit's English name is spoken."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def failure_indices(y_true, y_pred, digit, limit=32):
    """Indices of the first `limit` samples where "is `digit`" was judged wrongly:
    a true `digit` predicted as something else, or something else predicted as `digit`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    wrong = (y_true == digit) != (y_pred == digit)
    return np.flatnonzero(wrong)[:limit]


def plot_failures(images, predicted, digit, dropout, seed, path, label="", rows=4, columns=8):
    """A grid of misjudged test images, each titled with its predicted label."""
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5 + 0.6))
    for index, axes in enumerate(grid.flat):
        axes.axis("off")
        if index < len(images):
            axes.imshow(images[index], cmap="gray")
            axes.set_title(f"pred {predicted[index]}", fontsize=9)
    figure.suptitle(
        f'Test images wrongly judged "is {digit_with_article(digit)}" ({_titled(f"p = {dropout:g}", label)}, '
        f"seed {seed}): predicted label above each"
    )
    return _save(figure, path)
