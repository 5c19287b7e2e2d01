"""Celery tasks: thin wrappers over :mod:`models_core.services` (the bodies are in
:mod:`models_core.services.work`). Training, evaluation and decoding run on the ``gpu`` queue
(``CELERY_TASK_ROUTES``); corpus imports are sent to ``default``.

Tasks are acknowledged late, so a worker that dies mid-run hands the task back and the next
worker resumes the run from its last checkpoint; a worker restarted under the same name takes
its runs back as soon as it is ready. Every worker also sends again, when it starts and then
every ``RECONCILE_INTERVAL_S``, the work the database holds queued whose message the broker lost
(a broker restarted without persistence): `services.work_reconcile`.
"""

import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connections

from models_core import selectors, services


@shared_task(name="models_core.tasks.train_run", bind=True)
def train_run(self, run_id: int) -> dict:
    """Train (or resume) run `run_id`, then queue its evaluation; returns its status.

    A stale message, a run cancelled while queued, or one that another live worker is
    training, is skipped.
    """
    run = selectors.run_get(run_id)
    return services.run_work(run, task_id=self.request.id, worker=self.request.hostname or "")


@shared_task(name="models_core.tasks.evaluate_run")
def evaluate_run(run_id: int) -> dict:
    """The test-set metrics of a run that finished training, stored with the run."""
    return services.run_evaluate_finished(selectors.run_get(run_id))


@shared_task(name="models_core.tasks.decode_job", bind=True)
def decode_job(self, job_id: int) -> dict:
    """Decode for job `job_id`; its sentences are stored as `Decoding` rows of its run."""
    job = selectors.decode_job_get(job_id)
    return services.decode_job_run(job, task_id=self.request.id, worker=self.request.hostname or "")


@shared_task(name="models_core.tasks.import_corpus", bind=True)
def import_corpus(self, import_id: int) -> dict:
    """Prepare the files of import `import_id` into its corpus (sent to the default queue)."""
    job = selectors.corpus_import_get(import_id)
    return services.corpus_import_run(
        job, task_id=self.request.id, worker=self.request.hostname or ""
    )


_stop_reconciling = threading.Event()


@worker_ready.connect
def reclaim_runs(sender, **kwargs) -> None:
    """A worker that starts under the name of one that died takes its runs and jobs back, sends
    again (in a thread of its own) the queued work whose message the broker lost, and keeps
    checking for it every ``RECONCILE_INTERVAL_S`` (0: only now)."""
    services.worker_reclaim(sender.hostname)
    connections.close_all()  # opened in the main process: forked pool processes open their own
    threading.Thread(
        target=services.reconcile_forever,
        args=(settings.RECONCILE_INTERVAL_S, _stop_reconciling),
        kwargs={"app": sender.app},
        name="reconcile",
        daemon=True,
    ).start()


@worker_shutdown.connect
def stop_reconciling(**kwargs) -> None:
    _stop_reconciling.set()
