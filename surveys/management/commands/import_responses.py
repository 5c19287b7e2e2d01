"""``manage.py import_responses FILE.csv --kind pairwise|meaningfulness --survey NAME``.

Imports answers collected elsewhere into a survey (created if absent); the CSV contract is in
:mod:`surveys.imports`. Nothing is written unless the whole file is good.
"""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from surveys.imports import ImportRefused, responses_import


class Command(BaseCommand):
    help = "Import survey answers from a CSV file (all or nothing; re-importing skips answers)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header line, UTF-8")
        parser.add_argument("--kind", required=True, choices=["pairwise", "meaningfulness"])
        parser.add_argument("--survey", required=True, help="survey name (created if absent)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON summary"
        )

    def handle(self, *args, file: str, kind: str, survey: str, as_json: bool, **options):
        try:
            summary = responses_import(survey_name=survey, kind=kind, file=file)
        except ImportRefused as refused:
            raise CommandError(str(refused)) from None
        if as_json:
            self.stdout.write(json.dumps(asdict(summary)))
            return
        self.stdout.write(
            f"Survey {summary.survey!r} ({summary.kind}"
            f"{', created' if summary.survey_created else ''}): {summary.rows} rows, "
            f"{summary.responses_created} answers imported, {summary.responses_skipped} already "
            f"there, {summary.raters_created} new raters, {summary.items_created} new items"
            f"{_updated(summary.items_updated)} in {summary.seconds:.1f} s."
        )


def _updated(items: int) -> str:
    """ ", N stored items given their sentence" when the file filled any in."""
    return f", {items} stored items given their sentence" if items else ""
