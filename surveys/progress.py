"""A survey's live progress, as numbers a researcher can act on (pure: no database here).

:mod:`surveys.selectors` counts the answers (:func:`~surveys.selectors.survey_progress`); this
module holds what those counts are (:class:`GroupProgress`, :class:`SurveyProgress`) and what
follows from them: per comparison, how many more decisive answers the sample-size planner
(:func:`surveys.stats.sample_size_win_rate`) says are needed for 80% power at the win rate seen
so far (:func:`power_plan`), so that a researcher knows when to stop recruiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveys import stats

# The exact binomial planner takes seconds within about 0.02 of a 50% win rate; beyond this
# many answers the arcsine approximation is within a fraction of a percent of it, at once.
EXACT_UP_TO = 2_000
NO_EFFECT = "no effect seen yet"


@dataclass(frozen=True)
class GroupProgress:
    """Answers to one model's items (meaningfulness) or one comparison's (pairwise).

    ``answers`` counts every answer; the rest count those of raters not excluded (what the
    reports count): ``wins_1``/``wins_2``/``discards`` for pairwise, with ``model_1`` winning
    ``wins_1`` times whichever way an item stores the pair; ``yes`` for meaningfulness.
    """

    model_1: str
    model_2: str = ""
    items: int = 0
    answers: int = 0
    counted: int = 0
    wins_1: int = 0
    wins_2: int = 0
    discards: int = 0
    yes: int = 0

    @property
    def label(self) -> str:
        return f"{self.model_1} vs {self.model_2}" if self.model_2 else self.model_1

    @property
    def decisive(self) -> int:
        return self.wins_1 + self.wins_2

    @property
    def win_rate(self) -> float | None:
        """Share of the decisive answers won by ``model_1`` (None before any)."""
        return self.wins_1 / self.decisive if self.decisive else None

    @property
    def yes_rate(self) -> float | None:
        return self.yes / self.counted if self.counted else None


@dataclass(frozen=True)
class SurveyProgress:
    """Raters started, finished and excluded; the median time per question; each group."""

    groups: list[GroupProgress]
    raters_started: int = 0
    raters_finished: int = 0
    raters_excluded: int = 0
    answers: int = 0
    timed_answers: int = 0
    median_ms: float | None = None

    @property
    def median_seconds(self) -> float | None:
        return None if self.median_ms is None else self.median_ms / 1000


@dataclass(frozen=True)
class PowerPlan:
    """Decisive answers needed for the exact binomial test to reach ``power`` at the win rate
    seen so far: ``needed`` in all, ``more`` still to collect; None with ``note`` saying why
    when the planner has nothing to go on."""

    win_rate: float | None
    needed: int | None = None
    more: int | None = None
    method: str = ""
    note: str = ""


def power_plan(
    wins_1: int,
    wins_2: int,
    *,
    power: float = stats.DEFAULT_POWER,
    alpha: float = stats.DEFAULT_ALPHA,
) -> PowerPlan:
    """How many more decisive answers one comparison needs, planned at its observed win rate.

    The win rate of model 1 among the decisive answers so far is taken as the true effect
    (the paper's test is two-sided against 50%). Unclustered: raters who give many answers to
    one comparison need more, by the design effect the reports' bootstrap reflects.
    """
    decisive = wins_1 + wins_2
    if not decisive:
        return PowerPlan(None, note="no decisive answers yet")
    rate = wins_1 / decisive
    if rate == stats.NO_PREFERENCE:
        return PowerPlan(rate, note=NO_EFFECT)
    if rate in (0.0, 1.0):
        return PowerPlan(rate, note="every decisive answer so far chose the same model")
    try:
        plan = stats.sample_size_win_rate(rate, power=power, alpha=alpha, method="normal")
        if plan.n <= EXACT_UP_TO:
            plan = stats.sample_size_win_rate(rate, power=power, alpha=alpha, method="exact")
    except ValueError as error:  # an effect so small no sample within max_n reaches it
        return PowerPlan(rate, note=str(error))
    return PowerPlan(rate, needed=plan.n, more=max(0, plan.n - decisive), method=plan.method)
