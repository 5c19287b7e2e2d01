"""Renderers: one built report as CSV, JSON, LaTeX (booktabs), Markdown or a self-contained
HTML page. They read the built :class:`~surveys.reports.build.SurveyReport` only: no model,
no database query.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.template.loader import render_to_string

from surveys.reports import build
from surveys.reports.build import (
    BUCKET_FIELDS,
    BUCKETS,
    FORMATS,
    LONG,
    P_FLOOR,
    SEED,
    SHORT,
    UNKNOWN_FORMAT,
    VERDICTS,
    ReportUnavailable,
    SurveyReport,
)
from surveys.reports.cells import csv_safe_frame
from surveys.reports.datasheet import datasheet, software_versions
from surveys.reports.figures import _figures, _png_base64


def render(report: SurveyReport, fmt: str) -> str:
    """The report in ``fmt`` (any of FORMATS but ``answers``, which streams)."""
    renderers: dict[str, Callable[[SurveyReport], str]] = {
        "json": report_json,
        "csv": report_csv,
        "latex": report_latex,
        "md": report_markdown,
        "html": report_html,
        "datasheet": datasheet,
    }
    if fmt not in renderers:
        raise ReportUnavailable(UNKNOWN_FORMAT.format(fmt=fmt, formats=", ".join(FORMATS)))
    return renderers[fmt](report)


def report_csv(report: SurveyReport) -> str:
    """The main table, one row per pair (Table 2) or model (Table 4), machine units; text that a
    spreadsheet would run as a formula is quoted (`csv_safe`)."""
    return csv_safe_frame(report.table).to_csv(index=False, lineterminator="\n")


def report_json(report: SurveyReport) -> str:
    """Everything in the report as one JSON object; missing numbers are null."""
    survey = report.survey
    document: dict[str, object] = {
        "survey": survey.name,
        "kind": survey.kind,
        "question": survey.question,
        "confidence": report.confidence,
        "units": "pct, ci_low, ci_high and difference are percentages of responses",
        "methods": report.methods(),
        "n_boot": build.N_BOOT,
        "seed": SEED,
        "responses": int(report.answers_per_rater.sum()),
        "raters": len(report.answers_per_rater),
    }
    if report.is_pairwise:
        document["rows"] = _records(report.table)
        document["bradley_terry"] = _records(report.bradley_terry)
    else:
        document["split"] = report.split
        document["rows"] = [
            {"model": row["model"]}
            | {
                bucket: {name: row[f"{bucket}_{name}"] for name in BUCKET_FIELDS}
                for bucket in BUCKETS
            }
            for row in _records(report.table)
        ]
        document["differences"] = _records(report.differences)
    document["notes"] = list(report.notes)
    document["generated_at"] = report.generated_at
    document["software"] = software_versions()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as plain Python values: NaN and NA become None, numpy scalars become numbers."""

    def plain(value: object) -> object:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return [
        {key: plain(value) for key, value in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def report_markdown(report: SurveyReport) -> str:
    """A Markdown page: title, question, the tables (tabulate) and the methods."""
    parts = [f"# {report.survey.name}", "", f"Question: “{report.survey.question}”", ""]
    for title, frame in _display_tables(report, latex=False):
        parts += [f"## {title}", "", frame.to_markdown(index=False, disable_numparse=True), ""]
    parts += ["## Methods", ""] + [f"- {key}: {text}" for key, text in report.methods().items()]
    parts += [f"- note: {note}" for note in report.notes]
    return "\n".join(parts) + "\n"


def report_latex(report: SurveyReport) -> str:
    """One booktabs ``table`` per displayed table, ready to \\input into a paper."""
    level = f"{report.confidence:.0%}".replace("%", r"\%")
    captions = {
        "pairwise": (
            f"Results from a blind survey comparing reconstruction quality "
            f"(``{_latex_escape(report.survey.question)}''). Exact binomial test against 50\\%, "
            f"Holm-adjusted across rows; {level} Clopper--Pearson and rater-clustered "
            f"bootstrap intervals. Significant: the Holm-adjusted test rejects and the "
            f"rater-clustered interval excludes 50\\%."
        ),
        "meaningfulness": (
            f"Results from a blind survey testing generation quality "
            f"(``{_latex_escape(report.survey.question)}''): \\% meaningful by sentence length "
            f"$L$ with {level} Clopper--Pearson intervals."
        ),
        "differences": (
            f"Differences in \\% meaningful between models within each length bucket "
            f"(percentage points): score test, {level} Newcombe interval, Holm-adjusted; "
            f"{level} rater-clustered bootstrap interval. Significant: the Holm-adjusted test "
            f"rejects and the rater-clustered interval excludes 0."
        ),
        "bradley_terry": f"Bradley--Terry log-strengths with {level} bootstrap intervals.",
    }
    blocks = []
    for (title, frame), key in zip(
        _display_tables(report, latex=True), _display_keys(report), strict=True
    ):
        styler = frame.style.hide(axis="index")
        blocks.append(
            f"% {title}\n"
            + styler.to_latex(
                hrules=True,
                caption=captions[key],
                label=f"tab:{_slug(report.survey.name)}-{key.replace('_', '-')}",
                position_float="centering",
                column_format="l" * 2 + "r" * (len(frame.columns) - 2),
            )
        )
    return "\n".join(blocks)


def report_html(report: SurveyReport) -> str:
    """A self-contained HTML page: inline CSS, tables, plots as base64 PNG; no external URL."""
    tables = [
        (title, frame.to_html(index=False, border=0, classes="numbers", na_rep="–"))
        for title, frame in _display_tables(report, latex=False)
    ]
    figures = [(caption, _png_base64(figure)) for caption, figure in _figures(report)]
    return render_to_string(
        "surveys/report.html",
        {
            "report": report,
            "survey": report.survey,
            "tables": tables,
            "figures": figures,
            "methods": report.methods(),
            "responses": int(report.answers_per_rater.sum()),
            "raters": len(report.answers_per_rater),
            "software": software_versions(),
        },
    )


# ---------------------------------------------------------------------------------------------
# Display: rounded, labelled tables for people (Markdown, LaTeX, HTML)


def _display_keys(report: SurveyReport) -> list[str]:
    if report.is_pairwise:
        return ["pairwise"] + (["bradley_terry"] if not report.bradley_terry.empty else [])
    return ["meaningfulness"] + (["differences"] if not report.differences.empty else [])


def _display_tables(report: SurveyReport, *, latex: bool) -> list[tuple[str, pd.DataFrame]]:
    fmt = _Formatter(latex=latex, confidence=report.confidence)
    if report.is_pairwise:
        tables = [("Table 2: % responses with model 1 as winner", fmt.pairwise(report.table))]
        if not report.bradley_terry.empty:
            tables.append(("Bradley–Terry scores", fmt.bradley_terry(report.bradley_terry)))
        return tables
    tables = [("Table 4: % meaningful by length", fmt.meaningfulness(report.table, report.split))]
    if not report.differences.empty:
        tables.append(("Differences between models", fmt.differences(report.differences)))
    return tables


@dataclass(frozen=True)
class _Formatter:
    latex: bool
    confidence: float

    def text(self, value: str) -> str:
        return _latex_escape(value) if self.latex else value

    @property
    def missing(self) -> str:
        return "--" if self.latex else "–"

    @property
    def level(self) -> str:
        return f"{self.confidence:.0%}".replace("%", r"\%" if self.latex else "%")

    def pct(self, value: float) -> str:
        return self.missing if _is_missing(value) else f"{value:.1f}"

    def interval(self, low: float, high: float) -> str:
        return self.missing if _is_missing(low) else f"[{low:.1f}, {high:.1f}]"

    def p(self, value: float) -> str:
        if _is_missing(value):
            return self.missing
        if value < P_FLOOR:
            return f"$<$ {P_FLOOR}" if self.latex else f"< {P_FLOOR}"
        return f"{value:.4f}"

    def signed(self, value: float) -> str:
        return f"{value:+.1f}"

    def verdicts(self, table: pd.DataFrame) -> list[str]:
        """'yes' when both verdicts hold, else which one does ('no' for neither)."""
        return [
            self.missing if exact is pd.NA or clustered is pd.NA else VERDICTS[exact, clustered]
            for exact, clustered in zip(
                table.significant_holm.astype(object),
                table.significant_clustered.astype(object),
                strict=True,
            )
        ]

    def pairwise(self, table: pd.DataFrame) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        frame = pd.DataFrame(
            {
                "Model 1": table.model_1.map(self.text),
                "Model 2": table.model_2.map(self.text),
                "n": table.n,
                "discarded": table.discarded,
                "model 1 wins": table.wins_1,
                f"{percent} model 1": table.pct_1.map(self.pct),
                f"{self.level} CI": [*map(self.interval, table.ci_low, table.ci_high)],
                f"{self.level} CI (raters)": [
                    *map(self.interval, table.cluster_ci_low, table.cluster_ci_high)
                ],
                "p": table.pvalue.map(self.p),
                "p (Holm)": table.pvalue_holm.map(self.p),
                "significant": self.verdicts(table),
                "raters": table.raters,
            }
        )
        if table.left_n.sum():
            frame[f"{percent} left wins"] = table.left_pct.map(self.pct)
            frame["p (position)"] = table.position_pvalue.map(self.p)
        return frame

    def bradley_terry(self, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "Model": table.model.map(self.text),
                "rank": table["rank"],
                "score": table.score.map(lambda v: f"{v:+.2f}"),
                f"{self.level} CI": [
                    self.missing if _is_missing(low) else f"[{low:+.2f}, {high:+.2f}]"
                    for low, high in zip(table.ci_low, table.ci_high, strict=True)
                ],
            }
        )

    def meaningfulness(self, table: pd.DataFrame, split: int) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        labels = {
            SHORT: rf"$L \leq {split}$" if self.latex else f"L ≤ {split}",
            LONG: rf"$L > {split}$" if self.latex else f"L > {split}",
        }
        frame = pd.DataFrame({"Model": table.model.map(self.text)})
        for bucket, label in labels.items():
            frame[f"{percent} meaningful ({label})"] = table[f"{bucket}_pct"].map(self.pct)
            frame[f"k/n ({label})"] = [
                f"{k}/{n}" if n else self.missing
                for k, n in zip(table[f"{bucket}_k"], table[f"{bucket}_n"], strict=True)
            ]
            frame[f"{self.level} CI ({label})"] = [
                *map(self.interval, table[f"{bucket}_ci_low"], table[f"{bucket}_ci_high"])
            ]
        return frame

    def differences(self, table: pd.DataFrame) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        return pd.DataFrame(
            {
                "length": table.bucket,
                "Model 1": table.model_1.map(self.text),
                "Model 2": table.model_2.map(self.text),
                f"{percent} 1": table.pct_1.map(self.pct),
                f"{percent} 2": table.pct_2.map(self.pct),
                "difference": table.difference.map(self.signed),
                f"{self.level} CI": [*map(self.interval, table.ci_low, table.ci_high)],
                f"{self.level} CI (raters)": [
                    *map(self.interval, table.cluster_ci_low, table.cluster_ci_high)
                ],
                "p": table.pvalue.map(self.p),
                "p (Holm)": table.pvalue_holm.map(self.p),
                "significant": self.verdicts(table),
                "raters": table.raters,
            }
        )


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in str(text))


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-") or "survey"
