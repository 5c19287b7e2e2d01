"""Helpers shared by the text-pipeline tests (tokenize, books, vocab, corpus)."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

from tests.conftest import SHARED_CORPORA

CORPORA = SHARED_CORPORA
NOVELS = CORPORA / "novels"
SENTENCES = CORPORA / "sentences"


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


def numbered_sentences(n: int) -> str:
    """n distinct sentences whose lengths cycle through 4..10 tokens; s<i> is in sentence i only."""
    return "".join(" ".join(f"w{j}" for j in range(i % 7 + 2)) + f" s{i} .\n" for i in range(n))


def peak_memory(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
