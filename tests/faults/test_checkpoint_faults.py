"""A checkpoint that cannot be written fails its run with a clear error, and the last good
checkpoint stays intact (written to a temporary file, then renamed over it), so the run
resumes from it once the disk is fixed.

A full disk is `torch.save` failing with ENOSPC part-way through its file (a tmpfs of a few
bytes needs root to mount). A folder that cannot be written is a file standing where the run's
folder should be, which stops root too; a read-only folder (chmod) is tested when the tests
do not run as root, for whom permissions stop nothing.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch

from models_core import services
from models_core.models import TrainingRun
from models_core.nn.checkpoint import CheckpointWriteError, checkpoint_path, load_checkpoint
from models_core.nn.train import TrainCallback

STEPS = 4
EVERY = 2  # checkpoints at step 2, then at the last


@pytest.fixture
def run(small_book, data_dir, db) -> TrainingRun:
    corpus = services.corpus_import(name="buster", paths=[small_book])
    run = services.run_create(
        corpus=corpus, objective="vae", preset_name="tiny", steps=STEPS, seed=1
    )
    run.config["train"].update(checkpoint_every=EVERY, eval_every=EVERY)
    run.save(update_fields=["config"])
    return run


def _failed_with(run: TrainingRun, *needles: str) -> None:
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.finished_at is not None
    for needle in needles:
        assert needle in run.error, run.error


def _leftovers(directory) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_fails_the_run_and_keeps_the_last_checkpoint(run, monkeypatch):
    real_save = torch.save
    saves = []

    def save(obj, f, *args, **kwargs):
        saves.append(obj["step"])
        if len(saves) == 1:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 half a checkpoint")  # then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(CheckpointWriteError):
        services.run_train(run)
    assert saves == [EVERY, STEPS]
    _failed_with(
        run,
        "CheckpointWriteError",
        f"cannot write checkpoint {checkpoint_path(run.directory)} at step {STEPS}",
        "No space left on device",
        f"the previous one (step {EVERY}) is kept",
    )
    assert load_checkpoint(checkpoint_path(run.directory))["step"] == EVERY  # intact, readable
    assert _leftovers(run.directory) == []  # the half-written file is gone

    monkeypatch.setattr(torch, "save", real_save)  # space freed: resume from step EVERY
    assert services.run_requeue(run)
    result = services.run_train(run)
    assert (result.step, run.status) == (STEPS, TrainingRun.Status.SUCCEEDED)
    assert load_checkpoint(checkpoint_path(run.directory))["step"] == STEPS


def test_a_run_whose_folder_cannot_be_made_fails_at_once_saying_why(run):
    run.directory.parent.mkdir(parents=True)
    run.directory.write_text("not a folder")  # stops root as well as anyone
    with pytest.raises(CheckpointWriteError):
        services.run_train(run)
    _failed_with(run, f"cannot create the checkpoint folder {run.directory}")
    assert run.step == 0
    assert run.directory.read_text() == "not a folder"


class _ReadOnlyAfterFirstCheckpoint(TrainCallback):
    def on_checkpoint(self, path, step) -> None:
        path.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_folder_made_read_only_fails_the_run_and_keeps_the_last_checkpoint(run):
    try:
        with pytest.raises(CheckpointWriteError):
            services.run_train(run, callbacks=[_ReadOnlyAfterFirstCheckpoint()])
        _failed_with(run, "cannot write checkpoint", "Permission denied", f"(step {EVERY}) is kept")
        assert load_checkpoint(checkpoint_path(run.directory))["step"] == EVERY
    finally:
        run.directory.chmod(stat.S_IRWXU)
