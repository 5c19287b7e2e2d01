"""The text pipeline: tokeniser, sentence splitter, book cleaning, vocabulary, split, errors."""

from __future__ import annotations

import collections
import itertools
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from models_core.nn.text import (
    EOS,
    MAX_LINE_BYTES,
    PAD,
    SOS,
    SPECIALS,
    UNK,
    CorpusError,
    CorpusInfo,
    Vocab,
    detect_format,
    iter_sentences,
    load_encoded,
    load_split,
    prepare_corpus,
    split_sentences,
    tokenize,
)
from tests.conftest import SHARED_CORPORA

CORPORA = SHARED_CORPORA
NOVELS = CORPORA / "novels"
SENTENCES = CORPORA / "sentences"


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"the shared test corpora are not at {CORPORA}")
    return CORPORA


def write(path: Path, text: str, *, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def head(source: Path, n: int, target: Path) -> Path:
    """The first `n` lines of a corpus file, copied to `target` (bytes as they are)."""
    with source.open("rb") as stream:
        target.write_bytes(b"".join(itertools.islice(stream, n)))
    return target


def joined(sentences) -> list[str]:
    return [" ".join(tokens) for tokens in sentences]


# A raw book in the Gutenberg style, with everything that is not a sentence.
RAW_BOOK = """\
The Project Gutenberg eBook of A Made-Up Tale, by Nobody Real

This ebook is for the use of anyone anywhere in the United States and most
other parts of the world at no cost and with almost no restrictions whatsoever.

*** START OF THE PROJECT GUTENBERG EBOOK A MADE-UP TALE ***




                        A MADE-UP TALE

                          By Nobody Real

[Illustration]


CONTENTS

   CHAPTER I. The Arrival
   CHAPTER II. The Departure
   CHAPTER III. The Return


CHAPTER I.
The Arrival

It was a cold morning when Mr. Lorry reached the inn at St. Albans. He had
travelled all night--a long, dull journey--and wanted nothing but sleep.

"Is the room ready?" asked he. The landlord nodded. "Go up, sir; it's the
first door on the left." Mr. Lorry didn't argue.

     Over the hills and far away,
     The wind and the rain came down to stay.

CHAPTER II

Mrs. Pross was waiting for him in the parlour with a pot of tea.

Transcriber's Notes:

Obvious printer's errors have been corrected without any further notice here.

*** END OF THE PROJECT GUTENBERG EBOOK A MADE-UP TALE ***

Section 1. General Terms of Use and Redistributing Project Gutenberg works.
"""

RAW_BOOK_SENTENCES = [
    "it was a cold morning when mr. lorry reached the inn at st. albans .",
    "he had travelled all night -- a long , dull journey -- and wanted nothing but sleep .",
    '" is the room ready ? " asked he .',
    "the landlord nodded .",
    '" go up , sir ; it \'s the first door on the left . "',
    "mr. lorry did n't argue .",
    "mrs. pross was waiting for him in the parlour with a pot of tea .",
]

# One tokenised sentence per line, as the NLTK Gutenberg files (and BookCorpus) have them.
LINES_BOOK = """\
[ A Made-Up Tale by Nobody Real 1901 ]
Chapter 1
`` I do n't think so , '' said Anne , looking at the sea .
She had not been to Bath since her mother 's death .
THE SECOND PART .
Chapter 2 Mr Shepherd , a civil , cautious lawyer , said nothing at all .
`` I' ll answer for it , '' said the Admiral at five o' clock .
"""


# --- tokenize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("I want to be a part of it.", "i want to be a part of it ."),
        (
            "He hadn't been able to get to the bathroom",
            "he had n't been able to get to the bathroom",
        ),
        ("How couldn’t I?", "how could n't i ?"),
        ("You know what you’re thinking", "you know what you 're thinking"),
        ("It's ten o'clock, ma'am; I can't, won't, shan't.", None),
        ("Mr. Woodhouse paid £1,000 at 10:30... 'Tis done.", None),
    ],
)
def test_tokenize_gives_lowercased_ptb_tokens_like_the_papers_examples(text, tokens):
    result = tokenize(text)
    assert result == [t.lower() for t in result]
    if tokens is not None:
        assert " ".join(result) == tokens


def test_tokenize_splits_contractions_and_keeps_elisions_whole():
    assert tokenize("It's ten o'clock, ma'am; I can't, won't, shan't.") == [
        "it", "'s", "ten", "o'clock", ",", "ma'am", ";",
        "i", "ca", "n't", ",", "wo", "n't", ",", "sha", "n't", ".",
    ]  # fmt: skip
    assert tokenize("'Tis the girls' hats.") == ["'tis", "the", "girls", "'", "hats", "."]


def test_tokenize_keeps_abbreviations_initials_and_numbers_together():
    assert tokenize("Mr. and Mrs. Smith met G.K. Chesterton and J. K. Rowling at St. Paul's.") == [
        "mr.", "and", "mrs.", "smith", "met", "g.k.", "chesterton", "and", "j.", "k.",
        "rowling", "at", "st.", "paul", "'s", ".",
    ]  # fmt: skip
    assert tokenize("He paid £1,000 at 10:30... then left.") == [
        "he", "paid", "£", "1,000", "at", "10:30", "...", "then", "left", ".",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "tokenised"),
    [
        # curly, straight and PTB quotes all become one double-quote token
        ("“I don’t,” said she.", "`` I do n't , '' said she ."),
        ('"I don\'t," said she.', "`` I do n't , '' said she ."),
        # single quotation marks, opening (` in the NLTK files) and closing
        (
            "‘Sixty,’ said I, ‘or perhaps sixty-two.’",
            "` Sixty , ' said I , ` or perhaps sixty-two . '",
        ),
        # dashes: em dash, en dash and -- are one token; _italics_ lose their marks
        ("Sorrow came—a _gentle_ sorrow–but", "Sorrow came -- a _ gentle _ sorrow -- but"),
        # the NLTK files' split-after-the-apostrophe slips are repaired
        ("I'll be there at five o'clock.", "I' ll be there at five o' clock ."),
        ("Her daughters' sake.", "Her daughters ' sake ."),
    ],
)
def test_tokenize_gives_raw_prose_and_tokenised_lines_the_same_tokens(raw, tokenised):
    assert tokenize(raw) == tokenize(tokenised)


def test_tokenize_normalises_every_quote_and_dash_to_one_token():
    tokens = tokenize("“A” ‘bb’ ``c'' `dd' \"e\" f—g–h--i")
    marks = [t for t in tokens if not t.isalpha()]
    assert marks == ['"', '"', "'", "'", '"', '"', "'", "'", '"', '"', "--", "--", "--"]


def test_tokenize_reads_special_tokens_written_literally():
    assert tokenize("the <unk> sat on the <eos>") == ["the", "<unk>", "sat", "on", "the", "<eos>"]


# --- split_sentences --------------------------------------------------------------------------


def test_split_sentences_does_not_end_sentences_at_abbreviations_or_initials():
    text = (
        "Mr. Lorry met Mrs. Pross and Dr. Manette at St. Paul's. J. K. Smith lived at No. 5 "
        "Soho Square. They went home."
    )
    assert split_sentences(text) == [
        "Mr. Lorry met Mrs. Pross and Dr. Manette at St. Paul's.",
        "J. K. Smith lived at No. 5 Soho Square.",
        "They went home.",
    ]


def test_split_sentences_follows_dialogue_and_dashes():
    text = (
        '"Where are you going?" said he. "To the inn!" Lucie cried. It was late--very late--'
        "and dark.--Nobody came. 'Stop,' she said. And then... Silence?"
    )
    assert split_sentences(text) == [
        '"Where are you going?" said he.',
        '"To the inn!"',
        "Lucie cried.",
        "It was late--very late--and dark.",
        "Nobody came.",
        "'Stop,' she said.",
        "And then...",
        "Silence?",
    ]


def test_split_sentences_joins_wrapped_lines():
    assert split_sentences("It was a cold\nmorning. He\r\nslept.") == [
        "It was a cold morning.",
        "He slept.",
    ]


def test_split_sentences_on_a_real_passage(corpora, tmp_path):
    """Pride and Prejudice, end of chapter 1 and start of chapter 2: curly quotes, Mr./Mrs."""
    book = head(corpora / "novels" / "austen_pride-and-prejudice.txt", 150, tmp_path / "pp.txt")
    sentences = joined(iter_sentences(book, fmt="raw"))
    assert "mr. bennet was among the earliest of those who waited on mr. bingley ." in sentences
    assert '" i hope mr. bingley will like it , lizzy . "' in sentences
    assert '" i do not believe mrs. long will do any such thing .' in sentences
    assert "she has two nieces of her own ." in sentences
    assert not any("chapter" in s for s in sentences)


def test_split_sentences_on_emma_dashes(corpora):
    with (corpora / "novels" / "austen_emma.txt").open(encoding="utf-8") as stream:
        lines = list(itertools.islice(stream, 200))
    start = next(i for i, line in enumerate(lines) if line.startswith("Sorrow came"))
    paragraph = "".join(itertools.takewhile(str.strip, lines[start:]))
    sentences = split_sentences(paragraph)
    assert sentences[0].endswith("disagreeable consciousness.")
    assert sentences[1] == "Miss Taylor married."
    assert sentences[2] == "It was Miss Taylor's loss which first brought grief."


# --- cleaning whole books ---------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_raw_book_keeps_only_its_prose_sentences(tmp_path, newline):
    book = write(tmp_path / "tale.txt", RAW_BOOK, newline=newline)
    assert detect_format(book) == "raw"
    assert joined(iter_sentences(book)) == RAW_BOOK_SENTENCES


def test_a_byte_order_mark_is_not_a_token(tmp_path):
    book = tmp_path / "bom.txt"
    book.write_bytes("\ufeff".encode() + b"It was a cold morning at the inn.\n")
    assert joined(iter_sentences(book, fmt="lines")) == ["it was a cold morning at the inn ."]


def test_the_gutenberg_header_and_licence_of_the_scarlet_letter_are_cut(corpora):
    sentences = joined(iter_sentences(corpora / "novels" / "hawthorne_scarlet-letter.txt"))
    assert sentences[0].startswith("much to the author 's surprise")
    assert sentences[-1].startswith("it bore a device , a herald 's wording")
    assert not any("gutenberg" in s or "ebook" in s or "transcriber" in s for s in sentences)
    assert not any(s.startswith("chapter") or s == "the custom-house ." for s in sentences)


def test_a_lines_file_drops_its_tag_and_headings_and_repairs_slips(tmp_path):
    book = write(tmp_path / "lines.txt", LINES_BOOK)
    assert detect_format(book) == "lines"
    assert joined(iter_sentences(book)) == [
        '" i do n\'t think so , " said anne , looking at the sea .',
        "she had not been to bath since her mother 's death .",
        "mr shepherd , a civil , cautious lawyer , said nothing at all .",
        "\" i 'll answer for it , \" said the admiral at five o'clock .",
    ]


def test_a_lines_file_stops_at_the_gutenberg_licence(corpora, tmp_path):
    sentences = joined(iter_sentences(corpora / "sentences" / "chesterton_ball-and-the-cross.txt"))
    assert not any("gutenberg" in s for s in sentences)
    assert not any(s.startswith("[") for s in sentences)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sentences/austen_persuasion.txt", "lines"),
        ("sentences/burgess_buster-bear.txt", "lines"),
        ("novels/austen_emma.txt", "raw"),
        ("novels/swift_gullivers-travels.txt", "raw"),  # one paragraph per (very long) line
        ("novels/eliot_middlemarch.txt", "raw"),  # Gutenberg header first
    ],
)
def test_detect_format_tells_tokenised_lines_from_prose(corpora, name, expected):
    assert detect_format(corpora / name) == expected


def test_detect_format_looks_past_a_gutenberg_header(tmp_path):
    header = "This eBook is for the use of anyone, anywhere, at no cost.\n" * 40
    body = "`` I do n't think so , '' said Anne , looking at the sea .\n" * 10
    book = write(
        tmp_path / "b.txt", header + "*** START OF THE PROJECT GUTENBERG EBOOK B ***\n" + body
    )
    assert detect_format(book) == "lines"
    assert len(list(iter_sentences(book))) == 10


def test_a_corpus_may_mix_files_of_both_formats(corpora, tmp_path):
    lines = head(corpora / "sentences" / "austen_persuasion.txt", 200, tmp_path / "p.txt")
    raw = write(tmp_path / "tale.txt", RAW_BOOK)
    info = prepare_corpus([lines, raw], tmp_path / "out", min_len=1, test_fraction=0.5)
    assert info.fmt == "mixed"
    assert info.formats == ("lines", "raw")
    assert info.n_read == len(list(iter_sentences(lines))) + len(RAW_BOOK_SENTENCES)


# --- prepare_corpus: filters, vocabulary, split -----------------------------------------------


def numbered_sentences(n: int) -> str:
    """n distinct sentences whose lengths cycle through 4..10 tokens; s<i> is in sentence i only."""
    return "".join(" ".join(f"w{j}" for j in range(i % 7 + 2)) + f" s{i} .\n" for i in range(n))


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


def peak_memory(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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
        "assert 'models_core.nn.text' in sys.modules\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)
