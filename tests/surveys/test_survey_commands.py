"""survey_create and survey_status as a researcher runs them: from four tiny trained runs (or an
items CSV) to an open survey, answered through the rater services, down to Tables 2 and 4."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from models_core.models import Decoding, TrainingRun
from surveys import services
from surveys.management.commands import survey_create
from surveys.models import DEFAULT_CAP, Item, Response, Survey
from tests.surveys.conftest import TABLE_2, csv_bytes
from tests.surveys.test_material import (
    BEAM,
    LABELS,
    PAIRWISE_HEADER,
    four_tiny_runs,
    fresh_runs,
)

PAIRWISE_ROWS = [
    ["a", "the cat sat .", "AutoGen (m=1)", "the cat sat .", "VAE", "a cat sat ."],
    ["b", "he ran home .", "VAE", "he ran home .", "AutoGen (m=1)", "he ran ."],
    ["c", "we ate it all .", "AutoGen (m=1)", "we ate it .", "VAE", "we ate all ."],
]


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[list[int]]:
    base, folder = tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("commands")
    with four_tiny_runs(base, folder, django_db_blocker) as pks:
        yield pks


@pytest.fixture
def runs(trained, db) -> list[TrainingRun]:
    return fresh_runs(trained)


def run_ids(runs: list[TrainingRun]) -> list[str]:
    return ["--runs", *(str(run.pk) for run in runs)]


def command_json(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def command_text(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def items_file(tmp_path, rows=PAIRWISE_ROWS, header=PAIRWISE_HEADER) -> str:
    path = tmp_path / "items.csv"
    path.write_bytes(csv_bytes(header, rows).getvalue())
    return str(path)


def answer_all(survey: Survey, raters: int) -> int:
    """`raters` raters take the survey through the rater services; the answers given."""
    given = 0
    for number in range(raters):
        rater = services.rater_start(survey, external_id=f"rater-{number}")
        while not (page := services.rater_next(rater)).finished:
            if survey.is_pairwise:
                choice = ("left", "right", "discard", "left")[(page.number + number) % 4]
            else:
                choice = ("yes", "no", "yes")[(page.number + number) % 3]
            assert services.rater_answer(rater, page.slot.position, choice)
            given += 1
    return given


# --- survey_create --------------------------------------------------------------------------


def test_survey_create_from_four_runs_prints_one_json_object(runs):
    args = ["survey_create", "Table 2 (tiny)", "--kind", "pairwise", *run_ids(runs)]
    created = command_json(*args, "--per-model", "4", "--seed", "11", "--beam", str(BEAM))

    survey = Survey.objects.get(name="Table 2 (tiny)")
    assert created["survey"] == survey.pk
    assert (created["name"], created["kind"], created["status"]) == (
        "Table 2 (tiny)", "pairwise", "draft",
    )  # fmt: skip
    assert created["items"] == survey.items.count() > 0
    assert created["url"] == f"{settings.SITE_URL}/s/{survey.token}/"
    assert created["url"].startswith(("http://", "https://"))
    assert (created["seed"], survey.seed, created["cap"]) == (11, 11, DEFAULT_CAP)
    paper = [(model_1, model_2) for model_1, model_2, *_ in TABLE_2]
    assert [(c["model_1"], c["model_2"]) for c in created["comparisons"]] == paper
    assert created["skipped_identical"] == sum(
        c["skipped_identical"] for c in created["comparisons"]
    )
    assert [run["label"] for run in created["runs"]] == LABELS
    assert survey.material == created["material"]
    assert survey.material["decode"]["beam"] == BEAM
    stored = Counter(survey.items.values_list("model_1", "model_2"))
    assert stored == {(c["model_1"], c["model_2"]): c["items"] for c in created["comparisons"]}


def test_survey_create_meaningfulness_with_its_design_and_open(runs):
    created = command_json(
        "survey_create", "Table 4 (tiny)", "--kind", "meaningfulness", *run_ids(runs),
        "--per-model", "2", "--beam", str(BEAM), "--seed", "4", "--cap", "6", "--overlap", "3",
        "--attention-checks", "1", "--gold-checks", "1", "--exclude-failed-checks", "1",
        "--exclude-median-seconds", "1.5", "--title", "Sentences", "--prolific-code", "C0DE42",
        "--open",
    )  # fmt: skip
    survey = Survey.objects.get(pk=created["survey"])
    assert (created["kind"], created["status"], survey.status) == ("meaningfulness", "open", "open")
    assert created["items"] == 4 * created["per_model"]
    assert Counter(survey.items.values_list("model_1", flat=True)) == dict.fromkeys(
        LABELS, created["per_model"]
    )
    assert (survey.cap_per_rater, survey.overlap, survey.title) == (6, 3, "Sentences")
    assert (survey.instructed_checks, survey.gold_checks) == (1, 1)
    assert (survey.platform, survey.completion_code) == (Survey.Platform.PROLIFIC, "C0DE42")
    assert "fails 1 or more instructed attention checks" in created["exclusion_rule"]
    assert created["exclusion_rule_hash"] == survey.exclusion_rule_hash != ""


def test_survey_create_from_an_items_csv_and_a_readable_summary(db, tmp_path):
    text = command_text(
        "survey_create", "From elsewhere", "--kind", "pairwise", "--items", items_file(tmp_path),
        "--platform", "other", "--participant-param", "pid",
        "--completion-url", "https://crowd.example/done?c={code}",
    )  # fmt: skip
    survey = Survey.objects.get(name="From elsewhere")
    assert "Survey 'From elsewhere'" in text and "3 items, draft" in text
    assert services.survey_link(survey) in text
    assert "AutoGen (m=1) vs VAE: 2 items" in text and "VAE vs AutoGen (m=1): 1 items" in text
    assert (survey.platform, survey.participant_parameter) == (Survey.Platform.OTHER, "pid")
    assert survey.material["source"] == "items CSV" and survey.material["items"] == 3
    item = survey.items.get(key="b")
    assert (item.model_1, item.text_1, item.model_2, item.text_2, item.source) == (
        "VAE", "he ran home .", "AutoGen (m=1)", "he ran .", "he ran home .",
    )  # fmt: skip


def assert_refused(*args: str, match: str) -> str:
    with pytest.raises(CommandError, match=match) as refused:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    return str(refused.value)


def test_refusals_are_one_line_and_store_nothing(runs, tmp_path):
    vae, anneal, *_ = runs
    TrainingRun.objects.filter(pk=anneal.pk).update(status=TrainingRun.Status.RUNNING)
    base = ["survey_create", "S", "--kind", "pairwise"]
    cases = [
        ([*base, "--runs", str(vae.pk), "999999"], r"No training run '999999'"),
        ([*base, *run_ids([vae, anneal])], r"is running: only a succeeded run"),
        ([*base, "--runs", str(vae.pk)], r"compares at least two runs; 1 given"),
        ([*base, "--items", items_file(tmp_path), "--per-model", "3"], r"--per-model applies"),
        ([*base, "--items", str(tmp_path / "none.csv")], r"No such file"),
        (
            [*base, *run_ids(runs[2:]), "--comparison", "VAE", "AutoGen (m=1)"],
            r"'VAE' is none of the given runs",
        ),
        (
            [
                *base,
                *run_ids([vae, runs[2]]),
                "--platform",
                "other",
                "--per-model",
                "2",
                "--seed",
                "1",
                "--beam",
                str(BEAM),
            ],
            r"URL parameter of the participant id",  # refused by survey_create, after decoding
        ),
        (
            ["survey_create", "S", "--kind", "meaningfulness", "--items", items_file(tmp_path)],
            r"lacks the column\(s\) model,sentence",
        ),
    ]
    for args, match in cases:
        message = assert_refused(*args, match=match)
        assert "\n" not in message, message
    assert not Survey.objects.exists()
    assert not Decoding.objects.exists()  # what was decoded for a refused survey is gone

    command_json("survey_create", "Taken", "--kind", "pairwise", "--items", items_file(tmp_path))
    assert_refused(*base[:1], "Taken", *base[2:], *run_ids(runs[2:]), match="exists already")
    assert Survey.objects.count() == 1 and not Decoding.objects.exists()


def test_bad_csv_lines_are_listed_by_number(db, tmp_path):
    rows = [PAIRWISE_ROWS[0], ["b", "x", "VAE", "y", "VAE", "z"], PAIRWISE_ROWS[0]]
    message = assert_refused(
        "survey_create", "S", "--kind", "pairwise", "--items", items_file(tmp_path, rows),
        match="2 bad line",
    )  # fmt: skip
    assert message.splitlines()[1:] == [
        "line 3: model_1 and model_2 are both 'VAE'",
        "line 4: item 'a' again (first on line 2)",
    ]
    assert not Survey.objects.exists() and not Item.objects.exists()


def test_a_refusal_exits_with_status_1_and_says_why_on_stderr(db, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(connections, "close_all", lambda: None)  # keep the test's transaction
    command = survey_create.Command()
    argv = ["manage.py", "survey_create", "S", "--kind", "pairwise", "--runs", "999999"]
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(argv)
    assert exited.value.code == 1
    assert "No training run '999999'" in capsys.readouterr().err
    assert not Survey.objects.exists()


# --- survey_status --------------------------------------------------------------------------


def test_survey_status_shows_opens_and_closes(db, tmp_path):
    command_json(
        "survey_create", "Status", "--kind", "pairwise", "--items", items_file(tmp_path),
        "--exclude-failed-checks", "2",
    )  # fmt: skip
    draft = command_json("survey_status", "Status")
    assert (draft["status"], draft["items"], draft["answers"]) == ("draft", 3, 0)
    assert draft["exclusion_rule_fixed"] is False and draft["exclusion_rule_hash"] == ""
    assert "fails 2 or more instructed" in draft["exclusion_rule"]

    opened = command_json("survey_status", "Status", "--open")
    survey = Survey.objects.get(name="Status")
    assert opened["status"] == survey.status == Survey.Status.OPEN
    assert opened["exclusion_rule_hash"] == survey.exclusion_rule_hash != ""
    assert opened["url"] == services.survey_link(survey)
    answered = answer_all(survey, raters=2)

    text = command_text("survey_status", "Status")
    assert "Survey 'Status'" in text and "2 started, 2 finished, 0 excluded" in text
    assert f"{answered} answers" in text and survey.exclusion_rule_hash in text

    closed = command_json("survey_status", "Status", "--close")
    assert closed["status"] == "closed"
    assert (closed["raters_started"], closed["raters_finished"]) == (2, 2)
    assert closed["answers"] == answered == Response.objects.count()
    assert sum(group["answers"] for group in closed["groups"]) == answered

    assert_refused("survey_status", "Nope", match=r"No survey named 'Nope'\. Surveys: 'Status'")
    with pytest.raises(CommandError):  # --open and --close exclude each other
        call_command("survey_status", "Status", "--open", "--close", stdout=io.StringIO())


# --- From runs to Tables 2 and 4 ------------------------------------------------------------


# A handful of answers leaves some Bradley–Terry replicates without an estimate; it says so.
@pytest.mark.filterwarnings("ignore:.*Bradley–Terry bootstrap replicates:RuntimeWarning")
def test_surveys_from_four_runs_answered_give_tables_2_and_4_with_the_runs_labels(
    runs, quick_bootstrap
):
    for name, kind in (("T2", "pairwise"), ("T4", "meaningfulness")):
        created = command_json(
            "survey_create", name, "--kind", kind, *run_ids(runs), "--per-model", "4",
            "--beam", str(BEAM), "--cap", "8", "--seed", "5", "--open",
        )  # fmt: skip
        assert created["status"] == "open"
        survey = Survey.objects.get(name=name)
        answered = answer_all(survey, raters=4)
        assert answered == survey.responses().count() > 0
        report = json.loads(command_text("survey_report", name, "--format", "json"))
        rows = report["rows"]
        if kind == "pairwise":
            paper = [(model_1, model_2) for model_1, model_2, *_ in TABLE_2]
            assert [(row["model_1"], row["model_2"]) for row in rows] == paper
            decisive = survey.responses().exclude(answer=Response.Answer.DISCARD).count()
            assert sum(row["n"] for row in rows) == decisive
        else:
            assert sorted(row["model"] for row in rows) == sorted(LABELS)
            assert sum(row["short"]["n"] + row["long"]["n"] for row in rows) == answered
