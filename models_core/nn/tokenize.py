"""Tokenising and sentence splitting: `tokenize`, `split_sentences`, abbreviations. Pure Python."""

from __future__ import annotations

import re

__all__ = ["ABBREVIATIONS", "split_sentences", "tokenize"]

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
