"""``manage.py evaluate RUN``: the test-set metrics of a trained run."""

from models_core import services
from models_core.management.commands._base import JsonCommand

SHOWN = ("elbo", "recon", "kl", "kl_share", "iw_nll", "ppl", "mi", "active_units", "recon_bleu")


class Command(JsonCommand):
    help = "ELBO, KL, importance-weighted NLL/PPL, MI, active units, reconstruction BLEU."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run", help="training run id")
        parser.add_argument("--iw-samples", type=int, default=50)
        parser.add_argument("--prior-samples", type=int, default=200)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        run = services.run_get(options["run"])
        result = services.run_evaluate(
            run,
            iw_samples=options["iw_samples"],
            prior_samples=options["prior_samples"],
            seed=options["seed"],
        )
        summary = ", ".join(f"{key} {float(result[key]):.3f}" for key in SHOWN)
        self.emit(options, result, f"Run {run.pk} ({run.label}): {summary}")
