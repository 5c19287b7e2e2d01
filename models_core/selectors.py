"""Reads: look up corpora, runs and experiments, a run's curve points and status, and the
comparison of runs, for commands, admin and tasks."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from models_core.models import (
    Corpus,
    CorpusImport,
    DecodeJob,
    Experiment,
    MetricPoint,
    TrainingRun,
)
from models_core.services.errors import ServiceError
from models_core.services.runs import STALE_AFTER
from models_core.services.work import EVALUATION_ERROR

CORPUS_UNKNOWN = "No corpus named {name!r}; import it first (manage.py import_corpus)."


def corpus_get(name: str) -> Corpus:
    try:
        return Corpus.objects.get(name=name)
    except Corpus.DoesNotExist:
        raise ServiceError(CORPUS_UNKNOWN.format(name=name)) from None


def run_get(pk: int | str) -> TrainingRun:
    try:
        return TrainingRun.objects.select_related("corpus").get(pk=int(pk))
    except (TrainingRun.DoesNotExist, ValueError):
        raise ServiceError(f"No training run {pk!r}.") from None


def runs_curves(runs: Iterable[TrainingRun]) -> dict[str, dict[str, list[float]]]:
    """Train-curve points of `runs`, in the shape `plots.training_curves` takes."""
    series: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        points = list(
            MetricPoint.objects.filter(run=run, split=MetricPoint.Split.TRAIN).values_list(
                "step", "kl_share", "elbo"
            )
        )
        if points:
            steps, shares, elbos = (list(column) for column in zip(*points, strict=True))
            series[f"{run.pk}: {run.label}"] = {"step": steps, "kl_share": shares, "elbo": elbos}
    return series


def corpus_import_get(pk: int | str) -> CorpusImport:
    try:
        return CorpusImport.objects.get(pk=int(pk))
    except (CorpusImport.DoesNotExist, ValueError):
        raise ServiceError(f"No corpus import {pk!r}.") from None


def decode_job_get(pk: int | str) -> DecodeJob:
    try:
        return DecodeJob.objects.select_related("run__corpus").get(pk=int(pk))
    except (DecodeJob.DoesNotExist, ValueError):
        raise ServiceError(f"No decode job {pk!r}.") from None


def experiment_get(pk: int | str) -> Experiment:
    try:
        return Experiment.objects.select_related("corpus").get(pk=int(pk))
    except (Experiment.DoesNotExist, ValueError):
        raise ServiceError(f"No experiment {pk!r}.") from None


def runs_get(pks: Iterable[int | str]) -> list[TrainingRun]:
    """The runs `pks`, in that order; a `ServiceError` names the first one that is missing."""
    wanted = []
    for pk in pks:
        try:
            wanted.append(int(pk))
        except ValueError:
            raise ServiceError(f"No training run {pk!r}.") from None
    found = TrainingRun.objects.select_related("corpus").in_bulk(wanted)
    for pk in wanted:
        if pk not in found:
            raise ServiceError(f"No training run {pk!r}.")
    return [found[pk] for pk in dict.fromkeys(wanted)]


def experiment_runs(experiment: Experiment) -> list[TrainingRun]:
    """The experiment's runs in the paper's order (the order they were queued in)."""
    return list(experiment.runs.select_related("corpus").order_by("pk"))


def runs_latest(*, limit: int = 20, experiment: Experiment | None = None) -> list[TrainingRun]:
    """The latest `limit` runs, newest first; only `experiment`'s when given."""
    runs = TrainingRun.objects.select_related("corpus").order_by("-pk")
    if experiment is not None:
        runs = runs.filter(experiment=experiment)
    return list(runs[: max(limit, 0)])


def run_decode_jobs(run: TrainingRun) -> list[dict[str, Any]]:
    """The run's decode jobs, newest first, as ``manage.py runs RUN --json`` prints them."""
    return [
        {
            "job": job.pk,
            "mode": job.mode,
            "status": job.status,
            "progress": job.progress,
            "decodings": job.decodings.count(),
            "error": job.error,
        }
        for job in run.decode_jobs.order_by("-pk")
    ]


def run_is_stale(run: TrainingRun, now: datetime.datetime | None = None) -> bool:
    """Marked running, but its worker has not saved progress for `STALE_AFTER`."""
    if run.status != TrainingRun.Status.RUNNING:
        return False
    now = now or timezone.now()
    return run.heartbeat_at is None or run.heartbeat_at < now - STALE_AFTER


def run_status(run: TrainingRun) -> dict[str, Any]:
    """Where `run` stands, as ``manage.py runs --json`` prints it."""
    now = timezone.now()
    return {
        "run": run.pk,
        "model": run.label,
        "corpus": run.corpus.name,
        "experiment": run.experiment_id,
        "preset": run.preset,
        "status": run.status,
        "stale": run_is_stale(run, now),
        "step": run.step,
        "total_steps": run.total_steps,
        "progress": run.progress,
        "device": run.device,
        "worker": run.worker,
        "metric_points": run.metrics.count(),
        "steps_per_s": run.steps_per_s,
        "eta_s": run.eta_s,
        "heartbeat_age_s": (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else None,
        "error": run.error,
        "task_id": run.task_id,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "final_metrics": run.final_metrics,
    }


@dataclass(frozen=True)
class Metric:
    """A column of the comparison table: its key in ``final_metrics["evaluation"]``."""

    key: str
    label: str
    digits: int


# The latent-use metrics side by side (`nn.metrics` says what each one is), as the table shows
# them; `manage.py evaluate --json` prints the same keys.
COMPARISON_METRICS = (
    Metric("elbo", "ELBO (nats)", 2),
    Metric("kl", "KL (nats)", 3),
    Metric("kl_share", "KL share of the ELBO (%)", 2),
    Metric("mi", "mutual information I(x; z)", 3),
    Metric("active_units", "active units", 0),
    Metric("iw_nll", "IW-NLL (nats)", 2),
    Metric("ppl", "perplexity", 2),
    Metric("recon_bleu", "reconstruction BLEU", 2),
    Metric("exact_match", "exact match (share)", 3),
)


@dataclass(frozen=True)
class ComparisonColumn:
    """One run of the comparison table: its evaluation, or why there is none yet."""

    run: TrainingRun
    evaluation: dict[str, Any] | None
    note: str
    pending: bool  # training, or waiting for its evaluation


def runs_comparison(runs: Iterable[TrainingRun]) -> list[ComparisonColumn]:
    columns = []
    for run in runs:
        evaluation = (run.final_metrics or {}).get("evaluation")
        pending = run.is_active
        if evaluation:
            step, sentences = evaluation.get("step", run.step), evaluation.get("sentences")
            note = f"step {step}, {sentences} test sentences"
        elif error := (run.final_metrics or {}).get(EVALUATION_ERROR):
            note = f"evaluation failed: {error}"
        elif run.status == TrainingRun.Status.SUCCEEDED:
            note, pending = "evaluating…", True
        else:
            note = f"{run.status}, step {run.step} of {run.total_steps}"
        columns.append(
            ComparisonColumn(run=run, evaluation=evaluation or None, note=note, pending=pending)
        )
    return columns
