"""``manage.py demo``: a working AutoGen Lab on one machine, nothing to install by hand.

Migrates the database, creates a demo researcher account, imports the paper's survey counts
shipped in ``fixtures/surveys`` (so Tables 2 and 4 have reports to show), starts a Celery worker
on the configured broker (the embedded one by default) and serves the site until Ctrl-C.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_USERNAME = "admin"
# A development-only account with a known password: the command refuses production mode.
DEMO_PASSWORD = "admin"
REFUSED_IN_PRODUCTION = (
    "The demo creates a known admin password; it refuses AUTOGEN_ENV=production."
)
# (survey name, kind, file): answers reconstructed from the paper's published counts.
DEMO_SURVEYS = (
    ("Paper Table 2 (reconstructed)", "pairwise", "paper-table-2.csv"),
    ("Paper Table 4 (reconstructed)", "meaningfulness", "paper-table-4.csv"),
)


class Command(BaseCommand):
    help = "Migrate, create the demo admin account, start a Celery worker and serve the site."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="do not start a worker")
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare everything, then exit (for tests)"
        )

    def handle(self, *args, port: int, no_worker: bool, no_serve: bool, **options):
        if settings.PRODUCTION:
            raise CommandError(REFUSED_IN_PRODUCTION)
        call_command("migrate", interactive=False, verbosity=0)
        self._ensure_demo_admin()
        self._import_demo_surveys()
        if no_serve:
            self.stdout.write("Demo ready (not serving: --no-serve).")
            return
        # A process manager's stop (SIGTERM) cleans up as Ctrl-C does: the worker goes too.
        signal.signal(signal.SIGTERM, _exit)
        worker = None
        try:
            worker = None if no_worker else self._start_worker()
            self.stdout.write(
                f"AutoGen Lab demo: http://127.0.0.1:{port}/admin/ "
                f"(user {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}); Ctrl-C stops it."
            )
            self.stdout.flush()
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second stop must not cut this
            if worker is not None:
                _stop(worker)

    def _ensure_demo_admin(self) -> None:
        users = get_user_model()
        if not users.objects.filter(username=DEMO_USERNAME).exists():
            users.objects.create_superuser(DEMO_USERNAME, "admin@example.org", DEMO_PASSWORD)
            self.stdout.write(f"Created demo account {DEMO_USERNAME!r}.")

    def _import_demo_surveys(self) -> None:
        from surveys.imports import responses_import

        folder = Path(settings.BASE_DIR) / "fixtures" / "surveys"
        for name, kind, filename in DEMO_SURVEYS:
            # A re-import skips the answers already stored: running the demo again is a no-op.
            summary = responses_import(survey_name=name, kind=kind, file=folder / filename)
            if summary.responses_created:
                self.stdout.write(f"Imported survey {name!r}: {summary.responses_created} answers.")

    def _start_worker(self) -> subprocess.Popen:
        command = [sys.executable, "-m", "celery", "-A", "autogen", "worker"]
        command += ["-Q", "default,gpu", "--concurrency", "1", "--loglevel", "warning"]
        # Its own process group: stopping the group stops its pool processes too.
        worker = subprocess.Popen(command, start_new_session=True)
        self.stdout.write(f"Started a Celery worker (pid {worker.pid}): " + " ".join(command[1:]))
        self.stdout.flush()
        return worker


def _exit(signum, frame) -> None:
    raise SystemExit(0)


def _stop(worker: subprocess.Popen, grace_s: float = 30) -> None:
    """Warm shutdown (a running task is given `grace_s` to finish), then kill the group."""
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    except ProcessLookupError:
        pass  # already gone
