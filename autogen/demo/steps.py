"""The demo's steps in order, each idempotent: run again, the demo finds what it made.

Account, the paper's-counts surveys, the books, the four models (queued for the worker, a
progress bar each), the two surveys decoded on the worker; then what to print: the admin
URL and its credentials, the rater links, where the reports are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from autogen import celery_app
from autogen.demo import DEMO_PRESET, FAST_PRESET
from autogen.demo.corpus import demo_corpus
from autogen.demo.surveys import demo_survey_names, demo_surveys_missing, paper_surveys_import
from autogen.demo.tasks import SURVEYS_QUEUE, SURVEYS_TASK
from autogen.demo.training import (
    WORKER_GONE,
    DemoError,
    ProgressBars,
    demo_experiment,
    wait_for_runs,
)
from models_core import services
from models_core.models import Experiment, TrainingRun
from surveys.imports import KIND_NAMES
from surveys.models import Survey
from surveys.services import survey_link

DEMO_USERNAME = "admin"
# A development-only account with a known password: the command refuses production mode.
DEMO_PASSWORD = "admin"
# Items per comparison (pairwise) and prior samples per model (meaningfulness).
PER_MODEL = 20
FAST_PER_MODEL = 5
SURVEYS_FAILED = "The worker could not make the demo's surveys: {error}"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoPlan:
    """What to train and decode: the preset, the books (None: Jane Austen's novels), N."""

    preset: str = DEMO_PRESET
    books: Path | None = None
    per_model: int = PER_MODEL

    @classmethod
    def fast(cls, books: Path | None = None) -> DemoPlan:
        return cls(preset=FAST_PRESET, books=books, per_model=FAST_PER_MODEL)


def demo_account(say: Say) -> None:
    users = get_user_model()
    if not users.objects.filter(username=DEMO_USERNAME).exists():
        users.objects.create_superuser(DEMO_USERNAME, "admin@example.org", DEMO_PASSWORD)
        say(f"Created demo account {DEMO_USERNAME!r}.")


def demo_queue(plan: DemoPlan, *, say: Say) -> Experiment:
    """The account, the example surveys, the books and the four models queued (or found);
    the demo's experiment. Raises `CorpusError` or `ServiceError` (one line)."""
    demo_account(say)
    for name, added in paper_surveys_import():
        say(f"Imported survey {name!r}: {added} answers.")
    corpus, imported = demo_corpus(plan.books)
    if imported:
        say(f"Imported corpus {corpus.name!r}: {corpus.n_train} train, {corpus.n_test} test.")
    experiment, queued = demo_experiment(corpus, plan.preset)
    say(
        f"{'Queued' if queued else 'Found'} the paper's four models on {corpus.name!r} at the "
        f"{plan.preset!r} preset (experiment {experiment.pk}):"
    )
    return experiment


def demo_complete(
    experiment: Experiment,
    plan: DemoPlan,
    *,
    say: Say,
    bars: ProgressBars,
    worker_exit: Callable[[], int | None] = lambda: None,
) -> None:
    """Wait for the four runs (a bar each), then have the worker make the two surveys."""
    wait_for_runs(experiment, bars, worker_exit)
    if demo_surveys_missing(experiment):
        say("Decoding reconstructions and prior samples on the worker for the two surveys…")
        surveys_on_worker(experiment, plan.per_model, worker_exit)


def surveys_on_worker(
    experiment: Experiment, per_model: int, worker_exit: Callable[[], int | None]
) -> None:
    """Send the surveys task to the worker and wait for it (`DemoError` if it fails)."""
    result = celery_app.send_task(
        SURVEYS_TASK, args=[experiment.pk, per_model], queue=SURVEYS_QUEUE
    )
    while not result.ready():
        code = worker_exit()
        if code is not None:
            raise DemoError(WORKER_GONE.format(code=code))
        time.sleep(0.5)
    if result.failed():
        raise DemoError(SURVEYS_FAILED.format(error=result.result))


def demo_stop_training(experiment_id: int | None) -> list[int]:
    """Ask the demo's unfinished runs to stop (after their next progress save, with a
    checkpoint), so the worker can stop at once; the next demo resumes them."""
    if experiment_id is None:
        return []
    active = TrainingRun.objects.filter(experiment_id=experiment_id, status__in=TrainingRun.ACTIVE)
    stopped = []
    for run in active:
        services.run_cancel(run)
        stopped.append(run.pk)
    return stopped


def demo_summary(experiment: Experiment) -> dict[str, Any]:
    """What the demo prints: the admin and its account, the rater links, the reports."""
    base_url = settings.SITE_URL
    surveys = []
    for kind, name in demo_survey_names(experiment):
        survey = Survey.objects.get(name=name)
        surveys.append(
            {
                "name": survey.name,
                "kind": KIND_NAMES[kind],
                "url": survey_link(survey),
                "items": survey.items.count(),
                "report_url": base_url + reverse("admin:surveys_survey_change", args=[survey.pk]),
            }
        )
    compare = reverse("admin:models_core_trainingrun_compare")
    return {
        "admin_url": f"{base_url}/admin/",
        "admin_user": DEMO_USERNAME,
        "admin_password": DEMO_PASSWORD,
        "surveys": surveys,
        "experiment": experiment.pk,
        "comparison_url": f"{base_url}{compare}?experiment={experiment.pk}",
        "report_command": "manage.py survey_report NAME --format html --out report.html",
    }


def summary_text(summary: dict[str, Any]) -> str:
    lines = [
        f"Admin: {summary['admin_url']} (user {summary['admin_user']!r}, "
        f"password {summary['admin_password']!r})",
        f"The four models' curves and metrics: {summary['comparison_url']}",
    ]
    for survey in summary["surveys"]:
        lines.append(f"Rater link, {survey['kind']} survey {survey['name']!r}: {survey['url']}")
    lines.append(
        "Reports (Tables 2 and 4) appear on each survey's admin page as answers come in: "
        + ", ".join(survey["report_url"] for survey in summary["surveys"])
        + f"; or {summary['report_command']}."
    )
    return "\n".join(lines)


def site_url(port: int) -> str:
    """Where the demo serves: ``SITE_URL`` when set, else 127.0.0.1 on `port`."""
    configured = settings.SITE_URL
    default = "http://127.0.0.1:8000"
    return configured if configured != default else f"http://127.0.0.1:{port}"
