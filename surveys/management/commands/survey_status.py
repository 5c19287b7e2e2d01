"""``manage.py survey_status NAME [--open | --close] [--json]``.

Shows a survey's state and progress: kind, status, items, raters started / finished /
excluded, answers, the rater link and the exclusion rule (with its hash once the survey has
opened); ``--open`` and ``--close`` change the state first (:func:`surveys.services.survey_open`,
:func:`~surveys.services.survey_close`).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from surveys import selectors, services
from surveys.imports import KIND_NAMES
from surveys.models import Survey

UNKNOWN_SURVEY = "No survey named {name!r}. Surveys: {names}."


class Command(BaseCommand):
    help = "Show a survey's state and progress; --open or --close changes the state first."

    def add_arguments(self, parser):
        parser.add_argument("name", help="survey name")
        change = parser.add_mutually_exclusive_group()
        change.add_argument(
            "--open", action="store_true", dest="open_survey", help="open (or reopen) to raters"
        )
        change.add_argument(
            "--close",
            action="store_true",
            dest="close_survey",
            help="stop taking raters and answers",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON object"
        )

    def handle(self, *args, name: str, open_survey: bool, close_survey: bool, as_json: bool, **_):
        survey = Survey.objects.filter(name=name).first()
        if survey is None:
            names = ", ".join(repr(n) for n in Survey.objects.values_list("name", flat=True))
            raise CommandError(UNKNOWN_SURVEY.format(name=name, names=names or "none yet"))
        try:
            if open_survey:
                survey = services.survey_open(survey)
            elif close_survey:
                survey = services.survey_close(survey)
        except services.SurveyError as error:
            raise CommandError(str(error)) from None
        status = survey_status(survey)
        if as_json:
            self.stdout.write(json.dumps(status))
        else:
            self.stdout.write(_text(status))


def survey_status(survey: Survey) -> dict[str, Any]:
    """The survey's state and progress as JSON-ready values."""
    progress = selectors.survey_progress(survey=survey)
    return {
        "survey": survey.pk,
        "name": survey.name,
        "kind": KIND_NAMES[survey.kind],
        "status": survey.status,
        "items": sum(group.items for group in progress.groups),
        "raters_started": progress.raters_started,
        "raters_finished": progress.raters_finished,
        "raters_excluded": progress.raters_excluded,
        "answers": progress.answers,
        "median_seconds": progress.median_seconds,
        "url": services.survey_link(survey),
        "cap": survey.cap_per_rater,
        "overlap": survey.overlap,
        "attention_checks": survey.instructed_checks,
        "gold_checks": survey.gold_checks,
        "exclusion_rule": survey.exclusion_rule or services.exclusion_rule(survey).text,
        "exclusion_rule_hash": survey.exclusion_rule_hash,
        "exclusion_rule_fixed": bool(survey.exclusion_rule),
        "opened_at": survey.opened_at.isoformat() if survey.opened_at else None,
        "closed_at": survey.closed_at.isoformat() if survey.closed_at else None,
        "groups": [
            {"group": group.label, "items": group.items, "answers": group.answers}
            for group in progress.groups
        ],
    }


def _text(status: dict[str, Any]) -> str:
    median = status["median_seconds"]
    lines = [
        f"Survey {status['name']!r} (id {status['survey']}): {status['kind']}, "
        f"{status['status']}, {status['items']} items.",
        f"  Raters: {status['raters_started']} started, {status['raters_finished']} finished, "
        f"{status['raters_excluded']} excluded; {status['answers']} answers"
        + (f", median {median:.1f} s per question." if median is not None else "."),
    ]
    for group in status["groups"]:
        lines.append(f"  {group['group']}: {group['items']} items, {group['answers']} answers")
    if status["exclusion_rule_fixed"]:
        rule = f"{status['exclusion_rule']} (sha256 {status['exclusion_rule_hash']})"
    else:
        rule = f"{status['exclusion_rule']} (fixed when the survey opens)"
    lines.append(f"  Exclusion rule: {rule}")
    lines.append(f"  Rater link: {status['url']}")
    return "\n".join(lines)
