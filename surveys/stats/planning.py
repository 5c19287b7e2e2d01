"""Planning a survey: responses (and raters) needed for a test to reach a given power.

:func:`sample_size_win_rate` for one pair's win rate, :func:`sample_size_two_proportions` for
two groups, both inflated by the design effect of clustering ``1 + (m - 1)·ICC``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.power import NormalIndPower

from ._common import (
    _BINOMTEST_RELATIVE_ERROR,
    _NEGLIGIBLE_TAIL,
    ALTERNATIVES,
    DEFAULT_ALPHA,
    DEFAULT_MAX_N,
    DEFAULT_POWER,
    DESIGN_EFFECT_PAIR_ERROR,
    N_POSITIVE_ERROR,
    NO_PREFERENCE,
    SAMPLE_SIZE_METHODS,
    SAMPLE_SIZE_UNREACHED_ERROR,
    Alternative,
    SampleSizeMethod,
    _ceil,
    _check_choice,
    _check_closed_unit,
    _check_direction,
    _check_integer,
    _check_open_unit,
    _statsmodels_alternative,
)


@dataclass(frozen=True)
class SampleSizeResult:
    """Responses needed for a test to reach ``power`` at level ``alpha``.

    ``n`` is the number to collect (per group for two proportions): ``n_unclustered``
    multiplied by ``design_effect = 1 + (m - 1)·ICC`` and rounded up. ``n_raters`` is
    ``ceil(n / m)`` when answers per rater ``m`` is given. ``achieved_power`` is the power at
    ``n_unclustered`` independent responses under ``method``.
    """

    n: int
    n_unclustered: int
    design_effect: float
    n_raters: int | None
    alpha: float
    power: float
    achieved_power: float
    alternative: str
    method: str


def _design_effect(answers_per_rater: int | None, icc: float | None) -> float:
    if (answers_per_rater is None) != (icc is None):
        raise ValueError(DESIGN_EFFECT_PAIR_ERROR.format(m=answers_per_rater, icc=icc))
    if answers_per_rater is None or icc is None:
        return 1.0
    m = _check_integer("answers_per_rater", answers_per_rater)
    if m < 1:
        raise ValueError(N_POSITIVE_ERROR.format(name="answers_per_rater", value=m))
    return 1 + (m - 1) * _check_closed_unit("icc", icc)


def _clustered(
    n_unclustered: int, answers_per_rater: int | None, icc: float | None
) -> tuple[int, float, int | None]:
    """Responses to collect, the design effect, and raters needed (None without m)."""
    design_effect = _design_effect(answers_per_rater, icc)
    n = _ceil(n_unclustered * design_effect)
    n_raters = None if answers_per_rater is None else math.ceil(n / answers_per_rater)
    return n, design_effect, n_raters


def _null_window(n: int, p0: float) -> tuple[int, int]:
    """Outcomes [low, high] holding all but 2·_NEGLIGIBLE_TAIL of Binomial(n, p0)."""
    low = int(stats.binom.ppf(_NEGLIGIBLE_TAIL, n, p0))
    # scipy's isf loses tiny upper tails (it works with 1 - q); mirror the lower one instead.
    high = n - int(stats.binom.ppf(_NEGLIGIBLE_TAIL, n, 1 - p0))
    return low, high


def _binomial_pvalues(
    ks: np.ndarray, n: int, p0: float, alternative: str, outside: float = 0.0
) -> np.ndarray:
    """p-values of scipy.stats.binomtest for the outcomes ``ks``, computed at once.

    Two-sided p-values sum the null probabilities of the outcomes in ``ks`` no more likely
    than k (scipy's rule, ties within its relative error) plus ``outside``: the null mass of
    any outcomes left out of ``ks``, all less likely than those that matter.
    """
    if alternative == "greater":
        return stats.binom.sf(ks - 1, n, p0)
    if alternative == "less":
        return stats.binom.cdf(ks, n, p0)
    null = stats.binom.pmf(ks, n, p0)
    ascending = np.sort(null)
    cumulative = np.cumsum(ascending)
    no_more_likely = np.searchsorted(ascending, null * (1 + _BINOMTEST_RELATIVE_ERROR), "right")
    pvalues = np.minimum(cumulative[no_more_likely - 1] + outside, 1.0)
    pvalues[ks == n * p0] = 1.0
    return pvalues


def _exact_power(n: int, p0: float, p1: float, alpha: float, alternative: str) -> float:
    """Power of binomial_test at n responses: P(pvalue <= alpha) when the true rate is p1.

    Only outcomes inside the null's central window get a p-value; those beyond it have
    p-values of at most about n · _NEGLIGIBLE_TAIL, far below any alpha, and count as
    rejected in the tails the alternative points to.
    """
    low, high = _null_window(n, p0)
    ks = np.arange(low, high + 1)
    outside = stats.binom.cdf(low - 1, n, p0) + stats.binom.sf(high, n, p0)
    rejected = ks[_binomial_pvalues(ks, n, p0, alternative, outside) <= alpha]
    power = float(stats.binom.pmf(rejected, n, p1).sum())
    if alternative in ("two-sided", "less"):
        power += float(stats.binom.cdf(low - 1, n, p1))
    if alternative in ("two-sided", "greater"):
        power += float(stats.binom.sf(high, n, p1))
    return power


def _most_powerful_power(n: int, p0: float, p1: float, alpha: float) -> float:
    """Power of the randomised Neyman–Pearson test of p0 against p1 at level alpha.

    No level-alpha test of p0 does better against p1, and the power never falls as n grows,
    so the first n where it reaches the target is a lower bound for the exact test's n.
    """
    if p1 < p0:
        p0, p1 = 1 - p0, 1 - p1
    critical = stats.binom.isf(alpha, n, p0)  # smallest c with P0(X > c) <= alpha
    size_above = stats.binom.sf(critical, n, p0)
    at_critical = stats.binom.pmf(critical, n, p0)
    fraction = (alpha - size_above) / at_critical if at_critical > 0 else 0.0
    return float(stats.binom.sf(critical, n, p1) + fraction * stats.binom.pmf(critical, n, p1))


def _smallest_n(power_at: Callable[[int], float], power: float, max_n: int) -> int | None:
    """Smallest n in [1, max_n] with power_at(n) >= power, for nondecreasing power_at."""
    low, high = 1, 1
    while power_at(high) < power:
        if high >= max_n:
            return None
        low, high = high + 1, min(2 * high, max_n)
    while low < high:
        middle = (low + high) // 2
        if power_at(middle) >= power:
            high = middle
        else:
            low = middle + 1
    return high


def _normal_sample_size(
    p1: float, p2: float, alpha: float, power: float, alternative: str, *, ratio: float
) -> tuple[int, float]:
    """Smallest n (and its power) from the arcsine approximation: Cohen's h for p1 vs p2 and
    statsmodels' ``NormalIndPower`` (``ratio`` 0: one sample against p2; 1: equal groups)."""
    effect_size = sm_proportion.proportion_effectsize(p1, p2)
    normal = NormalIndPower()
    statsmodels_alternative = _statsmodels_alternative(alternative)
    n = _ceil(
        normal.solve_power(
            effect_size=effect_size,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=statsmodels_alternative,
        )
    )
    achieved = normal.power(
        effect_size=effect_size,
        nobs1=n,
        alpha=alpha,
        ratio=ratio,
        alternative=statsmodels_alternative,
    )
    return n, float(achieved)


def sample_size_win_rate(
    p1: float,
    *,
    p0: float = NO_PREFERENCE,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    alternative: Alternative = "two-sided",
    method: SampleSizeMethod = "exact",
    answers_per_rater: int | None = None,
    icc: float | None = None,
    max_n: int = DEFAULT_MAX_N,
) -> SampleSizeResult:
    """Responses needed for :func:`binomial_test` to find a true win rate ``p1`` differs from p0.

    ``method='exact'`` computes the power of the exact binomial test itself (rejecting when
    p-value ≤ ``alpha``) and returns the smallest ``n`` reaching ``power``. Exact power is a
    sawtooth in ``n``: a slightly larger ``n`` can have slightly less power, so collect at
    least the returned ``n`` and do not stop early. The search starts at the lower bound
    given by the most powerful (Neyman–Pearson) test, so it is quick for win rates a few
    points from ``p0`` and takes seconds within about 0.02 of it (n in the thousands).

    ``method='normal'`` uses the arcsine approximation: Cohen's h
    (``statsmodels.stats.proportion.proportion_effectsize``) and
    ``statsmodels.stats.power.NormalIndPower`` with ``ratio=0`` (one sample). It is close to
    exact for ``n`` beyond about 50 and ``p1`` away from 0 and 1.

    With ``answers_per_rater`` m and intra-rater correlation ``icc`` the result is multiplied
    by the design effect ``1 + (m - 1)·ICC``; ``n_raters`` then says how many raters that is.
    """
    p1 = _check_open_unit("p1", p1)
    p0 = _check_open_unit("p0", p0)
    alpha = _check_open_unit("alpha", alpha)
    power = _check_open_unit("power", power)
    alternative = _check_choice("alternative", alternative, ALTERNATIVES)
    method = _check_choice("method", method, SAMPLE_SIZE_METHODS)
    max_n = _check_integer("max_n", max_n)
    _check_direction(p1, p0, alternative)
    _design_effect(answers_per_rater, icc)

    if method == "normal":
        # ratio=0: one sample against the fixed p0.
        n_unclustered, achieved = _normal_sample_size(p1, p0, alpha, power, alternative, ratio=0)
    else:
        lower_bound = _smallest_n(lambda n: _most_powerful_power(n, p0, p1, alpha), power, max_n)
        found = None
        if lower_bound is not None:
            found = next(
                (
                    n
                    for n in range(lower_bound, max_n + 1)
                    if _exact_power(n, p0, p1, alpha, alternative) >= power
                ),
                None,
            )
        if found is None:
            raise ValueError(SAMPLE_SIZE_UNREACHED_ERROR.format(max_n=max_n, power=power))
        n_unclustered = found
        achieved = _exact_power(n_unclustered, p0, p1, alpha, alternative)
    n, design_effect, n_raters = _clustered(n_unclustered, answers_per_rater, icc)
    return SampleSizeResult(
        n=n,
        n_unclustered=n_unclustered,
        design_effect=design_effect,
        n_raters=n_raters,
        alpha=alpha,
        power=power,
        achieved_power=achieved,
        alternative=alternative,
        method=method,
    )


def sample_size_two_proportions(
    p1: float,
    p2: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    alternative: Alternative = "two-sided",
    answers_per_rater: int | None = None,
    icc: float | None = None,
) -> SampleSizeResult:
    """Responses per group for a two-proportion test to find ``p1`` and ``p2`` differ.

    Normal (arcsine) approximation: Cohen's h from
    ``statsmodels.stats.proportion.proportion_effectsize(p1, p2)`` and
    ``statsmodels.stats.power.NormalIndPower`` with equal groups. ``alternative='greater'``
    means p1 > p2. Good from a few dozen per group; for smaller groups add a margin, as
    :func:`fisher_exact_2x2` on such groups has less power. ``n`` is per group; the design
    effect ``1 + (m - 1)·ICC`` is applied when ``answers_per_rater`` and ``icc`` are given
    (``n_raters`` is then per group too).
    """
    p1 = _check_open_unit("p1", p1)
    p2 = _check_open_unit("p2", p2)
    alpha = _check_open_unit("alpha", alpha)
    power = _check_open_unit("power", power)
    alternative = _check_choice("alternative", alternative, ALTERNATIVES)
    _check_direction(p1, p2, alternative)
    _design_effect(answers_per_rater, icc)

    n_unclustered, achieved = _normal_sample_size(p1, p2, alpha, power, alternative, ratio=1)
    n, design_effect, n_raters = _clustered(n_unclustered, answers_per_rater, icc)
    return SampleSizeResult(
        n=n,
        n_unclustered=n_unclustered,
        design_effect=design_effect,
        n_raters=n_raters,
        alpha=alpha,
        power=power,
        achieved_power=achieved,
        alternative=alternative,
        method="normal",
    )
