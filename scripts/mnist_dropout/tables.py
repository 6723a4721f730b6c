"""The summary: one row per run, grouped by settings and dropout, in Markdown.
No TensorFlow."""

import json
import math

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


def summary_columns(swept):
    """The summary's columns: a column per swept setting after the settings key."""
    return (SUMMARY_COLUMNS[0], *swept, *SUMMARY_COLUMNS[1:])


def setting_text(value):
    """A setting's value as a table cell: JSON for lists, mappings and null
    ([512, 512], {"monitor": "val_loss", "patience": 2}), else as it is."""
    return json.dumps(value) if value is None or isinstance(value, (list, dict)) else value


def combination_label(values):
    """A combination of swept values as a line or panel label, e.g.
    "learning_rate 0.0005, hidden_units [1024, 1024]"; "" for none."""
    return ", ".join(f"{name} {setting_text(value)}" for name, value in values.items())


def best_epoch(history, monitor):
    """The history row of the epoch early stopping judges best by `monitor`:
    the first with the lowest loss, or the highest accuracy (Keras' "auto" mode)."""
    pick = max if "acc" in monitor else min
    return pick(history, key=lambda row: row[monitor])


def summary_row(settings, swept, dropout, seed, history, metrics, monitor):
    """One run's line of the summary: the key of its settings and its values of
    the swept settings (`swept`, {name: value}), its history, with validation loss
    and accuracy at the best epoch by `monitor`, and its test metrics."""
    best = best_epoch(history, monitor)
    return {
        "settings": settings,
        **{name: setting_text(value) for name, value in swept.items()},
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


def by_settings(rows):
    """{settings key: its rows}, keys in the order they first appear."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row["settings"], []).append(row)
    return grouped


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


def group_by_run(runs, items):
    """{settings key: {dropout: [item of each seed, by seed]}}, keys in run order,
    from parallel lists of (settings, dropout, seed) runs and items."""
    grouped = {}
    for (settings, dropout, seed), item in zip(runs, items):
        grouped.setdefault(settings, ([], []))
        grouped[settings][0].append((dropout, seed))
        grouped[settings][1].append(item)
    return {settings: group_by_dropout(*pairs) for settings, pairs in grouped.items()}


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
    lists of (settings, dropout, seed) runs of one settings key and per-run files."""
    return sorted((seed, path) for (_settings, p, seed), path in zip(runs, paths) if p == dropout)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(rows, settings_text="", swept=(), analysed=None):
    """The settings the runs were trained with (`settings_text`, YAML, of the
    `analysed` settings key when several were swept), a per-run table, then a
    per-dropout table with mean ± std and n; `swept` settings as first columns."""
    groups = by_settings(rows)
    order = {key: index for index, key in enumerate(groups)}
    runs = markdown_table(
        [*swept, "dropout", "seed", "epochs", "best val acc", "test loss", "test accuracy"],
        [
            [r[name] for name in swept]
            + [
                f"{r['dropout']:g}",
                r["seed"],
                r["epochs"],
                f"{r['best_val_accuracy']:.4f}",
                f"{r['test_loss']:.4f}",
                f"{r['test_accuracy']:.4f}",
            ]
            for r in sorted(rows, key=lambda r: (order[r["settings"]], r["dropout"], r["seed"]))
        ],
    )
    aggregate_rows = []
    for group in groups.values():
        grouped = {
            column: per_dropout(group, column)
            for column in ("test_loss", "test_accuracy", "best_val_accuracy", "epochs")
        }
        aggregate_rows += [
            [group[0][name] for name in swept]
            + [f"{p:g}", len(losses)]
            + [
                _plus_minus(grouped[c][p], digits)
                for c, digits in (("epochs", 1), ("best_val_accuracy", 4), ("test_loss", 4), ("test_accuracy", 4))
            ]
            for p, losses in grouped["test_loss"].items()
        ]
    aggregate = markdown_table(
        [*swept, "dropout", "n", "epochs", "best val acc", "test loss", "test accuracy"], aggregate_rows
    )
    settings = ""
    if settings_text:
        keys = ", ".join(order)
        settings = f"## Trained with settings {keys}\n\n"
        if swept:
            combinations = markdown_table(
                ["settings", *swept],
                [[key, *(group[0][name] for name in swept)] for key, group in groups.items()],
            )
            settings += (
                f"Those of {analysed} (the analysed run, `train:` in the config) below; "
                f"the others differ in {', '.join(swept)}:\n\n{combinations}\n\n"
            )
        settings += f"```yaml\n{settings_text}```\n\n"
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
