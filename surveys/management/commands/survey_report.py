"""``manage.py survey_report NAME --format json|csv|latex|md|html|answers|datasheet``.

Writes one survey's report (Table 2 or Table 4 of the paper, see :mod:`surveys.reports`) to
standard output, or to ``--out FILE``.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from surveys import reports
from surveys.models import Survey

UNKNOWN_SURVEY = "No survey named {name!r}. Surveys: {names}."


def confidence_level(value: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Export a survey's report (Table 2 or Table 4), its raw answers or its datasheet."

    def add_arguments(self, parser):
        parser.add_argument("name", help="survey name")
        parser.add_argument("--format", dest="fmt", choices=reports.FORMATS, default="md")
        parser.add_argument(
            "--confidence",
            type=confidence_level,
            default=reports.DEFAULT_CONFIDENCE,
            help="confidence level of every interval, and 1 - alpha for Holm (default 0.95)",
        )
        parser.add_argument(
            "--split",
            type=int,
            default=reports.DEFAULT_SPLIT,
            help="meaningfulness: short sentences have at most this many words (default 10)",
        )
        parser.add_argument(
            "--pair",
            nargs=2,
            action="append",
            default=[],
            metavar=("MODEL_1", "MODEL_2"),
            help="pairwise: report this comparison as MODEL_1 vs MODEL_2 (repeatable)",
        )
        parser.add_argument("--out", type=Path, help="write to this file instead of stdout")

    def handle(self, *args, name, fmt, confidence, split, pair, out, **options):
        survey = Survey.objects.filter(name=name).first()
        if survey is None:
            names = ", ".join(repr(n) for n in Survey.objects.values_list("name", flat=True))
            raise CommandError(UNKNOWN_SURVEY.format(name=name, names=names or "none yet"))
        if not survey.has_responses():
            raise CommandError(reports.NO_ANSWERS.format(survey=name))
        if fmt == "answers":
            self._write(out, lambda stream: reports.answers_csv(survey, stream))
            return
        try:
            report = reports.report_build(
                survey=survey, confidence=confidence, split=split, pairs=pair
            )
            text = reports.render(report, fmt)
        except reports.ReportUnavailable as error:
            raise CommandError(str(error)) from None
        self._write(out, lambda stream: stream.write(text))

    def _write(self, out: Path | None, write) -> None:
        """Run ``write(stream)`` on stdout, or on the file ``out`` (created only now)."""
        if out is None:
            write(self.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as stream:
            write(stream)
        self.stderr.write(f"Wrote {out}.")
