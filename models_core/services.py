"""What researchers do with corpora and runs, once: commands, admin and Celery tasks call these.

Writes go through ``<entity>_<action>`` functions with keyword-only arguments (HackSoftware
style); the numerical work is :mod:`models_core.nn`'s.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from models_core.models import Corpus, Decoding, MetricPoint, TrainingRun
from models_core.nn import decode, metrics, text
from models_core.nn.config import ModelConfig, TrainConfig, preset
from models_core.nn.data import collate
from models_core.nn.objectives import Objective, autogen, objective_preset
from models_core.nn.train import (
    CHECKPOINT_NAME,
    TrainCallback,
    TrainResult,
    model_from_checkpoint,
    resolve_device,
    train,
)

CORPUS_EXISTS = "A corpus named {name!r} exists already; choose another --name."
CORPUS_BAD_NAME = (
    "Corpus name {name!r}: use letters, digits, hyphens and underscores only (a slug)."
)
CORPUS_FOLDER_EXISTS = "{path} exists already (a deleted corpus?); move it away or pick a name."
CORPUS_UNKNOWN = "No corpus named {name!r}; import it first (manage.py import_corpus)."
RUN_NOT_TRAINABLE = "Run {pk} is {status}: only a queued run can be trained (resume it first)."
M_ONLY_FOR_AUTOGEN = "--m applies to the autogen model only (m=0 for vae and vae-anneal)."
ANNEAL_ONLY_FOR_VAE_ANNEAL = (
    "--anneal applies to vae-anneal only (vae and autogen are trained without annealing)."
)
BATCH_TOO_LARGE = (
    "Batch size {batch} exceeds the {n} training sentences of corpus {name!r}; "
    "use --batch-size {n} or less."
)

OBJECTIVES = tuple(TrainingRun.Objective.values)
# Curve points written per evaluation interval: enough for Fig. 2, few rows per run.
CURVE_POINTS_PER_EVAL = 20
PROGRESS_SAVE_INTERVAL_S = 2.0
# A running run whose worker has not saved progress for this long is taken to be orphaned.
STALE_AFTER = datetime.timedelta(minutes=10)


class ServiceError(ValueError):
    """A request the service refuses, with a one-line message for the user."""


# --------------------------------------------------------------------------------- corpora
def corpus_import(
    *,
    name: str,
    paths: Sequence[str | Path],
    fmt: str = "auto",
    vocab_size: int = 20_000,
    min_len: int = 5,
    max_len: int = 30,
    seed: int = 0,
    test_fraction: float = 0.1,
) -> Corpus:
    """Prepare `paths` into a new corpus named `name`.

    The files are prepared in a scratch folder and moved into place only when the whole corpus
    is good, so a bad input (`text.CorpusError`) leaves every stored corpus as it was.
    """
    try:
        validate_slug(name)
    except ValidationError:
        raise ServiceError(CORPUS_BAD_NAME.format(name=name)) from None
    if Corpus.objects.filter(name=name).exists():
        raise ServiceError(CORPUS_EXISTS.format(name=name))
    root = settings.DATA_DIR / "corpora"
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        info = _prepare_corpus(
            paths,
            scratch,
            fmt=fmt,
            min_len=min_len,
            max_len=max_len,
            vocab_size=vocab_size,
            seed=seed,
            test_fraction=test_fraction,
        )
        with transaction.atomic():
            corpus = Corpus.objects.create(
                name=name,
                source="\n".join(str(Path(p).resolve()) for p in paths),
                fmt=info.fmt if info.fmt in Corpus.Format.values else Corpus.Format.RAW,
                vocab_size=info.vocab_size,
                min_len=min_len,
                max_len=max_len,
                seed=seed,
                test_fraction=test_fraction,
                n_train=info.n_train,
                n_test=info.n_test,
                stats=info.to_dict(),
            )
            if corpus.directory.exists():
                # Left by a corpus deleted from the database: keep it, the user decides.
                raise ServiceError(CORPUS_FOLDER_EXISTS.format(path=corpus.directory))
            scratch.rename(corpus.directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return corpus


def _prepare_corpus(*args: Any, **kwargs: Any) -> text.CorpusInfo:
    """`text.prepare_corpus`, its option errors (a vocabulary of 0, min > max) as refusals."""
    try:
        return text.prepare_corpus(*args, **kwargs)
    except text.CorpusError:
        raise  # names the file: the commands print it as it is
    except ValueError as exc:
        raise ServiceError(str(exc)) from None


def corpus_get(name: str) -> Corpus:
    try:
        return Corpus.objects.get(name=name)
    except Corpus.DoesNotExist:
        raise ServiceError(CORPUS_UNKNOWN.format(name=name)) from None


# ------------------------------------------------------------------------------------ runs
def objective_for(
    kind: str,
    m: float | None,
    *,
    anneal: str | None = None,
    anneal_steps: int | None = None,
    beta: float | None = None,
    free_bits: float | None = None,
) -> Objective:
    """The paper model `kind` (``vae``, ``vae-anneal``, ``autogen``) as an `Objective`, with
    the named options: the annealing schedule and its length (vae-anneal), a constant KL
    weight β and free bits λ (any model)."""
    if kind not in OBJECTIVES:
        raise ServiceError(f"unknown model {kind!r}; choose from {', '.join(OBJECTIVES)}")
    if m not in (None, 0) and kind != TrainingRun.Objective.AUTOGEN:
        raise ServiceError(M_ONLY_FOR_AUTOGEN)
    if anneal is not None and kind != TrainingRun.Objective.VAE_ANNEAL:
        raise ServiceError(ANNEAL_ONLY_FOR_VAE_ANNEAL)
    try:
        if kind == TrainingRun.Objective.AUTOGEN:
            obj = autogen(1.0 if m is None else m)
        else:
            obj = objective_preset(kind)
        changes: dict[str, Any] = {"anneal": anneal, "beta": beta, "free_bits": free_bits}
        if obj.anneal != "constant":
            changes["anneal_steps"] = anneal_steps
        return obj.replace(**{k: v for k, v in changes.items() if v is not None})
    except ValueError as exc:  # out of range: m <= -1, beta < 0, ...
        raise ServiceError(str(exc)) from None


def device_check(device: str) -> None:
    """Refuse a device this process cannot use (``cuda`` without a GPU), before a run exists.

    For the in-process ``train`` command; a queued run is checked by the worker that takes it.
    """
    try:
        resolve_device(device)
    except (RuntimeError, ValueError) as exc:
        raise ServiceError(str(exc)) from None


def run_create(
    *,
    corpus: Corpus,
    objective: str,
    preset_name: str = "small",
    submission: uuid.UUID | None = None,
    **options: Any,
) -> TrainingRun:
    """A queued run of the paper model `objective` on `corpus`, fully configured
    (`run_config` takes the options and says what it refuses)."""
    config = run_config(corpus=corpus, objective=objective, preset_name=preset_name, **options)
    return TrainingRun.objects.create(
        corpus=corpus,
        objective=objective,
        m=config["objective"]["m"],
        preset=preset_name,
        total_steps=config["train"]["steps"],
        config=config,
        submission=submission,
    )


def run_submit(*, submission: uuid.UUID, **options: Any) -> tuple[TrainingRun, bool]:
    """Create and enqueue a run once per form `submission`: the same form sent again (a
    double-click, a reload) returns the run it made, with False, and queues nothing."""
    existing = TrainingRun.objects.filter(submission=submission).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            run = run_create(submission=submission, **options)
    except IntegrityError:
        winner = TrainingRun.objects.filter(submission=submission).first()
        if winner is None:
            raise  # some other constraint: not a double-click
        return winner, False  # the other request of a double-click won the race
    run_enqueue(run)
    return run, True


def run_config(
    *,
    corpus: Corpus,
    objective: str,
    m: float | None = None,
    preset_name: str = "small",
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "auto",
    bf16: bool = False,
    anneal: str | None = None,
    anneal_steps: int | None = None,
    beta: float | None = None,
    free_bits: float | None = None,
) -> dict[str, Any]:
    """A run's configuration (``model``, ``train``, ``objective`` as dicts), or a
    `ServiceError` saying what is wrong; nothing is stored (forms validate with it).

    The model's vocabulary is the corpus's most common ``preset.vocab_size`` entries (the
    corpus vocabulary is sorted by frequency, so this is a prefix of it).
    """
    obj = objective_for(
        objective, m, anneal=anneal, anneal_steps=anneal_steps, beta=beta, free_bits=free_bits
    )
    try:
        base = preset(preset_name)
        # Corpus.vocab_size counts the special tokens, as ModelConfig.vocab_size does.
        model_cfg = base.model.replace(vocab_size=min(base.model.vocab_size, corpus.vocab_size))
        model_cfg = model_cfg.replace(max_len=corpus.max_len)
        changes: dict[str, Any] = {"seed": seed, "device": device, "bf16": bf16}
        for key, value in (("steps", steps), ("batch_size", batch_size), ("lr", lr)):
            if value is not None:
                changes[key] = value
        train_cfg = base.train.replace(**changes)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    if train_cfg.batch_size > corpus.n_train:
        # Training batches are full ones (drop_last): fewer sentences than one batch is no run.
        raise ServiceError(
            BATCH_TOO_LARGE.format(batch=train_cfg.batch_size, n=corpus.n_train, name=corpus.name)
        )
    return {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(), "objective": obj.to_dict()}


@dataclass(frozen=True)
class RunSetup:
    """A run's configuration and data, ready for :func:`models_core.nn.train.train`."""

    model: ModelConfig
    train: TrainConfig
    objective: Objective
    vocab: text.Vocab
    train_data: list[np.ndarray]
    test_data: list[np.ndarray]


def _vocab_for(run: TrainingRun, vocab_size: int) -> text.Vocab:
    """The corpus vocabulary cut to the model's size (it is sorted by frequency)."""
    vocab = text.Vocab.load(run.corpus.directory / "vocab.txt")
    return text.Vocab(vocab.itos[:vocab_size])


def run_setup(run: TrainingRun) -> RunSetup:
    model_cfg = ModelConfig.from_dict(run.config["model"])
    directory = run.corpus.directory
    vocab = _vocab_for(run, model_cfg.vocab_size)
    return RunSetup(
        model=model_cfg,
        train=TrainConfig.from_dict(run.config["train"]),
        objective=Objective.from_dict(run.config["objective"]),
        vocab=vocab,
        train_data=text.load_encoded(directory, "train", vocab),
        test_data=text.load_encoded(directory, "test", vocab),
    )


class RecordProgress(TrainCallback):
    """Stores a run's progress and curves as it trains; stops it when a cancel is requested.

    Writes are batched: the step, a heartbeat and a handful of curve points every couple of
    seconds, so a fast CPU run does not spend its time in the database.
    """

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        train_cfg = TrainConfig.from_dict(run.config["train"])
        # Records arrive every `log_every` steps; keep every n-th so an evaluation interval
        # holds about CURVE_POINTS_PER_EVAL points.
        per_interval = max(1, train_cfg.eval_every // train_cfg.log_every)
        self.keep_every = max(1, per_interval // CURVE_POINTS_PER_EVAL)
        self.records_seen = 0
        self.last_record: dict[str, Any] | None = None
        self.pending: list[MetricPoint] = []
        self.last_save = 0.0

    def _point(self, record: dict[str, Any], split: str) -> MetricPoint:
        return MetricPoint(
            run=self.run,
            step=record["step"],
            split=split,
            recon=record["recon"],
            kl=record["kl"],
            elbo=record["elbo"],
            kl_share=record.get("kl_share", 0.0),
            loss=record.get("loss"),
            beta=record.get("kl_weight"),
        )

    def flush(self, step: int) -> bool:
        """Save progress and pending points; True when someone asked to cancel the run."""
        MetricPoint.objects.bulk_create(self.pending, ignore_conflicts=True)
        self.pending = []
        self.run.step = step
        TrainingRun.objects.filter(pk=self.run.pk).update(step=step, heartbeat_at=timezone.now())
        self.last_save = time.monotonic()
        return TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def on_step(self, record: dict[str, Any]) -> bool:
        self.records_seen += 1
        self.last_record = record
        if self.records_seen % self.keep_every == 0:
            self.pending.append(self._point(record, MetricPoint.Split.TRAIN))
        if time.monotonic() - self.last_save >= PROGRESS_SAVE_INTERVAL_S:
            return self.flush(record["step"])
        return False

    def on_eval(self, record: dict[str, Any]) -> bool:
        self.pending.append(self._point(record, MetricPoint.Split.TEST))
        return self.flush(record["step"])

    def on_end(self, result: TrainResult) -> None:
        # The curve always ends where training stopped, kept or not by the thinning.
        if self.last_record is not None and self.records_seen % self.keep_every:
            self.pending.append(self._point(self.last_record, MetricPoint.Split.TRAIN))
        self.flush(result.step)


def run_train(run: TrainingRun, *, callbacks: Iterable[TrainCallback] = ()) -> TrainResult:
    """Train a queued `run` to its last step, resuming from its checkpoint if it has one.

    Only a queued run is claimed (atomically), so a cancelled run stays cancelled and two
    workers never train one run. The status follows: running → succeeded, cancelled (a cancel
    request stops it after a checkpoint) or failed (the error is kept and re-raised).
    """
    claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        error="",
        cancel_requested=False,
    )
    run.refresh_from_db()
    if not claimed:
        raise ServiceError(RUN_NOT_TRAINABLE.format(pk=run.pk, status=run.status))
    try:
        setup = run_setup(run)
        run.device = str(resolve_device(setup.train.device))
        run.save(update_fields=["device"])
        result = train(
            setup.model,
            setup.train,
            setup.objective,
            setup.train_data,
            setup.test_data,
            checkpoint_dir=run.directory,
            itos=setup.vocab.itos,
            callbacks=[RecordProgress(run), *callbacks],
        )
    except BaseException as exc:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        raise
    run.refresh_from_db()
    run.step = result.step
    run.status = TrainingRun.Status.CANCELLED if result.stopped else TrainingRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    if result.evals:
        run.final_metrics = {**run.final_metrics, "last_eval": result.evals[-1]}
    run.save(update_fields=["step", "status", "finished_at", "final_metrics"])
    return result


def run_requeue(run: TrainingRun) -> bool:
    """Put a failed or cancelled run back in the queue; False when it is neither (a second
    click, or a run that is already queued, running or done)."""
    moved = TrainingRun.objects.filter(
        pk=run.pk, status__in=[TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED]
    ).update(status=TrainingRun.Status.QUEUED, finished_at=None, cancel_requested=False)
    run.refresh_from_db()
    return bool(moved)


def run_reclaim_stale(run: TrainingRun) -> bool:
    """Requeue a run marked running whose worker has gone silent (no heartbeat for
    ``STALE_AFTER``): what a task redelivered after a worker died finds. A run whose worker is
    alive is left alone, so a duplicate delivery never trains it twice."""
    stale = timezone.now() - STALE_AFTER
    moved = (
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING)
        .filter(models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=stale))
        .update(status=TrainingRun.Status.QUEUED)
    )
    run.refresh_from_db()
    return bool(moved)


def run_enqueue(run: TrainingRun) -> None:
    """Hand a queued `run` to a GPU worker once the surrounding transaction commits.

    The task id is chosen and stored before sending, so the run names its task even when a
    worker picks it up at once.
    """
    from models_core.tasks import train_run  # tasks import services: import at call time

    def send() -> None:
        task_id = str(uuid.uuid4())
        TrainingRun.objects.filter(pk=run.pk).update(task_id=task_id)
        train_run.apply_async(args=[run.pk], task_id=task_id)

    transaction.on_commit(send)


def run_resume(run: TrainingRun) -> bool:
    """Requeue a failed or cancelled run and send it to a worker; False if it was neither."""
    if not run_requeue(run):
        return False
    run_enqueue(run)
    return True


def run_cancel(run: TrainingRun) -> None:
    """Ask a run to stop: a queued run stops at once (a worker that later receives its task
    skips it), a running one after its next progress save, with a checkpoint."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, finished_at=timezone.now()
    )
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
        cancel_requested=True
    )
    run.refresh_from_db()


def run_checkpoint_path(run: TrainingRun) -> Path:
    path = run.directory / CHECKPOINT_NAME
    if not path.exists():
        raise ServiceError(f"Run {run.pk} has no checkpoint yet (status {run.status}).")
    return path


def run_get(pk: int | str) -> TrainingRun:
    try:
        return TrainingRun.objects.select_related("corpus").get(pk=int(pk))
    except (TrainingRun.DoesNotExist, ValueError):
        raise ServiceError(f"No training run {pk!r}.") from None


# ------------------------------------------------------------------- evaluation, decoding
def run_model(run: TrainingRun, device: str = "auto"):
    """The run's trained model (from its last checkpoint), in eval mode."""
    return model_from_checkpoint(run_checkpoint_path(run), device=resolve_device(device))


def run_evaluate(
    run: TrainingRun, *, iw_samples: int = 50, prior_samples: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Test-set metrics of `run` (all with the plain ELBO, whatever the objective), stored in
    ``final_metrics["evaluation"]`` and returned."""
    model = run_model(run)
    vocab = _vocab_for(run, model.config.vocab_size)
    test = text.load_encoded(run.corpus.directory, "test", vocab)
    if not test:
        raise ServiceError(f"Corpus {run.corpus.name!r} has no test sentences to evaluate on.")
    try:
        result = metrics.evaluate(
            model, test, iw_samples=iw_samples, seed=seed, prior_samples=prior_samples
        )
    except ValueError as exc:  # an option out of range (iw_samples 0, ...)
        raise ServiceError(str(exc)) from None
    result = {"run": run.pk, "model": run.label, "step": run.step, **result}
    run.final_metrics = {**run.final_metrics, "evaluation": result}
    run.save(update_fields=["final_metrics"])
    return result


DECODE_MODES = tuple(Decoding.Mode.values)
# Prior samples drawn per wanted sentence before giving up on the display filter.
FILTER_MAX_TRIES = 20
FILTER_REFUSED = (
    "{sentence!r} fails the paper filter (4–20 tokens, no unknown word); "
    "drop --paper-filter or choose another sentence."
)


def run_decode(
    run: TrainingRun,
    *,
    mode: str,
    n: int = 10,
    beam: int = 15,
    strategy: str = "beam",
    paper_filter: bool = False,
    seed: int = 0,
    sentences: Sequence[str] = (),
    steps: int = decode.INTERPOLATION_STEPS,
) -> list[Decoding]:
    """Decode with `run`'s model and store the sentences (survey material).

    - ``reconstruct``: `n` test sentences (seeded choice) or the given `sentences`, each
      re-decoded from z ~ q(z|x);
    - ``prior``: `n` sentences from z ~ N(0, I);
    - ``interpolate``: `steps` points between two sentences (given, or two test sentences).

    With `paper_filter`, the paper's display filter (Sect. 3.2: 4–20 tokens, no ``<unk>``)
    picks what is shown. Prior sampling draws until it has `n` passing sentences or gives up
    after ``FILTER_MAX_TRIES · n`` draws. Reconstruction and interpolation filter their
    inputs: test sentences are drawn among those that pass, and given sentences must pass.
    Runs with the same vocabulary (same corpus and preset) then decode the same inputs for
    the same seed, which is what a pairwise survey compares (the four paper models share
    one); filtering the outputs would drop each model's failures and hide them. Whether an
    output passes is stored with it (`Decoding.passes_filter`).
    """
    if mode not in DECODE_MODES:
        raise ServiceError(f"unknown mode {mode!r}; choose from {', '.join(DECODE_MODES)}")
    if n < 1 or beam < 1:
        raise ServiceError(f"need n >= 1 and beam >= 1; got n={n}, beam={beam}")
    model = run_model(run)
    vocab = _vocab_for(run, model.config.vocab_size)
    generator = decode.make_generator(seed, model)
    options = {"beam": beam} if strategy == "beam" else {}

    def ids_of(sentence: str) -> list[int]:
        tokens = text.tokenize(sentence)
        if not tokens:
            raise ServiceError(f"nothing to decode in {sentence!r}")
        return vocab.encode(tokens[: model.config.max_len])

    sources: list[list[int]] = []
    if sentences:
        sources = [ids_of(s) for s in sentences]
        if paper_filter and mode != Decoding.Mode.PRIOR:
            for sentence, ids in zip(sentences, sources, strict=True):
                if not decode.display_filter(ids):
                    raise ServiceError(FILTER_REFUSED.format(sentence=sentence))
    elif mode != Decoding.Mode.PRIOR:
        test = text.load_encoded(run.corpus.directory, "test", vocab)
        if paper_filter:
            test = [s for s in test if decode.display_filter(s.tolist())]
        wanted = 2 if mode == Decoding.Mode.INTERPOLATE else n
        if len(test) < wanted:
            raise ServiceError(
                f"Corpus {run.corpus.name!r} has {len(test)} test sentences"
                f"{' passing the paper filter' if paper_filter else ''}; {wanted} wanted."
            )
        picks = np.random.default_rng(seed).choice(len(test), size=wanted, replace=False)
        sources = [test[i].tolist() for i in picks]

    rows: list[tuple[str, list[int]]] = []
    try:
        if mode == Decoding.Mode.PRIOR:
            tries = 0
            while len(rows) < n and tries < FILTER_MAX_TRIES * n:
                batch = n - len(rows) if not paper_filter else max(n - len(rows), 8)
                tries += batch
                out = decode.generate(
                    model, batch, strategy=strategy, generator=generator, **options
                )
                rows += [("", seq) for seq in out.sequences]
                if paper_filter:
                    rows = [r for r in rows if decode.display_filter(r[1])]
            rows = rows[:n]
        elif mode == Decoding.Mode.RECONSTRUCT:
            batch = collate(sources)
            out = decode.reconstruct(
                model,
                batch.tokens,
                batch.lengths,
                strategy=strategy,
                generator=generator,
                **options,
            )
            rows = [
                (" ".join(vocab.decode(src)), seq)
                for src, seq in zip(sources, out.sequences, strict=True)
            ]
        else:
            if len(sources) != 2:
                raise ServiceError("interpolate needs exactly two sentences.")
            batch = collate(sources)
            out = decode.interpolate(
                model,
                batch.tokens,
                batch.lengths,
                steps=steps,
                strategy=strategy,
                generator=generator,
                **options,
            )
            ends = " → ".join(" ".join(vocab.decode(s)) for s in sources)
            rows = [(ends, seq) for seq in out.sequences]
    except ValueError as exc:
        raise ServiceError(str(exc)) from None

    group = uuid.uuid4()
    used = {"beam": beam, "strategy": strategy, "seed": seed, "paper_filter": paper_filter}
    return Decoding.objects.bulk_create(
        Decoding(
            run=run,
            mode=mode,
            batch=group,
            index=i,
            source=source,
            text=" ".join(vocab.decode(seq)),
            n_words=len(seq),
            passes_filter=decode.display_filter(seq),
            settings=used,
        )
        for i, (source, seq) in enumerate(rows)
    )
