"""Batches: layout, coverage, seeded resumable order, little padding on real sentences."""

from itertools import islice

import numpy as np
import pytest
import torch

from models_core.nn.data import Batch, BucketBatcher, collate
from models_core.nn.vocab import EOS, PAD
from tests.conftest import SHARED_CORPORA, require_corpus

CORPUS = SHARED_CORPORA / "sentences" / "austen_persuasion.txt"


def real_sentences(n_lines=600):
    """Word-id sentences of 5–30 tokens from the first lines of a real book."""
    require_corpus(CORPUS)
    ids: dict[str, int] = {}
    out = []
    with CORPUS.open(encoding="utf-8") as f:
        for line in islice(f, 1, n_lines):
            words = line.split()
            if 5 <= len(words) <= 30:
                out.append([ids.setdefault(w, 4 + len(ids)) for w in words])
    return out


def synthetic(n, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(4, 50, size=rng.integers(1, 20))) for _ in range(n)]


def test_collate_appends_eos_and_pads_with_zero():
    batch = collate([[7, 8, 9], [5]])
    assert batch.tokens.tolist() == [[7, 8, 9, EOS], [5, EOS, PAD, PAD]]
    assert batch.lengths.tolist() == [4, 2]
    assert batch.tokens.dtype == batch.lengths.dtype == torch.int64
    assert batch.num_tokens == 6
    _tokens, lengths = batch  # unpacks as model(*batch) expects
    assert isinstance(batch.to("cpu"), Batch) and lengths.device.type == "cpu"


def test_an_epoch_serves_every_sentence_once_with_one_short_batch():
    data = synthetic(1003)
    batcher = BucketBatcher(data, batch_size=10, seed=1)
    batches = batcher.epoch_indices(0)
    assert len(batcher) == len(batches) == 101
    assert sorted(np.concatenate(batches).tolist()) == list(range(1003))
    assert sorted(len(b) for b in batches)[0] == 3 and sum(len(b) != 10 for b in batches) == 1


def test_drop_last_serves_only_full_batches_and_varies_who_misses_out():
    data = synthetic(1003)
    batcher = BucketBatcher(data, batch_size=10, seed=1, drop_last=True)
    assert len(batcher) == 100
    epochs = [np.concatenate(batcher.epoch_indices(e)) for e in range(2)]
    for served in epochs:
        assert len(served) == len(set(served.tolist())) == 1000
    assert set(range(1003)) - set(epochs[0].tolist()) != set(range(1003)) - set(epochs[1].tolist())


def test_order_is_a_function_of_seed_and_epoch():
    data = synthetic(500)

    def order(seed, epoch):
        return [b.tolist() for b in BucketBatcher(data, 16, seed).epoch_indices(epoch)]

    assert order(3, 0) == order(3, 0)
    assert order(3, 0) != order(3, 1)
    assert order(3, 0) != order(4, 0)


def test_any_step_can_be_served_directly_so_a_resumed_run_sees_the_same_batches():
    data = synthetic(300)
    uninterrupted = list(islice(BucketBatcher(data, 32, seed=7).iter_from(0), 25))
    resumed = list(islice(BucketBatcher(data, 32, seed=7).iter_from(17), 8))
    for a, b in zip(uninterrupted[17:], resumed, strict=True):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    assert len(BucketBatcher(data, 32)) == 10  # so steps 17–24 cross into epoch 2


def test_bucketing_wastes_little_padding_on_real_sentences():
    data = real_sentences()
    assert len(data) > 200
    bucketed = BucketBatcher(data, 20, seed=0, drop_last=True)
    pad_share = [1 - b.num_tokens / b.tokens.numel() for b in bucketed.epoch(0)]
    rng = np.random.default_rng(0)
    random_batches = [
        collate([data[i] for i in idx])
        for idx in np.array_split(rng.permutation(len(data)), len(data) // 20)
    ]
    random_share = [1 - b.num_tokens / b.tokens.numel() for b in random_batches]
    assert np.mean(pad_share) < 0.05 < 0.3 < np.mean(random_share)


def test_unshuffled_order_is_sorted_by_length_for_evaluation():
    data = synthetic(100)
    batches = list(BucketBatcher(data, 30, shuffle=False).epoch())
    lengths = torch.cat([b.lengths for b in batches]).tolist()
    assert lengths == sorted(lengths) and len(lengths) == 100


def test_too_few_sentences_are_refused():
    with pytest.raises(ValueError, match="cannot fill a batch of 8"):
        BucketBatcher(synthetic(5), 8, drop_last=True)
