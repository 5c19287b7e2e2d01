"""CSV cells safe to open in a spreadsheet: text that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return; OWASP's "CSV injection")
gets a leading single quote, shown as text. Numbers stay numbers: only text is touched, so a
numeric column's -0.12 is still -0.12, while a model named "-0.12" (text) is quoted."""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """`value`, with a leading ``'`` when it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text columns are :func:`csv_safe`; numeric columns untouched."""
    safe = frame.copy()
    for column in safe.select_dtypes(include=["object", "string"]).columns:
        safe[column] = safe[column].map(csv_safe, na_action="ignore")
    return safe
