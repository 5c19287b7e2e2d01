"""surveys.stats.agreement against numbers from independent tools.

Where the expected numbers come from, and the tolerances: ``tests/surveys/stats_helpers.py``.
"""

from __future__ import annotations

import math

import pytest

from surveys import stats
from tests.surveys.stats_helpers import PUBLISHED_3DP, SAME_ROUTINE, message

# ---------------------------------------------------------------------------------------------
# Krippendorff's alpha

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, missing values (rows are observers A–D, columns units 1–12).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def long_format(reliability_data):
    items, values = [], []
    for row in reliability_data:
        for item, value in enumerate(row):
            if not math.isnan(value):
                items.append(item)
                values.append(value)
    return items, values


@pytest.mark.parametrize(
    ("level", "published", "package"),
    [
        # published: Krippendorff (2011), section C, to 3 decimals.
        # package: krippendorff.alpha(reliability_data=KRIPPENDORFF_2011,
        #                             level_of_measurement=level)
        ("nominal", 0.743, 0.743421052631579),
        ("ordinal", 0.815, 0.8153875037548814),
        ("interval", 0.849, 0.8491071428571428),
        ("ratio", 0.797, 0.7974027747116121),
    ],
)
def test_krippendorff_alpha_matches_krippendorffs_worked_example(level, published, package):
    items, values = long_format(KRIPPENDORFF_2011)
    result = stats.krippendorff_alpha(items, values, level=level)
    assert result.statistic == pytest.approx(published, abs=PUBLISHED_3DP)
    assert result.statistic == pytest.approx(package, rel=SAME_ROUTINE)
    # Unit 12 has one rating and is dropped: 11 units, 40 of the 41 ratings.
    assert (result.n_items, result.n_ratings, result.level) == (11, 40, level)


def test_krippendorff_alpha_takes_category_names():
    items, values = long_format(KRIPPENDORFF_2011)
    names = {1.0: "one", 2.0: "two", 3.0: "three", 4.0: "four", 5.0: "five"}
    named = stats.krippendorff_alpha(items, [names[v] for v in values])
    assert named.statistic == pytest.approx(0.743421052631579, rel=SAME_ROUTINE)


def test_krippendorff_alpha_refuses_items_rated_once():
    with pytest.raises(ValueError, match=message(stats.KRIPPENDORFF_NO_PAIRS_ERROR, n_items=3)):
        stats.krippendorff_alpha(["x", "y", "z"], ["yes", "no", "yes"])


def test_krippendorff_alpha_refuses_ratings_that_never_vary():
    with pytest.raises(ValueError, match=message(stats.KRIPPENDORFF_ONE_VALUE_ERROR, value="yes")):
        stats.krippendorff_alpha(["x", "x", "y", "y", "z"], ["yes", "yes", "yes", "yes", "no"])
