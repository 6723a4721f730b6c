"""The study's answer with its uncertainty: per dropout value the mean test
accuracy and its 95% confidence interval (Student's t), and paired t-tests of
each p against the best (summary.PAIRING says why paired). SciPy computes every
statistic."""

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# The false discovery rate at which a difference from the best counts as real.
LEVEL = 0.05


def interval(values):
    """{n, mean, std, low, high}: the mean, sample standard deviation and
    CONFIDENCE t-interval of the mean of `values`; no spread for one value."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"n": 1, "mean": mean, "std": None, "low": None, "high": None}
    std = float(values.std(ddof=1))
    low, high = (mean, mean) if std == 0 else stats.t.interval(CONFIDENCE, len(values) - 1, mean, stats.sem(values))
    return {"n": len(values), "mean": mean, "std": std, "low": float(low), "high": float(high)}


def intervals_by_dropout(values_by_dropout):
    """{dropout: {values, and their interval}} of {dropout: values over seeds}."""
    return {p: {"values": values, **interval(values)} for p, values in values_by_dropout.items()}


def compare_dropouts(accuracies):
    """The answer for one settings combination, from {dropout: {seed:
    accuracy}}: {"intervals": {p: interval}, "best": p with the highest mean
    (ties: the smaller p), "versus_best": {other p: {difference, low, high,
    p_value, adjusted, told_apart}}}; "versus_best" is empty with one seed."""
    intervals = {p: interval(list(by_seed.values())) for p, by_seed in sorted(accuracies.items())}
    best = max(intervals, key=lambda p: (intervals[p]["mean"], -p))
    others = [p for p in intervals if p != best and len(accuracies[p]) > 1]
    tests = {}
    for p in others:
        seeds = sorted(set(accuracies[p]) & set(accuracies[best]))
        result = stats.ttest_rel([accuracies[best][s] for s in seeds], [accuracies[p][s] for s in seeds])
        low, high = result.confidence_interval(CONFIDENCE)
        difference = float(np.mean([accuracies[best][s] - accuracies[p][s] for s in seeds]))
        # Identical accuracies at every seed: no difference to test.
        p_value = 1.0 if math.isnan(result.pvalue) else float(result.pvalue)
        tests[p] = {"difference": difference, "low": float(low), "high": float(high), "p_value": p_value}
    if tests:
        adjusted = stats.false_discovery_control([test["p_value"] for test in tests.values()], method="bh")
        for test, value in zip(tests.values(), adjusted):
            test.update(adjusted=float(value), told_apart=bool(value < LEVEL))
    return {"intervals": intervals, "best": best, "versus_best": tests}
