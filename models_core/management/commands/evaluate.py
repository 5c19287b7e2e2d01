"""``manage.py evaluate RUN``: the test-set metrics of a trained run."""

from models_core import selectors, services
from models_core.management.commands._base import JsonCommand
from models_core.nn.metrics import DEFAULT_IW_SAMPLES, DEFAULT_PRIOR_SAMPLES

SHOWN = ("elbo", "recon", "kl", "kl_share", "iw_nll", "ppl", "mi", "active_units", "recon_bleu")


class Command(JsonCommand):
    help = "ELBO, KL, importance-weighted NLL/PPL, MI, active units, reconstruction BLEU."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("run", help="training run id")
        parser.add_argument("--iw-samples", type=int, default=DEFAULT_IW_SAMPLES)
        parser.add_argument("--prior-samples", type=int, default=DEFAULT_PRIOR_SAMPLES)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        run = selectors.run_get(options["run"])
        result = services.run_evaluate(
            run,
            iw_samples=options["iw_samples"],
            prior_samples=options["prior_samples"],
            seed=options["seed"],
        )
        summary = ", ".join(f"{key} {float(result[key]):.3f}" for key in SHOWN)
        self.emit(options, result, f"Run {run.pk} ({run.label}): {summary}")
