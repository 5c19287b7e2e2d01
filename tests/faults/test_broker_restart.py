"""A broker restarted without persistence forgets every message: the runs, decode jobs and
imports the database holds queued are sent again (`services.work_reconcile`), by a worker as it
starts and then every ``AUTOGEN_RECONCILE_S``, or by ``manage.py runs --reconcile``. Nothing
queued is lost, nothing is trained twice.

Each test has a Redis of its own (`throwaway_redis`), which it restarts; the shared one is
never touched. (A worker killed mid-training resumes from its checkpoint:
tests/models_core/test_researcher_loop.py,
test_a_run_queued_from_the_command_line_survives_a_sigkilled_worker.)
"""

from __future__ import annotations

import datetime
import json
import os
from io import StringIO

import pytest
from celery import Celery
from django.core.management import call_command
from django.utils import timezone

from models_core import services
from models_core.models import CorpusImport, DecodeJob, TrainingRun
from models_core.services import enqueue, reconcile
from tests.conftest import celery_worker
from tests.models_core.worker_helpers import drain, wait_for, worker_env

STEPS = 5
TRAIN_TIMEOUT_S = 120


def _runs(corpus, n: int) -> list[TrainingRun]:
    return [
        services.run_create(
            corpus=corpus, objective="vae", preset_name="tiny", steps=STEPS, seed=seed
        )
        for seed in range(n)
    ]


@pytest.fixture
def corpus(small_book, data_dir):
    return services.corpus_import(name="buster", paths=[small_book])


@pytest.mark.django_db(transaction=True)
def test_reconcile_sends_again_only_the_queued_work_the_broker_lost(
    corpus, throwaway_redis, broker_app
):
    runs = _runs(corpus, 2)
    for run in runs:
        services.run_enqueue(run)  # autocommit: sent at once
    job = DecodeJob.objects.create(run=runs[0], mode="prior", beam=1, steps=5)
    services.decode_job_enqueue(job)
    upload = CorpusImport.objects.create(
        name="later", origin="upload", vocab_size=100, min_len=1, max_len=20, test_fraction=0.1
    )
    services.corpus_import_enqueue(upload)
    assert (throwaway_redis.queued("gpu"), throwaway_redis.queued("default")) == (3, 1)
    # All there: nothing is sent twice.
    assert services.work_reconcile() == {"runs": [], "decode_jobs": [], "corpus_imports": []}
    assert throwaway_redis.queued("gpu") == 3
    old_ids = {run.pk: TrainingRun.objects.get(pk=run.pk).task_id for run in runs}

    throwaway_redis.restart()  # every message is gone; the database still says queued
    assert throwaway_redis.queued("gpu") == 0

    out = StringIO()
    call_command("runs", "--reconcile", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "runs": [run.pk for run in runs],
        "decode_jobs": [job.pk],
        "corpus_imports": [upload.pk],
    }
    assert (throwaway_redis.queued("gpu"), throwaway_redis.queued("default")) == (3, 1)
    for run in runs:
        run.refresh_from_db()
        assert run.status == TrainingRun.Status.QUEUED
        assert run.task_id != old_ids[run.pk]  # the lost message, if it ever came, is stale
    # Run again: the new messages are there, so nothing more is sent.
    assert services.work_reconcile() == {"runs": [], "decode_jobs": [], "corpus_imports": []}
    assert throwaway_redis.queued("gpu") == 3


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_is_gone_is_queued_again_and_a_live_ones_is_left_alone(
    corpus, throwaway_redis, broker_app
):
    gone, busy = _runs(corpus, 2)
    silent = timezone.now() - services.STALE_AFTER - datetime.timedelta(seconds=1)
    TrainingRun.objects.filter(pk=gone.pk).update(
        status="running", worker="gone@nowhere", heartbeat_at=silent, task_id="lost"
    )
    TrainingRun.objects.filter(pk=busy.pk).update(
        status="running", worker="busy@somewhere", heartbeat_at=timezone.now(), task_id="live"
    )
    assert services.work_reconcile()["runs"] == [gone.pk]  # no answer to the ping either
    gone.refresh_from_db()
    busy.refresh_from_db()
    assert gone.status == TrainingRun.Status.QUEUED and gone.task_id != "lost"
    assert (busy.status, busy.task_id) == (TrainingRun.Status.RUNNING, "live")
    assert throwaway_redis.queued("gpu") == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_queued_while_the_broker_is_down_is_stored_and_sent_later(
    corpus, throwaway_redis, broker_app
):
    throwaway_redis.stop()
    run = _runs(corpus, 1)[0]
    services.run_enqueue(run)  # the broker refuses: logged, not raised
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED and run.task_id
    with pytest.raises(Exception, match="broker cannot be reached"):
        call_command("runs", "--reconcile", stdout=StringIO())

    throwaway_redis.start()
    assert services.work_reconcile()["runs"] == [run.pk]
    assert throwaway_redis.queued("gpu") == 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_queued_runs_are_trained_after_the_broker_restarts(
    corpus, data_dir, throwaway_redis, broker_app
):
    lost = _runs(corpus, 2)
    for run in lost:
        services.run_enqueue(run)
    throwaway_redis.restart()  # before any worker took them: both messages are gone
    assert throwaway_redis.queued("gpu") == 0

    env = worker_env(data_dir)
    env.update(
        CELERY_BROKER_URL=throwaway_redis.url,
        CELERY_RESULT_BACKEND=throwaway_redis.url,
        AUTOGEN_RECONCILE_S="1",
    )

    def trained(runs):
        """Trained, and evaluated (the task that follows): the worker is idle again."""
        done = TrainingRun.objects.filter(pk__in=[r.pk for r in runs], status="succeeded")
        return all("evaluation" in run.final_metrics for run in done) and len(done) == len(runs)

    name = f"faults-{os.getpid()}@localhost"
    with celery_worker(env, queues="gpu", name=name) as worker:
        log = drain(worker)
        # The worker, as it starts, sends them again.
        wait_for(lambda: trained(lost), TRAIN_TIMEOUT_S, "the lost runs to be trained", worker)

        # The broker goes down under a running worker, and a run is queued meanwhile.
        throwaway_redis.stop()
        late = _runs(corpus, 1)
        services.run_enqueue(late[0])
        throwaway_redis.start()
        # The worker reconnects; its periodic check sends the run the broker never had.
        wait_for(lambda: trained(late), TRAIN_TIMEOUT_S, "the late run to be trained", worker)

        # A run silent for long, whose worker still answers a ping, is left to that worker.
        silent = timezone.now() - services.STALE_AFTER - datetime.timedelta(seconds=1)
        quiet = _runs(corpus, 1)[0]
        TrainingRun.objects.filter(pk=quiet.pk).update(
            status="running", worker=name, heartbeat_at=silent, task_id="its own"
        )
        assert services.work_reconcile()["runs"] == []
        quiet.refresh_from_db()
        assert (quiet.status, quiet.task_id) == (TrainingRun.Status.RUNNING, "its own")
    text = "".join(log)
    for run in [*lost, *late]:
        run.refresh_from_db()
        assert (run.status, run.step) == (TrainingRun.Status.SUCCEEDED, STEPS), text[-3000:]
        assert run.error == ""
        # Trained once: one training message of its current task id reached the worker.
        assert text.count(f"[{run.task_id}] received") == 1, text[-3000:]
    assert "its message was lost; sent again" in text


@pytest.mark.django_db(transaction=True)
def test_the_embedded_brokers_messages_count_as_live(corpus, tmp_path, monkeypatch):
    folder = tmp_path / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True)
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://localhost//")
    app = Celery("autogen-embedded", set_as_current=False)  # never the app of later tests
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),  # kombu's default is ./control
    }
    app.conf.result_backend = f"file://{tmp_path}"
    monkeypatch.setattr(enqueue, "current_app", app)
    run = _runs(corpus, 1)[0]
    services.run_enqueue(run)
    run.refresh_from_db()
    assert services.broker_task_ids(app) == {run.task_id}
    assert reconcile.work_reconcile(app=app)["runs"] == []
    for message in (folder / "queue").iterdir():
        message.unlink()  # the folder was lost
    assert reconcile.work_reconcile(app=app)["runs"] == [run.pk]
    assert len(list((folder / "queue").iterdir())) == 1
