"""The study's answer with its uncertainty, checked against values computed
here by hand (Student's t with 4 degrees of freedom in closed form, the paired
t statistic, Benjamini-Hochberg), on a fixed table of 5 seeds x 3 p."""

import math

import pytest

from mnist_dropout.uncertainty import compare_dropouts, interval

# {p: {seed: test accuracy}}: p = 0.3 best; p = 0.5 close to it, p = 0 well below.
TABLE = {
    0.0: {0: 0.9692, 1: 0.9781, 2: 0.9740, 3: 0.9805, 4: 0.9760},
    0.3: {0: 0.9768, 1: 0.9820, 2: 0.9801, 3: 0.9835, 4: 0.9809},
    0.5: {0: 0.9779, 1: 0.9802, 2: 0.9811, 3: 0.9822, 4: 0.9790},
}
# The 97.5% quantile of Student's t with 4 degrees of freedom.
T_975_4 = 2.7764451051977987


def mean(values):
    return sum(values) / len(values)


def sample_std(values):
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def two_sided_p_4_degrees(t):
    """P(|T| >= |t|) for Student's t with 4 degrees of freedom: its CDF is
    1/2 + x (3 - x^2) / 4 with x = t / sqrt(t^2 + 4)."""
    x = abs(t) / math.sqrt(t * t + 4)
    return 1 - x * (3 - x * x) / 2


def test_the_t_distribution_in_closed_form_is_right():
    assert two_sided_p_4_degrees(T_975_4) == pytest.approx(0.05, abs=1e-12)
    assert two_sided_p_4_degrees(0.0) == pytest.approx(1.0)


def test_intervals_match_hand_computed_ones():
    for values in (list(by_seed.values()) for by_seed in TABLE.values()):
        m, s = mean(values), sample_std(values)
        half = T_975_4 * s / math.sqrt(5)
        assert interval(values) == pytest.approx({"n": 5, "mean": m, "std": s, "low": m - half, "high": m + half})


def test_one_value_has_no_interval_and_equal_values_a_zero_width_one():
    assert interval([0.97]) == {"n": 1, "mean": 0.97, "std": None, "low": None, "high": None}
    assert interval([0.5, 0.5, 0.5]) == {"n": 3, "mean": 0.5, "std": 0.0, "low": 0.5, "high": 0.5}


def test_paired_tests_against_the_best_match_hand_computed_ones():
    answer = compare_dropouts(TABLE)
    assert answer["best"] == 0.3
    expected = {}
    for p in (0.0, 0.5):
        differences = [TABLE[0.3][seed] - TABLE[p][seed] for seed in range(5)]
        d, s = mean(differences), sample_std(differences)
        t = d / (s / math.sqrt(5))
        half = T_975_4 * s / math.sqrt(5)
        expected[p] = {"difference": d, "low": d - half, "high": d + half, "p_value": two_sided_p_4_degrees(t)}
    # Benjamini-Hochberg over the two comparisons: the smaller p-value times 2,
    # the larger as it is, each at most the next larger one's adjusted value.
    small, large = sorted(expected, key=lambda p: expected[p]["p_value"])
    expected[large]["adjusted"] = expected[large]["p_value"]
    expected[small]["adjusted"] = min(2 * expected[small]["p_value"], expected[large]["adjusted"])
    for p, values in expected.items():
        got = answer["versus_best"][p]
        assert {key: got[key] for key in values} == pytest.approx(values, rel=1e-9), p
    # p = 0 is told apart from the best (worse), p = 0.5 is not.
    assert answer["versus_best"][0.0]["told_apart"] and not answer["versus_best"][0.5]["told_apart"]
    assert answer["versus_best"][0.0]["adjusted"] < 0.05 < answer["versus_best"][0.5]["adjusted"]


def test_with_one_seed_nothing_is_tested():
    answer = compare_dropouts({p: {0: by_seed[0]} for p, by_seed in TABLE.items()})
    assert answer["best"] == 0.5 and answer["versus_best"] == {}
    assert all(row["low"] is None for row in answer["intervals"].values())


def test_identical_accuracies_cannot_be_told_apart():
    answer = compare_dropouts({0.0: {0: 0.9, 1: 0.95}, 0.1: {0: 0.9, 1: 0.95}})
    assert answer["best"] == 0.0
    assert answer["versus_best"][0.1]["p_value"] == 1.0 and not answer["versus_best"][0.1]["told_apart"]
