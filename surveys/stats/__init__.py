"""Statistics for the blind surveys, as pure functions (no Django here).

Every function takes plain numbers or array-likes and returns a small frozen dataclass whose
field names follow scipy's vocabulary: ``k`` successes out of ``n`` trials, ``statistic``,
``pvalue``, ``alternative`` ('two-sided', 'greater' or 'less'), ``confidence_level``, ``ci_low``
and ``ci_high``. The numbers come from scipy, statsmodels and krippendorff; this package chooses
the method, validates input, and names the result.

One module a concern, each result class beside its function; every public name is re-exported
here, so callers write ``from surveys import stats`` and ``stats.binomial_test(...)``:

- :mod:`surveys.stats.proportions`: tests and intervals for independent proportions, Holm.
- :mod:`surveys.stats.clustered`: answers clustered by rater (cluster bootstrap, GEE).
- :mod:`surveys.stats.ranking`: Bradley–Terry ranking and its transitivity check.
- :mod:`surveys.stats.agreement`: Krippendorff's alpha.
- :mod:`surveys.stats.planning`: sample sizes and power.
- :mod:`surveys.stats._common`: types, defaults, error messages and input checks they share.

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

from ._common import (
    ALTERNATIVES,
    BINARY_ERROR,
    BRADLEY_TERRY_NO_MLE_ERROR,
    CHOICE_ERROR,
    CLOSED_UNIT_INTERVAL_ERROR,
    COMPARISON_SHAPE_ERROR,
    DEFAULT_ALPHA,
    DEFAULT_CONFIDENCE_LEVEL,
    DEFAULT_MAX_N,
    DEFAULT_N_BOOT,
    DEFAULT_POWER,
    DESIGN_EFFECT_PAIR_ERROR,
    DIRECTION_ERROR,
    EMPTY_ERROR,
    GEE_BOTH_OUTCOMES_ERROR,
    INTEGER_ERROR,
    INTERVAL_METHODS,
    K_RANGE_ERROR,
    KRIPPENDORFF_LEVELS,
    KRIPPENDORFF_NO_PAIRS_ERROR,
    KRIPPENDORFF_ONE_VALUE_ERROR,
    LABELS_LENGTH_ERROR,
    LENGTH_MISMATCH_ERROR,
    N_POSITIVE_ERROR,
    NO_PREFERENCE,
    ONE_SIDED_CONFIDENCE_ERROR,
    OPEN_UNIT_INTERVAL_ERROR,
    SAMPLE_SIZE_METHODS,
    SAMPLE_SIZE_UNREACHED_ERROR,
    SELF_COMPARISON_ERROR,
    TOO_FEW_GROUPS_ERROR,
    WINS_MATRIX_ERROR,
    Alternative,
    IntervalMethod,
    KrippendorffLevel,
    SampleSizeMethod,
    Seed,
)
from .agreement import (
    KrippendorffAlphaResult,
    krippendorff_alpha,
)
from .clustered import (
    ClusterBootstrapDifferenceResult,
    ClusterBootstrapResult,
    GEEProportionResult,
    cluster_bootstrap_counts,
    cluster_bootstrap_difference,
    cluster_bootstrap_proportion,
    gee_proportion,
)
from .planning import (
    SampleSizeResult,
    sample_size_two_proportions,
    sample_size_win_rate,
)
from .proportions import (
    BinomialTestResult,
    ChiSquareResult,
    FisherExactResult,
    HolmResult,
    ProportionInterval,
    TwoProportionsResult,
    binomial_test,
    chi_square_across,
    fisher_exact_2x2,
    holm,
    position_bias,
    proportion_ci,
    two_proportions,
)
from .ranking import (
    BradleyTerryResult,
    TransitivityResult,
    bradley_terry,
    bradley_terry_from_wins,
)

__all__ = [
    "ALTERNATIVES",
    "BINARY_ERROR",
    "BRADLEY_TERRY_NO_MLE_ERROR",
    "CHOICE_ERROR",
    "CLOSED_UNIT_INTERVAL_ERROR",
    "COMPARISON_SHAPE_ERROR",
    "DEFAULT_ALPHA",
    "DEFAULT_CONFIDENCE_LEVEL",
    "DEFAULT_MAX_N",
    "DEFAULT_N_BOOT",
    "DEFAULT_POWER",
    "DESIGN_EFFECT_PAIR_ERROR",
    "DIRECTION_ERROR",
    "EMPTY_ERROR",
    "GEE_BOTH_OUTCOMES_ERROR",
    "INTEGER_ERROR",
    "INTERVAL_METHODS",
    "KRIPPENDORFF_LEVELS",
    "KRIPPENDORFF_NO_PAIRS_ERROR",
    "KRIPPENDORFF_ONE_VALUE_ERROR",
    "K_RANGE_ERROR",
    "LABELS_LENGTH_ERROR",
    "LENGTH_MISMATCH_ERROR",
    "NO_PREFERENCE",
    "N_POSITIVE_ERROR",
    "ONE_SIDED_CONFIDENCE_ERROR",
    "OPEN_UNIT_INTERVAL_ERROR",
    "SAMPLE_SIZE_METHODS",
    "SAMPLE_SIZE_UNREACHED_ERROR",
    "SELF_COMPARISON_ERROR",
    "TOO_FEW_GROUPS_ERROR",
    "WINS_MATRIX_ERROR",
    "Alternative",
    "BinomialTestResult",
    "BradleyTerryResult",
    "ChiSquareResult",
    "ClusterBootstrapDifferenceResult",
    "ClusterBootstrapResult",
    "FisherExactResult",
    "GEEProportionResult",
    "HolmResult",
    "IntervalMethod",
    "KrippendorffAlphaResult",
    "KrippendorffLevel",
    "ProportionInterval",
    "SampleSizeMethod",
    "SampleSizeResult",
    "Seed",
    "TransitivityResult",
    "TwoProportionsResult",
    "binomial_test",
    "bradley_terry",
    "bradley_terry_from_wins",
    "chi_square_across",
    "cluster_bootstrap_counts",
    "cluster_bootstrap_difference",
    "cluster_bootstrap_proportion",
    "fisher_exact_2x2",
    "gee_proportion",
    "holm",
    "krippendorff_alpha",
    "position_bias",
    "proportion_ci",
    "sample_size_two_proportions",
    "sample_size_win_rate",
    "two_proportions",
]
