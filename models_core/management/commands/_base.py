"""What every models_core command shares: ``--json`` output and one-line errors."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from models_core.nn.textfiles import CorpusError
from models_core.services import ServiceError


class JsonCommand(BaseCommand):
    """A command whose ``--json`` prints one JSON object on stdout, and whose refusals
    (bad corpus, unknown run, invalid option) are one-line errors with a non-zero exit."""

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except (CorpusError, ServiceError) as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc

    def emit(self, options: dict[str, Any], payload: dict[str, Any], summary: str) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(payload, sort_keys=True, default=float))
        else:
            self.stdout.write(summary)
