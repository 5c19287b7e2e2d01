"""The pre-declared exclusion rule: its text, its hash, and its verdict on one rater (pure).

A survey declares the rule before it opens (how many failed instructed checks, failed gold
questions, or how fast a median answer excludes a rater). Opening the survey fixes the rule's
text and a SHA-256 of it, which the datasheet quotes; every finished rater is judged by it.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

NO_RULE = "No exclusion rule was declared."
# Ends the reason stored on a rater the rule excluded (a researcher's own reasons do not).
RULE_MARK = "(pre-declared rule)"


@dataclass(frozen=True)
class ExclusionRule:
    failed_instructed: int | None = None
    failed_gold: int | None = None
    median_seconds: float | None = None

    @property
    def clauses(self) -> list[str]:
        clauses = []
        if self.failed_instructed:
            clauses.append(f"fails {self.failed_instructed} or more instructed attention checks")
        if self.failed_gold:
            clauses.append(f"fails {self.failed_gold} or more gold questions")
        if self.median_seconds:
            clauses.append(f"takes a median of under {self.median_seconds:g} s per question")
        return clauses

    @property
    def text(self) -> str:
        """The rule in words, as the datasheet quotes it."""
        clauses = self.clauses
        if not clauses:
            return NO_RULE
        return "A rater is excluded from the analysis who " + "; or who ".join(clauses) + "."

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def verdict(
        self, *, failed_instructed: int, failed_gold: int, response_ms: Sequence[int]
    ) -> str:
        """Why the rule excludes this rater, or ``""`` when it does not."""
        if self.failed_instructed and failed_instructed >= self.failed_instructed:
            return f"failed {failed_instructed} instructed attention checks {RULE_MARK}"
        if self.failed_gold and failed_gold >= self.failed_gold:
            return f"failed {failed_gold} gold questions {RULE_MARK}"
        if self.median_seconds and response_ms:
            median = statistics.median(response_ms) / 1000
            if median < self.median_seconds:
                return f"median {median:.2f} s per question {RULE_MARK}"
        return ""
