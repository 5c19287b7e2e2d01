"""Which questions a rater answers, in which order, with which sentence on the left.

The plan is a pure function of the candidates and a seeded generator (:func:`plan_questions`,
:func:`place_checks`, :func:`check_material`); :func:`ensure_plan` is the database wrapper that
locks the survey row, reads the loads, and writes the plan as :class:`Assignment` rows (once per
rater: later pages read the plan without the lock).

The rules (the paper's Sect. 3.2–3.3 protocol, as a careful crowd study runs it):

- each rater gets at most the cap of questions, spread as evenly as the items allow over the
  groups (the models for meaningfulness, the comparisons for pairwise); a group that gets one
  more question than another is one behind in the whole survey so far;
- within a group the least-answered items come first (answered or reserved), so coverage stays
  even; ``overlap`` caps the raters per item;
- no item twice for a rater;
- pairwise: which model is on the left is drawn per question, half each way per group, and the
  odd ones balanced across groups, so one rater's left/right counts differ by at most one;
- the order is shuffled, and attention checks go to random positions among the questions.

Questions are reserved when planned. A rater silent for longer than the survey's reservation
gives the unanswered ones back (:func:`release_expired`), so the balance holds while raters are
mid-survey; if they come back, the rest of their plan is drawn again.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Max

from surveys.models import Assignment, Item, Rater, Response, Survey

LEFT, RIGHT = "left", "right"
MODEL_1, MODEL_2 = Response.Side.MODEL_1.value, Response.Side.MODEL_2.value
INSTRUCTED_PROMPTS = {
    # Prolific's rule for instructed checks: the question itself says exactly what to do.
    LEFT: "Attention check: for this pair, please choose the sentence on the left.",
    RIGHT: "Attention check: for this pair, please choose the sentence on the right.",
    "yes": "Attention check: please answer “Yes” to this question, whatever the sentence.",
    "no": "Attention check: please answer “No” to this question, whatever the sentence.",
}
MIN_GOLD_WORDS = 4  # a shorter sentence scrambles into too few different orders


@dataclass(frozen=True)
class Candidate:
    """An item a rater could be shown: its group and how many raters hold it already."""

    item: int
    group: str
    load: int = 0


@dataclass(frozen=True)
class Slot:
    """One planned question: the item and which of its models is shown on the left."""

    item: int
    group: str
    left: str = ""


def plan_questions(
    candidates: Sequence[Candidate],
    n: int,
    rng: random.Random,
    *,
    group_loads: dict[str, int] | None = None,
    taken: Counter | None = None,
    sides: bool = False,
) -> list[Slot]:
    """At most `n` slots from `candidates`, evenly over their groups, shuffled.

    `group_loads` (answers and reservations per group in the whole survey) decides which groups
    get the questions that do not divide evenly; `taken` counts the groups this rater already
    answered, so a plan drawn again stays even. With `sides`, each slot says which of the
    item's models goes on the left (pairwise).
    """
    group_loads = group_loads or {}
    taken = taken or Counter()
    by_group: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_group.setdefault(candidate.group, []).append(candidate)
    ties = {group: rng.random() for group in sorted(by_group)}
    quota = Counter({group: 0 for group in by_group})
    for _ in range(n):
        open_groups = [g for g in by_group if quota[g] < len(by_group[g])]
        if not open_groups:
            break
        group = min(
            open_groups,
            key=lambda g: (taken[g] + quota[g], group_loads.get(g, 0) + quota[g], ties[g]),
        )
        quota[group] += 1
    slots = []
    for group in sorted(by_group):
        ranked = sorted(by_group[group], key=lambda c: (c.load, rng.random()))
        slots += [Slot(c.item, group) for c in ranked[: quota[group]]]
    if sides:
        slots = _with_sides(slots, rng)
    rng.shuffle(slots)
    return slots


def _with_sides(slots: list[Slot], rng: random.Random) -> list[Slot]:
    """Half of each group's slots with model 1 on the left; the odd ones balanced overall."""
    by_group: dict[str, list[Slot]] = {}
    for slot in slots:
        by_group.setdefault(slot.group, []).append(slot)
    odd_groups = [g for g in sorted(by_group) if len(by_group[g]) % 2]
    extras = [MODEL_1, MODEL_2] * (len(odd_groups) // 2 + 1)
    extras = extras[: len(odd_groups)]
    rng.shuffle(extras)
    extra_for = dict(zip(odd_groups, extras, strict=True))
    out = []
    for group in sorted(by_group):
        group_slots = by_group[group]
        half = len(group_slots) // 2
        lefts = [MODEL_1] * half + [MODEL_2] * half
        if group in extra_for:
            lefts.append(extra_for[group])
        rng.shuffle(lefts)
        out += [Slot(s.item, s.group, left) for s, left in zip(group_slots, lefts, strict=True)]
    return out


def place_checks(n_questions: int, checks: Sequence[str], rng: random.Random) -> list[str | None]:
    """The order of one rater's pages: ``None`` for a question, a check's kind where it goes.

    Checks take random positions among the ``n_questions + len(checks)`` pages.
    """
    total = n_questions + len(checks)
    at = rng.sample(range(total), len(checks))
    order: list[str | None] = [None] * total
    for position, kind in zip(at, checks, strict=True):
        order[position] = kind
    return order


def scramble(sentence: str, rng: random.Random) -> str:
    """The same words in another order (a word salad), or ``""`` when no other order exists."""
    words = sentence.split()
    if len(set(words)) < 2:
        return ""
    while True:
        shuffled = words[:]
        rng.shuffle(shuffled)
        if shuffled != words:
            return " ".join(shuffled)


@dataclass(frozen=True)
class CheckMaterial:
    """What an attention check shows and the answer a careful rater gives."""

    prompt: str
    text_left: str
    text_right: str
    expected: str


def check_material(
    kind: str, *, pairwise: bool, item: Item | ItemTexts, rng: random.Random
) -> CheckMaterial | None:
    """An instructed check or gold question built from `item`'s sentences (None if unfit).

    Instructed: the question tells the rater what to answer (Prolific's rule). Gold, pairwise:
    the input copied verbatim against its words scrambled (the verbatim copy is the better
    reconstruction); gold, meaningfulness: a word salad of a real sentence (it makes no sense).
    """
    if kind == Assignment.Kind.INSTRUCTED:
        if pairwise:
            expected = rng.choice([LEFT, RIGHT])
            left, right = (
                (item.text_1, item.text_2)
                if rng.random() < 0.5
                else (
                    item.text_2,
                    item.text_1,
                )
            )
            return CheckMaterial(INSTRUCTED_PROMPTS[expected], left, right, expected)
        expected = rng.choice(["yes", "no"])
        return CheckMaterial(INSTRUCTED_PROMPTS[expected], item.text_1, "", expected)
    sentence = item.source if pairwise else item.text_1
    if len(sentence.split()) < MIN_GOLD_WORDS:
        return None
    salad = scramble(sentence, rng)
    if not salad:
        return None
    if not pairwise:
        return CheckMaterial("", salad, "", "no")
    expected = rng.choice([LEFT, RIGHT])
    left, right = (sentence, salad) if expected == LEFT else (salad, sentence)
    return CheckMaterial("", left, right, expected)


def release_expired(survey: Survey, now: datetime) -> int:
    """Give back the unanswered questions of raters silent past the reservation; how many.
    (Run under the survey's lock with every plan: one DELETE, its SQL built once.)"""
    cutoff = now - timedelta(minutes=survey.reservation_minutes)
    last_seen = Rater._meta.get_field("last_seen_at").get_db_prep_value(cutoff, connection)
    with connection.cursor() as cursor:
        cursor.execute(_release_sql(), [survey.pk, last_seen])
        return cursor.rowcount


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


@functools.cache
def _release_sql() -> str:
    quote = connection.ops.quote_name
    raters = (
        f"SELECT {quote(Rater._meta.pk.column)} FROM {quote(Rater._meta.db_table)} "
        f"WHERE {_column(Rater, 'survey')} = %s AND {_column(Rater, 'finished_at')} IS NULL "
        f"AND {_column(Rater, 'last_seen_at')} < %s"
    )
    return (
        f"DELETE FROM {quote(Assignment._meta.db_table)} "
        f"WHERE {_column(Assignment, 'answered_at')} IS NULL "
        f"AND {_column(Assignment, 'rater')} IN ({raters})"
    )


@functools.cache
def _items_sql() -> str:
    """Every item of a survey with the texts a check is built from, and its load (the
    questions planned with it, answered or reserved), in id order."""
    quote = connection.ops.quote_name
    names = ("model_1", "model_2", "source", "text_1", "text_2")
    columns = ", ".join(f"i.{_column(Item, name)}" for name in names)
    load = (
        f"SELECT count(*) FROM {quote(Assignment._meta.db_table)} a "
        f"WHERE a.{_column(Assignment, 'item')} = i.{quote(Item._meta.pk.column)} "
        f"AND a.{_column(Assignment, 'kind')} = %s"
    )
    return (
        f"SELECT i.{quote(Item._meta.pk.column)}, {columns}, ({load}) "
        f"FROM {quote(Item._meta.db_table)} i WHERE i.{_column(Item, 'survey')} = %s "
        f"ORDER BY i.{quote(Item._meta.pk.column)}"
    )


def _group(model_1: str, model_2: str, pairwise: bool) -> str:
    return " vs ".join(sorted((model_1, model_2))) if pairwise else model_1


class ItemTexts(NamedTuple):
    """What a check is built from (:func:`check_material` reads these as an item's)."""

    pk: int
    source: str
    text_1: str
    text_2: str


def _candidates(
    survey: Survey, slots: list[Assignment]
) -> tuple[list[Candidate], dict[str, int], list[ItemTexts]]:
    """The items a rater with these pages (`slots`) may still get, each with its load; the loads
    per group; every item's texts, for the checks (in id order). Read as values, not model
    instances: this runs under the survey's lock, once per rater, over every item."""
    with connection.cursor() as cursor:
        cursor.execute(_items_sql(), [Assignment.Kind.QUESTION.value, survey.pk])
        rows = cursor.fetchall()  # (id, model_1, model_2, source, text_1, text_2, load)
    pairwise = survey.is_pairwise
    groups = {row[0]: _group(row[1], row[2], pairwise) for row in rows}
    group_loads: Counter = Counter()
    for pk, *_, load in rows:
        group_loads[groups[pk]] += load
    seen = {s.item_id for s in slots if s.item_id is not None}
    limit = survey.overlap
    candidates = [
        Candidate(pk, groups[pk], load)
        for pk, *_, load in rows
        if pk not in seen and (limit is None or load < limit)
    ]
    return candidates, dict(group_loads), [ItemTexts(row[0], *row[3:6]) for row in rows]


def rater_slots(rater: Rater) -> list[Assignment]:
    """The rater's planned pages (questions and checks) in page order, with their items."""
    return list(rater.assignments.select_related("item").order_by("position"))


def plan_needed(*, pending: bool, answered_questions: int, cap: int) -> bool:
    """Whether (the rest of) a plan must be drawn: no page left to answer (a page pending holds
    its reservation) and fewer questions answered than the cap."""
    return not pending and answered_questions < cap


def _needs_plan(survey: Survey, slots: list[Assignment]) -> bool:
    return plan_needed(
        pending=any(s.answered_at is None for s in slots),
        answered_questions=sum(not s.is_check for s in slots),
        cap=survey.cap_per_rater,
    )


def ensure_plan(rater: Rater, now: datetime, *, new: bool = False) -> bool:
    """Give `rater` the rest of their plan (all of it on their first visit) if they need it:
    no page left to answer and fewer answers than the cap. Whether they have pages at all.

    Drawing a plan locks the survey row (PostgreSQL; SQLite serialises writers), so concurrent
    raters see each other's reservations and the balance holds. Callers check first, without
    the lock, that a plan is needed (:class:`surveys.rater_sql.Progress`): the survey is locked
    once per rater (again only for one whose reservations expired), not on every page.
    `new`: the rater was created in the caller's transaction, so has no pages yet.
    """
    with transaction.atomic():
        # (Its material, how the items were made, is JSON a plan does not read.)
        survey = Survey.objects.select_for_update().defer("material").get(pk=rater.survey_id)
        release_expired(survey, now)
        # Read under the lock: another request may have planned (not for a rater no other
        # request can see yet).
        slots = [] if new else rater_slots(rater)
        if not _needs_plan(survey, slots):
            return bool(slots)
        answered = [s for s in slots if s.answered_at]
        answered_questions = [s for s in answered if not s.is_check]
        need = survey.cap_per_rater - len(answered_questions)
        rng = random.Random(f"{rater.plan_seed}:{len(answered)}")
        candidates, group_loads, texts = _candidates(survey, slots)
        taken = Counter(
            _group(s.item.model_1, s.item.model_2, survey.is_pairwise) for s in answered_questions
        )
        planned = plan_questions(
            candidates, need, rng, group_loads=group_loads, taken=taken,
            sides=survey.is_pairwise,
        )  # fmt: skip
        if not planned:
            return bool(slots)
        done = Counter(s.kind for s in answered if s.is_check)
        checks = [Assignment.Kind.INSTRUCTED] * (survey.instructed_checks - done["instructed"])
        checks += [Assignment.Kind.GOLD] * (survey.gold_checks - done["gold"])
        start = max((s.position for s in slots), default=0) + 1
        Assignment.objects.bulk_create(
            _slots(survey, rater, planned, place_checks(len(planned), checks, rng), texts, rng,
                   start)
        )  # fmt: skip
    return True


def _slots(
    survey: Survey,
    rater: Rater,
    planned: list[Slot],
    order: list[str | None],
    texts: list[ItemTexts],
    rng: random.Random,
    start: int,
) -> Iterable[Assignment]:
    questions = iter(planned)
    position = start
    for kind in order:
        if kind is None:
            slot = next(questions)
            yield Assignment(rater=rater, position=position, item_id=slot.item, left=slot.left)
            position += 1
            continue
        material = _check_for(kind, survey, texts, rng)
        if material is None:
            continue  # no item fit for a gold question (every sentence too short)
        yield Assignment(
            rater=rater, position=position, kind=kind, prompt=material.prompt,
            text_left=material.text_left, text_right=material.text_right,
            expected=material.expected,
        )  # fmt: skip
        position += 1


def _check_for(kind: str, survey: Survey, texts: list[ItemTexts], rng: random.Random):
    """A check built from a random item of the survey that suits it (None if none does)."""
    for item in rng.sample(texts, len(texts)):
        material = check_material(kind, pairwise=survey.is_pairwise, item=item, rng=rng)
        if material is not None and (material.text_left or material.text_right):
            return material
    return None


def planned_positions(rater: Rater) -> int:
    """How many pages the rater's plan has now (questions and checks)."""
    return rater.assignments.aggregate(n=Max("position"))["n"] or 0
