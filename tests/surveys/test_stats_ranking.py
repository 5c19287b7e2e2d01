"""surveys.stats.ranking against numbers from independent tools.

Where the expected numbers come from, and the tolerances: ``tests/surveys/stats_helpers.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from surveys import stats
from tests.surveys.stats_helpers import OPTIMISER, message

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
