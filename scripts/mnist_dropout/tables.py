"""The summary's rows: one per run, grouped by settings and dropout, and the
analysed dropout value. No TensorFlow, no SciPy: the plotting rules use it."""

import json
import statistics

SUMMARY_COLUMNS = (
    "settings",
    "dropout",
    "seed",
    "epochs",
    "tested_epoch",
    "best_epoch",
    "best_val_accuracy",
    "best_val_loss",
    "final_val_loss",
    "test_loss",
    "test_accuracy",
)


def setting_text(value):
    """A setting's value as a table cell: JSON for lists, mappings and null
    ([512, 512], {"monitor": "val_loss", "patience": 2}), else as it is."""
    return json.dumps(value) if value is None or isinstance(value, (list, dict)) else value


def combination_label(values):
    """Swept values as a label, e.g. "learning_rate 0.0005, hidden_units [1024, 1024]"."""
    return ", ".join(f"{name} {setting_text(value)}" for name, value in values.items())


def best_epoch(history, monitor):
    """The history row of the epoch early stopping judges best by `monitor`:
    the first with the lowest loss, or the highest accuracy (Keras' "auto" mode)."""
    pick = max if "acc" in monitor else min
    return pick(history, key=lambda row: row[monitor])


def summary_row(settings, swept, dropout, seed, history, metrics, early_stopping):
    """One run's line of the summary: its settings key, `swept` values and
    history; validation loss and accuracy at the epoch early stopping judged
    best (val_loss when it is off); the epoch tested; its test metrics."""
    early_stopping = early_stopping or {}
    best = best_epoch(history, early_stopping.get("monitor", "val_loss"))
    return {
        "settings": settings,
        **{name: setting_text(value) for name, value in swept.items()},
        "dropout": dropout,
        "seed": seed,
        "epochs": len(history),
        "tested_epoch": best["epoch"] if early_stopping.get("restore_best_weights") else len(history),
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "best_val_loss": best["val_loss"],
        "final_val_loss": history[-1]["val_loss"],
        "test_loss": metrics["test_loss"],
        "test_accuracy": metrics["test_accuracy"],
    }


def by_settings(rows):
    """{settings key: its rows}, keys in the order they first appear."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row["settings"], []).append(row)
    return grouped


def differing_settings(trained_with):
    """The training settings whose values differ between the settings keys of
    {settings key: training settings}, in sorted order: the swept ones."""
    names = sorted({name for train in trained_with.values() for name in train})
    return [name for name in names if len({json.dumps(train.get(name)) for train in trained_with.values()}) > 1]


def combination_labels(trained_with):
    """{settings key: the label of its swept values} of {key: training settings}."""
    swept = differing_settings(trained_with)
    return {key: combination_label({name: train[name] for name in swept}) for key, train in trained_with.items()}


def per_dropout(rows, column):
    """{dropout: [`column` of each seed]} of summary rows, all ascending."""
    grouped = {}
    for row in sorted(rows, key=lambda row: (row["dropout"], row["seed"])):
        grouped.setdefault(row["dropout"], []).append(row[column])
    return grouped


def select_dropout(rows, choice):
    """The dropout value to analyse: `choice`, or for 'best' the one with the
    highest mean best-epoch validation accuracy over seeds (ties: smaller p)."""
    if choice != "best":
        return float(choice)
    means = {p: statistics.fmean(values) for p, values in per_dropout(rows, "best_val_accuracy").items()}
    return max(means, key=lambda p: (means[p], -p))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
