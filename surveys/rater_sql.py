"""The rater pages' hot queries, in SQL written once.

A question page and an answer run on every click of every rater (200 raters thinking 0.5-1.5 s
send ~190 a second: ``benchmarks/load_raters.py``). Through the ORM, compiling their queries
took half of a page's CPU; the same SQL, built once from the models' own tables and columns,
costs a fraction. A page reads the rater, their survey and their progress in one query
(:func:`rater_with_progress`); an answer is stored, with the next page marked shown, in one
more (:func:`store_answer`: one statement on PostgreSQL, where the settings also prepare both).

Rows become model instances through ``Model.from_db`` after the backend's own converters (on
SQLite: datetimes made aware, booleans), so callers get the objects the ORM would give. Fields
not read here are deferred: a use of one costs a query, which the query-count tests in
``tests/surveys/test_rater_queries.py`` would catch. Drawing a plan writes its two queries under
the survey's lock the same way (``surveys/assignment.py``); everything else (finishing, the
researchers' side) stays in the ORM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models, transaction

from surveys.assignment import plan_needed
from surveys.models import Assignment, Item, Rater, Response, Survey


class Columns:
    """Some columns of a model under a table alias: their SQL, and instances from rows."""

    def __init__(self, model: type[models.Model], alias: str, skip: tuple[str, ...] = ()) -> None:
        self.model = model
        self.alias = alias
        self.fields = [f for f in model._meta.concrete_fields if f.name not in skip]
        self.names = {f.attname for f in self.fields}
        self._converters: dict[str, list] = {}
        quote = connection.ops.quote_name  # the same on every backend Django ships
        self.table = f"{quote(model._meta.db_table)} {alias}"
        self.sql = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)

    def converters(self) -> list[tuple[int, models.Expression, list]]:
        """(column index, column, converters) for the columns the backend converts (none on
        PostgreSQL), as the ORM's compiler applies them."""
        if connection.vendor not in self._converters:
            found = []
            for index, f in enumerate(self.fields):
                column = f.get_col(self.alias)
                both = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
                if both:
                    found.append((index, column, both))
            self._converters[connection.vendor] = found
        return self._converters[connection.vendor]

    def instance(self, row: tuple | list, start: int = 0) -> models.Model:
        """The instance made of ``row[start:start + len(self.fields)]``."""
        values = list(row[start : start + len(self.fields)])
        for index, column, converters in self.converters():
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(connection.alias, self.names, values)


# Not read on rater pages: JSON (decoded on every read) and texts of other pages.
RATER = Columns(Rater, "r", skip=("platform_data",))
SURVEY = Columns(Survey, "s", skip=("material", "instructions", "exclusion_rule"))
SLOT = Columns(Assignment, "a")
ITEM = Columns(Item, "i", skip=("key", "created_at"))


def _execute(sql: str, params: list) -> list[tuple]:
    """Run one query; its rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _write(sql: str, params: list) -> int:
    """Run one statement that returns no rows; the rows it changed. (Not one function with
    ``_execute``: asking the cursor whether rows came back builds a column object for each of a
    page's ~70 columns.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def rater_by_token(token: str) -> Rater | None:
    """The rater with this token, with their survey (one query)."""
    rows = _execute(
        f"SELECT {RATER.sql}, {SURVEY.sql} FROM {RATER.table} "
        f"JOIN {SURVEY.table} ON s.id = r.survey_id WHERE r.token = %s",
        [token],
    )
    return _rater_with_survey(rows[0]) if rows else None


def _rater_with_survey(row: tuple) -> Rater:
    """The rater and their survey from a row that starts with their columns."""
    rater = RATER.instance(row)
    rater.survey = SURVEY.instance(row, len(RATER.fields))
    return rater


@dataclass(frozen=True)
class Progress:
    """Where a rater is in their plan."""

    total: int  # pages planned (questions and checks)
    answered: int
    answered_questions: int  # answered pages that are not checks
    current: Assignment | None  # the first unanswered page, with its item; None: all answered
    following: Assignment | None = None  # the unanswered page after it, with its item

    def needs_plan(self, cap: int) -> bool:
        """Whether (the rest of) a plan must be drawn (:func:`surveys.assignment.plan_needed`)."""
        return plan_needed(
            pending=self.current is not None, answered_questions=self.answered_questions, cap=cap
        )


def rater_progress(rater: Rater) -> Progress:
    """The rater's pages counted, and their first two unanswered pages with their items (one
    query)."""
    rows = _execute(_progress_sql(RATER_ID, with_rater=False), [*_progress_params(), rater.pk])
    return _progress(rows, 0, rater)


def rater_with_progress(token: str) -> tuple[Rater, Progress] | None:
    """The rater with this token, with their survey, and their progress (one query: what a
    question page or an answer reads), or None."""
    rows = _execute(_progress_sql(RATER_TOKEN, with_rater=True), [*_progress_params(), token])
    if not rows:
        return None
    rater = _rater_with_survey(rows[0])
    return rater, _progress(rows, len(RATER.fields) + len(SURVEY.fields), rater)


RATER_ID = "r.id = %s"
RATER_TOKEN = "r.token = %s"


@functools.cache
def _progress_sql(where: str, *, with_rater: bool) -> str:
    """The rater (`where`), with their survey if `with_rater`; their pages counted (all,
    answered, answered questions); and one row for each of their first two unanswered pages,
    with its item (one row of NULLs for none). Each part reads only the rater's own entries in
    the (rater, position) index: the cost grows neither with the survey nor with progress."""
    pages = f"{connection.ops.quote_name(Assignment._meta.db_table)} c WHERE c.rater_id = r.id"
    answered = f"{pages} AND c.answered_at IS NOT NULL"
    rater = f"{RATER.sql}, {SURVEY.sql}, " if with_rater else ""
    survey = f"JOIN {SURVEY.table} ON s.id = r.survey_id " if with_rater else ""
    return (
        f"SELECT {rater}(SELECT count(*) FROM {pages}), (SELECT count(*) FROM {answered}), "
        f"(SELECT count(*) FROM {answered} AND c.kind = %s), {SLOT.sql}, {ITEM.sql} "
        f"FROM {RATER.table} {survey}LEFT JOIN {SLOT.table} ON a.rater_id = r.id AND a.position IN "
        f"(SELECT c.position FROM {pages} AND c.answered_at IS NULL ORDER BY c.position LIMIT 2) "
        f"LEFT JOIN {ITEM.table} ON i.id = a.item_id WHERE {where} ORDER BY a.position"
    )


def _progress_params() -> list:
    return [Assignment.Kind.QUESTION.value]


def _progress(rows: list[tuple], start: int, rater: Rater) -> Progress:
    """Progress from :func:`_progress_sql`'s rows, its counts at `start` (after the rater and
    survey columns)."""
    total, answered, answered_questions = rows[0][start : start + 3]
    slots = [_slot_with_item(row[start + 3 :], rater) for row in rows if row[start + 3] is not None]
    slots += [None, None]  # none (or one) unanswered
    return Progress(
        total=total,
        answered=answered,
        answered_questions=answered_questions,
        current=slots[0],
        following=slots[1],
    )


def _slot_with_item(row: tuple, rater: Rater) -> Assignment:
    slot = SLOT.instance(row)
    slot.rater = rater
    if slot.item_id is not None:
        slot.item = ITEM.instance(row, len(SLOT.fields))
    return slot


def mark_shown(slot: Assignment, now: datetime) -> None:
    """Record when the page was first shown (a reload keeps the first time)."""
    slot.shown_at = now
    _write(*_update(slot, ("shown_at",), unless_set="shown_at"))


def locked_slot(rater: Rater, position: int) -> Assignment | None:
    """The rater's page at `position`, locked until the transaction ends (SQLite: the whole
    database is, for writing), or None."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows = _execute(
        f"SELECT {SLOT.sql} FROM {SLOT.table} WHERE a.rater_id = %s AND a.position = %s{lock}",
        [rater.pk, position],
    )
    if not rows:
        return None
    slot = SLOT.instance(rows[0])
    slot.rater = rater
    return slot


def save_answer(slot: Assignment) -> None:
    """Store the page's answer, its time and how long it took."""
    _write(*_update(slot, ANSWER_FIELDS))


def insert(obj: models.Model) -> None:
    """INSERT `obj` as ``obj.save()`` would (defaults, ``auto_now_add``, each backend's form
    of each value), without compiling the ORM's query; its primary key is not read back."""
    _write(*_insert(obj))


def store_answer(slot: Assignment, response: Response | None, show: Assignment | None) -> bool:
    """Store `slot`'s answer (its fields :data:`ANSWER_FIELDS`, set by the caller) and, for a
    question, `response`, unless the page was answered already; then mark `show` (the next page)
    shown at its ``shown_at`` (unless a time is stored already). All or nothing, without a lock
    read first: the UPDATE answers only an unanswered page, and of two at once (a double click)
    the second waits for the first's row lock and finds it answered. False when nothing was
    stored (answered already, or the page is gone).

    PostgreSQL runs it as one statement (one round trip, one commit); other backends in a
    transaction of up to three."""
    answered = _update(slot, ANSWER_FIELDS, unless_set="answered_at")
    shown = _update(show, ("shown_at",), unless_set="shown_at") if show is not None else None
    if connection.vendor == "postgresql":
        sql, params = f"WITH answered AS ({answered[0]} RETURNING 1)", list(answered[1])
        if response is not None:
            stored = _insert(response, source="answered")
            sql, params = f"{sql}, stored AS ({stored[0]})", params + stored[1]
        if shown is not None:
            condition = " AND EXISTS (SELECT 1 FROM answered)"
            sql, params = f"{sql}, shown AS ({shown[0]}{condition})", params + shown[1]
        return _execute(f"{sql} SELECT count(*) FROM answered", params)[0][0] == 1
    with transaction.atomic():
        if _write(*answered) != 1:
            return False
        if response is not None:
            insert(response)
        if shown is not None:
            _write(*shown)
    return True


ANSWER_FIELDS = ("answer", "answered_at", "response_ms")


def _insert(obj: models.Model, source: str = "") -> tuple[str, list]:
    """`obj`'s INSERT and its parameters; with `source` (a query's name), one row per row of it
    (each value cast to its column's type: PostgreSQL types a SELECT list on its own)."""
    fields = [f for f in obj._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    if source:
        casts = ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in fields)
        rows = f"SELECT {casts} FROM {source}"
    else:
        rows = f"VALUES ({', '.join(['%s'] * len(fields))})"
    return f"INSERT INTO {quote(obj._meta.db_table)} ({columns}) {rows}", values


def _update(obj: models.Model, names: tuple[str, ...], unless_set: str = "") -> tuple[str, list]:
    """The UPDATE of the fields `names` of `obj` in its row (only while `unless_set` is NULL),
    and its parameters."""
    quote = connection.ops.quote_name
    fields = [obj._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    where = f" AND {quote(obj._meta.get_field(unless_set).column)} IS NULL" if unless_set else ""
    sql = (
        f"UPDATE {quote(obj._meta.db_table)} SET {assignments} "
        f"WHERE {quote(obj._meta.pk.column)} = %s{where}"
    )
    return sql, [*values, obj.pk]
