"""``manage.py train --corpus NAME --model vae|vae-anneal|autogen``: train in this process, or
with ``--queue`` hand the run to a Celery worker on the ``gpu`` queue (on a cluster's login node,
say) and print its id; ``manage.py runs RUN`` follows it."""

from models_core import selectors, services
from models_core.management.commands._base import JsonCommand
from models_core.nn.config import DEFAULT_PRESET, DEVICES, PRESETS
from models_core.nn.objectives import SCHEDULES
from models_core.nn.train import TqdmProgress


class Command(JsonCommand):
    help = "Train one of the paper's models in this process, with a progress bar on stderr."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--corpus", required=True)
        parser.add_argument("--model", required=True, choices=services.OBJECTIVES)
        parser.add_argument("--m", type=float, help="AutoGen's extra reconstructions (default 1)")
        parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
        parser.add_argument("--steps", type=int)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument(
            "--anneal",
            choices=[s for s in SCHEDULES if s != "constant"],
            help="vae-anneal's KL schedule (default linear, as the paper's code)",
        )
        parser.add_argument(
            "--anneal-steps", type=int, help="KL warm-up length, or one cycle (vae-anneal)"
        )
        parser.add_argument("--beta", type=float, help="constant KL weight β (default 1)")
        parser.add_argument(
            "--free-bits", type=float, help="free bits λ, nats per latent dimension (default 0)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", choices=DEVICES, default="auto")
        parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="queue the run for a worker (gpu queue) and print its id instead of training",
        )

    def handle(self, *args, **options):
        if not options["queue"]:
            services.device_check(options["device"])  # a queued run: the worker checks
        run = services.run_create(
            corpus=selectors.corpus_get(options["corpus"]),
            objective=options["model"],
            m=options["m"],
            preset_name=options["preset"],
            steps=options["steps"],
            batch_size=options["batch_size"],
            lr=options["lr"],
            seed=options["seed"],
            device=options["device"],
            bf16=options["bf16"],
            anneal=options["anneal"],
            anneal_steps=options["anneal_steps"],
            beta=options["beta"],
            free_bits=options["free_bits"],
        )
        if options["queue"]:
            return self.queue(run, options)
        progress = [] if options["no_progress"] else [TqdmProgress(file=self.stderr._out)]
        result = services.run_train(run, callbacks=progress)
        run.refresh_from_db()
        final = result.evals[-1] if result.evals else {}
        payload = {
            "run": run.pk,
            "model": run.label,
            "status": run.status,
            "steps": result.step,
            "tokens_per_s": result.tokens / max(result.elapsed_s, 1e-9),
            "elapsed_s": result.elapsed_s,
            **{k: v for k, v in final.items() if k != "step"},
        }
        self.emit(
            options,
            payload,
            f"Run {run.pk} ({run.label}) {run.status} after {result.step} steps: "
            + ", ".join(f"{k} {final[k]:.3f}" for k in ("elbo", "recon", "kl") if k in final),
        )

    def queue(self, run, options) -> None:
        services.run_enqueue(run)
        payload = {
            "run": run.pk,
            "model": run.label,
            "corpus": run.corpus.name,
            "status": run.status,
            "total_steps": run.total_steps,
            "device": run.config["train"]["device"],
        }
        self.emit(
            options,
            payload,
            f"Run {run.pk} ({run.label}) queued for a worker: {run.total_steps} steps on "
            f"{run.corpus.name}. Follow it with: manage.py runs {run.pk}",
        )
