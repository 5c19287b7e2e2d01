"""The command line of a cluster: ``train --queue``, ``decode --queue`` and ``runs``.

Nothing trains here: what would go to a worker is recorded (``sent``); the real worker
processes are in test_researcher_loop.py.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from models_core import services
from models_core.models import DecodeJob, MetricPoint, TrainingRun
from models_core.services import enqueue

pytestmark = pytest.mark.django_db


def run_json(*args) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out, stderr=StringIO())
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def run_text(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_train_queue_prints_the_run_and_trains_nothing_here(
    corpus, django_capture_on_commit_callbacks, sent
):
    with django_capture_on_commit_callbacks(execute=True):
        report = run_json(
            "train", "--corpus", "buster", "--model", "autogen", "--m", "2", "--preset", "tiny",
            "--steps", "40", "--device", "cuda", "--queue",
        )  # fmt: skip
    run = TrainingRun.objects.get(pk=report["run"])
    assert report["status"] == "queued" and report["model"] == "AutoGen (m=2)"
    assert (report["total_steps"], report["device"], report["corpus"]) == (40, "cuda", "buster")
    assert (run.status, run.step) == ("queued", 0) and not run.directory.exists()
    assert sent == [([run.pk], run.task_id)]
    assert sent.tasks[0][0] == enqueue.TRAIN_TASK
    with django_capture_on_commit_callbacks(execute=True):
        text = run_text("train", "--corpus", "buster", "--model", "vae", "--preset", "tiny",
                        "--queue")  # fmt: skip
    assert "queued for a worker" in text and "manage.py runs" in text


def test_runs_prints_status_step_speed_eta_device_worker_points_and_metrics(corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=100)
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", step=40, steps_per_s=4.0, device="cuda:0", worker="gpu0@node7",
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    MetricPoint.objects.create(run=run, step=40, split="train", recon=-5, kl=1, elbo=-6,
                               kl_share=10)  # fmt: skip
    status = run_json("runs", str(run.pk))
    expected = {
        "run": run.pk, "status": "running", "step": 40, "total_steps": 100, "device": "cuda:0",
        "worker": "gpu0@node7", "metric_points": 1, "steps_per_s": 4.0, "eta_s": 15.0,
        "stale": False, "decode_jobs": [],
    }  # fmt: skip
    assert {k: status[k] for k in expected} == expected
    assert status["final_metrics"] == {}
    text = run_text("runs", str(run.pk))
    for shown in ("running", "step 40/100 (40%)", "4.00 steps/s", "ETA 15 s", "cuda:0",
                  "gpu0@node7", "1 metric points"):  # fmt: skip
        assert shown in text, shown

    evaluation = {"elbo": -40.5, "kl": 1.25, "ppl": 12.0, "step": 100}
    TrainingRun.objects.filter(pk=run.pk).update(
        status="succeeded", step=100, final_metrics={"evaluation": evaluation}
    )
    status = run_json("runs", str(run.pk))
    assert status["eta_s"] is None and status["final_metrics"]["evaluation"] == evaluation
    assert "elbo -40.500, kl 1.250, ppl 12.000" in run_text("runs", str(run.pk))


def test_runs_lists_the_latest_runs_and_an_experiments(corpus):
    lone = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    experiment = services.experiment_create(corpus=corpus, preset_name="tiny", steps=5)
    listed = run_json("runs")["runs"]
    assert [r["run"] for r in listed][-1] == lone.pk and len(listed) == 5
    assert len(run_json("runs", "--limit", "2")["runs"]) == 2
    mine = run_json("runs", "--experiment", str(experiment.pk))["runs"]
    assert {r["run"] for r in mine} == set(experiment.runs.values_list("pk", flat=True))
    assert {r["experiment"] for r in mine} == {experiment.pk}


def test_runs_cancels_and_resumes(corpus, django_capture_on_commit_callbacks, sent):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    assert run_json("runs", str(run.pk), "--cancel")["status"] == "cancelled"
    with django_capture_on_commit_callbacks(execute=True):
        assert run_json("runs", str(run.pk), "--resume")["status"] == "queued"
    run.refresh_from_db()
    assert sent == [([run.pk], run.task_id)]
    with pytest.raises(CommandError, match=r"is queued: only a failed, cancelled or silent"):
        call_command("runs", str(run.pk), "--resume", stdout=StringIO())
    with pytest.raises(CommandError, match="need a run id"):
        call_command("runs", "--cancel", stdout=StringIO())
    with pytest.raises(CommandError, match="No training run '999'"):
        call_command("runs", "999", stdout=StringIO())


def test_decode_queue_prints_the_job_and_runs_follows_it(
    corpus, django_capture_on_commit_callbacks, sent
):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    with pytest.raises(CommandError, match="has no checkpoint yet"):
        call_command("decode", str(run.pk), "--mode", "prior", "--queue", stdout=StringIO())
    services.run_train(run)
    with django_capture_on_commit_callbacks(execute=True):
        report = run_json("decode", str(run.pk), "--mode", "prior", "--n", "7", "--beam", "2",
                          "--queue")  # fmt: skip
    job = DecodeJob.objects.get()
    assert report == {
        "job": job.pk, "run": run.pk, "model": "VAE", "mode": "prior", "status": "queued",
    }  # fmt: skip
    assert (job.n, job.beam) == (7, 2) and sent.tasks == [(enqueue.DECODE_TASK, [job.pk], None)]
    jobs = run_json("runs", str(run.pk))["decode_jobs"]
    assert jobs == [{"job": job.pk, "mode": "prior", "status": "queued", "progress": 0.0,
                     "decodings": 0, "error": ""}]  # fmt: skip
    assert not run.decodings.exists()  # nothing decoded in this process
