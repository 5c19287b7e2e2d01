"""Checkpoints of a training run: what they hold, writing them atomically, reading them back.

``<checkpoint_dir>/last.pt`` (``checkpoint_path(directory)``, the one place its name is made;
`Checkpoint` lists the keys): model and optimiser state dicts, the step, the RNG states, the
three configs as dicts and the vocabulary, so ``load_trained(path)`` rebuilds the model and
its vocabulary with nothing else at hand (nanoGPT style). Tensors and plain values only, so
``torch.load(..., weights_only=True)`` reads it and no code is unpickled. `train` writes and
resumes from them (`models_core.nn.train`).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor

from models_core.nn.config import ModelConfig, RunConfig, TrainConfig
from models_core.nn.model import SentenceVAE
from models_core.nn.objectives import Objective
from models_core.nn.vocab import Vocab

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointWriteError",
    "Trained",
    "check_resumable",
    "checkpoint_dir_ready",
    "checkpoint_path",
    "load_checkpoint",
    "load_trained",
    "make_checkpoint",
    "model_from_checkpoint",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINT_FORMAT = "autogen-lab/sentence-vae"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "last.pt"

# Settings that change the curve: a resumed run must keep them, or it is a different run.
_CURVE_SETTINGS = ("batch_size", "lr", "grad_clip", "seed", "bf16")


class Checkpoint(TypedDict):
    """What `last.pt` holds (loadable with ``torch.load(..., weights_only=True)``)."""

    format: str  # CHECKPOINT_FORMAT
    version: int  # CHECKPOINT_VERSION
    step: int  # optimiser updates done
    model_config: dict[str, Any]  # ModelConfig.to_dict()
    train_config: dict[str, Any]  # TrainConfig.to_dict()
    objective: dict[str, Any]  # Objective.to_dict()
    model: dict[str, Tensor]  # SentenceVAE.state_dict()
    optimizer: dict[str, Any]  # torch.optim.Adam.state_dict()
    rng: dict[str, Any]  # python, numpy, torch, cuda generator states
    itos: list[str] | None  # vocabulary, id order (vocab.Vocab.itos)
    evals: list[dict[str, Any]]  # every evaluation record so far
    last_record: dict[str, Any] | None  # the last on_step record
    torch_version: str


def make_checkpoint(
    *,
    step: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    objective: Objective,
    model: SentenceVAE,
    optimizer: torch.optim.Optimizer,
    itos: Sequence[str] | None,
    evals: list[dict[str, Any]],
    last_record: dict[str, Any] | None,
) -> Checkpoint:
    """The checkpoint of a run at `step`, with the RNG states as they are now."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "step": step,
        "model_config": model_cfg.to_dict(),
        "train_config": train_cfg.to_dict(),
        "objective": objective.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "itos": list(itos) if itos is not None else None,
        "evals": evals,
        "last_record": last_record,
        "torch_version": str(torch.__version__),
    }


# ---------------------------------------------------------------------------------- RNG state
def rng_state() -> dict[str, Any]:
    """Generator states as tensors and plain values, so `weights_only` loading accepts them."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -------------------------------------------------------------------------------- checkpoints
class CheckpointWriteError(OSError):
    """A checkpoint (or its folder) could not be written: a full disk, a folder that cannot be
    written or is a file. The message names the path and the cause; the previous checkpoint,
    if there is one, is untouched."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()  # the message alone, without "[Errno N]"


def checkpoint_dir_ready(directory: str | Path) -> Path:
    """`directory`, created if needed; a `CheckpointWriteError` when it cannot be (a file
    stands at its path or above it, no permission, a full disk)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointWriteError(
            exc.errno, f"cannot create the checkpoint folder {directory}: {exc.strerror or exc}"
        ) from exc
    return directory


def save_checkpoint(ckpt: Checkpoint, path: Path) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: a kill at any
    moment leaves either the previous checkpoint or the new one, never a torn file. A write
    that fails (a full disk, a folder that cannot be written) removes the temporary file and
    raises `CheckpointWriteError`, the previous checkpoint intact."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except OSError as exc:
        kept = f"; the previous one (step {_step_of(path)}) is kept" if path.exists() else ""
        raise CheckpointWriteError(
            exc.errno,
            f"cannot write checkpoint {path} at step {ckpt['step']}: {exc.strerror or exc}{kept}",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _step_of(path: Path) -> int | str:
    """The step of the checkpoint at `path`, for a message ("?" when it cannot be read)."""
    try:
        return load_checkpoint(path)["step"]
    except Exception:
        return "?"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and check a checkpoint written by `train` (tensors only: no code is unpickled)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    if ckpt["version"] != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt['version']}, expected 1")
    return ckpt  # type: ignore[return-value]


def checkpoint_path(directory: str | Path) -> Path:
    """Where `train` keeps the last checkpoint of a run given ``checkpoint_dir=directory``."""
    return Path(directory) / CHECKPOINT_NAME


@dataclass(frozen=True)
class Trained:
    """A trained model rebuilt from its checkpoint alone: weights, vocabulary and configs."""

    model: SentenceVAE  # eval mode
    vocab: Vocab
    config: RunConfig
    step: int


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> Trained:
    """The model, vocabulary and configuration a checkpoint describes (nanoGPT style: nothing
    but the file is read). A checkpoint trained without ``itos`` cannot decode words."""
    ckpt = load_checkpoint(path, map_location=device)
    if ckpt["itos"] is None:
        raise ValueError(f"{path} holds no vocabulary: it was trained without itos=")
    config = RunConfig(
        model=ModelConfig.from_dict(ckpt["model_config"]),
        train=TrainConfig.from_dict(ckpt["train_config"]),
        objective=Objective.from_dict(ckpt["objective"]),
    )
    return Trained(
        model=model_from_checkpoint(ckpt, device=device),
        vocab=Vocab(ckpt["itos"]),
        config=config,
        step=ckpt["step"],
    )


def model_from_checkpoint(
    ckpt: Checkpoint | str | Path, device: str | torch.device = "cpu"
) -> SentenceVAE:
    """The trained `SentenceVAE`, in eval mode, on `device`."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt, map_location=device)
    model = SentenceVAE(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def check_resumable(
    ckpt: Checkpoint, model_cfg: ModelConfig, train_cfg: TrainConfig, objective: Objective
) -> None:
    """Refuse to resume from `ckpt` with other settings that change the curve (a different
    run); `steps` and the reporting intervals may change."""
    if ckpt["model_config"] != model_cfg.to_dict():
        raise ValueError(
            f"checkpoint model_config {ckpt['model_config']} differs from {model_cfg.to_dict()}"
        )
    if ckpt["objective"] != objective.to_dict():
        raise ValueError(
            f"checkpoint objective {ckpt['objective']} differs from {objective.to_dict()}"
        )
    saved = TrainConfig.from_dict(ckpt["train_config"])
    changed = [n for n in _CURVE_SETTINGS if getattr(saved, n) != getattr(train_cfg, n)]
    if changed:
        raise ValueError(
            f"cannot resume with changed {changed}: checkpoint has "
            f"{[getattr(saved, n) for n in changed]}, asked for "
            f"{[getattr(train_cfg, n) for n in changed]}"
        )
