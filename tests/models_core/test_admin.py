"""Researchers queue, watch, cancel and resume runs in the admin; nobody else gets in.

Personas: Alice is a researcher (superuser); Bob is a rater account (no staff access).
"""

import re
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.urls import reverse

from models_core import services
from models_core.models import MetricPoint, TrainingRun
from models_core.nn.train import CURVE_NAME
from models_core.services import runs

pytestmark = pytest.mark.django_db


def test_alice_queues_a_run_that_is_sent_to_a_worker_on_commit(
    alice, corpus, django_capture_on_commit_callbacks, sent
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = alice.post(
            reverse("admin:models_core_trainingrun_add"),
            {
                "corpus": corpus.pk,
                "objective": "autogen",
                "m": "2",
                "preset": "tiny",
                "total_steps": "40",
                "seed": "5",
                "form_token": str(uuid.uuid4()),
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = TrainingRun.objects.get()
    assert (run.objective, run.m, run.total_steps, run.status) == ("autogen", 2.0, 40, "queued")
    assert run.config["train"]["seed"] == 5
    assert run.config["model"]["vocab_size"] <= corpus.vocab_size
    assert len(callbacks) == 1 and sent == [([run.pk], run.task_id)]
    assert run.task_id  # stored before sending, so a fast worker finds it


def test_a_double_click_on_save_queues_one_run(
    alice, corpus, django_capture_on_commit_callbacks, sent
):
    url = reverse("admin:models_core_trainingrun_add")
    form = alice.get(url).content.decode()
    submission = re.search(r'name="form_token" value="([0-9a-f-]{36})"', form).group(1)
    data = {
        "corpus": corpus.pk, "objective": "vae", "preset": "tiny", "total_steps": "10",
        "seed": "0", "form_token": submission,
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        first = alice.post(url, data)
        second = alice.post(url, data, follow=True)
    assert first.status_code == 302
    run = TrainingRun.objects.get()
    assert f"This form was already sent: it queued run {run.pk}." in second.content.decode()
    assert sent == [([run.pk], TrainingRun.objects.get().task_id)]  # sent to a worker once
    fresh = re.search(r'name="form_token" value="([0-9a-f-]{36})"', alice.get(url).content.decode())
    assert fresh.group(1) != submission  # a new form, a new submission
    # The first form brought back and changed is refused, not silently dropped.
    changed = alice.post(url, {**data, "total_steps": "20"})
    assert changed.status_code == 200
    assert f"This form already queued run {run.pk} with other settings" in changed.content.decode()
    assert TrainingRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_racing_requests_of_one_form_queue_one_run(corpus, sent, monkeypatch):
    """Both requests pass the "already queued?" check, then both insert: the unique column
    lets one win, and the other returns the winner's run. (SQLite takes the write lock when a
    transaction starts, so there the second request waits before its check: nothing races.)"""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writing transactions: no race to test")
    both_checked = threading.Barrier(2, timeout=30)
    real_config = services.run_config

    def config_after_both_checked(**options):
        both_checked.wait()  # both requests are past the check, inside their transactions
        return real_config(**options)

    monkeypatch.setattr(runs, "run_config", config_after_both_checked)
    token, results = uuid.uuid4(), []

    def request() -> None:
        try:
            with transaction.atomic():  # as the admin's view does
                results.append(
                    services.run_submit(
                        submission=token, corpus=corpus, objective="vae", preset_name="tiny"
                    )
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created for _, created in results) == [False, True]
    assert len({run.pk for run, _ in results}) == 1
    assert TrainingRun.objects.count() == 1 and len(sent) == 1


def test_a_form_sent_without_its_token_still_queues_its_run(alice, corpus):
    data = {"corpus": corpus.pk, "objective": "vae", "preset": "tiny", "seed": "0"}
    response = alice.post(reverse("admin:models_core_trainingrun_add"), data)
    assert response.status_code == 302
    assert TrainingRun.objects.get().submission is not None


def test_the_add_form_refuses_m_for_a_plain_vae(alice, corpus):
    response = alice.post(
        reverse("admin:models_core_trainingrun_add"),
        {"corpus": corpus.pk, "objective": "vae", "m": "1", "preset": "tiny", "seed": "0"},
    )
    assert response.status_code == 200
    assert services.M_ONLY_FOR_AUTOGEN in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_add_form_takes_the_schedule_and_refuses_what_the_run_would(
    alice, corpus, small_book, tmp_path
):
    url = reverse("admin:models_core_trainingrun_add")
    base = {
        "corpus": corpus.pk, "preset": "tiny", "seed": "0", "total_steps": "10",
        "form_token": str(uuid.uuid4()),
    }  # fmt: skip
    few = tmp_path / "few.txt"
    few.write_text("".join(small_book.read_text().splitlines(keepends=True)[:150]))
    mini = services.corpus_import(name="mini", paths=[few])
    assert mini.n_train < 200  # fewer than one batch of the paper preset
    too_big = alice.post(url, {**base, "corpus": mini.pk, "objective": "vae", "preset": "paper"})
    assert too_big.status_code == 200 and "exceeds the" in too_big.content.decode()
    wrong_model = alice.post(url, {**base, "objective": "vae", "anneal": "logistic"})
    assert "--anneal applies to vae-anneal only" in wrong_model.content.decode()
    assert not TrainingRun.objects.exists()

    alice.post(
        url,
        {**base, "objective": "vae-anneal", "anneal": "cyclical", "beta": "0.5", "free_bits": "1"},
    )
    run = TrainingRun.objects.get()
    objective = run.config["objective"]
    assert (objective["anneal"], objective["beta"], objective["free_bits"]) == ("cyclical", 0.5, 1)


def test_alice_downloads_every_step_of_a_trained_run(alice, corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=12)
    url = reverse("admin:models_core_trainingrun_curves", args=[run.pk, "csv"])
    assert alice.get(url).status_code == 404  # not trained yet
    services.run_train(run)
    response = alice.get(url)
    assert response["Content-Disposition"].startswith("attachment")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("step,loss,objective,recon,kl")
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 13))
    # A run still writing: the download ends with the last whole row.
    with (run.directory / CURVE_NAME).open("a") as f:
        f.write("13,0.25,")
    response = alice.get(url)
    assert b"".join(response.streaming_content).decode().splitlines() == lines
    detail = alice.get(reverse("admin:models_core_trainingrun_change", args=[run.pk]))
    assert url in detail.content.decode()


def test_alice_watches_progress_and_curves(alice, corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=10)
    MetricPoint.objects.bulk_create(
        MetricPoint(
            run=run, step=s, split="train", recon=-50 + s, kl=0.1, elbo=-50.1 + s, kl_share=0.2
        )
        for s in range(1, 6)
    )
    page = alice.get(reverse("admin:models_core_trainingrun_changelist")).content.decode()
    assert "<progress" in page and "VAE" in page
    detail = alice.get(reverse("admin:models_core_trainingrun_change", args=[run.pk]))
    assert reverse("admin:models_core_trainingrun_curves", args=[run.pk, "png"]) in (
        detail.content.decode()
    )
    png = alice.get(reverse("admin:models_core_trainingrun_curves", args=[run.pk, "png"]))
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = alice.get(reverse("admin:models_core_trainingrun_curves", args=[run.pk, "svg"]))
    assert b"<svg" in svg.content


def test_alice_cancels_a_queued_run(alice, corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=10)
    alice.post(
        reverse("admin:models_core_trainingrun_changelist"),
        {"action": "cancel_runs", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED


def test_bob_and_outsiders_cannot_see_runs_or_curves(client, corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=10)
    urls = [
        reverse("admin:models_core_trainingrun_changelist"),
        reverse("admin:models_core_trainingrun_curves", args=[run.pk, "png"]),
        reverse("admin:models_core_trainingrun_curves", args=[run.pk, "csv"]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    bob = get_user_model().objects.create_user("bob", "bob@example.org", "pw")
    client.force_login(bob)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
