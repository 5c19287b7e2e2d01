"""Decode jobs: decoding queued for a GPU worker, which calls `run_decode` as the ``decode``
command does; the sentences it stores are linked to their job."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from models_core.models import DecodeJob, Decoding, JobStatus, TrainingRun
from models_core.nn.decode import DEFAULT_BEAM, INTERPOLATION_STEPS, STRATEGIES
from models_core.nn.textfiles import CorpusError
from models_core.services.enqueue import decode_job_enqueue
from models_core.services.errors import ServiceError
from models_core.services.evaluation import DECODE_MODES, run_decode
from models_core.services.jobs import job_claim, job_end, jobs_reclaim
from models_core.services.runs import run_checkpoint_path

INTERPOLATE_TWO = "interpolate takes two sentences, or none (two test sentences are drawn)."


def decode_job_check(
    *,
    run: TrainingRun,
    mode: str,
    n: int = 10,
    beam: int = DEFAULT_BEAM,
    strategy: str = "beam",
    steps: int = INTERPOLATION_STEPS,
    sentences: Sequence[str] = (),
    **_: Any,
) -> None:
    """A `ServiceError` for a decode job that cannot run, before anything is stored: an unknown
    mode or strategy, n or beam below 1, one or three sentences to interpolate, a run without
    a checkpoint yet. What the model makes of the sentences is the worker's to say."""
    if mode not in DECODE_MODES:
        raise ServiceError(f"unknown mode {mode!r}; choose from {', '.join(DECODE_MODES)}")
    if strategy not in STRATEGIES:
        raise ServiceError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if n < 1 or beam < 1 or steps < 2:
        raise ServiceError(f"need n >= 1, beam >= 1, steps >= 2; got {n}, {beam}, {steps}")
    given = [s for s in sentences if s.strip()]
    if mode == Decoding.Mode.INTERPOLATE and len(given) not in (0, 2):
        raise ServiceError(INTERPOLATE_TWO)
    run_checkpoint_path(run)  # nothing to decode with yet


def decode_job_create(
    *,
    run: TrainingRun,
    mode: str,
    n: int = 10,
    beam: int = DEFAULT_BEAM,
    strategy: str = "beam",
    steps: int = INTERPOLATION_STEPS,
    seed: int = 0,
    paper_filter: bool = False,
    sentences: Sequence[str] = (),
    submission: uuid.UUID | None = None,
) -> DecodeJob:
    """A queued decode job with `run`'s model (`decode_job_check` says what it refuses)."""
    sentences = [s.strip() for s in sentences if s.strip()]
    decode_job_check(
        run=run, mode=mode, n=n, beam=beam, strategy=strategy, steps=steps, sentences=sentences
    )
    return DecodeJob.objects.create(
        run=run, mode=mode, n=n, beam=beam, strategy=strategy, steps=steps, seed=seed,
        paper_filter=paper_filter, sentences=sentences, submission=submission,
    )  # fmt: skip


def decode_job_submit(
    *, submission: uuid.UUID | None = None, **options: Any
) -> tuple[DecodeJob, bool]:
    """Create a decode job and send it to a GPU worker, once per form `submission`: the same
    form sent again returns the job it made, with False, and queues nothing."""
    if submission is not None:
        existing = DecodeJob.objects.filter(submission=submission).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            job = decode_job_create(submission=submission, **options)
    except IntegrityError:
        winner = DecodeJob.objects.filter(submission=submission).first()
        if winner is None:
            raise
        return winner, False
    decode_job_enqueue(job)
    return job, True


def decode_job_run(job: DecodeJob, *, task_id: str | None = None, worker: str = "") -> dict:
    """Decode for `job` (the body of its task): claimed once, then succeeded with its
    `Decoding` rows linked to it, or failed with the one-line reason."""
    if (skipped := job_claim(job, key="job", task_id=task_id, worker=worker)) is not None:
        return skipped
    try:
        decodings = run_decode(
            job.run, mode=job.mode, n=job.n, beam=job.beam, strategy=job.strategy,
            paper_filter=job.paper_filter, seed=job.seed, sentences=job.sentences,
            steps=job.steps,
        )  # fmt: skip
    except Exception as exc:
        refusal = isinstance(exc, ServiceError | CorpusError)
        error = str(exc) if refusal else f"{type(exc).__name__}: {exc}"
        job_end(job, JobStatus.FAILED, error=error)
        if not refusal:
            raise
        return {"job": job.pk, "status": job.status, "error": job.error}
    batch = decodings[0].batch if decodings else None
    if batch is not None:
        Decoding.objects.filter(batch=batch).update(job=job)
    job_end(job, JobStatus.SUCCEEDED, batch=batch)
    return {"job": job.pk, "status": job.status, "decodings": len(decodings)}


def decode_jobs_reclaim(worker: str) -> list[int]:
    """Requeue and send again the decode jobs that `worker` was running when it died."""
    return jobs_reclaim(DecodeJob, worker, decode_job_enqueue)
