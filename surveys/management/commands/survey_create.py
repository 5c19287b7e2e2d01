"""``manage.py survey_create NAME --kind pairwise|meaningfulness (--runs ID … | --items FILE)``.

Makes a draft survey: its items decoded from finished runs or read from an items CSV
(:mod:`surveys.material`), its design (cap, overlap, attention checks, the exclusion rule to
declare, the crowd platform), and with ``--open`` opens it to raters. Prints a summary with
the rater link, or with ``--json`` one JSON object. A refused request is a one-line error (an
items CSV lists its bad lines) and stores nothing.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from surveys import material, services
from surveys.imports import KIND_NAMES
from surveys.models import DEFAULT_CAP, Survey, new_seed

SURVEY_EXISTS = "A survey named {name!r} exists already; choose another name."
RUNS_ONLY = "{option} applies to --runs only (an items CSV brings its own items)."


def whole_number(minimum: int):
    """argparse type: a whole number of at least `minimum`."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return number

    return parse


def seconds(value: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return number


class Command(BaseCommand):
    help = "Create a blind survey from finished runs or an items CSV (a draft; --open opens it)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="survey name (for the researcher; raters see --title)")
        parser.add_argument("--kind", required=True, choices=["pairwise", "meaningfulness"])
        _material_arguments(parser)
        _design_arguments(parser)
        _platform_arguments(parser)
        parser.add_argument("--open", action="store_true", help="open the survey to raters now")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON object"
        )

    def handle(self, *args, **options):
        name, kind = options["name"].strip(), material.survey_kind(options["kind"])
        if Survey.objects.filter(name=name).exists():
            raise CommandError(SURVEY_EXISTS.format(name=name))
        seed = new_seed() if options["seed"] is None else options["seed"]
        try:
            made = self._material(kind, seed, options)
        except services.SurveyError as error:
            raise CommandError(str(error)) from None
        design = services.Design(
            cap=options["cap"],
            overlap=options["overlap"],
            instructed_checks=options["attention_checks"],
            gold_checks=options["gold_checks"],
            seed=seed,
            title=options["title"],
            exclude_failed_instructed=options["exclude_failed_checks"],
            exclude_failed_gold=options["exclude_failed_gold"],
            exclude_median_seconds=options["exclude_median_seconds"],
            platform=options["platform"]
            or (Survey.Platform.PROLIFIC if options["completion_code"] else Survey.Platform.NONE),
            participant_parameter=options["participant_param"],
            completion_url=options["completion_url"],
            completion_code=options["completion_code"],
            material=made.provenance,
        )
        try:
            with transaction.atomic():
                survey = services.survey_create(
                    name=name, kind=kind, items=made.items, design=design
                )
                if options["open"]:
                    survey = services.survey_open(survey)
        except services.SurveyError as error:
            material.material_discard(made)
            raise CommandError(str(error)) from None
        summary = _summary(survey, made)
        if options["as_json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(_text(survey, summary))

    @staticmethod
    def _material(kind: Survey.Kind, seed: int, options: dict[str, Any]) -> material.Material:
        if options["items"]:
            for option in ("per_model", "comparison", "beam"):
                if options[option] is not None:
                    raise services.SurveyError(
                        RUNS_ONLY.format(option="--" + option.replace("_", "-"))
                    )
            return material.items_from_csv(kind, options["items"])
        runs = material.runs_from_ids(options["runs"])
        return material.items_from_runs(
            kind,
            runs,
            options["per_model"] or material.DEFAULT_PER_MODEL,
            seed,
            comparisons=[tuple(pair) for pair in options["comparison"] or ()] or None,
            beam=options["beam"],
        )


def _material_arguments(parser) -> None:
    """Where the items come from: runs (and how they are decoded) or an items CSV."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--runs", nargs="+", metavar="ID", help="finished training runs to decode items from"
    )
    source.add_argument(
        "--items",
        metavar="FILE.csv",
        help="items made elsewhere: pairwise item,source,model_1,text_1,model_2,text_2; "
        "meaningfulness item,model,sentence",
    )
    parser.add_argument(
        "--per-model",
        type=whole_number(1),
        metavar="N",
        help="items per comparison (pairwise) or per model (meaningfulness), "
        f"default {material.DEFAULT_PER_MODEL}",
    )
    parser.add_argument(
        "--comparison",
        nargs=2,
        action="append",
        metavar=("MODEL_1", "MODEL_2"),
        help="pairwise: compare these two runs (id or label; model 1 first), repeatable; "
        "default: the paper's three for the four paper models, else every pair",
    )
    parser.add_argument("--beam", type=whole_number(1), help="beam width (default: the decoder's)")
    parser.add_argument(
        "--seed", type=whole_number(0), help="seeds inputs, decoding and plans (default: new)"
    )


def _design_arguments(parser) -> None:
    """The survey's design: cap, overlap, checks and the exclusion rule."""
    parser.add_argument(
        "--cap",
        type=whole_number(1),
        default=DEFAULT_CAP,
        help=f"the most questions one rater answers (default {DEFAULT_CAP})",
    )
    parser.add_argument(
        "--overlap", type=whole_number(1), metavar="K", help="the most raters per item"
    )
    parser.add_argument(
        "--attention-checks",
        type=whole_number(0),
        default=0,
        metavar="N",
        help="instructed attention checks per rater",
    )
    parser.add_argument(
        "--gold-checks", type=whole_number(0), default=0, metavar="N",
        help="gold questions per rater",
    )  # fmt: skip
    parser.add_argument(
        "--exclude-failed-checks",
        type=whole_number(1),
        metavar="N",
        help="exclusion rule: a rater failing N instructed checks",
    )
    parser.add_argument(
        "--exclude-failed-gold",
        type=whole_number(1),
        metavar="N",
        help="exclusion rule: a rater failing N gold questions",
    )
    parser.add_argument(
        "--exclude-median-seconds",
        type=seconds,
        metavar="S",
        help="exclusion rule: a rater whose median seconds per question is below S",
    )


def _platform_arguments(parser) -> None:
    """What raters see and where they come from: the title and the crowd platform."""
    parser.add_argument("--title", default="", help="what raters see (never a model name)")
    parser.add_argument(
        "--platform",
        choices=Survey.Platform.values,
        help="crowd platform (default: prolific with --prolific-code, else none)",
    )
    parser.add_argument(
        "--prolific-code",
        "--completion-code",
        dest="completion_code",
        default="",
        metavar="CODE",
        help="the completion code a finished rater gets (default: generated)",
    )
    parser.add_argument(
        "--participant-param",
        default="",
        metavar="P",
        help="the URL parameter carrying the participant id (another platform)",
    )
    parser.add_argument(
        "--completion-url",
        default="",
        metavar="URL",
        help="where a finished rater goes ({code} becomes the completion code)",
    )


def _summary(survey: Survey, made: material.Material) -> dict[str, Any]:
    provenance = made.provenance
    summary: dict[str, Any] = {
        "survey": survey.pk,
        "name": survey.name,
        "kind": KIND_NAMES[survey.kind],
        "items": survey.items.count(),
        "status": survey.status,
        "url": services.survey_link(survey),
        "seed": survey.seed,
        "cap": survey.cap_per_rater,
        "overlap": survey.overlap,
        "attention_checks": survey.instructed_checks,
        "gold_checks": survey.gold_checks,
        "platform": survey.platform,
        "exclusion_rule": survey.exclusion_rule,
        "exclusion_rule_hash": survey.exclusion_rule_hash,
        "source": provenance.get("source"),
    }
    for key in (
        "per_comparison", "comparisons", "skipped_identical", "skipped_empty", "short",
        "per_model", "wanted_per_model", "dropped_by_filter", "note",
    ):  # fmt: skip
        if key in provenance:
            summary[key] = provenance[key]
    summary["runs"] = [
        {"id": run["id"], "label": run["label"]} for run in provenance.get("runs", ())
    ]
    summary["material"] = provenance
    return summary


def _text(survey: Survey, summary: dict[str, Any]) -> str:
    lines = [
        f"Survey {survey.name!r} (id {survey.pk}): {survey.get_kind_display()}, "
        f"{summary['items']} items, {survey.status}."
    ]
    for comparison in summary.get("comparisons", ()):
        skipped = comparison.get("skipped_identical")
        lines.append(
            f"  {comparison['model_1']} vs {comparison['model_2']}: {comparison['items']} items"
            + (f" ({skipped} identical pairs skipped)" if skipped else "")
            + (f", {comparison['short']} short of N" if comparison.get("short") else "")
        )
    if survey.kind == Survey.Kind.MEANINGFULNESS:
        for run in summary["material"].get("runs", ()):
            lines.append(f"  {run['label']} (run {run['id']}): {summary['per_model']} sentences")
    if summary.get("note"):
        lines.append(f"  Note: {summary['note']}")
    checks = f"{survey.instructed_checks} attention checks, {survey.gold_checks} gold questions"
    overlap = f", at most {survey.overlap} raters per item" if survey.overlap else ""
    lines.append(
        f"  Design: at most {survey.cap_per_rater} questions per rater{overlap}; {checks}."
    )
    if survey.exclusion_rule:
        lines.append(
            f"  Exclusion rule: {survey.exclusion_rule} (sha256 {survey.exclusion_rule_hash})"
        )
    lines.append(f"  Rater link: {summary['url']}")
    if survey.status == Survey.Status.DRAFT:
        lines.append(f"  Open it with: manage.py survey_status {survey.name!r} --open")
    return "\n".join(lines)
