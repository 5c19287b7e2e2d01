"""surveys.stats.planning against numbers from independent tools.

Where the expected numbers come from, and the tolerances: ``tests/surveys/stats_helpers.py``.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from surveys import stats
from tests.surveys.stats_helpers import SAME_ROUTINE, message

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
