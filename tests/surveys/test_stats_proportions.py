"""surveys.stats.proportions against numbers from independent tools.

Where the expected numbers come from, and the tolerances: ``tests/surveys/stats_helpers.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys import stats
from tests.surveys.stats_helpers import (
    OTHER_LIBRARY,
    PUBLISHED_4DP,
    R_DIGITS,
    R_PVALUE,
    SAME_ROUTINE,
)

HYPOTHESIS = settings(max_examples=60, deadline=None)
# statsmodels' Holm runs gc.collect() on every call (~50 ms here), so fewer examples there.
HYPOTHESIS_HOLM = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------------------------------------
# The paper's Table 2


PAPER_TABLE_2 = [
    # (pair, wins of model 1, decisive responses, percentage the paper prints)
    ("VAE(annealing) vs VAE", 79, 120, 66),
    ("AutoGen(m=1) vs VAE(annealing)", 229, 260, 88),
    ("AutoGen(m=2) vs AutoGen(m=1)", 506, 575, 88),
]


@pytest.mark.parametrize(("pair", "k", "n", "percent"), PAPER_TABLE_2)
def test_paper_table_2_counts_give_its_percentages_and_p_below_one_percent(pair, k, n, percent):
    result = stats.binomial_test(k, n, confidence_level=0.99)
    assert round(100 * result.statistic) == percent, pair
    assert result.pvalue < 0.01, pair
    # "with >99% confidence": the 99% Clopper–Pearson interval excludes no preference.
    assert result.ci_low > stats.NO_PREFERENCE, pair


def test_paper_table_2_stays_significant_after_holm_across_its_rows():
    raw = [stats.binomial_test(k, n).pvalue for _, k, n, _ in PAPER_TABLE_2]
    adjusted = stats.holm(raw, alpha=0.01)
    assert all(adjusted.reject)
    assert max(adjusted.pvalues_adjusted) < 0.01


# ---------------------------------------------------------------------------------------------
# Exact binomial test


@pytest.mark.parametrize(
    ("k", "n", "kwargs", "pvalue", "ci_low", "ci_high", "tolerance"),
    [
        # R: binom.test(682, 925, p = 0.75)
        #   p-value = 0.3825; 95 percent confidence interval: 0.7076683 0.7654066
        (682, 925, {"p": 0.75}, 0.3825, 0.7076683, 0.7654066, "R"),
        # R: binom.test(60, 100)  ->  p-value = 0.05689; CI 0.4972092 0.6967052
        (60, 100, {}, 0.05689, 0.4972092, 0.6967052, "R"),
        # scipy: r = scipy.stats.binomtest(79, 120); r.pvalue, r.proportion_ci()
        (79, 120, {}, 0.0006667238970035186, 0.5661994028150482, 0.7424456523480822, "same"),
        # scipy: r = binomtest(682, 925, p=0.75, alternative='greater');
        #        r.pvalue, r.proportion_ci(0.95)
        (
            682, 925, {"p": 0.75, "alternative": "greater"},
            0.8240891223524226, 0.7124129244365465, 1.0, "same",
        ),
        # scipy: r = binomtest(3, 20, p=0.3, alternative='less'); r.pvalue, r.proportion_ci(0.9)
        (
            3, 20, {"p": 0.3, "alternative": "less", "confidence_level": 0.9},
            0.10708680450373087, 0.0, 0.3041868114076314, "same",
        ),
        # k = 0: P = 2 · 0.5^10 = 2/1024; Clopper–Pearson upper bound 1 − 0.025^(1/10).
        (0, 10, {}, 2 / 1024, 0.0, 1 - 0.025 ** (1 / 10), "same"),
        # k = n: the mirror image; lower bound 0.025^(1/10).
        (10, 10, {}, 2 / 1024, 0.025 ** (1 / 10), 1.0, "same"),
    ],
)  # fmt: skip
def test_binomial_test_matches_reference(k, n, kwargs, pvalue, ci_low, ci_high, tolerance):
    result = stats.binomial_test(k, n, **kwargs)
    if tolerance == "R":
        assert result.pvalue == pytest.approx(pvalue, abs=R_PVALUE)
        assert result.ci_low == pytest.approx(ci_low, abs=R_DIGITS)
        assert result.ci_high == pytest.approx(ci_high, abs=R_DIGITS)
    else:
        assert result.pvalue == pytest.approx(pvalue, rel=SAME_ROUTINE)
        assert result.ci_low == pytest.approx(ci_low, rel=SAME_ROUTINE, abs=0)
        assert result.ci_high == pytest.approx(ci_high, rel=SAME_ROUTINE)
    assert (result.k, result.n, result.statistic) == (k, n, k / n)
    assert result.alternative == kwargs.get("alternative", "two-sided")


def test_position_bias_is_the_binomial_test_of_left_wins_against_one_half():
    # R: binom.test(60, 100)  ->  p-value = 0.05689
    result = stats.position_bias(60, 100)
    assert result.pvalue == pytest.approx(0.05688793364098089, rel=SAME_ROUTINE)
    assert result == stats.binomial_test(60, 100, p=0.5)
    assert stats.position_bias(50, 100).pvalue == 1.0


# ---------------------------------------------------------------------------------------------
# Intervals for one proportion


@pytest.mark.parametrize(
    ("k", "n", "confidence_level", "clopper_pearson", "wilson"),
    [
        # statsmodels: proportion_confint(k, n, alpha=1 - confidence_level, method='beta')
        #          and proportion_confint(k, n, alpha=1 - confidence_level, method='wilson')
        (0, 10, 0.95, (0.0, 0.3084971078187607), (0.0, 0.2775327998628892)),
        (10, 10, 0.95, (0.6915028921812392, 1.0), (0.7224672001371107, 0.9999999999999999)),
        (
            79, 120, 0.95,
            (0.5661994028150488, 0.7424456523481342), (0.5697483143197224, 0.7370956163143549),
        ),
        (1, 3, 0.9, (0.016952427508441496, 0.8646496378284162),
         (0.07826572633372836, 0.746466131718776)),
        (
            229, 260, 0.99,
            (0.8199889591942726, 0.9270668531452179), (0.8193043758995792, 0.9232840944171065),
        ),
    ],
)  # fmt: skip
def test_proportion_ci_matches_statsmodels(k, n, confidence_level, clopper_pearson, wilson):
    for method, expected in (("clopper-pearson", clopper_pearson), ("wilson", wilson)):
        result = stats.proportion_ci(k, n, method=method, confidence_level=confidence_level)
        assert result.ci_low == pytest.approx(expected[0], rel=OTHER_LIBRARY, abs=1e-15)
        assert result.ci_high == pytest.approx(expected[1], rel=OTHER_LIBRARY)
        assert (result.method, result.statistic) == (method, k / n)


def test_clopper_pearson_interval_is_exactly_zero_or_one_at_the_edges():
    assert stats.proportion_ci(0, 7).ci_low == 0.0
    assert stats.proportion_ci(7, 7).ci_high == 1.0


@HYPOTHESIS
@given(
    n=st.integers(min_value=1, max_value=2000),
    fraction=st.floats(min_value=0, max_value=1),
    confidence_level=st.floats(min_value=0.5, max_value=0.999),
    method=st.sampled_from(stats.INTERVAL_METHODS),
)
def test_every_interval_lies_in_zero_one_and_contains_k_over_n(
    n, fraction, confidence_level, method
):
    k = round(fraction * n)
    result = stats.proportion_ci(k, n, method=method, confidence_level=confidence_level)
    slack = 1e-12  # Wilson's bound equals k/n up to rounding when k is 0 or n
    assert 0 <= result.ci_low <= k / n + slack
    assert k / n - slack <= result.ci_high <= 1


# ---------------------------------------------------------------------------------------------
# Two proportions


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [
        # Newcombe (1998), Stat Med 17:873–890, Table II, method 10 (hybrid score, no CC).
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
        (10, 10, 0, 10, 0.6075, 1.0000),
    ],
)
def test_newcombe_interval_matches_newcombes_table(k1, n1, k2, n2, low, high):
    result = stats.two_proportions(k1, n1, k2, n2)
    assert result.ci_low == pytest.approx(low, abs=PUBLISHED_4DP)
    assert result.ci_high == pytest.approx(high, abs=PUBLISHED_4DP)
    assert result.difference == pytest.approx(k1 / n1 - k2 / n2)


def test_score_test_is_pearson_chi_square_without_correction():
    # R: prop.test(c(15, 25), c(50, 50), correct = FALSE)  ->  X-squared = 4.1667, p = 0.04123
    # By hand: pooled 0.4, z = -0.2 / sqrt(0.4 · 0.6 · (2/50)) = -2.0412, z² = 25/6.
    # scipy: chi2_contingency([[15, 35], [25, 25]], correction=False)
    #        -> statistic 4.166666666666667, pvalue 0.041226833337163815
    result = stats.two_proportions(15, 50, 25, 50)
    assert result.statistic**2 == pytest.approx(25 / 6, rel=SAME_ROUTINE)
    assert result.statistic < 0
    assert result.pvalue == pytest.approx(0.041226833337163815, rel=SAME_ROUTINE)
    assert result.pvalue == pytest.approx(0.04123, abs=R_PVALUE)


def test_one_sided_score_test_halves_the_p_value_and_the_interval():
    two_sided = stats.two_proportions(15, 50, 25, 50)
    less = stats.two_proportions(15, 50, 25, 50, alternative="less")
    assert less.pvalue == pytest.approx(two_sided.pvalue / 2, rel=SAME_ROUTINE)
    # statsmodels: confint_proportions_2indep(15, 50, 25, 50, method='newcomb', alpha=0.1)
    #              -> (-0.34724732673278413, -0.03885915772997803)
    assert less.ci_low == -1.0
    assert less.ci_high == pytest.approx(-0.03885915772997803, rel=SAME_ROUTINE)
    greater = stats.two_proportions(15, 50, 25, 50, alternative="greater")
    assert greater.pvalue == pytest.approx(1 - two_sided.pvalue / 2, rel=SAME_ROUTINE)
    assert greater.ci_low == pytest.approx(-0.34724732673278413, rel=SAME_ROUTINE)
    assert greater.ci_high == 1.0


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(0, 10, 0, 20), (10, 10, 20, 20)])
def test_two_groups_at_the_same_edge_show_no_difference(k1, n1, k2, n2):
    result = stats.two_proportions(k1, n1, k2, n2)
    assert (result.statistic, result.pvalue, result.difference) == (0.0, 1.0, 0.0)
    assert result.ci_low < 0 < result.ci_high


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "alternative", "pvalue", "statistic", "odds_ratio", "ci"),
    [
        # R: fisher.test(matrix(c(3, 1, 1, 3), 2))  ->  p-value = 0.4857, odds ratio 6.408309
        # Exactly: P(X = 0, 1, 3, 4) = (1 + 16 + 16 + 1) / 70 = 17/35.
        # scipy: odds_ratio([[3, 1], [1, 3]]).confidence_interval()
        #        -> (0.21173559544657966, 626.2435305888141); R's uniroot gives 621.93 here.
        (3, 4, 1, 4, "two-sided", 17 / 35, 9.0, 6.408319658199662,
         (0.21173559544657966, 626.2435305888141)),
        # R: fisher.test(TeaTasting, alternative = "greater")
        #    -> p-value = 0.2429, CI 0.3135693 Inf. Exactly: P(X >= 3) = 17/70.
        # scipy: odds_ratio(...).confidence_interval(alternative='greater')
        (3, 4, 1, 4, "greater", 17 / 70, 9.0, 6.408319658199662, (0.3135737675049858, math.inf)),
        # scipy: fisher_exact([[0, 10], [5, 5]]) -> (0.0, 0.032507739938080496);
        #        odds_ratio([[0, 10], [5, 5]]).confidence_interval() -> (0, 0.8365217939177361)
        (0, 10, 5, 10, "two-sided", 0.032507739938080496, 0.0, 0.0, (0.0, 0.8365217939177361)),
    ],
)  # fmt: skip
def test_fisher_exact_matches_reference(
    k1, n1, k2, n2, alternative, pvalue, statistic, odds_ratio, ci
):
    result = stats.fisher_exact_2x2(k1, n1, k2, n2, alternative=alternative)
    assert result.pvalue == pytest.approx(pvalue, rel=SAME_ROUTINE)
    assert result.statistic == statistic
    assert result.odds_ratio == pytest.approx(odds_ratio, rel=SAME_ROUTINE)
    assert result.ci_low == pytest.approx(ci[0], rel=SAME_ROUTINE)
    assert result.ci_high == pytest.approx(ci[1], rel=SAME_ROUTINE)


def test_fisher_exact_agrees_with_r_to_its_printed_digits():
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater")
    #    -> p-value = 0.2429, CI 0.3135693 Inf, odds ratio 6.408309 (uniroot, tol ~1e-5)
    result = stats.fisher_exact_2x2(3, 4, 1, 4, alternative="greater")
    assert result.pvalue == pytest.approx(0.2429, abs=R_PVALUE)
    assert result.odds_ratio == pytest.approx(6.408309, rel=1e-5)
    assert result.ci_low == pytest.approx(0.3135693, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# Several groups


def test_chi_square_across_matches_r_prop_test_smokers():
    # R (example in ?prop.test): smokers <- c(83, 90, 129, 70); patients <- c(86, 93, 136, 82)
    #   prop.test(smokers, patients)  ->  X-squared = 12.6, df = 3, p-value = 0.005585
    # scipy: chi2_contingency([[83, 3], [90, 3], [129, 7], [70, 12]], correction=False)
    #   -> statistic 12.600411297127634, pvalue 0.005585476661627036
    result = stats.chi_square_across(np.array([83, 90, 129, 70]), [86, 93, 136, 82])
    assert result.statistic == pytest.approx(12.600411297127634, rel=SAME_ROUTINE)
    assert result.pvalue == pytest.approx(0.005585476661627036, rel=SAME_ROUTINE)
    assert result.pvalue == pytest.approx(0.005585, abs=R_PVALUE / 10)
    assert result.dof == 3
    # Smallest expected count: 82 · 25 / 397 (non-smokers expected in the smallest group).
    assert result.min_expected == pytest.approx(82 * 25 / 397, rel=SAME_ROUTINE)


def test_chi_square_across_two_groups_with_yates_correction():
    # R: prop.test(c(15, 25), c(50, 50))  ->  X-squared = 3.375, p-value = 0.06619
    # By hand: Σ (|O − E| − 0.5)² / E = 2 · 4.5²/20 + 2 · 4.5²/30 = 3.375.
    result = stats.chi_square_across([15, 25], [50, 50], correction=True)
    assert result.statistic == pytest.approx(3.375, rel=SAME_ROUTINE)
    assert result.pvalue == pytest.approx(0.06619, abs=R_PVALUE)
    uncorrected = stats.chi_square_across([15, 25], [50, 50])
    assert uncorrected.statistic == pytest.approx(25 / 6, rel=SAME_ROUTINE)


def test_chi_square_across_groups_all_at_zero_shows_no_difference():
    result = stats.chi_square_across([0, 0, 0], [5, 7, 9])
    assert (result.statistic, result.pvalue, result.dof, result.min_expected) == (0.0, 1.0, 2, 0)


# ---------------------------------------------------------------------------------------------
# Holm


@pytest.mark.parametrize(
    ("raw", "adjusted"),
    [
        # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
        # By hand: sorted p_(i) · (m − i + 1) = .05 .08 .09 .08 .05, then running maximum.
        ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
        # R: p.adjust(c(0.04, 0.001, 0.03), "holm") -> 0.060 0.003 0.060 (input order kept)
        ([0.04, 0.001, 0.03], [0.06, 0.003, 0.06]),
        # R: p.adjust(c(0.5, 0.6), "holm") -> 1 1 (capped at 1)
        ([0.5, 0.6], [1.0, 1.0]),
        ([0.0, 1.0], [0.0, 1.0]),
    ],
)
def test_holm_matches_r_p_adjust(raw, adjusted):
    result = stats.holm(np.array(raw))
    assert result.pvalues_adjusted == pytest.approx(adjusted, rel=SAME_ROUTINE)
    assert result.pvalues == tuple(raw)
    assert result.reject == tuple(p <= result.alpha for p in adjusted)


def test_holm_of_no_p_values_is_empty():
    assert stats.holm([]) == stats.HolmResult((), (), (), stats.DEFAULT_ALPHA)


@HYPOTHESIS_HOLM
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30))
def test_holm_never_lowers_a_p_value_and_keeps_their_order(raw):
    adjusted = stats.holm(raw).pvalues_adjusted
    for p, q in zip(raw, adjusted, strict=True):
        assert p <= q <= 1
    order = np.argsort(raw, kind="stable")
    assert all(adjusted[i] <= adjusted[j] for i, j in itertools.pairwise(order))
