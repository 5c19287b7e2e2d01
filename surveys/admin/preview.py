"""Preview as a rater: a few pages of a survey as a rater would see them, storing nothing.

The pages are drawn the way a rater's plan is (:func:`surveys.assignment.plan_questions`,
:func:`~surveys.assignment.place_checks`, :func:`~surveys.assignment.check_material`) with a
throwaway random generator, from the survey's items read once; no Rater, Assignment or Response
is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from surveys.assignment import MODEL_1, Candidate, check_material, place_checks, plan_questions
from surveys.models import Assignment, Item, Survey

PREVIEW_QUESTIONS = 5
CHECK_ITEMS = 20  # items tried for a check's sentences (a gold question needs a long one)


@dataclass(frozen=True)
class PreviewPage:
    """One page: what the rater sees (``left``/``right``, or ``sentence``), and ``note``, which
    only the researcher sees: what is behind it."""

    number: int
    total: int
    prompt: str = ""
    source: str = ""
    left: str = ""
    right: str = ""
    sentence: str = ""
    note: str = ""


def preview_pages(
    survey: Survey, rng: random.Random, n: int = PREVIEW_QUESTIONS
) -> list[PreviewPage]:
    """Up to `n` questions of `survey`, with one instructed check and one gold question among
    them when the survey has such checks; numbered as in a rater's whole survey."""
    rows = list(survey.items.values_list("pk", "model_1", "model_2"))
    pairwise = survey.is_pairwise
    candidates = [
        Candidate(pk, " vs ".join(sorted((m1, m2))) if pairwise else m1) for pk, m1, m2 in rows
    ]
    planned = plan_questions(candidates, min(n, survey.cap_per_rater), rng, sides=pairwise)
    checks = [Assignment.Kind.INSTRUCTED] * min(survey.instructed_checks, 1)
    checks += [Assignment.Kind.GOLD] * min(survey.gold_checks, 1)
    sampled = rng.sample([pk for pk, _, _ in rows], min(CHECK_ITEMS, len(rows)))
    items = Item.objects.in_bulk([slot.item for slot in planned] + sampled)
    pool = [items[pk] for pk in sampled]
    total = min(survey.cap_per_rater, len(rows)) + survey.n_checks
    questions = iter(planned)
    pages: list[PreviewPage] = []
    for kind in place_checks(len(planned), checks, rng):
        number = len(pages) + 1
        if kind is None:
            slot = next(questions)
            pages.append(_question(items[slot.item], slot.left, pairwise, number, total))
            continue
        page = _check(kind, pool, pairwise, rng, number, total)
        if page is not None:
            pages.append(page)
    return pages


def _question(item: Item, left: str, pairwise: bool, number: int, total: int) -> PreviewPage:
    if not pairwise:
        return PreviewPage(number, total, sentence=item.text_1, note=f"item {item}")
    texts = (item.text_1, item.text_2) if left == MODEL_1 else (item.text_2, item.text_1)
    shown = item.model_1 if left == MODEL_1 else item.model_2
    return PreviewPage(
        number, total, source=item.source, left=texts[0], right=texts[1],
        note=f"item {item}; {shown} on the left",
    )  # fmt: skip


def _check(
    kind: str, pool: list[Item], pairwise: bool, rng: random.Random, number: int, total: int
) -> PreviewPage | None:
    for item in pool:
        material = check_material(kind, pairwise=pairwise, item=item, rng=rng)
        if material is None or not (material.text_left or material.text_right):
            continue
        label = Assignment.Kind(kind).label
        note = f"{label}, from item {item.key}; a careful rater answers “{material.expected}”"
        if pairwise:
            return PreviewPage(
                number, total, prompt=material.prompt, left=material.text_left,
                right=material.text_right, note=note,
            )  # fmt: skip
        return PreviewPage(
            number, total, prompt=material.prompt, sentence=material.text_left, note=note
        )
    return None
