"""Celery tasks (queue ``gpu``): thin wrappers over :mod:`models_core.services`.

Tasks are acknowledged late, so a worker that dies mid-run hands the task back and the next
worker resumes the run from its last checkpoint.
"""

from celery import shared_task

from models_core import selectors, services
from models_core.models import TrainingRun


@shared_task(name="models_core.tasks.train_run")
def train_run(run_id: int) -> dict:
    """Train (or resume) run `run_id`; returns its status.

    A run cancelled while queued, or one that another live worker is training, is skipped.
    """
    run = selectors.run_get(run_id)
    services.run_reclaim_stale(run)  # a redelivery after the first worker died
    if run.status != TrainingRun.Status.QUEUED:
        return {"run": run.pk, "status": run.status, "skipped": True}
    services.run_train(run)
    run.refresh_from_db()
    return {"run": run.pk, "status": run.status, "step": run.step}
