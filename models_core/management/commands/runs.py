"""``manage.py runs [RUN] [--cancel | --resume]``: where training runs stand, from any machine
that reaches the database (a cluster's login node, say). ``runs --reconcile`` sends again the
queued work whose message the broker lost (the workers also do it by themselves)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from kombu.exceptions import OperationalError as BrokerUnreachable

from models_core import selectors, services
from models_core.management.commands._base import JsonCommand

SHOWN_METRICS = ("elbo", "kl", "kl_share", "mi", "active_units", "iw_nll", "ppl", "recon_bleu")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _summary(status: dict[str, Any]) -> str:
    speed = status["steps_per_s"]
    parts = [
        f"Run {status['run']} ({status['model']}) on {status['corpus']}: {status['status']}"
        + (" (no news from its worker: resume it)" if status["stale"] else ""),
        f"step {status['step']}/{status['total_steps']} ({100 * status['progress']:.0f}%)",
        f"{speed:.2f} steps/s" if speed else "— steps/s",
        f"ETA {_seconds(status['eta_s'])}",
        f"device {status['device'] or '—'}",
        f"worker {status['worker'] or '—'}",
        f"{status['metric_points']} metric points",
    ]
    lines = [", ".join(parts)]
    evaluation = status["final_metrics"].get("evaluation")
    if evaluation:
        lines.append(
            "  test split: "
            + ", ".join(f"{k} {float(evaluation[k]):.3f}" for k in SHOWN_METRICS if k in evaluation)
        )
    if status["error"]:
        lines.append(f"  error: {status['error'].splitlines()[0]}")
    for job in status.get("decode_jobs", []):
        lines.append(
            f"  decode job {job['job']} ({job['mode']}): {job['status']}, "
            f"{job['decodings']} sentences" + (f", {job['error']}" if job["error"] else "")
        )
    return "\n".join(lines)


class Command(JsonCommand):
    help = "Show training runs (status, step, speed, ETA, device, worker); cancel or resume one."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run", nargs="?", help="a run id; none: the latest runs")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--cancel", action="store_true", help="ask the run to stop")
        action.add_argument(
            "--resume",
            action="store_true",
            help="queue a failed, cancelled or silent run again, from its last checkpoint",
        )
        action.add_argument(
            "--reconcile",
            action="store_true",
            help="send again the queued runs, decode jobs and imports the broker lost",
        )
        parser.add_argument("--experiment", type=int, help="only this experiment's runs")
        parser.add_argument("--limit", type=int, default=20, help="runs listed (default 20)")

    def handle(self, *args, **options):
        if options["reconcile"]:
            return self.reconcile(options)
        if options["run"] is None:
            if options["cancel"] or options["resume"]:
                raise CommandError("--cancel and --resume need a run id.")
            return self.list(options)
        run = selectors.run_get(options["run"])
        if options["cancel"]:
            services.run_cancel(run)
        elif options["resume"] and not services.run_resume(run):
            raise CommandError(
                f"Run {run.pk} is {run.status}: only a failed, cancelled or silent run resumes."
            )
        status = {**selectors.run_status(run), "decode_jobs": selectors.run_decode_jobs(run)}
        self.emit(options, status, _summary(status))

    def reconcile(self, options) -> None:
        if options["run"] is not None:
            raise CommandError("--reconcile takes no run id: it looks at all queued work.")
        try:
            sent = services.work_reconcile()
        except BrokerUnreachable as exc:
            raise CommandError(f"The broker cannot be reached: {exc}") from None
        summary = "; ".join(
            f"{len(ids)} {kind.replace('_', ' ')} sent again" for kind, ids in sent.items()
        )
        self.emit(options, sent, summary)

    def list(self, options) -> None:
        experiment = options["experiment"]
        runs = selectors.runs_latest(
            limit=options["limit"],
            experiment=None if experiment is None else selectors.experiment_get(experiment),
        )
        statuses = [selectors.run_status(run) for run in runs]
        self.emit(
            options,
            {"runs": statuses},
            "\n".join(_summary(status) for status in statuses) or "No runs yet.",
        )
