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
DEFAULT_RESERVATION_MINUTES = 30  # unanswered questions go back to the pool after this
DEFAULT_TITLE = "A short survey about sentences"
TOKEN_BYTES = 16
COMPLETION_CODE_BYTES = 6
PROLIFIC_PARAMETER = "PROLIFIC_PID"
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"


def new_token() -> str:
    """An opaque, unguessable public id (22 URL-safe characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_completion_code() -> str:
    """A completion code for a crowd platform: 12 upper-case letters and digits."""
    return secrets.token_hex(COMPLETION_CODE_BYTES).upper()


def new_seed() -> int:
    return secrets.randbits(31)


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

    class Platform(models.TextChoices):
        NONE = "none", "none (a link for the lab's own raters)"
        PROLIFIC = "prolific", "Prolific"
        OTHER = "other", "another crowd platform"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    question = models.TextField(help_text="The criteria wording raters are shown.")
    cap_per_rater = models.PositiveSmallIntegerField(
        default=DEFAULT_CAP, help_text="The most questions one rater answers."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)

    # What raters see: the survey's own title (never the product's, which names a model).
    token = models.CharField(
        max_length=32,
        unique=True,
        default=new_token,
        editable=False,
        help_text="Opaque public id: the survey link /s/<token>/ carries only this.",
    )
    title = models.CharField(max_length=200, default=DEFAULT_TITLE)
    instructions = models.TextField(
        blank=True, help_text="Shown before consent; the kind's default wording when empty."
    )
    # Design.
    overlap = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The most raters per item (k raters per item, for agreement); empty: no limit.",
    )
    instructed_checks = models.PositiveSmallIntegerField(
        default=0,
        help_text="Instructed attention checks per rater (the ones Prolific allows "
        "rejecting on), at random positions, on top of the cap.",
    )
    gold_checks = models.PositiveSmallIntegerField(
        default=0, help_text="Gold questions per rater (used to exclude data, not to reject)."
    )
    reservation_minutes = models.PositiveIntegerField(
        default=DEFAULT_RESERVATION_MINUTES,
        help_text="A rater silent this long gives their unanswered questions back to the pool.",
    )
    seed = models.BigIntegerField(default=new_seed, help_text="Seeds item choice and plans.")
    material = models.JSONField(
        default=dict, blank=True, help_text="How the items were made (runs, seeds, skipped pairs)."
    )
    # Pre-declared exclusion rule: fixed (text and hash) when the survey opens.
    exclude_failed_instructed = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Exclude a rater who fails this many instructed checks."
    )
    exclude_failed_gold = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Exclude a rater who fails this many gold questions."
    )
    exclude_median_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Exclude a rater whose median seconds per question is below this.",
    )
    exclusion_rule = models.TextField(blank=True, editable=False)
    exclusion_rule_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Crowd platform.
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.NONE)
    participant_parameter = models.CharField(
        max_length=50,
        blank=True,
        help_text="The URL parameter carrying the participant id (Prolific: PROLIFIC_PID).",
    )
    completion_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where a finished rater is sent; {code} becomes the completion code.",
    )
    completion_code = models.CharField(max_length=50, default=new_completion_code)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.question:
            self.question = self.DEFAULT_QUESTIONS.get(self.kind, "")
        super().save(*args, **kwargs)

    @property
    def participant_key(self) -> str:
        """The URL parameter that carries a crowd participant's id, or ``""``."""
        if self.platform == self.Platform.PROLIFIC:
            return self.participant_parameter or PROLIFIC_PARAMETER
        return self.participant_parameter if self.platform == self.Platform.OTHER else ""

    @property
    def completion_target(self) -> str:
        """Where a finished rater goes (the code filled in), or ``""`` to show the code."""
        template = self.completion_url
        if self.platform == self.Platform.PROLIFIC and not template:
            template = PROLIFIC_COMPLETION_URL
        if self.platform == self.Platform.NONE or not template:
            return ""
        return template.replace("{code}", self.completion_code)

    @property
    def n_checks(self) -> int:
        return self.instructed_checks + self.gold_checks

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
    # Answering in the browser (empty for imported answers).
    platform_data = models.JSONField(
        default=dict, blank=True, help_text="What the crowd platform sent (study, session ids)."
    )
    plan_seed = models.BigIntegerField(null=True, blank=True, help_text="Seeds this plan.")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

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


class Assignment(models.Model):
    """One question slot of one rater's plan, in the order the rater sees them.

    A *question* slot shows an item, with ``left`` naming the item's model shown on the left;
    its answer is a :class:`Response`. A *check* slot (instructed or gold) carries its own two
    texts and the answer expected, and stores the rater's answer here, apart from the
    responses, so that checks never count in Tables 2 and 4. Unanswered question slots of a
    rater silent past the survey's reservation are deleted, giving the items back.
    """

    class Kind(models.TextChoices):
        QUESTION = "question"
        INSTRUCTED = "instructed", "instructed check"
        GOLD = "gold", "gold question"

    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    position = models.PositiveSmallIntegerField(help_text="1 for the first question shown.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.QUESTION)
    item = models.ForeignKey(
        Item, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments"
    )
    left = models.CharField(max_length=10, choices=Response.Side.choices, blank=True)
    # Checks only: what is shown and what a careful rater answers.
    prompt = models.TextField(blank=True, help_text="An instructed check's instruction.")
    text_left = models.TextField(blank=True)
    text_right = models.TextField(blank=True)
    expected = models.CharField(max_length=10, blank=True, help_text="left/right/yes/no.")
    answer = models.CharField(max_length=10, blank=True, help_text="A check's answer.")
    shown_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["rater", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rater", "position"], name="one_slot_per_position"),
            models.UniqueConstraint(
                fields=["rater", "item"],
                condition=models.Q(item__isnull=False, kind="question"),
                name="one_slot_per_rater_item",
            ),
        ]
        indexes = [models.Index(fields=["item", "kind"])]

    def __str__(self) -> str:
        return f"{self.rater} #{self.position} ({self.kind})"

    @property
    def is_check(self) -> bool:
        return self.kind != self.Kind.QUESTION

    @property
    def passed(self) -> bool | None:
        """Whether a check was answered as expected (None: unanswered or not a check)."""
        if not self.is_check or not self.answered_at:
            return None
        return self.answer == self.expected
