"""The run lifecycle: configure, create, train, requeue, reclaim, resume and cancel runs.

Writes go through ``<entity>_<action>`` functions with keyword-only arguments (HackSoftware
style); the numerical work is :mod:`models_core.nn`'s. Sending to a worker is
:mod:`models_core.services.enqueue`'s.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from models_core.models import Corpus, Experiment, TrainingRun
from models_core.nn.config import DEFAULT_PRESET, RunConfig, preset
from models_core.nn.corpus import load_encoded
from models_core.nn.objectives import Objective, autogen, objective_preset
from models_core.nn.train import (
    TrainCallback,
    TrainResult,
    checkpoint_path,
    resolve_device,
    train,
)
from models_core.nn.vocab import Vocab
from models_core.services.enqueue import run_enqueue
from models_core.services.errors import ServiceError
from models_core.services.progress import RecordProgress

RUN_NOT_TRAINABLE = "Run {pk} is {status}: only a queued run can be trained (resume it first)."
NO_DEVICE = (
    "Run {pk} asks for --device {device}, which {where} cannot use ({problem}); "
    "train it on a GPU worker, or queue it with --device auto or cpu."
)
M_ONLY_FOR_AUTOGEN = "--m applies to the autogen model only (m=0 for vae and vae-anneal)."
ANNEAL_ONLY_FOR_VAE_ANNEAL = (
    "--anneal applies to vae-anneal only (vae and autogen are trained without annealing)."
)
BATCH_TOO_LARGE = (
    "Batch size {batch} exceeds the {n} training sentences of corpus {name!r}; "
    "use --batch-size {n} or less."
)

logger = logging.getLogger(__name__)

OBJECTIVES = tuple(TrainingRun.Objective.values)
# A running run whose worker has not saved progress for this long is taken to be orphaned.
STALE_AFTER = datetime.timedelta(minutes=10)


def objective_for(
    kind: str,
    m: float | None,
    *,
    anneal: str | None = None,
    anneal_steps: int | None = None,
    beta: float | None = None,
    free_bits: float | None = None,
) -> Objective:
    """The paper model `kind` (``vae``, ``vae-anneal``, ``autogen``) as an `Objective`, with
    the named options: the annealing schedule and its length (vae-anneal), a constant KL
    weight β and free bits λ (any model)."""
    if kind not in OBJECTIVES:
        raise ServiceError(f"unknown model {kind!r}; choose from {', '.join(OBJECTIVES)}")
    if m not in (None, 0) and kind != TrainingRun.Objective.AUTOGEN:
        raise ServiceError(M_ONLY_FOR_AUTOGEN)
    if anneal is not None and kind != TrainingRun.Objective.VAE_ANNEAL:
        raise ServiceError(ANNEAL_ONLY_FOR_VAE_ANNEAL)
    try:
        if kind == TrainingRun.Objective.AUTOGEN:
            obj = autogen(1.0 if m is None else m)
        else:
            obj = objective_preset(kind)
        changes: dict[str, Any] = {"anneal": anneal, "beta": beta, "free_bits": free_bits}
        if obj.anneal != "constant":
            changes["anneal_steps"] = anneal_steps
        return obj.replace(**{k: v for k, v in changes.items() if v is not None})
    except ValueError as exc:  # out of range: m <= -1, beta < 0, ...
        raise ServiceError(str(exc)) from None


def device_check(device: str) -> torch.device:
    """The device this process would train on for `device` (``auto``: CUDA when present), or
    a `ServiceError` for one it cannot use (``cuda`` without a GPU).

    The in-process ``train`` command checks before a run exists; a queued run is checked by
    the worker that takes it (`run_train`), which records the answer on the run.
    """
    try:
        return resolve_device(device)
    except (RuntimeError, ValueError) as exc:
        raise ServiceError(str(exc)) from None


def run_create(
    *,
    corpus: Corpus,
    objective: str,
    preset_name: str = DEFAULT_PRESET,
    submission: uuid.UUID | None = None,
    experiment: Experiment | None = None,
    **options: Any,
) -> TrainingRun:
    """A queued run of the paper model `objective` on `corpus`, fully configured
    (`run_config` takes the options and says what it refuses)."""
    config = run_config(corpus=corpus, objective=objective, preset_name=preset_name, **options)
    return TrainingRun.objects.create(
        corpus=corpus,
        experiment=experiment,
        objective=objective,
        m=config.objective.m,
        preset=preset_name,
        total_steps=config.train.steps,
        config=config.to_dict(),
        submission=submission,
    )


def run_submit(*, submission: uuid.UUID, **options: Any) -> tuple[TrainingRun, bool]:
    """Create and enqueue a run once per form `submission`: the same form sent again (a
    double-click, a reload) returns the run it made, with False, and queues nothing."""
    existing = TrainingRun.objects.filter(submission=submission).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            run = run_create(submission=submission, **options)
    except IntegrityError:
        winner = TrainingRun.objects.filter(submission=submission).first()
        if winner is None:
            raise  # some other constraint: not a double-click
        return winner, False  # the other request of a double-click won the race
    run_enqueue(run)
    return run, True


def run_config(
    *,
    corpus: Corpus,
    objective: str,
    m: float | None = None,
    preset_name: str = DEFAULT_PRESET,
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "auto",
    bf16: bool = False,
    anneal: str | None = None,
    anneal_steps: int | None = None,
    beta: float | None = None,
    free_bits: float | None = None,
) -> RunConfig:
    """A run's configuration, or a `ServiceError` saying what is wrong; nothing is stored
    (forms validate with it; `run_create` stores ``to_dict()`` on the run).

    The model's vocabulary is the corpus's most common ``preset.vocab_size`` entries (the
    corpus vocabulary is sorted by frequency, so this is a prefix of it).
    """
    obj = objective_for(
        objective, m, anneal=anneal, anneal_steps=anneal_steps, beta=beta, free_bits=free_bits
    )
    try:
        base = preset(preset_name)
        # Corpus.vocab_size counts the special tokens, as ModelConfig.vocab_size does.
        model_cfg = base.model.replace(vocab_size=min(base.model.vocab_size, corpus.vocab_size))
        model_cfg = model_cfg.replace(max_len=corpus.max_len)
        changes: dict[str, Any] = {"seed": seed, "device": device, "bf16": bf16}
        for key, value in (("steps", steps), ("batch_size", batch_size), ("lr", lr)):
            if value is not None:
                changes[key] = value
        train_cfg = base.train.replace(**changes)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    if train_cfg.batch_size > corpus.n_train:
        # Training batches are full ones (drop_last): fewer sentences than one batch is no run.
        raise ServiceError(
            BATCH_TOO_LARGE.format(batch=train_cfg.batch_size, n=corpus.n_train, name=corpus.name)
        )
    return RunConfig(model=model_cfg, train=train_cfg, objective=obj)


@dataclass(frozen=True)
class RunSetup:
    """A run's configuration (parsed once) and data, ready for `models_core.nn.train.train`."""

    config: RunConfig
    vocab: Vocab
    train_data: list[np.ndarray]
    test_data: list[np.ndarray]


def vocab_for(run: TrainingRun, vocab_size: int) -> Vocab:
    """The corpus vocabulary cut to the model's size (it is sorted by frequency): what a run
    is trained with, and stores in its checkpoint for everything after."""
    vocab = Vocab.load(run.corpus.directory / "vocab.txt")
    return Vocab(vocab.itos[:vocab_size])


def run_setup(run: TrainingRun) -> RunSetup:
    config = RunConfig.from_dict(run.config)
    directory = run.corpus.directory
    vocab = vocab_for(run, config.model.vocab_size)
    return RunSetup(
        config=config,
        vocab=vocab,
        train_data=load_encoded(directory, "train", vocab),
        test_data=load_encoded(directory, "test", vocab),
    )


def run_train(
    run: TrainingRun, *, callbacks: Iterable[TrainCallback] = (), worker: str = ""
) -> TrainResult:
    """Train a queued `run` to its last step, resuming from its checkpoint if it has one.

    Only a queued run is claimed (atomically), so a cancelled run stays cancelled and two
    workers never train one run. The status follows: running → succeeded, cancelled (a cancel
    request stops it after a checkpoint) or failed (the error is kept and re-raised). The
    `worker` that claims it (a Celery node name; empty in-process) and the device it trains on
    are recorded; a device this process cannot use fails the run at once, saying so.
    """
    claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        error="",
        cancel_requested=False,
        worker=worker,
        steps_per_s=None,
    )
    run.refresh_from_db()
    if not claimed:
        raise ServiceError(RUN_NOT_TRAINABLE.format(pk=run.pk, status=run.status))
    try:
        setup = run_setup(run)
        device = _run_device(run, setup.config.train.device, worker)
        run.device = str(device)
        run.save(update_fields=["device"])
        if checkpoint_path(run.directory).exists():
            logger.info("run %s: resuming from its checkpoint (step %s)", run.pk, run.step)
        config = setup.config
        result = train(
            config.model,
            config.train,
            config.objective,
            setup.train_data,
            setup.test_data,
            checkpoint_dir=run.directory,
            itos=setup.vocab.itos,
            device=device,
            callbacks=[RecordProgress(run, config.train), *callbacks],
        )
    except BaseException as exc:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        raise
    run.refresh_from_db()
    run.step = result.step
    run.status = TrainingRun.Status.CANCELLED if result.stopped else TrainingRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    if result.evals:
        run.final_metrics = {**run.final_metrics, "last_eval": result.evals[-1]}
    run.save(update_fields=["step", "status", "finished_at", "final_metrics"])
    return result


def _run_device(run: TrainingRun, device: str, worker: str) -> torch.device:
    try:
        return device_check(device)
    except ServiceError as exc:
        where = f"worker {worker}" if worker else "this process"
        raise ServiceError(
            NO_DEVICE.format(pk=run.pk, device=device, where=where, problem=exc)
        ) from None


def run_requeue(run: TrainingRun) -> bool:
    """Put a failed or cancelled run back in the queue; False when it is neither (a second
    click, or a run that is already queued, running or done)."""
    moved = TrainingRun.objects.filter(
        pk=run.pk, status__in=[TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED]
    ).update(status=TrainingRun.Status.QUEUED, finished_at=None, cancel_requested=False)
    run.refresh_from_db()
    return bool(moved)


def run_reclaim_stale(run: TrainingRun) -> bool:
    """Requeue a run marked running whose worker has gone silent (no heartbeat for
    ``STALE_AFTER``): what a task redelivered after a worker died finds. A run whose worker is
    alive is left alone, so a duplicate delivery never trains it twice."""
    stale = timezone.now() - STALE_AFTER
    moved = (
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING)
        .filter(models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=stale))
        .update(status=TrainingRun.Status.QUEUED)
    )
    run.refresh_from_db()
    return bool(moved)


def run_resume(run: TrainingRun) -> bool:
    """Requeue a failed or cancelled run, or a running one whose worker went silent
    (`run_reclaim_stale`), and send it to a worker; False if it was none of these."""
    if not (run_requeue(run) or run_reclaim_stale(run)):
        return False
    run_enqueue(run)
    return True


def run_cancel(run: TrainingRun) -> None:
    """Ask a run to stop: a queued run stops at once (a worker that later receives its task
    skips it), a running one after its next progress save, with a checkpoint."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, finished_at=timezone.now()
    )
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
        cancel_requested=True
    )
    run.refresh_from_db()


def run_checkpoint_path(run: TrainingRun) -> Path:
    """The run's last checkpoint, or a `ServiceError` when it has none yet."""
    path = checkpoint_path(run.directory)
    if not path.exists():
        raise ServiceError(f"Run {run.pk} has no checkpoint yet (status {run.status}).")
    return path
