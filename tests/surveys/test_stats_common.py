"""What the whole of surveys.stats shares: checked input, frozen results, no Django.

Bad input is refused with the error messages of ``surveys.stats._common``, whichever module
the function lives in.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from surveys import stats
from tests.surveys.stats_helpers import message

ROOT = Path(__file__).resolve().parents[2]


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
