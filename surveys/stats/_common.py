"""What every module of :mod:`surveys.stats` shares: types, defaults, error messages, checks.

The error messages are formatted with the offending values, and the tests reuse them; the
tolerances below are the package's numerical settings, each with its reason.
"""

from __future__ import annotations

import math
import operator
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

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


def _check_direction(p1: float, p0: float, alternative: str) -> None:
    detectable = {"two-sided": p1 != p0, "greater": p1 > p0, "less": p1 < p0}[alternative]
    if not detectable:
        raise ValueError(DIRECTION_ERROR.format(p1=p1, p0=p0, alternative=alternative))


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


def _statsmodels_alternative(alternative: str) -> str:
    """statsmodels spells the one-sided alternatives 'larger' and 'smaller'."""
    return {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
