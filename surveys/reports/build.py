"""The paper's Table 2 and Table 4, built from the database.

:func:`report_build` asks :mod:`surveys.selectors` for answer counts per model (pair), rater
and answer, and turns them into tables with :mod:`surveys.stats` (every test and interval is
computed there). It also reads what the datasheet quotes (overview, models, exclusions), so
the renderers in :mod:`surveys.reports.render` never touch the database.

Units: ``pct`` columns and their intervals (``ci_*``) are percentages of responses; p-values
are plain probabilities.

Verdicts: the exact (or score) test treats answers as independent, but a rater gives up to 20.
``significant_holm`` is the Holm-adjusted test at the report's level, ``significant_clustered``
says the rater-clustered bootstrap interval excludes no effect, and ``significant`` needs both.
Rows resting on fewer than :data:`MIN_RATERS` raters get a note: their bootstrap is too narrow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from django.utils import timezone

from surveys import selectors, stats
from surveys.models import Survey

DEFAULT_CONFIDENCE = 0.95
# The paper splits Table 4 at L ≤ 10 and L > 10 words: the VAE makes short sentences.
DEFAULT_SPLIT = 10
N_BOOT = stats.DEFAULT_N_BOOT
N_BOOT_BRADLEY_TERRY = stats.DEFAULT_N_BOOT
# A fixed seed makes every bootstrap interval repeatable; the datasheet quotes it.
SEED = 0
FORMATS = ("json", "csv", "latex", "md", "html", "answers", "datasheet")
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "latex": "application/x-latex",
    "md": "text/markdown",
    "html": "text/html",
    "answers": "text/csv",
    "datasheet": "text/markdown",
}
EXTENSIONS = {
    "json": "json",
    "csv": "csv",
    "latex": "tex",
    "md": "md",
    "html": "html",
    "answers": "answers.csv",
    "datasheet": "datasheet.md",
}
BUCKETS = (selectors.SHORT, selectors.LONG, "all")
PERCENT = 100.0
P_FLOOR = 1e-4  # smaller p-values print as "< 0.0001"
# Below this many raters a cluster bootstrap interval is too narrow to trust (it cannot see
SHORT, LONG = selectors.SHORT, selectors.LONG
# tastes no sampled rater has); the report says so for every such row.
MIN_RATERS = 20
# The displayed verdict, from the exact (Holm) test and the rater-clustered interval.
VERDICTS = {
    (True, True): "yes",
    (True, False): "Holm test only",
    (False, True): "clustered CI only",
    (False, False): "no",
}

NO_ANSWERS = "Survey {survey!r} has no answers to report yet."
UNKNOWN_FORMAT = "Unknown report format {fmt!r}: expected one of {formats}."
UNKNOWN_PAIR = "Survey {survey!r} compares no {model_1!r} with {model_2!r}."
BAD_CONFIDENCE = "The confidence must be strictly between 0 and 1, not {value!r}."
FEW_RATERS = (
    "{what}: only {raters} raters; with fewer than {minimum} the rater-clustered bootstrap "
    "interval is too narrow to trust, so its verdict (significant_clustered) is optimistic."
)

PAIRWISE_COLUMNS = [
    "model_1", "model_2", "n", "discarded", "wins_1", "pct_1", "pvalue", "pvalue_holm",
    "significant", "significant_holm", "significant_clustered", "ci_low", "ci_high",
    "cluster_ci_low", "cluster_ci_high", "raters",
    "left_n", "left_wins", "left_pct", "position_pvalue",
]  # fmt: skip
BUCKET_FIELDS = [
    "n",
    "k",
    "pct",
    "ci_low",
    "ci_high",
    "cluster_ci_low",
    "cluster_ci_high",
    "raters",
]
DIFFERENCE_COLUMNS = [
    "bucket", "model_1", "model_2", "pct_1", "pct_2", "difference", "ci_low", "ci_high",
    "cluster_ci_low", "cluster_ci_high", "raters", "pvalue", "pvalue_holm", "significant",
    "significant_holm", "significant_clustered",
]  # fmt: skip
BRADLEY_TERRY_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high"]


class ReportUnavailable(Exception):
    """No report can be built (no answers, a bad option); ``str()`` says why in one line."""


@dataclass(frozen=True)
class SurveyReport:
    """One survey's report: the main table and what goes with it.

    ``table`` is Table 2 (one row per compared pair) or Table 4 (one row per model, columns
    ``short_*``, ``long_*`` and ``all_*``); ``differences`` compares models within each length
    bucket (meaningfulness); ``bradley_terry`` ranks all models (pairwise).
    """

    survey: Survey
    confidence: float
    split: int
    table: pd.DataFrame
    differences: pd.DataFrame
    bradley_terry: pd.DataFrame
    answers_per_rater: pd.Series
    notes: tuple[str, ...]
    models: tuple[str, ...] = ()
    generated_at: str = field(default_factory=lambda: timezone.now().isoformat(timespec="seconds"))

    # What only the datasheet quotes: read here, once and only when asked, so that building a
    # report stays within its few grouped queries and the datasheet module queries nothing.
    @cached_property
    def overview(self) -> dict[str, int]:
        return selectors.survey_overview(survey=self.survey)

    @cached_property
    def checks(self) -> dict[str, int]:
        return selectors.survey_checks(survey=self.survey)

    @cached_property
    def exclusions(self) -> tuple[tuple[str, str, int], ...]:
        return tuple(selectors.survey_exclusions(survey=self.survey))

    @property
    def is_pairwise(self) -> bool:
        return self.survey.is_pairwise

    @property
    def alpha(self) -> float:
        return 1 - self.confidence

    def methods(self) -> dict[str, str]:
        """What each number is, in words (JSON, HTML and the datasheet quote these)."""
        level = f"{self.confidence:.0%}"
        cluster = (
            f"{level} percentile interval from a cluster bootstrap over raters "
            f"({N_BOOT} replicates, seed {SEED})"
        )
        clustered_caveat = (
            f"not adjusted for multiple comparisons, and too narrow with fewer than "
            f"{MIN_RATERS} raters: the notes name such rows"
        )
        if self.is_pairwise:
            return {
                "pvalue": "exact two-sided binomial test of model 1 winning half the decisive "
                "responses (discarded pairs left out); it treats answers as independent",
                "pvalue_holm": "Holm's step-down adjustment across the table's rows",
                "ci": f"{level} Clopper–Pearson interval for % model 1 winner",
                "cluster_ci": cluster,
                "significant_holm": f"Holm-adjusted p-value at most {self.alpha:.3g}",
                "significant_clustered": f"the {level} rater-clustered interval excludes 50% "
                f"({clustered_caveat})",
                "significant": "both significant_holm and significant_clustered: the exact "
                "test rejects no preference and the raters' own variation does not explain it "
                "away. The displayed verdict says 'Holm test only' or 'clustered CI only' when "
                "just one holds",
                "position": "exact binomial test that the left-hand reconstruction wins half "
                "the decisive responses where the side is known",
                "bradley_terry": "Bradley–Terry log-strengths (mean 0) from all decisive "
                f"responses, {level} percentile intervals from resampling raters "
                f"({N_BOOT_BRADLEY_TERRY} replicates, seed {SEED})",
            }
        return {
            "buckets": f"short: at most {self.split} words; long: more than {self.split} words",
            "ci": f"{level} Clopper–Pearson interval for % meaningful",
            "cluster_ci": cluster,
            "differences": "score test of two proportions with Newcombe's interval for the "
            "difference, within each length bucket; it treats answers as independent",
            "differences_cluster_ci": f"{level} percentile interval for the difference from a "
            "cluster bootstrap over the raters who judged either model in the bucket, a "
            f"rater's answers to both kept together ({N_BOOT} replicates, seed {SEED})",
            "pvalue_holm": "Holm's step-down adjustment across all differences in the table",
            "significant_holm": f"Holm-adjusted p-value at most {self.alpha:.3g}",
            "significant_clustered": f"the {level} rater-clustered interval for the difference "
            f"excludes 0 ({clustered_caveat})",
            "significant": "both significant_holm and significant_clustered. The displayed "
            "verdict says 'Holm test only' or 'clustered CI only' when just one holds",
        }


def report_build(
    *,
    survey: Survey,
    confidence: float = DEFAULT_CONFIDENCE,
    split: int = DEFAULT_SPLIT,
    pairs: Sequence[tuple[str, str]] = (),
) -> SurveyReport:
    """Build the survey's report from its counted answers (excluded raters left out).

    ``pairs`` orients comparisons (model_1 vs model_2) as declared; other pairs keep the
    orientation of their first item. Raises :class:`ReportUnavailable` without answers.
    """
    if not 0 < confidence < 1:
        raise ReportUnavailable(BAD_CONFIDENCE.format(value=confidence))
    if survey.is_pairwise:
        counts = selectors.survey_pairwise_counts(survey=survey)
        answered = counts.wins_1 + counts.wins_2 + counts.discarded
    else:
        counts = selectors.survey_meaningfulness_counts(survey=survey, split=split)
        answered = counts.n
    if counts.empty:
        raise ReportUnavailable(NO_ANSWERS.format(survey=survey.name))
    notes: list[str] = []
    differences = bradley_terry = pd.DataFrame()
    models = selectors.survey_models(survey=survey)
    if survey.is_pairwise:
        orientation = _orientation(survey, pairs)
        oriented = _oriented_counts(counts, orientation)
        table = pairwise_table(oriented, orientation=orientation, confidence=confidence)
        bradley_terry, bradley_terry_notes = bradley_terry_table(
            oriented, models=models, confidence=confidence
        )
        notes += bradley_terry_notes
    else:
        table = meaningfulness_table(counts, models=models, confidence=confidence)
        differences = meaningfulness_differences(table, counts, confidence=confidence)
    notes += _few_raters_notes(table, differences, pairwise=survey.is_pairwise)
    return SurveyReport(
        survey=survey,
        confidence=confidence,
        split=split,
        table=table,
        differences=differences,
        bradley_terry=bradley_terry,
        answers_per_rater=answered.groupby(counts.rater).sum(),
        notes=tuple(notes),
        models=tuple(models),
    )


# ---------------------------------------------------------------------------------------------
# Table 2: pairwise reconstruction preference


def _orientation(survey: Survey, declared: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every compared pair once, oriented as declared, else as its first item."""
    declared = [(str(model_1), str(model_2)) for model_1, model_2 in declared]
    first_seen = selectors.survey_pair_orientations(survey=survey)
    compared = {frozenset(pair) for pair in first_seen}
    for model_1, model_2 in declared:
        if frozenset((model_1, model_2)) not in compared:
            raise ReportUnavailable(
                UNKNOWN_PAIR.format(survey=survey.name, model_1=model_1, model_2=model_2)
            )
    declared_sets = {frozenset(pair) for pair in declared}
    return list(declared) + [pair for pair in first_seen if frozenset(pair) not in declared_sets]


def _oriented_counts(counts: pd.DataFrame, orientation: list[tuple[str, str]]) -> pd.DataFrame:
    """Per (oriented pair, rater) counts: rows stored the other way round are swapped.

    Left-side counts need no swap: the left-hand model won or not, whichever way round.
    """
    wanted = set(orientation)
    pairs = zip(counts.model_1, counts.model_2, strict=True)
    flip = np.array([pair not in wanted for pair in pairs], dtype=bool)
    if not flip.any():
        return counts  # already one row per (pair, rater): the query grouped them
    oriented = counts.copy()
    for first, second in (("model_1", "model_2"), ("wins_1", "wins_2")):
        oriented[first] = np.where(flip, counts[second], counts[first])
        oriented[second] = np.where(flip, counts[first], counts[second])
    # A rater who met the pair both ways round has two rows: add them up.
    return oriented.groupby(["rater", "model_1", "model_2"], as_index=False, sort=False).sum()


def pairwise_table(
    oriented: pd.DataFrame, *, orientation: list[tuple[str, str]], confidence: float
) -> pd.DataFrame:
    """Table 2: one row per compared pair, from per-rater counts oriented to ``orientation``."""
    rows = []
    for model_1, model_2 in orientation:
        raters = oriented[(oriented.model_1 == model_1) & (oriented.model_2 == model_2)]
        rows.append(_pairwise_row(model_1, model_2, raters, confidence))
    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    return _with_holm(table, confidence)


def _pairwise_row(
    model_1: str,
    model_2: str,
    raters: pd.DataFrame,
    confidence: float,
) -> dict:
    """One row of Table 2 from one pair's per-rater counts."""
    decisive = raters.wins_1 + raters.wins_2
    n = int(decisive.sum())
    row = {
        "model_1": model_1,
        "model_2": model_2,
        "n": n,
        "discarded": int(raters.discarded.sum()),
        "wins_1": int(raters.wins_1.sum()),
        "raters": int((decisive > 0).sum()),
        "left_wins": int(raters.left_wins.sum()),
        "left_n": int(raters.left_n.sum()),
    }
    if n:
        test = stats.binomial_test(row["wins_1"], n, confidence_level=confidence)
        cluster = stats.cluster_bootstrap_counts(
            raters.wins_1[decisive > 0], decisive[decisive > 0],
            confidence_level=confidence, n_boot=N_BOOT, seed=SEED,
        )  # fmt: skip
        row |= {
            "pct_1": PERCENT * test.statistic,
            "pvalue": test.pvalue,
            "ci_low": PERCENT * test.ci_low,
            "ci_high": PERCENT * test.ci_high,
            "cluster_ci_low": PERCENT * cluster.ci_low,
            "cluster_ci_high": PERCENT * cluster.ci_high,
            "significant_clustered": _excludes(cluster.ci_low, cluster.ci_high, 0.5),
        }
    if row["left_n"]:
        bias = stats.position_bias(row["left_wins"], row["left_n"], confidence_level=confidence)
        row |= {"left_pct": PERCENT * bias.statistic, "position_pvalue": bias.pvalue}
    return row


def _excludes(low: float, high: float, value: float) -> bool | None:
    """Whether the interval [low, high] leaves ``value`` out (None without an interval)."""
    if math.isnan(low) or math.isnan(high):
        return None
    return bool(low > value or high < value)


def _with_holm(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Fill ``pvalue_holm`` and the verdicts over the rows that have a p-value.

    ``significant_holm``: the Holm-adjusted p-value is at most 1 − confidence.
    ``significant_clustered`` (filled by the rows): the rater-clustered interval excludes no
    effect. ``significant``: both; missing where either is unknown and neither is False.
    """
    tested = table.pvalue.notna()
    table["pvalue_holm"] = np.nan
    table["significant_holm"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    if tested.any():
        holm = stats.holm(table.pvalue[tested].to_numpy(float), alpha=1 - confidence)
        table.loc[tested, "pvalue_holm"] = holm.pvalues_adjusted
        table.loc[tested, "significant_holm"] = holm.reject
    clustered = table.significant_clustered.astype("boolean")
    table["significant_clustered"] = clustered
    table["significant"] = table.significant_holm & clustered
    return table


def _few_raters_notes(table: pd.DataFrame, differences: pd.DataFrame, *, pairwise: bool):
    """One note per row (or bucket, or difference) whose clustered interval rests on too few
    raters to trust."""
    found: list[tuple[str, int]] = []
    if pairwise:
        found += [
            (f"{row.model_1} vs {row.model_2}", row.raters) for row in table.itertuples() if row.n
        ]
    else:
        for row in table.to_dict(orient="records"):
            found += [
                (f"{row['model']}, {bucket}", row[f"{bucket}_raters"])
                for bucket in BUCKETS
                if row[f"{bucket}_n"]
            ]
        found += [
            (f"difference {row.model_1} − {row.model_2}, {row.bucket}", row.raters)
            for row in differences.itertuples()
        ]
    return [
        FEW_RATERS.format(what=what, raters=int(raters), minimum=MIN_RATERS)
        for what, raters in found
        if raters < MIN_RATERS
    ]


def bradley_terry_table(
    oriented: pd.DataFrame, *, models: list[str], confidence: float
) -> tuple[pd.DataFrame, list[str]]:
    """Bradley–Terry scores of all models from the per-rater win counts, with intervals that
    resample raters (empty if not estimable), and the notes the report gives about them."""
    notes: list[str] = []
    # One win matrix per rater; raters without a decisive answer are left out by the stats.
    index = {model: i for i, model in enumerate(models)}
    raters = pd.factorize(oriented.rater)[0]
    first = oriented.model_1.map(index).to_numpy()
    second = oriented.model_2.map(index).to_numpy()
    wins = np.zeros((raters.max(initial=-1) + 1, len(models), len(models)), dtype=np.int64)
    np.add.at(wins, (raters, first, second), oriented.wins_1.to_numpy())
    np.add.at(wins, (raters, second, first), oriented.wins_2.to_numpy())
    try:
        result = stats.bradley_terry_from_wins(
            wins, labels=models, confidence_level=confidence, n_boot=N_BOOT_BRADLEY_TERRY, seed=SEED
        )
    except ValueError as error:
        notes.append(f"Bradley–Terry scores not estimated: {error}")
        return pd.DataFrame(columns=BRADLEY_TERRY_COLUMNS), notes
    if result.n_clusters is not None and result.n_clusters < MIN_RATERS:
        notes.append(
            f"Bradley–Terry intervals rest on {result.n_clusters} raters; with fewer than "
            f"{MIN_RATERS} resampling raters gives intervals too narrow to trust."
        )
    if not result.transitivity.consistent:
        notes.append(
            "Bradley–Terry order disagrees with some direct comparisons: "
            f"{list(result.transitivity.order_violations)}"
        )
    rank = {label: position + 1 for position, label in enumerate(result.ranking)}
    frame = pd.DataFrame(
        {
            "model": list(result.labels),
            "rank": [rank[label] for label in result.labels],
            "score": result.scores,
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
        }
    )
    # The stats warn about these too; the report reads them from the result, not the warnings.
    notes += _bradley_terry_bootstrap_notes(result)
    return frame.sort_values("rank", ignore_index=True), notes


def _bradley_terry_bootstrap_notes(result: stats.BradleyTerryResult) -> list[str]:
    """What the Bradley–Terry bootstrap could not do, as the stats' warnings word it."""
    found = []
    if result.n_clusters is not None and result.n_clusters < 2:
        found.append(
            "one rater: resampling raters cannot vary, so the intervals are left out (NaN)"
        )
    if result.n_boot_failed:
        found.append(
            f"{result.n_boot_failed} of {result.n_boot} Bradley–Terry bootstrap replicates had "
            "no finite estimate and were left out; the intervals are then too narrow"
        )
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Table 4: meaningfulness by length


def meaningfulness_table(
    counts: pd.DataFrame, *, models: list[str], confidence: float
) -> pd.DataFrame:
    """Table 4: one row per model; per bucket (short, long, all) n, k, % and intervals."""
    rows = []
    for model in models:
        mine = counts[counts.model == model]
        row: dict[str, object] = {"model": model}
        for bucket in BUCKETS:
            chosen = mine if bucket == "all" else mine[mine.bucket == bucket]
            for name, value in _bucket_stats(chosen, confidence).items():
                row[f"{bucket}_{name}"] = value
        rows.append(row)
    columns = ["model"] + [f"{b}_{name}" for b in BUCKETS for name in BUCKET_FIELDS]
    return pd.DataFrame(rows, columns=columns)


def _bucket_stats(counts: pd.DataFrame, confidence: float) -> dict[str, object]:
    per_rater = counts.groupby("rater")[["k", "n"]].sum()
    per_rater = per_rater[per_rater.n > 0]
    k, n = int(per_rater.k.sum()), int(per_rater.n.sum())
    result: dict[str, object] = {"n": n, "k": k, "raters": len(per_rater)}
    if not n:
        return result
    interval = stats.proportion_ci(k, n, method="clopper-pearson", confidence_level=confidence)
    cluster = stats.cluster_bootstrap_counts(
        per_rater.k, per_rater.n, confidence_level=confidence, n_boot=N_BOOT, seed=SEED
    )
    return result | {
        "pct": PERCENT * interval.statistic,
        "ci_low": PERCENT * interval.ci_low,
        "ci_high": PERCENT * interval.ci_high,
        "cluster_ci_low": PERCENT * cluster.ci_low,
        "cluster_ci_high": PERCENT * cluster.ci_high,
    }


def meaningfulness_differences(
    table: pd.DataFrame, counts: pd.DataFrame, *, confidence: float
) -> pd.DataFrame:
    """Every pair of models within each length bucket: difference in % meaningful, tested.

    ``counts`` holds the per (rater, model, bucket) counts ``table`` was built from; the
    clustered interval resamples the raters who judged either model in the bucket, keeping
    each rater's answers to both models together.
    """
    rows = []
    for bucket in (SHORT, LONG):
        per_rater = (
            counts[counts.bucket == bucket]
            .pivot_table(index="rater", columns="model", values=["k", "n"], aggfunc="sum")
            .fillna(0)
            .astype(np.int64)
        )
        answered = table[table[f"{bucket}_n"] > 0]
        for first, second in itertools.combinations(answered.itertuples(index=False), 2):
            first, second = first._asdict(), second._asdict()
            test = stats.two_proportions(
                first[f"{bucket}_k"], first[f"{bucket}_n"],
                second[f"{bucket}_k"], second[f"{bucket}_n"],
                confidence_level=confidence,
            )  # fmt: skip
            k, n = per_rater["k"], per_rater["n"]
            both = (n[first["model"]] > 0) | (n[second["model"]] > 0)
            cluster = stats.cluster_bootstrap_difference(
                k[first["model"]][both], n[first["model"]][both],
                k[second["model"]][both], n[second["model"]][both],
                confidence_level=confidence, n_boot=N_BOOT, seed=SEED,
            )  # fmt: skip
            rows.append(
                {
                    "bucket": bucket,
                    "model_1": first["model"],
                    "model_2": second["model"],
                    "pct_1": PERCENT * test.proportion1,
                    "pct_2": PERCENT * test.proportion2,
                    "difference": PERCENT * test.difference,
                    "ci_low": PERCENT * test.ci_low,
                    "ci_high": PERCENT * test.ci_high,
                    "cluster_ci_low": PERCENT * cluster.ci_low,
                    "cluster_ci_high": PERCENT * cluster.ci_high,
                    "raters": cluster.n_clusters,
                    "pvalue": test.pvalue,
                    "significant_clustered": _excludes(cluster.ci_low, cluster.ci_high, 0.0),
                }
            )
    return _with_holm(pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS), confidence)
