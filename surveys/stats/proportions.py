"""Tests and intervals for independent proportions, and Holm's correction across a table.

The paper's Table 2 (pairwise reconstruction preference) takes :func:`binomial_test` per model
pair, :func:`holm` across the rows, :func:`proportion_ci` (Clopper–Pearson) and
:func:`position_bias` for the left/right counterbalancing; Table 4 ("does this sentence make
sense?") takes :func:`proportion_ci` per model and length bucket, :func:`two_proportions` (or
:func:`fisher_exact_2x2`) for pairs of models, :func:`holm`, and :func:`chi_square_across` for
all models at once. These assume independent answers; :mod:`surveys.stats.clustered` has the
intervals that keep a rater's answers together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats import multitest
from statsmodels.stats import proportion as sm_proportion

from ._common import (
    ALTERNATIVES,
    DEFAULT_ALPHA,
    DEFAULT_CONFIDENCE_LEVEL,
    INTERVAL_METHODS,
    NO_PREFERENCE,
    ONE_SIDED_CONFIDENCE_ERROR,
    TOO_FEW_GROUPS_ERROR,
    Alternative,
    IntervalMethod,
    _check_choice,
    _check_closed_unit,
    _check_counts,
    _check_open_unit,
    _check_same_length,
    _statsmodels_alternative,
)

# ---------------------------------------------------------------------------------------------
# One proportion


@dataclass(frozen=True)
class BinomialTestResult:
    """Exact binomial test of ``k`` successes in ``n`` trials against success probability ``p``.

    ``statistic`` is the estimated proportion ``k / n``; ``ci_low``/``ci_high`` is the
    Clopper–Pearson interval, one-sided when ``alternative`` is, as R's ``binom.test`` gives.
    """

    k: int
    n: int
    p: float
    statistic: float
    pvalue: float
    alternative: str
    confidence_level: float
    ci_low: float
    ci_high: float


def binomial_test(
    k: int,
    n: int,
    *,
    p: float = NO_PREFERENCE,
    alternative: Alternative = "two-sided",
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> BinomialTestResult:
    """Exact binomial test of ``k`` successes in ``n`` trials against probability ``p``.

    Returns the p-value of ``scipy.stats.binomtest`` (two-sided: the sum of the probabilities
    of all outcomes no more likely than ``k``, as R's ``binom.test``) and the Clopper–Pearson
    interval. Exact at every ``n``: trust it for small samples and for ``k`` at 0 or ``n``.
    Use ``alternative='greater'`` or ``'less'`` only when the direction was declared before
    the data were seen; the interval is then one-sided too.

    The answers must be independent; when raters give several answers each, report
    :func:`cluster_bootstrap_proportion` alongside.
    """
    k, n = _check_counts(k, n)
    p = _check_open_unit("p", p)
    alternative = _check_choice("alternative", alternative, ALTERNATIVES)
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    result = stats.binomtest(k, n, p=p, alternative=alternative)
    interval = result.proportion_ci(confidence_level=confidence_level, method="exact")
    return BinomialTestResult(
        k=k,
        n=n,
        p=p,
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        alternative=alternative,
        confidence_level=confidence_level,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
    )


@dataclass(frozen=True)
class ProportionInterval:
    """Two-sided confidence interval for a proportion ``statistic = k / n``."""

    k: int
    n: int
    statistic: float
    ci_low: float
    ci_high: float
    confidence_level: float
    method: str


def proportion_ci(
    k: int,
    n: int,
    *,
    method: IntervalMethod = "clopper-pearson",
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> ProportionInterval:
    """Two-sided confidence interval for the proportion ``k / n``.

    ``'clopper-pearson'`` inverts the exact binomial test: coverage is never below the
    nominal level, so it is conservative (wider than needed), most of all for small ``n``;
    it is the interval that matches :func:`binomial_test`. ``'wilson'`` inverts the score
    test: its average coverage is close to nominal already from ``n`` around 10 and it stays
    inside [0, 1], but at some true proportions it covers less than nominal (Brown, Cai &
    DasGupta 2001). Both are computed by ``scipy.stats.binomtest(...).proportion_ci``.
    """
    k, n = _check_counts(k, n)
    method = _check_choice("method", method, INTERVAL_METHODS)
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    scipy_method = {"clopper-pearson": "exact", "wilson": "wilson"}[method]
    interval = stats.binomtest(k, n).proportion_ci(
        confidence_level=confidence_level, method=scipy_method
    )
    return ProportionInterval(
        k=k,
        n=n,
        statistic=k / n,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        confidence_level=confidence_level,
        method=method,
    )


def position_bias(
    left_wins: int,
    n: int,
    *,
    alternative: Alternative = "two-sided",
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> BinomialTestResult:
    """Test whether the option shown on the left wins more (or less) often than half the time.

    ``left_wins`` counts the decisive responses (ties and discarded pairs left out) won by the
    left-hand option, ``n`` all decisive responses. Returns :func:`binomial_test` against 1/2:
    ``k`` is ``left_wins`` and ``statistic`` the left-win rate. With left/right
    counterbalanced a position bias adds noise, not bias, to model comparisons; a small p-value
    says the counterbalancing was needed.
    """
    return binomial_test(
        left_wins,
        n,
        p=NO_PREFERENCE,
        alternative=alternative,
        confidence_level=confidence_level,
    )


# ---------------------------------------------------------------------------------------------
# Two or more proportions


@dataclass(frozen=True)
class TwoProportionsResult:
    """Score test of ``proportion1 == proportion2`` with Newcombe's interval for the difference.

    ``statistic`` is the score z statistic (its square is Pearson's chi-square without
    continuity correction); ``difference`` is ``proportion1 - proportion2`` and
    ``ci_low``/``ci_high`` bound it (one-sided when ``alternative`` is).
    """

    k1: int
    n1: int
    k2: int
    n2: int
    proportion1: float
    proportion2: float
    difference: float
    statistic: float
    pvalue: float
    alternative: str
    confidence_level: float
    ci_low: float
    ci_high: float


def two_proportions(
    k1: int,
    n1: int,
    k2: int,
    n2: int,
    *,
    alternative: Alternative = "two-sided",
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> TwoProportionsResult:
    """Score test that two independent proportions are equal, with Newcombe's interval.

    The test is ``statsmodels.stats.proportion.test_proportions_2indep(method='score',
    correction=False)``: the pooled-variance z test, whose square is Pearson's chi-square and
    R's ``prop.test(correct=FALSE)`` statistic. ``alternative='greater'`` means
    proportion1 > proportion2. When both groups are all failures or all successes the
    proportions are identical and there is no evidence of a difference: ``statistic`` is 0
    and ``pvalue`` 1.

    The interval for ``proportion1 - proportion2`` is Newcombe's hybrid score interval
    (``confint_proportions_2indep(method='newcomb')``, Newcombe 1998 method 10): it stays
    inside [-1, 1], behaves at 0 and ``n`` successes, and has coverage close to nominal from
    small samples on, unlike the Wald interval. For a one-sided ``alternative`` the
    interval is one-sided at ``confidence_level``. Use :func:`fisher_exact_2x2` when expected
    counts are below about 5.
    """
    k1, n1 = _check_counts(k1, n1)
    k2, n2 = _check_counts(k2, n2)
    alternative = _check_choice("alternative", alternative, ALTERNATIVES)
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    two_sided = alternative == "two-sided"
    if not two_sided and confidence_level <= 1 / 2:
        raise ValueError(ONE_SIDED_CONFIDENCE_ERROR.format(value=confidence_level))

    # statsmodels also computes the ratio and odds ratio of the proportions, which divide by
    # zero when a group has no successes or no failures; the difference needs neither.
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        statistic, pvalue = 0.0, 1.0
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            test = sm_proportion.test_proportions_2indep(
                k1,
                n1,
                k2,
                n2,
                method="score",
                compare="diff",
                alternative=_statsmodels_alternative(alternative),
                correction=False,
            )
        statistic, pvalue = float(test.statistic), float(test.pvalue)

    # A one-sided bound at level c is the matching bound of the two-sided interval at 2c - 1.
    interval_alpha = 1 - confidence_level if two_sided else 2 * (1 - confidence_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = sm_proportion.confint_proportions_2indep(
            k1, n1, k2, n2, method="newcomb", compare="diff", alpha=interval_alpha
        )
    if alternative == "greater":
        high = 1.0
    elif alternative == "less":
        low = -1.0
    return TwoProportionsResult(
        k1=k1,
        n1=n1,
        k2=k2,
        n2=n2,
        proportion1=k1 / n1,
        proportion2=k2 / n2,
        difference=k1 / n1 - k2 / n2,
        statistic=statistic,
        pvalue=pvalue,
        alternative=alternative,
        confidence_level=confidence_level,
        ci_low=float(low),
        ci_high=float(high),
    )


@dataclass(frozen=True)
class FisherExactResult:
    """Fisher's exact test on the table ``[[k1, n1 - k1], [k2, n2 - k2]]``.

    ``statistic`` is the sample odds ratio (as ``scipy.stats.fisher_exact``); ``odds_ratio`` is
    the conditional maximum-likelihood estimate and ``ci_low``/``ci_high`` its exact interval,
    both as R's ``fisher.test`` reports them.
    """

    k1: int
    n1: int
    k2: int
    n2: int
    statistic: float
    pvalue: float
    alternative: str
    odds_ratio: float
    confidence_level: float
    ci_low: float
    ci_high: float


def fisher_exact_2x2(
    k1: int,
    n1: int,
    k2: int,
    n2: int,
    *,
    alternative: Alternative = "two-sided",
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> FisherExactResult:
    """Fisher's exact test that two independent proportions are equal.

    Conditions on both margins, so it is exact (conservative) at any sample size; prefer it
    to :func:`two_proportions` when an expected count is below about 5. ``alternative``
    'greater' means the odds of success are higher in group 1. The p-value and sample odds
    ratio come from ``scipy.stats.fisher_exact``, the conditional MLE of the odds ratio and
    its exact interval from ``scipy.stats.contingency.odds_ratio(kind='conditional')``.
    """
    k1, n1 = _check_counts(k1, n1)
    k2, n2 = _check_counts(k2, n2)
    alternative = _check_choice("alternative", alternative, ALTERNATIVES)
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    test = stats.fisher_exact(table, alternative=alternative)
    conditional = stats.contingency.odds_ratio(table, kind="conditional")
    interval = conditional.confidence_interval(
        confidence_level=confidence_level, alternative=alternative
    )
    return FisherExactResult(
        k1=k1,
        n1=n1,
        k2=k2,
        n2=n2,
        statistic=float(test.statistic),
        pvalue=float(test.pvalue),
        alternative=alternative,
        odds_ratio=float(conditional.statistic),
        confidence_level=confidence_level,
        ci_low=float(interval.low),
        ci_high=float(interval.high),
    )


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson's chi-square test that several groups share one success probability.

    ``min_expected`` is the smallest expected cell count; below 5 the chi-square
    approximation is doubtful (Cochran 1954) and exact pairwise tests are safer.
    """

    ks: tuple[int, ...]
    ns: tuple[int, ...]
    statistic: float
    pvalue: float
    dof: int
    min_expected: float


def chi_square_across(
    ks: Sequence[int] | ArrayLike, ns: Sequence[int] | ArrayLike, *, correction: bool = False
) -> ChiSquareResult:
    """Pearson's chi-square test that all groups (models) share one success probability.

    Group ``i`` has ``ks[i]`` successes out of ``ns[i]``; the test runs
    ``scipy.stats.chi2_contingency`` on the groups × (success, failure) table, with ``dof``
    = groups − 1, as R's ``prop.test(ks, ns)``. ``correction`` applies Yates' continuity
    correction, which scipy (and R) use only when ``dof`` is 1. When every group is all
    failures or all successes the groups agree perfectly: ``statistic`` 0, ``pvalue`` 1.
    Trust the p-value when ``min_expected`` is at least 5.
    """
    ks_array, ns_array = np.asarray(ks).ravel(), np.asarray(ns).ravel()
    _check_same_length("ks", ks_array, "ns", ns_array)
    minimum_groups = 2
    if len(ks_array) < minimum_groups:
        raise ValueError(
            TOO_FEW_GROUPS_ERROR.format(
                name="chi_square_across", minimum=minimum_groups, value=len(ks_array)
            )
        )
    pairs = [_check_counts(k, n) for k, n in zip(ks_array.tolist(), ns_array.tolist(), strict=True)]
    table = np.array([[k, n - k] for k, n in pairs])
    column_totals = table.sum(axis=0)
    expected = np.outer(table.sum(axis=1), column_totals) / table.sum()
    if (column_totals == 0).any():
        statistic, pvalue = 0.0, 1.0
    else:
        test = stats.chi2_contingency(table, correction=correction)
        statistic, pvalue = float(test.statistic), float(test.pvalue)
    return ChiSquareResult(
        ks=tuple(k for k, _ in pairs),
        ns=tuple(n for _, n in pairs),
        statistic=statistic,
        pvalue=pvalue,
        dof=len(pairs) - 1,
        min_expected=float(expected.min()),
    )


@dataclass(frozen=True)
class HolmResult:
    """Holm's step-down adjustment; ``reject`` compares adjusted p-values with ``alpha``."""

    pvalues: tuple[float, ...]
    pvalues_adjusted: tuple[float, ...]
    reject: tuple[bool, ...]
    alpha: float


def holm(pvalues: Sequence[float] | ArrayLike, *, alpha: float = DEFAULT_ALPHA) -> HolmResult:
    """Holm's step-down correction of a family of p-values (one per table row).

    Controls the family-wise error rate at ``alpha`` under any dependence between the tests
    and is uniformly more powerful than Bonferroni. Adjusted p-values come from
    ``statsmodels.stats.multitest.multipletests(method='holm')``, in the input order; compare
    them with the same ``alpha`` as a single test. An empty family gives an empty result.
    statsmodels runs ``gc.collect()`` in its Holm branch, so a call costs tens of
    milliseconds in a large process: correct a whole table in one call, not row by row.
    """
    alpha = _check_open_unit("alpha", alpha)
    raw = np.asarray(pvalues, dtype=float).ravel()
    outside = ~((raw >= 0) & (raw <= 1))
    if outside.any():
        _check_closed_unit("pvalues", float(raw[outside][0]))
    if raw.size == 0:
        return HolmResult(pvalues=(), pvalues_adjusted=(), reject=(), alpha=alpha)
    reject, adjusted, _, _ = multitest.multipletests(raw, alpha=alpha, method="holm")
    return HolmResult(
        pvalues=tuple(raw.tolist()),
        pvalues_adjusted=tuple(adjusted.tolist()),
        reject=tuple(bool(r) for r in reject),
        alpha=alpha,
    )
