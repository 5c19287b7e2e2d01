"""Enqueueing: hand runs to Celery workers by task name.

Tasks import services, never the reverse: a task is sent by its registered name, so this
module needs neither :mod:`models_core.tasks` nor a call-time import.
"""

from __future__ import annotations

import uuid

from celery import current_app
from django.db import transaction

from models_core.models import TrainingRun

TRAIN_TASK = "models_core.tasks.train_run"


def run_enqueue(run: TrainingRun) -> None:
    """Hand a queued `run` to a GPU worker once the surrounding transaction commits.

    The task id is chosen and stored before sending, so the run names its task even when a
    worker picks it up at once.
    """

    def send() -> None:
        task_id = str(uuid.uuid4())
        TrainingRun.objects.filter(pk=run.pk).update(task_id=task_id)
        current_app.send_task(TRAIN_TASK, args=[run.pk], task_id=task_id)

    transaction.on_commit(send)
