"""Typed configuration for the sentence VAE and its training loop.

One `ModelConfig` describes every model of the paper (they differ only in the objective, see
`objectives.py`); one `TrainConfig` describes a run's training; a `RunConfig` holds both and
the `Objective`. All round-trip through plain dicts so a checkpoint is self-describing (nanoGPT
style): ``ModelConfig.from_dict(ckpt["model_config"])``.

Presets:

- ``tiny``:  for unit tests; trains in seconds on one CPU core.
- ``small``: a CPU model; a few thousand steps run in minutes on two cores.
- ``demo``:  what ``manage.py demo`` trains: the four paper models in about ten minutes on two
  CPU cores; ``demo-fast``, ``tiny`` with a real book's vocabulary, is ``demo --fast``'s.
- ``paper``: Mansbridge et al. 2019, Sect. 3: 500 hidden units, latent 50, vocabulary 20,000,
  batches of 200, 1M iterations; embeddings of 300 and Adam at 1e-4 from the co-author's code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Self

# Special token ids are defined once, by the vocabulary (vocab.py): <pad> 0 (never a target,
# never scored), <unk> 1 (also what word dropout substitutes, Bowman et al. 2016), <sos> 2 (first
# decoder input, never in `Batch.tokens`), <eos> 3 (appended to every sentence, the decoder's
# last target).
from models_core.nn.dicts import DictMixin
from models_core.nn.objectives import Objective
from models_core.nn.vocab import EOS

__all__ = [
    "DEFAULT_PRESET",
    "DEVICES",
    "PRESETS",
    "ModelConfig",
    "Preset",
    "RunConfig",
    "TrainConfig",
    "preset",
]

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class ModelConfig(DictMixin):
    """Architecture of `SentenceVAE` (Bowman et al. 2016; sizes from Mansbridge et al. 2019)."""

    vocab_size: int = 20_004  # 20,000 words (Sect. 3) + 4 specials, as `vocab.Vocab.build` makes
    embed_dim: int = 300
    hidden_dim: int = 500
    latent_dim: int = 50
    num_layers: int = 1
    word_dropout: float = 0.3  # P(decoder input word -> <unk>) at train time
    feed_z: bool = True  # concatenate z to the decoder input at every step (co-author's code)
    max_len: int = 30  # longest sentence in words (Sect. 3: 5–30); decoders stop at max_len + 1

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hidden_dim", "latent_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.vocab_size <= EOS:
            raise ValueError(f"vocab_size must exceed the special ids, got {self.vocab_size}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")


@dataclass(frozen=True)
class TrainConfig(DictMixin):
    """One training run. Steps are optimiser updates (the paper's "iterations")."""

    batch_size: int = 200
    lr: float = 1e-4
    grad_clip: float = 5.0  # max global gradient norm; 0 disables clipping
    steps: int = 1_000_000
    seed: int = 0
    device: Device = "auto"  # "auto": CUDA when present, else CPU
    bf16: bool = False  # bfloat16 autocast for the matmuls / LSTMs (CUDA, or CPUs with bf16)
    num_threads: int | None = None  # CPU intra-op threads; None keeps torch's default
    checkpoint_every: int = 1000
    eval_every: int = 1000
    eval_batches: int | None = 20  # test batches per evaluation; None = the whole test set
    log_every: int = 1  # steps per `on_step` record (terms averaged over them)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        for name in ("batch_size", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(f"eval_batches must be None or >= 1, got {self.eval_batches}")
        if self.steps < 0 or self.lr <= 0 or self.grad_clip < 0:
            raise ValueError(f"need steps >= 0, lr > 0, grad_clip >= 0; got {self}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run is trained with: architecture, training settings and objective.

    Stored as one dict (``TrainingRun.config``) and parsed once, by `from_dict`; a checkpoint
    holds the same three parts (``model_config``, ``train_config``, ``objective``).
    """

    model: ModelConfig
    train: TrainConfig
    objective: Objective

    PARTS = ("model", "train", "objective")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "objective": self.objective.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from `to_dict()` output; a missing or unknown part is an error."""
        if set(data) != set(cls.PARTS):
            raise ValueError(
                f"a run configuration has the parts {list(cls.PARTS)}; got {sorted(data)}"
            )
        return cls(
            model=ModelConfig.from_dict(data["model"]),
            train=TrainConfig.from_dict(data["train"]),
            objective=Objective.from_dict(data["objective"]),
        )

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Preset:
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)


PRESETS: dict[str, Preset] = {
    # Seconds on one core; a higher learning rate because tests train for ~100 steps.
    "tiny": Preset(
        ModelConfig(vocab_size=64, embed_dim=16, hidden_dim=32, latent_dim=8, max_len=12),
        TrainConfig(
            batch_size=16, lr=3e-3, steps=200, checkpoint_every=50, eval_every=50, eval_batches=2
        ),
    ),
    # ~20 MFLOP per trained token (a quarter of `paper`). Adam at 1e-3 rather than the paper's
    # 1e-4: 1e-4 is tuned for 1M iterations, a demo of a few thousand steps needs bigger steps
    # to leave the unigram plateau.
    "small": Preset(
        ModelConfig(vocab_size=10_004, embed_dim=128, hidden_dim=256, latent_dim=32),
        TrainConfig(
            batch_size=64, lr=1e-3, steps=5000, checkpoint_every=500, eval_every=500, log_every=10
        ),
    ),
    # `manage.py demo`: the four paper models in about ten minutes on two CPU cores (its worker
    # trains two at a time, one thread each), still ranked as the paper ranks them
    # (benchmarks/README.md). Half of `small`'s work per token; Adam at 1e-3 as `small`.
    "demo": Preset(
        ModelConfig(vocab_size=6_004, embed_dim=96, hidden_dim=192, latent_dim=32),
        TrainConfig(
            batch_size=64, lr=1e-3, steps=1200, checkpoint_every=200, eval_every=200, log_every=10
        ),
    ),
    # `manage.py demo --fast` (tests): `tiny`'s sizes and steps with a vocabulary of 2,000
    # words. With `tiny`'s 60 words, 2 of the ~480 Austen test sentences pass the paper's
    # display filter (no <unk>); with 2,000, 187 do: enough to decode survey items from.
    "demo-fast": Preset(
        ModelConfig(vocab_size=2_004, embed_dim=16, hidden_dim=32, latent_dim=8, max_len=12),
        TrainConfig(
            batch_size=16, lr=3e-3, steps=200, checkpoint_every=50, eval_every=50, eval_batches=2
        ),
    ),
    # 1M iterations: a record per 100 steps keeps 10k curve points, not a million.
    "paper": Preset(ModelConfig(), TrainConfig(log_every=100)),
}


def preset(name: str) -> Preset:
    """The named preset (``tiny``, ``small``, ``demo``, ``demo-fast`` or ``paper``); adjust with
    ``.model.replace(...)``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None


# What a run gets when no preset is named (commands, admin, services): the CPU demo's.
DEFAULT_PRESET = "small"
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
