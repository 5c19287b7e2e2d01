"""Reading and writing corpus text files safely: `CorpusError`, a streaming line reader and
atomic writes. Shared by `vocab`, `books` and `corpus`; pure Python."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["MAX_LINE_BYTES", "CorpusError", "PathArg"]

PathArg = str | os.PathLike[str]

# A line longer than this without a newline is not text we can stream: refuse it rather than
# holding it in memory.
MAX_LINE_BYTES = 1 << 20
# How much of the start of a file is checked for NUL bytes before anything else: binary files
# are refused as such, not as "invalid UTF-8".
BINARY_SNIFF_BYTES = 8192

# ---------------------------------------------------------------------------------------------
# Errors


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message is one line naming the file and problem."""

    def __init__(self, path: PathArg | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(" ".join(f"{self.path}: {problem}".split()))


# ---------------------------------------------------------------------------------------------
# Reading files safely, line by line


def _resolve_paths(paths: PathArg | Iterable[PathArg]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    resolved = [Path(p) for p in paths]
    if not resolved:
        raise CorpusError("corpus", "no files given")
    return resolved


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CorpusError(path, "no such file")
    if path.is_dir():
        raise CorpusError(path, "is a directory, not a text file (give the files in it)")
    if not path.is_file():
        raise CorpusError(path, "is not a regular file")
    if path.stat().st_size == 0:
        raise CorpusError(path, "is empty")


def _read_lines(path: Path, *, max_lines: int | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 file, without its line ending.

    Reads at most `MAX_LINE_BYTES` per line, so memory stays flat whatever the file; a longer
    line, a NUL byte or invalid UTF-8 raises `CorpusError` naming the line.
    """
    _check_file(path)
    with path.open("rb") as stream:
        start = stream.read(BINARY_SNIFF_BYTES)
        if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise CorpusError(path, "is UTF-16 text; convert it to UTF-8")
        if b"\0" in start:
            raise CorpusError(path, "contains NUL bytes (a binary file?)")
        stream.seek(0)
        lineno = 0
        while max_lines is None or lineno < max_lines:
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise CorpusError(
                    path,
                    f"line {lineno} is longer than {MAX_LINE_BYTES // (1 << 20)} MB "
                    "(not a text file of lines or paragraphs?)",
                )
            if b"\0" in raw:
                raise CorpusError(path, f"contains NUL bytes on line {lineno} (a binary file?)")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start]
                raise CorpusError(
                    path, f"is not UTF-8 text (byte 0x{bad:02x} on line {lineno})"
                ) from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            # splitlines also breaks at a lone CR (old Mac files) and strips CRLF.
            for part in text.splitlines() or [""]:
                yield lineno, part


def _atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
    os.replace(tmp, path)
