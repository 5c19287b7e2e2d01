"""The rater pages' hot queries (``surveys/rater_sql.py``) give the objects the ORM gives: the
same values (SQLite's datetimes made aware, as the ORM's converters do), the related objects set,
fields left out deferred (read on use), and nothing for an unknown token."""

from __future__ import annotations

import pytest
from django.utils import timezone

from surveys import rater_sql, services
from surveys.models import Rater, Survey
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
    stored = slow.assignments.get(position=first.position)
    assert stored.shown_at is not None and stored.shown_at <= stored.answered_at <= timezone.now()
    assert not progress.needs_plan(survey.cap_per_rater)
