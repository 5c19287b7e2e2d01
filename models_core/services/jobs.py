"""What every job handed to a worker (a decode job, a corpus import) goes through: claimed once
by the worker whose message is current, ended with its outcome, taken back after a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone

from models_core.models import JobStatus, QueuedJob

Job = TypeVar("Job", bound=QueuedJob)


def job_claim(job: QueuedJob, *, key: str, task_id: str | None, worker: str) -> dict | None:
    """Claim a queued `job` for `worker`; None when claimed, else what the task reports: a
    message superseded by a newer one (``task_id`` not the job's), or a job no longer queued.
    ``task_id`` None: called directly, not from a message."""
    if task_id is not None and job.task_id != task_id:
        return {key: job.pk, "status": job.status, "skipped": True, "superseded": True}
    claimed = (
        type(job)
        .objects.filter(pk=job.pk, status=JobStatus.QUEUED)
        .update(status=JobStatus.RUNNING, started_at=timezone.now(), worker=worker, error="")
    )
    job.refresh_from_db()
    return None if claimed else {key: job.pk, "status": job.status, "skipped": True}


def job_end(job: QueuedJob, status: JobStatus, **fields: Any) -> None:
    """Record how `job` ended (succeeded: progress 1) and refresh it."""
    if status == JobStatus.SUCCEEDED:
        fields.setdefault("progress", 1.0)
    type(job).objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now(), **fields)
    job.refresh_from_db()


def jobs_reclaim(model: type[Job], worker: str, enqueue: Callable[[Job], Any]) -> list[int]:
    """Requeue and send again the jobs of `model` that `worker` was running when it died."""
    reclaimed = []
    for job in model.objects.filter(status=JobStatus.RUNNING, worker=worker):
        running = model.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker=worker)
        if running.update(status=JobStatus.QUEUED):
            enqueue(job)
            reclaimed.append(job.pk)
    return reclaimed
