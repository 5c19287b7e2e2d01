"""The paper's four models as one experiment, queued once, and a progress bar per model.

The experiment is submitted with a submission id made from the corpus and preset, so the
demo run again finds the one it queued (`experiment_submit` returns it) instead of queueing
a second set; runs a stopped demo left cancelled or failed are resumed from their last
checkpoint. A run is done when a worker has also evaluated it on the test split (the
comparison table's figures).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TextIO

from models_core import services
from models_core.models import Corpus, Experiment, TrainingRun
from models_core.services.work import EVALUATION_ERROR

# Submission ids of the demo's experiments: uuid5 of this namespace and corpus/preset.
SUBMISSIONS = uuid.UUID("5f0c2a4e-61d4-4e52-9a0b-6a7d0c3b9e11")
BAR_WIDTH = 24
POLL_S = 1.0
RUN_FAILED = (
    "{label} (run {pk}) failed: {error}. Run the demo again to resume it from its last checkpoint."
)
WORKER_GONE = "The Celery worker stopped (exit code {code}); see its messages above."


class DemoError(Exception):
    """A step of the demo that cannot go on; the message says what to do."""


def demo_experiment(corpus: Corpus, preset_name: str) -> tuple[Experiment, bool]:
    """The demo's experiment on `corpus` at `preset_name`, queued now (True) or found, with
    its stopped runs (cancelled, failed) sent back to the workers."""
    submission = uuid.uuid5(SUBMISSIONS, f"{corpus.name}/{preset_name}")
    experiment, created = services.experiment_submit(
        submission=submission, corpus=corpus, preset_name=preset_name
    )
    if not created:
        for run in experiment.runs.all():
            services.run_resume(run)  # False (left alone) unless stopped or silent
    return experiment, created


def run_done(run: TrainingRun) -> bool:
    """Trained and evaluated (or its evaluation refused, which the run's page shows)."""
    metrics = run.final_metrics or {}
    return run.status == TrainingRun.Status.SUCCEEDED and (
        "evaluation" in metrics or EVALUATION_ERROR in metrics
    )


def run_state(run: TrainingRun) -> str:
    if run.status == TrainingRun.Status.SUCCEEDED:
        return "done" if run_done(run) else "evaluating"
    return {"running": "training"}.get(run.status, run.status)


def bar_line(run: TrainingRun, width: int = BAR_WIDTH) -> str:
    """``VAE (annealing)  [######------]  50%   600/1200 steps  8.1 steps/s  ETA 1:14  training``"""
    filled = round(run.progress * width)
    speed = f"{run.steps_per_s:5.1f} steps/s" if run.steps_per_s else " " * 13
    eta = run.eta_s if run.status == TrainingRun.Status.RUNNING else None
    eta_text = f"ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else " " * 8
    return (
        f"{run.label:<16} [{'#' * filled}{'-' * (width - filled)}] {100 * run.progress:3.0f}% "
        f"{run.step:>6}/{run.total_steps} steps  {speed}  {eta_text}  {run_state(run)}"
    )


class ProgressBars:
    """A bar per run on `stream`: redrawn in place on a terminal; elsewhere (a log, a pipe)
    a line per run each time its state or tenth of progress changes."""

    def __init__(self, stream: TextIO, *, redraw: bool) -> None:
        self.stream = stream
        self.redraw = redraw
        self.drawn = 0
        self.shown: dict[int, tuple[str, int]] = {}

    def draw(self, runs: list[TrainingRun]) -> None:
        if self.redraw:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F")  # back to the first bar's line
            self.stream.write("".join(f"\x1b[2K{bar_line(run)}\n" for run in runs))
            self.drawn = len(runs)
        else:
            for run in runs:
                key = (run_state(run), int(run.progress * 10))
                if self.shown.get(run.pk) != key:
                    self.shown[run.pk] = key
                    self.stream.write(bar_line(run) + "\n")
        self.stream.flush()


def wait_for_runs(
    experiment: Experiment,
    bars: ProgressBars,
    worker_exit: Callable[[], int | None] = lambda: None,
    poll_s: float = POLL_S,
) -> list[TrainingRun]:
    """Draw the bars until the four runs are trained and evaluated; the runs, in order.

    Raises `DemoError` when a run fails or the worker (`worker_exit`: its exit code, None
    while it runs) stops.
    """
    while True:
        runs = list(experiment.runs.order_by("pk"))
        bars.draw(runs)
        failed = next((run for run in runs if run.status == TrainingRun.Status.FAILED), None)
        if failed is not None:
            raise DemoError(RUN_FAILED.format(label=failed.label, pk=failed.pk, error=failed.error))
        if all(run_done(run) for run in runs):
            return runs
        code = worker_exit()
        if code is not None:
            raise DemoError(WORKER_GONE.format(code=code))
        time.sleep(poll_s)
