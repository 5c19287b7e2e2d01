"""``manage.py decode RUN --mode reconstruct|prior|interpolate``: sentences for surveys, decoded
in this process, or with ``--queue`` by a worker on the ``gpu`` queue (a decode job)."""

from models_core import selectors, services
from models_core.management.commands._base import JsonCommand
from models_core.nn.decode import DEFAULT_BEAM, INTERPOLATION_STEPS, STRATEGIES


class Command(JsonCommand):
    help = "Reconstruct test sentences, sample from the prior or interpolate; store the output."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run", help="training run id")
        parser.add_argument("--mode", required=True, choices=services.DECODE_MODES)
        parser.add_argument("--n", type=int, default=10, help="sentences (not interpolate)")
        parser.add_argument("--beam", type=int, default=DEFAULT_BEAM, help="beam width (paper: 15)")
        parser.add_argument("--strategy", choices=STRATEGIES, default="beam")
        parser.add_argument(
            "--steps", type=int, default=INTERPOLATION_STEPS, help="interpolation points"
        )
        parser.add_argument(
            "--paper-filter",
            action="store_true",
            help="the paper's filter, 4–20 tokens and no <unk>: on the prior's samples, "
            "and on the inputs of reconstruct and interpolate",
        )
        parser.add_argument("--sentence", action="append", default=[], dest="sentences")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--queue",
            action="store_true",
            help="queue a decode job for a worker (gpu queue) and print its id instead",
        )

    def handle(self, *args, **options):
        run = selectors.run_get(options["run"])
        if options["queue"]:
            return self.queue(run, options)
        decodings = services.run_decode(run, **_decode_options(options))
        payload = {
            "run": run.pk,
            "model": run.label,
            "mode": options["mode"],
            "sentences": [
                {"source": d.source, "text": d.text, "passes_filter": d.passes_filter}
                for d in decodings
            ],
        }
        lines = [
            f"{d.source}\n  → {d.text}" if d.source and options["mode"] == "reconstruct" else d.text
            for d in decodings
        ]
        self.emit(options, payload, "\n".join(lines))

    def queue(self, run, options) -> None:
        job, _ = services.decode_job_submit(run=run, **_decode_options(options))
        payload = {
            "job": job.pk,
            "run": run.pk,
            "model": run.label,
            "mode": job.mode,
            "status": job.status,
        }
        self.emit(
            options,
            payload,
            f"Decode job {job.pk} ({job.mode} with run {run.pk}) queued for a worker. "
            f"Follow it with: manage.py runs {run.pk}",
        )


# What a decoding is asked to do, the same in-process and queued.
DECODE_OPTIONS = ("mode", "n", "beam", "strategy", "paper_filter", "seed", "sentences", "steps")


def _decode_options(options: dict) -> dict:
    return {name: options[name] for name in DECODE_OPTIONS}
