"""The paper's Table 2 and Table 4, built from the database, and their exports.

:mod:`~surveys.reports.build` builds a :class:`SurveyReport` (every database read happens
there); :mod:`~surveys.reports.render` writes it as CSV, JSON, LaTeX, Markdown or HTML, with
:mod:`~surveys.reports.figures` for the plots and :mod:`~surveys.reports.datasheet` for the
datasheet; :mod:`~surveys.reports.answers` exports the raw answers.
"""

from surveys.reports.answers import (
    ANSWERS_MEANINGFULNESS_HEADER,
    ANSWERS_PAIRWISE_HEADER,
    answers_csv,
    answers_lines,
)
from surveys.reports.build import (
    BAD_CONFIDENCE,
    CONTENT_TYPES,
    DEFAULT_CONFIDENCE,
    DEFAULT_SPLIT,
    EXTENSIONS,
    FORMATS,
    MIN_RATERS,
    N_BOOT,
    N_BOOT_BRADLEY_TERRY,
    NO_ANSWERS,
    SEED,
    UNKNOWN_FORMAT,
    UNKNOWN_PAIR,
    ReportUnavailable,
    SurveyReport,
    bradley_terry_table,
    meaningfulness_differences,
    meaningfulness_table,
    pairwise_table,
    report_build,
)
from surveys.reports.datasheet import datasheet, product_version, software_versions
from surveys.reports.render import (
    _display_tables,
    render,
    report_csv,
    report_html,
    report_json,
    report_latex,
    report_markdown,
)

__all__ = [
    "ANSWERS_MEANINGFULNESS_HEADER",
    "ANSWERS_PAIRWISE_HEADER",
    "BAD_CONFIDENCE",
    "CONTENT_TYPES",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_SPLIT",
    "EXTENSIONS",
    "FORMATS",
    "MIN_RATERS",
    "NO_ANSWERS",
    "N_BOOT",
    "N_BOOT_BRADLEY_TERRY",
    "SEED",
    "UNKNOWN_FORMAT",
    "UNKNOWN_PAIR",
    "ReportUnavailable",
    "SurveyReport",
    "_display_tables",
    "answers_csv",
    "answers_lines",
    "bradley_terry_table",
    "datasheet",
    "meaningfulness_differences",
    "meaningfulness_table",
    "pairwise_table",
    "product_version",
    "render",
    "report_build",
    "report_csv",
    "report_html",
    "report_json",
    "report_latex",
    "report_markdown",
    "software_versions",
]
