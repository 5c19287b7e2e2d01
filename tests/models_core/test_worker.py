"""A run queued the way the admin queues it is trained, then evaluated, by a real Celery
worker process."""

import datetime
import os
import time

import pytest
from django.utils import timezone

from models_core import services
from models_core.models import MetricPoint, TrainingRun
from models_core.tasks import train_run
from tests.conftest import celery_worker, clean_env, shared_database_url

TRAIN_TIMEOUT_S = 180


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_trained_by_a_real_worker(small_book, data_dir):
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(
        corpus=corpus, objective="autogen", preset_name="tiny", steps=25, seed=3
    )
    broker = {
        key: os.environ[key]
        for key in ("CELERY_BROKER_URL", "AUTOGEN_VAR_DIR")
        if key in os.environ
    }
    env = clean_env(**broker, DATABASE_URL=shared_database_url(), AUTOGEN_DATA_DIR=str(data_dir))
    with celery_worker(env, queues="gpu") as worker:
        services.run_enqueue(run)  # autocommit: the on_commit hook sends at once
        deadline = time.monotonic() + TRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            run.refresh_from_db()
            # Then the worker evaluates it on the test split (a second task).
            if not run.is_active and (
                "evaluation" in run.final_metrics or run.status != "succeeded"
            ):
                break
            time.sleep(0.5)
        worker.terminate()
        log = worker.communicate(timeout=30)[0]
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, log[-3000:])
    assert run.step == 25
    assert run.task_id
    assert run.final_metrics["last_eval"]["step"] == 25
    assert MetricPoint.objects.filter(run=run, split="test", step=25).exists()
    assert (data_dir / "runs" / str(run.pk) / "last.pt").exists()
    assert "models_core.tasks.train_run" in log
    assert run.final_metrics["evaluation"]["step"] == 25
    assert "models_core.tasks.evaluate_run" in log


@pytest.mark.django_db
def test_the_task_skips_a_run_cancelled_while_queued(small_book, data_dir):
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    services.run_cancel(run)
    assert train_run(run.pk) == {"run": run.pk, "status": "cancelled", "skipped": True}
    run.refresh_from_db()
    assert (run.status, run.step) == (TrainingRun.Status.CANCELLED, 0)


@pytest.mark.django_db
def test_a_redelivered_task_trains_only_a_run_whose_worker_went_silent(small_book, data_dir):
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert train_run(run.pk)["skipped"] is True  # its worker is alive: leave it alone

    silent = timezone.now() - services.STALE_AFTER - datetime.timedelta(seconds=1)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=silent)
    assert train_run(run.pk) == {"run": run.pk, "status": "succeeded", "step": 5}
