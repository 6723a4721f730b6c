"""The summary in Markdown: the study's answer with its uncertainty, mean ±
std per dropout value, every run, and the settings last (SciPy, through
uncertainty.py: only the aggregate rule and the test accuracy figure import it,
about a second per process)."""

from .tables import by_settings, combination_label, markdown_table, per_dropout
from .uncertainty import CONFIDENCE, LEVEL, compare_dropouts, interval


def summary_markdown(rows, settings_text="", swept=(), analysed=None):
    """The answer per settings combination, a per-dropout table with mean ±
    std and n, a per-run table, then the settings the runs were trained with
    (`settings_text`, YAML, of the `analysed` settings key when several were
    swept); `swept` settings as first columns."""
    groups = by_settings(rows)
    order = {key: index for index, key in enumerate(groups)}
    runs = markdown_table(
        [
            *swept,
            "dropout",
            "seed",
            "epochs",
            "best epoch",
            "tested epoch",
            "best val acc",
            "test loss",
            "test accuracy",
        ],
        [
            [r[name] for name in swept]
            + [
                f"{r['dropout']:g}",
                r["seed"],
                r["epochs"],
                r["best_epoch"],
                r["tested_epoch"],
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
        settings += f"```yaml\n{settings_text}```\n"
    answers = "\n\n".join(
        answer_markdown(group, combination_label({name: group[0][name] for name in swept})) for group in groups.values()
    )
    return (
        "# Summary\n\n"
        + answers
        + "\n\n## Per dropout value (mean ± sample std over seeds)\n\n"
        + aggregate
        + "\n\n## Every run\n\n"
        + TESTED_WEIGHTS
        + "\n\n"
        + runs
        + "\n"
        + (f"\n{settings}" if settings else "")
    )


TESTED_WEIGHTS = (
    "The best epoch is the one early stopping judged best (lowest validation loss by default). The tested "
    "epoch is the one whose weights were evaluated: the last, as in the original (up to `patience` epochs "
    "past the best with early stopping), unless `train.early_stopping.restore_best_weights` is on."
)
# What the seed fixes across p, which makes the comparisons paired (tested in test_model.py).
PAIRING = (
    "Runs with the same seed see the same batches in the same order at every p and, for p > 0, start from the "
    "same initial weights (p = 0, without dropout layers, shares the first layer's); the dropout masks "
    "differ. So each p is compared with the best by a paired t-test over the seeds (two-sided), the p-values "
    f"adjusted over these comparisons by Benjamini-Hochberg; a difference counts at a {LEVEL:.0%} false "
    "discovery rate. The intervals of the differences are not adjusted. The best is chosen on these same "
    'accuracies, which favours it: read "told apart" as a screen, and confirm with new seeds.'
)


def _ci(low, high, digits=4):
    return f"{low:.{digits}f} to {high:.{digits}f}"


def answer_markdown(rows, label=""):
    """Which p is best for one settings combination (`rows` of its summary, with
    its `label`), with its uncertainty: confidence intervals of the mean test
    accuracy per p and paired tests against the best p; with one seed, that
    none can be given."""
    accuracies = {}
    for row in rows:
        accuracies.setdefault(row["dropout"], {})[row["seed"]] = row["test_accuracy"]
    answer = compare_dropouts(accuracies)
    best, intervals, tests = answer["best"], answer["intervals"], answer["versus_best"]
    heading = "## Which p is best, and how sure" + (f": {label}" if label else "")
    if intervals[best]["n"] < 2:
        return (
            f"{heading}\n\nBest test accuracy: p = {best:g} ({intervals[best]['mean']:.4f}). With one seed per p "
            "no uncertainty can be given, and seed noise can be as large as the differences between p: "
            "add seeds, e.g. `seeds: [0, 1, 2, 3, 4]`, for confidence intervals and tests."
        )
    table = markdown_table(
        [
            "dropout",
            "n",
            "test accuracy",
            "std",
            f"{CONFIDENCE:.0%} CI",
            f"best - this ({CONFIDENCE:.0%} CI, unadjusted)",
        ]
        + ["p (paired t)", "adjusted", "told apart"],
        [
            [f"{p:g}", row["n"], f"{row['mean']:.4f}"]
            # One seed of this p: no spread, nothing to test.
            + ([f"{row['std']:.4f}", _ci(row["low"], row["high"])] if row["n"] > 1 else ["", ""])
            + (
                [
                    f"{tests[p]['difference']:.4f} ({_ci(tests[p]['low'], tests[p]['high'])})",
                    f"{tests[p]['p_value']:.3g}",
                    f"{tests[p]['adjusted']:.3g}",
                    "yes" if tests[p]["told_apart"] else "no",
                ]
                if p in tests
                else ["best" if p == best else "", "", "", ""]
            )
            for p, row in intervals.items()
        ],
    )
    alike = [f"{p:g}" for p, test in tests.items() if not test["told_apart"]]
    worse = [f"{p:g}" for p, test in tests.items() if test["told_apart"]]
    lines = [
        f"Best mean test accuracy: **p = {best:g}** ({intervals[best]['mean']:.4f}, {CONFIDENCE:.0%} CI "
        f"{_ci(intervals[best]['low'], intervals[best]['high'])}).",
        f"Cannot be told apart from it: {', '.join(f'p = {p}' for p in alike) or 'none'}. "
        f"Worse: {', '.join(f'p = {p}' for p in worse) or 'none'}.",
    ]
    if best == 0:
        lines.append("No dropout (p = 0) has the best mean: here dropout does not help.")
    elif 0.0 in tests:
        zero = tests[0.0]
        verdict = "shown" if zero["told_apart"] else "not shown"
        lines.append(
            f"Does dropout help? p = {best:g} beats p = 0 by {zero['difference']:.4f} "
            f"(unadjusted {CONFIDENCE:.0%} CI {_ci(zero['low'], zero['high'])}, adjusted p = {zero['adjusted']:.3g}): "
            f"{verdict} at the {LEVEL:.0%} level."
        )
    return f"{heading}\n\n{table}\n\n" + "\n".join(lines) + f"\n\n{PAIRING}"


def _plus_minus(values, digits):
    """Mean ± sample std; a single value has no spread to show."""
    summary = interval(values)
    if summary["n"] < 2:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"
