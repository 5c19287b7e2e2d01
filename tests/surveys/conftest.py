"""Survey data shaped like the paper's, imported through the real import service.

The answers are the product's own fixtures (``fixtures/surveys``, what the demo imports):
reconstructed from the counts below, which the tests check the reports against.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from surveys import reports
from surveys.imports import responses_import
from surveys.models import Survey

PAPER_SURVEYS = Path(__file__).resolve().parents[2] / "fixtures" / "surveys"

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


@pytest.fixture
def table_2_survey(db) -> Survey:
    """A pairwise survey holding the paper's Table 2 counts (79/120, 229/260, 506/575)."""
    responses_import(
        survey_name="Table 2", kind="pairwise", file=PAPER_SURVEYS / "paper-table-2.csv"
    )
    return Survey.objects.get(name="Table 2")


@pytest.fixture
def table_4_survey(db) -> Survey:
    """A meaningfulness survey with the paper's Table 4 percentages, split at 10 words."""
    responses_import(
        survey_name="Table 4", kind="meaningfulness", file=PAPER_SURVEYS / "paper-table-4.csv"
    )
    return Survey.objects.get(name="Table 4")


@pytest.fixture
def quick_bootstrap(monkeypatch) -> None:
    """Fewer bootstrap replicates: the tests check plumbing, not Monte Carlo precision."""
    monkeypatch.setattr(reports.build, "N_BOOT", 200)
    monkeypatch.setattr(reports.build, "N_BOOT_BRADLEY_TERRY", 20)
