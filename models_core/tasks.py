"""Celery tasks (queue ``gpu``): thin wrappers over :mod:`models_core.services`.

Tasks are acknowledged late, so a worker that dies mid-run hands the task back and the next
worker resumes the run from its last checkpoint.
"""

from celery import shared_task

from models_core import services
from models_core.models import TrainingRun


@shared_task(name="models_core.tasks.train_run")
def train_run(run_id: int) -> dict:
    """Train (or resume) run `run_id`; returns its status and last evaluation."""
    run = services.run_get(run_id)
    if run.status == TrainingRun.Status.RUNNING:
        # A redelivered task whose worker died: the run is resumable from its checkpoint.
        TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.QUEUED)
    services.run_train(run)
    run.refresh_from_db()
    return {"run": run.pk, "status": run.status, "step": run.step, **run.final_metrics}
