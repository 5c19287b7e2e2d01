"""Importing answers collected elsewhere (a CSV file): parsing apart, one read and one write.

One service, :func:`responses_import`, serves the ``import_responses`` command and the admin's
upload page. It validates the whole file before writing anything, then writes in one
transaction, so a file is imported entirely or not at all.

The CSV contract (a header line, UTF-8, comma-separated, column names case-insensitive):

* pairwise: ``rater,item,model_1,model_2,winner``; ``winner`` names one of the two models or
  is ``discard``. Optional: ``left`` (the model shown on the left), ``response_ms``,
  ``source``, ``sentence_1``, ``sentence_2`` (the reconstructions by model_1 and model_2).
* meaningfulness: ``rater,item,model,sentence,meaningful``; ``meaningful`` is yes/no, 1/0 or
  true/false. Optional: ``length`` (words; counted from ``sentence`` when absent),
  ``response_ms``.

An item is identified by its ``item`` value within the survey; every line naming it must name
the same models (pairwise, in either order) or the same model and sentence (meaningfulness).
A meaningfulness item stored without its sentence gets it from the first later line that
gives one (saved with the answers), provided the sentence has the item's length in words.

Re-importing is idempotent: a line whose rater already answered its item in this survey with
the same answer is skipped and counted. A line that contradicts a stored answer is a bad row:
a response is written once and never overwritten.
"""

from __future__ import annotations

import csv
import io
import os
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from surveys.models import Item, Rater, Response, Survey

# The command line and the admin say "pairwise"; the database says the survey kind.
KINDS = {
    "pairwise": Survey.Kind.PAIRWISE,
    Survey.Kind.PAIRWISE.value: Survey.Kind.PAIRWISE,
    "meaningfulness": Survey.Kind.MEANINGFULNESS,
}
KIND_NAMES = {Survey.Kind.PAIRWISE: "pairwise", Survey.Kind.MEANINGFULNESS: "meaningfulness"}
REQUIRED_COLUMNS = {
    Survey.Kind.PAIRWISE: ("rater", "item", "model_1", "model_2", "winner"),
    Survey.Kind.MEANINGFULNESS: ("rater", "item", "model", "sentence", "meaningful"),
}
OPTIONAL_COLUMNS = {
    Survey.Kind.PAIRWISE: ("left", "response_ms", "source", "sentence_1", "sentence_2"),
    Survey.Kind.MEANINGFULNESS: ("length", "response_ms"),
}
DISCARD = "discard"
MEANINGFUL_VALUES = {"yes": True, "1": True, "true": True, "no": False, "0": False, "false": False}
# Bad rows listed in full before the rest are only counted: enough to see the pattern.
MAX_REPORTED_ERRORS = 50
# Rows per INSERT batch; SQLite's variable limit caps it further, which Django handles.
BATCH_SIZE = 5000
# Stored answers are looked up for this many of the file's raters per query: the IN list stays
# well below SQLite's variable limit, and the (rater, item) index answers each query.
RATER_LOOKUP_CHUNK = 500
# Imports at least this large refresh PostgreSQL's planner statistics (see below).
ANALYZE_AFTER = 10_000
MAX_NAME = 200
MAX_MODEL = 100
MAX_MS = 2**31 - 1  # PositiveIntegerField, on every database
MAX_LENGTH = 2**15 - 1  # PositiveSmallIntegerField
NO_MS = -1

# Whole-file problems (one line each); the tests reuse them.
UNKNOWN_KIND = "Unknown survey kind {kind!r}: expected pairwise or meaningfulness."
NO_SURVEY_NAME = "The survey needs a name."
SURVEY_NAME_TOO_LONG = f"The survey name is longer than {MAX_NAME} characters."
NO_FILE = "No such file: {name}"
NOT_TEXT = "{name} is not a CSV text file: it contains NUL bytes (a binary file?)."
NOT_UTF8 = "{name} is not UTF-8 text: byte 0x{byte:02x} on line {line} cannot be decoded."
EMPTY_FILE = "{name} is empty: expected a header line with the columns {columns}."
NO_ROWS = "{name} has a header line but no answers."
MISSING_COLUMNS = "{name} lacks the column(s) {missing}: a {kind} file needs {columns}."
OTHER_KIND = "Survey {survey!r} is a {existing} survey, not {kind}: import into another survey."
BAD_ROWS = "{count} bad row(s) in {name}; nothing was imported:"
MORE_BAD_ROWS = "… and {count} more bad row(s)."
CONCURRENT_WRITE = (
    "Another import wrote answers to survey {survey!r} at the same time; nothing was imported "
    "from {name}. Import it again."
)

# Row problems, each prefixed with "line N: ".
FIELD_COUNT = "expected {expected} fields, found {found}"
CSV_SYNTAX = "cannot be read as CSV ({error})"
EMPTY_VALUE = "{column} is empty"
TOO_LONG = "{column} is longer than {limit} characters"
SAME_MODEL = "model_1 and model_2 are both {model!r}"
BAD_WINNER = "winner {value!r} is neither {model_1!r}, {model_2!r} nor 'discard'"
BAD_LEFT = "left {value!r} is neither {model_1!r} nor {model_2!r}"
BAD_MEANINGFUL = "meaningful {value!r} is not one of yes/no, 1/0, true/false"
BAD_WHOLE_NUMBER = "{column} {value!r} is not a whole number from 0 to {maximum}"
NO_LENGTH = "sentence is empty and no length is given"
ITEM_MODELS_DIFFER = "item {item!r} is {found}, but {where} it is {known}"
ITEM_SENTENCE_DIFFERS = "item {item!r} has a different sentence than {where}"
ITEM_LENGTH_DIFFERS = (
    "item {item!r} is {known} words long in {where}, but this sentence has {length}: "
    "give the item's own sentence or a length column"
)
DUPLICATE_ANSWER = "rater {rater!r} answers item {item!r} again (first on line {first})"
CONFLICTING_ANSWER = (
    "rater {rater!r} already answered item {item!r} with {stored!r} in this survey; "
    "a response is written once"
)

# Answers and sides as small integer codes while parsing a million rows.
ANSWER_CODES = tuple(Response.Answer)
SIDE_CODES = tuple(Response.Side)
_CODE_OF_ANSWER = {answer: code for code, answer in enumerate(ANSWER_CODES)}
_CODE_OF_SIDE = {side: code for code, side in enumerate(SIDE_CODES)}


class ImportRefused(Exception):
    """The file was not imported; ``str()`` says why, one bad row per line."""

    def __init__(self, message: str, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class ImportSummary:
    """What one import did; ``responses_skipped`` counts answers already stored (re-import)."""

    survey: str
    kind: str
    survey_created: bool
    rows: int
    responses_created: int
    responses_skipped: int
    raters_created: int
    items_created: int
    seconds: float
    items_updated: int = 0  # stored items whose missing sentence this file supplied


def responses_import(
    *, survey_name: str, kind: str, file: str | os.PathLike | BinaryIO, filename: str = ""
) -> ImportSummary:
    """Import the answers in a CSV ``file`` into the survey ``survey_name``, created if absent.

    ``kind`` is ``pairwise`` or ``meaningfulness``. ``file`` is a path or a binary file object
    (an upload); ``filename`` names it in messages. Raises :class:`ImportRefused`, having
    written nothing, when the file or any of its rows is bad.
    """
    started = time.perf_counter()
    survey_kind = _survey_kind(kind)
    survey_name = survey_name.strip()
    if not survey_name:
        raise ImportRefused(NO_SURVEY_NAME)
    if len(survey_name) > MAX_NAME:
        raise ImportRefused(SURVEY_NAME_TOO_LONG)
    name = filename or (os.fspath(file) if isinstance(file, str | os.PathLike) else "the file")
    text = _read_text(file, name)

    survey = Survey.objects.filter(name=survey_name).first()
    if survey is not None and survey.kind != survey_kind:
        raise ImportRefused(
            OTHER_KIND.format(
                survey=survey_name, existing=KIND_NAMES[survey.kind], kind=KIND_NAMES[survey_kind]
            )
        )
    parsed = _Parsed.from_text(text, kind=survey_kind, name=name, survey=survey)
    parsed.check_answers(survey)
    if parsed.errors:
        errors = parsed.listed_errors()
        raise ImportRefused(_bad_rows_message(parsed, errors, name), errors)
    try:
        with transaction.atomic():
            counts = parsed.write(survey_name=survey_name, kind=survey_kind)
    except IntegrityError:
        raise ImportRefused(CONCURRENT_WRITE.format(survey=survey_name, name=name)) from None
    if counts["responses_created"] >= ANALYZE_AFTER:
        _refresh_planner_statistics()
    return ImportSummary(
        survey=survey_name,
        kind=survey_kind.value,
        rows=parsed.n_rows,
        responses_skipped=parsed.n_skipped,
        seconds=round(time.perf_counter() - started, 3),
        **counts,
    )


def _refresh_planner_statistics() -> None:
    """Let PostgreSQL's planner see a big import at once, not when autovacuum gets to it.

    With stale statistics it plans the report queries for a near-empty survey (nested loops
    over a million answers). ANALYZE samples the tables, so it costs a fraction of a second.
    """
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Item, Rater, Response))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _survey_kind(kind: str) -> Survey.Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ImportRefused(UNKNOWN_KIND.format(kind=kind)) from None


def _read_text(file: str | os.PathLike | BinaryIO, name: str) -> str:
    """The whole file as text; refuses missing, binary and non-UTF-8 files in one line."""
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        if not path.is_file():
            raise ImportRefused(NO_FILE.format(name=name))
        data = path.read_bytes()
    else:
        data = file.read()
    if b"\x00" in data:
        raise ImportRefused(NOT_TEXT.format(name=name))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportRefused(NOT_UTF8.format(name=name, byte=data[error.start], line=line)) from None


def _bad_rows_message(parsed: _Parsed, errors: tuple[str, ...], name: str) -> str:
    lines = [BAD_ROWS.format(count=len(errors) + parsed.errors_unlisted, name=name)]
    lines += errors
    if parsed.errors_unlisted:
        lines.append(MORE_BAD_ROWS.format(count=parsed.errors_unlisted))
    return "\n".join(lines)


@dataclass
class _ItemSeen:
    """An item as the file (or the database, ``line`` None) declares it."""

    key: str
    model_1: str
    model_2: str
    text_1: str = ""
    text_2: str = ""
    source: str = ""
    length: int | None = None
    line: int | None = None
    pk: int | None = None

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else "the survey"

    def describe(self) -> str:
        return f"{self.model_1} vs {self.model_2}" if self.model_2 else self.model_1


@dataclass
class _Parsed:
    """A validated file: raters and items by index, answers as parallel integer arrays."""

    kind: Survey.Kind
    raters: dict[str, int] = field(default_factory=dict)
    rater_pks: list[int | None] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)
    item_seen: list[_ItemSeen] = field(default_factory=list)
    # Compact arrays: a million rows as Python lists of ints would take hundreds of MB.
    rows_rater: array = field(default_factory=lambda: array("q"))
    rows_item: array = field(default_factory=lambda: array("q"))
    rows_answer: array = field(default_factory=lambda: array("b"))
    rows_left: array = field(default_factory=lambda: array("b"))
    rows_ms: array = field(default_factory=lambda: array("q"))  # NO_MS when not given
    rows_line: array = field(default_factory=lambda: array("q"))
    errors: list[tuple[int, str]] = field(default_factory=list)
    errors_unlisted: int = 0
    skip: np.ndarray | None = None
    rater_names: list[str] = field(default_factory=list)
    # Stored items (indices into item_seen) whose missing sentence this file supplies.
    filled: set[int] = field(default_factory=set)

    @property
    def n_rows(self) -> int:
        return len(self.rows_line)

    @property
    def n_skipped(self) -> int:
        return 0 if self.skip is None else int(self.skip.sum())

    def error(self, line: int, message: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line, message))
        else:
            self.errors_unlisted += 1

    def listed_errors(self) -> tuple[str, ...]:
        """The bad rows kept for the message, in line order."""
        return tuple(f"line {line}: {message}" for line, message in sorted(self.errors))

    @classmethod
    def from_text(cls, text: str, *, kind: Survey.Kind, name: str, survey: Survey | None):
        parsed = cls(kind=kind)
        if survey is not None:
            parsed._load_known(survey)
        # strict: a quote never closed (a file cut short) is an error, not a field that runs
        # to the end of the file.
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = parsed._header(reader, name)
        for line, row in _numbered(reader, parsed):
            if len(row) != len(header):
                parsed.error(line, FIELD_COUNT.format(expected=len(header), found=len(row)))
                continue
            values = {column: value.strip() for column, value in zip(header, row, strict=True)}
            if kind == Survey.Kind.PAIRWISE:
                parsed._pairwise_row(line, values)
            else:
                parsed._meaningfulness_row(line, values)
        if not parsed.n_rows and not parsed.errors:
            raise ImportRefused(NO_ROWS.format(name=name))
        return parsed

    def _header(self, reader: Iterator[list[str]], name: str) -> list[str]:
        return csv_header(reader, REQUIRED_COLUMNS[self.kind], name, KIND_NAMES[self.kind])

    def _load_known(self, survey: Survey) -> None:
        """Raters and items the survey already has, so the file is checked against them."""
        for external_id, pk in survey.raters.values_list("external_id", "pk"):
            self.raters[external_id] = len(self.rater_pks)
            self.rater_pks.append(pk)
        fields = ("key", "model_1", "model_2", "text_1", "text_2", "source", "length", "pk")
        for values in survey.items.values_list(*fields):
            self.items[values[0]] = len(self.item_seen)
            self.item_seen.append(_ItemSeen(*values[:-1], line=None, pk=values[-1]))

    def _checked_text(self, line: int, values: dict[str, str], column: str, limit: int) -> str:
        value = values.get(column, "")
        if not value:
            self.error(line, EMPTY_VALUE.format(column=column))
        elif len(value) > limit:
            self.error(line, TOO_LONG.format(column=column, limit=limit))
            return ""
        return value

    def _whole_number(
        self, line: int, values: dict[str, str], column: str, maximum: int
    ) -> int | None:
        value = values.get(column, "")
        if not value:
            return None
        if not (value.isascii() and value.isdigit()) or int(value) > maximum:
            self.error(line, BAD_WHOLE_NUMBER.format(column=column, value=value, maximum=maximum))
            return None
        return int(value)

    def _rater_index(self, external_id: str) -> int:
        index = self.raters.get(external_id)
        if index is None:
            index = self.raters[external_id] = len(self.rater_pks)
            self.rater_pks.append(None)
        return index

    def _item_index(self, line: int, seen: _ItemSeen) -> int | None:
        """The item's index, declaring it on first sight; None (and an error) if it differs."""
        index = self.items.get(seen.key)
        if index is None:
            self.items[seen.key] = len(self.item_seen)
            self.item_seen.append(seen)
            return len(self.item_seen) - 1
        known = self.item_seen[index]
        same_models = {known.model_1, known.model_2} == {seen.model_1, seen.model_2}
        if not same_models:
            self.error(
                line,
                ITEM_MODELS_DIFFER.format(
                    item=seen.key,
                    found=seen.describe(),
                    where=known.where(),
                    known=known.describe(),
                ),
            )
            return None
        if not known.model_2 and known.text_1 and seen.text_1 and known.text_1 != seen.text_1:
            self.error(line, ITEM_SENTENCE_DIFFERS.format(item=seen.key, where=known.where()))
            return None
        return index

    def _append(self, line: int, rater: int, item: int, answer: str, left: str, ms) -> None:
        self.rows_rater.append(rater)
        self.rows_item.append(item)
        self.rows_answer.append(_CODE_OF_ANSWER[answer])
        self.rows_left.append(_CODE_OF_SIDE[left])
        self.rows_ms.append(NO_MS if ms is None else ms)
        self.rows_line.append(line)

    def _pairwise_row(self, line: int, values: dict[str, str]) -> None:
        errors_before = len(self.errors) + self.errors_unlisted
        rater = self._checked_text(line, values, "rater", MAX_NAME)
        key = self._checked_text(line, values, "item", MAX_NAME)
        model_1 = self._checked_text(line, values, "model_1", MAX_MODEL)
        model_2 = self._checked_text(line, values, "model_2", MAX_MODEL)
        winner, left = values["winner"], values.get("left", "")
        ms = self._whole_number(line, values, "response_ms", MAX_MS)
        if model_1 and model_1 == model_2:
            self.error(line, SAME_MODEL.format(model=model_1))
        elif model_1 and model_2:
            if winner not in (model_1, model_2) and winner.lower() != DISCARD:
                self.error(line, BAD_WINNER.format(value=winner, model_1=model_1, model_2=model_2))
            if left and left not in (model_1, model_2):
                self.error(line, BAD_LEFT.format(value=left, model_1=model_1, model_2=model_2))
        if len(self.errors) + self.errors_unlisted > errors_before:
            return
        seen = _ItemSeen(
            key, model_1, model_2, values.get("sentence_1", ""), values.get("sentence_2", ""),
            values.get("source", ""), line=line,
        )  # fmt: skip
        item = self._item_index(line, seen)
        if item is None:
            return
        known = self.item_seen[item]
        answer = Response.Answer.DISCARD if winner.lower() == DISCARD else _side(known, winner)
        self._append(line, self._rater_index(rater), item, answer, _side(known, left), ms)

    def _meaningfulness_row(self, line: int, values: dict[str, str]) -> None:
        errors_before = len(self.errors) + self.errors_unlisted
        rater = self._checked_text(line, values, "rater", MAX_NAME)
        key = self._checked_text(line, values, "item", MAX_NAME)
        model = self._checked_text(line, values, "model", MAX_MODEL)
        sentence = values["sentence"]
        meaningful = MEANINGFUL_VALUES.get(values["meaningful"].lower())
        if meaningful is None:
            self.error(line, BAD_MEANINGFUL.format(value=values["meaningful"]))
        length = self._whole_number(line, values, "length", MAX_LENGTH)
        ms = self._whole_number(line, values, "response_ms", MAX_MS)
        if not values.get("length"):
            if not sentence:
                self.error(line, NO_LENGTH)
            length = len(sentence.split())
        if len(self.errors) + self.errors_unlisted > errors_before:
            return
        seen = _ItemSeen(key, model, "", text_1=sentence, length=length, line=line)
        item = self._item_index(line, seen)
        if item is None:
            return
        known = self.item_seen[item]
        if not known.text_1 and sentence:
            if known.length is not None and known.length != length:
                self.error(
                    line,
                    ITEM_LENGTH_DIFFERS.format(
                        item=key, known=known.length, where=known.where(), length=length
                    ),
                )
                return
            known.text_1, known.length = sentence, length
            if known.pk is not None:
                self.filled.add(item)
        answer = Response.Answer.YES if meaningful else Response.Answer.NO
        self._append(line, self._rater_index(rater), item, answer, Response.Side.UNKNOWN, ms)

    def check_answers(self, survey: Survey | None) -> None:
        """Flag second answers within the file and answers that contradict stored ones."""
        if not self.n_rows:
            return
        raters = np.asarray(self.rows_rater, dtype=np.int64)
        items = np.asarray(self.rows_item, dtype=np.int64)
        answers = np.asarray(self.rows_answer, dtype=np.int64)
        keys = (raters << 32) | items
        self.skip = np.zeros(len(keys), dtype=bool)

        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        again = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
        if again.size:
            first_of_run = np.maximum.accumulate(
                np.where(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]], np.arange(len(keys)), 0)
            )
            for position in again:
                row, first = order[position], order[first_of_run[position]]
                self._row_error(row, DUPLICATE_ANSWER, first=self.rows_line[first])

        if survey is None:
            return
        rater_pk = np.asarray([pk or -1 for pk in self.rater_pks], dtype=np.int64)
        item_pk = np.asarray([seen.pk or -1 for seen in self.item_seen], dtype=np.int64)
        row_rater_pk, row_item_pk = rater_pk[raters], item_pk[items]
        known = np.flatnonzero((row_rater_pk >= 0) & (row_item_pk >= 0))
        if not known.size:
            return
        stored_keys, stored_answers = _stored_answers(np.unique(row_rater_pk[known]))
        if not stored_keys.size:
            return
        stored_order = np.argsort(stored_keys)
        stored_keys = stored_keys[stored_order]
        stored_answers = stored_answers[stored_order]
        wanted = (row_rater_pk[known] << 32) | row_item_pk[known]
        position = np.searchsorted(stored_keys, wanted).clip(max=len(stored_keys) - 1)
        found = stored_keys[position] == wanted
        same = found & (stored_answers[position] == answers[known])
        self.skip[known[same]] = True
        for row, code in zip(
            known[found & ~same], stored_answers[position[found & ~same]], strict=True
        ):
            self._row_error(row, CONFLICTING_ANSWER, stored=ANSWER_CODES[code].value)

    def _row_error(self, row: int, template: str, **extra: object) -> None:
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            self.errors_unlisted += 1
            return
        if len(self.rater_names) != len(self.raters):
            self.rater_names = list(self.raters)
        rater = self.rater_names[self.rows_rater[row]]
        item = self.item_seen[self.rows_item[row]].key
        self.error(self.rows_line[row], template.format(rater=rater, item=item, **extra))

    def write(self, *, survey_name: str, kind: Survey.Kind) -> dict[str, object]:
        """Create the survey, raters, items and answers (inside the caller's transaction)."""
        survey, survey_created = Survey.objects.get_or_create(
            name=survey_name, defaults={"kind": kind}
        )
        if survey.kind != kind:  # created by another import since this one looked
            raise IntegrityError(f"survey {survey_name!r} is of another kind")
        now = timezone.now()
        new_raters = [
            Rater(survey=survey, external_id=external_id, created_at=now)
            for external_id, index in self.raters.items()
            if self.rater_pks[index] is None
        ]
        Rater.objects.bulk_create(new_raters, batch_size=BATCH_SIZE)
        new_items = [
            Item(
                survey=survey, key=seen.key, model_1=seen.model_1, model_2=seen.model_2,
                text_1=seen.text_1, text_2=seen.text_2, source=seen.source, length=seen.length,
                created_at=now,
            )
            for seen in self.item_seen
            if seen.pk is None
        ]  # fmt: skip
        Item.objects.bulk_create(new_items, batch_size=BATCH_SIZE)
        filled = [
            Item(pk=self.item_seen[index].pk, text_1=self.item_seen[index].text_1,
                 length=self.item_seen[index].length)
            for index in sorted(self.filled)
        ]  # fmt: skip
        Item.objects.bulk_update(filled, ["text_1", "length"], batch_size=BATCH_SIZE)
        rater_pk_of = dict(survey.raters.values_list("external_id", "pk"))
        item_pk_of = dict(survey.items.values_list("key", "pk"))
        rater_pks = [rater_pk_of[external_id] for external_id in self.raters]
        item_pks = [item_pk_of[seen.key] for seen in self.item_seen]
        rows = np.flatnonzero(~self.skip) if self.skip is not None else range(self.n_rows)
        for start in range(0, len(rows), BATCH_SIZE):
            # One batch of instances at a time: a million at once would not fit comfortably.
            Response.objects.bulk_create(
                [
                    Response(
                        rater_id=rater_pks[self.rows_rater[row]],
                        item_id=item_pks[self.rows_item[row]],
                        answer=ANSWER_CODES[self.rows_answer[row]],
                        left=SIDE_CODES[self.rows_left[row]],
                        response_ms=None if self.rows_ms[row] == NO_MS else self.rows_ms[row],
                        created_at=now,
                    )
                    for row in rows[start : start + BATCH_SIZE]
                ]
            )
        return {
            "survey_created": survey_created,
            "responses_created": len(rows),
            "raters_created": len(new_raters),
            "items_created": len(new_items),
            "items_updated": len(filled),
        }


def _stored_answers(rater_pks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored answers of the given raters (all of one survey) only: keys
    ``rater_pk << 32 | item_pk`` and answer codes. A file that touches a few raters reads a few
    of a million stored answers."""
    keys: list[int] = []
    codes: list[int] = []
    for start in range(0, len(rater_pks), RATER_LOOKUP_CHUNK):
        chunk = rater_pks[start : start + RATER_LOOKUP_CHUNK].tolist()
        # The raters are this survey's, so no join through items is needed: the rater index
        # answers it (with the join, SQLite scanned every stored answer once per chunk).
        rows = (
            Response.objects.filter(rater_id__in=chunk)
            .values_list("rater_id", "item_id", "answer")
            .order_by()
            .iterator(chunk_size=BATCH_SIZE)
        )
        for rater_pk, item_pk, answer in rows:
            keys.append((rater_pk << 32) | item_pk)
            codes.append(_CODE_OF_ANSWER[answer])
    return np.asarray(keys, dtype=np.int64), np.asarray(codes, dtype=np.int64)


def _numbered(reader, parsed: _Parsed) -> Iterator[tuple[int, list[str]]]:
    """Data rows with the line each starts on; blank lines are skipped, CSV errors recorded."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            parsed.error(line, CSV_SYNTAX.format(error=error))
            continue
        if row:
            yield line, row


def _side(item: _ItemSeen, model: str) -> Response.Side:
    """Which side of ``item`` the model named ``model`` is (UNKNOWN for an empty name)."""
    if not model:
        return Response.Side.UNKNOWN
    return Response.Side.MODEL_1 if model == item.model_1 else Response.Side.MODEL_2


def csv_header(
    reader: Iterator[list[str]],
    required: tuple[str, ...] | list[str],
    name: str,
    kind_name: str,
    refused: type[Exception] = ImportRefused,
) -> list[str]:
    """The header line of a CSV upload, lower-cased, or `refused` saying what is wrong: an empty
    file, a header that is not CSV, missing columns (the answers and the items imports)."""
    try:
        header = next(reader)
    except StopIteration:
        raise refused(EMPTY_FILE.format(name=name, columns=",".join(required))) from None
    except csv.Error as error:
        raise refused(f"{name}: the header line {CSV_SYNTAX.format(error=error)}.") from None
    header = [column.strip().lower() for column in header]
    missing = [column for column in required if column not in header]
    if missing:
        raise refused(
            MISSING_COLUMNS.format(
                name=name, missing=",".join(missing), kind=kind_name, columns=",".join(required)
            )
        )
    return header
