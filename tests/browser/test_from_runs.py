"""From trained models to the paper's tables, the way a researcher and a rater do it: surveys
made by ``survey_create --runs`` from four ``tiny`` runs of the paper's models, answered in
Debian's chromium on a phone with the keyboard, give Table 2 and Table 4 reports that carry the
runs' labels."""

from __future__ import annotations

import io
import json
from urllib.parse import urlparse

import pytest
from django.core.management import call_command

from surveys.models import Rater, Response, Survey
from tests.browser.conftest import PHONE, TIMEOUT_MS
from tests.browser.test_rater_flow import (
    KEYS,
    pending,
    quick_bootstrap,
    report,
    wait_for_next,
    wait_for_question,
)
from tests.surveys.conftest import TABLE_2
from tests.surveys.test_material import BEAM, LABELS, four_tiny_runs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["quick_bootstrap"]  # a fixture, used by name


def create(name: str, kind: str, pks: list[int], cap: int) -> dict:
    out = io.StringIO()
    runs = [str(pk) for pk in pks]
    call_command(
        "survey_create", name, "--kind", kind, "--runs", *runs, "--per-model", "3",
        "--beam", str(BEAM), "--cap", str(cap), "--seed", "11", "--open", "--json",
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    return json.loads(out.getvalue())


def answer_in_the_browser(chromium, live_server, link: str, survey: Survey) -> Rater:
    """A new rater on a phone of their own: consent, then every question by key (checks as
    told, questions in turn) to the end."""
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(live_server.url + urlparse(link).path)
    with page.expect_navigation():
        page.click("text=I agree, start the survey")
    rater = Rater.objects.get(token=urlparse(page.url).path.split("/")[2])
    choices = ("left", "right", "discard") if survey.is_pairwise else ("yes", "no")
    turn = 0
    while (position := pending(rater)) is not None:
        wait_for_question(page, position)
        slot = rater.assignments.get(position=position)
        choice = slot.expected if slot.is_check else choices[turn % len(choices)]
        if rater.assignments.filter(answered_at__isnull=True).count() > 1:
            page.keyboard.press(KEYS[choice])
            wait_for_next(page, position)  # swapped in from the answer's own response
        else:
            with page.expect_navigation():  # the last: on to the done page
                page.keyboard.press(KEYS[choice])
        turn += 1
    page.wait_for_url(f"{live_server.url}/r/{rater.token}/done")
    assert page.inner_text("#completion-code")
    context.close()
    return rater


def test_surveys_from_four_tiny_runs_answered_in_the_browser_give_tables_2_and_4(
    live_server, chromium, django_db_blocker, tmp_path_factory, quick_bootstrap
):
    base, folder = tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("browser-runs")
    with four_tiny_runs(base, folder, django_db_blocker) as pks:
        # Caps that spread evenly: two questions per comparison, two per model.
        for name, kind, cap in (("Reconstructions", "pairwise", 6), ("Sense", "meaningfulness", 8)):
            created = create(name, kind, pks, cap)
            assert (created["status"], created["kind"]) == ("open", kind)
            survey = Survey.objects.get(pk=created["survey"])
            for _ in range(2):  # two raters, each to the end
                rater = answer_in_the_browser(chromium, live_server, created["url"], survey)
                assert Response.objects.filter(rater=rater).count() == survey.cap_per_rater
            document = report(survey)
            assert (document["responses"], document["raters"]) == (2 * survey.cap_per_rater, 2)
            rows = document["rows"]
            if kind == "pairwise":  # the paper's three comparisons, named by the runs' labels
                paper = [(model_1, model_2) for model_1, model_2, *_ in TABLE_2]
                assert [(row["model_1"], row["model_2"]) for row in rows] == paper
                assert sum(row["n"] + row["discarded"] for row in rows) == document["responses"]
            else:  # the four runs' labels, each with its share of the answers
                assert sorted(row["model"] for row in rows) == sorted(LABELS)
                assert sum(row["all"]["n"] for row in rows) == document["responses"]
