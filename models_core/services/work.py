"""What a worker does with the messages it receives: the bodies of the Celery tasks.

A message may be stale: a run resumed since has a new task id, and a message of an old one
(redelivered after its worker died, or left on the broker) must not train it a second time.
A worker restarted under the same name takes back the runs it was training when it died.
"""

from __future__ import annotations

import logging
from typing import Any

from models_core.models import TrainingRun
from models_core.nn.textfiles import CorpusError
from models_core.services.corpus_imports import corpus_imports_reclaim
from models_core.services.decoding_jobs import decode_jobs_reclaim
from models_core.services.enqueue import run_enqueue, run_evaluation_enqueue
from models_core.services.errors import ServiceError
from models_core.services.evaluation import run_evaluate
from models_core.services.runs import run_reclaim_stale, run_train

logger = logging.getLogger(__name__)


def run_work(run: TrainingRun, *, task_id: str | None = None, worker: str = "") -> dict[str, Any]:
    """Train `run` for the task `task_id` (None: called directly, not from a message), then
    queue its evaluation when it succeeds; returns the run's status.

    Skipped: a message that is not the run's current task, a run cancelled while queued, and
    one that another live worker is training.
    """
    if task_id is not None and run.task_id != task_id:
        return {"run": run.pk, "status": run.status, "skipped": True, "superseded": True}
    run_reclaim_stale(run)  # a redelivery after the first worker died
    if run.status != TrainingRun.Status.QUEUED:
        return {"run": run.pk, "status": run.status, "skipped": True}
    run_train(run, worker=worker)
    run.refresh_from_db()
    if run.status == TrainingRun.Status.SUCCEEDED:
        run_evaluation_enqueue(run)
    return {"run": run.pk, "status": run.status, "step": run.step}


EVALUATION_ERROR = "evaluation_error"


def run_evaluate_finished(run: TrainingRun) -> dict[str, Any]:
    """The test-set metrics of a run that finished training, with the defaults of
    ``manage.py evaluate`` (so the comparison table and ``evaluate --json`` agree), stored in
    ``final_metrics["evaluation"]``; a refusal is stored in ``final_metrics["evaluation_error"]``
    instead. A run evaluated at its last step already is left as it is."""
    if run.status != TrainingRun.Status.SUCCEEDED:
        return {"run": run.pk, "status": run.status, "skipped": True}
    done = (run.final_metrics or {}).get("evaluation")
    if done and done.get("step") == run.step:  # a message delivered twice
        return {"run": run.pk, "status": run.status, "skipped": True}
    try:
        result = run_evaluate(run)
    except Exception as exc:
        message = str(exc) if isinstance(exc, ServiceError | CorpusError) else repr(exc)
        run.final_metrics = {**run.final_metrics, EVALUATION_ERROR: message}
        run.save(update_fields=["final_metrics"])
        if not isinstance(exc, ServiceError | CorpusError):
            raise  # not a refusal: the worker's log has the traceback
        return {"run": run.pk, "status": run.status, EVALUATION_ERROR: message}
    if EVALUATION_ERROR in run.final_metrics:
        run.final_metrics = {k: v for k, v in run.final_metrics.items() if k != EVALUATION_ERROR}
        run.save(update_fields=["final_metrics"])
    return result


def worker_reclaim(worker: str) -> dict[str, list[int]]:
    """Requeue and send again the runs, decode jobs and imports taken by `worker` (a Celery
    node name) when a worker of that name starts: it works on nothing yet, so they lost their
    worker. Node names must be unique (Celery warns of duplicates); one worker per GPU has one.
    """
    runs = []
    for run in TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, worker=worker):
        moved = TrainingRun.objects.filter(
            pk=run.pk, status=TrainingRun.Status.RUNNING, worker=worker
        ).update(status=TrainingRun.Status.QUEUED)
        if moved:
            run_enqueue(run)
            runs.append(run.pk)
            logger.warning("run %s: its worker %s restarted; queued again", run.pk, worker)
    return {
        "runs": runs,
        "decode_jobs": decode_jobs_reclaim(worker),
        "corpus_imports": corpus_imports_reclaim(worker),
    }
