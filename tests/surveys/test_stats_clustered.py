"""surveys.stats.clustered against numbers from independent tools.

Where the expected numbers come from, and the tolerances: ``tests/surveys/stats_helpers.py``.
"""

from __future__ import annotations

import itertools
import math
import re
import time

import numpy as np
import pytest
from scipy import special
from scipy import stats as scipy_stats

from surveys import stats
from tests.surveys.stats_helpers import OPTIMISER, SAME_ROUTINE, message

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
