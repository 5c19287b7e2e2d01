"""The raw answers of one survey as tidy CSV, streamed one line at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TextIO

from surveys import selectors
from surveys.models import Response, Survey
from surveys.reports.cells import csv_safe

ANSWERS_PAIRWISE_HEADER = [
    "response", "rater", "rater_excluded", "item", "model_1", "model_2", "answer", "winner",
    "left", "response_ms", "created_at",
]  # fmt: skip
ANSWERS_MEANINGFULNESS_HEADER = [
    "response", "rater", "rater_excluded", "item", "model", "length", "meaningful",
    "response_ms", "created_at",
]  # fmt: skip


def answers_csv(survey: Survey, out: TextIO) -> int:
    """Write every answer as tidy CSV (see :func:`answers_lines`); return how many."""
    written = -1  # the header line is not an answer
    for line in answers_lines(survey):
        out.write(line)
        written += 1
    return written


def answers_lines(survey: Survey) -> Iterator[str]:
    """The raw answers as tidy CSV text, one line at a time (streamed, never all in memory).

    One row per answer, excluded raters too (flagged in ``rater_excluded``). Pairwise rows
    name the winner and the left-hand model (empty when unknown); meaningfulness rows give
    ``meaningful`` as 1/0. Text a spreadsheet would run as a formula (a rater id, an item key or
    a model name starting with ``=``, ``+``, ``-``, ``@``) is quoted (`csv_safe`).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: list[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_safe(value) for value in values])
        return buffer.getvalue()

    pairwise = survey.is_pairwise
    yield line(ANSWERS_PAIRWISE_HEADER if pairwise else ANSWERS_MEANINGFULNESS_HEADER)
    for (
        pk,
        rater,
        excluded,
        item,
        model_1,
        model_2,
        length,
        answer,
        left,
        ms,
        created,
    ) in selectors.survey_answers(survey=survey):
        common = [pk, rater, int(excluded), item]
        tail = ["" if ms is None else ms, created.isoformat()]
        if pairwise:
            sides = {Response.Side.MODEL_1: model_1, Response.Side.MODEL_2: model_2}
            winner = sides.get(answer, "")
            yield line([*common, model_1, model_2, answer, winner, sides.get(left, ""), *tail])
        else:
            meaningful = int(answer == Response.Answer.YES)
            yield line([*common, model_1, "" if length is None else length, meaningful, *tail])
