"""import_corpus and train, as a researcher runs them: JSON out, one-line errors, nothing lost."""

import json
import math
from io import StringIO

import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from models_core import services
from models_core.models import Corpus, MetricPoint, TrainingRun
from models_core.nn import decode
from models_core.nn.corpus import load_encoded
from models_core.nn.decode import display_filter
from models_core.nn.textfiles import CorpusError
from models_core.nn.tokenize import tokenize
from models_core.nn.train import TrainCallback
from models_core.services import progress

pytestmark = pytest.mark.django_db


def run_json(*args) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out, stderr=StringIO())
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def test_import_corpus_prints_its_counts_and_stores_the_splits(small_book, data_dir):
    report = run_json("import_corpus", str(small_book), "--name", "buster", "--vocab-size", "500")
    corpus = Corpus.objects.get(name="buster")
    assert report["corpus"] == "buster"
    assert report["n_train"] == corpus.n_train > 0
    assert report["n_test"] == corpus.n_test > 0
    assert report["vocab_size"] == corpus.vocab_size == 500 + 4  # and the 4 special tokens
    assert report["fmt"] == "lines"
    for name in ("train.txt", "test.txt", "vocab.txt"):
        assert (corpus.directory / name).stat().st_size > 0
    assert corpus.directory.parent == data_dir / "corpora"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00" * 100, "binary"),
        (b"caf\xe9 au lait is a drink that people like to have.\n" * 10, "UTF-8"),
        (b"word " * 300_000, "line"),
    ],
)
def test_bad_corpora_give_one_line_and_lose_nothing(small_book, tmp_path, content, problem):
    call_command("import_corpus", str(small_book), "--name", "kept", stdout=StringIO())
    kept = Corpus.objects.get(name="kept")
    before = sorted(p.name for p in kept.directory.iterdir())
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(CommandError) as caught:
        call_command("import_corpus", str(bad), "--name", "bad", stdout=StringIO())
    message = str(caught.value)
    assert "\n" not in message
    assert problem.lower() in message.lower()
    assert not Corpus.objects.filter(name="bad").exists()
    assert sorted(p.name for p in kept.directory.iterdir()) == before
    assert [p.name for p in kept.directory.parent.iterdir()] == ["kept"]


def test_a_directory_is_refused_in_one_line(tmp_path):
    with pytest.raises(CommandError, match="directory"):
        call_command("import_corpus", str(tmp_path), "--name", "folder", stdout=StringIO())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--vocab-size", "0"], "vocab_size must be at least 1"),
        (["--min-len", "9", "--max-len", "3"], "min_len <= max_len"),
        (["--test-fraction", "1"], "test_fraction must be between 0 and 1"),
    ],
)
def test_bad_import_options_give_one_line_and_store_nothing(small_book, data_dir, options, message):
    with pytest.raises(CommandError, match=message) as caught:
        call_command("import_corpus", str(small_book), "--name", "x", *options, stdout=StringIO())
    assert "\n" not in str(caught.value)
    assert not Corpus.objects.exists()
    assert not list((data_dir / "corpora").iterdir())  # no scratch folder left behind


def test_a_corpus_name_is_not_overwritten(small_book):
    call_command("import_corpus", str(small_book), "--name", "once", stdout=StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("import_corpus", str(small_book), "--name", "once", stdout=StringIO())
    assert Corpus.objects.filter(name="once").count() == 1


def test_train_prints_the_run_and_its_final_metrics(small_book):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    report = run_json(
        "train",
        "--corpus",
        "buster",
        "--model",
        "autogen",
        "--m",
        "2",
        "--preset",
        "tiny",
        "--steps",
        "30",
        "--no-progress",
    )
    run = TrainingRun.objects.get(pk=report["run"])
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.step == report["steps"] == 30
    assert run.label == report["model"] == "AutoGen (m=2)"
    assert run.config["objective"]["m"] == 2.0
    assert report["elbo"] == pytest.approx(report["recon"] - report["kl"])
    assert (run.directory / "last.pt").exists()
    assert MetricPoint.objects.filter(run=run, split="train").exists()
    test_points = MetricPoint.objects.filter(run=run, split="test")
    assert test_points.order_by("-step").first().step == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "missing", "--model", "vae"], "No corpus named 'missing'"),
        (["--corpus", "buster", "--model", "vae", "--m", "1"], "--m applies to the autogen"),
        (["--corpus", "buster", "--model", "autogen", "--m", "-1"], "m must exceed -1"),
        (["--corpus", "buster", "--model", "vae", "--anneal", "logistic"], "--anneal applies"),
        (["--corpus", "buster", "--model", "vae", "--beta", "-1"], "need finite beta >= 0"),
        (["--corpus", "buster", "--model", "vae", "--beta", "nan"], "need finite beta >= 0"),
        (["--corpus", "buster", "--model", "vae", "--free-bits", "inf"], "free_bits >= 0"),
        (["--corpus", "buster", "--model", "autogen", "--m", "inf"], "m must exceed -1"),
        (["--corpus", "buster", "--model", "autogen", "--free-bits", "-0.5"], "free_bits >= 0"),
        (["--corpus", "buster", "--model", "vae", "--batch-size", "100000"], "exceeds the"),
        (["--corpus", "buster", "--model", "vae", "--batch-size", "0"], "batch_size"),
    ],
)
def test_train_refuses_bad_requests_in_one_line(small_book, args, message):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    with pytest.raises(CommandError, match=message) as caught:
        call_command("train", *args, "--preset", "tiny", "--steps", "5", stdout=StringIO())
    assert "\n" not in str(caught.value)
    assert not TrainingRun.objects.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_train_on_cuda_without_a_gpu_is_refused_before_a_run_exists(small_book):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    with pytest.raises(CommandError, match="no CUDA device"):
        call_command(
            "train", "--corpus", "buster", "--model", "vae", "--device", "cuda", stdout=StringIO()
        )
    assert not TrainingRun.objects.exists()


def test_train_takes_the_schedule_beta_and_free_bits_by_name(small_book):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    report = run_json(
        "train",
        "--corpus=buster",
        "--model=vae-anneal",
        "--anneal=logistic",
        "--anneal-steps=20",
        "--beta=0.5",
        "--free-bits=0.1",
        "--preset=tiny",
        "--steps=20",
        "--no-progress",
    )
    run = TrainingRun.objects.get(pk=report["run"])
    assert (
        report["model"]
        == run.label
        == ("VAE (annealing), logistic annealing, β=0.5, free bits 0.1")
    )
    objective = run.config["objective"]
    assert (objective["anneal"], objective["anneal_steps"]) == ("logistic", 20)
    assert (objective["beta"], objective["free_bits"]) == (0.5, 0.1)
    # β(t) = 0.5 · logistic(t): it rises through training and never exceeds β.
    weights = list(run.metrics.filter(split="train").values_list("beta", flat=True))
    assert len(weights) >= 2
    assert weights == sorted(weights)
    assert 0 < weights[0] < 0.1 and 0.4 < weights[-1] <= 0.5


def test_a_cancel_request_stops_a_run_after_a_checkpoint(small_book, monkeypatch):
    monkeypatch.setattr(progress, "PROGRESS_SAVE_INTERVAL_S", 0.0)  # look for it every step
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=200)

    class CancelAtStep7(TrainCallback):
        def on_step(self, record):
            if record["step"] == 7:
                services.run_cancel(run)

    result = services.run_train(run, callbacks=[CancelAtStep7()])
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert result.stopped
    assert run.step == result.step == 8  # RecordProgress runs first: it sees it a step later
    assert torch.load(run.directory / "last.pt", weights_only=False)["step"] == 8


def test_a_cancelled_run_resumes_to_the_end(small_book, monkeypatch):
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(corpus=corpus, objective="vae-anneal", preset_name="tiny", steps=20)

    class StopAt5(TrainCallback):
        def on_step(self, record):
            return record["step"] == 5

    services.run_train(run, callbacks=[StopAt5()])
    run.refresh_from_db()
    assert (run.status, run.step) == (TrainingRun.Status.CANCELLED, 5)
    with pytest.raises(services.ServiceError, match="only a queued run"):
        services.run_train(run)
    assert services.run_requeue(run) is True
    assert services.run_requeue(run) is False  # a second click changes nothing
    services.run_train(run)
    run.refresh_from_db()
    assert (run.status, run.step) == (TrainingRun.Status.SUCCEEDED, 20)
    steps = list(run.metrics.filter(split="train").values_list("step", flat=True))
    assert steps == sorted(set(steps)) and steps[-1] == 20


def run_latent_dim(run_id: int) -> int:
    return TrainingRun.objects.get(pk=run_id).config["model"]["latent_dim"]


def test_evaluate_and_decode_a_trained_run(small_book):
    call_command("import_corpus", str(small_book), "--name", "buster", stdout=StringIO())
    run_id = run_json(
        "train",
        "--corpus",
        "buster",
        "--model",
        "vae",
        "--preset",
        "tiny",
        "--steps",
        "20",
        "--no-progress",
    )["run"]

    metrics = run_json("evaluate", str(run_id), "--iw-samples", "5", "--prior-samples", "10")
    for key in (
        "elbo",
        "recon",
        "kl",
        "kl_share",
        "iw_nll",
        "ppl",
        "mi",
        "active_units",
        "recon_bleu",
        "exact_match",
    ):
        assert key in metrics, key
    assert metrics["elbo"] == pytest.approx(metrics["recon"] - metrics["kl"])
    assert metrics["iw_nll"] <= -metrics["elbo"] + 1e-3  # the IW bound is the tighter one
    # (MI is He et al.'s Monte Carlo estimate: a little below 0 is possible when z is unused.)
    assert metrics["kl"] >= 0 and metrics["recon"] < 0 and math.isfinite(metrics["mi"])
    assert 0 <= metrics["kl_share"] <= 100
    assert 0 <= metrics["active_units"] <= run_latent_dim(run_id)
    assert 0 <= metrics["recon_bleu"] <= 100 and 0 <= metrics["exact_match"] <= 1
    # ppl = exp(IW-NLL per token) >= 1; elbo_ppl (from the looser ELBO) is at least as high
    assert 1 <= metrics["ppl"] <= metrics["elbo_ppl"] + 1e-6
    run = TrainingRun.objects.get(pk=run_id)
    assert run.final_metrics["evaluation"]["iw_nll"] == metrics["iw_nll"]

    recon = run_json("decode", str(run_id), "--mode", "reconstruct", "--n", "4", "--beam", "3")
    assert len(recon["sentences"]) == 4
    assert all(s["source"] and s["text"] for s in recon["sentences"])
    again = run_json("decode", str(run_id), "--mode", "reconstruct", "--n", "4", "--beam", "3")
    assert again["sentences"] == recon["sentences"]  # same seed, same sentences

    path = run_json("decode", str(run_id), "--mode", "interpolate", "--beam", "2")
    assert len(path["sentences"]) == 10
    assert len({s["source"] for s in path["sentences"]}) == 1  # both ends, on every row
    assert path["sentences"][0]["source"].count(" → ") == 1
    prior = run_json("decode", str(run_id), "--mode", "prior", "--n", "3", "--strategy", "greedy")
    assert len(prior["sentences"]) == 3
    assert run.decodings.count() == 4 + 4 + 10 + 3

    with pytest.raises(CommandError, match="No training run 'nope'"):
        call_command("decode", "nope", "--mode", "prior", stdout=StringIO())
    with pytest.raises(CommandError, match=r"^interpolate needs exactly two sentences\.$"):
        call_command(
            "decode", str(run_id), "--mode", "interpolate", "--sentence", "the bear came .",
            stdout=StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="iw_samples >= 1") as caught:
        call_command("evaluate", str(run_id), "--iw-samples", "0", stdout=StringIO())
    assert "\n" not in str(caught.value)


def test_the_paper_filter_picks_inputs_for_reconstruction_and_outputs_for_the_prior(small_book):
    corpus = services.corpus_import(name="buster", paths=[small_book], vocab_size=500)
    run = services.run_create(
        corpus=corpus, objective="vae", preset_name="small", steps=2, batch_size=8
    )
    services.run_train(run)
    vocab = services.vocab_for(run, run.config["model"]["vocab_size"])
    test = load_encoded(corpus.directory, "test", vocab)
    passing = [s for s in test if display_filter(s.tolist())]
    failing = [s for s in test if not display_filter(s.tolist())]
    assert len(passing) >= 12 and failing  # a 500-word vocabulary leaves <unk> in some

    recon = services.run_decode(run, mode="reconstruct", n=12, beam=2, paper_filter=True)
    assert len(recon) == 12  # every input decoded: nothing dropped afterwards
    assert all(display_filter(tokenize(d.source)) for d in recon)
    unfiltered = services.run_decode(run, mode="reconstruct", n=12, beam=2)
    assert not all(display_filter(tokenize(d.source)) for d in unfiltered)

    bad = " ".join(vocab.decode(failing[0].tolist()))
    with pytest.raises(services.ServiceError, match="fails the paper filter"):
        services.run_decode(run, mode="interpolate", sentences=[bad, bad], paper_filter=True)
    path = services.run_decode(run, mode="interpolate", beam=2, paper_filter=True)
    ends = path[0].source.split(" → ")
    assert len(path) == 10 and all(display_filter(tokenize(e)) for e in ends)

    prior = services.run_decode(run, mode="prior", n=3, strategy="greedy", paper_filter=True)
    assert prior and all(d.passes_filter for d in prior)
    raw = services.run_decode(run, mode="prior", n=20, strategy="greedy")
    assert not all(d.passes_filter for d in raw)  # so the filter did drop samples


def test_the_services_decode_modes_are_the_engines():
    # The modes a `Decoding` stores (Django choices) are the ones `decode_mode` decodes.
    assert services.DECODE_MODES == decode.DECODE_MODES


def test_a_corpus_name_that_is_not_a_slug_is_refused_before_any_file_work(small_book, data_dir):
    call_command("import_corpus", str(small_book), "--name", "kept", stdout=StringIO())
    for name in (".", "..", "a/b", "../x"):
        with pytest.raises(CommandError, match="slug"):
            call_command("import_corpus", str(small_book), "--name", name, stdout=StringIO())
    assert [p.name for p in (data_dir / "corpora").iterdir()] == ["kept"]
    assert (data_dir / "corpora" / "kept" / "train.txt").exists()


def test_a_run_whose_setup_fails_is_marked_failed_not_left_running(small_book):
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=5)
    (corpus.directory / "vocab.txt").unlink()
    with pytest.raises(CorpusError):
        services.run_train(run)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "vocab.txt" in run.error


def test_a_trained_run_decodes_from_its_checkpoint_alone(small_book):
    """The vocabulary travels in the checkpoint: the corpus's vocab.txt is not read again."""
    corpus = services.corpus_import(name="buster", paths=[small_book], vocab_size=500)
    run = services.run_create(corpus=corpus, objective="vae", preset_name="tiny", steps=2)
    services.run_train(run)
    want = services.vocab_for(run, run.config["model"]["vocab_size"])
    (corpus.directory / "vocab.txt").unlink()
    trained = services.run_trained(run)
    assert trained.vocab.itos == want.itos
    assert trained.config.to_dict() == run.config  # stored on the run, and in the checkpoint
    prior = services.run_decode(run, mode="prior", n=2, strategy="greedy")
    assert len(prior) == 2 and all(d.text for d in prior)
    recon = services.run_decode(run, mode="reconstruct", n=2, beam=2)
    assert len(recon) == 2 and all(d.source for d in recon)
