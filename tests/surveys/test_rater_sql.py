"""The rater pages' hot queries (``surveys/rater_sql.py``) give the objects the ORM gives: the
same values (SQLite's datetimes made aware, as the ORM's converters do), the related objects set,
fields left out deferred (read on use), and nothing for an unknown token."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from surveys import rater_sql, services
from surveys.models import Assignment, Rater, Response, Survey
from tests.surveys.rater_helpers import make_survey


def same_fields(fast, slow, names) -> None:
    for field in type(slow)._meta.concrete_fields:
        if field.attname in names:
            assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name


@pytest.mark.parametrize("kind", [Survey.Kind.PAIRWISE, Survey.Kind.MEANINGFULNESS])
def test_the_rater_and_their_progress_read_as_the_orm_reads_them(db, kind):
    survey = make_survey(kind)
    rater = services.rater_start(survey, external_id="p1", platform_data={"STUDY_ID": "s"})
    fast = rater_sql.rater_by_token(rater.token)
    slow = Rater.objects.select_related("survey").get(token=rater.token)
    same_fields(fast, slow, rater_sql.RATER.names)
    same_fields(fast.survey, slow.survey, rater_sql.SURVEY.names)
    assert fast.created_at.tzinfo is not None and fast.survey.created_at.tzinfo is not None
    assert fast.platform_data == {"STUDY_ID": "s"}  # left out of the query: read on use
    assert fast.survey.instructions == slow.survey.instructions
    assert rater_sql.rater_by_token("no-such-token") is None

    slots = list(slow.assignments.select_related("item").order_by("position"))
    first = services.rater_next(fast).slot  # marks the first page shown
    services.rater_answer(fast, first.position, "left" if survey.is_pairwise else "yes")
    progress = rater_sql.rater_progress(fast)
    assert (progress.total, progress.answered) == (len(slots), 1)
    assert progress.answered_questions == (0 if slots[0].is_check else 1)
    current, expected = progress.current, slots[1]
    expected.refresh_from_db()
    same_fields(current, expected, rater_sql.SLOT.names)
    assert current.rater is fast
    if expected.item_id:
        same_fields(current.item, expected.item, rater_sql.ITEM.names)
    assert progress.following.position == slots[2].position
    by_token, same = rater_sql.rater_with_progress(rater.token)  # one query for both
    same_fields(by_token, fast, rater_sql.RATER.names)
    same_fields(by_token.survey, fast.survey, rater_sql.SURVEY.names)
    assert (same.total, same.answered, same.answered_questions) == (
        progress.total, progress.answered, progress.answered_questions,
    )  # fmt: skip
    assert [same.current.pk, same.following.pk] == [current.pk, progress.following.pk]
    same_fields(same.current, current, rater_sql.SLOT.names)
    assert same.current.rater is by_token
    assert rater_sql.rater_with_progress("no-such-token") is None
    stored = slow.assignments.get(position=first.position)
    assert stored.shown_at is not None and stored.shown_at <= stored.answered_at <= timezone.now()
    assert not progress.needs_plan(survey.cap_per_rater)


# --- storing an answer -----------------------------------------------------------------------


@pytest.fixture(params=["native", "portable"])
def store_path(request, monkeypatch) -> str:
    """store_answer both ways: the backend's own (one statement on PostgreSQL) and the
    transaction every other backend runs (forced here by another vendor name)."""
    if request.param == "portable":
        monkeypatch.setattr(connection, "vendor", "portable-test")
    return request.param


def _current_and_next(survey: Survey):
    rater = services.rater_start(survey, external_id="p1")
    services.rater_next(rater)  # the first page shown
    progress = rater_sql.rater_progress(rater_sql.rater_by_token(rater.token))
    return rater, progress.current, progress.following


def _answer_fields(slot, now) -> None:
    slot.answered_at, slot.response_ms, slot.answer = now, 1234, ""


def test_store_answer_stores_the_answer_its_response_and_the_next_page_shown_once(db, store_path):
    survey = make_survey(Survey.Kind.PAIRWISE, instructed=0, gold=0)
    rater, slot, following = _current_and_next(survey)
    now = timezone.now()
    _answer_fields(slot, now)
    response = Response(
        rater=rater, item_id=slot.item_id, answer="model_1", left="model_1", response_ms=1234,
        created_at=now,
    )  # fmt: skip
    following.shown_at = now
    assert rater_sql.store_answer(slot, response, following) is True
    stored = Response.objects.get(rater=rater)
    assert (stored.item_id, stored.answer, stored.left, stored.response_ms) == (
        slot.item_id, "model_1", "model_1", 1234,
    )  # fmt: skip
    assert stored.created_at == now
    slot_row = Assignment.objects.get(pk=slot.pk)
    assert (slot_row.answered_at, slot_row.response_ms) == (now, 1234)
    assert Assignment.objects.get(pk=following.pk).shown_at == now

    # The same page again (a double click that read before the first was stored): nothing.
    later = now + timedelta(seconds=5)
    _answer_fields(slot, later)
    following.shown_at = later
    response.answer = "model_2"
    assert rater_sql.store_answer(slot, response, following) is False
    assert Response.objects.filter(rater=rater).count() == 1
    assert Response.objects.get(rater=rater).answer == "model_1"
    assert Assignment.objects.get(pk=slot.pk).answered_at == now
    assert Assignment.objects.get(pk=following.pk).shown_at == now  # the first time kept


def test_store_answer_of_a_check_writes_only_its_page_and_nothing_for_a_page_gone(db, store_path):
    survey = make_survey(Survey.Kind.MEANINGFULNESS)
    rater, _, _ = _current_and_next(survey)
    check = rater.assignments.exclude(kind=Assignment.Kind.QUESTION).order_by("position")[0]
    check.rater = rater
    now = timezone.now()
    _answer_fields(check, now)
    check.answer = "yes"
    assert rater_sql.store_answer(check, None, None) is True
    assert Assignment.objects.get(pk=check.pk).answer == "yes"
    assert not Response.objects.filter(rater=rater).exists()

    gone = rater.assignments.filter(answered_at__isnull=True).order_by("position")[0]
    gone.rater = rater
    Assignment.objects.filter(pk=gone.pk).delete()  # released meanwhile (release_expired)
    _answer_fields(gone, now)
    assert rater_sql.store_answer(gone, None, None) is False


@pytest.mark.django_db(transaction=True)
def test_of_two_answers_to_a_page_at_once_the_second_waits_for_the_first_and_stores_nothing():
    """The double click that both requests read as unanswered: the second UPDATE waits on the
    first's row lock, then finds the page answered (PostgreSQL's READ COMMITTED re-check)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections: PostgreSQL (CI runs it)")
    survey = make_survey(Survey.Kind.PAIRWISE, instructed=0, gold=0)
    rater, slot, following = _current_and_next(survey)
    now = timezone.now()
    second: list[bool] = []

    def answer_again() -> None:
        try:
            twin = rater_sql.rater_progress(rater_sql.rater_by_token(rater.token)).current
            _answer_fields(twin, now + timedelta(seconds=1))
            twin_response = Response(
                rater=rater, item_id=twin.item_id, answer="model_2", left=twin.left,
                created_at=now,
            )  # fmt: skip
            read.set()
            second.append(rater_sql.store_answer(twin, twin_response, None))
        finally:
            connections.close_all()

    read = threading.Event()
    with transaction.atomic():
        _answer_fields(slot, now)
        response = Response(
            rater=rater, item_id=slot.item_id, answer="model_1", left=slot.left, created_at=now
        )
        assert rater_sql.store_answer(slot, response, following) is True  # holds the row lock
        other = threading.Thread(target=answer_again)
        other.start()
        assert read.wait(10)
        _wait_for_lock_wait()
    other.join(10)
    assert second == [False]
    assert Response.objects.filter(rater=rater).count() == 1
    assert Response.objects.get(rater=rater).answer == "model_1"
    assert Assignment.objects.get(pk=slot.pk).answered_at == now


def _wait_for_lock_wait() -> None:
    """Until another connection waits for a row lock (the second answer is blocked)."""
    for _ in range(500):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once a transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("the second answer never waited for the first's lock")
