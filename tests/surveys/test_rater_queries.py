"""What the rater pages cost the database: a question page and an answer take a fixed few
queries, whatever the survey's size or the rater's progress (no query per item, slot or
answer), and no page after consent takes the survey row's lock, which would queue every rater
of the survey behind one another (``benchmarks/load_raters.py`` measures the pages under load).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from surveys import services
from surveys.models import Rater, Survey
from tests.surveys.rater_helpers import make_survey

PAIRWISE, MEANINGFULNESS = Survey.Kind.PAIRWISE, Survey.Kind.MEANINGFULNESS
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
# The rater with their survey and progress (their pages counted, the next two with their
# items); the page shown. (Last seen is written at most every LAST_SEEN_EVERY: one more query
# then, held off here.)
QUESTION_QUERIES = 2
# The rater with their survey and progress; then the answer stored and (with rater.js's header)
# the next page marked shown: one statement on PostgreSQL, elsewhere a transaction (a savepoint
# in the tests, two queries) of the page, the response and the next page.
ANSWER_QUERIES = {"postgresql": 2, "other": 5}
NEXT_PAGE_QUERIES = {"postgresql": 2, "other": 6}
# The last page: the rater; the slots; in a transaction: the rater, locked; the slots; the
# rater finished. Once per rater.
FINISH_QUERIES = 8
# The survey row read on its own: the planning lock (SQLite drops FOR UPDATE from the SQL).
SURVEY_ROW = re.compile(r'FROM "surveys_survey" WHERE')


def on_this_backend(counts: dict[str, int]) -> int:
    return counts.get(connection.vendor, counts["other"])


def fields(page) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page.content.decode())}


def consented(survey: Survey) -> tuple[Client, str, list[str]]:
    """A rater's browser past consent: the client, their question URL, and consent's SQL."""
    client = Client(enforce_csrf_checks=True)
    start = client.get(f"/s/{survey.token}/")
    with CaptureQueriesContext(connection) as queries:
        agreed = client.post(f"/s/{survey.token}/", fields(start))
    assert agreed.status_code == 303
    return client, agreed["Location"], [q["sql"] for q in queries]


@pytest.mark.parametrize("kind", [PAIRWISE, MEANINGFULNESS])
def test_each_page_takes_a_fixed_few_queries_and_only_planning_locks_the_survey(
    db, kind, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(services, "LAST_SEEN_EVERY", timedelta(hours=1))
    survey = make_survey(kind)
    for n in range(5):  # other raters first: what a page costs must not grow with them
        services.rater_start(survey, external_id=f"other-{n}")
    client, url, consent_sql = consented(survey)
    assert any(SURVEY_ROW.search(sql) for sql in consent_sql)  # the plan, drawn under the lock
    choice = "left" if survey.is_pairwise else "yes"
    pages = survey.cap_per_rater + survey.n_checks
    for _ in range(pages):
        with CaptureQueriesContext(connection) as queries:
            with django_assert_max_num_queries(QUESTION_QUERIES):
                page = client.get(url)
            assert page.status_code == 200
            with django_assert_max_num_queries(on_this_backend(ANSWER_QUERIES)):
                answered = client.post(url, {**fields(page), "answer": choice})
            assert answered.status_code == 303
        assert not [q["sql"] for q in queries if SURVEY_ROW.search(q["sql"])]
    with django_assert_max_num_queries(FINISH_QUERIES):
        last = client.get(url)
    assert last.status_code == 302 and last["Location"].endswith("/done")
    rater = survey.raters.get(token=url.strip("/").rsplit("/", 1)[-1])
    assert rater.finished_at is not None
    assert rater.responses.count() == survey.cap_per_rater


@pytest.mark.parametrize("kind", [PAIRWISE, MEANINGFULNESS])
def test_an_answer_that_brings_its_next_page_costs_less_than_the_two_requests(
    db, kind, django_assert_max_num_queries, monkeypatch
):
    """rater.js's answers (the Rater-Next-Page header): the answer and the next question in one
    request cost no more than the answer alone."""
    monkeypatch.setattr(services, "LAST_SEEN_EVERY", timedelta(hours=1))
    survey = make_survey(kind)
    client, url, _ = consented(survey)
    page = client.get(url)
    choice = "left" if survey.is_pairwise else "yes"
    for _ in range(survey.cap_per_rater + survey.n_checks - 1):
        with (
            CaptureQueriesContext(connection) as queries,
            django_assert_max_num_queries(on_this_backend(NEXT_PAGE_QUERIES)),
        ):
            next_page = client.post(
                url, {**fields(page), "answer": choice}, HTTP_RATER_NEXT_PAGE="1"
            )
        assert next_page.status_code == 200
        assert int(fields(next_page)["q"]) == int(fields(page)["q"]) + 1
        assert not [q["sql"] for q in queries if SURVEY_ROW.search(q["sql"])]
        page = next_page
    last = client.post(url, {**fields(page), "answer": choice}, HTTP_RATER_NEXT_PAGE="1")
    assert last.status_code == 302 and last["Location"].endswith("/done")


def test_a_rater_whose_reservations_expired_is_planned_again_under_the_lock(db):
    survey = make_survey(PAIRWISE, reservation_minutes=1)
    client, url, _ = consented(survey)
    page = client.get(url)
    assert client.post(url, {**fields(page), "answer": "left"}).status_code == 303
    rater = survey.raters.get()
    rater.assignments.filter(answered_at__isnull=True).delete()  # as release_expired does
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.status_code == 200
    assert any(SURVEY_ROW.search(q["sql"]) for q in queries)
    assert rater.assignments.filter(answered_at__isnull=True).count() == (
        survey.cap_per_rater + survey.n_checks - 1
    )


def test_last_seen_is_written_at_most_every_few_seconds(db):
    survey = make_survey(PAIRWISE)
    rater = services.rater_start(survey, external_id="p1")
    seen = rater.last_seen_at
    services.rater_next(rater)
    rater.refresh_from_db()
    assert rater.last_seen_at == seen
    Rater.objects.filter(pk=rater.pk).update(last_seen_at=seen - services.LAST_SEEN_EVERY)
    rater.refresh_from_db()
    services.rater_answer(rater, services.rater_next(rater).slot.position, "left")
    rater.refresh_from_db()
    assert rater.last_seen_at > seen
