"""The study's figures, drawn with matplotlib from plain arrays. No TensorFlow."""

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
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)


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


def plot_fit_loss(histories, dropout, path):
    """Training and validation loss per epoch of one dropout value."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    _draw_band(axes, histories, "loss", "training loss", "tab:blue")
    _draw_band(axes, histories, "val_loss", "validation loss", "tab:orange")
    title = f"Training and validation loss, p = {dropout:g}" + _seeds_note([histories])
    axes.set(title=title, xlabel="epoch", ylabel="loss")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend()
    axes.grid(alpha=0.3)
    _save(figure, path)


def plot_metric_by_dropout(histories_by_dropout, metric, path):
    """One line (mean over seeds, min–max band) per dropout value."""
    figure, axes = plt.subplots(figsize=(8, 5))
    colors = _dropout_colors(histories_by_dropout)
    for dropout, histories in sorted(histories_by_dropout.items()):
        _draw_band(axes, histories, metric, f"p = {dropout:g}", colors[dropout])
    label = METRIC_LABELS[metric]
    title = f"{label.capitalize()} per epoch by dropout probability p" + _seeds_note(histories_by_dropout.values())
    axes.set(title=title, xlabel="epoch", ylabel=label)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes.grid(alpha=0.3)
    _save(figure, path)


def plot_test_accuracy(accuracies_by_dropout, path):
    """Test accuracy against p: mean over seeds, error bars min–max, seeds as dots."""
    dropouts = sorted(accuracies_by_dropout)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    means = [np.mean(accuracies_by_dropout[p]) for p in dropouts]
    lower = [m - min(accuracies_by_dropout[p]) for p, m in zip(dropouts, means)]
    upper = [max(accuracies_by_dropout[p]) - m for p, m in zip(dropouts, means)]
    seeds = max(len(v) for v in accuracies_by_dropout.values())
    label = f"mean of {seeds} seeds, bars min–max" if seeds > 1 else "one run per p"
    axes.errorbar(dropouts, means, yerr=[lower, upper], marker="o", capsize=4, label=label)
    for p in dropouts:
        values = accuracies_by_dropout[p]
        axes.scatter([p] * len(values), values, s=10, color="grey", alpha=0.6, zorder=3)
    axes.set(title="Test accuracy by dropout probability", xlabel="dropout probability p", ylabel="test accuracy")
    axes.set_xticks(dropouts)
    axes.legend()
    axes.grid(alpha=0.3)
    _save(figure, path)


def plot_precision_recall(precisions, recalls, dropout, path):
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
    axes.set(title=f"Precision and recall per digit, p = {dropout:g}{detail}", xlabel="Number", ylabel="score")
    axes.set_xticks(digits)
    axes.legend()
    axes.grid(alpha=0.3)
    _save(figure, path)


def digit_with_article(digit):
    """ "an 8", "a 3": the article as the digit's English name is spoken."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def plot_failures(images, predicted, digit, dropout, seed, path, rows=4, columns=8):
    """A grid of misjudged test images, each titled with its predicted label."""
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5 + 0.6))
    for index, axes in enumerate(grid.flat):
        axes.axis("off")
        if index < len(images):
            axes.imshow(images[index], cmap="gray")
            axes.set_title(f"pred {predicted[index]}", fontsize=9)
    figure.suptitle(
        f'Test images wrongly judged "is {digit_with_article(digit)}" (p = {dropout:g}, seed {seed}): '
        "predicted label above each"
    )
    _save(figure, path)
