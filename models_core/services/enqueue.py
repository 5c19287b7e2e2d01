"""Enqueueing: hand work to Celery workers by task name.

Tasks import services, never the reverse: a task is sent by its registered name, so this
module needs neither :mod:`models_core.tasks` nor a call-time import. Each task id is chosen
and stored on what it works on before sending, so a worker that picks it up at once finds it,
and a worker can tell a message that is no longer current (the run was resumed since, under a
new task) from the current one.
"""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.db import models, transaction
from kombu.exceptions import OperationalError as BrokerUnreachable

from models_core.models import CorpusImport, DecodeJob, TrainingRun

TRAIN_TASK = "models_core.tasks.train_run"
EVALUATE_TASK = "models_core.tasks.evaluate_run"
DECODE_TASK = "models_core.tasks.decode_job"
IMPORT_TASK = "models_core.tasks.import_corpus"
# Training, evaluation and decoding go to the `gpu` queue (settings.CELERY_TASK_ROUTES);
# corpus imports need no GPU, so they are sent to `default`.
IMPORT_QUEUE = "default"

# What a task did is stored with what it worked on, never read from the result backend: sending
# without waiting for a result also keeps a sender from subscribing to the result backend,
# which blocks for many seconds while Redis is down.
TASK_OPTIONS = {"ignore_result": True}

logger = logging.getLogger(__name__)


def send_on_commit(
    instance: models.Model, task: str, *, queue: str | None = None, store_id: bool = True
) -> None:
    """Send `task` with the pk of `instance` once the surrounding transaction commits; the
    task id is stored in ``instance.task_id`` first unless `store_id` is False.

    A broker that cannot be reached is logged, not raised: what was queued is stored, and the
    workers' reconciler (`models_core.services.reconcile`) sends it once the broker is back.
    """
    model = type(instance)
    pk = instance.pk

    def send() -> None:
        task_id = str(uuid.uuid4())
        if store_id:
            model.objects.filter(pk=pk).update(task_id=task_id)
        options = {"queue": queue} if queue else {}
        try:
            current_app.send_task(task, args=[pk], task_id=task_id, **TASK_OPTIONS, **options)
        except BrokerUnreachable as exc:
            logger.error("%s %s: the broker is unreachable (%s); sent later", task, pk, exc)

    transaction.on_commit(send)


def run_enqueue(run: TrainingRun) -> None:
    """Hand a queued `run` to a GPU worker once the surrounding transaction commits."""
    send_on_commit(run, TRAIN_TASK)


def run_evaluation_enqueue(run: TrainingRun) -> None:
    """Have a worker compute the test-set metrics of a run that has finished training."""
    send_on_commit(run, EVALUATE_TASK, store_id=False)


def decode_job_enqueue(job: DecodeJob) -> None:
    """Hand a queued decode job to a GPU worker once the surrounding transaction commits."""
    send_on_commit(job, DECODE_TASK)


def corpus_import_enqueue(job: CorpusImport) -> None:
    """Hand a queued corpus import to a worker of the `default` queue on commit."""
    send_on_commit(job, IMPORT_TASK, queue=IMPORT_QUEUE)
