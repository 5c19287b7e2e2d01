"""Progress recording: a training callback that stores a run's step, heartbeat and curves."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from models_core.models import MetricPoint, TrainingRun
from models_core.nn.config import TrainConfig
from models_core.nn.train import TrainCallback, TrainResult

# Curve points written per evaluation interval: enough for Fig. 2, few rows per run.
CURVE_POINTS_PER_EVAL = 20
PROGRESS_SAVE_INTERVAL_S = 2.0


class RecordProgress(TrainCallback):
    """Stores a run's progress and curves as it trains; stops it when a cancel is requested.

    Writes are batched: the step, a heartbeat, the speed (steps per second since this call
    started, evaluations included) and a handful of curve points every couple of seconds, so a
    fast CPU run does not spend its time in the database.
    """

    def __init__(self, run: TrainingRun, train_cfg: TrainConfig) -> None:
        self.run = run
        # Records arrive every `log_every` steps; keep every n-th so an evaluation interval
        # holds about CURVE_POINTS_PER_EVAL points.
        per_interval = max(1, train_cfg.eval_every // train_cfg.log_every)
        self.keep_every = max(1, per_interval // CURVE_POINTS_PER_EVAL)
        self.records_seen = 0
        self.last_record: dict[str, Any] | None = None
        self.pending: list[MetricPoint] = []
        self.last_save = 0.0
        # Where this call started, for the speed: a resumed run starts past step 0.
        self.start_step = 0
        self.start_time = time.monotonic()

    def on_start(self, step: int, total: int) -> None:
        self.start_step = step
        self.start_time = time.monotonic()

    def _point(self, record: dict[str, Any], split: str) -> MetricPoint:
        return MetricPoint(
            run=self.run,
            step=record["step"],
            split=split,
            recon=record["recon"],
            kl=record["kl"],
            elbo=record["elbo"],
            kl_share=record.get("kl_share", 0.0),
            loss=record.get("loss"),
            beta=record.get("kl_weight"),
        )

    def flush(self, step: int) -> bool:
        """Save progress and pending points; True when someone asked to cancel the run."""
        MetricPoint.objects.bulk_create(self.pending, ignore_conflicts=True)
        self.pending = []
        self.run.step = step
        now = time.monotonic()
        elapsed = now - self.start_time
        done = step - self.start_step
        speed = done / elapsed if elapsed > 0 and done > 0 else None
        TrainingRun.objects.filter(pk=self.run.pk).update(
            step=step, heartbeat_at=timezone.now(), steps_per_s=speed
        )
        self.last_save = now
        return TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def on_step(self, record: dict[str, Any]) -> bool:
        self.records_seen += 1
        self.last_record = record
        if self.records_seen % self.keep_every == 0:
            self.pending.append(self._point(record, MetricPoint.Split.TRAIN))
        if time.monotonic() - self.last_save >= PROGRESS_SAVE_INTERVAL_S:
            return self.flush(record["step"])
        return False

    def on_eval(self, record: dict[str, Any]) -> bool:
        self.pending.append(self._point(record, MetricPoint.Split.TEST))
        return self.flush(record["step"])

    def on_end(self, result: TrainResult) -> None:
        # The curve always ends where training stopped, kept or not by the thinning.
        if self.last_record is not None and self.records_seen % self.keep_every:
            self.pending.append(self._point(self.last_record, MetricPoint.Split.TRAIN))
        self.flush(result.step)
