"""Tolerances and helpers shared by the tests of surveys.stats (tests/surveys/test_stats_*.py).

Where the expected numbers come from:
- R: the command is in a comment; R prints about 7 significant digits (p-values 4), so those
  comparisons use the printed precision.
- Published tables (Newcombe 1998; Krippendorff 2011): compared at the printed decimals.
- scipy / statsmodels / krippendorff called directly: the call is in a comment and the numbers
  were pasted from it; compared to 1e-12 relative where the same routine computes them, to
  1e-10 where another library's routine does.
- Closed forms and hand arithmetic, shown in the comment.
- Monte Carlo results (bootstraps): compared within a stated fraction of a standard error.
"""

from __future__ import annotations

import re

SAME_ROUTINE = 1e-12
OTHER_LIBRARY = 1e-10
R_PVALUE = 5e-5  # R prints p-values to 4 significant digits
R_DIGITS = 5e-8  # R prints other numbers to 7 significant digits (here: 7 decimals)
PUBLISHED_4DP = 5e-5
PUBLISHED_3DP = 5e-4
OPTIMISER = 1e-8  # two maximum-likelihood optimisers agree to about this


def message(template: str, **values: object) -> str:
    """A regex matching exactly the formatted error message."""
    return re.escape(template.format(**values))
