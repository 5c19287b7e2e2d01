"""The survey fixtures the product ships hold exactly the paper's published counts."""

import csv
from collections import Counter

from tests.surveys.conftest import (
    DISCARDS_PER_PAIR,
    LONG_WORDS,
    PAPER_SURVEYS,
    SHORT_WORDS,
    TABLE_2,
    TABLE_4,
    TABLE_4_RATERS,
)


def read(name: str) -> list[dict[str, str]]:
    with (PAPER_SURVEYS / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_table_2_fixture_holds_the_papers_wins_raters_and_discards():
    rows = read("paper-table-2.csv")
    for model_1, model_2, wins, n, raters in TABLE_2:
        mine = [r for r in rows if (r["model_1"], r["model_2"]) == (model_1, model_2)]
        winners = Counter(r["winner"] for r in mine)
        assert (winners[model_1], winners[model_2]) == (wins, n - wins)
        assert winners["discard"] == DISCARDS_PER_PAIR
        assert len({r["rater"] for r in mine}) == raters
        assert len({r["item"] for r in mine}) == len(mine)  # one answer per item
    assert len(rows) == sum(n + DISCARDS_PER_PAIR for *_, n, _ in TABLE_2)


def test_table_4_fixture_holds_the_papers_shares_split_at_ten_words():
    rows = read("paper-table-4.csv")
    assert len({r["rater"] for r in rows}) == TABLE_4_RATERS
    for model, (k_short, n_short, k_long, n_long) in TABLE_4.items():
        mine = [r for r in rows if r["model"] == model]
        for (low, high), k, n in ((SHORT_WORDS, k_short, n_short), (LONG_WORDS, k_long, n_long)):
            bucket = [r for r in mine if low <= len(r["sentence"].split()) <= high]
            assert len(bucket) == n
            assert sum(r["meaningful"] == "yes" for r in bucket) == k
        assert len(mine) == n_short + n_long
