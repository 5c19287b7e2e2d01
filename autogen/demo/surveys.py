"""The demo's two surveys, decoded from its four runs on the worker (the task in
:mod:`autogen.demo.tasks`), and the paper's-counts surveys shipped as examples.

- pairwise reconstruction (Table 2): the paper's three comparisons, `per_model` items each;
- "does this sentence make sense?" (Table 4): `per_model` prior samples per model.

Both through :func:`surveys.material.items_from_runs` (the paper's filters: 4–20 words, no
unknown word; beam search, beam 15) and :func:`surveys.services.survey_create`, capped at the
paper's 20 questions per rater and opened. A survey found by its name is left as it is, so the
demo run again decodes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from models_core.models import Experiment
from surveys import material, services
from surveys.imports import responses_import
from surveys.models import Survey

# The paper: each respondent saw at most 20 questions (Sect. 3.3).
DEMO_CAP = 20
# (kind, name): the name gets the corpus and preset, so `--fast` and the full demo keep theirs.
DEMO_SURVEYS = (
    (Survey.Kind.PAIRWISE, "Demo reconstructions"),
    (Survey.Kind.MEANINGFULNESS, "Demo makes sense"),
)
# (survey name, kind, file): answers reconstructed from the paper's published counts.
PAPER_SURVEYS = (
    ("Paper Table 2 (reconstructed)", "pairwise", "paper-table-2.csv"),
    ("Paper Table 4 (reconstructed)", "meaningfulness", "paper-table-4.csv"),
)


def demo_survey_names(experiment: Experiment) -> list[tuple[str, str]]:
    """(kind, name) of the two surveys made from `experiment`'s runs."""
    return [
        (kind, f"{title} ({experiment.corpus.name}, {experiment.preset})")
        for kind, title in DEMO_SURVEYS
    ]


def demo_surveys_missing(experiment: Experiment) -> bool:
    return any(
        not Survey.objects.filter(name=name).exists() for _, name in demo_survey_names(experiment)
    )


def demo_surveys_create(experiment: Experiment, *, per_model: int, seed: int = 0) -> list[int]:
    """Make and open the two surveys that do not exist yet; the ids of both.

    Raises `SurveyError` (nothing stored, the sentences decoded for it deleted again)."""
    runs = list(experiment.runs.order_by("pk"))
    ids = []
    for kind, name in demo_survey_names(experiment):
        found = Survey.objects.filter(name=name).first()
        if found is None:
            found = _survey_from_runs(name, kind, runs, per_model, seed)
        ids.append(found.pk)
    return ids


def _survey_from_runs(name: str, kind: str, runs, per_model: int, seed: int) -> Survey:
    made = material.items_from_runs(kind, runs, per_model, seed)
    design = services.Design(cap=DEMO_CAP, seed=seed, material=made.provenance)
    try:
        with transaction.atomic():
            survey = services.survey_create(name=name, kind=kind, items=made.items, design=design)
            return services.survey_open(survey)
    except services.SurveyError:
        material.material_discard(made)
        raise


def paper_surveys_import() -> list[tuple[str, int]]:
    """Import the paper's-counts surveys (``fixtures/surveys``); (name, answers added) for
    each that gained answers (a re-import skips what is stored, so a rerun adds none)."""
    folder = Path(settings.BASE_DIR) / "fixtures" / "surveys"
    added = []
    for name, kind, filename in PAPER_SURVEYS:
        summary = responses_import(survey_name=name, kind=kind, file=folder / filename)
        if summary.responses_created:
            added.append((name, summary.responses_created))
    return added
