"""Bradley–Terry ranking of all models from pairwise comparisons, and its transitivity check.

:func:`bradley_terry` takes ``(winner, loser)`` comparisons, :func:`bradley_terry_from_wins` a
wins matrix or a stack of one per rater (then the bootstrap resamples raters, as
:mod:`surveys.stats.clustered` does).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._common import (
    _NEWTON_MAX_HALVINGS,
    _NEWTON_MAX_STEPS,
    _NEWTON_TOLERANCE,
    _OBJECTIVE_ROUNDING,
    BRADLEY_TERRY_NO_MLE_ERROR,
    COMPARISON_SHAPE_ERROR,
    DEFAULT_CONFIDENCE_LEVEL,
    DEFAULT_N_BOOT,
    LABELS_LENGTH_ERROR,
    NO_PREFERENCE,
    SELF_COMPARISON_ERROR,
    WINS_MATRIX_ERROR,
    Seed,
    _check_n_boot,
    _check_open_unit,
    _plain,
    _rng,
)
from .clustered import _cluster_resample_sums


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


def _per_cluster_wins(wins: Sequence[Sequence[int]] | ArrayLike) -> tuple[np.ndarray, bool]:
    """``wins`` checked and as a stack (C, K, K) of int64 matrices, one per rater, and whether
    it was given as such a stack; diagonals are zeroed and silent raters left out."""
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
    return per_cluster, clustered


def _bradley_terry_resamples(
    per_cluster: np.ndarray,
    counts: np.ndarray,
    clustered: bool,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Bootstrap wins matrices (B, K, K): raters resampled when ``clustered``, else comparisons.

    One rater gives no replicate at all (B is 0), with a warning: resampling cannot vary.
    """
    size = counts.shape[0]
    n_comparisons = int(counts.sum())
    if clustered and len(per_cluster) < 2:
        warnings.warn(
            "one rater: resampling raters cannot vary, so the intervals are left out (NaN)",
            RuntimeWarning,
            stacklevel=3,  # the caller of bradley_terry_from_wins
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
    return resamples


def _bradley_terry_intervals(
    resamples: np.ndarray, scores: np.ndarray, n_boot: int, confidence_level: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Percentile bounds of the scores over the resamples, and how many had no finite MLE."""
    size = scores.shape[0]
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
            stacklevel=3,  # the caller of bradley_terry_from_wins
        )
    tail = (1 - confidence_level) / 2
    if failed == len(replicates):  # every replicate failed, or there was none
        low = high = np.full(size, np.nan)
    else:
        low, high = np.nanquantile(replicates, [tail, 1 - tail], axis=0)
    return low, high, failed


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
    per_cluster, clustered = _per_cluster_wins(wins)
    size = per_cluster.shape[1]
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
    resamples = _bradley_terry_resamples(per_cluster, counts, clustered, n_boot, rng)
    low, high, failed = _bradley_terry_intervals(resamples, scores, n_boot, confidence_level)

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
