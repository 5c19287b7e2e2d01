"""Reconciling the database with the broker: work the database says is queued, but whose
message the broker no longer holds, is sent again.

A broker that restarts without persistence (Redis with ``--save ""``, a flushed database, a
lost embedded-broker folder) forgets every message: the runs, decode jobs and imports stay
``queued`` in the database and no worker will ever hear of them. `work_reconcile` finds them
by comparing each queued item's ``task_id`` (set when it was sent) with the task ids the
broker holds (waiting in a queue, or delivered and not yet acknowledged), and sends each
missing one again. A run marked running whose worker went silent (no progress for
``STALE_AFTER``, no answer to a ping: `run_reclaim_stale`) is queued again first.

Sending twice is safe, so the check need not be exact: a new task id is set with a
compare-and-swap on the old one (two reconcilers at once send one message), and a worker that
receives a message that is no longer its item's task skips it (`run_work`, `decode_job_run`,
`corpus_import_run`). The check only spares the queue needless messages.

Workers run it when they start and then every ``RECONCILE_INTERVAL_S`` (`reconcile_forever`);
``manage.py runs --reconcile`` runs it once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path
from typing import Any

from celery import current_app
from django.db import connections, models
from django.utils import timezone

from models_core.models import CorpusImport, DecodeJob, JobStatus, TrainingRun
from models_core.services.enqueue import (
    DECODE_TASK,
    IMPORT_QUEUE,
    IMPORT_TASK,
    TASK_OPTIONS,
    TRAIN_TASK,
)
from models_core.services.runs import STALE_AFTER, run_reclaim_stale

logger = logging.getLogger(__name__)

# What each kind of queued item is sent as: (model, task name, queue; None: the task's route).
QUEUED_WORK: dict[str, tuple[type[models.Model], str, str | None]] = {
    "runs": (TrainingRun, TRAIN_TASK, None),
    "decode_jobs": (DecodeJob, DECODE_TASK, None),
    "corpus_imports": (CorpusImport, IMPORT_TASK, IMPORT_QUEUE),
}


def _message_id(payload: Any) -> str | None:
    """The Celery task id of a message as the broker stores it (protocol 2: in the headers)."""
    if not isinstance(payload, dict):
        return None
    headers = payload.get("headers") or {}
    properties = payload.get("properties") or {}
    return headers.get("id") or properties.get("correlation_id")


def _redis_ids(channel: Any, queues: list[str]) -> set[str]:
    client = channel.client
    keys = [channel._q_for_pri(q, pri) for q in queues for pri in channel.priority_steps]
    raw = [m for key in dict.fromkeys(keys) for m in client.lrange(key, 0, -1)]
    # Delivered and not acknowledged yet (tasks are acknowledged late): [message, exchange, key].
    unacked = [json.loads(v)[0] for v in client.hvals(channel.unacked_key)]
    return {i for i in map(_message_id, [json.loads(m) for m in raw] + unacked) if i}


def _filesystem_ids(channel: Any) -> set[str]:
    ids = set()
    for path in Path(channel.data_folder_in).glob("*.msg"):
        try:
            ids.add(_message_id(json.loads(path.read_bytes())))
        except (OSError, ValueError):  # taken by a worker meanwhile, or being written
            continue
    return ids - {None}


def broker_task_ids(app=None) -> set[str] | None:
    """The task ids of the messages the broker holds on the product's queues, or None for a
    transport this cannot read (then nothing queued is taken for lost). Raises kombu's
    ``OperationalError`` when the broker cannot be reached."""
    app = app or current_app
    queues = [q.name for q in app.conf.task_queues or ()] or [app.conf.task_default_queue]
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1)
        transport = conn.transport.driver_type
        if transport == "redis":
            return _redis_ids(conn.default_channel, queues)
        if transport == "filesystem":
            return _filesystem_ids(conn.default_channel)
    return None


def _resend(instance: models.Model, task: str, queue: str | None, app) -> bool:
    """Give `instance` a new task id (only if nobody changed it meanwhile) and send it."""
    model = type(instance)
    task_id = str(uuid.uuid4())
    swapped = model.objects.filter(
        pk=instance.pk, status=JobStatus.QUEUED, task_id=instance.task_id
    ).update(task_id=task_id)
    if swapped:
        options = {"queue": queue} if queue else {}
        app.send_task(task, args=[instance.pk], task_id=task_id, **TASK_OPTIONS, **options)
    return bool(swapped)


def _answering(app, workers: set[str]) -> set[str]:
    """Which of the Celery nodes `workers` answer a ping within a second."""
    if not workers:
        return set()
    replies = app.control.ping(destination=sorted(workers), timeout=1.0) or []
    return {name for reply in replies for name in reply}


def _reclaim_silent_runs(app) -> None:
    """Queue again the runs marked running without progress for ``STALE_AFTER`` whose worker
    does not answer a ping either (a worker busy in a long evaluation still answers, unless it
    runs the ``solo`` pool, which answers nothing while it works)."""
    stale = timezone.now() - STALE_AFTER
    silent = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).filter(
            models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=stale)
        )
    )
    alive = _answering(app, {run.worker for run in silent if run.worker})
    for run in silent:
        if run.worker not in alive and run_reclaim_stale(run):
            logger.warning("run %s: no news from worker %s; queued again", run.pk, run.worker)


def work_reconcile(*, app=None) -> dict[str, list[int]]:
    """Send again the runs, decode jobs and imports marked queued whose message the broker has
    lost, after queueing again the runs whose worker went silent and does not answer; returns
    the ids sent by kind.
    Nothing is sent when the broker's messages cannot be read (an unknown transport)."""
    app = app or current_app
    _reclaim_silent_runs(app)
    live = broker_task_ids(app)
    sent: dict[str, list[int]] = {kind: [] for kind in QUEUED_WORK}
    if live is None:
        return sent
    for kind, (model, task, queue) in QUEUED_WORK.items():
        # An empty task id was never sent: a run the ``train`` command trains in its own shell.
        queued = model.objects.filter(status=JobStatus.QUEUED).exclude(task_id="")
        lost = queued.exclude(task_id__in=live)
        for item in lost.order_by("created_at", "pk"):
            if _resend(item, task, queue, app):
                sent[kind].append(item.pk)
                logger.warning("%s %s: its message was lost; sent again", kind, item.pk)
    return sent


def reconcile_forever(interval_s: float, stop: threading.Event, *, app=None) -> None:
    """`work_reconcile` now, then every `interval_s` seconds (none: 0) until `stop` is set: a
    worker's thread. A broker or database that is down is logged and tried again next turn."""
    while True:
        try:
            work_reconcile(app=app)
        except Exception:
            logger.exception("reconciling queued work with the broker failed; trying again")
        finally:
            connections.close_all()  # this thread's own; none is held between turns
        if interval_s <= 0 or stop.wait(interval_s):
            return
