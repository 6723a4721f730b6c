"""Reading and writing the workflow's tables (CSV, JSON, Markdown). No TensorFlow."""

import csv
import json
import math

from .jobs import atomic_output


def write_csv(path, rows, columns):
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# Columns that stay text even when they look like numbers (a settings key can
# be all digits, or read as a float like "1234e5678901").
TEXT_COLUMNS = ("settings",)


def read_csv(path):
    """Rows as dicts, numeric fields converted to int or float."""
    with open(path, newline="") as stream:
        return [
            {key: value if key in TEXT_COLUMNS else _number(value) for key, value in row.items()}
            for row in csv.DictReader(stream)
        ]


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_json(path, data):
    with atomic_output(path) as temporary, open(temporary, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write("\n")


def read_json(path):
    with open(path) as stream:
        return json.load(stream)


SUMMARY_COLUMNS = (
    "settings",
    "dropout",
    "seed",
    "epochs",
    "best_epoch",
    "best_val_accuracy",
    "best_val_loss",
    "final_val_loss",
    "test_loss",
    "test_accuracy",
)


def best_epoch(history, monitor):
    """The history row of the epoch early stopping judges best by `monitor`:
    the first with the lowest loss, or the highest accuracy (Keras' "auto" mode)."""
    pick = max if "acc" in monitor else min
    return pick(history, key=lambda row: row[monitor])


def summary_row(settings, dropout, seed, history, metrics, monitor):
    """One run's line of the summary: the key of its settings, its history, with
    validation loss and accuracy at the best epoch by `monitor`, and its test metrics."""
    best = best_epoch(history, monitor)
    return {
        "settings": settings,
        "dropout": dropout,
        "seed": seed,
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "best_val_loss": best["val_loss"],
        "final_val_loss": history[-1]["val_loss"],
        "test_loss": metrics["test_loss"],
        "test_accuracy": metrics["test_accuracy"],
    }


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def group_by_dropout(runs, items):
    """{dropout: [item of each seed, by seed]}, dropout ascending, from parallel
    lists of (dropout, seed) pairs and items."""
    grouped = {}
    for (dropout, _seed), item in sorted(zip(runs, items), key=lambda pair: pair[0]):
        grouped.setdefault(dropout, []).append(item)
    return grouped


def per_dropout(rows, column):
    """{dropout: [values of `column` over seeds]} of summary rows."""
    return group_by_dropout([(row["dropout"], row["seed"]) for row in rows], [row[column] for row in rows])


def select_dropout(rows, choice):
    """The dropout value to analyse: `choice` itself, or for 'best' the one with
    the highest mean best-epoch validation accuracy over seeds (ties: smaller p),
    the best epoch being the one early stopping judged best (`best_epoch`)."""
    available = sorted({row["dropout"] for row in rows})
    if choice != "best":
        if float(choice) not in available:
            raise ValueError(f"analysis.dropout {choice} is not among the trained values {available}")
        return float(choice)
    means = {p: mean_std(values)[0] for p, values in per_dropout(rows, "best_val_accuracy").items()}
    return max(available, key=lambda p: (means[p], -p))


def seeds_of(dropout, runs, paths):
    """[(seed, path)] of the runs with this dropout value, by seed, from parallel
    lists of (dropout, seed) pairs and per-run files."""
    return sorted((seed, path) for (p, seed), path in zip(runs, paths) if p == dropout)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(rows, settings_text=""):
    """The settings the runs were trained with (`settings_text`, YAML), a per-run
    table, then a per-dropout table with mean ± std and n."""
    runs = markdown_table(
        ["dropout", "seed", "epochs", "best val acc", "test loss", "test accuracy"],
        [
            [
                f"{r['dropout']:g}",
                r["seed"],
                r["epochs"],
                f"{r['best_val_accuracy']:.4f}",
                f"{r['test_loss']:.4f}",
                f"{r['test_accuracy']:.4f}",
            ]
            for r in sorted(rows, key=lambda r: (r["dropout"], r["seed"]))
        ],
    )
    grouped = {
        column: per_dropout(rows, column) for column in ("test_loss", "test_accuracy", "best_val_accuracy", "epochs")
    }
    aggregate = markdown_table(
        ["dropout", "n", "epochs", "best val acc", "test loss", "test accuracy"],
        [
            [f"{p:g}", len(losses)]
            + [
                _plus_minus(grouped[c][p], digits)
                for c, digits in (("epochs", 1), ("best_val_accuracy", 4), ("test_loss", 4), ("test_accuracy", 4))
            ]
            for p, losses in grouped["test_loss"].items()
        ],
    )
    settings = ""
    if settings_text:
        keys = ", ".join(sorted({row["settings"] for row in rows}))
        settings = f"## Trained with settings {keys}\n\n```yaml\n{settings_text}```\n\n"
    return (
        "# Summary\n\n"
        + settings
        + "## Every run\n\n"
        + runs
        + "\n\n## Per dropout value (mean ± sample std over seeds)\n\n"
        + aggregate
        + "\n"
    )


def _plus_minus(values, digits):
    """Mean ± sample std; a single value has no spread to show."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"
