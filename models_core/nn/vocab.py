"""The vocabulary: `SPECIALS`, the special token ids and `Vocab` (words ↔ ids).

The special ids are defined here and only here. Pure Python."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from models_core.nn.textfiles import CorpusError, PathArg, _atomic_write_lines, _read_lines

__all__ = ["EOS", "PAD", "SOS", "SPECIALS", "UNK", "Vocab"]

SPECIALS = ("<pad>", "<unk>", "<sos>", "<eos>")
PAD, UNK, SOS, EOS = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# Vocabulary


@dataclass
class Vocab:
    """Words ↔ ids; ids 0–3 are `SPECIALS` (``<pad>``, ``<unk>``, ``<sos>``, ``<eos>``).

    Files hold one token per line, in id order. Built by `prepare_corpus` from the training
    split only, so test words the training set never shows are unknown, as they would be for
    any new sentence.
    """

    itos: list[str]
    stoi: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"a vocabulary must start with {', '.join(SPECIALS)}; "
                f"got {', '.join(self.itos[: len(SPECIALS)]) or 'nothing'}"
            )
        self.stoi = {word: i for i, word in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            repeated = next(w for w, n in Counter(self.itos).items() if n > 1)
            raise ValueError(f"a vocabulary lists each word once; {repeated!r} repeats")
        bad = next((w for w in self.itos if not w or w != w.strip() or len(w.split()) != 1), None)
        if bad is not None:
            raise ValueError(f"vocabulary words cannot be empty or hold spaces; got {bad!r}")

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, counter: Mapping[str, int], size: int) -> Self:
        """The `size` most common words of `counter` after the specials (``len`` is size + 4).

        Ties are broken by the word itself (count descending, then word ascending), so the
        same counts always give the same vocabulary. Special tokens in `counter` are ignored.
        """
        if size < 0:
            raise ValueError(f"vocabulary size must be at least 0; got {size}")
        ranked = sorted(
            (item for item in counter.items() if item[0] not in SPECIALS),
            key=lambda item: (-item[1], item[0]),
        )
        return cls([*SPECIALS, *(word for word, _ in ranked[:size])])

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; words outside the vocabulary become `UNK`."""
        get = self.stoi.get
        return [get(token, UNK) for token in tokens]

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> list[str]:
        """Tokens for `ids`. `strip_specials` drops ``<pad>``, ``<sos>`` and ``<eos>``.

        ``<unk>`` is kept even then: it stands for a word, and callers that filter
        sentences with unknown words (the paper's tables) must see it.
        """
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is outside the vocabulary (0–{len(self) - 1})")
            if strip_specials and i in (PAD, SOS, EOS):
                continue
            tokens.append(self.itos[i])
        return tokens

    def save(self, path: PathArg) -> None:
        """Write one token per line (UTF-8, LF), specials first; byte-identical for equal vocabs."""
        _atomic_write_lines(Path(path), self.itos)

    @classmethod
    def load(cls, path: PathArg) -> Self:
        """Read a file written by `save`."""
        path = Path(path)
        words = [line for _, line in _read_lines(path)]
        try:
            return cls(words)
        except ValueError as exc:
            raise CorpusError(path, f"is not a vocabulary file: {exc}") from None
