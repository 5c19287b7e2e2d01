"""The PostgreSQL connection dies in the middle of a rater's request: the rater gets a page
that says to try again (HTTP 503, the same answer ready to send again), and the answer is
stored exactly once after the retry.

The connection is killed for real, from PostgreSQL's side: a second connection calls
``pg_terminate_backend`` on the request's backend just as the request sends the statement
named (a Django execute wrapper), so the statement meets a dead connection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import OperationalError, connection

from surveys.middleware import RETRY_AFTER_S
from surveys.models import Response, Survey
from tests.surveys.rater_helpers import make_survey
from tests.surveys.test_rater_views import Browser, body, consent, hidden_fields, rater_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("kills a PostgreSQL backend: set DATABASE_URL to a PostgreSQL database")


def _terminate(pid: int) -> None:
    """End backend `pid` from another connection, and wait until it is gone."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"],
        dbname=db["NAME"], autocommit=True,
    ) as killer:  # fmt: skip
        assert killer.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        for _ in range(200):
            if not killer.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone():
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} outlived pg_terminate_backend")


@contextlib.contextmanager
def connection_killed_before(statement: str) -> Iterator[list[str]]:
    """Kill this thread's database connection once, just before it runs the first SQL that
    starts with `statement`; the list holds the statement it was killed on."""
    killed: list[str] = []

    def wrapper(execute, sql, params, many, context):
        if not killed and sql.startswith(statement):
            killed.append(sql)
            _terminate(connection.connection.info.backend_pid)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield killed


def _first_question(browser: Browser):
    # No attention checks: the first question is an item, whose answer is a Response row.
    survey = make_survey(Survey.Kind.PAIRWISE, instructed=0, gold=0)
    page = consent(browser, survey)
    assert page.status_code == 200, body(page)
    return page


def test_an_answer_cut_off_by_a_dropped_connection_is_stored_once_after_the_retry():
    browser = Browser()
    page = _first_question(browser)
    rater = rater_of(page)
    path = page.request["PATH_INFO"]
    fields = {**hidden_fields(page), "answer": "left"}

    # The statement that stores the answer (rater_sql.store_answer: one on PostgreSQL).
    with connection_killed_before("WITH answered AS") as killed:
        retry = browser.post(path, fields)
    assert killed, "the answer never reached its INSERT"
    assert retry.status_code == 503, body(retry)
    assert retry["Retry-After"] == str(RETRY_AFTER_S)
    assert retry["Cache-Control"] == "no-store" and "Content-Security-Policy" in retry
    text = body(retry)
    assert "Please try again" in text and "Traceback" not in text
    assert f'<a href="{path}">Reload the page</a>' in text
    resend = hidden_fields(retry)
    assert (resend["q"], resend["answer"]) == (fields["q"], "left")  # the same form, ready
    assert "csrfmiddlewaretoken" in resend
    # The transaction died with its connection: nothing of the answer is stored.
    assert not Response.objects.filter(rater=rater).exists()
    slot = rater.assignments.get(position=int(fields["q"]))
    assert slot.answered_at is None

    answered = browser.post(path, resend)  # "Send my answer again"
    assert answered.status_code == 303 and answered["Location"] == path
    again = browser.post(path, resend)  # a second click on the retry page changes nothing
    assert again.status_code == 303
    assert Response.objects.filter(rater=rater, item=slot.item).count() == 1
    assert Response.objects.filter(rater=rater).count() == 1
    slot.refresh_from_db()
    assert slot.answered_at is not None
    following = browser.follow(answered)
    assert following.status_code == 200
    assert int(hidden_fields(following)["q"]) != slot.position  # on to the next question


def test_a_question_page_cut_off_by_a_dropped_connection_offers_a_reload():
    browser = Browser()
    page = _first_question(browser)
    path = page.request["PATH_INFO"]

    with connection_killed_before("SELECT") as killed:  # the first: the rater's lookup
        retry = browser.get(path)
    assert killed
    assert retry.status_code == 503
    text = body(retry)
    assert f'<a href="{path}">Reload the page</a>' in text
    assert "Send my answer again" not in text  # nothing to send on a page that only shows

    reloaded = browser.get(path)
    assert reloaded.status_code == 200
    assert hidden_fields(reloaded)["q"] == hidden_fields(page)["q"]


def test_staff_pages_keep_djangos_own_error_handling(admin_client):
    with (
        connection_killed_before("SELECT") as killed,
        pytest.raises(OperationalError, match="terminating connection"),
    ):
        admin_client.get("/admin/surveys/survey/")
    assert killed
    connection.close()  # the dead one; the test's teardown opens a new one


def test_a_connection_dropped_between_pages_fails_one_page_then_is_replaced():
    """No health check before each request (settings: a round trip saved on every page): the
    first page on a connection the database dropped meanwhile (a restart) gets the page to try
    again, and the one after runs on a new connection."""
    browser = Browser()
    page = _first_question(browser)
    path = page.request["PATH_INFO"]
    fields = {**hidden_fields(page), "answer": "left"}
    old_backend = connection.connection.info.backend_pid
    _terminate(old_backend)  # between two requests, as a restart would

    retry = browser.post(path, fields)
    assert retry.status_code == 503, body(retry)
    assert "Send my answer again" in body(retry)
    answered = browser.post(path, hidden_fields(retry))
    assert answered.status_code == 303
    assert connection.connection.info.backend_pid != old_backend
    assert Response.objects.filter(rater=rater_of(page)).count() == 1
