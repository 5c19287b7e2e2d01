"""The vocabulary: specials first, words by count, training split only, capped."""

from __future__ import annotations

import collections

import pytest

from models_core.nn.corpus import (
    load_split,
    prepare_corpus,
)
from models_core.nn.textfiles import CorpusError
from models_core.nn.vocab import EOS, PAD, SOS, SPECIALS, UNK, Vocab
from tests.nn.corpus_helpers import (
    numbered_sentences,
    write,
)


def test_the_vocabulary_lists_specials_then_words_by_count_then_alphabet(tmp_path):
    vocab = Vocab.build(collections.Counter({"b": 3, "a": 3, "c": 5, "d": 1, "<unk>": 99}), 3)
    assert vocab.itos == ["<pad>", "<unk>", "<sos>", "<eos>", "c", "a", "b"]
    assert (vocab.stoi["<pad>"], vocab.stoi["<unk>"], vocab.stoi["<sos>"], vocab.stoi["<eos>"]) == (
        PAD,
        UNK,
        SOS,
        EOS,
    )
    assert len(vocab) == 7
    assert vocab.encode(["a", "d", "c"]) == [5, UNK, 4]
    assert vocab.decode([SOS, 5, UNK, 4, EOS, PAD]) == ["a", "<unk>", "c"]
    assert vocab.decode([SOS, 5, EOS], strip_specials=False) == ["<sos>", "a", "<eos>"]
    vocab.save(tmp_path / "vocab.txt")
    assert (tmp_path / "vocab.txt").read_bytes() == b"<pad>\n<unk>\n<sos>\n<eos>\nc\na\nb\n"
    assert Vocab.load(tmp_path / "vocab.txt") == vocab


def test_a_vocabulary_refuses_files_without_specials_first(tmp_path):
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "<pad>", "<unk>", "<sos>", "<eos>"])
    bad = write(tmp_path / "vocab.txt", "a\nb\n")
    with pytest.raises(CorpusError, match=r"vocab\.txt: is not a vocabulary file"):
        Vocab.load(bad)


def test_the_vocabulary_comes_from_the_training_split_only(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(400))
    info = prepare_corpus(corpus, tmp_path / "out", fmt="lines", min_len=1, vocab_size=10_000)
    vocab = Vocab.load(tmp_path / "out" / "vocab.txt")
    train_words = {w for s in load_split(tmp_path / "out", "train") for w in s}
    test_only = {w for s in load_split(tmp_path / "out", "test") for w in s} - train_words
    assert test_only  # every s<i> is unique to its sentence
    assert set(vocab.itos[len(SPECIALS) :]) == train_words
    assert info.unk_rate == 0.0
    assert info.test_unk_rate > 0.0
    assert info.vocab_size == len(vocab) == len(train_words) + len(SPECIALS)


def test_the_vocabulary_is_capped_at_vocab_size_words_plus_specials(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(400))
    info = prepare_corpus(corpus, tmp_path / "out", fmt="lines", min_len=1, vocab_size=5)
    vocab = Vocab.load(tmp_path / "out" / "vocab.txt")
    assert vocab.itos[len(SPECIALS) :] == [".", "w0", "w1", "w2", "w3"]
    assert info.vocab_size == 9
    assert info.unk_rate > 0.0
