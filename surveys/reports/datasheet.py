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
        f"- Question shown to raters: “{survey.question}”, under the title “{survey.title}”.",
        f"- Cap per rater: {survey.cap_per_rater} questions.",
        f"- Raters answering in the browser get them evenly over the "
        f"{'comparisons' if survey.is_pairwise else 'models'}, in random order"
        f"{', left/right balanced per rater' if survey.is_pairwise else ''}; "
        f"raters per item: {survey.overlap or 'no limit'}.",
        *_material(survey),
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
    lines += _rule_and_checks(report)
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


def _material(survey) -> list[str]:
    """Where the items came from (runs, seeds, pairs skipped as identical), when recorded."""
    material = survey.material or {}
    lines = []
    if material.get("runs"):
        runs = ", ".join(f"{r.get('label')} (run {r.get('id')})" for r in material["runs"])
        lines.append(f"- Items decoded from runs: {runs}; seed {material.get('seed', '?')}.")
    if "skipped_identical" in material:
        lines.append(
            f"- Pairs skipped because both reconstructions were identical: "
            f"{material['skipped_identical']}."
        )
    if material.get("source") == "csv":
        lines.append(f"- Items imported from {material.get('file', 'a CSV file')}.")
    return lines


def _rule_and_checks(report: SurveyReport) -> list[str]:
    """The pre-declared exclusion rule with its hash, and the attention checks' results."""
    survey, checks = report.survey, report.checks
    lines = []
    if survey.exclusion_rule:
        lines += [
            f"- Pre-declared exclusion rule, fixed when the survey opened: {survey.exclusion_rule}",
            f"  SHA-256 of the rule: `{survey.exclusion_rule_hash}`; "
            f"raters it excluded: {checks['excluded_by_rule']}.",
        ]
    if survey.instructed_checks or survey.gold_checks or checks["instructed"] or checks["gold"]:
        lines.append(
            f"- Attention checks per rater: {survey.instructed_checks} instructed, "
            f"{survey.gold_checks} gold; answered {checks['instructed']} instructed "
            f"({checks['instructed_failed']} failed) and {checks['gold']} gold "
            f"({checks['gold_failed']} failed). Checks are recorded apart and never counted "
            "in the tables."
        )
    return lines


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
