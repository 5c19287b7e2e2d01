"""Training loop: Adam, gradient clipping, checkpoints, exact resume, progress callbacks.

    result = train(model_cfg, train_cfg, objective_preset("autogen"), train_ids, test_ids,
                   checkpoint_dir="var/runs/7", itos=vocab.itos, callbacks=[TqdmProgress()])

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``, the batch order from
(seed, epoch) (`data.BucketBatcher`), ε and word dropout from the global torch RNG, whose state
every checkpoint carries; evaluation draws from its own generator. So on the CPU the same seed
gives the same curve bit for bit, and a run killed at any point and resumed from its last
checkpoint ends on exactly the metrics of an uninterrupted run. (CUDA LSTM kernels are not
bitwise deterministic, so there the curves agree only statistically.)

Checkpoint (``<checkpoint_dir>/last.pt``, written atomically; `Checkpoint` lists the keys): model
and optimiser state dicts, the step, the RNG states, the three configs as dicts and the
vocabulary, so ``load_trained(path)`` rebuilds the model and its vocabulary with nothing else at
hand (``checkpoint_path(directory)`` is where it is).

Per-step curve (``<checkpoint_dir>/curve.csv``, `CURVE_COLUMNS`): every optimiser step's
objective terms, the VAE ELBO (Eq. 1) and the KL share of the objective (Fig. 2), whatever
``log_every`` is. Rows reach the file with each record and before each checkpoint (one
device-to-host copy per record, none per step); a resumed run first drops the rows after its
checkpoint, which it replays, so the file holds each step once.
"""

from __future__ import annotations

import csv
import os
import random
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor

from models_core.nn.config import ModelConfig, RunConfig, TrainConfig
from models_core.nn.data import Batch, BucketBatcher
from models_core.nn.model import SentenceVAE
from models_core.nn.objectives import Objective, ObjectiveTerms, kl_share
from models_core.nn.vocab import Vocab

CHECKPOINT_FORMAT = "autogen-lab/sentence-vae"
CHECKPOINT_VERSION = 1
CURVE_NAME = "curve.csv"
# Natural log, per sentence, means over the step's batch; kl_share in % (Fig. 2 left).
CURVE_COLUMNS = (
    "step", "loss", "objective", "recon", "kl", "kl_term", "elbo", "kl_share", "kl_weight",
    "sentences", "tokens",
)  # fmt: skip
CHECKPOINT_NAME = "last.pt"

# Settings that change the curve: a resumed run must keep them, or it is a different run.
_CURVE_SETTINGS = ("batch_size", "lr", "grad_clip", "seed", "bf16")


class StopTraining(Exception):
    """Raised by a callback to stop training cleanly: a checkpoint is written first."""


class TrainCallback:
    """Progress hooks; override what you need. `on_step` / `on_eval` may return True (or raise
    `StopTraining`) to stop after the current step, e.g. when an admin cancels the run."""

    def on_start(self, step: int, total: int) -> None:
        """Before the first step of this call; `step` > 0 when resuming."""

    def on_step(self, record: dict[str, Any]) -> bool | None:
        """Every `log_every` steps. `record`: step, epoch, lr, elapsed_s; the means over the
        steps since the last record (`steps` of them) of the objective's terms: loss,
        objective, recon, kl, kl_term, elbo (per sentence, nats), and kl_share (Fig. 2 left,
        %); the current kl_weight β(t); the last step's grad_norm (before clipping); the
        window's sentences, real tokens, padding share and tokens_per_s."""

    def on_eval(self, record: dict[str, Any]) -> bool | None:
        """Every `eval_every` steps and at the end: test-set means from `evaluate`."""

    def on_checkpoint(self, path: Path, step: int) -> None:
        """After a checkpoint has been written (atomically)."""

    def on_end(self, result: TrainResult) -> None:
        """After the last step of this call, stopped or not."""


class TqdmProgress(TrainCallback):
    """A tqdm bar for the command line showing ELBO, KL and the KL share of the objective."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self.kwargs = tqdm_kwargs
        self.bar: Any = None

    def on_start(self, step: int, total: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=step, unit="step", **self.kwargs)
        self._last = step

    def on_step(self, record: dict[str, Any]) -> None:
        self.bar.update(record["step"] - self._last)
        self._last = record["step"]
        self.bar.set_postfix(
            elbo=f"{record['elbo']:.2f}",
            kl=f"{record['kl']:.2f}",
            kl_share=f"{record['kl_share']:.1f}%",
            tok_s=f"{record['tokens_per_s']:.0f}",
        )

    def on_eval(self, record: dict[str, Any]) -> None:
        self.bar.write(
            f"step {record['step']}: test elbo {record['elbo']:.3f} kl {record['kl']:.3f} "
            f"elbo_ppl {record['elbo_ppl']:.1f}",
            file=self.kwargs.get("file"),  # beside the bar, not always stdout
        )

    def on_end(self, result: TrainResult) -> None:
        self.bar.close()


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


@dataclass
class TrainResult:
    step: int  # optimiser updates done in total (including before a resume)
    stopped: bool  # True when a callback stopped the run before train_config.steps
    records: list[dict[str, Any]] = field(default_factory=list)  # on_step records of this call
    evals: list[dict[str, Any]] = field(default_factory=list)  # all evaluations (resumed too)
    checkpoint: Path | None = None  # the last checkpoint written or resumed from
    elapsed_s: float = 0.0  # wall time of this call
    tokens: int = 0  # real tokens trained on in this call
    model: SentenceVAE | None = field(default=None, repr=False)  # the trained model, train mode

    @property
    def last_record(self) -> dict[str, Any] | None:
        return self.records[-1] if self.records else None


# ------------------------------------------------------------------------------------ devices
def resolve_device(device: str) -> torch.device:
    """ "auto" → CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device")
    return torch.device(device)


def autocast(device: torch.device, enabled: bool) -> Any:
    """bfloat16 autocast for matmuls and LSTMs; the loss and KL stay float32 (see model.py)."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# ---------------------------------------------------------------------------------- RNG state
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


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
def save_checkpoint(ckpt: Checkpoint, path: Path) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: a kill at any
    moment leaves either the previous checkpoint or the new one, never a torn file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


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


# ------------------------------------------------------------------------------ step records
_TERMS = ("loss", "objective", "recon", "kl", "kl_term", "elbo")


class _Window:
    """Means of the objective's terms over the steps since the last record.

    Sums stay on the device, so steps between records never wait for the GPU; one transfer
    per record. Averaging over the window makes a record with log_every > 1 a smoother curve
    point than the last batch alone.
    """

    def __init__(self, now: float) -> None:
        self._reset(now)

        self.pending: list[tuple[int, Tensor, float, int, int]] = []  # steps not yet in a file

    def _reset(self, now: float) -> None:
        self.start, self.sums, self.grad_norm = now, None, None
        self.steps = self.sentences = self.tokens = self.slots = 0
        self.kl_weight = 0.0

    def add(self, step: int, terms: ObjectiveTerms, grad_norm: Tensor | None, batch: Batch) -> None:
        values = torch.stack([getattr(terms, name).detach().float() for name in _TERMS])
        self.sums = values if self.sums is None else self.sums + values
        self.pending.append((step, values, terms.kl_weight, len(batch.lengths), batch.num_tokens))
        self.grad_norm = grad_norm.detach() if grad_norm is not None else None
        self.kl_weight = terms.kl_weight
        self.steps += 1
        self.sentences += len(batch.lengths)
        self.tokens += batch.num_tokens
        self.slots += batch.tokens.numel()

    def take_rows(self) -> list[list[float | int]]:
        """The per-step rows (`CURVE_COLUMNS`) added since the last call: one host copy."""
        if not self.pending:
            return []
        values = torch.stack([row[1] for row in self.pending]).tolist()
        rows = []
        for (step, _, weight, sentences, tokens), terms in zip(self.pending, values, strict=True):
            named = dict(zip(_TERMS, terms, strict=True))
            share = kl_share(named["kl_term"], named["objective"])
            rows.append([step, *terms, share, weight, sentences, tokens])
        self.pending = []
        return rows

    def record(self) -> dict[str, Any]:
        """The window's record (see `TrainCallback.on_step`); then start a new window."""
        means = dict(zip(_TERMS, (self.sums / self.steps).tolist(), strict=True))
        now = time.perf_counter()
        record = {
            **means,
            "kl_weight": self.kl_weight,
            "kl_share": kl_share(means["kl_term"], means["objective"]),
            "grad_norm": self.grad_norm.item() if self.grad_norm is not None else float("nan"),
            "steps": self.steps,
            "sentences": self.sentences,
            "tokens": self.tokens,
            "padding": 1.0 - self.tokens / self.slots,
            "tokens_per_s": self.tokens / max(now - self.start, 1e-9),
        }
        self._reset(now)
        return record


class _CurveFile:
    """``curve.csv``: one row per optimiser step (`CURVE_COLUMNS`), appended as training goes.

    A process killed mid-append leaves a torn last line; resuming keeps only whole rows of
    steps up to the checkpoint (which it replays from), in order, so the file heals.
    """

    def __init__(self, path: Path, resumed_step: int) -> None:
        self.path = path
        kept: list[str] = []
        if resumed_step and path.exists():
            with path.open("rb") as f:
                data = f.read()
            whole = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
            for line in whole.splitlines()[1:]:
                # Steps 1, 2, … up to the checkpoint's, each once; anything else is dropped.
                if len(kept) < resumed_step and _row_step(line) == len(kept) + 1:
                    kept.append(line)
        scratch = path.with_suffix(".tmp")
        with scratch.open("w", newline="") as f:
            f.write(",".join(CURVE_COLUMNS) + "\n")
            f.writelines(line + "\n" for line in kept)
        os.replace(scratch, path)

    def append(self, rows: list[list[float | int]], *, durable: bool = False) -> None:
        """Append `rows`; `durable` (before a checkpoint) also waits for the disk."""
        if rows or durable:
            with self.path.open("a", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())


def _row_step(line: str) -> int | None:
    """The step of a whole curve row, or None for a torn or foreign line."""
    fields = line.split(",")
    if len(fields) != len(CURVE_COLUMNS):
        return None
    try:
        float(fields[-1])  # the last field is complete
        return int(fields[0])
    except ValueError:
        return None


def read_curve(path: str | Path) -> dict[str, list[float]]:
    """A ``curve.csv`` as columns: ``{"step": [...], "elbo": [...], ...}``; a torn last line
    (a run killed while writing) is left out."""
    with Path(path).open(newline="") as f:
        lines = f.read().splitlines()
    rows = [line.split(",") for line in lines[1:] if _row_step(line) is not None]
    return {name: [float(row[i]) for row in rows] for i, name in enumerate(CURVE_COLUMNS)}


# --------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(
    model: SentenceVAE,
    batches: Iterable[Batch],
    objective: Objective | None = None,
    *,
    step: int = 0,
    seed: int = 0,
    max_batches: int | None = None,
    bf16: bool = False,
) -> dict[str, float]:
    """Test-set means per sentence of recon, KL and the ELBO (Eq. 1), in eval mode.

    One z per sentence from a generator seeded with `seed`, so repeated evaluations are
    comparable and never disturb the training RNG. ``elbo_ppl`` is exp(−ΣELBO / Σtokens), an
    upper bound on the per-token perplexity, named as in `metrics.evaluate`, whose ``ppl`` is
    the tighter importance-weighted one.
    With `objective`, also its value and the KL share at `step` (Fig. 2 left).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    sums = {"recon": 0.0, "kl": 0.0, "kl_term": 0.0}
    sentences = tokens = 0
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            batch = batch.to(device)
            with autocast(device, bf16):
                out = model(*batch, generator=generator)
            sums["recon"] += out.log_px.sum().item()
            sums["kl"] += out.kl.sum().item()
            if objective is not None:
                terms = objective(out, step)
                sums["kl_term"] += terms.kl_term.item() * len(out.kl)
            sentences += len(out.kl)
            tokens += out.num_tokens
    finally:
        model.train(was_training)
    recon, kl = sums["recon"] / sentences, sums["kl"] / sentences
    record = {
        "step": step,
        "recon": recon,
        "kl": kl,
        "elbo": recon - kl,
        "elbo_ppl": float(np.exp(-(sums["recon"] - sums["kl"]) / tokens)),
        "sentences": sentences,
        "tokens": tokens,
    }
    if objective is not None:
        kl_term = sums["kl_term"] / sentences
        value = (1.0 + objective.m) * recon - kl_term
        record.update(objective=value, kl_term=kl_term, kl_share=kl_share(kl_term, value))
    return record


# ----------------------------------------------------------------------------------- training
def _check_resumable(
    ckpt: Checkpoint, model_cfg: ModelConfig, train_cfg: TrainConfig, objective: Objective
) -> None:
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


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    objective: Objective,
    train_data: Sequence[Sequence[int]],
    test_data: Sequence[Sequence[int]] | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    callbacks: Iterable[TrainCallback] = (),
    itos: Sequence[str] | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    """Train a `SentenceVAE` on `objective` up to ``train_cfg.steps`` optimiser updates.

    Args:
        model_cfg, train_cfg: architecture and run settings
        objective: e.g. ``objective_preset("autogen")``
        train_data, test_data: encoded sentences (word ids, no specials), e.g. from
            `corpus.load_encoded`; `test_data` feeds the periodic evaluation
        checkpoint_dir: where `last.pt` goes; None trains without checkpoints
        resume: continue from ``checkpoint_dir/last.pt`` when it exists (its configs must agree
            with these on everything that changes the curve; `steps` may grow)
        callbacks: `TrainCallback`s for progress, curves and cancellation
        itos: the vocabulary, stored in checkpoints; its length must be ``vocab_size``
        device: where to train, already resolved (the caller records it); None resolves
            ``train_cfg.device``
    Returns:
        `TrainResult`; ``stopped`` tells a cancelled run from a finished one.
    """
    if itos is not None and len(itos) != model_cfg.vocab_size:
        raise ValueError(f"vocabulary has {len(itos)} words, model_config {model_cfg.vocab_size}")
    callbacks = list(callbacks)
    device = resolve_device(train_cfg.device) if device is None else device
    threads_before = torch.get_num_threads()
    if train_cfg.num_threads is not None:
        torch.set_num_threads(train_cfg.num_threads)
    ckpt_path = checkpoint_path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt_path is not None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)

    seed_everything(train_cfg.seed)
    model = SentenceVAE(model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, fused=True)
    step = 0
    result = TrainResult(step=0, stopped=False)
    if resume and ckpt_path is not None and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, map_location=device)
        _check_resumable(ckpt, model_cfg, train_cfg, objective)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        step = ckpt["step"]
        result.evals = list(ckpt["evals"])
        result.checkpoint = ckpt_path
    model.train()
    curve = (
        _CurveFile(ckpt_path.parent / CURVE_NAME, resumed_step=step)
        if ckpt_path is not None
        else None
    )

    batcher = BucketBatcher(train_data, train_cfg.batch_size, train_cfg.seed, drop_last=True)
    # Evaluation serves epoch 0 of a seeded shuffled order: the same batches every time, and
    # with `eval_batches` a random sample of lengths, not the shortest sentences first.
    test_batcher = (
        BucketBatcher(test_data, train_cfg.batch_size, train_cfg.seed) if test_data else None
    )
    params = [p for p in model.parameters() if p.requires_grad]

    def write_checkpoint() -> None:
        if ckpt_path is None or curve is None:
            return
        curve.append(window.take_rows(), durable=True)  # never behind the checkpoint
        ckpt: Checkpoint = {
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
            "evals": result.evals,
            "last_record": result.last_record,
            "torch_version": str(torch.__version__),
        }
        save_checkpoint(ckpt, ckpt_path)
        result.checkpoint = ckpt_path
        for cb in callbacks:
            cb.on_checkpoint(ckpt_path, step)

    def run_eval() -> bool:
        if test_batcher is None:
            return False
        record = evaluate(
            model,
            test_batcher.epoch(),
            objective,
            step=step,
            seed=train_cfg.seed,
            max_batches=train_cfg.eval_batches,
            bf16=train_cfg.bf16,
        )
        result.evals.append(record)
        return any([bool(cb.on_eval(record)) for cb in callbacks])

    for cb in callbacks:
        cb.on_start(step, train_cfg.steps)
    start = time.perf_counter()
    window = _Window(start)
    try:
        while step < train_cfg.steps:
            batch = batcher.batch(step).to(device)
            with autocast(device, train_cfg.bf16):
                out = model(*batch)
            terms = objective(out, step)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(params, train_cfg.grad_clip)
                if train_cfg.grad_clip > 0
                else None
            )
            optimizer.step()
            step += 1
            result.tokens += out.num_tokens
            window.add(step, terms, grad_norm, batch)
            stop = False
            if step % train_cfg.log_every == 0 or step == train_cfg.steps:
                if curve is not None:
                    curve.append(window.take_rows())
                else:
                    window.pending.clear()
                record = {
                    "step": step,
                    "epoch": (step - 1) // len(batcher),
                    "lr": train_cfg.lr,
                    **window.record(),
                    "elapsed_s": time.perf_counter() - start,
                }
                result.records.append(record)
                stop = any([bool(cb.on_step(record)) for cb in callbacks])
            if step % train_cfg.eval_every == 0 or step == train_cfg.steps:
                stop = run_eval() or stop
            if step % train_cfg.checkpoint_every == 0 or step == train_cfg.steps or stop:
                write_checkpoint()
            if stop:
                result.stopped = step < train_cfg.steps
                break
    except StopTraining:
        # Raised from a callback after `step` was counted: the update is done, keep it.
        write_checkpoint()
        result.stopped = step < train_cfg.steps
    finally:
        torch.set_num_threads(threads_before)
    result.step = step
    result.model = model
    result.elapsed_s = time.perf_counter() - start
    for cb in callbacks:
        cb.on_end(result)
    return result
