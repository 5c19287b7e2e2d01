"""Corpora, training runs, their metric curves and checkpoints, and decoded sentences.

The heavy lifting lives in :mod:`models_core.nn` (pure PyTorch); these models record what was
asked for and what came out, for the admin, the Celery workers and the surveys. Work queued
for a worker (a corpus import, an experiment's runs, a decode job) is recorded here too, with
its status, so the admin and ``manage.py runs`` show it.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


class Corpus(models.Model):
    """A prepared corpus: tokenised train/test splits and a vocabulary on disk."""

    class Format(models.TextChoices):
        LINES = "lines", "one sentence per line"
        RAW = "raw", "raw book text"

    name = models.SlugField(max_length=100, unique=True)
    source = models.TextField(help_text="The files imported, for the record.")
    fmt = models.CharField("format", max_length=10, choices=Format.choices)
    vocab_size = models.PositiveIntegerField()
    min_len = models.PositiveSmallIntegerField()
    max_len = models.PositiveSmallIntegerField()
    seed = models.IntegerField()
    test_fraction = models.FloatField()
    n_train = models.PositiveIntegerField()
    n_test = models.PositiveIntegerField()
    stats = models.JSONField(default=dict, help_text="What the importer counted.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name

    @property
    def directory(self) -> Path:
        """Where train.txt, test.txt, vocab.txt and info.json live."""
        return settings.DATA_DIR / "corpora" / self.name


class JobStatus(models.TextChoices):
    """Where a queued job (corpus import, decode job) stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Experiment(models.Model):
    """The paper's four models (VAE, VAE (annealing), AutoGen m=1 and m=2) queued together on
    one corpus with one preset, step count and seed: what the comparison page compares."""

    name = models.CharField(max_length=200, blank=True)
    corpus = models.ForeignKey(Corpus, on_delete=models.PROTECT, related_name="experiments")
    preset = models.CharField(max_length=20)
    steps = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    submission = models.UUIDField(
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="The form submission that queued it: a double-click queues one set.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"experiment {self.pk}: {self.name or self.corpus}"


class TrainingRun(models.Model):
    """One model trained on one corpus: the four paper models are objectives of one model."""

    class Objective(models.TextChoices):
        VAE = "vae", "VAE"
        VAE_ANNEAL = "vae-anneal", "VAE (annealing)"
        AUTOGEN = "autogen", "AutoGen"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    corpus = models.ForeignKey(Corpus, on_delete=models.PROTECT, related_name="runs")
    experiment = models.ForeignKey(
        Experiment, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    objective = models.CharField(max_length=20, choices=Objective.choices)
    m = models.FloatField(default=0.0, help_text="Extra reconstructions: (1+m)·recon − KL.")
    preset = models.CharField(max_length=20, default="small")
    config = models.JSONField(
        default=dict, help_text="Model, training and objective configuration, as trained."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField()
    device = models.CharField(max_length=20, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The Celery worker that trains (or trained) it."
    )
    steps_per_s = models.FloatField(
        null=True, blank=True, help_text="Training speed since the worker took the run."
    )
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    final_metrics = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the training worker last saved progress."
    )
    submission = models.UUIDField(
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="The form submission that queued it: the same form sent twice (a double-click) "
        "finds this run instead of queueing another.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.label} on {self.corpus}"

    @property
    def label(self) -> str:
        """The paper's name for the model: ``VAE``, ``VAE (annealing)``, ``AutoGen (m=2)``;
        options the paper's model does not have follow, e.g. ``VAE, β=0.5, free bits 0.1``."""
        if self.objective == self.Objective.AUTOGEN:
            name = f"AutoGen (m={self.m:g})"
        else:
            name = self.get_objective_display()
        options = (self.config or {}).get("objective", {})
        usual = "linear" if self.objective == self.Objective.VAE_ANNEAL else "constant"
        extras = []
        if options.get("anneal", usual) != usual:
            extras.append(f"{options['anneal']} annealing")
        if options.get("beta", 1.0) != 1.0:
            extras.append(f"β={options['beta']:g}")
        if options.get("free_bits", 0.0):
            extras.append(f"free bits {options['free_bits']:g}")
        return ", ".join([name, *extras])

    @property
    def directory(self) -> Path:
        """Checkpoints of this run."""
        return settings.DATA_DIR / "runs" / str(self.pk)

    @property
    def progress(self) -> float:
        """Share of the steps done, 0–1."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 1.0

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the measured speed, while the run trains."""
        if self.status != self.Status.RUNNING or not self.steps_per_s:
            return None
        return max(0, self.total_steps - self.step) / self.steps_per_s


class MetricPoint(models.Model):
    """One point of a run's curves (Fig. 2): per-sentence nats, natural log."""

    class Split(models.TextChoices):
        TRAIN = "train"
        TEST = "test"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    split = models.CharField(max_length=5, choices=Split.choices)
    recon = models.FloatField(help_text="E_q[log p(x|z)] per sentence.")
    kl = models.FloatField(help_text="KL(q(z|x) || p(z)) per sentence.")
    elbo = models.FloatField(help_text="The VAE ELBO (Eq. 1), for every model.")
    kl_share = models.FloatField(help_text="−KL as a share of the objective (Fig. 2 left).")
    loss = models.FloatField(null=True, blank=True)
    beta = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "split", "step"]
        constraints = [
            models.UniqueConstraint(fields=["run", "split", "step"], name="one_point_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.split}@{self.step}"


class Decoding(models.Model):
    """A sentence a model produced: material for the surveys."""

    class Mode(models.TextChoices):
        RECONSTRUCT = "reconstruct"
        PRIOR = "prior"
        INTERPOLATE = "interpolate"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="decodings")
    mode = models.CharField(max_length=12, choices=Mode.choices)
    batch = models.UUIDField(help_text="One decode call; its sentences share it.")
    index = models.PositiveIntegerField()
    source = models.TextField(blank=True, help_text="The input sentence(s), when there are any.")
    text = models.TextField()
    n_words = models.PositiveSmallIntegerField()
    passes_filter = models.BooleanField(
        help_text="The paper's display filter: 4–20 words, no <unk>."
    )
    settings = models.JSONField(default=dict, help_text="Beam, seed and strategy used.")
    job = models.ForeignKey(
        "DecodeJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="decodings",
        help_text="The decode job that made it, when a worker did.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "batch", "index"]
        indexes = [models.Index(fields=["run", "mode"])]

    def __str__(self) -> str:
        return self.text


class QueuedJob(models.Model):
    """What every job handed to a worker records: status, progress, the task and the worker,
    the error, and the form submission that queued it (a double-click queues one job)."""

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Share done, 0–1.")
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    submission = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)


class DecodeJob(QueuedJob):
    """Sentences to decode with a run's model on a GPU worker: its `Decoding` rows follow."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="decode_jobs")
    mode = models.CharField(max_length=12, choices=Decoding.Mode.choices)
    n = models.PositiveIntegerField(default=10, help_text="Sentences (not interpolate).")
    beam = models.PositiveSmallIntegerField(help_text="Beam width (the paper: 15).")
    strategy = models.CharField(max_length=10, default="beam")
    steps = models.PositiveSmallIntegerField(help_text="Interpolation points.")
    seed = models.IntegerField(default=0)
    paper_filter = models.BooleanField(
        default=False, help_text="The paper's display filter: 4–20 words, no <unk>."
    )
    sentences = models.JSONField(
        default=list, blank=True, help_text="Given inputs (reconstruct, interpolate)."
    )
    batch = models.UUIDField(null=True, blank=True, help_text="The batch of its Decodings.")

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"decode job {self.pk}: {self.mode} with run {self.run_id}"


class CorpusImport(QueuedJob):
    """Text files to prepare into a new corpus on a worker (the `default` queue): uploaded in
    the admin, or found under the server's import root."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "uploaded files"
        SERVER = "server", "server path"

    name = models.SlugField(max_length=100, help_text="The corpus it makes.")
    origin = models.CharField(max_length=10, choices=Source.choices)
    paths = models.JSONField(
        default=list,
        help_text="The files to import: uploads relative to AUTOGEN_DATA_DIR (shared with the "
        "workers), server files as absolute paths under AUTOGEN_IMPORT_ROOT.",
    )
    fmt = models.CharField("format", max_length=10, default="auto")
    vocab_size = models.PositiveIntegerField()
    min_len = models.PositiveSmallIntegerField()
    max_len = models.PositiveSmallIntegerField()
    seed = models.IntegerField(default=0)
    test_fraction = models.FloatField()
    corpus = models.ForeignKey(
        Corpus, on_delete=models.SET_NULL, null=True, blank=True, related_name="imports"
    )

    class Meta(QueuedJob.Meta):
        pass

    def __str__(self) -> str:
        return f"import {self.pk}: {self.name}"
