"""The tokeniser and the sentence splitter."""

from __future__ import annotations

import itertools

import pytest

from models_core.nn.corpus import (
    iter_sentences,
)
from models_core.nn.tokenize import split_sentences, tokenize
from tests.nn.corpus_helpers import (
    head,
    joined,
)

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
