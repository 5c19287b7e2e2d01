"""Reads for the reports: aggregate queries that the database answers in one pass.

A report never loads answers as model instances: the database counts them per model (pair),
rater and answer, and only those few thousand counts travel to Python. The counts per rater
are what the rater-clustered bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from surveys.exclusion import RULE_MARK
from surveys.models import Assignment, Item, Rater, Response, Survey
from surveys.progress import GroupProgress, SurveyProgress

PAIRWISE_COUNT_COLUMNS = [
    "rater", "model_1", "model_2", "wins_1", "wins_2", "discarded", "left_wins", "left_n",
]  # fmt: skip
MEANINGFULNESS_COUNT_COLUMNS = ["rater", "model", "bucket", "k", "n"]
# The reports group by rater first: most rows then compare on an integer, not on model names
# (a third faster on PostgreSQL at a million answers).
SHORT, LONG, UNKNOWN_LENGTH = "short", "long", "unknown"
# Raw answers travel in chunks of this many rows (server-side cursor on PostgreSQL).
ANSWERS_CHUNK = 10_000
ANSWER_FIELDS = (
    "pk", "rater__external_id", "rater__excluded", "item__key", "item__model_1", "item__model_2",
    "item__length", "answer", "left", "response_ms", "created_at",
)  # fmt: skip


def survey_pairwise_counts(*, survey: Survey) -> pd.DataFrame:
    """Per (model_1, model_2, rater) as the items store them, counts of answers by kind.

    ``wins_1``, ``wins_2`` and ``discarded`` count the answers; ``left_n`` counts the decisive
    answers whose left-hand model is known and ``left_wins`` those won by the left-hand model.
    One row per rater and item orientation, so that a rater's answers are resampled together;
    one pass over the answers. Excluded raters are left out.
    """
    answer = Response.Answer
    decisive = Q(answer__in=(answer.MODEL_1, answer.MODEL_2))
    sided = decisive & ~Q(left=Response.Side.UNKNOWN)
    rows = (
        survey.counted_responses()
        .values_list("rater_id", "item__model_1", "item__model_2")
        .annotate(
            wins_1=Count("pk", filter=Q(answer=answer.MODEL_1)),
            wins_2=Count("pk", filter=Q(answer=answer.MODEL_2)),
            discarded=Count("pk", filter=Q(answer=answer.DISCARD)),
            left_wins=Count("pk", filter=sided & Q(answer=F("left"))),
            left_n=Count("pk", filter=sided),
        )
        .order_by()
    )
    return pd.DataFrame(list(rows), columns=PAIRWISE_COUNT_COLUMNS)


def survey_meaningfulness_counts(*, survey: Survey, split: int) -> pd.DataFrame:
    """Per (model, length bucket, rater): answers ``n`` and "makes sense" answers ``k``.

    The bucket is ``short`` for sentences of at most ``split`` words, ``long`` above, and
    ``unknown`` when an item has no length.
    """
    bucket = Case(
        When(item__length__isnull=True, then=Value(UNKNOWN_LENGTH)),
        When(item__length__lte=split, then=Value(SHORT)),
        default=Value(LONG),
        output_field=CharField(),
    )
    rows = (
        survey.counted_responses()
        .annotate(bucket=bucket)
        .values_list("rater_id", "item__model_1", "bucket")
        .annotate(k=Count("pk", filter=Q(answer=Response.Answer.YES)), n=Count("pk"))
        .order_by()
    )
    return pd.DataFrame(list(rows), columns=MEANINGFULNESS_COUNT_COLUMNS)


def survey_pair_orientations(*, survey: Survey) -> list[tuple[str, str]]:
    """Each compared pair once, as (model_1, model_2) of its first item, in first-seen order."""
    first_items = (
        survey.items.exclude(model_2="")
        .values_list("model_1", "model_2")
        .annotate(first=Min("pk"))
        .order_by("first")
    )
    seen: set[frozenset[str]] = set()
    pairs = []
    for model_1, model_2, _ in first_items:
        if frozenset((model_1, model_2)) not in seen:
            seen.add(frozenset((model_1, model_2)))
            pairs.append((model_1, model_2))
    return pairs


def survey_models(*, survey: Survey) -> list[str]:
    """Every model the survey's items name, in the order the survey first met them."""
    firsts: dict[str, int] = {}
    for field in ("model_1", "model_2"):
        for model, first in (
            survey.items.exclude(**{field: ""}).values_list(field).annotate(first=Min("pk"))
        ):
            firsts[model] = min(first, firsts.get(model, first))
    return sorted(firsts, key=firsts.__getitem__)


def survey_progress(*, survey: Survey) -> SurveyProgress:
    """Live progress for the admin: answers per model (meaningfulness) or per comparison
    (pairwise, both orientations of a pair together, in the first item's), raters started,
    finished and excluded, and the median time per question over every timed answer.

    Four aggregate queries, whatever the number of answers or groups.
    """
    answer, counted = Response.Answer, Q(rater__excluded=False)
    rows = (
        survey.responses()
        .values_list("item__model_1", "item__model_2")
        .annotate(
            answers=Count("pk"),
            timed=Count("response_ms"),
            counted=Count("pk", filter=counted),
            wins_1=Count("pk", filter=counted & Q(answer=answer.MODEL_1)),
            wins_2=Count("pk", filter=counted & Q(answer=answer.MODEL_2)),
            discards=Count("pk", filter=counted & Q(answer=answer.DISCARD)),
            yes=Count("pk", filter=counted & Q(answer=answer.YES)),
        )
        .order_by()
    )
    items = (
        survey.items.values_list("model_1", "model_2")
        .annotate(n=Count("pk"), first=Min("pk"))
        .order_by("first")
    )
    groups: dict[frozenset[str], dict] = {}
    for model_1, model_2, n, _ in items:
        group = groups.setdefault(frozenset((model_1, model_2)), _progress_counts(model_1, model_2))
        group["items"] += n
    timed = 0
    for model_1, model_2, *counts in rows:
        group = groups[frozenset((model_1, model_2))]
        n_answers, n_timed, n_counted, wins_1, wins_2, discards, yes = counts
        if model_1 != group["model_1"]:  # the pair stored the other way round
            wins_1, wins_2 = wins_2, wins_1
        for name, value in zip(
            ("answers", "counted", "wins_1", "wins_2", "discards", "yes"),
            (n_answers, n_counted, wins_1, wins_2, discards, yes),
            strict=True,
        ):
            group[name] += value
        timed += n_timed
    raters = survey.raters.aggregate(
        started=Count("pk"),
        finished=Count("pk", filter=Q(finished_at__isnull=False)),
        excluded=Count("pk", filter=Q(excluded=True)),
    )
    progress = [GroupProgress(**group) for group in groups.values()]
    return SurveyProgress(
        groups=progress,
        raters_started=raters["started"],
        raters_finished=raters["finished"],
        raters_excluded=raters["excluded"],
        answers=sum(group.answers for group in progress),
        timed_answers=timed,
        median_ms=_median_response_ms(survey, timed),
    )


def _progress_counts(model_1: str, model_2: str) -> dict:
    zero = dict.fromkeys(("items", "answers", "counted", "wins_1", "wins_2", "discards", "yes"), 0)
    return {"model_1": model_1, "model_2": model_2, **zero}


def _median_response_ms(survey: Survey, timed: int) -> float | None:
    """The median of the `timed` answers' response_ms: the database sorts, two rows travel."""
    if not timed:
        return None
    middle = list(
        survey.responses()
        .filter(response_ms__isnull=False)
        .order_by("response_ms")
        .values_list("response_ms", flat=True)[(timed - 1) // 2 : timed // 2 + 1]
    )
    return sum(middle) / len(middle)


def survey_overview(*, survey: Survey) -> dict[str, int]:
    """Counts for the datasheet and the admin: answers, raters, items, exclusions."""
    responses = survey.responses().aggregate(
        responses=Count("pk"),
        counted=Count("pk", filter=Q(rater__excluded=False)),
        discarded=Count("pk", filter=Q(rater__excluded=False, answer=Response.Answer.DISCARD)),
        with_left=Count("pk", filter=~Q(left="")),
        with_time=Count("pk", filter=Q(response_ms__isnull=False)),
    )
    raters = survey.raters.aggregate(
        raters=Count("pk"), excluded=Count("pk", filter=Q(excluded=True))
    )
    answered = survey.raters.filter(responses__isnull=False).distinct().count()
    return {
        **responses,
        **raters,
        "raters_answering": answered,
        "items": survey.items.count(),
    }


def survey_exclusions(*, survey: Survey) -> list[tuple[str, str, int]]:
    """Excluded raters: (external id, reason, answers left out)."""
    return list(
        survey.raters.filter(excluded=True)
        .annotate(n=Count("responses"))
        .values_list("external_id", "exclusion_reason", "n")
        .order_by("external_id")
    )


def survey_answers(*, survey: Survey) -> Iterator[tuple]:
    """Every answer, excluded raters included, as tuples of ANSWER_FIELDS by id (streamed)."""
    return (
        survey.responses()
        .order_by("pk")
        .values_list(*ANSWER_FIELDS)
        .iterator(chunk_size=ANSWERS_CHUNK)
    )


def surveys_with_counts() -> QuerySet[Survey]:
    """Surveys annotated with ``n_raters``, ``n_items`` and ``n_responses`` (admin list)."""

    def count(queryset: QuerySet, survey_field: str) -> Coalesce:
        counted = (
            queryset.filter(**{survey_field: OuterRef("pk")})
            .order_by()
            .values(survey_field)
            .annotate(c=Count("pk"))
            .values("c")
        )
        return Coalesce(Subquery(counted), 0)

    return Survey.objects.annotate(
        n_raters=count(Rater.objects.all(), "survey"),
        n_items=count(Item.objects.all(), "survey"),
        n_responses=count(Response.objects.all(), "item__survey"),
    )


def survey_checks(*, survey: Survey) -> dict[str, int]:
    """Attention checks answered and failed, per kind, and raters the pre-declared rule
    excluded (for the datasheet; checks never count in the tables)."""
    answered = Assignment.objects.filter(rater__survey=survey, answered_at__isnull=False).exclude(
        kind=Assignment.Kind.QUESTION
    )
    counts = answered.aggregate(
        instructed=Count("pk", filter=Q(kind=Assignment.Kind.INSTRUCTED)),
        instructed_failed=Count(
            "pk", filter=Q(kind=Assignment.Kind.INSTRUCTED) & ~Q(answer=F("expected"))
        ),
        gold=Count("pk", filter=Q(kind=Assignment.Kind.GOLD)),
        gold_failed=Count("pk", filter=Q(kind=Assignment.Kind.GOLD) & ~Q(answer=F("expected"))),
    )
    counts["excluded_by_rule"] = survey.raters.filter(
        excluded=True, exclusion_reason__endswith=RULE_MARK
    ).count()
    return counts
