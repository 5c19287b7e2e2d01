"""Survey data shaped like the paper's, imported through the real import service."""

from __future__ import annotations

import csv
import io
import random

import pytest

from surveys import reports
from surveys.models import Survey
from surveys.services import responses_import

# Table 2 (Sect. 3.2): model 1, model 2, model 1 wins, decisive responses, raters.
TABLE_2 = [
    ("VAE (annealing)", "VAE", 79, 120, 6),
    ("AutoGen (m=1)", "VAE (annealing)", 229, 260, 13),
    ("AutoGen (m=2)", "AutoGen (m=1)", 506, 575, 23),
]
DISCARDS_PER_PAIR = 4
# Table 4 (Sect. 3.3), as counts that give the paper's percentages: model → (k short, n short,
# k long, n long); the VAE made no long sentences ("N/A").
TABLE_4 = {
    "VAE": (75, 100, 0, 0),
    "VAE (annealing)": (38, 50, 16, 50),
    "AutoGen (m=1)": (25, 50, 16, 50),
    "AutoGen (m=2)": (29, 100, 2, 40),
}
TABLE_4_RATERS = 23
SHORT_WORDS = (4, 10)  # sentences of 4–10 words are short at the paper's split
LONG_WORDS = (11, 20)


def csv_bytes(header: list[str], rows: list[list[object]]) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return io.BytesIO(text.getvalue().encode())


def table_2_rows(seed: int = 2019) -> list[list[object]]:
    """One answer per item; outcomes shuffled over raters, sides alternated, some discards."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for pair, (model_1, model_2, wins, n, raters) in enumerate(TABLE_2):
        outcomes = [model_1] * wins + [model_2] * (n - wins) + ["discard"] * DISCARDS_PER_PAIR
        rng.shuffle(outcomes)
        for i, winner in enumerate(outcomes):
            left = (model_1, model_2)[i % 2]
            rows.append([f"p{pair}-r{i % raters}", f"p{pair}-i{i}", model_1, model_2, winner, left])
    return rows


def table_4_rows(seed: int = 2019) -> list[list[object]]:
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for model, (k_short, n_short, k_long, n_long) in TABLE_4.items():
        for words, k, n in ((SHORT_WORDS, k_short, n_short), (LONG_WORDS, k_long, n_long)):
            for i in range(n):
                length = rng.randint(*words)
                sentence = " ".join(f"w{j}" for j in range(length))
                item = f"{model}-{length}-{i}"
                rater = f"r{len(rows) % TABLE_4_RATERS}"
                rows.append([rater, item, model, sentence, "yes" if i < k else "no"])
    return rows


@pytest.fixture
def table_2_survey(db) -> Survey:
    """A pairwise survey holding the paper's Table 2 counts (79/120, 229/260, 506/575)."""
    header = ["rater", "item", "model_1", "model_2", "winner", "left"]
    responses_import(survey_name="Table 2", kind="pairwise", file=csv_bytes(header, table_2_rows()))
    return Survey.objects.get(name="Table 2")


@pytest.fixture
def table_4_survey(db) -> Survey:
    """A meaningfulness survey with the paper's Table 4 percentages, split at 10 words."""
    header = ["rater", "item", "model", "sentence", "meaningful"]
    responses_import(
        survey_name="Table 4", kind="meaningfulness", file=csv_bytes(header, table_4_rows())
    )
    return Survey.objects.get(name="Table 4")


@pytest.fixture
def quick_bootstrap(monkeypatch) -> None:
    """Fewer bootstrap replicates: the tests check plumbing, not Monte Carlo precision."""
    monkeypatch.setattr(reports, "N_BOOT", 200)
    monkeypatch.setattr(reports, "N_BOOT_BRADLEY_TERRY", 20)
