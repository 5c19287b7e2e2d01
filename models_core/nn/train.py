"""Training loop: Adam, gradient clipping, checkpoints, exact resume, progress callbacks.

    result = train(model_cfg, train_cfg, objective_preset("autogen"), train_ids, test_ids,
                   checkpoint_dir="var/runs/7", itos=vocab.itos, callbacks=[TqdmProgress()])

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``, the batch order from
(seed, epoch) (`data.BucketBatcher`), ε and word dropout from the global torch RNG, whose state
every checkpoint carries; evaluation draws from its own generator. So on the CPU the same seed
gives the same curve bit for bit, and a run killed at any point and resumed from its last
checkpoint ends on exactly the metrics of an uninterrupted run. (CUDA LSTM kernels are not
bitwise deterministic, so there the curves agree only statistically.)

Checkpoint (``<checkpoint_dir>/last.pt``, written atomically): see `models_core.nn.checkpoint`,
whose names (`checkpoint_path`, `load_trained`, …) this module also exports.

Per-step curve (``<checkpoint_dir>/curve.csv``, `CURVE_COLUMNS`): every optimiser step's
objective terms, the VAE ELBO (Eq. 1) and the KL share of the objective (Fig. 2), whatever
``log_every`` is. Rows reach the file with each record and before each checkpoint (one
device-to-host copy per record, none per step); a resumed run first drops the rows after its
checkpoint, which it replays, so the file holds each step once.
"""

from __future__ import annotations

import csv
import functools
import os
import random
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from models_core.nn.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointWriteError,
    Trained,
    check_resumable,
    checkpoint_dir_ready,
    checkpoint_path,
    load_checkpoint,
    load_trained,
    make_checkpoint,
    model_from_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from models_core.nn.config import ModelConfig, TrainConfig
from models_core.nn.data import Batch, BucketBatcher
from models_core.nn.model import SentenceVAE
from models_core.nn.objectives import Objective, ObjectiveTerms, kl_share

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "CHECKPOINT_VERSION",
    "CURVE_COLUMNS",
    "CURVE_NAME",
    "Checkpoint",
    "CheckpointWriteError",
    "StopTraining",
    "TqdmProgress",
    "TrainCallback",
    "TrainResult",
    "Trained",
    "autocast",
    "checkpoint_path",
    "evaluate",
    "load_checkpoint",
    "load_trained",
    "model_from_checkpoint",
    "read_curve",
    "resolve_device",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "train",
]

CURVE_NAME = "curve.csv"
# Natural log, per sentence, means over the step's batch; kl_share in % (Fig. 2 left).
CURVE_COLUMNS = (
    "step", "loss", "objective", "recon", "kl", "kl_term", "elbo", "kl_share", "kl_weight",
    "sentences", "tokens",
)  # fmt: skip


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
    """bfloat16 autocast for matmuls and LSTMs; the loss and KL stay float32 (see model.py).
    A CPU whose oneDNN has no bfloat16 LSTM (no AVX-512) is refused in words (ValueError)."""
    if not enabled:
        return nullcontext()
    if device.type == "cpu" and not cpu_runs_bf16_lstm():
        raise ValueError(
            "bf16 was asked for, but this CPU cannot run bfloat16 LSTMs (oneDNN needs AVX-512): "
            "train without bf16, or on a GPU"
        )
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@functools.cache
def cpu_runs_bf16_lstm() -> bool:
    """Whether a one-step LSTM runs under bfloat16 autocast on this CPU (tried once)."""
    lstm = torch.nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


# ---------------------------------------------------------------------------------- RNG state
def seed_everything(seed: int) -> None:
    """Seed the global Python, numpy and torch RNGs (whose states checkpoints carry)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


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
def _every(step: int, interval: int, last: int) -> bool:
    return step % interval == 0 or step == last


class _Run:
    """One call of `train`: the model, optimiser, data and bookkeeping its steps share.

    Built in the order the RNGs need: the seed first, then the initial weights, then (when
    resuming) the checkpoint's weights, optimiser and RNG states.
    """

    def __init__(
        self,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        objective: Objective,
        train_data: Sequence[Sequence[int]],
        test_data: Sequence[Sequence[int]] | None,
        *,
        ckpt_path: Path | None,
        resume: bool,
        callbacks: list[TrainCallback],
        itos: Sequence[str] | None,
        device: torch.device,
    ) -> None:
        self.model_cfg, self.cfg, self.objective = model_cfg, train_cfg, objective
        self.ckpt_path, self.callbacks, self.itos, self.device = ckpt_path, callbacks, itos, device
        seed_everything(train_cfg.seed)
        self.model = SentenceVAE(model_cfg).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train_cfg.lr, fused=True)
        self.step = 0
        self.result = TrainResult(step=0, stopped=False)
        if resume and ckpt_path is not None and ckpt_path.exists():
            self._resume(ckpt_path)
        self.model.train()
        self.curve = (
            _CurveFile(ckpt_path.parent / CURVE_NAME, resumed_step=self.step)
            if ckpt_path is not None
            else None
        )
        self.batcher = BucketBatcher(
            train_data, train_cfg.batch_size, train_cfg.seed, drop_last=True
        )
        # Evaluation serves epoch 0 of a seeded shuffled order: the same batches every time, and
        # with `eval_batches` a random sample of lengths, not the shortest sentences first.
        self.test_batcher = (
            BucketBatcher(test_data, train_cfg.batch_size, train_cfg.seed) if test_data else None
        )
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.start = 0.0  # `start_clock` sets both when the steps begin
        self.window = _Window(self.start)

    def _resume(self, ckpt_path: Path) -> None:
        ckpt = load_checkpoint(ckpt_path, map_location=self.device)
        check_resumable(ckpt, self.model_cfg, self.cfg, self.objective)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        self.step = ckpt["step"]
        self.result.evals = list(ckpt["evals"])
        self.result.checkpoint = ckpt_path

    def start_clock(self) -> None:
        """Tell the callbacks, then start timing (and the first window of step records)."""
        for cb in self.callbacks:
            cb.on_start(self.step, self.cfg.steps)
        self.start = time.perf_counter()
        self.window = _Window(self.start)

    def train_step(self) -> None:
        """One optimiser update on the batch of the current step."""
        batch = self.batcher.batch(self.step).to(self.device)
        with autocast(self.device, self.cfg.bf16):
            out = self.model(*batch)
        terms = self.objective(out, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
            if self.cfg.grad_clip > 0
            else None
        )
        self.optimizer.step()
        self.step += 1
        self.result.tokens += out.num_tokens
        self.window.add(self.step, terms, grad_norm, batch)

    def after_step(self) -> bool:
        """Record, evaluate and checkpoint when due; True when a callback asks to stop."""
        cfg, step = self.cfg, self.step
        stop = False
        if _every(step, cfg.log_every, cfg.steps):
            stop = self.record()
        if _every(step, cfg.eval_every, cfg.steps):
            stop = self.run_eval() or stop
        if _every(step, cfg.checkpoint_every, cfg.steps) or stop:
            self.write_checkpoint()
        return stop

    def record(self) -> bool:
        """Flush the curve's rows and hand the window's record to the callbacks."""
        if self.curve is not None:
            self.curve.append(self.window.take_rows())
        else:
            self.window.pending.clear()
        record = {
            "step": self.step,
            "epoch": (self.step - 1) // len(self.batcher),
            "lr": self.cfg.lr,
            **self.window.record(),
            "elapsed_s": time.perf_counter() - self.start,
        }
        self.result.records.append(record)
        return any([bool(cb.on_step(record)) for cb in self.callbacks])

    def run_eval(self) -> bool:
        if self.test_batcher is None:
            return False
        record = evaluate(
            self.model,
            self.test_batcher.epoch(),
            self.objective,
            step=self.step,
            seed=self.cfg.seed,
            max_batches=self.cfg.eval_batches,
            bf16=self.cfg.bf16,
        )
        self.result.evals.append(record)
        return any([bool(cb.on_eval(record)) for cb in self.callbacks])

    def write_checkpoint(self) -> None:
        if self.ckpt_path is None or self.curve is None:
            return
        self.curve.append(self.window.take_rows(), durable=True)  # never behind the checkpoint
        ckpt = make_checkpoint(
            step=self.step,
            model_cfg=self.model_cfg,
            train_cfg=self.cfg,
            objective=self.objective,
            model=self.model,
            optimizer=self.optimizer,
            itos=self.itos,
            evals=self.result.evals,
            last_record=self.result.last_record,
        )
        save_checkpoint(ckpt, self.ckpt_path)
        self.result.checkpoint = self.ckpt_path
        for cb in self.callbacks:
            cb.on_checkpoint(self.ckpt_path, self.step)

    def loop(self) -> None:
        """Steps until ``steps`` or until a callback stops the run (it is checkpointed)."""
        try:
            while self.step < self.cfg.steps:
                self.train_step()
                if self.after_step():
                    self.result.stopped = self.step < self.cfg.steps
                    break
        except StopTraining:
            # Raised from a callback after `step` was counted: the update is done, keep it.
            self.write_checkpoint()
            self.result.stopped = self.step < self.cfg.steps

    def finish(self) -> TrainResult:
        self.result.step = self.step
        self.result.model = self.model
        self.result.elapsed_s = time.perf_counter() - self.start
        for cb in self.callbacks:
            cb.on_end(self.result)
        return self.result


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
        checkpoint_dir_ready(ckpt_path.parent)
    run = _Run(
        model_cfg,
        train_cfg,
        objective,
        train_data,
        test_data,
        ckpt_path=ckpt_path,
        resume=resume,
        callbacks=callbacks,
        itos=itos,
        device=device,
    )
    run.start_clock()
    try:
        run.loop()
    finally:
        torch.set_num_threads(threads_before)
    return run.finish()
