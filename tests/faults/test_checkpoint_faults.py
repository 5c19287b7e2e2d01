"""A checkpoint that cannot be written fails its run with a clear error, and the last good
checkpoint stays intact (written to a temporary file, then renamed over it), so the run
resumes from it once the disk is fixed.

A full disk is `torch.save` failing with ENOSPC part-way through its file (a tmpfs of a few
bytes needs root to mount). A folder that cannot be created is a file standing where the run's
folder should be, which stops root too; a read-only folder (chmod) is written to by a forked
child that drops root's privileges first, since permissions stop root from nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from models_core import services
from models_core.models import TrainingRun
from models_core.nn.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointWriteError,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)

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
    assert run.error.startswith("CheckpointWriteError: cannot write checkpoint")  # one sentence
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


NOBODY = 65534  # the unprivileged user and group of Debian and most systems


def _as_unprivileged(task) -> str:
    """Run `task` in a forked child that, when the tests run as root, first becomes nobody
    (for whom a read-only folder is read-only); what it returns, or its error as text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        os.close(read)
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            text = f"returned {task()!r}"
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}"
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


def test_a_read_only_folder_fails_the_write_and_keeps_the_last_checkpoint():
    """Permissions for real, also when the tests run as root (the write is made as nobody)."""
    top = Path(tempfile.mkdtemp(prefix="faults-"))  # not under pytest's root-only folder
    try:
        top.chmod(0o755)
        path = checkpoint_path(top / "run")
        (top / "run").mkdir()
        good = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": EVERY}
        save_checkpoint(good, path)
        path.chmod(0o644)
        (top / "run").chmod(0o555)  # readable, not writable

        outcome = _as_unprivileged(lambda: save_checkpoint({**good, "step": STEPS}, path))

        assert outcome.startswith("CheckpointWriteError: cannot write checkpoint"), outcome
        assert "Permission denied" in outcome and f"(step {EVERY}) is kept" in outcome
        assert load_checkpoint(path)["step"] == EVERY
        assert _leftovers(top / "run") == []
    finally:
        (top / "run").chmod(0o755)
        shutil.rmtree(top)
