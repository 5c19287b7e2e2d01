"""Admin for surveys, raters, items, answers and reports (researchers: staff, with permissions).

:mod:`~surveys.admin.surveys` creates, opens, closes, shares, previews and reports on surveys
and shows their live progress; :mod:`~surveys.admin.raters` lists raters (and excludes them),
items and answers, read-only; :mod:`~surveys.admin.forms` holds the forms,
:mod:`~surveys.admin.preview` the preview as a rater.
"""

from surveys.admin.raters import ItemAdmin, RaterAdmin, ReadOnlyAdmin, ResponseAdmin
from surveys.admin.surveys import FORMAT_LABELS, SurveyAdmin

__all__ = [
    "FORMAT_LABELS",
    "ItemAdmin",
    "RaterAdmin",
    "ReadOnlyAdmin",
    "ResponseAdmin",
    "SurveyAdmin",
]
