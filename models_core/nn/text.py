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
import html
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

__all__ = [
    "EOS",
    "FORMATS",
    "MAX_LINE_BYTES",
    "PAD",
    "SOS",
    "SPECIALS",
    "SPLITS",
    "UNK",
    "CorpusError",
    "CorpusInfo",
    "Vocab",
    "detect_format",
    "iter_sentences",
    "load_encoded",
    "load_split",
    "prepare_corpus",
    "split_sentences",
    "tokenize",
]

SPECIALS = ("<pad>", "<unk>", "<sos>", "<eos>")
PAD, UNK, SOS, EOS = 0, 1, 2, 3

FORMATS = ("auto", "lines", "raw")
SPLITS = ("train", "test")
Format = Literal["auto", "lines", "raw"]
PathArg = str | os.PathLike[str]

# A line longer than this without a newline is not text we can stream: refuse it rather than
# holding it in memory.
MAX_LINE_BYTES = 1 << 20
# A raw "paragraph" with no blank line for this many characters (a book without blank lines
# between paragraphs) is split into sentences early, so memory stays bounded.
MAX_PARAGRAPH_CHARS = 64_000
# How much of the start of a file is checked for NUL bytes before anything else: binary files
# are refused as such, not as "invalid UTF-8".
BINARY_SNIFF_BYTES = 8192
# How much of a file `detect_format` and the Gutenberg-header scan look at.
SAMPLE_LINES = 2_000
SAMPLE_BYTES = 512 * 1024
# `detect_format`: a file is "lines" when spaced punctuation (" ,", " .") outnumbers punctuation
# glued to a word ("word,", "word.") by this factor; abbreviations ("Esq.") glue a little even in
# tokenised text.
LINES_PUNCT_RATIO = 2.0
# Raw paragraphs whose every line is indented this much are verse, epigraphs, title pages or
# tables of contents (about 1% of the words of corpora/novels), unless their lines look like
# wrapped prose: this long on average (Gutenberg wraps at about 70 characters).
INDENT_COLUMNS = 4
MIN_PROSE_LINE = 50
# A title is short: at most this many words, every one but "of", "the"... capitalised.
MAX_HEADING_WORDS = 25

# ---------------------------------------------------------------------------------------------
# Errors


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message is one line naming the file and problem."""

    def __init__(self, path: PathArg | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(" ".join(f"{self.path}: {problem}".split()))


# ---------------------------------------------------------------------------------------------
# Tokenising

# Abbreviations that keep their period, both as a token ("mr.") and for the sentence splitter.
_ABBREVIATION_WORDS = (
    "mr mrs messrs mme mlle dr st mt rev revd capt col gen lt sgt maj esq jr sr prof hon gov "
    "bart sen rep vol chap fig viz vs cf ft ult inst"
)
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_ABBREV_ALT = "|".join(sorted(ABBREVIATIONS, key=lambda a: (-len(a), a)))
_ABBREV_MAX = max(map(len, ABBREVIATIONS))

_CHAR_MAP = str.maketrans(
    {
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u2032": "'",  # ′
        "`": "'",
        "\u00b4": "'",  # ´
        "\u2014": " -- ",  # —
        "\u2013": " -- ",  # –
        "\u2015": " -- ",  # ―
        "\u2026": "...",  # …
        "\u00a0": " ",  # no-break space
        "\ufeff": "",  # byte order mark
        "_": " ",  # _italics_ in Gutenberg texts, "_ tap _" in the NLTK files
        "*": " ",  # *emphasis*, footnote stars, "* * *" section breaks
    }
)
_PTB_QUOTES = re.compile(r"``|''")
# The NLTK files split some contractions after the apostrophe: "I' ll", "o' clock".
_CLITIC_SLIP = re.compile(r"(?<=\w)' (ll|m|re|ve|d|s)\b")
_O_SLIP = re.compile(r"\b([oO])' (clock|er)\b")
_NT = re.compile(r"(?i)(?<=[a-z])n't\b")  # don't → do n't, can't → ca n't, won't → wo n't
_CLITIC = re.compile(r"(?i)(?<=[^\W\d_])'(s|re|ve|ll|d|m)\b")  # it's → it 's, you're → you 're
_ELLIPSIS = re.compile(r"\.(?:\s*\.){2,}")
_TOKEN = re.compile(
    rf"""
      <(?:pad|unk|sos|eos)>                     # a special token written literally
    | (?:[^\W\d_]\.){{2,}}(?![^\W_])              # initialisms: e.g. u.s. g.k. d.d.
    | \b(?=[A-Za-z]{{1,{_ABBREV_MAX}}}\.)            # (a cheap test before the long alternation)
      (?i:{_ABBREV_ALT})\.                       # abbreviations keep their period: mr. st.
    | \b(?i:no)\.(?=\s*\d)                       # "No. 5"
    | \b[A-HJ-Z]\.(?=\s+[A-Z])                   # an initial (not "I") before a capital: J. K.
    | n't\b                                     # split off by _NT
    | '(?:s|re|ve|ll|d|m)\b                      # split off by _CLITIC
    | '(?i:tis|twas|twere|twill|em|cause)\b      # elisions: 'tis 'em
    | \d+(?:[.,:]\d+)+                          # numbers: 1,000 3.5 10:30
    | [^\W_]+(?:['-][^\W_]+)*                   # words, with inner hyphens and apostrophes
    | \.\.\.                                    # ellipsis
    | --                                        # dash
    | \S                                        # any other symbol, one at a time
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split a sentence (or any text) into lowercased word and punctuation tokens.

    Works on raw prose and on already tokenised lines alike, giving the same tokens for both:
    ``tokenize('He hadn’t been able.')`` and ``tokenize('He had n't been able .')`` are both
    ``['he', 'had', "n't", 'been', 'able', '.']``. Double quotes of any kind (“ ” " `` '') become
    ``"``, single quotation marks (‘ ’ ` ') become ``'``, dashes (— – --) become ``--``,
    ``_italics_`` and ``*stars*`` lose their marks. Abbreviations and initials keep their period
    (``mr.``, ``g.k.``); a sentence's final period is its own token.
    """
    text = _PTB_QUOTES.sub(' " ', text.translate(_CHAR_MAP))
    text = _ELLIPSIS.sub(" ... ", text)
    if "'" in text:  # contractions; most sentences have none
        text = _O_SLIP.sub(r"\1'\2", _CLITIC_SLIP.sub(r" '\1", text))
        text = _CLITIC.sub(r" '\1", _NT.sub(" n't", text))
    return [token.lower() for token in _TOKEN.findall(text)]


# ---------------------------------------------------------------------------------------------
# Sentence splitting

# A candidate sentence end: terminal punctuation, closing quotes or brackets, then whitespace or
# a dash, then what a sentence starts with (opening quotes or brackets, a capital or a digit).
_BOUNDARY = re.compile(
    r"""
    (?P<end>[.!?]+|…)
    (?P<close>["'”’)\]_]*)
    (?P<gap>\s+|\s*(?:--|—)\s*)
    (?=["'“‘(\[_]*[A-Z0-9])
    """,
    re.VERBOSE,
)
_WHITESPACE = re.compile(r"\s+")
_LAST_WORD = re.compile(r"(\S+)$")
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")
_LEADING_DASHES = re.compile(r"^(?:\s|--|—|–)+")


def _is_abbreviation(before: str, after: str) -> bool:
    """Whether the period ending `before` belongs to an abbreviation, not a sentence end."""
    match = _LAST_WORD.search(before)
    if match is None:
        return False
    word = match.group(1).lstrip("\"'“‘([_")
    lowered = word.lower()
    if lowered in ABBREVIATIONS or _INITIALISM.match(word):
        return True
    if lowered == "no" and after[:1].isdigit():
        return True
    # A single capital is an initial ("J. K. Rowling"), except the pronoun "I".
    return len(word) == 1 and word.isupper() and word != "I"


def split_sentences(text: str) -> list[str]:
    """Split a paragraph of raw prose into sentence strings.

    A sentence ends at ``.``, ``!``, ``?`` or ``...`` (with any closing quotes or brackets) when
    the next sentence starts with a capital, a digit or an opening quote; never after an
    abbreviation (``Mr.``, ``Mrs.``, ``St.``) or an initial (``J. K.``), nor inside dialogue that
    goes on in lowercase (``"Where?" said he.``). A dash may join two sentences
    (``consciousness.--Miss Taylor married.``); it is dropped from the start of the second.
    Line breaks count as spaces.
    """
    text = _WHITESPACE.sub(" ", text).strip()
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start("gap")
        if match.group("end") == "." and _is_abbreviation(
            text[start : match.start("end")], text[match.end() :]
        ):
            continue
        sentences.append(text[start:end])
        start = match.end()
    sentences.append(text[start:])
    cleaned = (_LEADING_DASHES.sub("", s).strip() for s in sentences)
    return [s for s in cleaned if s]


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


# ---------------------------------------------------------------------------------------------
# Gutenberg header and footer

_GUTENBERG_START = re.compile(r"\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_GUTENBERG_END = re.compile(
    r"\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|^\s*End of (?:the )?Project Gutenberg",
    re.IGNORECASE,
)


def _gutenberg_start(path: Path) -> int:
    """The line number of the ``*** START OF`` marker near the top of `path`, or 0 if none."""
    seen = 0
    for lineno, line in _read_lines(path, max_lines=SAMPLE_LINES):
        if _GUTENBERG_END.search(line):
            return 0
        if _GUTENBERG_START.search(line):
            return lineno
        seen += len(line)
        if seen > SAMPLE_BYTES:
            break
    return 0


def _book_lines(path: Path) -> Iterator[str]:
    """The lines of a book between the Gutenberg markers (all of it when there are none)."""
    start = _gutenberg_start(path)
    for lineno, line in _read_lines(path):
        if lineno <= start:
            continue
        if _GUTENBERG_END.search(line):
            return
        yield line


# ---------------------------------------------------------------------------------------------
# Format detection

_SPACED_PUNCT = re.compile(r"(?:^|\s)[.,;:!?](?=\s|$)")
_GLUED_PUNCT = re.compile(r"[^\W_][.,;:!?](?=\s|$)")


def detect_format(path: PathArg) -> str:
    """Guess whether `path` holds one tokenised sentence per line (``"lines"``) or raw prose.

    Looks at the first lines only (`SAMPLE_LINES`, `SAMPLE_BYTES`, after any Gutenberg header):
    tokenised text spaces its punctuation (``word , word .``) where prose glues it to words
    (``word, word.``), whether the prose is wrapped or written one paragraph per line. A
    sample with no punctuation at all is taken as one sentence per line.
    """
    path = Path(path)
    start = _gutenberg_start(path)
    spaced = glued = 0
    seen = 0
    nonblank = 0
    for lineno, line in _read_lines(path, max_lines=start + SAMPLE_LINES):
        if lineno <= start or not line.strip():
            continue
        nonblank += 1
        spaced += len(_SPACED_PUNCT.findall(line))
        glued += len(_GLUED_PUNCT.findall(line))
        seen += len(line)
        if seen > SAMPLE_BYTES:
            break
    if nonblank == 0:
        raise CorpusError(path, "is empty (only blank lines)")
    return "lines" if spaced >= LINES_PUNCT_RATIO * glued else "raw"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown corpus format {fmt!r}; expected one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------------------------
# What is not a sentence: headings, title pages, tables of contents, notes

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|"
    "fifth|sixth|seventh|eighth|ninth|tenth|last|the first|the second|the third|the last"
)
_NUMERAL = rf"(?:\d+|[ivxlcdm]+|(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))?)"
# Roman numerals of two letters or more, or I, V, X alone (so "C. J. Smith" is not a heading).
_ROMAN = r"(?:[IVXLCDM]{2,}|[IVX])"
_SECTION_WORDS = "chapter|chap|book|volume|vol|part|stave|letter|canto|section|fit"
_HEADING = re.compile(
    rf"""^\s*(?:
        (?:{_SECTION_WORDS})\.?\s+{_NUMERAL}\b      # CHAPTER XII, Book the First, Stave One
      | (?-i:{_ROMAN})\s*\.(?!\.)                   # I. A DISCUSSION SOMEWHAT IN THE AIR
      | (?-i:{_ROMAN})\s*$                          # a numeral alone
      | \d+\s*[.)]?\s*$                             # 5.
    )[\s.:\-—–]*(?P<rest>.*)$""",
    re.IGNORECASE | re.VERBOSE,
)
_SECTION_TITLE = re.compile(
    r"^\s*(?:contents|table of contents|preface|introduction|prologue|epilogue|postscript|"
    r"appendix|footnotes?|notes|the end|finis|etymology|extracts|dedication)\b[\s.:]*$",
    re.IGNORECASE,
)
_NOTES_HEADING = re.compile(r"^\W*(?:original\s+)?transcriber['’]?s?\s+notes?\W*$", re.IGNORECASE)
_NOTE = re.compile(
    r"^[\s\[*(]*(?:(?:original\s+)?transcriber|produced by|e-?text prepared|transcribed from|"
    r"this e-?(?:book|text)|illustration|sidenote|footnote)",
    re.IGNORECASE,
)
_TAG_LINE = re.compile(r"^\s*\[.*\]\s*$")
_INLINE_NOTE = re.compile(r"\[(?:illustration|sidenote|footnote)[^\]]*\]", re.IGNORECASE)
_FOOTNOTE_REF = re.compile(r"\[\d+\]|\{\d+\}")
_TOC_LINE = re.compile(
    rf"^\s*(?:(?:{_SECTION_WORDS})\.?\s+)?(?:\d+|[IVXLCDM]+)\b[.:]?\s+\S|\S.*\s\d+\s*$",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?:;,]['\"”’)\]_\s]*$")
_CAPITALS_WORD = re.compile(r"^[A-Z][A-Z'’-]*[,;:]?$")
_SENTENCE_END = re.compile(r"[.!?]['\"”’)\]_\s]*$")
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’-][^\W_]+)*")
_TITLE_SMALL_WORDS = "a an and as at by for from in into of on or the to with"
_SMALL_WORDS = frozenset(_TITLE_SMALL_WORDS.split())


def _looks_like_title(text: str) -> bool:
    """A short line of capitalised words without end punctuation: "The Absence of Mr Glass"."""
    words = _WORD.findall(text)
    if not words or len(words) > MAX_HEADING_WORDS or _TERMINAL.search(text):
        return False
    content = [w for w in words if w.lower() not in _SMALL_WORDS]
    return bool(content) and all(w[0].isupper() for w in content)


def _strip_heading(text: str) -> str | None:
    """Remove a chapter heading from `text`: None when all of it is a heading or a title.

    A chapter number glued to the first sentence of the chapter (``Chapter 2 Mr Shepherd, a
    civil, cautious lawyer, ...``, as in the NLTK files) is cut off and the sentence kept.
    """
    if not any(c.islower() for c in text):  # EMMA, THE END, VOLUME I, ALL-CAPS titles
        return None
    if _SECTION_TITLE.match(text) or _looks_like_title(text):
        return None
    match = _HEADING.match(text)
    if match is None:
        return text
    rest = match.group("rest").strip()
    if (
        not _SENTENCE_END.search(rest)
        or not any(c.islower() for c in rest)
        or _looks_like_title(rest.rstrip(" .!?"))
    ):
        # "CHAPTER XII", "I. The Absence of Mr Glass", "CHAPTER 19. Walter goes away",
        # "CHAPTER I. Mr. Bennet's Hint."
        return None
    if rest[:1].isupper() or rest[:1] in "\"'“‘`(":
        return _drop_capitals_title(rest)
    return text


def _drop_capitals_title(text: str) -> str:
    """Drop an all-capitals chapter title glued before the chapter's first sentence.

    ``THE PURSUIT OF THE PRESIDENT NEXT morning five ...`` → ``NEXT morning five ...``: books
    set the first word of a chapter in capitals too, so the last capitals word stays when
    lowercase follows it.
    """
    words = text.split(" ")
    run = 0
    while run < len(words) and _CAPITALS_WORD.match(words[run]):
        run += 1
    if run < 2 or run == len(words):
        return text
    if words[run][:1].islower():
        run -= 1
    return " ".join(words[run:])


def _is_table_of_contents(lines: list[str]) -> bool:
    if len(lines) < 3:
        return False
    listed = sum(1 for line in lines if _TOC_LINE.match(line))
    return listed >= 0.6 * len(lines)


def _is_display(lines: list[str]) -> bool:
    """Whether an indented block is set apart from the prose: verse, a title page, a table.

    Prose quoted as an indented block (a letter, a newspaper cutting) is kept: its lines are
    long and mostly continue in lowercase, where verse starts each line with a capital.
    """
    if not all(len(line) - len(line.lstrip()) >= INDENT_COLUMNS for line in lines):
        return False
    if len(lines) < 2:
        return True
    stripped = [line.strip() for line in lines]
    mean_length = sum(map(len, stripped)) / len(stripped)
    capitalised = sum(1 for line in stripped[1:] if not line[0].islower())
    return mean_length < MIN_PROSE_LINE or capitalised >= 0.5 * (len(stripped) - 1)


def _paragraph_text(lines: list[str]) -> str | None:
    """The prose of a raw paragraph, or None when it is not prose (see the module docstring)."""
    if _is_display(lines) or _is_table_of_contents(lines):
        return None
    text = " ".join(line.strip() for line in lines)
    if _NOTE.match(text):
        return None
    if "&" in text:
        text = html.unescape(text)
    text = _FOOTNOTE_REF.sub(" ", _INLINE_NOTE.sub(" ", text)).strip()
    if not text:
        return None
    return _strip_heading(text)


# ---------------------------------------------------------------------------------------------
# Sentences of a corpus


def _paragraphs(path: Path) -> Iterator[tuple[list[str], bool]]:
    """The blank-line separated paragraphs of a book, as ``(lines, complete)``.

    A paragraph longer than `MAX_PARAGRAPH_CHARS` comes in pieces, all but the last with
    ``complete`` False, so that a book without blank lines still streams.
    """
    paragraph: list[str] = []
    size = 0
    for line in _book_lines(path):
        if line.strip():
            paragraph.append(line)
            size += len(line)
            if size >= MAX_PARAGRAPH_CHARS:
                yield paragraph, False
                paragraph, size = [], 0
        elif paragraph:
            yield paragraph, True
            paragraph, size = [], 0
    if paragraph:
        yield paragraph, True


def _starts_section(lines: list[str]) -> bool:
    """Whether a paragraph opens a new part of the book (a heading, a section title)."""
    text = " ".join(line.strip() for line in lines)
    return bool(
        _HEADING.match(text) or _SECTION_TITLE.match(text) or not any(c.islower() for c in text)
    )


def _raw_sentences(path: Path) -> Iterator[str]:
    """Sentence strings of a raw book, read paragraph by paragraph.

    A "Transcriber's Notes" heading starts notes that run to the next section heading.
    """
    in_notes = False
    carry = ""  # the unfinished last sentence of an over-long paragraph
    for lines, complete in _paragraphs(path):
        if carry or not complete:
            # A paragraph too long to hold: running prose, split as it comes.
            text = " ".join([carry, *(line.strip() for line in lines)])
            *sentences, carry = split_sentences(text) or [""]
            yield from sentences
            if complete:
                if carry:
                    yield carry
                carry = ""
            continue
        if in_notes and not _starts_section(lines):
            continue
        in_notes = bool(_NOTES_HEADING.match(" ".join(lines)))
        text = _paragraph_text(lines)
        if text:
            yield from split_sentences(text)
    if carry:
        yield carry


def _line_sentences(path: Path) -> Iterator[str]:
    """Sentence strings of a one-sentence-per-line file, headings and tags dropped."""
    for line in _book_lines(path):
        if not line.strip() or _TAG_LINE.match(line):
            continue
        text = _strip_heading(line)
        if text:
            yield text


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


def _atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
    os.replace(tmp, path)


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


def prepare_corpus(
    paths: PathArg | Iterable[PathArg],
    out_dir: PathArg,
    *,
    fmt: Format | str = "auto",
    min_len: int = 5,
    max_len: int = 30,
    vocab_size: int = 20_000,
    seed: int = 0,
    test_fraction: float = 0.1,
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
    counts: dict[str, Counter[str]] = {split: Counter() for split in SPLITS}
    n_read = n_too_short = n_too_long = n_kept = kept_tokens = 0
    sentences = {split: 0 for split in SPLITS}
    try:
        with (
            temps["train"].open("w", encoding="utf-8", newline="\n") as train_out,
            temps["test"].open("w", encoding="utf-8", newline="\n") as test_out,
        ):
            outputs = {"train": train_out, "test": test_out}
            for path, file_fmt in zip(files, formats, strict=True):
                for tokens in _file_sentences(path, file_fmt):
                    n_read += 1
                    if len(tokens) < min_len:
                        n_too_short += 1
                        continue
                    if len(tokens) > max_len:
                        n_too_long += 1
                        continue
                    split = "test" if _is_test(seed, n_kept, test_fraction) else "train"
                    n_kept += 1
                    kept_tokens += len(tokens)
                    sentences[split] += 1
                    counts[split].update(tokens)
                    outputs[split].write(" ".join(tokens) + "\n")
        if n_kept == 0:
            names = ", ".join(str(p) for p in files)
            raise CorpusError(
                names, f"no sentence of {min_len}-{max_len} tokens (read {n_read} sentences)"
            )
        if sentences["train"] == 0:
            names = ", ".join(str(p) for p in files)
            raise CorpusError(
                names,
                f"all {n_kept} kept sentences fell in the test split; give more text "
                "or a smaller test_fraction",
            )
        for split in SPLITS:
            os.replace(temps[split], targets[split])
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)

    vocab = Vocab.build(counts["train"], vocab_size)
    vocab.save(out / "vocab.txt")

    def unk_rate(counter: Counter[str]) -> tuple[int, float]:
        total = sum(counter.values())
        unknown = sum(n for word, n in counter.items() if word not in vocab.stoi)
        return total, (unknown / total if total else 0.0)

    train_tokens, train_unk = unk_rate(counts["train"])
    test_tokens, test_unk = unk_rate(counts["test"])
    info = CorpusInfo(
        n_read=n_read,
        n_kept=n_kept,
        n_train=sentences["train"],
        n_test=sentences["test"],
        vocab_size=len(vocab),
        unk_rate=train_unk,
        mean_length=kept_tokens / n_kept,
        fmt=formats[0] if len(set(formats)) == 1 else "mixed",
        n_too_short=n_too_short,
        n_too_long=n_too_long,
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
