"""surveys.stats against numbers from independent tools.

Where the expected numbers come from:
- R: the command is in a comment; R prints about 7 significant digits (p-values 4), so those
  comparisons use the printed precision.
- Published tables (Newcombe 1998; Krippendorff 2011): compared at the printed decimals.
- scipy / statsmodels / krippendorff called directly: the call is in a comment and the numbers
  were pasted from it; compared to 1e-12 relative where the same routine computes them, to
  1e-10 where another library's routine does.
- Closed forms and hand arithmetic, shown in the comment.
- Monte Carlo results (bootstraps): compared within a stated fraction of a standard error.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as scipy_stats

from surveys import stats

ROOT = Path(__file__).resolve().parents[2]
SAME_ROUTINE = 1e-12
OTHER_LIBRARY = 1e-10
R_PVALUE = 5e-5  # R prints p-values to 4 significant digits
R_DIGITS = 5e-8  # R prints other numbers to 7 significant digits (here: 7 decimals)
PUBLISHED_4DP = 5e-5
PUBLISHED_3DP = 5e-4
OPTIMISER = 1e-8  # two maximum-likelihood optimisers agree to about this
HYPOTHESIS = settings(max_examples=60, deadline=None)
# statsmodels' Holm runs gc.collect() on every call (~50 ms here), so fewer examples there.
HYPOTHESIS_HOLM = settings(max_examples=25, deadline=None)


def message(template: str, **values: object) -> str:
    """A regex matching exactly the formatted error message."""
    return re.escape(template.format(**values))


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


# ---------------------------------------------------------------------------------------------
# Answers clustered by rater


def per_rater(ks, ns):
    """Answer-level (successes, raters) arrays from per-rater counts."""
    raters = np.repeat(np.arange(len(ns)), ns)
    successes = np.concatenate(
        [np.arange(n) < k for k, n in zip(ks, ns, strict=True)]
    )  # first k answers of each rater are successes
    return successes, raters


# Few distinct (k, n) patterns: the bootstrap draws one multinomial count per pattern.
FEW_PATTERNS = ([0, 5, 12, 17, 20] * 12, [20] * 60)
# Forty different raters: the bootstrap draws rater indices.
MANY_PATTERNS = (
    [4, 2, 4, 5, 4, 6, 7, 6, 7, 9, 8, 9, 11, 9, 11, 13, 11, 13, 14, 13,
     15, 16, 15, 16, 18, 17, 18, 20, 18, 20, 22, 20, 22, 23, 22, 24, 25, 24, 25, 27],
    list(range(5, 45)),
)  # fmt: skip


@pytest.mark.parametrize(
    ("counts", "ci", "standard_error"),
    [
        # scipy: r = bootstrap((ks, ns), lambda k, n, axis: k.sum(axis=axis) / n.sum(axis=axis),
        #                      paired=True, vectorized=True, method='percentile',
        #                      n_resamples=20000, rng=np.random.default_rng(0))
        #        r.confidence_interval, r.standard_error
        (FEW_PATTERNS, (0.44583333333333336, 0.6333333333333333), 0.04803380654797511),
        (MANY_PATTERNS, (0.5730337078651685, 0.5956112852664577), 0.005748316618749519),
    ],
)
def test_cluster_bootstrap_matches_scipys_paired_bootstrap_of_raters(counts, ci, standard_error):
    successes, raters = per_rater(*counts)
    result = stats.cluster_bootstrap_proportion(successes, raters, n_boot=20_000, seed=0)
    # Monte Carlo: with 20,000 replicates a 95% percentile bound wanders about 0.02 SE.
    tolerance = 0.1 * standard_error
    assert result.ci_low == pytest.approx(ci[0], abs=tolerance)
    assert result.ci_high == pytest.approx(ci[1], abs=tolerance)
    assert result.standard_error == pytest.approx(standard_error, rel=0.05)
    assert result.statistic == sum(counts[0]) / sum(counts[1])
    assert (result.k, result.n, result.n_clusters) == (
        sum(counts[0]),
        sum(counts[1]),
        len(counts[1]),
    )


def test_cluster_bootstrap_of_independent_answers_is_close_to_the_binomial_interval():
    successes, raters = per_rater([1] * 300 + [0] * 700, [1] * 1000)
    result = stats.cluster_bootstrap_proportion(successes, raters, n_boot=4000, seed=1)
    wald_half_width = scipy_stats.norm.ppf(0.975) * math.sqrt(0.3 * 0.7 / 1000)
    assert result.ci_low == pytest.approx(0.3 - wald_half_width, abs=0.1 * wald_half_width)
    assert result.ci_high == pytest.approx(0.3 + wald_half_width, abs=0.1 * wald_half_width)
    assert result.design_effect == pytest.approx(1.0, abs=0.1)


def test_raters_who_always_agree_with_themselves_inflate_variance_by_m():
    # ICC = 1 with m = 20 answers each: design effect 1 + (20 − 1) · 1 = 20.
    ks = [20] * 60 + [0] * 40
    result = stats.cluster_bootstrap_counts(ks, [20] * 100, n_boot=4000, seed=2)
    assert result.design_effect == pytest.approx(20, rel=0.1)


def test_cluster_bootstrap_is_repeatable_and_takes_any_rater_labels():
    successes, raters = per_rater(*FEW_PATTERNS)
    labels = np.array([f"rater-{r}" for r in raters], dtype=object)
    first = stats.cluster_bootstrap_proportion(successes.tolist(), labels, n_boot=300, seed=7)
    again = stats.cluster_bootstrap_proportion(successes, labels, n_boot=300, seed=7)
    from_counts = stats.cluster_bootstrap_counts(*FEW_PATTERNS, n_boot=300, seed=7)
    generator = stats.cluster_bootstrap_counts(
        *FEW_PATTERNS, n_boot=300, seed=np.random.default_rng(7)
    )
    assert first == again == from_counts == generator


def test_cluster_bootstrap_of_a_million_answers_takes_well_under_seconds():
    rng = np.random.default_rng(3)
    raters = np.repeat(np.arange(50_000), 20)
    successes = rng.random(raters.size) < rng.beta(8, 2, 50_000)[raters]
    started = time.perf_counter()
    result = stats.cluster_bootstrap_proportion(successes, raters, seed=3)
    elapsed = time.perf_counter() - started
    assert result.n == 1_000_000
    assert result.ci_low < result.statistic < result.ci_high
    assert elapsed < 5, f"{elapsed:.2f} s"  # about 0.1 s on one core; generous for shared CI


def test_gee_of_single_answers_is_the_logit_wald_interval():
    # One answer per rater: GEE is the plain logistic MLE, p̂ = k/n, and the sandwich
    # variance on the logit scale is 1 / (n p̂ (1 − p̂)); interval expit(logit p̂ ± z·se).
    successes = np.array([1] * 30 + [0] * 70)
    result = stats.gee_proportion(successes, np.arange(100))
    standard_error = 1 / math.sqrt(100 * 0.3 * 0.7)
    z = scipy_stats.norm.ppf(0.975)
    assert result.statistic == pytest.approx(0.3, rel=OPTIMISER)
    assert result.standard_error == pytest.approx(standard_error, rel=OPTIMISER)
    assert result.ci_low == pytest.approx(special.expit(special.logit(0.3) - z * standard_error))
    assert result.ci_high == pytest.approx(special.expit(special.logit(0.3) + z * standard_error))
    wald = special.logit(0.3) / standard_error
    assert result.pvalue == pytest.approx(2 * scipy_stats.norm.sf(abs(wald)), rel=OPTIMISER)


GEE_ANSWERS = {
    "ann": [1, 1, 1, 0, 1],
    "bob": [0, 0, 1],
    "cat": [1, 1, 1, 1, 1, 1],
    "dan": [0, 1, 0, 0],
    "eve": [1, 1, 0, 1, 1, 1, 0],
    "fay": [1, 0],
    "gus": [1, 1, 1, 0, 0, 1, 1, 1],
    "hal": [0, 0, 0, 1],
}


def test_gee_matches_statsmodels_on_unequal_clusters():
    # statsmodels: codes = np.unique(raters, return_inverse=True)[1]
    #   f = GEE(y, np.ones((39, 1)), groups=codes, family=families.Binomial(),
    #           cov_struct=cov_struct.Exchangeable()).fit()
    #   f.params[0], f.bse[0], f.model.cov_struct.dep_params
    #   -> 0.4947528763386958, 0.3960156618408169, 0.08726141133518012
    successes = [answer for answers in GEE_ANSWERS.values() for answer in answers]
    raters = [rater for rater, answers in GEE_ANSWERS.items() for _ in answers]
    result = stats.gee_proportion(successes, raters, confidence_level=0.9)
    logit, standard_error = 0.4947528763386958, 0.3960156618408169
    z = scipy_stats.norm.ppf(0.95)
    assert result.statistic == pytest.approx(special.expit(logit), rel=SAME_ROUTINE)
    assert result.standard_error == pytest.approx(standard_error, rel=SAME_ROUTINE)
    assert result.correlation == pytest.approx(0.08726141133518012, rel=SAME_ROUTINE)
    assert result.ci_low == pytest.approx(special.expit(logit - z * standard_error))
    assert result.ci_high == pytest.approx(special.expit(logit + z * standard_error))
    assert (result.k, result.n, result.n_clusters) == (25, 39, 8)


@pytest.mark.parametrize("outcome", [0, 1])
def test_gee_refuses_data_with_one_outcome(outcome):
    with pytest.raises(
        ValueError, match=message(stats.GEE_BOTH_OUTCOMES_ERROR, k=5 * outcome, n=5)
    ):
        stats.gee_proportion([outcome] * 5, [1, 1, 2, 2, 3])


# ---------------------------------------------------------------------------------------------
# Bradley–Terry


def comparisons_from(wins, labels):
    return [
        (labels[i], labels[j])
        for i, row in enumerate(wins)
        for j, count in enumerate(row)
        for _ in range(count)
    ]


PAPER_CHAIN = [[0, 41, 0, 0], [79, 0, 31, 0], [0, 229, 0, 69], [0, 0, 506, 0]]
PAPER_MODELS = ["a-vae", "b-vae-annealing", "c-autogen-1", "d-autogen-2"]


@pytest.mark.parametrize(
    ("wins", "relative_scores"),
    [
        # statsmodels: one row per cell (i beat j) with x = e_i − e_j minus column 0,
        #   GLM(np.ones(rows), X, family=Binomial(), freq_weights=wins).fit(tol=1e-14).params
        (PAPER_CHAIN, [0.6558757857627135, 2.6556105848318072, 4.648040749522012]),
        ([[0, 7, 9], [3, 0, 6], [1, 4, 0]], [-1.103766547182416, -1.7270510026350872]),
        # Two items: closed form, s1 − s0 = log(79 / 41).
        ([[0, 41], [79, 0]], [math.log(79 / 41)]),
    ],
)
def test_bradley_terry_matches_logistic_regression(wins, relative_scores):
    result = stats.bradley_terry_from_wins(wins, n_boot=20, seed=0)
    scores = np.array(result.scores)
    assert scores[1:] - scores[0] == pytest.approx(relative_scores, abs=OPTIMISER)
    assert scores.sum() == pytest.approx(0, abs=OPTIMISER)


def test_bradley_terry_bootstrap_of_two_items_follows_the_binomial_quantiles():
    # With two items the resampled wins of item 1 are Binomial(120, 79/120) and its centred
    # score is logit(wins / 120) / 2, so the percentile bounds are that transform of
    # scipy.stats.binom.ppf(0.025 or 0.975, 120, 79/120) = 69 and 89, give or take one
    # outcome of Monte Carlo luck (cdf(68) = 0.0230, cdf(69) = 0.0352).
    result = stats.bradley_terry_from_wins([[0, 41], [79, 0]], n_boot=20_000, seed=0)
    low, high = (special.logit(wins / 120) / 2 for wins in (69, 89))
    one_outcome = special.logit(70 / 120) / 2 - special.logit(69 / 120) / 2
    assert result.ci_low[1] == pytest.approx(low, abs=one_outcome)
    assert result.ci_high[1] == pytest.approx(high, abs=one_outcome)
    assert result.ci_low[0] == pytest.approx(-result.ci_high[1], abs=OPTIMISER)


def test_bradley_terry_ranks_the_paper_models_in_the_paper_order():
    comparisons = comparisons_from(PAPER_CHAIN, PAPER_MODELS)
    result = stats.bradley_terry(comparisons[::-1], n_boot=200, seed=4)
    assert result.labels == tuple(PAPER_MODELS)
    assert result.ranking == tuple(reversed(PAPER_MODELS))
    assert result.wins == tuple(tuple(row) for row in PAPER_CHAIN)
    assert result.n_comparisons == len(comparisons)
    assert result.n_boot_failed == 0
    for low, score, high in zip(result.ci_low, result.scores, result.ci_high, strict=True):
        assert low < score < high
    # The chain compares neighbours only: the order agrees, but no triad can be checked.
    assert result.transitivity == stats.TransitivityResult(True, (), (), 0)
    assert result == stats.bradley_terry(np.array(comparisons), n_boot=200, seed=4)


def test_bradley_terry_reports_an_intransitive_triad():
    # a beats b 7–3, b beats c 7–3, c beats a 7–3: equal strengths, one cycle.
    wins = [[0, 7, 3], [3, 0, 7], [7, 3, 0]]
    result = stats.bradley_terry(comparisons_from(wins, "abc"), n_boot=20, seed=0)
    assert result.scores == pytest.approx([0, 0, 0], abs=OPTIMISER)
    assert result.transitivity.intransitive_triads == (("a", "b", "c"),)
    assert result.transitivity.n_triads_checked == 1
    assert not result.transitivity.consistent


def test_bradley_terry_reports_a_pair_whose_direct_record_contradicts_the_order():
    # a loses to b 4–6 but beats c 9–1 while b and c draw 5–5, so the fit puts a above b.
    # statsmodels GLM as above -> relative scores (-0.28321954084057765, -0.992921769523895).
    wins = [[0, 4, 9], [6, 0, 5], [1, 5, 0]]
    result = stats.bradley_terry(comparisons_from(wins, "abc"), n_boot=20, seed=0)
    scores = np.array(result.scores)
    assert scores[1:] - scores[0] == pytest.approx(
        [-0.28321954084057765, -0.992921769523895], abs=OPTIMISER
    )
    assert result.ranking == ("a", "b", "c")
    assert result.transitivity.order_violations == (("a", "b", 0.4),)
    assert result.transitivity.intransitive_triads == ()
    assert not result.transitivity.consistent


def test_bradley_terry_keeps_labels_as_python_values():
    pairs = [(1, 2), (2, 1), (2, 3), (3, 2), (1, 3), (3, 1)] * 10
    result = stats.bradley_terry(pairs, n_boot=10, seed=0)
    assert result.labels == (1, 2, 3)
    assert all(type(label) is int for label in result.labels)


def test_bradley_terry_refuses_an_item_that_never_won():
    with pytest.raises(
        ValueError, match=message(stats.BRADLEY_TERRY_NO_MLE_ERROR, unreached=["b"])
    ):
        stats.bradley_terry([("a", "b"), ("a", "b"), ("c", "a"), ("a", "c")])


def test_bradley_terry_warns_when_resamples_lose_an_items_only_win():
    # b beat a once in 21 comparisons; about (20/21)^21 ≈ 36% of resamples drop that win.
    with pytest.warns(RuntimeWarning, match="bootstrap replicates had no finite estimate"):
        result = stats.bradley_terry_from_wins([[0, 20], [1, 0]], n_boot=100, seed=5)
    assert 0 < result.n_boot_failed < 100


@pytest.mark.parametrize(
    ("comparisons", "error"),
    [
        ([("a", "a")], message(stats.SELF_COMPARISON_ERROR, label="a")),
        ([("a", "b", "c")], message(stats.COMPARISON_SHAPE_ERROR, shape=(1, 3))),
        ([], message(stats.COMPARISON_SHAPE_ERROR, shape=(0,))),
    ],
)
def test_bradley_terry_refuses_malformed_comparisons(comparisons, error):
    with pytest.raises(ValueError, match=error):
        stats.bradley_terry(comparisons)


def test_bradley_terry_per_rater_estimates_the_pooled_scores_and_resamples_raters():
    # 25 raters judged a, b and c; their matrices add up to the pooled one.
    rng = np.random.default_rng(3)
    per_rater = rng.integers(0, 6, size=(25, 3, 3))
    pooled = per_rater.sum(axis=0)
    clustered = stats.bradley_terry_from_wins(per_rater, labels="abc", n_boot=300, seed=1)
    plain = stats.bradley_terry_from_wins(pooled, labels="abc", n_boot=300, seed=1)
    assert clustered.scores == pytest.approx(plain.scores, abs=OPTIMISER)
    assert clustered.wins == plain.wins and clustered.n_comparisons == plain.n_comparisons
    assert (clustered.n_clusters, plain.n_clusters) == (25, None)
    assert clustered.ranking == plain.ranking


def test_bradley_terry_per_rater_leaves_out_silent_raters_and_refuses_to_resample_one():
    active = np.array([[[0, 7], [3, 0]], [[0, 2], [5, 0]], [[0, 4], [4, 0]]])
    silent = np.zeros((2, 2, 2), dtype=int)
    with_silent = stats.bradley_terry_from_wins(np.concatenate([active, silent]), seed=2)
    without = stats.bradley_terry_from_wins(active, seed=2)
    assert with_silent == without and without.n_clusters == 3
    with pytest.warns(RuntimeWarning, match="one rater"):
        alone = stats.bradley_terry_from_wins(active[:1], n_boot=50, seed=0)
    assert alone.scores[1] - alone.scores[0] == pytest.approx(math.log(3 / 7), abs=OPTIMISER)
    assert all(math.isnan(v) for v in alone.ci_low + alone.ci_high)
    assert (alone.n_clusters, alone.n_boot_failed) == (1, 0)


def test_bradley_terry_per_rater_intervals_follow_the_rater_bootstrap_of_the_proportion():
    # Two items: the centred score of item 1 is logit(p) / 2 with p its share of the wins, so
    # resampling raters must give logit(bounds) / 2 of cluster_bootstrap_counts' interval on
    # the same per-rater counts (different draws: within Monte Carlo error).
    rng = np.random.default_rng(0)
    n = rng.integers(1, 21, size=40)
    taste = rng.beta(2, 1, size=40)  # raters differ: clustering matters
    k = rng.binomial(n, taste)
    per_rater = np.zeros((40, 2, 2), dtype=int)
    per_rater[:, 1, 0], per_rater[:, 0, 1] = k, n - k
    result = stats.bradley_terry_from_wins(per_rater, n_boot=20_000, seed=0)
    reference = stats.cluster_bootstrap_counts(k, n, n_boot=20_000, seed=1)
    assert result.ci_low[1] == pytest.approx(special.logit(reference.ci_low) / 2, abs=0.02)
    assert result.ci_high[1] == pytest.approx(special.logit(reference.ci_high) / 2, abs=0.02)
    comparisons = stats.bradley_terry_from_wins(per_rater.sum(axis=0), n_boot=20_000, seed=0)
    # The raters' differing tastes widen the interval beyond resampling comparisons.
    width = result.ci_high[1] - result.ci_low[1]
    assert width > 1.3 * (comparisons.ci_high[1] - comparisons.ci_low[1])


def test_bradley_terry_from_wins_refuses_bad_matrices():
    with pytest.raises(ValueError, match=message(stats.WINS_MATRIX_ERROR, shape=(2, 3))):
        stats.bradley_terry_from_wins([[0, 1, 2], [1, 0, 2]])
    with pytest.raises(ValueError, match=message(stats.WINS_MATRIX_ERROR, shape=(2, 2))):
        stats.bradley_terry_from_wins([[0, -1], [1, 0]])
    with pytest.raises(ValueError, match=message(stats.LABELS_LENGTH_ERROR, size=2, labels="a")):
        stats.bradley_terry_from_wins([[0, 1], [1, 0]], labels="a")
    with pytest.raises(ValueError, match=message(stats.WINS_MATRIX_ERROR, shape=(0, 2, 2))):
        stats.bradley_terry_from_wins(np.zeros((0, 2, 2)))


# ---------------------------------------------------------------------------------------------
# Krippendorff's alpha

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, missing values (rows are observers A–D, columns units 1–12).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def long_format(reliability_data):
    items, values = [], []
    for row in reliability_data:
        for item, value in enumerate(row):
            if not math.isnan(value):
                items.append(item)
                values.append(value)
    return items, values


@pytest.mark.parametrize(
    ("level", "published", "package"),
    [
        # published: Krippendorff (2011), section C, to 3 decimals.
        # package: krippendorff.alpha(reliability_data=KRIPPENDORFF_2011,
        #                             level_of_measurement=level)
        ("nominal", 0.743, 0.743421052631579),
        ("ordinal", 0.815, 0.8153875037548814),
        ("interval", 0.849, 0.8491071428571428),
        ("ratio", 0.797, 0.7974027747116121),
    ],
)
def test_krippendorff_alpha_matches_krippendorffs_worked_example(level, published, package):
    items, values = long_format(KRIPPENDORFF_2011)
    result = stats.krippendorff_alpha(items, values, level=level)
    assert result.statistic == pytest.approx(published, abs=PUBLISHED_3DP)
    assert result.statistic == pytest.approx(package, rel=SAME_ROUTINE)
    # Unit 12 has one rating and is dropped: 11 units, 40 of the 41 ratings.
    assert (result.n_items, result.n_ratings, result.level) == (11, 40, level)


def test_krippendorff_alpha_takes_category_names():
    items, values = long_format(KRIPPENDORFF_2011)
    names = {1.0: "one", 2.0: "two", 3.0: "three", 4.0: "four", 5.0: "five"}
    named = stats.krippendorff_alpha(items, [names[v] for v in values])
    assert named.statistic == pytest.approx(0.743421052631579, rel=SAME_ROUTINE)


def test_krippendorff_alpha_refuses_items_rated_once():
    with pytest.raises(ValueError, match=message(stats.KRIPPENDORFF_NO_PAIRS_ERROR, n_items=3)):
        stats.krippendorff_alpha(["x", "y", "z"], ["yes", "no", "yes"])


def test_krippendorff_alpha_refuses_ratings_that_never_vary():
    with pytest.raises(ValueError, match=message(stats.KRIPPENDORFF_ONE_VALUE_ERROR, value="yes")):
        stats.krippendorff_alpha(["x", "x", "y", "y", "z"], ["yes", "yes", "yes", "yes", "no"])


# ---------------------------------------------------------------------------------------------
# Sample sizes


def brute_force_power(n, p0, p1, alpha, alternative):
    """Power of scipy.stats.binomtest at n, by testing every possible outcome."""
    rejected = [
        k
        for k in range(n + 1)
        if scipy_stats.binomtest(k, n, p0, alternative=alternative).pvalue <= alpha
    ]
    return scipy_stats.binom.pmf(rejected, n, p1).sum()


@pytest.mark.parametrize(
    ("p1", "p0", "alpha", "power", "alternative", "n"),
    [
        # n = the first n with brute_force_power(n, ...) >= power, searched from n = 1.
        (0.66, 0.5, 0.01, 0.8, "two-sided", 115),
        (0.75, 0.5, 0.05, 0.8, "two-sided", 30),
        (0.7, 0.5, 0.05, 0.9, "greater", 53),
        (0.2, 0.4, 0.05, 0.8, "less", 36),
        (0.9, 0.7, 0.01, 0.8, "two-sided", 46),
    ],
)
def test_exact_sample_size_is_the_first_n_where_the_binomial_test_has_the_power(
    p1, p0, alpha, power, alternative, n
):
    result = stats.sample_size_win_rate(
        p1, p0=p0, alpha=alpha, power=power, alternative=alternative
    )
    assert (result.n, result.n_unclustered, result.design_effect) == (n, n, 1.0)
    assert result.achieved_power == pytest.approx(
        brute_force_power(n, p0, p1, alpha, alternative), rel=SAME_ROUTINE
    )
    assert result.achieved_power >= power
    assert brute_force_power(n - 1, p0, p1, alpha, alternative) < power


def test_exact_sample_size_below_n_all_fall_short():
    # The smallest-n claim, checked for every smaller n of one case.
    result = stats.sample_size_win_rate(0.75, alpha=0.05, power=0.8)
    assert all(brute_force_power(m, 0.5, 0.75, 0.05, "two-sided") < 0.8 for m in range(1, result.n))


@pytest.mark.parametrize(("p1", "alpha", "power"), [(0.66, 0.01, 0.8), (0.6, 0.05, 0.9)])
def test_normal_sample_size_is_the_arcsine_formula(p1, alpha, power):
    # Cohen's h = 2 asin √p1 − 2 asin √p0; n = ((z_{1−α/2} + z_power) / h)² (the far tail,
    # which statsmodels adds, changes n by far less than one here).
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(0.5))
    z = scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power)
    result = stats.sample_size_win_rate(p1, alpha=alpha, power=power, method="normal")
    assert result.n == math.ceil((z / h) ** 2)
    assert result.achieved_power >= power


def test_two_proportions_sample_size_is_the_arcsine_formula():
    # Per group: n = 2 ((z_{0.975} + z_{0.8}) / h)², h = 2 asin √0.5 − 2 asin √0.3
    #   = 92.7 -> 93; statsmodels: NormalIndPower().solve_power(h, alpha=0.05, power=0.8)
    #   -> 92.69608121266178.
    result = stats.sample_size_two_proportions(0.5, 0.3)
    h = 2 * math.asin(math.sqrt(0.5)) - 2 * math.asin(math.sqrt(0.3))
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert result.n == math.ceil(2 * (z / h) ** 2) == 93
    assert result.method == "normal"


@pytest.mark.parametrize(
    ("m", "icc", "design_effect"),
    [(20, 0.1, 2.9), (20, 0.0, 1.0), (1, 0.5, 1.0), (2, 0.1, 1.1), (11, 1.0, 11.0)],
)
def test_sample_sizes_multiply_by_the_design_effect(m, icc, design_effect):
    for result in (
        stats.sample_size_two_proportions(0.5, 0.3, answers_per_rater=m, icc=icc),
        stats.sample_size_win_rate(0.66, alpha=0.01, answers_per_rater=m, icc=icc),
    ):
        assert result.design_effect == pytest.approx(design_effect, rel=SAME_ROUTINE)
        # round(…, 9) keeps 110.00000000000001 from rounding up to 111.
        assert result.n == math.ceil(round(result.n_unclustered * design_effect, 9))
        assert result.n_raters == math.ceil(result.n / m)


def test_paper_planning_example():
    # A 66% win rate at α = 0.01 and 80% power, raters answering 20 questions with ICC 0.1:
    # 115 independent answers, × 2.9 = 334 answers, from 17 raters.
    result = stats.sample_size_win_rate(0.66, alpha=0.01, answers_per_rater=20, icc=0.1)
    assert (result.n_unclustered, result.n, result.n_raters) == (115, 334, 17)


def test_sample_size_gives_up_at_max_n():
    with pytest.raises(
        ValueError, match=message(stats.SAMPLE_SIZE_UNREACHED_ERROR, max_n=50, power=0.8)
    ):
        stats.sample_size_win_rate(0.6, max_n=50)


# ---------------------------------------------------------------------------------------------
# Input validation


ALLOWED_ALTERNATIVES = stats.ALTERNATIVES


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: stats.binomial_test(-1, 10), message(stats.K_RANGE_ERROR, k=-1, n=10)),
        (lambda: stats.binomial_test(11, 10), message(stats.K_RANGE_ERROR, k=11, n=10)),
        (lambda: stats.binomial_test(0, 0), message(stats.N_POSITIVE_ERROR, name="n", value=0)),
        (lambda: stats.binomial_test(2.5, 10), message(stats.INTEGER_ERROR, name="k", value=2.5)),
        (lambda: stats.binomial_test(True, 10), message(stats.INTEGER_ERROR, name="k", value=True)),
        (
            lambda: stats.binomial_test(3, 10, alternative="two_sided"),
            message(stats.CHOICE_ERROR, name="alternative", allowed=ALLOWED_ALTERNATIVES,
                    value="two_sided"),
        ),
        (
            lambda: stats.binomial_test(3, 10, p=1.0),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="p", value=1.0),
        ),
        (
            lambda: stats.proportion_ci(3, 10, confidence_level=95),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="confidence_level", value=95),
        ),
        (
            lambda: stats.proportion_ci(3, 10, confidence_level=0.0),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="confidence_level", value=0.0),
        ),
        (
            lambda: stats.proportion_ci(3, 10, confidence_level=math.nan),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="confidence_level", value=math.nan),
        ),
        (
            lambda: stats.proportion_ci(3, 10, method="exact"),
            message(stats.CHOICE_ERROR, name="method", allowed=stats.INTERVAL_METHODS,
                    value="exact"),
        ),
        (lambda: stats.position_bias(7, 5), message(stats.K_RANGE_ERROR, k=7, n=5)),
        (
            lambda: stats.two_proportions(1, 0, 1, 5),
            message(stats.N_POSITIVE_ERROR, name="n", value=0),
        ),
        (
            lambda: stats.two_proportions(1, 5, 1, 5, alternative="less", confidence_level=0.4),
            message(stats.ONE_SIDED_CONFIDENCE_ERROR, value=0.4),
        ),
        (lambda: stats.fisher_exact_2x2(1, 5, 6, 5), message(stats.K_RANGE_ERROR, k=6, n=5)),
        (
            lambda: stats.chi_square_across([1, 2], [5]),
            message(stats.LENGTH_MISMATCH_ERROR, first="ks", second="ns", n1=2, n2=1),
        ),
        (
            lambda: stats.chi_square_across([1], [5]),
            message(stats.TOO_FEW_GROUPS_ERROR, name="chi_square_across", minimum=2, value=1),
        ),
        (lambda: stats.chi_square_across([1, -1], [5, 5]), message(stats.K_RANGE_ERROR, k=-1, n=5)),
        (
            lambda: stats.holm([0.2, 1.5]),
            message(stats.CLOSED_UNIT_INTERVAL_ERROR, name="pvalues", value=1.5),
        ),
        (
            lambda: stats.holm([0.2, math.nan]),
            message(stats.CLOSED_UNIT_INTERVAL_ERROR, name="pvalues", value=math.nan),
        ),
        (
            lambda: stats.holm([0.2], alpha=1),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="alpha", value=1),
        ),
        (
            lambda: stats.cluster_bootstrap_proportion([0, 2], [1, 2]),
            message(stats.BINARY_ERROR, value=2),
        ),
        (
            lambda: stats.cluster_bootstrap_proportion([0, 1, 1], [1, 2]),
            message(stats.LENGTH_MISMATCH_ERROR, first="successes", second="clusters", n1=3, n2=2),
        ),
        (
            lambda: stats.cluster_bootstrap_proportion([], []),
            message(stats.EMPTY_ERROR, name="successes"),
        ),
        (
            lambda: stats.cluster_bootstrap_proportion([0, 1], [1, 2], n_boot=0),
            message(stats.N_POSITIVE_ERROR, name="n_boot", value=0),
        ),
        (
            lambda: stats.cluster_bootstrap_proportion([0, 1], [1, 2], confidence_level=1),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="confidence_level", value=1),
        ),
        (
            lambda: stats.cluster_bootstrap_counts([3, 4], [5, 3]),
            message(stats.K_RANGE_ERROR, k=4, n=3),
        ),
        (
            lambda: stats.cluster_bootstrap_counts([3, 0], [5, 0]),
            message(stats.N_POSITIVE_ERROR, name="n", value=0),
        ),
        (
            lambda: stats.cluster_bootstrap_counts([1.5, 2], [5, 5]),
            message(stats.INTEGER_ERROR, name="ks", value=1.5),
        ),
        (
            lambda: stats.gee_proportion([0, 1, 1], [1, 2]),
            message(stats.LENGTH_MISMATCH_ERROR, first="successes", second="clusters", n1=3, n2=2),
        ),
        (
            lambda: stats.krippendorff_alpha([1, 1], [2, 3], level="binary"),
            message(stats.CHOICE_ERROR, name="level", allowed=stats.KRIPPENDORFF_LEVELS,
                    value="binary"),
        ),
        (
            lambda: stats.sample_size_win_rate(0.4, alternative="greater"),
            message(stats.DIRECTION_ERROR, p1=0.4, p0=0.5, alternative="greater"),
        ),
        (
            lambda: stats.sample_size_win_rate(0.5),
            message(stats.DIRECTION_ERROR, p1=0.5, p0=0.5, alternative="two-sided"),
        ),
        (
            lambda: stats.sample_size_win_rate(0.7, method="simulation"),
            message(stats.CHOICE_ERROR, name="method", allowed=stats.SAMPLE_SIZE_METHODS,
                    value="simulation"),
        ),
        (
            lambda: stats.sample_size_win_rate(0.7, power=1.0),
            message(stats.OPEN_UNIT_INTERVAL_ERROR, name="power", value=1.0),
        ),
        (
            lambda: stats.sample_size_two_proportions(0.5, 0.3, answers_per_rater=20),
            message(stats.DESIGN_EFFECT_PAIR_ERROR, m=20, icc=None),
        ),
        (
            lambda: stats.sample_size_two_proportions(0.5, 0.3, answers_per_rater=0, icc=0.1),
            message(stats.N_POSITIVE_ERROR, name="answers_per_rater", value=0),
        ),
        (
            lambda: stats.sample_size_two_proportions(0.5, 0.3, answers_per_rater=5, icc=1.5),
            message(stats.CLOSED_UNIT_INTERVAL_ERROR, name="icc", value=1.5),
        ),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_bad_value_and_the_allowed_ones(call, error):
    with pytest.raises(ValueError, match=error):
        call()


def test_results_are_frozen():
    result = stats.binomial_test(3, 10)
    with pytest.raises(AttributeError):
        result.pvalue = 0.0  # type: ignore[misc]


def test_stats_imports_nothing_from_django():
    code = "import sys, surveys.stats; assert not any(m.startswith('django') for m in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr


# --- Cluster bootstrap of a difference of two proportions ----------------------------------

# Per rater: (k1, n1, k2, n2). Rater 2 answered only group 1, rater 3 only group 2.
TINY_DIFFERENCE = [(3, 4, 1, 4), (1, 2, 0, 0), (0, 0, 2, 3), (4, 5, 1, 5)]


def exact_bootstrap_distribution(clusters):
    """Every ordered resample of C clusters out of C, each of probability C^-C (brute force)."""
    values = []
    for draw in itertools.product(clusters, repeat=len(clusters)):
        k1, n1, k2, n2 = (sum(column) for column in zip(*draw, strict=True))
        values.append(k1 / n1 - k2 / n2 if n1 and n2 else None)
    return values


def test_cluster_bootstrap_difference_matches_the_exact_bootstrap_distribution():
    values = exact_bootstrap_distribution(TINY_DIFFERENCE)
    defined = np.array([v for v in values if v is not None])
    result = stats.cluster_bootstrap_difference(*np.array(TINY_DIFFERENCE).T, n_boot=40_000, seed=4)
    # Monte Carlo: 40,000 replicates estimate an SD to about 0.4% and a rate to ±0.002.
    assert result.standard_error == pytest.approx(defined.std(), rel=0.03)
    failed = 1 - defined.size / len(values)
    assert result.n_boot_failed / result.n_boot == pytest.approx(failed, abs=0.01)
    atoms = np.sort(defined)
    cdf = np.arange(1, atoms.size + 1) / atoms.size
    for bound, tail in ((result.ci_low, 0.025), (result.ci_high, 0.975)):
        lowest = atoms[np.searchsorted(cdf, tail - 0.005)]
        highest = atoms[np.searchsorted(cdf, tail + 0.005)]
        assert lowest <= bound <= highest
    assert (result.k1, result.n1, result.k2, result.n2) == (8, 11, 4, 12)
    assert result.difference == pytest.approx(8 / 11 - 4 / 12)
    assert result.n_clusters == 4


def difference_counts(n_raters: int, seed: int) -> tuple[np.ndarray, ...]:
    """Raters with a taste: each rates both groups with their own leniency."""
    rng = np.random.default_rng(seed)
    leniency = rng.beta(4, 3, n_raters)
    ns1, ns2 = rng.integers(3, 9, n_raters), rng.integers(3, 9, n_raters)
    ks1 = rng.binomial(ns1, np.clip(leniency + 0.1, 0, 1))
    ks2 = rng.binomial(ns2, leniency)
    return ks1, ns1, ks2, ns2


@pytest.mark.parametrize(
    "counts",
    [
        difference_counts(40, seed=5),  # forty raters, all different: rater indices are drawn
        tuple(np.tile(c, 30) for c in difference_counts(3, seed=6)),  # 3 patterns, multinomial
    ],
)
def test_cluster_bootstrap_difference_matches_scipys_paired_bootstrap(counts):
    def statistic(k1, n1, k2, n2, axis):
        return k1.sum(axis=axis) / n1.sum(axis=axis) - k2.sum(axis=axis) / n2.sum(axis=axis)

    expected = scipy_stats.bootstrap(
        counts, statistic, paired=True, vectorized=True, method="percentile",
        n_resamples=20_000, rng=np.random.default_rng(0),
    )  # fmt: skip
    result = stats.cluster_bootstrap_difference(*counts, n_boot=20_000, seed=1)
    tolerance = 0.1 * expected.standard_error
    assert result.ci_low == pytest.approx(expected.confidence_interval.low, abs=tolerance)
    assert result.ci_high == pytest.approx(expected.confidence_interval.high, abs=tolerance)
    assert result.standard_error == pytest.approx(expected.standard_error, rel=0.05)
    assert result.n_boot_failed == 0


def test_a_shared_rater_taste_cancels_in_the_clustered_difference():
    # Each rater says yes to group 1 exactly when to group 2, plus one extra yes in group 1:
    # the rater's taste cancels, so the clustered difference is far tighter than Newcombe's.
    ks2 = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 3)
    ns = np.full(ks2.size, 10)
    ks1 = ks2 + 1
    clustered = stats.cluster_bootstrap_difference(ks1, ns, ks2, ns, n_boot=2000, seed=8)
    independent = stats.two_proportions(int(ks1.sum()), int(ns.sum()), int(ks2.sum()), 300)
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx((0.1, 0.1), abs=1e-12)
    assert independent.ci_low < 0.05 and independent.ci_high > 0.15


def test_cluster_bootstrap_difference_is_repeatable():
    counts = np.array(TINY_DIFFERENCE).T
    first = stats.cluster_bootstrap_difference(*counts, n_boot=300, seed=7)
    again = stats.cluster_bootstrap_difference(
        *counts.tolist(), n_boot=300, seed=np.random.default_rng(7)
    )
    assert first == again


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (([1], [2], [1, 0], [1, 1]), "ks1 and ks2 must have the same length"),
        (([1, 2], [2], [1], [1]), "ks1 and ns1 must have the same length"),
        (([], [], [], []), "ks1 must not be empty"),
        (([3], [2], [1], [1]), "k must satisfy 0 <= k <= n"),
        (([0], [0], [1], [1]), "sum of ns1 must be at least 1"),
        (([1.5], [2], [1], [1]), "ks1 must be an integer"),
    ],
)
def test_cluster_bootstrap_difference_refuses_bad_counts(counts, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        stats.cluster_bootstrap_difference(*counts, n_boot=10, seed=0)
