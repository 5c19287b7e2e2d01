"""Reports: the paper's Tables 2 and 4 from the database, and every export format."""

import io
import json
import math
import re

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats as scipy_stats

from surveys import reports
from surveys.imports import responses_import
from surveys.models import Rater, Response, Survey
from tests.surveys.conftest import TABLE_2, csv_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_bootstrap")]


@pytest.fixture
def table_2(table_2_survey) -> reports.SurveyReport:
    return reports.report_build(survey=table_2_survey, confidence=0.99)


@pytest.fixture
def table_4(table_4_survey) -> reports.SurveyReport:
    return reports.report_build(survey=table_4_survey, confidence=0.99)


# --- Table 2 ---------------------------------------------------------------------------------


def test_table_2_reproduces_the_paper_counts_and_percentages(table_2):
    table = table_2.table

    assert list(zip(table.model_1, table.model_2, strict=True)) == [p[:2] for p in TABLE_2]
    assert table.wins_1.tolist() == [79, 229, 506]
    assert table.n.tolist() == [120, 260, 575]
    assert table.discarded.tolist() == [4, 4, 4]
    assert table.raters.tolist() == [6, 13, 23]
    assert table.pct_1.round().tolist() == [66, 88, 88]


def test_every_table_2_result_is_significant_beyond_99_percent(table_2):
    table = table_2.table
    assert (table.pvalue < 0.01).all()
    assert (table.pvalue_holm < 0.01).all()
    assert table.significant_holm.all() and table.significant_clustered.all()
    assert table.significant.all()
    assert (table.ci_low > 50).all() and (table.cluster_ci_low > 50).all()


def test_table_2_delegates_its_test_and_interval_to_scipy(table_2):
    row = table_2.table.iloc[0]
    expected = scipy_stats.binomtest(79, 120)
    assert row.pvalue == pytest.approx(expected.pvalue, rel=1e-12)
    interval = expected.proportion_ci(confidence_level=0.99, method="exact")
    assert (row.ci_low, row.ci_high) == pytest.approx((100 * interval.low, 100 * interval.high))


def test_holm_adjusted_p_values_are_never_below_the_raw_ones(table_2):
    table = table_2.table
    assert (table.pvalue_holm >= table.pvalue).all()
    smallest = table.pvalue.idxmin()
    assert table.pvalue_holm[smallest] == pytest.approx(3 * table.pvalue[smallest])


def test_the_rater_clustered_interval_surrounds_the_estimate(table_2):
    table = table_2.table
    assert (table.cluster_ci_low <= table.pct_1).all()
    assert (table.pct_1 <= table.cluster_ci_high).all()


def test_position_bias_is_reported_when_the_left_side_is_known(table_2):
    table = table_2.table
    assert table.left_n.tolist() == table.n.tolist()
    assert table.position_pvalue.between(0, 1).all()


def test_bradley_terry_ranks_the_four_models_as_the_paper_does(table_2):
    ranking = table_2.bradley_terry.model.tolist()
    assert ranking == ["AutoGen (m=2)", "AutoGen (m=1)", "VAE (annealing)", "VAE"]


@pytest.fixture
def one_keen_rater(db) -> Survey:
    """120 decisive answers, 90 for A, but one rater gave 60 of them for A; the five others
    split 6/6. The exact test finds a preference; resampling raters does not."""
    header = ["rater", "item", "model_1", "model_2", "winner"]
    rows = [["keen", f"k{i}", "A", "B", "A"] for i in range(60)]
    rows += [[f"r{r}", f"r{r}-{i}", "A", "B", "AB"[i % 2]] for r in range(5) for i in range(12)]
    responses_import(survey_name="keen", kind="pairwise", file=csv_bytes(header, rows))
    return Survey.objects.get(name="keen")


def test_one_keen_rater_makes_the_exact_test_but_not_the_clustered_interval_significant(
    one_keen_rater,
):
    report = reports.report_build(survey=one_keen_rater)
    row = report.table.iloc[0]

    assert (row.wins_1, row.n, row.raters) == (90, 120, 6)
    assert row.pvalue < 1e-7 and row.significant_holm
    # (5/6)^6 = 33% of resamples miss the keen rater and give exactly 50%.
    assert row.cluster_ci_low == 50.0 and not row.significant_clustered
    assert not row.significant
    # Bradley–Terry intervals resample raters too: A's lower bound is the 50% tie, score 0.
    strengths = report.bradley_terry.set_index("model")
    assert strengths.loc["A", "score"] == pytest.approx(math.log(3) / 2)
    assert strengths.loc["A", "ci_low"] == pytest.approx(0.0, abs=1e-6)

    document = json.loads(reports.report_json(report))
    json_row = document["rows"][0]
    for key in (
        "model_1", "model_2", "n", "wins_1", "pct_1", "pvalue", "pvalue_holm", "ci_low",
        "ci_high",
    ):  # fmt: skip
        assert key in json_row
    assert (json_row["significant"], json_row["significant_holm"]) == (False, True)
    assert json_row["significant_clustered"] is False
    assert "significant_clustered" in document["methods"]
    assert "| Holm test only " in reports.report_markdown(report)
    assert "A vs B: only 6 raters; with fewer than 20" in " ".join(report.notes)


def test_the_few_raters_note_names_the_papers_first_table_2_row(table_2):
    notes = [note for note in table_2.notes if "raters; with fewer than 20" in note]
    assert notes[0].startswith("VAE (annealing) vs VAE: only 6 raters")
    assert notes[1].startswith("AutoGen (m=1) vs VAE (annealing): only 13 raters")
    assert len(notes) == 2  # the third row has 23 raters
    html = reports.report_html(table_2)
    assert "VAE (annealing) vs VAE: only 6 raters" in html
    assert "significant_clustered" in html


def test_the_datasheet_and_html_say_what_significant_means(table_2, table_4):
    for report in (table_2, table_4):
        sheet, html = reports.datasheet(report), reports.report_html(report)
        assert "- significant: both significant_holm and significant_clustered" in sheet
        assert "- significant_clustered: the 99% rater-clustered interval" in sheet
        assert "<dt>significant</dt><dd>both significant_holm and significant_clustered" in html
        assert "<dt>significant_clustered</dt><dd>the 99% rater-clustered interval" in html


def test_a_declared_orientation_turns_a_comparison_around(table_2_survey):
    report = reports.report_build(survey=table_2_survey, pairs=[("VAE", "VAE (annealing)")])
    row = report.table.iloc[0]
    assert (row.model_1, row.model_2, row.wins_1, row.n) == ("VAE", "VAE (annealing)", 41, 120)


def test_items_stored_the_other_way_round_count_for_the_right_model(db):
    header = ["rater", "item", "model_1", "model_2", "winner"]
    rows = [["r1", "i1", "A", "B", "A"], ["r2", "i2", "B", "A", "A"], ["r3", "i3", "B", "A", "B"]]
    responses_import(survey_name="turned", kind="pairwise", file=csv_bytes(header, rows))

    report = reports.report_build(survey=Survey.objects.get(name="turned"))

    assert report.table[["model_1", "model_2", "wins_1", "n"]].values.tolist() == [["A", "B", 2, 3]]


def test_an_undeclared_pair_is_refused(table_2_survey):
    with pytest.raises(reports.ReportUnavailable, match="compares no 'VAE' with 'AutoGen"):
        reports.report_build(survey=table_2_survey, pairs=[("VAE", "AutoGen (m=2)")])


def test_excluded_raters_are_left_out_of_the_tables(table_2_survey):
    rater = Rater.objects.get(survey=table_2_survey, external_id="p0-r0")
    left_out = rater.responses.exclude(answer=Response.Answer.DISCARD).count()
    rater.exclude("failed two attention checks")

    report = reports.report_build(survey=table_2_survey)

    assert report.table.n[0] == 120 - left_out
    assert report.table.raters[0] == 5


def test_a_report_never_loads_answers_one_by_one(table_2_survey):
    with CaptureQueriesContext(connection) as queries:
        reports.report_build(survey=table_2_survey)
    assert len(queries) <= 5
    assert all(
        "GROUP BY" in q["sql"] or "LIMIT" in q["sql"] for q in queries if "response" in q["sql"]
    )


def test_a_survey_without_answers_has_no_report(db):
    survey = Survey.objects.create(name="empty", kind=Survey.Kind.PAIRWISE)
    with pytest.raises(reports.ReportUnavailable, match="has no answers to report yet"):
        reports.report_build(survey=survey)


def test_a_pair_whose_answers_were_all_discarded_has_no_p_value(db):
    header = ["rater", "item", "model_1", "model_2", "winner"]
    rows = [["r1", "i1", "A", "B", "A"], ["r1", "i2", "C", "D", "discard"]]
    responses_import(survey_name="discards", kind="pairwise", file=csv_bytes(header, rows))

    report = reports.report_build(survey=Survey.objects.get(name="discards"))

    row = report.table.iloc[1]
    assert (row.n, row.discarded) == (0, 1)
    assert pd.isna(row.pvalue) and pd.isna(row.pvalue_holm)
    assert any("Bradley–Terry scores not estimated" in note for note in report.notes)
    json.loads(reports.report_json(report))  # missing numbers are null, still valid JSON
    assert row.significant is pd.NA and row.significant_clustered is pd.NA
    shown = reports._display_tables(report, latex=False)[0][1]
    assert shown.significant.tolist()[1] == "–"


# --- Table 4 ---------------------------------------------------------------------------------


def test_table_4_reproduces_the_paper_split_at_ten_words(table_4):
    table = table_4.table.set_index("model")
    assert table.short_pct.round().to_dict() == {
        "VAE": 75, "VAE (annealing)": 76, "AutoGen (m=1)": 50, "AutoGen (m=2)": 29,
    }  # fmt: skip
    long = table.long_pct.round()
    assert long.isna()["VAE"]
    assert long.drop("VAE").to_dict() == {
        "VAE (annealing)": 32,
        "AutoGen (m=1)": 32,
        "AutoGen (m=2)": 5,
    }
    assert table.short_n.to_dict() == {
        "VAE": 100, "VAE (annealing)": 50, "AutoGen (m=1)": 50, "AutoGen (m=2)": 100,
    }  # fmt: skip


def test_a_sentence_of_exactly_the_split_length_is_short(db):
    header = ["rater", "item", "model", "sentence", "meaningful"]
    ten, eleven = " ".join(["w"] * 10), " ".join(["w"] * 11)
    rows = [["r1", "a", "M", ten, "yes"], ["r1", "b", "M", eleven, "no"]]
    responses_import(survey_name="edge", kind="meaningfulness", file=csv_bytes(header, rows))
    survey = Survey.objects.get(name="edge")

    at_ten = reports.report_build(survey=survey).table.iloc[0]
    at_eleven = reports.report_build(survey=survey, split=11).table.iloc[0]

    assert (at_ten.short_n, at_ten.short_k, at_ten.long_n, at_ten.long_k) == (1, 1, 1, 0)
    assert (at_eleven.short_n, at_eleven.long_n) == (2, 0)


def test_table_4_compares_every_pair_of_models_within_each_bucket(table_4):
    differences = table_4.differences
    assert (differences.bucket == "short").sum() == 6  # four models
    assert (differences.bucket == "long").sum() == 3  # the VAE has no long sentences
    assert (differences.pvalue_holm >= differences.pvalue).all()
    row = differences[(differences.model_1 == "VAE") & (differences.model_2 == "AutoGen (m=2)")]
    assert row.difference.iloc[0] == pytest.approx(75 - 29)
    assert row.pvalue_holm.iloc[0] < 0.01


# --- Exports ---------------------------------------------------------------------------------


def test_csv_reads_back_with_pandas(table_2):
    frame = pd.read_csv(io.StringIO(reports.report_csv(table_2)))
    assert frame.wins_1.tolist() == [79, 229, 506]
    assert frame.pct_1.round().tolist() == [66, 88, 88]


def test_json_has_the_survey_the_settings_and_a_row_per_comparison(table_2):
    document = json.loads(reports.report_json(table_2))
    assert document["survey"] == "Table 2"
    assert document["kind"] == "pairwise_reconstruction"
    assert document["confidence"] == 0.99
    row = document["rows"][0]
    for key in ("model_1", "model_2", "n", "wins_1", "pct_1", "pvalue", "pvalue_holm"):
        assert key in row
    assert (row["ci_low"], row["ci_high"]) != (None, None)
    assert [r["n"] for r in document["rows"]] == [120, 260, 575]
    assert document["software"]["Django"].startswith("5.2")


def test_table_4_differences_carry_a_rater_clustered_interval_and_verdict(table_4):
    differences = table_4.differences
    assert (differences.raters == 23).all()
    assert (differences.cluster_ci_low <= differences.difference).all()
    assert (differences.difference <= differences.cluster_ci_high).all()
    excludes_zero = (differences.cluster_ci_low > 0) | (differences.cluster_ci_high < 0)
    assert differences.significant_clustered.tolist() == excludes_zero.tolist()
    both = differences.significant_holm & differences.significant_clustered
    assert differences.significant.tolist() == both.tolist()
    shown = reports.report_markdown(table_4)
    assert "99% CI (raters)" in shown


def test_meaningfulness_json_nests_short_and_long_per_model(table_4):
    document = json.loads(reports.report_json(table_4))
    vae = document["rows"][0]
    assert vae["model"] == "VAE"
    assert set(vae["short"]) >= {"n", "k", "pct", "ci_low", "ci_high"}
    assert (vae["short"]["n"], vae["short"]["k"], vae["short"]["pct"]) == (100, 75, 75.0)
    assert vae["long"] == {**vae["long"], "n": 0, "pct": None, "ci_low": None}
    assert document["split"] == 10
    assert len(document["differences"]) == 9


@pytest.mark.parametrize("fixture", ["table_2", "table_4"])
def test_latex_is_a_booktabs_table(fixture, request):
    latex = reports.report_latex(request.getfixturevalue(fixture))
    for command in (r"\begin{table}", r"\toprule", r"\midrule", r"\bottomrule", r"\caption"):
        assert command in latex
    body = [line for line in latex.splitlines() if not line.startswith("%")]
    assert not [line for line in body if re.search(r"(?<!\\)%", line)]


def test_latex_escapes_model_names(db):
    header = ["rater", "item", "model_1", "model_2", "winner"]
    rows = [["r1", "i1", "beam_15 & 50%", "greedy", "greedy"]]
    responses_import(survey_name="escapes", kind="pairwise", file=csv_bytes(header, rows))
    report = reports.report_build(survey=Survey.objects.get(name="escapes"))
    assert r"beam\_15 \& 50\%" in reports.report_latex(report)


def test_markdown_is_a_pipe_table_with_the_paper_numbers(table_2):
    markdown = reports.report_markdown(table_2)
    assert markdown.startswith("# Table 2\n")
    assert "| Model 1" in markdown
    assert "| 65.8 " in markdown or "| 65.8|" in markdown
    assert "Holm" in markdown


@pytest.mark.parametrize("fixture", ["table_2", "table_4"])
def test_html_is_self_contained_with_embedded_plots(fixture, request):
    html = reports.report_html(request.getfixturevalue(fixture))
    assert html.startswith("<!DOCTYPE html>")
    assert "<img" in html and "data:image/png;base64," in html
    assert "<style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html and "@import" not in html and "<script" not in html


def test_html_escapes_what_it_shows(db):
    header = ["rater", "item", "model_1", "model_2", "winner"]
    rows = [["r1", "i1", "<b>bold</b>", "plain", "plain"]]
    responses_import(
        survey_name="<script>x</script>", kind="pairwise", file=csv_bytes(header, rows)
    )
    report = reports.report_build(survey=Survey.objects.get(name="<script>x</script>"))
    html = reports.report_html(report)
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_raw_answers_are_tidy_csv_with_one_row_per_answer(table_2_survey):
    out = io.StringIO()
    written = reports.answers_csv(table_2_survey, out)
    frame = pd.read_csv(io.StringIO(out.getvalue()))
    assert written == len(frame) == 120 + 260 + 575 + 3 * 4
    assert set(frame.answer) == {"model_1", "model_2", "discard"}
    decisive = frame[frame.answer != "discard"]
    assert (
        decisive.winner == decisive.model_1.where(decisive.answer == "model_1", decisive.model_2)
    ).all()
    assert frame.left.notna().all()


def test_meaningfulness_answers_give_length_and_a_0_or_1(table_4_survey):
    out = io.StringIO()
    reports.answers_csv(table_4_survey, out)
    frame = pd.read_csv(io.StringIO(out.getvalue()))
    assert set(frame.meaningful) == {0, 1}
    assert frame.length.between(4, 20).all()


def test_the_datasheet_states_design_exclusions_and_software(table_2_survey):
    Rater.objects.get(survey=table_2_survey, external_id="p1-r3").exclude("answered in 0.2 s")
    report = reports.report_build(survey=table_2_survey)

    sheet = reports.datasheet(report)

    assert "Choose the best reconstruction." in sheet
    assert "Cap per rater: 20 questions." in sheet
    assert "Excluded raters: 1" in sheet and "p1-r3: answered in 0.2 s" in sheet
    assert "Discarded pairs" in sheet
    for software in ("AutoGen Lab 0.1.0", "Django 5.2", "scipy 1.", "statsmodels 0.", "pandas "):
        assert software in sheet


def test_render_refuses_an_unknown_format(table_2):
    with pytest.raises(reports.ReportUnavailable, match="Unknown report format 'pdf'"):
        reports.render(table_2, "pdf")


# --- The command -----------------------------------------------------------------------------


def report_command(*args: str) -> str:
    out = io.StringIO()
    call_command("survey_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_prints_json_to_stdout(table_2_survey):
    document = json.loads(report_command("Table 2", "--format", "json", "--confidence", "0.99"))
    assert document["confidence"] == 0.99
    assert [row["wins_1"] for row in document["rows"]] == [79, 229, 506]


@pytest.mark.parametrize("fmt", reports.FORMATS)
def test_the_command_writes_every_format_to_a_file(table_4_survey, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    assert report_command("Table 4", "--format", fmt, "--out", str(out)) == ""
    assert out.stat().st_size > 100


def test_the_command_refuses_an_unknown_survey(table_2_survey):
    with pytest.raises(CommandError, match=r"No survey named 'Table 9'\. Surveys: 'Table 2'\."):
        report_command("Table 9")


def test_the_command_refuses_a_survey_without_answers(db, tmp_path):
    Survey.objects.create(name="fresh", kind=Survey.Kind.MEANINGFULNESS)
    with pytest.raises(CommandError, match="'fresh' has no answers to report yet"):
        report_command("fresh", "--out", str(tmp_path / "x.md"))
    assert not (tmp_path / "x.md").exists()


def test_the_command_orients_a_declared_pair(table_2_survey):
    text = report_command("Table 2", "--format", "csv", "--pair", "VAE", "VAE (annealing)")
    frame = pd.read_csv(io.StringIO(text))
    assert (frame.model_1[0], frame.wins_1[0]) == ("VAE", 41)


def test_an_estimate_outside_its_interval_draws_a_one_sided_error_bar():
    """A Bradley–Terry estimate can lie outside its bootstrap interval when many replicates
    had no finite estimate; the figure draws the bar on the interval's side, never a 500."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from surveys.reports import figures

    figure, axes = pyplot.subplots()
    try:
        figures._error_bars(axes, [0, 1], [0.5, 0.2], [0.6, 0.1], [0.9, 0.4], "x", "k")
        (bars,) = [c for c in axes.collections if c.get_segments()]
        lengths = [abs(s[1][0] - s[0][0]) for s in bars.get_segments()]
        assert lengths == pytest.approx([0.4, 0.3])  # 0.5 in [0.6, 0.9]: 0.5 → 0.9
    finally:
        pyplot.close(figure)
