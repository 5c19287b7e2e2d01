"""The text pipeline: corpus files → tokenised sentences → vocabulary and train/test split.

Pure Python and numpy (no Django, no torch), so a notebook can use it. The paper (Mansbridge et
al. 2019, Sect. 3) trains on sentences of 5–30 words with a vocabulary of the 20,000 most common
words and a 90/10 train/test split; `prepare_corpus` produces exactly that from either of two
kinds of input file:

- ``lines``: one sentence per line, already tokenised (BookCorpus style, or the NLTK Gutenberg
  selection: spaced punctuation, PTB quotes `` and ''). A ``[ Title by Author Year ]`` tag,
  chapter headings and a trailing Gutenberg licence are dropped.
- ``raw``: book text as Project Gutenberg distributes it. The Gutenberg header and footer (cut at
  the ``*** START OF`` / ``*** END OF`` markers), title pages, tables of contents, chapter
  headings, indented verse and transcriber notes are dropped; the rest is read paragraph by
  paragraph and split into sentences.

Both kinds go through the same `tokenize`, so they produce the same kind of tokens: lowercased
words and punctuation, PTB contractions (``had n't``, ``it 's``, ``you 're``), every double quote
as ``"``, every single quotation mark as ``'``, every dash as ``--``.

Everything streams: files are read line by line (a line longer than `MAX_LINE_BYTES` is an error,
never read whole), raw books paragraph by paragraph, and `prepare_corpus` writes each sentence as
soon as it is read. Memory grows only with the word counts of the vocabulary.

Any problem with a corpus file raises `CorpusError`, a `ValueError` whose message is one line
naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from models_core.nn.books import _line_sentences, _raw_sentences, detect_format
from models_core.nn.textfiles import (
    CorpusError,
    PathArg,
    _atomic_write_lines,
    _check_file,
    _read_lines,
    _resolve_paths,
)
from models_core.nn.tokenize import tokenize
from models_core.nn.vocab import UNK, Vocab

__all__ = [
    "FORMATS",
    "SPLITS",
    "CorpusInfo",
    "iter_sentences",
    "load_encoded",
    "load_split",
    "prepare_corpus",
]

FORMATS = ("auto", "lines", "raw")
SPLITS = ("train", "test")
# Sect. 3 of the paper: sentences of 5–30 words, a 20,000-word vocabulary, a 90/10 split.
DEFAULT_MIN_LEN = 5
DEFAULT_MAX_LEN = 30
DEFAULT_VOCAB_SIZE = 20_000
DEFAULT_TEST_FRACTION = 0.1
Format = Literal["auto", "lines", "raw"]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown corpus format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _file_sentences(path: Path, fmt: str) -> Iterator[list[str]]:
    sentences = _raw_sentences(path) if fmt == "raw" else _line_sentences(path)
    empty = True
    for sentence in sentences:
        empty = False
        tokens = tokenize(sentence)
        if any(any(c.isalpha() for c in token) for token in tokens):
            yield tokens
    if empty:
        # Either no text at all (blank lines) or nothing but headings, notes and licence.
        raise CorpusError(path, "has no sentences (empty, or only headings and notes)")


def iter_sentences(
    paths: PathArg | Iterable[PathArg], *, fmt: Format | str = "auto"
) -> Iterator[list[str]]:
    """Yield the token list of every sentence of every file in `paths`, in order.

    `fmt` is ``"lines"``, ``"raw"`` or ``"auto"`` (`detect_format` for each file). Sentences of
    any length are yielded (`prepare_corpus` filters by length); token lists without a letter
    ("* * *", "1.") are skipped. Streams: one line (lines) or one paragraph (raw) at a time.
    Raises `CorpusError` for a missing, empty, binary or non-UTF-8 file, or one with a line
    longer than `MAX_LINE_BYTES`.
    """
    _check_format(fmt)
    files = _resolve_paths(paths)
    for path in files:  # fail before any work on a plainly bad path
        _check_file(path)
    for path in files:
        file_fmt = detect_format(path) if fmt == "auto" else fmt
        yield from _file_sentences(path, file_fmt)


# ---------------------------------------------------------------------------------------------
# Preparing a corpus: filter, split, count, write


@dataclass(frozen=True)
class CorpusInfo:
    """What `prepare_corpus` did; also written to ``info.json``.

    Counts are of sentences (``n_*``) or tokens (``*_tokens``). ``unk_rate`` is the share of
    training tokens outside the vocabulary, ``test_unk_rate`` the same for the test split.
    ``fmt`` is the format of every file, or ``"mixed"``; ``formats`` lists it per file.
    """

    n_read: int
    n_kept: int
    n_train: int
    n_test: int
    vocab_size: int
    unk_rate: float
    mean_length: float
    fmt: str
    n_too_short: int = 0
    n_too_long: int = 0
    train_tokens: int = 0
    test_tokens: int = 0
    test_unk_rate: float = 0.0
    min_len: int = 5
    max_len: int = 30
    max_vocab: int = 20_000
    seed: int = 0
    test_fraction: float = 0.1
    files: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = list(self.files)
        data["formats"] = list(self.formats)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        values = dict(data)
        values["files"] = tuple(values.get("files", ()))
        values["formats"] = tuple(values.get("formats", ()))
        return cls(**values)


def _is_test(seed: int, index: int, test_fraction: float) -> bool:
    """Seeded, stateless split of sentence number `index`: a hash, so nothing is held."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < test_fraction * 2**64


def _check_options(min_len: int, max_len: int, vocab_size: int, test_fraction: float) -> None:
    if min_len < 1 or max_len < min_len:
        raise ValueError(
            f"sentence lengths need 1 <= min_len <= max_len; got min_len={min_len}, "
            f"max_len={max_len}"
        )
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be at least 1; got {vocab_size}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive); got {test_fraction}")


@dataclass
class _Tally:
    """What one pass of `prepare_corpus` counted: sentences, and tokens per split."""

    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {split: Counter() for split in SPLITS}
    )
    sentences: dict[str, int] = field(default_factory=lambda: {split: 0 for split in SPLITS})
    n_read: int = 0
    n_too_short: int = 0
    n_too_long: int = 0
    n_kept: int = 0
    kept_tokens: int = 0


def _write_splits(
    files: list[Path],
    formats: tuple[str, ...],
    temps: dict[str, Path],
    *,
    min_len: int,
    max_len: int,
    seed: int,
    test_fraction: float,
) -> _Tally:
    """Write every kept sentence of `files` to its split's file in `temps` as it is read, and
    count what was read, dropped and kept."""
    tally = _Tally()
    with (
        temps["train"].open("w", encoding="utf-8", newline="\n") as train_out,
        temps["test"].open("w", encoding="utf-8", newline="\n") as test_out,
    ):
        outputs = {"train": train_out, "test": test_out}
        for path, file_fmt in zip(files, formats, strict=True):
            for tokens in _file_sentences(path, file_fmt):
                tally.n_read += 1
                if len(tokens) < min_len:
                    tally.n_too_short += 1
                    continue
                if len(tokens) > max_len:
                    tally.n_too_long += 1
                    continue
                split = "test" if _is_test(seed, tally.n_kept, test_fraction) else "train"
                tally.n_kept += 1
                tally.kept_tokens += len(tokens)
                tally.sentences[split] += 1
                tally.counts[split].update(tokens)
                outputs[split].write(" ".join(tokens) + "\n")
    return tally


def _check_kept(tally: _Tally, files: list[Path], min_len: int, max_len: int) -> None:
    """A corpus needs kept sentences, and some of them in the training split."""
    if tally.n_kept == 0:
        names = ", ".join(str(p) for p in files)
        raise CorpusError(
            names, f"no sentence of {min_len}-{max_len} tokens (read {tally.n_read} sentences)"
        )
    if tally.sentences["train"] == 0:
        names = ", ".join(str(p) for p in files)
        raise CorpusError(
            names,
            f"all {tally.n_kept} kept sentences fell in the test split; give more text "
            "or a smaller test_fraction",
        )


def _unk_rate(counter: Counter[str], vocab: Vocab) -> tuple[int, float]:
    """Tokens counted in `counter`, and the share of them outside `vocab`."""
    total = sum(counter.values())
    unknown = sum(n for word, n in counter.items() if word not in vocab.stoi)
    return total, (unknown / total if total else 0.0)


def _corpus_info(
    tally: _Tally,
    vocab: Vocab,
    files: list[Path],
    formats: tuple[str, ...],
    *,
    min_len: int,
    max_len: int,
    vocab_size: int,
    seed: int,
    test_fraction: float,
) -> CorpusInfo:
    train_tokens, train_unk = _unk_rate(tally.counts["train"], vocab)
    test_tokens, test_unk = _unk_rate(tally.counts["test"], vocab)
    return CorpusInfo(
        n_read=tally.n_read,
        n_kept=tally.n_kept,
        n_train=tally.sentences["train"],
        n_test=tally.sentences["test"],
        vocab_size=len(vocab),
        unk_rate=train_unk,
        mean_length=tally.kept_tokens / tally.n_kept,
        fmt=formats[0] if len(set(formats)) == 1 else "mixed",
        n_too_short=tally.n_too_short,
        n_too_long=tally.n_too_long,
        train_tokens=train_tokens,
        test_tokens=test_tokens,
        test_unk_rate=test_unk,
        min_len=min_len,
        max_len=max_len,
        max_vocab=vocab_size,
        seed=seed,
        test_fraction=test_fraction,
        files=tuple(str(p) for p in files),
        formats=formats,
    )


def prepare_corpus(
    paths: PathArg | Iterable[PathArg],
    out_dir: PathArg,
    *,
    fmt: Format | str = "auto",
    min_len: int = DEFAULT_MIN_LEN,
    max_len: int = DEFAULT_MAX_LEN,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> CorpusInfo:
    """Tokenise a corpus, keep sentences of `min_len`–`max_len` tokens, split, build the vocab.

    Writes to `out_dir` (created if needed):

    - ``train.txt``, ``test.txt``: one kept sentence per line, tokens joined by single spaces,
      in corpus order;
    - ``vocab.txt``: one token per line, the four `SPECIALS` first, then the `vocab_size` most
      common words **of the training split only** (count descending, then word ascending);
    - ``info.json``: `CorpusInfo.to_dict()`, keys sorted.

    Each kept sentence goes to the test split with probability `test_fraction`, decided by a
    blake2b hash of the seed and the sentence's index among kept sentences; so the same input
    and seed always give byte-identical files, and a different seed a different split.

    One pass over the corpus: each sentence is written to its split as soon as it is read and
    its tokens are counted (training and test apart), so memory holds only the word counts.
    The vocabulary and the unknown-word rates follow from the counts at the end. Files are
    written under temporary names and renamed when complete.

    Raises `CorpusError` for a bad file or when no sentence survives the length filter, and
    `ValueError` for bad options.
    """
    _check_format(fmt)
    _check_options(min_len, max_len, vocab_size, test_fraction)
    files = _resolve_paths(paths)
    for path in files:
        _check_file(path)
    formats = tuple(detect_format(p) if fmt == "auto" else fmt for p in files)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = {split: out / f"{split}.txt" for split in SPLITS}
    temps = {split: target.with_name(target.name + ".tmp") for split, target in targets.items()}
    try:
        tally = _write_splits(
            files,
            formats,
            temps,
            min_len=min_len,
            max_len=max_len,
            seed=seed,
            test_fraction=test_fraction,
        )
        _check_kept(tally, files, min_len, max_len)
        for split in SPLITS:
            os.replace(temps[split], targets[split])
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)

    vocab = Vocab.build(tally.counts["train"], vocab_size)
    vocab.save(out / "vocab.txt")
    info = _corpus_info(
        tally,
        vocab,
        files,
        formats,
        min_len=min_len,
        max_len=max_len,
        vocab_size=vocab_size,
        seed=seed,
        test_fraction=test_fraction,
    )
    _atomic_write_lines(out / "info.json", [json.dumps(info.to_dict(), indent=2, sort_keys=True)])
    return info


# ---------------------------------------------------------------------------------------------
# Reading a prepared corpus


def _split_path(out_dir: PathArg, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return Path(out_dir) / f"{split}.txt"


def load_split(out_dir: PathArg, split: str) -> list[list[str]]:
    """The token lists of a split (``"train"`` or ``"test"``) written by `prepare_corpus`."""
    path = _split_path(out_dir, split)
    return [line.split(" ") for _, line in _read_lines(path) if line]


def load_encoded(out_dir: PathArg, split: str, vocab: Vocab) -> list[np.ndarray]:
    """The sentences of a split as int64 id arrays (no ``<sos>``/``<eos>``; unknown → `UNK`)."""
    path = _split_path(out_dir, split)
    get = vocab.stoi.get
    return [
        np.fromiter((get(t, UNK) for t in line.split(" ")), dtype=np.int64)
        for _, line in _read_lines(path)
        if line
    ]
