"""Surveys, raters, items and answers.

Two kinds of blind survey, as in the paper: "choose the best reconstruction" between two models
(Table 2) and "does this sentence make sense?" for one model's sentence (Table 4).

Blindness: the model names on :class:`Item` are kept for analysis only. Anything a rater can see
(pages, links, cookies) names raters by :attr:`Rater.token` and never carries a model name.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

DEFAULT_CAP = 20  # the paper: each respondent saw at most 20 questions (Sect. 3.3)
TOKEN_BYTES = 16


def new_token() -> str:
    """An opaque, unguessable public id (22 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


class Survey(models.Model):
    """One blind survey: its question, its design and its state."""

    class Kind(models.TextChoices):
        PAIRWISE = "pairwise_reconstruction", "pairwise reconstruction (Table 2)"
        MEANINGFULNESS = "meaningfulness", "meaningfulness (Table 4)"

    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        CLOSED = "closed"

    # The paper's wording (Sect. 3.2, 3.3), used when a survey is created without its own.
    DEFAULT_QUESTIONS = {
        Kind.PAIRWISE: "Choose the best reconstruction.",
        Kind.MEANINGFULNESS: "Does this sentence make sense?",
    }

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    question = models.TextField(help_text="The criteria wording raters are shown.")
    cap_per_rater = models.PositiveSmallIntegerField(
        default=DEFAULT_CAP, help_text="The most questions one rater answers."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.question:
            self.question = self.DEFAULT_QUESTIONS.get(self.kind, "")
        super().save(*args, **kwargs)

    @property
    def is_pairwise(self) -> bool:
        return self.kind == self.Kind.PAIRWISE

    def responses(self) -> models.QuerySet[Response]:
        """Every answer given in this survey, excluded raters included."""
        return Response.objects.filter(item__survey=self)

    def counted_responses(self) -> models.QuerySet[Response]:
        """The answers the reports count: those of raters who are not excluded."""
        # NOT IN a short list of excluded raters, not a join to every answer's rater: the
        # reports scan a million answers, and the join costs a lookup per answer.
        excluded = self.raters.filter(excluded=True).values("pk")
        return self.responses().exclude(rater__in=excluded)

    def has_responses(self) -> bool:
        return self.responses().exists()


class Rater(models.Model):
    """One person answering one survey: a crowd-platform id or a lab's own label."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="raters")
    external_id = models.CharField(
        max_length=200, help_text="The id the answers came with (e.g. a crowd-platform id)."
    )
    token = models.CharField(
        max_length=32,
        unique=True,
        default=new_token,
        editable=False,
        help_text="Opaque public id: the only id a rater's pages and links carry.",
    )
    excluded = models.BooleanField(
        default=False, help_text="Left out of the reports (e.g. failed attention checks)."
    )
    exclusion_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["survey", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "external_id"], name="one_rater_per_id"),
        ]

    def __str__(self) -> str:
        return self.external_id

    def exclude(self, reason: str) -> None:
        """Leave this rater's answers out of every report, saying why (kept in the datasheet)."""
        self.excluded, self.exclusion_reason = True, reason
        self.save(update_fields=["excluded", "exclusion_reason"])


class Item(models.Model):
    """What was judged.

    Pairwise: reconstructions of ``source`` by ``model_1`` (``text_1``) and ``model_2``
    (``text_2``). Meaningfulness: ``text_1``, a sentence ``model_1`` generated, ``length`` words
    long; ``model_2`` and ``text_2`` stay empty. Texts may be empty when only the answers were
    imported.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=200, help_text="The item's id in the imported file.")
    model_1 = models.CharField(max_length=100)
    model_2 = models.CharField(max_length=100, blank=True)
    text_1 = models.TextField(blank=True)
    text_2 = models.TextField(blank=True)
    source = models.TextField(blank=True, help_text="The sentence reconstructed (pairwise).")
    length = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Words in the sentence (meaningfulness)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["survey", "key"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "key"], name="one_item_per_key"),
        ]
        indexes = [models.Index(fields=["survey", "model_1", "model_2"])]

    def __str__(self) -> str:
        if self.model_2:
            return f"{self.key}: {self.model_1} vs {self.model_2}"
        return f"{self.key}: {self.model_1}"

    @property
    def model(self) -> str:
        """The model a meaningfulness item judges."""
        return self.model_1

    @property
    def sentence(self) -> str:
        """The sentence a meaningfulness item judges."""
        return self.text_1

    def model_for(self, side: str) -> str:
        """The model name behind ``side`` (a :class:`Response.Side`)."""
        return self.model_1 if side == Response.Side.MODEL_1 else self.model_2


class Response(models.Model):
    """One rater's answer to one item, written once."""

    class Answer(models.TextChoices):
        MODEL_1 = "model_1", "model 1 is better"
        MODEL_2 = "model_2", "model 2 is better"
        DISCARD = "discard", "discarded (ambiguous)"
        YES = "yes", "makes sense"
        NO = "no", "does not make sense"

    class Side(models.TextChoices):
        """Which of the item's two models was shown on the left (pairwise)."""

        UNKNOWN = "", "unknown"
        MODEL_1 = "model_1", "model 1"
        MODEL_2 = "model_2", "model 2"

    PAIRWISE_ANSWERS = (Answer.MODEL_1, Answer.MODEL_2, Answer.DISCARD)
    MEANINGFULNESS_ANSWERS = (Answer.YES, Answer.NO)

    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="responses")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    answer = models.CharField(max_length=10, choices=Answer.choices)
    left = models.CharField(max_length=10, choices=Side.choices, blank=True, default="")
    response_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time from showing the question to the answer."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["rater", "item"], name="one_response_per_rater_item"),
        ]
        indexes = [models.Index(fields=["item", "answer"])]

    def __str__(self) -> str:
        return f"{self.rater} on {self.item.key}: {self.answer}"

    @property
    def is_decisive(self) -> bool:
        """A pairwise answer that names a winner (not discarded)."""
        return self.answer in (self.Answer.MODEL_1, self.Answer.MODEL_2)

    @property
    def winner(self) -> str | None:
        """The winning model's name, or None for a discard or a meaningfulness answer."""
        return self.item.model_for(self.answer) if self.is_decisive else None
