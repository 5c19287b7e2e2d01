"""Alice queues decode jobs from a run's page; a worker decodes and the sentences come back,
browsable per run with the paper filter's verdict.

Personas: Alice is a researcher (superuser); Carol is staff who may look at runs only.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.html import escape

from models_core import services
from models_core.models import DecodeJob, Decoding
from models_core.services import enqueue
from models_core.tasks import decode_job

pytestmark = pytest.mark.django_db

ADD = reverse("admin:models_core_decodejob_add")


@pytest.fixture
def trained(corpus):
    run = services.run_create(corpus=corpus, objective="autogen", preset_name="tiny", steps=8)
    services.run_train(run)
    return run


def test_alice_queues_a_decode_job_from_the_run_page_once(
    alice, trained, django_capture_on_commit_callbacks, sent
):
    page = alice.get(reverse("admin:models_core_trainingrun_change", args=[trained.pk]))
    assert f"{ADD}?run={trained.pk}" in page.content.decode()
    form = alice.get(f"{ADD}?run={trained.pk}").content.decode()
    assert re.search(rf'<option value="{trained.pk}" selected>', form)
    token = re.search(r'name="form_token" value="([0-9a-f-]{36})"', form).group(1)
    data = {
        "run": trained.pk, "mode": "reconstruct", "n": "3", "beam": "2", "strategy": "beam",
        "steps": "10", "seed": "4", "paper_filter": "on", "sentences": "", "form_token": token,
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        first = alice.post(ADD, data)
        alice.post(ADD, data)
    job = DecodeJob.objects.get()
    assert first["Location"] == reverse("admin:models_core_decodejob_change", args=[job.pk])
    assert (job.mode, job.n, job.beam, job.seed, job.paper_filter) == ("reconstruct", 3, 2, 4, True)
    assert job.status == "queued" and job.task_id
    assert sent.tasks == [(enqueue.DECODE_TASK, [job.pk], None)]  # the gpu queue, by route
    detail = alice.get(reverse("admin:models_core_decodejob_change", args=[job.pk]))
    assert '<meta http-equiv="refresh" content="5">' in detail.content.decode()


def test_the_form_refuses_what_the_job_would(alice, corpus, trained):
    untrained = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    base = {"mode": "reconstruct", "n": "2", "beam": "1", "strategy": "beam", "steps": "10",
            "seed": "0"}  # fmt: skip
    response = alice.post(ADD, {**base, "run": untrained.pk})
    assert "has no checkpoint yet" in response.content.decode()
    response = alice.post(
        ADD, {**base, "run": trained.pk, "mode": "interpolate", "sentences": "only one ."}
    )
    assert services.INTERPOLATE_TWO in response.content.decode()
    assert not DecodeJob.objects.exists()


def test_a_worker_decodes_the_job_and_the_run_page_lists_the_sentences(alice, trained):
    job = services.decode_job_create(run=trained, mode="prior", n=4, beam=2, seed=1)
    DecodeJob.objects.filter(pk=job.pk).update(task_id="t1")
    assert decode_job.apply(args=[job.pk], task_id="stale").get()["superseded"] is True
    result = decode_job.apply(args=[job.pk], task_id="t1").get()
    job.refresh_from_db()
    assert result == {"job": job.pk, "status": "succeeded", "decodings": 4}
    assert (job.status, job.progress) == ("succeeded", 1.0) and job.finished_at
    made = list(job.decodings.all())
    assert len(made) == 4 and {d.batch for d in made} == {job.batch}
    assert all(d.run_id == trained.pk and d.mode == "prior" for d in made)
    assert decode_job.apply(args=[job.pk], task_id="t1").get()["skipped"] is True  # once

    page = alice.get(reverse("admin:models_core_trainingrun_change", args=[trained.pk]))
    text = page.content.decode()
    for d in made:
        assert f"<td>{escape(d.text)}</td>" in text
    assert "<th>paper filter</th>" in text and ("passes" in text or "fails" in text)
    assert f"?run__id__exact={trained.pk}" in text
    listed = alice.get(
        reverse("admin:models_core_decoding_changelist") + f"?job__id__exact={job.pk}"
    )
    assert listed.status_code == 200 and "4 decodings" in listed.content.decode()


def test_a_refused_input_fails_the_job_with_the_services_message(trained):
    job = services.decode_job_create(
        run=trained, mode="reconstruct", sentences=["no ."], paper_filter=True
    )
    result = services.decode_job_run(job)
    assert result["status"] == "failed"
    assert job.error == services.FILTER_REFUSED.format(sentence="no .")
    assert not Decoding.objects.exists()


def test_staff_without_the_decode_permission_cannot_queue(client, trained, sent):
    user = get_user_model().objects.create_user("carol", "c@example.org", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_trainingrun", "view_decodejob"])
    )
    client.force_login(user)
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, {"run": trained.pk, "mode": "prior"}).status_code == 403
    assert not DecodeJob.objects.exists() and sent == []
