"""Training loop: learning, determinism, exact resume after a kill, cancellation, checkpoints."""

import io
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from itertools import islice
from pathlib import Path

import pytest
import torch

from models_core.nn import checkpoint
from models_core.nn import train as train_module
from models_core.nn.config import preset
from models_core.nn.data import BucketBatcher
from models_core.nn.model import SentenceVAE
from models_core.nn.objectives import OBJECTIVE_PRESETS, kl_share, objective_preset
from models_core.nn.train import (
    CHECKPOINT_NAME,
    CURVE_COLUMNS,
    CURVE_NAME,
    StopTraining,
    TqdmProgress,
    TrainCallback,
    checkpoint_path,
    evaluate,
    load_checkpoint,
    load_trained,
    model_from_checkpoint,
    read_curve,
    save_checkpoint,
    train,
)
from models_core.nn.vocab import UNK
from tests.conftest import REQUIRE_CORPORA, SHARED_CORPORA, require_corpus

CORPUS = SHARED_CORPORA / "sentences" / "austen_persuasion.txt"
TINY = preset("tiny")
MODEL = TINY.model  # vocab 64
# Deterministic fields of a step record (timings are not).
CURVE = ("step", "loss", "objective", "recon", "kl", "elbo", "kl_share", "grad_norm")


def load_tiny_corpus(n_lines=400):
    """Real sentences (5–30 tokens); the 60 commonest words get ids 4–63, the rest <unk>."""
    require_corpus(CORPUS)
    with CORPUS.open(encoding="utf-8") as f:
        lines = [line.split() for line in islice(f, 1, n_lines)]
    lines = [words for words in lines if 5 <= len(words) <= 30]
    counts = Counter(w for words in lines for w in words)
    ids = {w: 4 + i for i, (w, _) in enumerate(counts.most_common(MODEL.vocab_size - 4))}
    itos = ["<pad>", "<unk>", "<sos>", "<eos>", *ids]
    encoded = [[ids.get(w, UNK) for w in words] for words in lines]
    split = len(encoded) * 9 // 10  # Sect. 3: 90/10 train/test
    return encoded[:split], encoded[split:], itos


TRAIN, TEST, ITOS = load_tiny_corpus() if CORPUS.exists() else ([], [], [])
pytestmark = pytest.mark.skipif(
    not CORPUS.exists() and not REQUIRE_CORPORA, reason=f"{CORPUS} not available"
)


def cfg(**changes):
    return TINY.train.replace(**{"device": "cpu", "num_threads": 1, **changes})


def curve(records):
    return [tuple(r[k] for k in CURVE) for r in records]


class Recorder(TrainCallback):
    def __init__(self, stop_at=None, crash_at=None, raise_stop_at=None):
        self.steps, self.evals, self.checkpoints = [], [], []
        self.stop_at, self.crash_at, self.raise_stop_at = stop_at, crash_at, raise_stop_at

    def on_step(self, record):
        self.steps.append(record)
        if record["step"] == self.crash_at:
            raise RuntimeError("simulated crash")
        if record["step"] == self.raise_stop_at:
            raise StopTraining
        return record["step"] == self.stop_at

    def on_eval(self, record):
        self.evals.append(record)

    def on_checkpoint(self, path, step):
        self.checkpoints.append(step)


def test_training_lowers_the_loss_and_raises_the_test_elbo():
    rec = Recorder()
    result = train(
        MODEL, cfg(steps=150, eval_every=150), objective_preset("vae"), TRAIN, TEST, callbacks=[rec]
    )
    first = sum(r["loss"] for r in rec.steps[:10]) / 10
    last = sum(r["loss"] for r in rec.steps[-10:]) / 10
    assert last < 0.8 * first
    assert result.step == 150 and not result.stopped and len(result.records) == 150
    assert rec.evals[-1]["step"] == 150
    torch.manual_seed(0)
    untrained = evaluate(SentenceVAE(MODEL), _test_batches())
    assert rec.evals[-1]["elbo"] > untrained["elbo"] + 5.0


def _test_batches():
    """The batches `train` evaluates on: epoch 0 of the seeded order (seed 0)."""
    return BucketBatcher(TEST, TINY.train.batch_size, seed=0).epoch()


def test_the_same_seed_gives_the_same_curve_and_another_seed_another():
    run = lambda seed: train(MODEL, cfg(steps=30, seed=seed), objective_preset("autogen"), TRAIN)  # noqa: E731
    assert curve(run(3).records) == curve(run(3).records)
    assert curve(run(3).records) != curve(run(4).records)


def test_a_run_killed_mid_way_resumes_onto_the_uninterrupted_curve(tmp_path):
    settings = cfg(steps=60, checkpoint_every=20, eval_every=20)
    obj = objective_preset("vae-anneal", anneal_steps=40)
    full = train(MODEL, settings, obj, TRAIN, TEST, checkpoint_dir=tmp_path / "full")

    crashed = Recorder(crash_at=47)  # dies after step 47; the last checkpoint is step 40
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(MODEL, settings, obj, TRAIN, TEST, checkpoint_dir=tmp_path / "b", callbacks=[crashed])
    assert crashed.checkpoints == [20, 40]
    resumed = train(MODEL, settings, obj, TRAIN, TEST, checkpoint_dir=tmp_path / "b")

    assert [r["step"] for r in resumed.records] == list(range(41, 61))
    assert curve(resumed.records) == curve(full.records[40:])
    assert resumed.evals == full.evals  # evaluations before the crash came from the checkpoint
    a = load_checkpoint(tmp_path / "full" / CHECKPOINT_NAME)["model"]
    b = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_sigkilled_training_process_resumes_onto_the_uninterrupted_curve(tmp_path):
    """A real SIGKILL: no exception handler, no flush, no atexit runs in the dying process."""
    settings = cfg(steps=40, checkpoint_every=15, eval_every=40, log_every=5)
    obj = objective_preset("autogen-m2")
    data_file = tmp_path / "data.pt"
    torch.save({"train": TRAIN}, data_file)
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from models_core.nn.config import TrainConfig, ModelConfig
        from models_core.nn.objectives import Objective
        from models_core.nn.train import TrainCallback, train

        class Kill(TrainCallback):
            def on_step(self, record):
                if record["step"] == 35:
                    os.kill(os.getpid(), signal.SIGKILL)

        train(ModelConfig.from_dict({MODEL.to_dict()!r}),
              TrainConfig.from_dict({settings.to_dict()!r}),
              Objective.from_dict({obj.to_dict()!r}), torch.load({str(data_file)!r})["train"],
              checkpoint_dir={str(tmp_path / "killed")!r}, callbacks=[Kill()])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME)["step"] == 30
    left = sorted(p.name for p in (tmp_path / "killed").iterdir())
    assert left == sorted([CHECKPOINT_NAME, CURVE_NAME])  # no temporary file
    # Rows reached the file up to the last record (step 35), past the checkpoint.
    assert read_curve(tmp_path / "killed" / CURVE_NAME)["step"][-1] == 35

    resumed = train(MODEL, settings, obj, TRAIN, checkpoint_dir=tmp_path / "killed")
    full = train(MODEL, settings, obj, TRAIN, checkpoint_dir=tmp_path / "full")
    assert curve(resumed.records) == curve(full.records[6:])  # records at 35 and 40
    # The replayed steps 31–35 are in the file once, and it is the uninterrupted run's file.
    killed_file = (tmp_path / "killed" / CURVE_NAME).read_text()
    assert killed_file == (tmp_path / "full" / CURVE_NAME).read_text()


@pytest.mark.parametrize("how", ["return", "raise"])
def test_a_callback_stops_the_run_with_a_checkpoint_and_it_can_go_on(tmp_path, how):
    settings = cfg(steps=30, checkpoint_every=100, eval_every=100)
    rec = Recorder(stop_at=12) if how == "return" else Recorder(raise_stop_at=12)
    result = train(
        MODEL, settings, objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path, callbacks=[rec]
    )
    assert result.stopped and result.step == 12 and rec.checkpoints == [12]
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 12
    rest = train(MODEL, settings, objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    assert not rest.stopped and rest.step == 30
    assert curve(rest.records) == curve(
        train(MODEL, settings, objective_preset("vae"), TRAIN).records[12:]
    )


def test_the_checkpoint_describes_itself_and_rebuilds_the_model(tmp_path):
    result = train(
        MODEL,
        cfg(steps=10),
        objective_preset("autogen"),
        TRAIN,
        TEST,
        checkpoint_dir=tmp_path,
        itos=ITOS,
    )
    ckpt = torch.load(result.checkpoint, weights_only=True)  # no pickled code inside
    assert ckpt["step"] == 10 and ckpt["itos"] == ITOS
    assert ckpt["model_config"] == MODEL.to_dict()
    assert ckpt["objective"]["m"] == 1.0 and ckpt["train_config"]["seed"] == 0
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert ckpt["optimizer"]["state"]  # Adam moments travel too
    model = model_from_checkpoint(result.checkpoint)
    assert not model.training
    assert evaluate(model, _test_batches(), step=10)["elbo"] == pytest.approx(
        ckpt["evals"][-1]["elbo"]
    )


def test_a_checkpoint_alone_rebuilds_the_model_its_vocabulary_and_its_configuration(tmp_path):
    settings = cfg(steps=6)
    objective = objective_preset("autogen")
    train(MODEL, settings, objective, TRAIN, TEST, checkpoint_dir=tmp_path, itos=ITOS)
    trained = load_trained(checkpoint_path(tmp_path))
    assert trained.vocab.itos == ITOS and trained.step == 6 and not trained.model.training
    assert trained.config.model == MODEL and trained.config.objective == objective
    assert trained.config.train == settings
    assert trained.model.config == MODEL


def test_a_checkpoint_without_a_vocabulary_cannot_be_loaded_to_decode(tmp_path):
    train(MODEL, cfg(steps=2), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds no vocabulary"):
        load_trained(checkpoint_path(tmp_path))


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    result = train(MODEL, cfg(steps=5), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    before = result.checkpoint.read_bytes()
    ckpt = load_checkpoint(result.checkpoint)

    def torn_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, result.checkpoint)
    assert result.checkpoint.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CHECKPOINT_NAME, CURVE_NAME])


def test_the_checkpoint_holds_the_keys_its_type_lists_and_train_exports_its_names(tmp_path):
    result = train(MODEL, cfg(steps=3), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    assert set(load_checkpoint(result.checkpoint)) == checkpoint.Checkpoint.__required_keys__
    exported = [name for name in checkpoint.__all__ if hasattr(train_module, name)]
    assert "load_trained" in exported and "checkpoint_path" in exported
    assert all(getattr(train_module, n) is getattr(checkpoint, n) for n in exported)


def test_resuming_with_settings_that_change_the_curve_is_refused(tmp_path):
    train(MODEL, cfg(steps=5), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"cannot resume with changed \['lr'\]"):
        train(MODEL, cfg(steps=10, lr=1.0), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="checkpoint objective"):
        train(MODEL, cfg(steps=10), objective_preset("autogen"), TRAIN, checkpoint_dir=tmp_path)
    longer = train(MODEL, cfg(steps=8), objective_preset("vae"), TRAIN, checkpoint_dir=tmp_path)
    assert [r["step"] for r in longer.records] == [6, 7, 8]


@pytest.mark.parametrize("name", sorted(OBJECTIVE_PRESETS))
def test_every_model_records_the_plain_elbo_and_the_kl_share(name):
    rec = Recorder()
    train(MODEL, cfg(steps=3, eval_every=3), objective_preset(name), TRAIN, TEST, callbacks=[rec])
    for r in rec.steps:
        assert r["elbo"] == pytest.approx(r["recon"] - r["kl"])
        assert r["objective"] == pytest.approx(
            (1 + OBJECTIVE_PRESETS[name].m) * r["recon"] - r["kl_term"]
        )
        assert r["kl_share"] == pytest.approx(100 * -r["kl_term"] / r["objective"])
    assert rec.evals[-1]["elbo"] == pytest.approx(rec.evals[-1]["recon"] - rec.evals[-1]["kl"])
    # exp(−ELBO / tokens): named elbo_ppl as in metrics.evaluate, whose ppl is the IW one.
    last = rec.evals[-1]
    assert "ppl" not in last
    assert last["elbo_ppl"] == pytest.approx(
        math.exp(-last["elbo"] * last["sentences"] / last["tokens"])
    )
    assert last["kl_share"] == pytest.approx(kl_share(last["kl_term"], last["objective"]))


def test_cuda_is_refused_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        train(MODEL, cfg(steps=1, device="cuda"), objective_preset("vae"), TRAIN)


def test_a_record_every_k_steps_averages_those_steps():
    every = train(MODEL, cfg(steps=10), objective_preset("autogen"), TRAIN).records
    windows = train(MODEL, cfg(steps=10, log_every=5), objective_preset("autogen"), TRAIN).records
    assert [r["step"] for r in windows] == [5, 10] and windows[0]["steps"] == 5
    for record, steps in zip(windows, (every[:5], every[5:]), strict=True):
        for key in ("loss", "recon", "kl", "elbo", "objective"):
            assert record[key] == pytest.approx(sum(r[key] for r in steps) / 5, rel=1e-6)
        assert record["tokens"] == sum(r["tokens"] for r in steps)
        assert record["grad_norm"] == steps[-1]["grad_norm"]
        assert 0.0 <= record["padding"] < 0.5


def test_the_curve_file_holds_every_step_whatever_the_record_interval(tmp_path):
    obj = objective_preset("vae-anneal", anneal_steps=20)
    result = train(
        MODEL,
        cfg(steps=20, log_every=5, checkpoint_every=7),
        obj,
        TRAIN,
        checkpoint_dir=tmp_path,
    )
    rows = read_curve(tmp_path / CURVE_NAME)
    assert (tmp_path / CURVE_NAME).read_text().splitlines()[0] == ",".join(CURVE_COLUMNS)
    assert rows["step"] == list(range(1, 21))
    for i, record in enumerate(result.records):  # each record is the mean of its 5 rows
        for key in ("loss", "recon", "kl", "elbo", "objective"):
            window = rows[key][5 * i : 5 * i + 5]
            assert record[key] == pytest.approx(sum(window) / 5, rel=1e-6)
    for step, recon, kl, elbo, share, objective, weight in zip(
        rows["step"], rows["recon"], rows["kl"], rows["elbo"], rows["kl_share"],
        rows["objective"], rows["kl_weight"], strict=True,
    ):  # fmt: skip
        assert elbo == pytest.approx(recon - kl, rel=1e-5, abs=1e-5)
        assert weight == obj.kl_weight(step - 1)  # the update of step s used β(s − 1)
        assert share == pytest.approx(kl_share(weight * kl, objective), rel=1e-4)


def test_a_torn_curve_file_heals_on_resume(tmp_path):
    settings = cfg(steps=20, checkpoint_every=10, log_every=5)
    obj = objective_preset("vae")
    full = tmp_path / "full"
    train(MODEL, settings, obj, TRAIN, checkpoint_dir=full)
    torn = tmp_path / "torn"
    train(MODEL, settings.replace(steps=10), obj, TRAIN, checkpoint_dir=torn)
    # A kill mid-append, after rows the checkpoint does not cover: a foreign line, a row of a
    # replayed step, and half a row.
    with (torn / CURVE_NAME).open("a") as f:
        f.write("\x00\x00garbage\n" + (full / CURVE_NAME).read_text().splitlines()[11] + "\n12,0.5")
    assert read_curve(torn / CURVE_NAME)["step"][-1] == 11  # the half row is not a row
    train(MODEL, settings, obj, TRAIN, checkpoint_dir=torn)
    assert (torn / CURVE_NAME).read_text() == (full / CURVE_NAME).read_text()


def test_the_command_line_progress_bar_shows_the_curve():
    out = io.StringIO()
    train(
        MODEL,
        cfg(steps=4, eval_every=4),
        objective_preset("vae"),
        TRAIN,
        TEST,
        callbacks=[TqdmProgress(file=out, mininterval=0)],
    )
    text = out.getvalue()
    assert "4/4" in text and "elbo=" in text and "kl_share=" in text
    assert "step 4: test elbo" in text and "elbo_ppl" in text
