"""One training objective for the four models of Mansbridge et al. (2019):

    J = (1 + m) · E_q[log p(x|z)] − β(t) · KL(q(z|x) || p(z))          (Eq. 10, β(t) added)

- ``vae``:        m = 0, β = 1: the ELBO (Eq. 1).
- ``vae-anneal``: m = 0, β(t) rising from 0 to 1 (KL annealing, Bowman et al. 2016); the
  co-author's code warms up linearly over 20,000 iterations, the default here. Logistic
  (Bowman et al.) and cyclical (Fu et al. 2019) schedules are options.
- ``autogen``:    m = 1 (Eq. 9);  ``autogen-m2``: m = 2. Any real m > −1 is allowed.
  Since (1+m)·recon − KL = (1+m)·(recon − KL/(1+m)), AutoGen(m) has the optimum of a β-VAE
  with β = 1/(1+m) (Sect. 4); m < 0 is therefore a β-VAE with β > 1.
- ``beta`` scales the KL term of any preset; ``free_bits`` (Kingma et al. 2016) lets each
  latent dimension keep λ nats of batch-averaged KL for free.

Whatever the objective, every step records the plain ELBO (Eq. 1), so models trained with
different objectives are compared on the same bound (Fig. 2 right; the co-author's code
reported the (1+m)-weighted bound, which is not a bound on log p(x) for m > 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from torch import Tensor

from models_core.nn.dicts import DictMixin

if TYPE_CHECKING:  # the model module imports config, which imports this one
    from models_core.nn.model import VAEOutput

Schedule = Literal["constant", "linear", "logistic", "cyclical"]
SCHEDULES: tuple[str, ...] = ("constant", "linear", "logistic", "cyclical")

# Logistic schedule: the weight goes from sigmoid(−5) ≈ 0.007 at step 0 to sigmoid(5) ≈ 0.993
# at `anneal_steps`, centred at half-way; Bowman et al. give the shape, not the constants.
_LOGISTIC_HALF_WIDTH = 5.0


def kl_share(kl_term: float, objective: float) -> float:
    """The KL term −β(t)·KL as a percentage of the whole objective J (Fig. 2 left):
    100 · (−kl_term) / objective, 0 when J = 0.

    The one definition for training records (`ObjectiveTerms.record`, `train.py`) and test
    metrics (`metrics.evaluate`, which passes the plain ELBO: kl_term = KL, J = ELBO, i.e.
    m = 0, β = 1).
    """
    return 100.0 * -kl_term / objective if objective != 0 else 0.0


class ObjectiveTerms(NamedTuple):
    """The objective on one batch; every value a batch mean per sentence (nats)."""

    loss: Tensor  # scalar to minimise: −J
    objective: Tensor  # J = (1+m)·recon − kl_term
    recon: Tensor  # E_q[log p(x|z)], one-sample estimate
    kl: Tensor  # KL(q(z|x) || p(z)), closed form, before β and free bits
    kl_term: Tensor  # what the objective subtracts: β(t)·KL (with free bits)
    elbo: Tensor  # recon − kl (Eq. 1), whatever the objective
    kl_weight: float  # β(t)

    def record(self) -> dict[str, float]:
        """Plain floats for logs and callbacks; ``kl_share`` is Fig. 2 (left), in percent:
        the objective's KL term −β(t)·KL as a share of the whole objective J."""
        objective = self.objective.item()
        kl_term = self.kl_term.item()
        return {
            "loss": self.loss.item(),
            "objective": objective,
            "recon": self.recon.item(),
            "kl": self.kl.item(),
            "elbo": self.elbo.item(),
            "kl_term": kl_term,
            "kl_weight": self.kl_weight,
            "kl_share": kl_share(kl_term, objective),
        }


@dataclass(frozen=True)
class Objective(DictMixin):
    """(1+m)·E_q[log p(x|z)] − β(t)·KL, with β(t) = beta · schedule(t).

    Attributes:
        name: label for logs and checkpoints
        m: number of tied reconstructions (Eq. 10); m > −1
        beta: constant KL weight multiplying the schedule (β-VAE when ≠ 1)
        anneal: "constant" (β(t) = beta), "linear" warm-up, "logistic" (Bowman et al. 2016) or
            "cyclical" (Fu et al. 2019: linear ramps repeated every `anneal_steps`)
        anneal_steps: length of the warm-up (linear, logistic) or of one cycle (cyclical)
        cycle_ratio: share of each cycle spent ramping up, the rest at full weight
        free_bits: λ nats per latent dimension; 0 disables
    """

    name: str = "vae"
    m: float = 0.0
    beta: float = 1.0
    anneal: Schedule = "constant"
    anneal_steps: int = 20_000
    cycle_ratio: float = 0.5
    free_bits: float = 0.0

    def __post_init__(self) -> None:
        if not (self.m > -1.0 and math.isfinite(self.m)):
            raise ValueError(f"m must exceed -1 (the recon weight is 1 + m), got {self.m}")
        if self.anneal not in SCHEDULES:
            raise ValueError(f"anneal must be one of {SCHEDULES}, got {self.anneal!r}")
        finite = math.isfinite(self.beta) and math.isfinite(self.free_bits)
        if not (finite and self.beta >= 0 and self.free_bits >= 0 and self.anneal_steps >= 1):
            raise ValueError(
                "need finite beta >= 0 and free_bits >= 0, anneal_steps >= 1; got "
                f"beta={self.beta}, free_bits={self.free_bits}, anneal_steps={self.anneal_steps}"
            )
        if not 0.0 < self.cycle_ratio <= 1.0:
            raise ValueError(f"cycle_ratio must be in (0, 1], got {self.cycle_ratio}")

    def kl_weight(self, step: int) -> float:
        """β(t) at optimiser step `step` (0 for the first update)."""
        n = self.anneal_steps
        if self.anneal == "constant":
            w = 1.0
        elif self.anneal == "linear":
            w = min(1.0, step / n)
        elif self.anneal == "logistic":
            w = 1.0 / (1.0 + math.exp(-_LOGISTIC_HALF_WIDTH * (2.0 * step / n - 1.0)))
        else:  # cyclical
            w = min(1.0, (step % n) / (self.cycle_ratio * n))
        return self.beta * w

    def __call__(self, out: VAEOutput, step: int) -> ObjectiveTerms:
        """The objective's terms for one batch.

        Args:
            out: `SentenceVAE.forward` output (log_px [B], kl [B], kl_dims [B, Z])
            step: optimiser step, for β(t)
        """
        recon = out.log_px.mean()
        kl = out.kl.mean()
        if self.free_bits > 0:
            # Kingma et al. 2016, Eq. 15: the batch-averaged KL of each dimension counts as at
            # least λ, so dimensions below λ get no gradient pushing them to the prior.
            kl_penalised = out.kl_dims.mean(0).clamp(min=self.free_bits).sum()
        else:
            kl_penalised = kl
        weight = self.kl_weight(step)
        kl_term = weight * kl_penalised
        objective = (1.0 + self.m) * recon - kl_term
        return ObjectiveTerms(-objective, objective, recon, kl, kl_term, recon - kl, weight)


OBJECTIVE_PRESETS: dict[str, Objective] = {
    "vae": Objective("vae"),
    "vae-anneal": Objective("vae-anneal", anneal="linear", anneal_steps=20_000),
    "autogen": Objective("autogen", m=1.0),
    "autogen-m2": Objective("autogen-m2", m=2.0),
}


def objective_preset(name: str, **changes: object) -> Objective:
    """A paper model's objective (``vae``, ``vae-anneal``, ``autogen``, ``autogen-m2``),
    optionally changed, e.g. ``objective_preset("vae-anneal", anneal="logistic")``."""
    try:
        base = OBJECTIVE_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown objective {name!r}; choose from {sorted(OBJECTIVE_PRESETS)}"
        ) from None
    return base.replace(**changes)


def autogen(m: float = 1.0) -> Objective:
    """AutoGen with m tied reconstructions (Eq. 10), m real and > −1."""
    return Objective(f"autogen-m{m:g}", m=m)


def beta_vae(beta: float) -> Objective:
    """β-VAE: recon − β·KL; same optimum as AutoGen with m = 1/β − 1 (Sect. 4)."""
    return Objective(f"beta-vae-{beta:g}", beta=beta)
