"""``manage.py demo``: the whole product on one machine, from real books to open surveys.

Migrates the database, creates the demo admin account, imports the paper's-counts surveys
(``fixtures/surveys``), imports Jane Austen's novels (or ``--corpus PATH``), starts a Celery
worker, queues the paper's four models at the ``demo`` preset with a progress bar each, has
the worker decode the two surveys' sentences, then serves the site until Ctrl-C (or SIGTERM),
which stops the worker too. Run again, it reuses what is trained and decoded. The steps live
in :mod:`autogen.demo`; this command only wires them to the terminal.
"""

import json
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from autogen.demo.steps import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DemoPlan,
    demo_complete,
    demo_queue,
    demo_stop_training,
    demo_summary,
    site_url,
    summary_text,
)
from autogen.demo.training import DemoError, ProgressBars
from autogen.demo.worker import LOG_NAME, log_tail, worker_start, worker_stop
from models_core.nn.textfiles import CorpusError
from models_core.services import ServiceError

__all__ = ["DEMO_PASSWORD", "DEMO_USERNAME", "REFUSED_IN_PRODUCTION", "Command"]

REFUSED_IN_PRODUCTION = (
    "The demo creates a known admin password; it refuses AUTOGEN_ENV=production."
)


class Command(BaseCommand):
    help = (
        "Train the paper's four models on Jane Austen's novels, make and open the two surveys, "
        "start a Celery worker and serve the site."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker", action="store_true",
            help="do not start a worker: one of yours, started with --include autogen.demo.tasks "
            "(the demo's surveys task), does the work",
        )  # fmt: skip
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare everything, then exit (for tests)"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON object (stdout)"
        )
        parser.add_argument(
            "--fast", action="store_true", help="tiny models (a minute, for tests), not 'demo'"
        )
        parser.add_argument(
            "--corpus", type=Path, metavar="PATH", help="a folder of plain-text books to use "
            "instead of Jane Austen's novels (where apt-get is missing)",
        )  # fmt: skip

    def handle(self, *args, port, no_worker, no_serve, as_json, fast, corpus, **_):
        if settings.PRODUCTION:
            raise CommandError(REFUSED_IN_PRODUCTION)
        settings.SITE_URL = site_url(port)
        # Progress and messages go to stderr with --json: stdout holds the one JSON object.
        out = sys.stderr if as_json else sys.stdout  # raw: the bars redraw with escapes
        say = lambda line: (out.write(line + "\n"), out.flush())  # noqa: E731
        call_command("migrate", interactive=False, verbosity=0)
        # A process manager's stop (SIGTERM) cleans up as Ctrl-C does: the worker goes too.
        signal.signal(signal.SIGTERM, _exit)
        plan = DemoPlan.fast(corpus) if fast else DemoPlan(books=corpus)
        log = Path(settings.VAR_DIR) / LOG_NAME
        worker, experiment = None, None
        try:
            if not no_worker:
                worker = worker_start(log)
                say(f"Started a Celery worker (pid {worker.pid}); its log: {log}")
            bars = ProgressBars(out, redraw=out.isatty())
            worker_exit = worker.poll if worker is not None else (lambda: None)
            try:
                experiment = demo_queue(plan, say=say)
                demo_complete(experiment, plan, say=say, bars=bars, worker_exit=worker_exit)
            except (DemoError, CorpusError, ServiceError) as error:
                if worker is not None and worker.poll() is not None:
                    say(log_tail(log))
                raise CommandError(str(error).splitlines()[0]) from None
            summary = demo_summary(experiment)
            if as_json:
                self.stdout.write(json.dumps(summary))
            else:
                self.stdout.write(summary_text(summary))
            if no_serve:
                return
            say(f"Serving {settings.SITE_URL}/admin/ ; Ctrl-C stops the server and the worker.")
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second stop must not cut this
            if worker is not None:
                stopped = demo_stop_training(experiment and experiment.pk)
                if stopped:
                    say(f"Stopping runs {stopped} at their next checkpoint; the next demo resumes.")
                worker_stop(worker)


def _exit(signum, frame) -> None:
    raise SystemExit(0)
