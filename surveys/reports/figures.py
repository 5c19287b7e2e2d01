"""The report's matplotlib figures, and their PNG encoding for the HTML page."""

from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np
import pandas as pd

from surveys.reports.build import LONG, SHORT, SurveyReport

matplotlib.use("Agg")  # no display: choose the backend before pyplot is ever imported
from matplotlib.figure import Figure


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
        (-width / 2, SHORT, f"L ≤ {report.split}", "#4c72b0"),
        (width / 2, LONG, f"L > {report.split}", "#dd8452"),
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
    # An estimate can sit outside its bootstrap interval (when many replicates had no finite
    # estimate): the bar then reaches only the side the interval is on (matplotlib refuses a
    # negative length).
    errors = np.clip(np.vstack([value - low, high - value])[:, shown], 0, None)
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
