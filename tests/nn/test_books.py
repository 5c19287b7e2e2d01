"""Cleaning whole books: Gutenberg header and footer, headings, formats."""

from __future__ import annotations

import pytest

from models_core.nn.books import detect_format
from models_core.nn.corpus import (
    iter_sentences,
    prepare_corpus,
)
from tests.nn.corpus_helpers import (
    head,
    joined,
    write,
)

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
