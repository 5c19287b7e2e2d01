"""Raw book cleaning: Gutenberg header and footer, format detection, headings, tables of
contents, notes and paragraphs, giving the sentence strings of a book file. Pure Python."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

from models_core.nn.textfiles import CorpusError, PathArg, _read_lines
from models_core.nn.tokenize import split_sentences

__all__ = ["detect_format"]

# A raw "paragraph" with no blank line for this many characters (a book without blank lines
# between paragraphs) is split into sentences early, so memory stays bounded.
MAX_PARAGRAPH_CHARS = 64_000
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
