"""Preparing a corpus: filters, split, reading back, streaming, bad corpora, purity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models_core.nn.corpus import (
    CorpusInfo,
    iter_sentences,
    load_encoded,
    load_split,
    prepare_corpus,
)
from models_core.nn.textfiles import MAX_LINE_BYTES, CorpusError
from models_core.nn.vocab import UNK, Vocab
from tests.nn.corpus_helpers import (
    head,
    numbered_sentences,
    peak_memory,
    write,
)

# --- prepare_corpus: filters, vocabulary, split -----------------------------------------------


def test_the_length_filter_keeps_min_to_max_tokens(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(700))
    info = prepare_corpus(corpus, tmp_path / "out", fmt="lines", min_len=5, max_len=7)
    kept = load_split(tmp_path / "out", "train") + load_split(tmp_path / "out", "test")
    assert kept
    assert all(5 <= len(s) <= 7 for s in kept)
    assert {len(s) for s in kept} == {5, 6, 7}
    assert info.n_read == 700
    assert info.n_kept == len(kept) == 300
    assert info.n_too_short == 100
    assert info.n_too_long == 300
    assert info.mean_length == pytest.approx(6.0)


def test_the_split_is_seeded_and_about_the_test_fraction(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(2000))
    info = prepare_corpus(corpus, tmp_path / "a", fmt="lines", min_len=1, seed=1)
    assert info.n_train + info.n_test == info.n_kept == 2000
    # Binomial(2000, 0.1): sd 13.4, so 200 ± 60 is a 4.5-sigma band.
    assert 140 <= info.n_test <= 260
    other = prepare_corpus(corpus, tmp_path / "b", fmt="lines", min_len=1, seed=2)
    assert (tmp_path / "a" / "test.txt").read_bytes() != (tmp_path / "b" / "test.txt").read_bytes()
    assert other.n_kept == info.n_kept
    quarter = prepare_corpus(corpus, tmp_path / "c", fmt="lines", min_len=1, test_fraction=0.25)
    assert 400 <= quarter.n_test <= 600


def test_the_same_input_and_seed_give_byte_identical_files(corpora, tmp_path):
    lines = head(corpora / "sentences" / "austen_persuasion.txt", 400, tmp_path / "p.txt")
    raw = head(corpora / "novels" / "dickens_a-christmas-carol.txt", 600, tmp_path / "cc.txt")
    first = prepare_corpus([lines, raw], tmp_path / "one", vocab_size=500, seed=7)
    second = prepare_corpus([lines, raw], tmp_path / "two", vocab_size=500, seed=7)
    assert first == second
    for name in ("train.txt", "test.txt", "vocab.txt", "info.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert json.loads((tmp_path / "one" / "info.json").read_text()) == first.to_dict()
    assert CorpusInfo.from_dict(first.to_dict()) == first
    assert not list((tmp_path / "one").glob("*.tmp"))


def test_load_split_and_load_encoded_read_back_what_was_written(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(300))
    prepare_corpus(corpus, tmp_path / "out", fmt="lines", min_len=1, vocab_size=6)
    vocab = Vocab.load(tmp_path / "out" / "vocab.txt")
    for split in ("train", "test"):
        sentences = load_split(tmp_path / "out", split)
        lines = (tmp_path / "out" / f"{split}.txt").read_text().splitlines()
        assert [" ".join(s) for s in sentences] == lines
        encoded = load_encoded(tmp_path / "out", split, vocab)
        assert len(encoded) == len(sentences)
        assert all(isinstance(ids, np.ndarray) and ids.dtype == np.int64 for ids in encoded)
        assert [ids.tolist() for ids in encoded] == [vocab.encode(s) for s in sentences]
    assert UNK in np.concatenate(encoded)
    with pytest.raises(ValueError, match="unknown split 'valid'; expected one of train, test"):
        load_split(tmp_path / "out", "valid")


def test_options_out_of_range_are_refused(tmp_path):
    corpus = write(tmp_path / "c.txt", numbered_sentences(10))
    with pytest.raises(ValueError, match="min_len=9, max_len=3"):
        prepare_corpus(corpus, tmp_path / "out", min_len=9, max_len=3)
    with pytest.raises(ValueError, match="test_fraction"):
        prepare_corpus(corpus, tmp_path / "out", test_fraction=1.0)
    with pytest.raises(ValueError, match="unknown corpus format 'tsv'"):
        prepare_corpus(corpus, tmp_path / "out", fmt="tsv")


# --- streaming --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["lines", "raw"])
def test_memory_stays_flat_when_the_corpus_grows_twentyfold(corpora, tmp_path, fmt):
    if fmt == "lines":
        source = head(corpora / "sentences" / "austen_persuasion.txt", 200, tmp_path / "one.txt")
    else:
        source = head(corpora / "novels" / "austen_emma.txt", 250, tmp_path / "one.txt")
    big = tmp_path / "twenty.txt"
    big.write_bytes(source.read_bytes() * 20)

    def run(path: Path, out: str):
        return lambda: prepare_corpus(path, tmp_path / out, fmt=fmt)

    small_peak = peak_memory(run(source, "small"))
    big_peak = peak_memory(run(big, "big"))
    small = json.loads((tmp_path / "small" / "info.json").read_text())
    large = json.loads((tmp_path / "big" / "info.json").read_text())
    assert large["n_kept"] == 20 * small["n_kept"]
    assert big_peak < 1.5 * small_peak + 256 * 1024


def test_a_book_without_blank_lines_is_split_as_it_streams(tmp_path):
    """A book with no blank line is one endless paragraph, read in pieces; memory stays flat."""
    sentence = "The quick brown fox jumped over the lazy dog again.\n"
    peaks = {}
    for n in (2_000, 8_000):  # 0.1 MB and 0.4 MB, both over MAX_PARAGRAPH_CHARS
        book = write(tmp_path / f"wall{n}.txt", sentence * n)
        peaks[n] = peak_memory(lambda book=book, n=n: prepare_corpus(book, tmp_path / f"{n}"))
        info = json.loads((tmp_path / f"{n}" / "info.json").read_text())
        assert (info["fmt"], info["n_kept"]) == ("raw", n)
    assert peaks[8_000] < 1.2 * peaks[2_000]


# --- bad corpora ------------------------------------------------------------------------------


def make_bad(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.txt"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "blank":
        path.write_bytes(b"\n  \r\n\t\n")
    elif case == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    elif case == "latin1":
        path.write_bytes("Il était une fois une très belle princesse.\n".encode("latin-1"))
    elif case == "utf16":
        path.write_bytes("It was a cold morning at the inn.\n".encode("utf-16"))
    elif case == "huge_line":
        with path.open("wb") as out:
            for _ in range(4):
                out.write(b"word " * (MAX_LINE_BYTES // 5))
    elif case == "directory":
        path.mkdir()
    elif case == "only_short":
        path.write_text("Yes.\nNo sir.\nWhy not?\n" * 20, encoding="utf-8")
    elif case == "only_headings":
        path.write_text("CHAPTER I.\n\nTHE END\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "is empty"),
        ("blank", "is empty"),
        ("binary", "NUL bytes"),
        ("latin1", "is not UTF-8 text (byte 0xe9 on line 1)"),
        ("utf16", "UTF-16"),
        ("huge_line", "line 1 is longer than 1 MB"),
        ("directory", "is a directory"),
        ("missing", "no such file"),
        ("only_short", "no sentence of 5-30 tokens (read 60 sentences)"),
        ("only_headings", "has no sentences"),
    ],
)
def test_a_bad_corpus_gives_a_one_line_error_naming_the_file(tmp_path, case, message):
    path = make_bad(tmp_path, case)
    with pytest.raises(CorpusError) as caught:
        prepare_corpus(path, tmp_path / "out")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(path))
    assert message in text
    assert isinstance(caught.value, ValueError)
    assert not (tmp_path / "out" / "train.txt").exists()


def test_an_enormous_line_is_refused_without_reading_it_whole(tmp_path):
    path = make_bad(tmp_path, "huge_line")  # 4 MB without a newline

    def read():
        with pytest.raises(CorpusError, match="longer than"):
            list(iter_sentences(path, fmt="raw"))

    assert peak_memory(read) < path.stat().st_size / 1.5


def test_a_bad_file_in_a_list_is_named(tmp_path):
    good = write(tmp_path / "good.txt", numbered_sentences(50))
    with pytest.raises(CorpusError, match=r"absent\.txt: no such file"):
        prepare_corpus([good, tmp_path / "absent.txt"], tmp_path / "out")
    with pytest.raises(CorpusError, match="no files given"):
        list(iter_sentences([]))


# --- purity -----------------------------------------------------------------------------------


def test_models_core_nn_imports_nothing_from_django():
    code = (
        "import importlib, pkgutil, sys, models_core.nn as nn\n"
        "for module in pkgutil.iter_modules(nn.__path__):\n"
        "    importlib.import_module('models_core.nn.' + module.name)\n"
        "assert 'models_core.nn.corpus' in sys.modules\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)
