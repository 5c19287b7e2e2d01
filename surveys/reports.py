"""The paper's Table 2 and Table 4, built from the database, and their exports.

:func:`report_build` asks :mod:`surveys.selectors` for answer counts per model (pair), rater
and answer, and turns them into tables with :mod:`surveys.stats` (every test and interval is
computed there). The renderers write one report as CSV, JSON, LaTeX (booktabs), Markdown or a
self-contained HTML page; :func:`answers_csv` and :func:`datasheet` describe the raw data.

Units: ``pct`` columns and their intervals (``ci_*``) are percentages of responses; p-values
are plain probabilities.

Verdicts: the exact (or score) test treats answers as independent, but a rater gives up to 20.
``significant_holm`` is the Holm-adjusted test at the report's level, ``significant_clustered``
says the rater-clustered bootstrap interval excludes no effect, and ``significant`` needs both.
Rows resting on fewer than :data:`MIN_RATERS` raters get a note: their bootstrap is too narrow.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import math
import platform
import tomllib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TextIO

import matplotlib
import numpy as np
import pandas as pd
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from surveys import selectors, stats
from surveys.models import Response, Survey

matplotlib.use("Agg")  # no display: choose the backend before pyplot is ever imported
from matplotlib.figure import Figure

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
# tastes no sampled rater has); the report says so for every such row.
MIN_RATERS = 20
# The displayed verdict, from the exact (Holm) test and the rater-clustered interval.
VERDICTS = {
    (True, True): "yes",
    (True, False): "Holm test only",
    (False, True): "clustered CI only",
    (False, False): "no",
}
SOFTWARE = ("Django", "numpy", "scipy", "statsmodels", "pandas", "matplotlib", "krippendorff")

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
ANSWERS_PAIRWISE_HEADER = [
    "response", "rater", "rater_excluded", "item", "model_1", "model_2", "answer", "winner",
    "left", "response_ms", "created_at",
]  # fmt: skip
ANSWERS_MEANINGFULNESS_HEADER = [
    "response", "rater", "rater_excluded", "item", "model", "length", "meaningful",
    "response_ms", "created_at",
]  # fmt: skip


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
    generated_at: str = field(default_factory=lambda: timezone.now().isoformat(timespec="seconds"))

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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if survey.is_pairwise:
            orientation = _orientation(survey, pairs)
            oriented = _oriented_counts(counts, orientation)
            table = pairwise_table(oriented, orientation=orientation, confidence=confidence)
            bradley_terry = bradley_terry_table(
                oriented, models=selectors.survey_models(survey=survey), confidence=confidence,
                notes=notes,
            )  # fmt: skip
        else:
            models = selectors.survey_models(survey=survey)
            table = meaningfulness_table(counts, models=models, confidence=confidence)
            differences = meaningfulness_differences(table, counts, confidence=confidence)
        notes += _few_raters_notes(table, differences, pairwise=survey.is_pairwise)
    notes += sorted({str(warning.message) for warning in caught})
    return SurveyReport(
        survey=survey,
        confidence=confidence,
        split=split,
        table=table,
        differences=differences,
        bradley_terry=bradley_terry,
        answers_per_rater=answered.groupby(counts.rater).sum(),
        notes=tuple(notes),
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
    oriented: pd.DataFrame, *, models: list[str], confidence: float, notes: list[str]
) -> pd.DataFrame:
    """Bradley–Terry scores of all models from the per-rater win counts, with intervals that
    resample raters (empty if not estimable)."""
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
        return pd.DataFrame(columns=BRADLEY_TERRY_COLUMNS)
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
    return frame.sort_values("rank", ignore_index=True)


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
    for bucket in (selectors.SHORT, selectors.LONG):
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


# ---------------------------------------------------------------------------------------------
# Exports


def render(report: SurveyReport, fmt: str) -> str:
    """The report in ``fmt`` (any of FORMATS but ``answers``, which streams)."""
    renderers: dict[str, Callable[[SurveyReport], str]] = {
        "json": report_json,
        "csv": report_csv,
        "latex": report_latex,
        "md": report_markdown,
        "html": report_html,
        "datasheet": datasheet,
    }
    if fmt not in renderers:
        raise ReportUnavailable(UNKNOWN_FORMAT.format(fmt=fmt, formats=", ".join(FORMATS)))
    return renderers[fmt](report)


def report_csv(report: SurveyReport) -> str:
    """The main table, one row per pair (Table 2) or model (Table 4), machine units."""
    return report.table.to_csv(index=False, lineterminator="\n")


def report_json(report: SurveyReport) -> str:
    """Everything in the report as one JSON object; missing numbers are null."""
    survey = report.survey
    document: dict[str, object] = {
        "survey": survey.name,
        "kind": survey.kind,
        "question": survey.question,
        "confidence": report.confidence,
        "units": "pct, ci_low, ci_high and difference are percentages of responses",
        "methods": report.methods(),
        "n_boot": N_BOOT,
        "seed": SEED,
        "responses": int(report.answers_per_rater.sum()),
        "raters": len(report.answers_per_rater),
    }
    if report.is_pairwise:
        document["rows"] = _records(report.table)
        document["bradley_terry"] = _records(report.bradley_terry)
    else:
        document["split"] = report.split
        document["rows"] = [
            {"model": row["model"]}
            | {
                bucket: {name: row[f"{bucket}_{name}"] for name in BUCKET_FIELDS}
                for bucket in BUCKETS
            }
            for row in _records(report.table)
        ]
        document["differences"] = _records(report.differences)
    document["notes"] = list(report.notes)
    document["generated_at"] = report.generated_at
    document["software"] = software_versions()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as plain Python values: NaN and NA become None, numpy scalars become numbers."""

    def plain(value: object) -> object:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if isinstance(value, np.generic) else value

    return [
        {key: plain(value) for key, value in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def report_markdown(report: SurveyReport) -> str:
    """A Markdown page: title, question, the tables (tabulate) and the methods."""
    parts = [f"# {report.survey.name}", "", f"Question: “{report.survey.question}”", ""]
    for title, frame in _display_tables(report, latex=False):
        parts += [f"## {title}", "", frame.to_markdown(index=False, disable_numparse=True), ""]
    parts += ["## Methods", ""] + [f"- {key}: {text}" for key, text in report.methods().items()]
    parts += [f"- note: {note}" for note in report.notes]
    return "\n".join(parts) + "\n"


def report_latex(report: SurveyReport) -> str:
    """One booktabs ``table`` per displayed table, ready to \\input into a paper."""
    level = f"{report.confidence:.0%}".replace("%", r"\%")
    captions = {
        "pairwise": (
            f"Results from a blind survey comparing reconstruction quality "
            f"(``{_latex_escape(report.survey.question)}''). Exact binomial test against 50\\%, "
            f"Holm-adjusted across rows; {level} Clopper--Pearson and rater-clustered "
            f"bootstrap intervals. Significant: the Holm-adjusted test rejects and the "
            f"rater-clustered interval excludes 50\\%."
        ),
        "meaningfulness": (
            f"Results from a blind survey testing generation quality "
            f"(``{_latex_escape(report.survey.question)}''): \\% meaningful by sentence length "
            f"$L$ with {level} Clopper--Pearson intervals."
        ),
        "differences": (
            f"Differences in \\% meaningful between models within each length bucket "
            f"(percentage points): score test, {level} Newcombe interval, Holm-adjusted; "
            f"{level} rater-clustered bootstrap interval. Significant: the Holm-adjusted test "
            f"rejects and the rater-clustered interval excludes 0."
        ),
        "bradley_terry": f"Bradley--Terry log-strengths with {level} bootstrap intervals.",
    }
    blocks = []
    for (title, frame), key in zip(
        _display_tables(report, latex=True), _display_keys(report), strict=True
    ):
        styler = frame.style.hide(axis="index")
        blocks.append(
            f"% {title}\n"
            + styler.to_latex(
                hrules=True,
                caption=captions[key],
                label=f"tab:{_slug(report.survey.name)}-{key.replace('_', '-')}",
                position_float="centering",
                column_format="l" * 2 + "r" * (len(frame.columns) - 2),
            )
        )
    return "\n".join(blocks)


def report_html(report: SurveyReport) -> str:
    """A self-contained HTML page: inline CSS, tables, plots as base64 PNG; no external URL."""
    tables = [
        (title, frame.to_html(index=False, border=0, classes="numbers", na_rep="–"))
        for title, frame in _display_tables(report, latex=False)
    ]
    figures = [(caption, _png_base64(figure)) for caption, figure in _figures(report)]
    return render_to_string(
        "surveys/report.html",
        {
            "report": report,
            "survey": report.survey,
            "tables": tables,
            "figures": figures,
            "methods": report.methods(),
            "responses": int(report.answers_per_rater.sum()),
            "raters": len(report.answers_per_rater),
            "software": software_versions(),
        },
    )


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
    ``meaningful`` as 1/0.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: list[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
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


def datasheet(report: SurveyReport) -> str:
    """A short Markdown datasheet: design, exclusions, analysis and software versions."""
    survey = report.survey
    overview = selectors.survey_overview(survey=survey)
    per_rater = report.answers_per_rater
    models = selectors.survey_models(survey=survey)
    lines = [
        f"# Datasheet: {survey.name}",
        "",
        "## Design",
        "",
        f"- Kind: {survey.get_kind_display()}; blind (model identity hidden from raters).",
        f"- Question shown to raters: “{survey.question}”",
        f"- Cap per rater: {survey.cap_per_rater} questions.",
        f"- Status: {survey.status}; created {survey.created_at:%Y-%m-%d}.",
        f"- Models: {', '.join(models)}.",
        f"- Items: {overview['items']}; raters: {overview['raters']} "
        f"({overview['raters_answering']} answered); answers: {overview['responses']}.",
        f"- Answers per counted rater: min {per_rater.min()}, median {per_rater.median():g}, "
        f"max {per_rater.max()}.",
        *_over_cap(survey, per_rater),
        f"- Left/right side recorded for {overview['with_left']} answers; response time for "
        f"{overview['with_time']}.",
        "",
        "## Exclusions",
        "",
        f"- Excluded raters: {overview['excluded']}; their "
        f"{overview['responses'] - overview['counted']} answers are left out of every table.",
    ]
    lines += [
        f"  - {external_id}: {reason or 'no reason given'} ({n} answers)"
        for external_id, reason, n in selectors.survey_exclusions(survey=survey)
    ]
    if survey.is_pairwise:
        lines.append(
            f"- Discarded pairs (ambiguous, the rater's choice): {overview['discarded']} answers, "
            "not counted in n."
        )
    else:
        lines.append(
            f"- Length buckets: short ≤ {report.split} words, long > {report.split} words "
            "(the paper's split)."
        )
    lines += ["", "## Analysis", ""]
    lines += [f"- {key}: {text}" for key, text in report.methods().items()]
    lines += [f"- Note: {note}" for note in report.notes]
    lines += ["", "## Software", ""]
    lines += [f"- {name} {version}" for name, version in software_versions().items()]
    lines += ["", f"Generated {report.generated_at}."]
    return "\n".join(lines) + "\n"


def _over_cap(survey: Survey, per_rater: pd.Series) -> list[str]:
    """A warning line when some raters answered more than the cap (imported answers)."""
    over = int((per_rater > survey.cap_per_rater).sum())
    if not over:
        return []
    return [f"- {over} raters answered more than the cap (answers imported from elsewhere)."]


def software_versions() -> dict[str, str]:
    """This product's version and the libraries that computed the report."""
    versions = {"AutoGen Lab": product_version(), "Python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def product_version() -> str:
    """The version in pyproject.toml (the product is run from its checkout, not installed)."""
    with (settings.BASE_DIR / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["version"]


# ---------------------------------------------------------------------------------------------
# Display: rounded, labelled tables for people (Markdown, LaTeX, HTML)


def _display_keys(report: SurveyReport) -> list[str]:
    if report.is_pairwise:
        return ["pairwise"] + (["bradley_terry"] if not report.bradley_terry.empty else [])
    return ["meaningfulness"] + (["differences"] if not report.differences.empty else [])


def _display_tables(report: SurveyReport, *, latex: bool) -> list[tuple[str, pd.DataFrame]]:
    fmt = _Formatter(latex=latex, confidence=report.confidence)
    if report.is_pairwise:
        tables = [("Table 2: % responses with model 1 as winner", fmt.pairwise(report.table))]
        if not report.bradley_terry.empty:
            tables.append(("Bradley–Terry scores", fmt.bradley_terry(report.bradley_terry)))
        return tables
    tables = [("Table 4: % meaningful by length", fmt.meaningfulness(report.table, report.split))]
    if not report.differences.empty:
        tables.append(("Differences between models", fmt.differences(report.differences)))
    return tables


@dataclass(frozen=True)
class _Formatter:
    latex: bool
    confidence: float

    def text(self, value: str) -> str:
        return _latex_escape(value) if self.latex else value

    @property
    def missing(self) -> str:
        return "--" if self.latex else "–"

    @property
    def level(self) -> str:
        return f"{self.confidence:.0%}".replace("%", r"\%" if self.latex else "%")

    def pct(self, value: float) -> str:
        return self.missing if _is_missing(value) else f"{value:.1f}"

    def interval(self, low: float, high: float) -> str:
        return self.missing if _is_missing(low) else f"[{low:.1f}, {high:.1f}]"

    def p(self, value: float) -> str:
        if _is_missing(value):
            return self.missing
        if value < P_FLOOR:
            return f"$<$ {P_FLOOR}" if self.latex else f"< {P_FLOOR}"
        return f"{value:.4f}"

    def signed(self, value: float) -> str:
        return f"{value:+.1f}"

    def verdicts(self, table: pd.DataFrame) -> list[str]:
        """'yes' when both verdicts hold, else which one does ('no' for neither)."""
        return [
            self.missing if exact is pd.NA or clustered is pd.NA else VERDICTS[exact, clustered]
            for exact, clustered in zip(
                table.significant_holm.astype(object),
                table.significant_clustered.astype(object),
                strict=True,
            )
        ]

    def pairwise(self, table: pd.DataFrame) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        frame = pd.DataFrame(
            {
                "Model 1": table.model_1.map(self.text),
                "Model 2": table.model_2.map(self.text),
                "n": table.n,
                "discarded": table.discarded,
                "model 1 wins": table.wins_1,
                f"{percent} model 1": table.pct_1.map(self.pct),
                f"{self.level} CI": [*map(self.interval, table.ci_low, table.ci_high)],
                f"{self.level} CI (raters)": [
                    *map(self.interval, table.cluster_ci_low, table.cluster_ci_high)
                ],
                "p": table.pvalue.map(self.p),
                "p (Holm)": table.pvalue_holm.map(self.p),
                "significant": self.verdicts(table),
                "raters": table.raters,
            }
        )
        if table.left_n.sum():
            frame[f"{percent} left wins"] = table.left_pct.map(self.pct)
            frame["p (position)"] = table.position_pvalue.map(self.p)
        return frame

    def bradley_terry(self, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "Model": table.model.map(self.text),
                "rank": table["rank"],
                "score": table.score.map(lambda v: f"{v:+.2f}"),
                f"{self.level} CI": [
                    self.missing if _is_missing(low) else f"[{low:+.2f}, {high:+.2f}]"
                    for low, high in zip(table.ci_low, table.ci_high, strict=True)
                ],
            }
        )

    def meaningfulness(self, table: pd.DataFrame, split: int) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        labels = {
            selectors.SHORT: rf"$L \leq {split}$" if self.latex else f"L ≤ {split}",
            selectors.LONG: rf"$L > {split}$" if self.latex else f"L > {split}",
        }
        frame = pd.DataFrame({"Model": table.model.map(self.text)})
        for bucket, label in labels.items():
            frame[f"{percent} meaningful ({label})"] = table[f"{bucket}_pct"].map(self.pct)
            frame[f"k/n ({label})"] = [
                f"{k}/{n}" if n else self.missing
                for k, n in zip(table[f"{bucket}_k"], table[f"{bucket}_n"], strict=True)
            ]
            frame[f"{self.level} CI ({label})"] = [
                *map(self.interval, table[f"{bucket}_ci_low"], table[f"{bucket}_ci_high"])
            ]
        return frame

    def differences(self, table: pd.DataFrame) -> pd.DataFrame:
        percent = r"\%" if self.latex else "%"
        return pd.DataFrame(
            {
                "length": table.bucket,
                "Model 1": table.model_1.map(self.text),
                "Model 2": table.model_2.map(self.text),
                f"{percent} 1": table.pct_1.map(self.pct),
                f"{percent} 2": table.pct_2.map(self.pct),
                "difference": table.difference.map(self.signed),
                f"{self.level} CI": [*map(self.interval, table.ci_low, table.ci_high)],
                f"{self.level} CI (raters)": [
                    *map(self.interval, table.cluster_ci_low, table.cluster_ci_high)
                ],
                "p": table.pvalue.map(self.p),
                "p (Holm)": table.pvalue_holm.map(self.p),
                "significant": self.verdicts(table),
                "raters": table.raters,
            }
        )


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in str(text))


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-") or "survey"


# ---------------------------------------------------------------------------------------------
# Figures


def _figures(report: SurveyReport) -> list[tuple[str, Figure]]:
    if report.is_pairwise:
        figures = [("% responses with model 1 as winner", _pairwise_figure(report))]
        if not report.bradley_terry.empty:
            figures.append(("Bradley–Terry scores", _bradley_terry_figure(report)))
        return figures
    return [("% meaningful by sentence length", _meaningfulness_figure(report))]


def _pairwise_figure(report: SurveyReport) -> Figure:
    table = report.table
    labels = [f"{a}\nvs {b}" for a, b in zip(table.model_1, table.model_2, strict=True)]
    figure = Figure(figsize=(7, 1.2 + 0.8 * len(table)), layout="constrained")
    axes = figure.subplots()
    y = np.arange(len(table))
    axes.barh(y, table.pct_1.fillna(0), color="#4c72b0", height=0.5)
    _error_bars(axes, y - 0.1, table.pct_1, table.ci_low, table.ci_high, "exact", "k")
    _error_bars(
        axes, y + 0.1, table.pct_1, table.cluster_ci_low, table.cluster_ci_high, "raters", "#c44e52"
    )
    axes.axvline(50, color="grey", linestyle="--", linewidth=1)
    axes.set(xlim=(0, 100), xlabel="% model 1 winner", yticks=y, yticklabels=labels)
    axes.invert_yaxis()
    axes.legend(
        title=f"{report.confidence:.0%} interval",
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    return figure


def _bradley_terry_figure(report: SurveyReport) -> Figure:
    table = report.bradley_terry
    figure = Figure(figsize=(7, 1.2 + 0.5 * len(table)), layout="constrained")
    axes = figure.subplots()
    y = np.arange(len(table))
    _error_bars(axes, y, table.score, table.ci_low, table.ci_high, None, "#4c72b0", marker="o")
    axes.axvline(0, color="grey", linestyle="--", linewidth=1)
    axes.set(xlabel="Bradley–Terry log-strength", yticks=y, yticklabels=list(table.model))
    axes.invert_yaxis()
    return figure


def _meaningfulness_figure(report: SurveyReport) -> Figure:
    table = report.table
    figure = Figure(figsize=(7, 3.6), layout="constrained")
    axes = figure.subplots()
    x = np.arange(len(table))
    width = 0.38
    for offset, bucket, label, color in (
        (-width / 2, selectors.SHORT, f"L ≤ {report.split}", "#4c72b0"),
        (width / 2, selectors.LONG, f"L > {report.split}", "#dd8452"),
    ):
        pct = table[f"{bucket}_pct"].astype(float)
        axes.bar(x + offset, pct.fillna(0), width, label=label, color=color)
        for position in x[pct.isna().to_numpy()]:
            axes.text(position + offset, 1, "n/a", ha="center", va="bottom", fontsize="small")
        _error_bars(
            axes, x + offset, pct, table[f"{bucket}_ci_low"], table[f"{bucket}_ci_high"],
            None, "k", vertical=True,
        )  # fmt: skip
    axes.set(ylim=(0, 100), ylabel="% meaningful", xticks=x, xticklabels=list(table.model))
    axes.legend(fontsize="small")
    return figure


def _error_bars(axes, at, value, low, high, label, color, *, marker="", vertical=False) -> None:
    value, low, high = (pd.Series(s, dtype=float).to_numpy() for s in (value, low, high))
    shown = ~np.isnan(low)
    errors = np.vstack([value - low, high - value])[:, shown]
    position = np.asarray(at, dtype=float)[shown]
    options = {"fmt": marker or "none", "color": color, "capsize": 3, "label": label}
    if vertical:
        axes.errorbar(position, value[shown], yerr=errors, **options)
    else:
        axes.errorbar(value[shown], position, xerr=errors, **options)


def _png_base64(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
