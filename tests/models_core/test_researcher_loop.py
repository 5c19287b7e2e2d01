"""The researcher's loop on real Celery worker processes (CI: Redis and PostgreSQL).

Alice uploads a corpus in the admin, which a worker imports; she queues the paper's four models
on it at the tiny preset; a worker trains them, evaluates each on the test split when it ends,
and the comparison page shows their curves and the metrics that ``manage.py evaluate --json``
prints. A decode job queued in the admin comes
back as sentences on the run's page. A run queued with ``train --queue`` and followed with
``runs RUN --json`` survives its worker being SIGKILLed mid-run.
"""

import io
import json
import os
import re
import signal
import time
from io import StringIO

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from models_core import selectors
from models_core.models import (
    Corpus,
    CorpusImport,
    DecodeJob,
    Experiment,
    MetricPoint,
    TrainingRun,
)
from models_core.nn.train import CURVE_NAME
from tests.conftest import celery_worker
from tests.models_core.worker_helpers import drain, wait_for, worker_env

STEPS = 20
TIMEOUT_S = 420


def _evaluated(experiment: Experiment):
    runs = selectors.experiment_runs(experiment)
    done = [r for r in runs if "evaluation" in r.final_metrics or r.status == "failed"]
    return runs if len(done) == 4 else None


def _evaluate_json(run: TrainingRun) -> dict:
    out = StringIO()
    call_command("evaluate", str(run.pk), "--json", stdout=out)
    return json.loads(out.getvalue())


def _upload_in_the_admin(alice, book, worker) -> Corpus | None:
    response = alice.post(
        reverse("admin:models_core_corpusimport_add"),
        {"name": "buster", "files": [SimpleUploadedFile("buster bear.txt", book.read_bytes())],
         "fmt": "auto", "vocab_size": "20000", "min_len": "5", "max_len": "30",
         "test_fraction": "0.1", "seed": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    job = CorpusImport.objects.get()
    wait_for(lambda: not CorpusImport.objects.get(pk=job.pk).is_active, TIMEOUT_S, "an import",
             worker)  # fmt: skip
    job.refresh_from_db()
    assert job.status == "succeeded" and job.worker.startswith("test-"), job.error
    return job.corpus


def _cuda_on_a_worker_without_one(corpus: Corpus, worker) -> dict | None:
    """``train --queue --device cuda`` on this CPU-only machine: the run fails at once, saying
    why (None where the worker has a GPU)."""
    if torch.cuda.is_available():
        return None
    out = StringIO()
    call_command(
        "train", "--corpus", corpus.name, "--model", "vae", "--preset", "tiny", "--steps", "5",
        "--device", "cuda", "--queue", "--json", stdout=out,
    )  # fmt: skip
    pk = json.loads(out.getvalue())["run"]
    return wait_for(
        lambda: (s := _runs_json(pk))["status"] not in ("queued", "running") and s,
        60,
        "a cuda run on a worker without a GPU",
        worker,
    )


def _decode_in_the_admin(alice, run: TrainingRun, worker) -> DecodeJob:
    add = reverse("admin:models_core_decodejob_add")
    response = alice.post(
        add,
        {"run": run.pk, "mode": "reconstruct", "n": "3", "beam": "3", "strategy": "beam",
         "steps": "10", "seed": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    job = DecodeJob.objects.get(run=run)
    wait_for(
        lambda: not DecodeJob.objects.get(pk=job.pk).is_active, TIMEOUT_S, "a decode job", worker
    )
    job.refresh_from_db()
    return job


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_corpus_uploaded_and_the_four_models_queued_in_the_admin_train_decode_and_compare(
    alice, small_book, data_dir
):
    add = reverse("admin:models_core_experiment_add")
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', alice.get(add).content.decode())
    with celery_worker(worker_env(data_dir)) as worker:
        log = drain(worker)
        corpus = _upload_in_the_admin(alice, small_book, worker)
        assert corpus is not None, "".join(log)[-3000:]
        response = alice.post(
            add,
            {"corpus": corpus.pk, "preset": "tiny", "steps": str(STEPS), "seed": "1",
             "device": "auto", "form_token": token.group(1)},
        )  # fmt: skip
        assert response.status_code == 302, response.content.decode()[:2000]
        experiment = Experiment.objects.get()
        runs = wait_for(lambda: _evaluated(experiment), TIMEOUT_S, "four evaluations", worker)
        job = _decode_in_the_admin(alice, runs[-1], worker)
        no_gpu = _cuda_on_a_worker_without_one(corpus, worker)
    if no_gpu is not None:
        assert no_gpu["status"] == "failed" and no_gpu["device"] == ""
        assert "asks for --device cuda, which worker test-" in no_gpu["error"]
    assert job.status == "succeeded", (job.error, "".join(log)[-3000:])
    assert job.decodings.count() == 3 and job.worker.startswith("test-")
    run_page = alice.get(reverse("admin:models_core_trainingrun_change", args=[runs[-1].pk]))
    assert escape(job.decodings.first().text) in run_page.content.decode()
    failed = [(r.pk, r.error, r.final_metrics) for r in runs if r.status != "succeeded"]
    assert not failed, (failed, "".join(log)[-3000:])
    for run in runs:
        assert run.step == STEPS and run.device and run.worker.startswith("test-")
        assert run.steps_per_s and run.steps_per_s > 0
        points = MetricPoint.objects.filter(run=run)
        assert points.filter(split="train").count() >= 2
        assert points.filter(split="test", step=STEPS).exists()

    page = alice.get(
        reverse("admin:models_core_trainingrun_compare") + f"?experiment={experiment.pk}"
    ).content.decode()
    for run in runs:
        printed = _evaluate_json(run)  # what `evaluate --json` prints for the same run
        for metric in selectors.COMPARISON_METRICS:
            cell = re.search(rf'data-run="{run.pk}" data-metric="{metric.key}">([^<]*)<', page)
            shown = float(cell.group(1))
            assert abs(shown - printed[metric.key]) <= 10**-metric.digits, (run, metric, shown)

    png = alice.get(
        reverse("admin:models_core_trainingrun_compare_image", args=["png"])
        + f"?experiment={experiment.pk}"
    ).content
    Image.open(io.BytesIO(png)).verify()
    series = Image.open(io.BytesIO(png)).text["Description"].splitlines()
    assert series == [f"{run.pk}: {run.label}" for run in runs]
    assert len(series) == 4


def _runs_json(pk: int) -> dict:
    out = StringIO()
    call_command("runs", str(pk), "--json", stdout=out)
    return json.loads(out.getvalue())


# The tiny preset checkpoints every 50 steps: the kill lands between the first checkpoint and
# the end, 150 steps later (half a second on an idle CPU, a minute on a busy one).
KILL_STEPS = 200
FIRST_CHECKPOINT = 50


def _wait_for_file(path, timeout: float, worker) -> None:
    """Watch for `path` closely (a stat every few ms: the run goes on meanwhile)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path.name} after {timeout:.0f} s"
        assert worker.poll() is None, "the worker exited"
        time.sleep(0.002)


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_run_queued_from_the_command_line_survives_a_sigkilled_worker(corpus, data_dir):
    """``train --queue``, then ``runs RUN --json`` follows it; its worker is SIGKILLed right
    after its first checkpoint; a worker started under the same name takes the run back, which
    resumes from the checkpoint and ends with every metric point and curve row once."""
    name = f"gpu-test-{os.getpid()}-{time.monotonic_ns()}@%h"
    env = worker_env(data_dir)
    out = StringIO()
    with celery_worker(env, queues="gpu", name=name) as first:
        drain(first)
        call_command(
            "train", "--corpus", corpus.name, "--model", "autogen", "--preset", "tiny",
            "--steps", str(KILL_STEPS), "--queue", "--json", stdout=out,
        )  # fmt: skip
        queued = json.loads(out.getvalue())
        assert queued["status"] == "queued"
        pk = queued["run"]
        assert _runs_json(pk)["status"] in ("queued", "running")
        _wait_for_file(data_dir / "runs" / str(pk) / "last.pt", TIMEOUT_S, first)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    seen = _runs_json(pk)  # nobody told the database
    assert seen["status"] == "running", seen
    assert FIRST_CHECKPOINT <= seen["step"] < KILL_STEPS, seen
    assert seen["worker"] and seen["device"] and seen["metric_points"] > 0

    with celery_worker(env, queues="gpu", name=name) as second:
        log = drain(second)
        final = wait_for(
            lambda: (s := _runs_json(pk))["status"] not in ("queued", "running") and s,
            TIMEOUT_S,
            "the run to end on the second worker",
            second,
        )
    assert final["status"] == "succeeded", (final["error"], "".join(log)[-3000:])
    assert final["step"] == final["total_steps"] == KILL_STEPS
    assert final["worker"] == seen["worker"] and final["steps_per_s"] > 0
    assert f"run {pk}: resuming from its checkpoint" in "".join(log)
    points = list(MetricPoint.objects.filter(run_id=pk).values_list("split", "step"))
    assert len(points) == len(set(points)) == final["metric_points"]
    assert sorted(s for split, s in points if split == "test") == [50, 100, 150, 200]
    rows = (data_dir / "runs" / str(pk) / CURVE_NAME).read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, KILL_STEPS + 1))
