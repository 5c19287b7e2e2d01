"""Reads: look up corpora and runs, and a run's curve points, for commands, admin and tasks."""

from __future__ import annotations

from collections.abc import Iterable

from models_core.models import Corpus, MetricPoint, TrainingRun
from models_core.services.errors import ServiceError

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
