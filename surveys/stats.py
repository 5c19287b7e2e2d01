"""Statistics for the blind surveys, as pure functions (no Django here).

Every function takes plain numbers or array-likes and returns a small frozen dataclass whose
field names follow scipy's vocabulary: ``k`` successes out of ``n`` trials, ``statistic``,
``pvalue``, ``alternative`` ('two-sided', 'greater' or 'less'), ``confidence_level``, ``ci_low``
and ``ci_high``. The numbers come from scipy, statsmodels and krippendorff; this module chooses
the method, validates input, and names the result.

What the paper needs (Mansbridge et al. 2019, Sect. 3.2 and 3.3):

- Table 2, pairwise reconstruction preference: :func:`binomial_test` per model pair,
  :func:`holm` across the table's rows, :func:`proportion_ci` (Clopper–Pearson) and
  :func:`cluster_bootstrap_proportion` because one rater gives up to 20 answers;
  :func:`position_bias` for the left/right counterbalancing; :func:`bradley_terry` for one
  ranking of all four models.
- Table 4, "does this sentence make sense?": :func:`proportion_ci` per model and length bucket,
  :func:`two_proportions` (or :func:`fisher_exact_2x2`) for pairs of models, with
  :func:`cluster_bootstrap_difference` for raters who judged both, :func:`holm`,
  :func:`chi_square_across` for all models at once.
- Planning a survey: :func:`sample_size_win_rate` and :func:`sample_size_two_proportions`,
  inflated by the design effect of clustering.
- Agreement where raters overlap on items: :func:`krippendorff_alpha`.
"""

from __future__ import annotations

import itertools
import math
import operator
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import krippendorff as _krippendorff
import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats
from statsmodels.genmod import cov_struct as gee_cov_struct
from statsmodels.genmod import families
from statsmodels.genmod.generalized_estimating_equations import GEE
from statsmodels.stats import multitest
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.power import NormalIndPower

Alternative = Literal["two-sided", "greater", "less"]
IntervalMethod = Literal["clopper-pearson", "wilson"]
SampleSizeMethod = Literal["exact", "normal"]
KrippendorffLevel = Literal["nominal", "ordinal", "interval", "ratio"]
Seed = int | np.random.Generator | None

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
INTERVAL_METHODS: tuple[str, ...] = ("clopper-pearson", "wilson")
SAMPLE_SIZE_METHODS: tuple[str, ...] = ("exact", "normal")
KRIPPENDORFF_LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

DEFAULT_CONFIDENCE_LEVEL = 0.95
DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
#: A win rate of one half means "no preference" between the two models of a pair.
NO_PREFERENCE = 0.5
#: Bootstrap replicates: with 2000 the Monte Carlo error of a 95% percentile bound is about
#: 0.06 standard errors, sqrt(0.025 · 0.975 / 2000) / φ(1.96); Efron & Tibshirani (1993) advise
#: 1000–2000 for percentile intervals.
DEFAULT_N_BOOT = 2000
#: Largest number of responses the exact sample-size search tries before giving up.
DEFAULT_MAX_N = 1_000_000

# Error messages, formatted with the offending values; the tests reuse them.
CHOICE_ERROR = "{name} must be one of {allowed}, not {value!r}"
INTEGER_ERROR = "{name} must be an integer, not {value!r}"
K_RANGE_ERROR = "k must satisfy 0 <= k <= n, not k={k!r} with n={n!r}"
N_POSITIVE_ERROR = "{name} must be at least 1, not {value!r}"
OPEN_UNIT_INTERVAL_ERROR = "{name} must be strictly between 0 and 1, not {value!r}"
CLOSED_UNIT_INTERVAL_ERROR = "{name} must be between 0 and 1 inclusive, not {value!r}"
LENGTH_MISMATCH_ERROR = "{first} and {second} must have the same length, not {n1} and {n2}"
TOO_FEW_GROUPS_ERROR = "{name} needs at least {minimum} groups, not {value!r}"
BINARY_ERROR = "successes must hold only 0/1 or False/True values, not {value!r}"
EMPTY_ERROR = "{name} must not be empty"
GEE_BOTH_OUTCOMES_ERROR = (
    "GEE on the logit scale needs both outcomes, not k={k!r} successes out of n={n!r}; "
    "use cluster_bootstrap_proportion or proportion_ci instead"
)
COMPARISON_SHAPE_ERROR = "comparisons must be (winner, loser) pairs, not an array of shape {shape}"
SELF_COMPARISON_ERROR = "a comparison needs two different items, not {label!r} against itself"
WINS_MATRIX_ERROR = (
    "wins must be a square matrix of non-negative counts (or a stack of them, one per rater), "
    "not shape {shape}"
)
LABELS_LENGTH_ERROR = "labels must name the {size} rows of wins, not {labels!r}"
BRADLEY_TERRY_NO_MLE_ERROR = (
    "Bradley–Terry scores have no finite maximum-likelihood estimate: every item must beat, "
    "directly or through others, every other item; unreached items: {unreached!r}"
)
KRIPPENDORFF_NO_PAIRS_ERROR = (
    "Krippendorff's alpha needs at least one item with 2 or more ratings; "
    "got {n_items} items, each rated once"
)
KRIPPENDORFF_ONE_VALUE_ERROR = (
    "Krippendorff's alpha is undefined when every pairable rating is the same value, {value!r}"
)
DIRECTION_ERROR = (
    "p1={p1!r} against p0={p0!r} cannot be detected with alternative={alternative!r}; "
    "'greater' needs p1 > p0, 'less' needs p1 < p0, 'two-sided' needs p1 != p0"
)
DESIGN_EFFECT_PAIR_ERROR = (
    "answers_per_rater and icc go together (design effect 1 + (m - 1)·ICC), "
    "not answers_per_rater={m!r} with icc={icc!r}"
)
ONE_SIDED_CONFIDENCE_ERROR = (
    "a one-sided Newcombe interval is half of a two-sided one, so confidence_level must "
    "exceed 0.5, not {value!r}"
)
SAMPLE_SIZE_UNREACHED_ERROR = (
    "no n <= max_n={max_n!r} reaches power={power!r}; raise max_n or use method='normal'"
)

# scipy.stats.binomtest counts probabilities within this relative error of P(X = k) as ties
# when it sums the two-sided p-value; the exact sample-size search copies that rule.
_BINOMTEST_RELATIVE_ERROR = 1e-7
# The exact power search gives outcomes this improbable under the null no p-value of their own.
_NEGLIGIBLE_TAIL = 1e-18
# n·design effect is rounded up; this absorbs floating error so that 100 · 1.1 stays 110.
_CEIL_SLACK = 1e-9
# Drawing one multinomial cell costs about as much as drawing 6–8 resampled indices (measured
# with numpy 2.4); the bootstrap draws per pattern of (k, n) only when that saves work.
_MULTINOMIAL_CELL_COST = 8
# Bootstrap replicates are drawn in chunks of at most this many integers, to bound memory.
_BOOTSTRAP_CHUNK_ELEMENTS = 4_000_000
# Bradley–Terry's Newton iteration stops when no score moves more than this (log-strengths);
# convergence is quadratic, so the estimate is then accurate to rounding error. A step is
# halved at most _NEWTON_MAX_HALVINGS times; _NEWTON_MAX_STEPS bounds the iterations (about
# ten suffice from zero for win rates up to 99%).
_NEWTON_TOLERANCE = 1e-10
_NEWTON_MAX_HALVINGS = 50
_NEWTON_MAX_STEPS = 100
# Relative rounding error of a summed log-likelihood: changes smaller than this are noise.
_OBJECTIVE_ROUNDING = 1e-12


# ---------------------------------------------------------------------------------------------
# Results


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


@dataclass(frozen=True)
class HolmResult:
    """Holm's step-down adjustment; ``reject`` compares adjusted p-values with ``alpha``."""

    pvalues: tuple[float, ...]
    pvalues_adjusted: tuple[float, ...]
    reject: tuple[bool, ...]
    alpha: float


@dataclass(frozen=True)
class ClusterBootstrapResult:
    """Percentile interval for the pooled proportion ``k / n``, resampling whole clusters.

    ``standard_error`` is the standard deviation of the bootstrap proportions and
    ``design_effect`` its square over the binomial variance ``p(1 - p) / n`` (NaN when
    ``k`` is 0 or ``n``): how much the clustering inflates the variance.
    """

    k: int
    n: int
    n_clusters: int
    statistic: float
    ci_low: float
    ci_high: float
    confidence_level: float
    n_boot: int
    standard_error: float
    design_effect: float


@dataclass(frozen=True)
class ClusterBootstrapDifferenceResult:
    """Percentile interval for ``proportion1 - proportion2``, resampling whole clusters.

    Both proportions are pooled (``k1 / n1`` and ``k2 / n2``) over the clusters that answered
    that group; a cluster may answer one group, the other, or both. ``n_boot_failed`` counts
    replicates that drew no answer for a group (no difference defined); they are left out,
    and ``standard_error`` is the standard deviation of the others.
    """

    k1: int
    n1: int
    k2: int
    n2: int
    n_clusters: int
    proportion1: float
    proportion2: float
    difference: float
    ci_low: float
    ci_high: float
    confidence_level: float
    n_boot: int
    n_boot_failed: int
    standard_error: float


@dataclass(frozen=True)
class GEEProportionResult:
    """Intercept-only logistic GEE with exchangeable within-cluster correlation.

    ``statistic`` is the estimated proportion; ``ci_low``/``ci_high`` come from the robust
    (sandwich) standard error on the logit scale, ``standard_error``, mapped back through
    the logistic function; ``pvalue`` is the Wald test of proportion ``p``.
    ``correlation`` is the estimated exchangeable working correlation (an ICC estimate).
    """

    k: int
    n: int
    n_clusters: int
    p: float
    statistic: float
    standard_error: float
    pvalue: float
    confidence_level: float
    ci_low: float
    ci_high: float
    correlation: float


@dataclass(frozen=True)
class TransitivityResult:
    """Whether the observed pairwise win rates agree with one ranking.

    ``order_violations`` holds ``(higher, lower, win_rate)``: a pair that the Bradley–Terry
    order puts one way although ``higher`` won fewer than half of their direct comparisons.
    ``intransitive_triads`` holds cycles ``(a, b, c)`` where a beat b, b beat c and c beat a
    (each by more than half). Only triads whose three pairs were all compared can be
    checked; ``n_triads_checked`` says how many were, so 0 means the data cannot test
    transitivity at all (the paper's chain of adjacent pairs is such a design).
    """

    consistent: bool
    order_violations: tuple[tuple[Hashable, Hashable, float], ...]
    intransitive_triads: tuple[tuple[Hashable, Hashable, Hashable], ...]
    n_triads_checked: int


@dataclass(frozen=True)
class BradleyTerryResult:
    """Bradley–Terry log-strengths, centred to mean 0, with bootstrap percentile intervals.

    P(i beats j) = 1 / (1 + exp(scores[j] - scores[i])). ``ranking`` lists the labels from
    strongest to weakest; ``wins[i][j]`` counts how often ``labels[i]`` beat ``labels[j]``.
    ``n_boot_failed`` counts replicates without a finite estimate (an item that never lost
    or never won in the resample); they are left out of the intervals. ``n_clusters`` is the
    number of raters (clusters) the bootstrap resampled, or None when it resampled
    comparisons.
    """

    labels: tuple[Hashable, ...]
    scores: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    ranking: tuple[Hashable, ...]
    wins: tuple[tuple[int, ...], ...]
    n_comparisons: int
    confidence_level: float
    n_boot: int
    n_boot_failed: int
    transitivity: TransitivityResult
    n_clusters: int | None = None


@dataclass(frozen=True)
class KrippendorffAlphaResult:
    """Krippendorff's alpha over the items rated at least twice.

    ``n_items`` and ``n_ratings`` count only those pairable items and their ratings.
    """

    statistic: float
    level: str
    n_items: int
    n_ratings: int


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


# ---------------------------------------------------------------------------------------------
# Validation


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(CHOICE_ERROR.format(name=name, allowed=allowed, value=value))
    return value


def _check_integer(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(INTEGER_ERROR.format(name=name, value=value))
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(INTEGER_ERROR.format(name=name, value=value)) from None


def _check_counts(k: object, n: object) -> tuple[int, int]:
    k_int, n_int = _check_integer("k", k), _check_integer("n", n)
    if n_int < 1:
        raise ValueError(N_POSITIVE_ERROR.format(name="n", value=n))
    if not 0 <= k_int <= n_int:
        raise ValueError(K_RANGE_ERROR.format(k=k, n=n))
    return k_int, n_int


def _check_open_unit(name: str, value: object) -> float:
    if not isinstance(value, int | float | np.floating | np.integer) or not 0 < value < 1:
        raise ValueError(OPEN_UNIT_INTERVAL_ERROR.format(name=name, value=value))
    return float(value)


def _check_closed_unit(name: str, value: object) -> float:
    if not isinstance(value, int | float | np.floating | np.integer) or not 0 <= value <= 1:
        raise ValueError(CLOSED_UNIT_INTERVAL_ERROR.format(name=name, value=value))
    return float(value)


def _check_same_length(first: str, a: np.ndarray, second: str, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(
            LENGTH_MISMATCH_ERROR.format(first=first, second=second, n1=len(a), n2=len(b))
        )


def _as_successes(successes: ArrayLike) -> np.ndarray:
    array = np.asarray(successes).ravel()
    if array.dtype != bool:
        bad = ~((array == 0) | (array == 1))
        if bad.any():
            raise ValueError(BINARY_ERROR.format(value=_plain(array[bad][0])))
    return array.astype(bool)


def _cluster_codes(clusters: ArrayLike) -> tuple[np.ndarray, int]:
    """Integer codes 0..C-1 for the cluster labels, and C."""
    labels, codes = np.unique(np.asarray(clusters).ravel(), return_inverse=True)
    return codes, len(labels)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (labels and messages read better)."""
    return value.item() if isinstance(value, np.generic) else value


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _ceil(value: float) -> int:
    return math.ceil(value - _CEIL_SLACK)


# ---------------------------------------------------------------------------------------------
# One proportion


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


# ---------------------------------------------------------------------------------------------
# Answers clustered by rater


def cluster_bootstrap_counts(
    ks: Sequence[int] | ArrayLike,
    ns: Sequence[int] | ArrayLike,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: Seed = None,
) -> ClusterBootstrapResult:
    """Cluster bootstrap of a pooled proportion from per-cluster counts.

    Cluster ``i`` (a rater) gave ``ks[i]`` successes out of ``ns[i]`` answers. Each replicate
    draws as many clusters as there are, with replacement, and computes
    ``sum(k) / sum(n)`` over the draw; the interval is the percentile interval of the
    replicates. See :func:`cluster_bootstrap_proportion` for when to trust it.

    Clusters with the same ``(k, n)`` are interchangeable, so when there are few distinct
    patterns (answers capped at 20 give at most 231) a replicate is drawn as one multinomial
    count per pattern, which has exactly the distribution of resampling clusters; otherwise
    cluster indices are drawn directly. Either way nothing loops over answers or clusters
    in Python. ``seed`` (an int or a ``numpy.random.Generator``) makes the result repeatable.
    """
    ks_int, ns_int = _check_cluster_counts(ks, ns, ("ks", "ns"))
    if ks_int.size == 0:
        raise ValueError(EMPTY_ERROR.format(name="ks"))
    empty = ns_int < 1  # unlike a difference's groups, every cluster here gave an answer
    if empty.any():
        first = int(np.flatnonzero(empty)[0])
        _check_counts(int(ks_int[first]), int(ns_int[first]))
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    n_boot = _check_n_boot(n_boot)

    sums = _cluster_resample_sums(np.column_stack([ks_int, ns_int]), n_boot, _rng(seed))
    proportions = sums[:, 0] / sums[:, 1]
    n_clusters = ks_int.size

    k, n = int(ks_int.sum()), int(ns_int.sum())
    estimate = k / n
    tail = (1 - confidence_level) / 2
    low, high = np.quantile(proportions, [tail, 1 - tail])
    standard_error = float(proportions.std(ddof=1)) if n_boot > 1 else math.nan
    binomial_variance = estimate * (1 - estimate) / n
    design_effect = standard_error**2 / binomial_variance if binomial_variance > 0 else math.nan
    return ClusterBootstrapResult(
        k=k,
        n=n,
        n_clusters=n_clusters,
        statistic=estimate,
        ci_low=float(low),
        ci_high=float(high),
        confidence_level=confidence_level,
        n_boot=n_boot,
        standard_error=standard_error,
        design_effect=design_effect,
    )


def cluster_bootstrap_proportion(
    successes: Sequence[bool] | ArrayLike,
    clusters: Sequence[Hashable] | ArrayLike,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: Seed = None,
) -> ClusterBootstrapResult:
    """Percentile interval for a proportion, resampling raters (clusters) with replacement.

    ``successes[i]`` is answer ``i`` (0/1 or bool, e.g. "model 1 won"), ``clusters[i]`` the
    rater who gave it. Answers are first counted per rater, then
    :func:`cluster_bootstrap_counts` resamples raters, so a million answers take well under a
    second. The interval keeps whatever correlation raters induce (one rater's taste shows
    in all their answers), which the binomial intervals ignore. Trust it with 20 or more
    raters; with few raters the percentile interval is too narrow (it cannot see tastes no
    sampled rater has). It is Monte Carlo: quote ``n_boot`` and ``seed``.
    """
    flags = _as_successes(successes)
    codes, n_clusters = _cluster_codes(clusters)
    _check_same_length("successes", flags, "clusters", codes)
    if flags.size == 0:
        raise ValueError(EMPTY_ERROR.format(name="successes"))
    ns = np.bincount(codes, minlength=n_clusters)
    ks = np.bincount(codes[flags], minlength=n_clusters)
    return cluster_bootstrap_counts(
        ks, ns, confidence_level=confidence_level, n_boot=n_boot, seed=seed
    )


def _check_n_boot(n_boot: int) -> int:
    """A positive whole number of bootstrap replicates."""
    n_boot = _check_integer("n_boot", n_boot)
    if n_boot < 1:
        raise ValueError(N_POSITIVE_ERROR.format(name="n_boot", value=n_boot))
    return n_boot


def _check_cluster_counts(ks: ArrayLike, ns: ArrayLike, names: tuple[str, str]) -> tuple:
    """Per-cluster counts as int64 arrays; a cluster may have ``n`` 0 (it skipped the group)."""
    ks_array, ns_array = np.asarray(ks).ravel(), np.asarray(ns).ravel()
    _check_same_length(names[0], ks_array, names[1], ns_array)
    for name, values in zip(names, (ks_array, ns_array), strict=True):
        fractional = np.asarray(values, dtype=float) % 1 != 0
        if fractional.any():
            raise ValueError(INTEGER_ERROR.format(name=name, value=_plain(values[fractional][0])))
    ks_int, ns_int = ks_array.astype(np.int64), ns_array.astype(np.int64)
    bad = (ns_int < 0) | (ks_int < 0) | (ks_int > ns_int)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(K_RANGE_ERROR.format(k=int(ks_int[first]), n=int(ns_int[first])))
    return ks_int, ns_int


def _cluster_resample_sums(columns: np.ndarray, n_boot: int, rng: np.random.Generator):
    """Column sums over ``n_boot`` resamples of the rows (clusters) of ``columns`` (C, m).

    Each resample draws C rows with replacement. Rows with the same values are
    interchangeable, so when there are few distinct rows one multinomial count per distinct
    row gives exactly the distribution of drawing rows; otherwise row indices are drawn.
    Returns an (n_boot, m) float array.
    """
    n_clusters, n_columns = columns.shape
    patterns, pattern_counts = np.unique(columns, axis=0, return_counts=True)
    draw_patterns = len(patterns) * _MULTINOMIAL_CELL_COST < n_clusters
    width = len(patterns) if draw_patterns else n_clusters
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // width)
    # Each replicate is a count per row (or pattern) times the rows: one matrix product per
    # chunk. Counts stay exact in float64 below 2**53, and BLAS multiplies floats.
    rows = (patterns if draw_patterns else columns).astype(float)
    sums = np.empty((n_boot, n_columns))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        if draw_patterns:
            draws = rng.multinomial(n_clusters, pattern_counts / n_clusters, size=size)
        else:
            indices = rng.integers(0, n_clusters, size=(size, n_clusters))
            offsets = np.arange(size)[:, None] * n_clusters
            draws = np.bincount((indices + offsets).ravel(), minlength=size * n_clusters)
            draws = draws.reshape(size, n_clusters)
        sums[start : start + size] = draws.astype(float) @ rows
    return sums


def cluster_bootstrap_difference(
    ks1: Sequence[int] | ArrayLike,
    ns1: Sequence[int] | ArrayLike,
    ks2: Sequence[int] | ArrayLike,
    ns2: Sequence[int] | ArrayLike,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: Seed = None,
) -> ClusterBootstrapDifferenceResult:
    """Cluster bootstrap of the difference of two pooled proportions from per-cluster counts.

    Cluster ``i`` (a rater) gave ``ks1[i]`` successes out of ``ns1[i]`` answers in group 1
    and ``ks2[i]`` out of ``ns2[i]`` in group 2; either ``n`` may be 0 (the rater did not
    answer that group). Each replicate draws as many clusters as there are, with
    replacement, keeping a rater's answers to both groups together, and computes
    ``sum(k1) / sum(n1) - sum(k2) / sum(n2)``; the interval is the percentile interval of the
    replicates. This keeps the correlation a rater induces within and across groups (a
    lenient rater raises both), which :func:`two_proportions` ignores. Replicates that drew
    no answer for a group are left out and counted in ``n_boot_failed``. As with
    :func:`cluster_bootstrap_proportion`, trust it with 20 or more raters.
    """
    ks1_int, ns1_int = _check_cluster_counts(ks1, ns1, ("ks1", "ns1"))
    ks2_int, ns2_int = _check_cluster_counts(ks2, ns2, ("ks2", "ns2"))
    _check_same_length("ks1", ks1_int, "ks2", ks2_int)
    if ks1_int.size == 0:
        raise ValueError(EMPTY_ERROR.format(name="ks1"))
    for name, ns in (("ns1", ns1_int), ("ns2", ns2_int)):
        if ns.sum() < 1:
            raise ValueError(N_POSITIVE_ERROR.format(name=f"sum of {name}", value=int(ns.sum())))
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    n_boot = _check_n_boot(n_boot)

    columns = np.column_stack([ks1_int, ns1_int, ks2_int, ns2_int])
    sums = _cluster_resample_sums(columns, n_boot, _rng(seed))
    defined = (sums[:, 1] > 0) & (sums[:, 3] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        differences = sums[:, 0] / sums[:, 1] - sums[:, 2] / sums[:, 3]
    differences = differences[defined]

    k1, n1, k2, n2 = (int(total) for total in columns.sum(axis=0))
    tail = (1 - confidence_level) / 2
    if differences.size:
        low, high = np.quantile(differences, [tail, 1 - tail])
    else:
        low = high = math.nan
    return ClusterBootstrapDifferenceResult(
        k1=k1,
        n1=n1,
        k2=k2,
        n2=n2,
        n_clusters=int(columns.shape[0]),
        proportion1=k1 / n1,
        proportion2=k2 / n2,
        difference=k1 / n1 - k2 / n2,
        ci_low=float(low),
        ci_high=float(high),
        confidence_level=confidence_level,
        n_boot=n_boot,
        n_boot_failed=int(n_boot - differences.size),
        standard_error=float(differences.std(ddof=1)) if differences.size > 1 else math.nan,
    )


def gee_proportion(
    successes: Sequence[bool] | ArrayLike,
    clusters: Sequence[Hashable] | ArrayLike,
    *,
    p: float = NO_PREFERENCE,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
) -> GEEProportionResult:
    """Proportion and robust interval from a logistic GEE clustered by rater.

    Fits ``statsmodels`` ``GEE`` with a constant only, ``Binomial`` family (logit link) and
    ``Exchangeable`` working correlation, grouped by ``clusters``. The estimate weights raters
    by how informative their answers are given the estimated correlation, so with unequal
    answers per rater it differs slightly from ``k / n``. The sandwich standard error is
    valid whatever the true within-rater correlation; like every sandwich estimator it is
    too small with few clusters (trust it from about 40 raters). The interval is Wald on
    the logit scale mapped back, so it stays inside (0, 1); it needs both outcomes present.

    Speed: statsmodels walks the clusters in Python: a million answers from 50,000 raters
    took 6 s on an idle core and 16 s on a busy one (the cluster bootstrap: 0.1 s). For large
    reports prefer :func:`cluster_bootstrap_proportion`; use this as a cross-check.
    """
    flags = _as_successes(successes)
    codes, n_clusters = _cluster_codes(clusters)
    _check_same_length("successes", flags, "clusters", codes)
    if flags.size == 0:
        raise ValueError(EMPTY_ERROR.format(name="successes"))
    p = _check_open_unit("p", p)
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    k, n = int(flags.sum()), int(flags.size)
    if k in (0, n):
        raise ValueError(GEE_BOTH_OUTCOMES_ERROR.format(k=k, n=n))

    model = GEE(
        flags.astype(float),
        np.ones((n, 1)),
        groups=codes,
        family=families.Binomial(),
        cov_struct=gee_cov_struct.Exchangeable(),
    )
    fit = model.fit()
    logit = float(fit.params[0])
    standard_error = float(fit.bse[0])
    z = float(stats.norm.ppf((1 + confidence_level) / 2))
    wald = (logit - float(special.logit(p))) / standard_error
    return GEEProportionResult(
        k=k,
        n=n,
        n_clusters=n_clusters,
        p=p,
        statistic=float(special.expit(logit)),
        standard_error=standard_error,
        pvalue=float(2 * stats.norm.sf(abs(wald))),
        confidence_level=confidence_level,
        ci_low=float(special.expit(logit - z * standard_error)),
        ci_high=float(special.expit(logit + z * standard_error)),
        correlation=float(model.cov_struct.dep_params),
    )


# ---------------------------------------------------------------------------------------------
# Bradley–Terry


def _reachable_with_first(wins: np.ndarray) -> np.ndarray:
    """For a stack of wins matrices (B, K, K): which items beat and lose to item 0 via chains.

    The Bradley–Terry MLE is finite exactly when every item is, i.e. when the "beat" graph
    is strongly connected (Ford 1957; Hunter 2004, Assumption 1). Computed by repeated
    squaring of the reachability matrix, for the whole stack at once.
    """
    size = wins.shape[-1]
    reach = (wins > 0) | np.eye(size, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(size)))):
        reach = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
    return reach[:, 0, :] & reach[:, :, 0]


def _bradley_terry_terms(
    free: np.ndarray, wins: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Negative log-likelihood, gradient and Hessian for a stack of problems.

    ``free`` (B, K-1) holds the log-strengths of items 1..K-1, item 0's being fixed at 0;
    ``wins`` is (B, K, K). Returns shapes (B,), (B, K-1) and (B, K-1, K-1).
    """
    batch, size, _ = wins.shape
    scores = np.concatenate([np.zeros((batch, 1)), free], axis=1)
    difference = scores[:, :, None] - scores[:, None, :]
    beats = special.expit(difference)  # beats[b, i, j] = P(i beats j)
    games = wins + wins.transpose(0, 2, 1)
    negative_log_likelihood = (wins * np.logaddexp(0.0, -difference)).sum(axis=(1, 2))
    gradient = -(wins - games * beats).sum(axis=2)
    information = games * beats * (1 - beats)
    hessian = -information
    diagonal = np.arange(size)
    hessian[:, diagonal, diagonal] += information.sum(axis=2)
    return negative_log_likelihood, gradient[:, 1:], hessian[:, 1:, 1:]


def _bradley_terry_scores(wins: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood log-strengths, centred to mean 0, for a stack of wins (B, K, K).

    Newton's method with step halving, all problems at once. The negative log-likelihood is
    convex, and strictly so with item 0 fixed when the MLE exists (check
    :func:`_reachable_with_first` first), so the damped Newton iteration converges from any
    start; ``start`` (K,) only saves iterations.
    """
    batch, size, _ = wins.shape
    initial = np.zeros(size) if start is None else start
    free = np.tile(initial[1:] - initial[0], (batch, 1))
    active = np.arange(batch)
    for _ in range(_NEWTON_MAX_STEPS):
        objective, gradient, hessian = _bradley_terry_terms(free[active], wins[active])
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        converged = np.abs(step).max(axis=1) < _NEWTON_TOLERANCE
        # Halve a step only when it raises the objective by more than rounding error.
        slack = _OBJECTIVE_ROUNDING * np.abs(objective)
        fraction = np.ones(len(active))
        for _ in range(_NEWTON_MAX_HALVINGS):
            trial = free[active] - fraction[:, None] * step
            worse = _bradley_terry_terms(trial, wins[active])[0] > objective + slack
            if not worse.any():
                break
            fraction[worse] /= 2
        free[active] = trial
        active = active[~converged]
        if active.size == 0:
            break
    scores = np.concatenate([np.zeros((batch, 1)), free], axis=1)
    return scores - scores.mean(axis=1, keepdims=True)


def _transitivity(
    wins: np.ndarray, labels: tuple[Hashable, ...], scores: np.ndarray
) -> TransitivityResult:
    games = wins + wins.T
    compared = games > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(compared, wins / np.where(compared, games, 1), np.nan)
    violations = []
    for i, j in itertools.combinations(range(len(labels)), 2):
        higher, lower = (i, j) if scores[i] >= scores[j] else (j, i)
        if compared[higher, lower] and rate[higher, lower] < NO_PREFERENCE:
            violations.append((labels[higher], labels[lower], float(rate[higher, lower])))
    triads = []
    n_checked = 0
    for a, b, c in itertools.combinations(range(len(labels)), 3):
        if not (compared[a, b] and compared[b, c] and compared[a, c]):
            continue
        n_checked += 1
        for x, y, z in ((a, b, c), (a, c, b)):
            cycle = (rate[x, y], rate[y, z], rate[z, x])
            if all(won > NO_PREFERENCE for won in cycle):
                triads.append((labels[x], labels[y], labels[z]))
    return TransitivityResult(
        consistent=not violations and not triads,
        order_violations=tuple(violations),
        intransitive_triads=tuple(triads),
        n_triads_checked=n_checked,
    )


def bradley_terry_from_wins(
    wins: Sequence[Sequence[int]] | ArrayLike,
    *,
    labels: Sequence[Hashable] | None = None,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: Seed = None,
) -> BradleyTerryResult:
    """Bradley–Terry ranking from a matrix ``wins[i][j]`` = times item i beat item j.

    See :func:`bradley_terry`; ``labels`` name the rows (default 0..K-1).

    ``wins`` may also be a stack [C, K, K] of one such matrix per rater (cluster). The
    estimate is that of their sum, and the bootstrap resamples raters with replacement
    instead of comparisons, so that a rater's answers stay together, as in the other
    rater-clustered intervals (:func:`cluster_bootstrap_counts`): one keen rater then widens
    the intervals instead of narrowing them. Trust it with 20 or more raters.
    """
    matrix = np.asarray(wins)
    clustered = matrix.ndim == 3  # a stack of square matrices, one per rater
    stack = matrix if clustered else matrix[None]
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2] or stack.shape[1] < 2:
        raise ValueError(WINS_MATRIX_ERROR.format(shape=matrix.shape))
    if stack.shape[0] == 0 or (stack < 0).any() or not np.array_equal(stack, np.round(stack)):
        raise ValueError(WINS_MATRIX_ERROR.format(shape=matrix.shape))
    per_cluster = stack.astype(np.int64)
    size = per_cluster.shape[1]
    per_cluster[:, np.arange(size), np.arange(size)] = 0
    # A rater without a decisive answer is no cluster: drawing one would only thin replicates.
    per_cluster = per_cluster[per_cluster.reshape(len(per_cluster), -1).any(axis=1)]
    counts = per_cluster.sum(axis=0)
    names = tuple(range(size)) if labels is None else tuple(labels)
    if len(names) != size:
        raise ValueError(LABELS_LENGTH_ERROR.format(size=size, labels=labels))
    confidence_level = _check_open_unit("confidence_level", confidence_level)
    n_boot = _check_n_boot(n_boot)
    reached = _reachable_with_first(counts[None])[0]
    if not reached.all():
        raise ValueError(
            BRADLEY_TERRY_NO_MLE_ERROR.format(
                unreached=[names[i] for i in np.flatnonzero(~reached)]
            )
        )

    scores = _bradley_terry_scores(counts[None].astype(float))[0]

    rng = _rng(seed)
    n_comparisons = int(counts.sum())
    if clustered and len(per_cluster) < 2:
        warnings.warn(
            "one rater: resampling raters cannot vary, so the intervals are left out (NaN)",
            RuntimeWarning,
            stacklevel=2,
        )
        resamples = np.zeros((0, size, size))  # no replicate, and none failed
    elif clustered:
        flat = per_cluster.reshape(len(per_cluster), size * size)
        resamples = _cluster_resample_sums(flat, n_boot, rng).reshape(n_boot, size, size)
    else:
        # Resampling comparisons with replacement is one multinomial draw over the cells of
        # the wins matrix: comparisons in the same cell are interchangeable.
        draws = rng.multinomial(n_comparisons, counts.ravel() / n_comparisons, size=n_boot)
        resamples = draws.reshape(n_boot, size, size).astype(float)
    finite = _reachable_with_first(resamples).all(axis=1)
    replicates = np.full((len(resamples), size), np.nan)
    if finite.any():
        replicates[finite] = _bradley_terry_scores(resamples[finite], start=scores)
    failed = int(np.isnan(replicates[:, 0]).sum())
    if failed:
        warnings.warn(
            f"{failed} of {n_boot} Bradley–Terry bootstrap replicates had no finite estimate "
            "and were left out; the intervals are then too narrow",
            RuntimeWarning,
            stacklevel=2,
        )
    tail = (1 - confidence_level) / 2
    if failed == len(replicates):  # every replicate failed, or there was none
        low = high = np.full(size, np.nan)
    else:
        low, high = np.nanquantile(replicates, [tail, 1 - tail], axis=0)

    order = np.argsort(-scores, kind="stable")
    return BradleyTerryResult(
        labels=names,
        scores=tuple(scores.tolist()),
        ci_low=tuple(low.tolist()),
        ci_high=tuple(high.tolist()),
        ranking=tuple(names[i] for i in order),
        wins=tuple(tuple(row) for row in counts.tolist()),
        n_comparisons=n_comparisons,
        confidence_level=confidence_level,
        n_boot=n_boot,
        n_boot_failed=failed,
        transitivity=_transitivity(counts, names, scores),
        n_clusters=len(per_cluster) if clustered else None,
    )


def bradley_terry(
    comparisons: Sequence[tuple[Hashable, Hashable]] | ArrayLike,
    *,
    confidence_level: float = DEFAULT_CONFIDENCE_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: Seed = None,
) -> BradleyTerryResult:
    """Bradley–Terry ranking of models from ``(winner, loser)`` comparisons.

    Model: P(i beats j) = exp(s_i) / (exp(s_i) + exp(s_j)). The log-strengths ``scores`` are
    the maximum-likelihood estimate, centred to mean 0, found by Newton's method with step
    halving on the exact gradient and Hessian (the tests check it against statsmodels'
    logistic regression, which is the same model); labels are sorted. The MLE exists only when
    every model beats, directly or through a chain, every other one (the comparison graph is
    strongly connected); otherwise ``ValueError``.

    Intervals are bootstrap percentiles over all comparisons resampled with replacement
    (they ignore clustering by rater: with rater identities, pass one wins matrix per rater
    to :func:`bradley_terry_from_wins`). Trust them when each compared pair has a few dozen
    comparisons; ``n_boot_failed`` > 0 warns that some resamples had a model that never won
    or never lost, and then the intervals are too narrow.

    ``transitivity`` checks that the direct win rates agree with the fitted order and that no
    compared triad is a cycle. Bradley–Terry implies stochastic transitivity (a beats b and
    b beats c more than half the time, so a beats c more than half the time); the paper's
    chain of adjacent comparisons assumes it too when it orders all four models, and such a
    chain has no triad to check it with (``n_triads_checked`` is 0).
    """
    array = np.asarray(comparisons)
    pair_width = 2
    if array.ndim != pair_width or array.shape[1] != pair_width or array.shape[0] == 0:
        raise ValueError(COMPARISON_SHAPE_ERROR.format(shape=array.shape))
    labels, codes = np.unique(array.ravel(), return_inverse=True)
    winners, losers = codes.reshape(-1, pair_width).T
    same = winners == losers
    if same.any():
        raise ValueError(SELF_COMPARISON_ERROR.format(label=_plain(labels[winners[same][0]])))
    size = len(labels)
    wins = np.bincount(winners * size + losers, minlength=size * size).reshape(size, size)
    return bradley_terry_from_wins(
        wins,
        labels=[_plain(label) for label in labels],
        confidence_level=confidence_level,
        n_boot=n_boot,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# Agreement


def krippendorff_alpha(
    items: Sequence[Hashable] | ArrayLike,
    values: Sequence[Hashable] | ArrayLike,
    *,
    level: KrippendorffLevel = "nominal",
) -> KrippendorffAlphaResult:
    """Krippendorff's alpha for ratings given as parallel lists ``items[i]``, ``values[i]``.

    One entry per rating: the item rated and the value given (e.g. "yes"/"no"). Which rater
    gave it does not enter alpha. Items rated once carry no information on agreement and
    are dropped; at least one item must have 2 or more ratings. Computed by the
    ``krippendorff`` package from the items × values count matrix. ``level`` is the
    measurement level: 'nominal' for categories (the surveys' yes/no and choices);
    'ordinal', 'interval' and 'ratio' need numeric values. Alpha is 1 for perfect agreement
    and 0 for agreement at chance; Krippendorff (2004) suggests relying on data with
    alpha ≥ 0.8 and drawing tentative conclusions only from 0.667.
    """
    level = _check_choice("level", level, KRIPPENDORFF_LEVELS)
    item_array, value_array = np.asarray(items).ravel(), np.asarray(values).ravel()
    _check_same_length("items", item_array, "values", value_array)
    if item_array.size == 0:
        raise ValueError(EMPTY_ERROR.format(name="items"))
    _, item_codes = np.unique(item_array, return_inverse=True)
    domain, value_codes = np.unique(value_array, return_inverse=True)
    counts = np.zeros((item_codes.max() + 1, len(domain)), dtype=np.int64)
    np.add.at(counts, (item_codes, value_codes), 1)
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.size == 0:
        raise ValueError(KRIPPENDORFF_NO_PAIRS_ERROR.format(n_items=counts.shape[0]))
    used = pairable.sum(axis=0) > 0
    if used.sum() == 1:
        raise ValueError(KRIPPENDORFF_ONE_VALUE_ERROR.format(value=_plain(domain[used][0])))
    value_domain = np.arange(len(domain)) if level == "nominal" else domain.astype(float)
    statistic = _krippendorff.alpha(
        value_counts=pairable, value_domain=value_domain, level_of_measurement=level
    )
    return KrippendorffAlphaResult(
        statistic=float(statistic),
        level=level,
        n_items=int(pairable.shape[0]),
        n_ratings=int(pairable.sum()),
    )


# ---------------------------------------------------------------------------------------------
# Sample-size planning


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


def _check_direction(p1: float, p0: float, alternative: str) -> None:
    detectable = {"two-sided": p1 != p0, "greater": p1 > p0, "less": p1 < p0}[alternative]
    if not detectable:
        raise ValueError(DIRECTION_ERROR.format(p1=p1, p0=p0, alternative=alternative))


def _statsmodels_alternative(alternative: str) -> str:
    """statsmodels spells the one-sided alternatives 'larger' and 'smaller'."""
    return {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]


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
