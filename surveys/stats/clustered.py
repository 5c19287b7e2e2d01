"""Proportions from answers clustered by rater: cluster bootstrap and GEE.

One rater gives up to 20 answers, and their taste shows in all of them, so the binomial
intervals of :mod:`surveys.stats.proportions` are too narrow; these resample whole raters
(:func:`cluster_bootstrap_proportion`, :func:`cluster_bootstrap_counts`,
:func:`cluster_bootstrap_difference`) or fit a logistic GEE (:func:`gee_proportion`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats
from statsmodels.genmod import cov_struct as gee_cov_struct
from statsmodels.genmod import families
from statsmodels.genmod.generalized_estimating_equations import GEE

from ._common import (
    _BOOTSTRAP_CHUNK_ELEMENTS,
    _MULTINOMIAL_CELL_COST,
    DEFAULT_CONFIDENCE_LEVEL,
    DEFAULT_N_BOOT,
    EMPTY_ERROR,
    GEE_BOTH_OUTCOMES_ERROR,
    N_POSITIVE_ERROR,
    NO_PREFERENCE,
    Seed,
    _as_successes,
    _check_cluster_counts,
    _check_counts,
    _check_n_boot,
    _check_open_unit,
    _check_same_length,
    _cluster_codes,
    _rng,
)


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
