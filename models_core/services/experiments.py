"""Experiments: the paper's four models queued together on one corpus, to compare them."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from models_core.models import Corpus, Experiment
from models_core.nn.config import DEFAULT_PRESET, RunConfig, preset
from models_core.nn.objectives import OBJECTIVE_PRESETS, objective_preset
from models_core.services.enqueue import run_enqueue
from models_core.services.runs import run_config, run_create

# The paper's four models as (model, m) the way runs store them: VAE, VAE (annealing),
# AutoGen (m=1) and AutoGen (m=2), in the paper's order.
PAPER_MODELS: tuple[tuple[str, float | None], ...] = tuple(
    ("autogen", objective.m) if objective.m else (name, None)
    for name, objective in OBJECTIVE_PRESETS.items()
)


def paper_model_options(kind: str, preset_name: str, steps: int | None) -> dict[str, Any]:
    """What one of the four runs adds to the shared options: the annealed VAE's warm-up ends by
    half-way through a run shorter than its default length (20,000 steps), so that a short
    run (the demo's, a CPU preset's) still trains with the full KL for its second half."""
    if kind != "vae-anneal":
        return {}
    try:
        total = preset(preset_name).train.steps if steps is None else steps
    except ValueError:
        return {}  # an unknown preset: run_config says so
    return {"anneal_steps": max(1, min(objective_preset(kind).anneal_steps, total // 2))}


def experiment_name(corpus: Corpus, preset_name: str, steps: int, seed: int) -> str:
    return f"{corpus.name}, {preset_name}, {steps} steps, seed {seed}"


def experiment_configs(
    *,
    corpus: Corpus,
    preset_name: str = DEFAULT_PRESET,
    steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
) -> list[RunConfig]:
    """The four runs' configurations, or a `ServiceError` saying what the first refuses;
    nothing is stored (forms validate with it)."""
    options = {"preset_name": preset_name, "steps": steps, "seed": seed, "device": device}
    return [
        run_config(
            corpus=corpus,
            objective=kind,
            m=m,
            **paper_model_options(kind, preset_name, steps),
            **options,
        )
        for kind, m in PAPER_MODELS
    ]


def experiment_create(
    *,
    corpus: Corpus,
    preset_name: str = DEFAULT_PRESET,
    steps: int | None = None,
    seed: int = 0,
    name: str = "",
    device: str = "auto",
    submission: uuid.UUID | None = None,
) -> Experiment:
    """An experiment and its four queued runs (not sent to workers: `experiment_submit`
    does that); every run's configuration is checked before anything is stored."""
    options: dict[str, Any] = {
        "corpus": corpus, "preset_name": preset_name, "steps": steps, "seed": seed,
        "device": device,
    }  # fmt: skip
    resolved = experiment_configs(**options)[0].train.steps
    with transaction.atomic():
        experiment = Experiment.objects.create(
            name=name or experiment_name(corpus, preset_name, resolved, seed),
            corpus=corpus,
            preset=preset_name,
            steps=resolved,
            seed=seed,
            submission=submission,
        )
        for kind, m in PAPER_MODELS:
            extra = paper_model_options(kind, preset_name, steps)
            run_create(objective=kind, m=m, experiment=experiment, **extra, **options)
    return experiment


def experiment_submit(*, submission: uuid.UUID, **options: Any) -> tuple[Experiment, bool]:
    """Create an experiment and send its four runs to workers, once per form `submission`:
    the same form sent again (a double-click) returns the experiment it made, with False."""
    existing = Experiment.objects.filter(submission=submission).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            experiment = experiment_create(submission=submission, **options)
    except IntegrityError:
        winner = Experiment.objects.filter(submission=submission).first()
        if winner is None:
            raise
        return winner, False
    for run in experiment.runs.order_by("pk"):
        run_enqueue(run)
    return experiment, True
