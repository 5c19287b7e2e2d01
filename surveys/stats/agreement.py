"""Agreement between raters who overlap on items: Krippendorff's alpha."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import krippendorff as _krippendorff
import numpy as np
from numpy.typing import ArrayLike

from ._common import (
    EMPTY_ERROR,
    KRIPPENDORFF_LEVELS,
    KRIPPENDORFF_NO_PAIRS_ERROR,
    KRIPPENDORFF_ONE_VALUE_ERROR,
    KrippendorffLevel,
    _check_choice,
    _check_same_length,
    _plain,
)


@dataclass(frozen=True)
class KrippendorffAlphaResult:
    """Krippendorff's alpha over the items rated at least twice.

    ``n_items`` and ``n_ratings`` count only those pairable items and their ratings.
    """

    statistic: float
    level: str
    n_items: int
    n_ratings: int


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
