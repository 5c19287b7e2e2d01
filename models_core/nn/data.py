"""Batches of encoded sentences: padding layout and length-bucketed, resumable ordering.

Layout of a `Batch` (B sentences, T = longest length in the batch):

    tokens  [B, T]  w1 w2 … wn <eos> <pad> … <pad>     (no <sos>; `model.py` prepends it)
    lengths [B]     n + 1                               (CPU int64, as packing wants)

Bucketing puts sentences of (nearly) equal length together, so T ≈ lengths and the padded
tensor wastes almost nothing (about 1% on real text): the LSTMs run over it as it is, and the
model gathers the real positions before its output projection, so padding costs no softmax.

The order of batches is a pure function of (seed, epoch): `BucketBatcher.batch(step)` for any
step, with no RNG state to save, which is what makes a resumed run see the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from models_core.nn.vocab import EOS, PAD

# Sentences are shuffled, then sorted by length within pools of this many batches (torchtext's
# BucketIterator recipe): batches are near-uniform in length, yet differ from epoch to epoch.
POOL_BATCHES = 100


class Batch(NamedTuple):
    """A padded batch; ``model(*batch)`` runs `SentenceVAE.forward` on it."""

    tokens: Tensor  # [B, T] int64, words + <eos>, right-padded with <pad> = 0
    lengths: Tensor  # [B] int64 on the CPU, real tokens per row (words + 1)

    @property
    def num_tokens(self) -> int:
        """Real (non-pad) tokens: the targets the decoder is trained on."""
        return int(self.lengths.sum())

    def to(self, device: torch.device | str) -> Batch:
        """Tokens to `device`; lengths stay on the CPU where packing reads them."""
        return Batch(self.tokens.to(device, non_blocking=True), self.lengths)


def collate(sentences: Sequence[Sequence[int]]) -> Batch:
    """Append <eos> to each sentence of word ids and right-pad with <pad>.

    Args:
        sentences: B lists of word ids (no <sos>, no <eos>)
    Returns:
        `Batch` with tokens [B, max_n + 1]
    """
    lengths = np.fromiter((len(s) + 1 for s in sentences), dtype=np.int64, count=len(sentences))
    tokens = np.full((len(sentences), int(lengths.max(initial=1))), PAD, dtype=np.int64)
    for row, (sentence, n) in enumerate(zip(sentences, lengths, strict=True)):
        tokens[row, : n - 1] = sentence
        tokens[row, n - 1] = EOS
    return Batch(torch.from_numpy(tokens), torch.from_numpy(lengths))


class BucketBatcher:
    """Length-bucketed batches whose order depends only on (seed, epoch).

    Args:
        sentences: encoded sentences (word ids, no specials), e.g. `corpus.load_encoded(...)`
        batch_size: sentences per batch
        seed: the run's seed
        shuffle: False gives one fixed order sorted by length (for evaluation)
        drop_last: drop each epoch's one short batch (training: a tiny batch would take a
            full-size Adam step on a noisy gradient; which sentences miss out changes by epoch)
    """

    def __init__(
        self,
        sentences: Sequence[Sequence[int]],
        batch_size: int,
        seed: int = 0,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(sentences) < (batch_size if drop_last else 1):
            raise ValueError(
                f"{len(sentences)} sentences cannot fill a batch of {batch_size} "
                f"(drop_last={drop_last})"
            )
        self.sentences = sentences
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.lengths = np.fromiter((len(s) for s in sentences), np.int64, len(sentences))
        full, rest = divmod(len(sentences), batch_size)
        self._per_epoch = full + (0 if drop_last or rest == 0 else 1)
        self._cached: tuple[int, list[np.ndarray]] | None = None

    def __len__(self) -> int:
        """Batches per epoch."""
        return self._per_epoch

    def epoch_indices(self, epoch: int) -> list[np.ndarray]:
        """Sentence indices of every batch of `epoch`, in the order they are served."""
        n, size = len(self.sentences), self.batch_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + size] for i in range(0, self._per_epoch * size, size)]
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(n)
        if self.drop_last:
            perm = perm[: self._per_epoch * size]
        pool = POOL_BATCHES * size
        batches = []
        for start in range(0, len(perm), pool):
            chunk = perm[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def indices(self, step: int) -> np.ndarray:
        """Sentence indices of the batch served at global `step` (epoch = step // len)."""
        epoch, i = divmod(step, self._per_epoch)
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, self.epoch_indices(epoch))
        return self._cached[1][i]

    def batch(self, step: int) -> Batch:
        """The `Batch` served at global `step`."""
        return collate([self.sentences[i] for i in self.indices(step)])

    def iter_from(self, step: int = 0) -> Iterator[Batch]:
        """Batches from `step` on, endlessly across epochs (a resumed run passes its step)."""
        while True:
            yield self.batch(step)
            step += 1

    def epoch(self, epoch: int = 0) -> Iterator[Batch]:
        """The batches of one epoch, e.g. a full pass over the test set."""
        for i in range(self._per_epoch):
            yield self.batch(epoch * self._per_epoch + i)
