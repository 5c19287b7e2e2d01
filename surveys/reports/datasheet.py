"""A short Markdown datasheet of one built report, and the software versions it quotes.

Everything comes from the built :class:`~surveys.reports.build.SurveyReport`: no database
query here.
"""

from __future__ import annotations

import platform
import tomllib
from importlib import metadata

import pandas as pd
from django.conf import settings

from surveys.reports.build import SurveyReport

SOFTWARE = ("Django", "numpy", "scipy", "statsmodels", "pandas", "matplotlib", "krippendorff")


def datasheet(report: SurveyReport) -> str:
    """A short Markdown datasheet: design, exclusions, analysis and software versions."""
    survey = report.survey
    overview = report.overview
    per_rater = report.answers_per_rater
    models = report.models
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
        *_over_cap(survey.cap_per_rater, per_rater),
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
        for external_id, reason, n in report.exclusions
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


def _over_cap(cap_per_rater: int, per_rater: pd.Series) -> list[str]:
    """A warning line when some raters answered more than the cap (imported answers)."""
    over = int((per_rater > cap_per_rater).sum())
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
