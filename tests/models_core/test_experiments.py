"""Alice trains the paper's four models on a corpus in one form, watches them and compares them.

Personas: Alice is a researcher (superuser); Carol is staff who may look at runs but not queue
them; Bob is a rater account (no staff access).
"""

import io
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from models_core import selectors, services
from models_core.models import CorpusImport, DecodeJob, Experiment, MetricPoint, TrainingRun
from models_core.services import enqueue

pytestmark = pytest.mark.django_db

ADD = reverse("admin:models_core_experiment_add")
COMPARE = reverse("admin:models_core_trainingrun_compare")


def form_token(page: str) -> str:
    return re.search(r'name="form_token" value="([0-9a-f-]{36})"', page).group(1)


def test_the_corpus_list_leads_to_the_form_with_the_corpus_chosen(alice, corpus):
    page = alice.get(reverse("admin:models_core_corpus_changelist")).content.decode()
    assert f"{ADD}?corpus={corpus.pk}" in page
    form = alice.get(f"{ADD}?corpus={corpus.pk}").content.decode()
    assert re.search(rf'<option value="{corpus.pk}" selected>', form)
    response = alice.post(
        reverse("admin:models_core_corpus_changelist"),
        {"action": "train_paper_models", "_selected_action": [corpus.pk]},
    )
    assert response.status_code == 302 and response["Location"] == f"{ADD}?corpus={corpus.pk}"


def test_one_form_queues_the_four_models_once_even_on_a_double_click(
    alice, corpus, django_capture_on_commit_callbacks, sent
):
    token = form_token(alice.get(ADD).content.decode())
    data = {
        "corpus": corpus.pk, "preset": "tiny", "steps": "30", "seed": "7", "device": "cpu",
        "form_token": token,
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        first = alice.post(ADD, data)
        second = alice.post(ADD, data, follow=True)
    experiment = Experiment.objects.get()
    assert first.status_code == 302
    assert first["Location"] == reverse("admin:models_core_experiment_change", args=[experiment.pk])
    assert "This form was already sent" in second.content.decode()
    runs = selectors.experiment_runs(experiment)
    assert [run.label for run in runs] == [
        "VAE", "VAE (annealing)", "AutoGen (m=1)", "AutoGen (m=2)",
    ]  # fmt: skip
    assert {(r.preset, r.total_steps, r.config["train"]["seed"]) for r in runs} == {("tiny", 30, 7)}
    assert {r.config["train"]["device"] for r in runs} == {"cpu"}
    assert (experiment.preset, experiment.steps, experiment.seed) == ("tiny", 30, 7)
    page = alice.get(first["Location"]).content.decode()  # its page, to watch the four
    assert '<meta http-equiv="refresh" content="5">' in page
    assert f"{COMPARE}?experiment={experiment.pk}" in page
    assert page.count('<progress value="0" max="30"') == 4
    assert experiment.name == "buster, tiny, 30 steps, seed 7"
    assert sent == [([run.pk], run.task_id) for run in TrainingRun.objects.order_by("pk")]
    assert {name for name, _, _ in sent.tasks} == {enqueue.TRAIN_TASK}

    changed = alice.post(ADD, {**data, "seed": "8"})  # the used form, brought back and changed
    assert changed.status_code == 200
    assert f"This form already queued experiment {experiment.pk}" in changed.content.decode()
    assert TrainingRun.objects.count() == 4


def test_the_form_refuses_what_a_run_would_before_storing_anything(alice, small_book, tmp_path):
    few = tmp_path / "few.txt"
    few.write_text("".join(small_book.read_text().splitlines(keepends=True)[:150]))
    mini = services.corpus_import(name="mini", paths=[few])
    assert mini.n_train < 200  # fewer than one batch of the paper preset
    data = {"corpus": mini.pk, "preset": "paper", "seed": "0", "device": "auto"}
    response = alice.post(ADD, data)
    assert response.status_code == 200 and "exceeds the" in response.content.decode()
    response = alice.post(ADD, {**data, "preset": "tiny", "steps": "0"})
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    assert not Experiment.objects.exists() and not TrainingRun.objects.exists()


def _staff(client, *codenames: str):
    user = get_user_model().objects.create_user("carol", "carol@example.org", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_staff_without_the_run_permissions_cannot_queue(client, corpus, sent):
    carol = _staff(client, "view_trainingrun", "view_experiment", "view_corpus", "add_experiment")
    data = {"corpus": corpus.pk, "preset": "tiny", "steps": "5", "seed": "0", "device": "auto"}
    assert carol.get(ADD).status_code == 403
    assert carol.post(ADD, data).status_code == 403
    page = carol.get(reverse("admin:models_core_corpus_changelist")).content.decode()
    assert "train_paper_models" not in page and f"{ADD}?corpus" not in page
    assert carol.get(reverse("admin:models_core_trainingrun_changelist")).status_code == 200
    assert carol.get(reverse("admin:models_core_trainingrun_add")).status_code == 403
    assert not TrainingRun.objects.exists() and sent == []


def test_bob_and_outsiders_reach_none_of_it(client, corpus):
    experiment = services.experiment_create(corpus=corpus, preset_name="tiny", steps=5)
    run = experiment.runs.first()
    urls = [
        ADD,
        reverse("admin:models_core_experiment_changelist"),
        reverse("admin:models_core_experiment_change", args=[experiment.pk]),
        f"{COMPARE}?experiment={experiment.pk}",
        reverse("admin:models_core_trainingrun_compare_image", args=["png"]) + f"?runs={run.pk}",
        reverse("admin:models_core_corpusimport_add"),
        reverse("admin:models_core_corpusimport_changelist"),
        reverse("admin:models_core_decodejob_add") + f"?run={run.pk}",
        reverse("admin:models_core_decodejob_changelist"),
        reverse("admin:models_core_decoding_changelist"),
    ]
    for url in urls:
        assert client.get(url).status_code == 302
    bob = get_user_model().objects.create_user("bob", "bob@example.org", "pw")
    client.force_login(bob)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_run_list_shows_speed_eta_and_device_and_a_running_run_reloads_itself(alice, corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=100)
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", step=40, steps_per_s=4.0, device="cpu", worker="gpu0@lab",
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    page = alice.get(reverse("admin:models_core_trainingrun_changelist")).content.decode()
    for shown in ("Steps/s", "ETA", "4.00", "15s", "cpu", '<progress value="40" max="100"'):
        assert shown in page, shown
    detail = alice.get(reverse("admin:models_core_trainingrun_change", args=[run.pk]))
    assert '<meta http-equiv="refresh" content="5">' in detail.content.decode()
    assert "gpu0@lab" in detail.content.decode()

    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - services.STALE_AFTER)
    page = alice.get(reverse("admin:models_core_trainingrun_changelist")).content.decode()
    assert "no news from its worker" in page
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", step=100)
    detail = alice.get(reverse("admin:models_core_trainingrun_change", args=[run.pk]))
    assert 'http-equiv="refresh"' not in detail.content.decode()


EVALUATION = {
    "elbo": -38.1215, "recon": -38.118, "kl": 0.0031, "kl_share": 0.0082, "mi": 0.1995,
    "active_units": 0, "iw_nll": 38.0882, "ppl": 10.3823, "recon_bleu": 4.7226,
    "exact_match": 0.0, "sentences": 76, "step": 10,
}  # fmt: skip


def _points(run: TrainingRun, steps: int = 10) -> None:
    MetricPoint.objects.bulk_create(
        MetricPoint(run=run, step=s, split="train", recon=-50 + s, kl=0.1 * s,
                    elbo=-50 + 0.9 * s, kl_share=0.2 * s)
        for s in range(1, steps + 1)
    )  # fmt: skip


def test_the_comparison_overlays_the_curves_and_puts_the_metrics_side_by_side(alice, corpus):
    experiment = services.experiment_create(corpus=corpus, preset_name="tiny", steps=10)
    runs = selectors.experiment_runs(experiment)
    for i, run in enumerate(runs):
        _points(run)
        metrics = {**EVALUATION, "elbo": EVALUATION["elbo"] - i, "run": run.pk}
        TrainingRun.objects.filter(pk=run.pk).update(
            status="succeeded", step=10, final_metrics={"evaluation": metrics}
        )
    page = alice.get(f"{COMPARE}?experiment={experiment.pk}").content.decode()
    for i, run in enumerate(runs):
        cell = rf'data-run="{run.pk}" data-metric="elbo">([^<]*)<'
        assert re.search(cell, page).group(1) == f"{EVALUATION['elbo'] - i:.2f}"
        assert f'data-run="{run.pk}" data-metric="ppl">10.38<' in page
    for metric in selectors.COMPARISON_METRICS:
        assert metric.label in page
    assert 'http-equiv="refresh"' not in page  # nothing left to wait for

    png = alice.get(
        reverse("admin:models_core_trainingrun_compare_image", args=["png"])
        + f"?experiment={experiment.pk}"
    )
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png.content))
    image.verify()
    labels = Image.open(io.BytesIO(png.content)).text["Description"].splitlines()
    assert labels == [f"{run.pk}: {run.label}" for run in runs]


def test_any_selection_of_runs_compares_and_waits_for_evaluations(alice, corpus):
    a = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=10)
    b = services.run_create(corpus=corpus, objective="autogen", m=2, preset_name="tiny", steps=10)
    _points(a)
    TrainingRun.objects.filter(pk=a.pk).update(status="succeeded", step=10)
    response = alice.post(
        reverse("admin:models_core_trainingrun_changelist"),
        {"action": "compare_runs", "_selected_action": [b.pk, a.pk]},
    )
    assert response["Location"] == f"{COMPARE}?runs={a.pk},{b.pk}"
    page = alice.get(response["Location"]).content.decode()
    assert "evaluating…" in page and "queued, step 0 of 10" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    png = alice.get(reverse("admin:models_core_trainingrun_compare_image", args=["png"])
                    + f"?runs={a.pk},{b.pk}")  # fmt: skip
    assert Image.open(io.BytesIO(png.content)).text["Description"].splitlines() == [
        f"{a.pk}: VAE"
    ]  # b has no points yet
    assert alice.get(f"{COMPARE}?runs={a.pk},999").status_code == 404


def test_a_run_queued_for_a_missing_gpu_fails_at_once_saying_so(corpus):
    if services.device_check("auto").type == "cuda":
        pytest.skip("this machine has a GPU")
    from models_core.tasks import train_run

    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5,
                              device="cuda")  # fmt: skip
    with pytest.raises(services.ServiceError, match="asks for --device cuda"):
        train_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at is not None
    assert "asks for --device cuda, which this process cannot use" in run.error
    assert "GPU worker" in run.error


def test_a_stale_message_is_skipped_and_a_restarted_worker_takes_its_work_back(
    corpus, sent, django_capture_on_commit_callbacks
):
    from models_core.tasks import train_run

    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    TrainingRun.objects.filter(pk=run.pk).update(task_id="current")
    stale = train_run.apply(args=[run.pk], task_id="old").get()
    assert stale == {"run": run.pk, "status": "queued", "skipped": True, "superseded": True}

    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", worker="gpu0@lab", heartbeat_at=timezone.now()
    )
    other = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    TrainingRun.objects.filter(pk=other.pk).update(status="running", worker="gpu1@lab")
    job = DecodeJob.objects.create(run=other, mode="prior", beam=1, steps=2, status="running",
                                   worker="gpu0@lab")  # fmt: skip
    corpus_import = CorpusImport.objects.create(
        name="more", origin="server", paths=[], vocab_size=5, min_len=1, max_len=2,
        test_fraction=0.1, status="running", worker="gpu0@lab",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        reclaimed = services.worker_reclaim("gpu0@lab")
    assert reclaimed == {"runs": [run.pk], "decode_jobs": [job.pk],
                         "corpus_imports": [corpus_import.pk]}  # fmt: skip
    assert {name for name, _, _ in sent.tasks} == {
        enqueue.TRAIN_TASK, enqueue.DECODE_TASK, enqueue.IMPORT_TASK,
    }  # fmt: skip
    run.refresh_from_db()
    assert run.status == "queued"
    assert TrainingRun.objects.get(pk=other.pk).status == "running"


def test_resume_takes_a_run_whose_worker_went_silent(corpus, sent):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert services.run_resume(run) is False  # its worker is alive
    silent = timezone.now() - services.STALE_AFTER
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=silent)
    assert services.run_resume(run) is True and run.status == "queued"


def test_a_finished_run_is_evaluated_once_and_a_refusal_is_kept(corpus):
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    assert services.run_evaluate_finished(run)["skipped"] is True  # not trained yet
    services.run_train(run)
    result = services.run_evaluate_finished(run)
    run.refresh_from_db()
    stored = run.final_metrics["evaluation"]
    assert result["step"] == stored["step"] == 5
    assert all(stored[m.key] == result[m.key] for m in selectors.COMPARISON_METRICS)
    assert services.run_evaluate_finished(run)["skipped"] is True  # a second delivery

    TrainingRun.objects.filter(pk=run.pk).update(final_metrics={})
    run.refresh_from_db()
    (run.corpus.directory / "test.txt").write_text("")
    refused = services.run_evaluate_finished(run)
    run.refresh_from_db()
    assert refused[services.EVALUATION_ERROR].endswith("test.txt: is empty")
    columns = selectors.runs_comparison([run])
    assert columns[0].note.startswith("evaluation failed: ") and not columns[0].pending


def test_a_submission_token_is_one_experiment(corpus, sent):
    token = uuid.uuid4()
    first, created = services.experiment_submit(
        submission=token, corpus=corpus, preset_name="tiny", steps=5
    )
    again, created_again = services.experiment_submit(
        submission=token, corpus=corpus, preset_name="tiny", steps=5
    )
    assert (created, created_again) == (True, False) and first.pk == again.pk
    assert Experiment.objects.count() == 1 and TrainingRun.objects.count() == 4


@pytest.mark.parametrize(("steps", "anneal_steps"), [(1200, 600), (5, 2), (1_000_000, 20_000)])
def test_the_annealed_vae_warms_up_by_half_way_through_a_short_run(corpus, steps, anneal_steps):
    experiment = services.experiment_create(corpus=corpus, preset_name="tiny", steps=steps)
    objectives = {run.objective: run.config["objective"] for run in experiment.runs.all()}
    assert objectives["vae-anneal"]["anneal_steps"] == anneal_steps
    assert objectives["vae-anneal"]["anneal"] == "linear"
    assert {o["anneal"] for kind, o in objectives.items() if kind != "vae-anneal"} == {"constant"}
