"""The survey lifecycle and a rater's way through it: one function per action.

Researchers: :func:`survey_create` (a draft with its items), :func:`survey_open` (fixes the
exclusion rule), :func:`survey_close`. Raters: :func:`rater_start` (consent, or back to one's
own session), :func:`rater_next` (the next unanswered page, planned on first use),
:func:`rater_answer` (exactly once), and the completion code once the last answer is stored.

Views and commands stay thin: they call these and show what comes back. Errors a person can act
on are :class:`SurveyError` with a one-line message.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from surveys import rater_sql
from surveys.assignment import LEFT, RIGHT, ensure_plan
from surveys.exclusion import ExclusionRule
from surveys.models import Assignment, Item, Rater, Response, Survey, new_seed
from surveys.rater_sql import (
    Progress,
    insert,
    locked_slot,
    mark_shown,
    rater_progress,
    save_answer,
    store_answer,
)

MAX_EXTERNAL_ID = 200
PAIRWISE_CHOICES = (LEFT, RIGHT, "discard")
MEANINGFULNESS_CHOICES = ("yes", "no")
# What a page's "q" field may be: 1..this (a rater's pages are numbered from 1).
MAX_POSITION = 10_000
# A rater's last_seen_at is written at most this often: a write per page was a third of a page's
# queries, and reservations count in minutes (the shortest is one), so it stays well inside one.
LAST_SEEN_EVERY = timedelta(seconds=10)


class SurveyError(Exception):
    """A request the survey cannot take, with a message for the person who made it."""


class SurveyUnavailable(SurveyError):
    """The survey is a draft, closed, or has no question left for a new rater."""


@dataclass(frozen=True)
class ItemSpec:
    """One item to create: pairwise (source, two models' texts) or meaningfulness (one)."""

    key: str
    model_1: str
    text_1: str
    model_2: str = ""
    text_2: str = ""
    source: str = ""
    length: int | None = None


@dataclass(frozen=True)
class Design:
    """How a survey is run: the cap, overlap, checks, exclusion rule and crowd platform."""

    cap: int = 20
    overlap: int | None = None
    instructed_checks: int = 0
    gold_checks: int = 0
    seed: int | None = None
    title: str = ""
    question: str = ""
    instructions: str = ""
    reservation_minutes: int | None = None
    exclude_failed_instructed: int | None = None
    exclude_failed_gold: int | None = None
    exclude_median_seconds: float | None = None
    platform: str = Survey.Platform.NONE
    participant_parameter: str = ""
    completion_url: str = ""
    completion_code: str = ""
    material: dict[str, Any] = field(default_factory=dict)


def survey_create(*, name: str, kind: str, items: Sequence[ItemSpec], design: Design) -> Survey:
    """A draft survey holding `items`; refused whole if the name is taken or nothing fits."""
    name = name.strip()
    if not name:
        raise SurveyError("The survey needs a name.")
    if kind not in Survey.Kind.values:
        raise SurveyError(f"Unknown survey kind {kind!r}: expected pairwise or meaningfulness.")
    if not items:
        raise SurveyError("No items: nothing for raters to judge.")
    if design.cap < 1:
        raise SurveyError(f"The cap must be at least 1 question per rater, not {design.cap}.")
    if design.overlap is not None and design.overlap < 1:
        raise SurveyError(f"The overlap must be at least 1 rater per item, not {design.overlap}.")
    survey_check_platform(design)
    pairwise = kind == Survey.Kind.PAIRWISE
    for spec in items:
        if pairwise and not (spec.model_2 and spec.text_1 and spec.text_2):
            raise SurveyError(f"Item {spec.key!r} needs two models and two texts (pairwise).")
        if not pairwise and (spec.model_2 or not spec.text_1):
            raise SurveyError(f"Item {spec.key!r} needs one model and one sentence.")
    fields = {
        "cap_per_rater": design.cap,
        "overlap": design.overlap,
        "instructed_checks": design.instructed_checks,
        "gold_checks": design.gold_checks,
        "seed": new_seed() if design.seed is None else design.seed,
        "question": design.question,
        "instructions": design.instructions,
        "exclude_failed_instructed": design.exclude_failed_instructed,
        "exclude_failed_gold": design.exclude_failed_gold,
        "exclude_median_seconds": design.exclude_median_seconds,
        "platform": design.platform,
        "participant_parameter": design.participant_parameter,
        "completion_url": design.completion_url,
        "material": design.material,
    }
    for optional in ("title", "completion_code", "reservation_minutes"):
        if getattr(design, optional):
            fields[optional] = getattr(design, optional)
    with transaction.atomic():
        if Survey.objects.filter(name=name).exists():
            raise SurveyError(f"A survey named {name!r} exists already; choose another name.")
        survey = Survey.objects.create(name=name, kind=kind, **fields)
        Item.objects.bulk_create(_item(survey, spec, pairwise) for spec in items)
    return survey


def _item(survey: Survey, spec: ItemSpec, pairwise: bool) -> Item:
    length = spec.length
    if length is None and not pairwise:
        length = len(spec.text_1.split())
    return Item(
        survey=survey, key=spec.key, model_1=spec.model_1, model_2=spec.model_2,
        text_1=spec.text_1, text_2=spec.text_2, source=spec.source, length=length,
    )  # fmt: skip


def survey_check_platform(design: Design) -> None:
    """Refuse an unknown platform, or another platform without its participant parameter."""
    if design.platform not in Survey.Platform.values:
        raise SurveyError(f"Unknown platform {design.platform!r}.")
    if design.platform == Survey.Platform.OTHER:
        if not design.participant_parameter:
            raise SurveyError("Another platform needs the URL parameter of the participant id.")
        if design.completion_url and "{code}" not in design.completion_url:
            raise SurveyError("The completion URL must contain {code}.")
    if design.completion_url and not design.completion_url.startswith(("https://", "http://")):
        raise SurveyError("The completion URL must start with https://.")


def exclusion_rule(survey: Survey) -> ExclusionRule:
    return ExclusionRule(
        failed_instructed=survey.exclude_failed_instructed,
        failed_gold=survey.exclude_failed_gold,
        median_seconds=survey.exclude_median_seconds,
    )


def survey_open(survey: Survey) -> Survey:
    """Open a draft (or reopen a closed survey) to raters; the exclusion rule is fixed now."""
    with transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        if not locked.items.exists():
            raise SurveyError(f"Survey {locked.name!r} has no items to show.")
        if locked.status != Survey.Status.OPEN:
            if not locked.exclusion_rule:  # first opening: declare the rule, once
                rule = exclusion_rule(locked)
                locked.exclusion_rule, locked.exclusion_rule_hash = rule.text, rule.digest
            locked.status, locked.opened_at = Survey.Status.OPEN, timezone.now()
            locked.save(
                update_fields=["status", "opened_at", "exclusion_rule", "exclusion_rule_hash"]
            )
    survey.refresh_from_db()
    return survey


def survey_close(survey: Survey) -> Survey:
    """Stop taking raters and answers; what is stored stays."""
    Survey.objects.filter(pk=survey.pk).update(
        status=Survey.Status.CLOSED, closed_at=timezone.now()
    )
    survey.refresh_from_db()
    return survey


def survey_link(survey: Survey) -> str:
    """The absolute rater link to share (``SITE_URL``/s/<token>/); crowd platforms append their
    participant parameter (Prolific: ``?PROLIFIC_PID={{%PROLIFIC_PID%}}&...``)."""
    return f"{settings.SITE_URL}/s/{survey.token}/"


def survey_check_open(survey: Survey) -> None:
    """Refuse a draft or closed survey, saying so in words a rater reads (`SurveyUnavailable`)."""
    if survey.status == Survey.Status.DRAFT:
        raise SurveyUnavailable("This survey has not opened yet. Please come back later.")
    if survey.status == Survey.Status.CLOSED:
        raise SurveyUnavailable("This survey has closed. Thank you for your interest.")


def rater_start(
    survey: Survey, *, external_id: str = "", platform_data: dict | None = None, token: str = ""
) -> Rater:
    """The rater for this participant: their own session if they started before, else a new
    one with its plan. `token` makes a repeated consent (a double click) find its rater."""
    survey_check_open(survey)
    external_id = external_id.strip()[:MAX_EXTERNAL_ID]
    existing = _existing_rater(survey, external_id, token)
    if existing:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            rater = Rater.objects.create(
                survey=survey,
                external_id=external_id or f"anonymous-{secrets.token_hex(5)}",
                token=token or Rater._meta.get_field("token").default(),
                platform_data=platform_data or {},
                plan_seed=new_seed(),
                created_at=now,
                last_seen_at=now,
            )
            if not ensure_plan(rater, now, new=True):
                raise SurveyUnavailable(
                    "This survey has all the answers it needs. Thank you for your interest."
                )
    except IntegrityError:  # the same participant (or consent) arrived twice at once
        existing = _existing_rater(survey, external_id, token)
        if existing is None:
            raise
        return existing
    return rater


def rater_by_token(token: str) -> Rater | None:
    """The rater with this token, with their survey (one query), or None."""
    return rater_sql.rater_by_token(token)


def rater_with_progress(token: str) -> tuple[Rater, Progress] | None:
    """The rater with this token, with their survey and their progress (one query: what a
    question page or an answer starts from), or None."""
    return rater_sql.rater_with_progress(token)


def _existing_rater(survey: Survey, external_id: str, token: str) -> Rater | None:
    if external_id:
        found = survey.raters.filter(external_id=external_id).order_by().first()
        if found:
            return found
    if token:
        return survey.raters.filter(token=token).order_by().first()
    return None


@dataclass(frozen=True)
class Page:
    """What a rater sees next: a question (or check), or the end of their survey."""

    slot: Assignment | None
    number: int  # 1-based page number of this question
    total: int

    @property
    def finished(self) -> bool:
        return self.slot is None


def rater_next(rater: Rater, progress: Progress | None = None) -> Page:
    """The rater's next unanswered page, planning it first if needed; marks it shown.
    `progress`: the rater's, read in this request with nothing written since."""
    survey = rater.survey
    now = timezone.now()
    progress = progress or rater_progress(rater)
    if rater.finished_at is None:
        survey_check_open(survey)
        if progress.needs_plan(survey.cap_per_rater):
            ensure_plan(rater, now)  # (again) under the survey's lock: once per rater
            progress = rater_progress(rater)
    _seen(rater, now)
    slot = progress.current
    if slot is None:
        _finish(rater, now)
        return Page(None, progress.total, progress.total)
    if slot.shown_at is None:
        mark_shown(slot, now)
    return Page(slot, progress.answered + 1, progress.total)


def rater_answer(
    rater: Rater, position: int, choice: str, progress: Progress | None = None
) -> bool:
    """Store the rater's answer to page `position`; False if it was answered already (a double
    click, a second tab, the back button): the first answer stands and nothing changes.
    `progress`: as for :func:`rater_next`."""
    return _answer(rater, position, choice, progress, show_next=False)[0]


def rater_answer_next(
    rater: Rater, position: int, choice: str, progress: Progress | None = None
) -> Page:
    """Store the answer as :func:`rater_answer` does, then the rater's next page (rater.js asks
    for both in one request). The usual case, an answer to the current page with another after
    it, takes two queries: the rater's pages read, then the answer stored and the next page
    marked shown in one statement (``rater_sql.store_answer``)."""
    _, page = _answer(rater, position, choice, progress, show_next=True)
    return page if page is not None else rater_next(rater)


def _answer(
    rater: Rater, position: int, choice: str, progress: Progress | None, *, show_next: bool
) -> tuple[bool, Page | None]:
    """Whether the answer was stored, and the next page when it came with it."""
    survey = rater.survey
    survey_check_open(survey)
    now = timezone.now()
    progress = progress or rater_progress(rater)
    slot = progress.current
    if slot is None or slot.position != position:  # not the current page: decided under a lock
        return _answer_locked(rater, position, choice, now), None
    response = _answered(slot, choice, now)
    show = progress.following if show_next else None
    if show is not None:
        show.shown_at = show.shown_at or now  # stored unless it was shown before
    if not store_answer(slot, response, show):  # answered meanwhile (a double click), or gone
        return _answer_locked(rater, position, choice, now), None
    _seen(rater, now)
    if show is None:
        return True, None
    return True, Page(show, progress.answered + 2, progress.total)


def _answer_locked(rater: Rater, position: int, choice: str, now: datetime) -> bool:
    """:func:`rater_answer` for any page: its slot read under a lock first."""
    with transaction.atomic():
        slot = locked_slot(rater, position)
        if slot is None:
            raise SurveyError("This question is not part of your survey.")
        if slot.answered_at is not None:
            return False
        response = _answered(slot, choice, now)
        if response is not None:
            insert(response)
        save_answer(slot)
        _seen(rater, now)
    return True


def _answered(slot: Assignment, choice: str, now: datetime) -> Response | None:
    """Set the answer's fields on the unanswered `slot`; the response to store with it (None
    for a check, whose answer is the slot's own). A choice the page does not offer is refused."""
    survey = slot.rater.survey
    allowed = PAIRWISE_CHOICES if survey.is_pairwise else MEANINGFULNESS_CHOICES
    if choice not in allowed:
        raise SurveyError(f"Please choose one of the answers ({', '.join(allowed)}).")
    slot.response_ms = _elapsed_ms(slot.shown_at, now)
    slot.answered_at = now
    if slot.is_check:
        slot.answer = choice
        return None
    return Response(
        rater=slot.rater, item_id=slot.item_id, answer=_stored_answer(slot, choice),
        left=slot.left, response_ms=slot.response_ms, created_at=now,
    )  # fmt: skip


def _seen(rater: Rater, now: datetime) -> None:
    """Record that the rater is here (at most every LAST_SEEN_EVERY; see release_expired)."""
    if rater.last_seen_at is None or now - rater.last_seen_at >= LAST_SEEN_EVERY:
        Rater.objects.filter(pk=rater.pk).update(last_seen_at=now)
        rater.last_seen_at = now


def _stored_answer(slot: Assignment, choice: str) -> str:
    """The answer as the reports read it: which model won, not which side."""
    if choice in MEANINGFULNESS_CHOICES or choice == "discard":
        return choice
    if choice == LEFT:
        return slot.left
    return Response.Side.MODEL_2 if slot.left == Response.Side.MODEL_1 else Response.Side.MODEL_1


def _elapsed_ms(shown_at, now) -> int | None:
    if shown_at is None:
        return None
    return max(0, round((now - shown_at).total_seconds() * 1000))


def _finish(rater: Rater, now) -> None:
    """Mark the rater finished (once) and apply the survey's pre-declared exclusion rule."""
    with transaction.atomic():
        locked = Rater.objects.select_for_update().only("finished_at", "excluded").get(pk=rater.pk)
        if locked.finished_at is not None:
            return
        slots = list(rater.assignments.order_by())  # no join for the default ordering
        checks = [s for s in slots if s.is_check]
        reason = exclusion_rule(rater.survey).verdict(
            failed_instructed=sum(
                s.passed is False for s in checks if s.kind == Assignment.Kind.INSTRUCTED
            ),
            failed_gold=sum(s.passed is False for s in checks if s.kind == Assignment.Kind.GOLD),
            response_ms=[s.response_ms for s in slots if not s.is_check and s.response_ms],
        )
        changes = {"finished_at": now}
        if reason and not locked.excluded:
            changes.update(excluded=True, exclusion_reason=reason)
        Rater.objects.filter(pk=rater.pk).update(**changes)
    for name, value in changes.items():
        setattr(rater, name, value)


def completion_code(rater: Rater) -> str:
    """The survey's completion code, only for a rater whose every answer is stored."""
    rater.refresh_from_db(fields=["finished_at"])
    if rater.finished_at is None:
        raise SurveyError("The survey is not finished yet.")
    return rater.survey.completion_code


def rater_exclude(rater: Rater, reason: str) -> None:
    """A researcher leaves a rater out of every report, saying why."""
    rater.exclude(reason.strip() or "excluded by the researcher")
