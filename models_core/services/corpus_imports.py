"""Corpus imports queued for a worker (the ``default`` queue): files uploaded in the admin, or
found under the server's import root, prepared by `corpus_import` as the ``import_corpus``
command does.

Bad files are refused before anything is queued, with the importer's one-line messages (its
own format sniffing reads the start of each file); what only the whole file shows fails the
import with the same kind of message. Either way no corpus is stored, and the uploaded files
of a failed import are deleted.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename

from models_core.models import Corpus, CorpusImport, JobStatus
from models_core.nn.books import detect_format
from models_core.nn.textfiles import CorpusError
from models_core.services.corpora import CORPUS_BAD_NAME, CORPUS_EXISTS, corpus_import
from models_core.services.enqueue import corpus_import_enqueue
from models_core.services.errors import ServiceError
from models_core.services.jobs import job_claim, job_end, jobs_reclaim

UPLOADS = "uploads"
UPLOAD_FALLBACK_NAME = "corpus.txt"
# Characters of an upload's own name kept in its stored name (file systems stop at 255 bytes).
MAX_STORED_NAME = 100
MAX_SUFFIX = 10
UPLOAD_TOO_LARGE = (
    "The files add up to {size:.1f} MB; the admin takes up to {limit:g} MB "
    "(AUTOGEN_MAX_UPLOAD_MB). Import larger corpora with manage.py import_corpus."
)
NO_FILES = "Upload text files, or give a path on the server; not both."
IMPORT_PENDING = "Corpus {name!r} is being imported already (import {pk})."
IMPORT_ROOT_UNSET = (
    "Importing from a server path is off: set AUTOGEN_IMPORT_ROOT to the folder it may read."
)
OUTSIDE_ROOT = "{path!r} is not under the import root {root}."
NO_TEXT_FILES = "{path!r} is a folder without .txt files."


class Upload(Protocol):
    """What an uploaded file offers (Django's `UploadedFile`)."""

    name: str
    size: int

    def chunks(self) -> Iterable[bytes]: ...


def corpus_import_check_name(name: str) -> None:
    """A `ServiceError` for a corpus name that cannot be imported now."""
    try:
        validate_slug(name)
    except ValidationError:
        raise ServiceError(CORPUS_BAD_NAME.format(name=name)) from None
    if Corpus.objects.filter(name=name).exists():
        raise ServiceError(CORPUS_EXISTS.format(name=name))
    pending = CorpusImport.objects.filter(
        name=name, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).first()
    if pending is not None:
        raise ServiceError(IMPORT_PENDING.format(name=name, pk=pending.pk))


def _check_files(paths: Sequence[Path], shown: Sequence[str]) -> None:
    """The importer's own first look at each file (empty, binary, UTF-16, not UTF-8 at the
    start...), as one line naming the file as the user knows it."""
    for path, name in zip(paths, shown, strict=True):
        try:
            detect_format(path)
        except CorpusError as exc:
            raise ServiceError(f"{name}: {exc.problem}") from None


def _stored_name(name: str) -> str:
    """A safe file name for an upload the browser calls `name` (any text: "../x", "/etc/x",
    "..", 300 characters): its last part, reduced to letters, digits and ``-_.``, cut to
    MAX_STORED_NAME characters keeping its extension."""
    try:
        safe = get_valid_filename(Path(name.replace("\\", "/")).name)
    except SuspiciousFileOperation:  # nothing usable left ("", ".", "..")
        return UPLOAD_FALLBACK_NAME
    if len(safe) <= MAX_STORED_NAME:
        return safe
    suffix = Path(safe).suffix if len(Path(safe).suffix) <= MAX_SUFFIX else ""
    return safe[: MAX_STORED_NAME - len(suffix)] + suffix


def corpus_upload_store(files: Sequence[Upload]) -> list[str]:
    """Store uploaded `files` in a new folder under ``AUTOGEN_DATA_DIR/uploads`` (where workers
    read them) after checking their size and their start; their paths relative to the data
    folder. A refusal stores nothing."""
    if not files:
        raise ServiceError(NO_FILES)
    total = sum(f.size for f in files)
    limit = settings.MAX_UPLOAD_MB
    if total > limit * 1e6:
        raise ServiceError(UPLOAD_TOO_LARGE.format(size=total / 1e6, limit=limit))
    folder = Path(UPLOADS) / uuid.uuid4().hex
    target = settings.DATA_DIR / folder
    target.mkdir(parents=True)
    stored, shown = [], []
    try:
        for i, upload in enumerate(files):
            name = _stored_name(upload.name)
            path = target / f"{i:03d}-{name}"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            stored.append(path)
            shown.append(upload.name)
        _check_files(stored, shown)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return [str(folder / path.name) for path in stored]


def corpus_server_files(path: str) -> list[str]:
    """The files that `path` names under ``AUTOGEN_IMPORT_ROOT``: itself, or the ``.txt``
    files of a folder (sorted). Relative paths start at the root; every path is resolved
    (``..``, symlinks) before it is checked to be under the root."""
    root = settings.IMPORT_ROOT
    if root is None:
        raise ServiceError(IMPORT_ROOT_UNSET)
    given = Path(path)
    resolved = (given if given.is_absolute() else root / given).resolve()
    if not resolved.is_relative_to(root):
        raise ServiceError(OUTSIDE_ROOT.format(path=path, root=root))
    if resolved.is_dir():
        files = [p.resolve() for p in sorted(resolved.iterdir()) if p.suffix == ".txt"]
        outside = [p for p in files if not p.is_relative_to(root)]
        if outside:  # a symlink in the folder that points elsewhere
            raise ServiceError(OUTSIDE_ROOT.format(path=str(outside[0]), root=root))
        if not files:
            raise ServiceError(NO_TEXT_FILES.format(path=path))
    else:
        files = [resolved]
    _check_files(files, [str(p.relative_to(root)) for p in files])
    return [str(p) for p in files]


def _absolute(job: CorpusImport) -> list[Path]:
    if job.origin == CorpusImport.Source.UPLOAD:
        return [settings.DATA_DIR / p for p in job.paths]
    return [Path(p) for p in job.paths]


def _discard_uploads(origin: str, paths: Sequence[str]) -> None:
    if origin == CorpusImport.Source.UPLOAD and paths:
        shutil.rmtree(settings.DATA_DIR / Path(paths[0]).parent, ignore_errors=True)


def corpus_import_submit(
    *, submission: uuid.UUID | None, name: str, origin: str, paths: Sequence[str], **options: Any
) -> tuple[CorpusImport, bool]:
    """Queue the import of `paths` as corpus `name`, once per form `submission` (the same form
    sent again returns the import it queued, with False). `options`: the importer's (fmt,
    vocab_size, min_len, max_len, seed, test_fraction)."""
    if submission is not None:
        existing = CorpusImport.objects.filter(submission=submission).first()
        if existing is not None:
            _discard_uploads(origin, paths)
            return existing, False
    try:
        corpus_import_check_name(name)
        with transaction.atomic():
            job = CorpusImport.objects.create(
                submission=submission, name=name, origin=origin, paths=list(paths), **options
            )
    except IntegrityError:
        _discard_uploads(origin, paths)
        winner = CorpusImport.objects.filter(submission=submission).first() if submission else None
        if winner is None:
            raise  # some other constraint: not a double-click
        return winner, False  # the other request of a double-click won the race
    except ServiceError:
        _discard_uploads(origin, paths)
        raise
    corpus_import_enqueue(job)
    return job, True


def _one_line(job: CorpusImport, exc: BaseException) -> str:
    """The importer's message, naming an uploaded file by its name rather than its path."""
    if isinstance(exc, CorpusError):
        names = exc.path
        if job.origin == CorpusImport.Source.UPLOAD and job.paths:
            folder = settings.DATA_DIR / Path(job.paths[0]).parent
            names = re.sub(rf"{re.escape(str(folder))}/\d+-", "", names)
        return f"{names}: {exc.problem}"
    if isinstance(exc, ServiceError):
        return str(exc).splitlines()[0]
    return f"{type(exc).__name__}: {exc}"


def corpus_import_run(
    job: CorpusImport, *, task_id: str | None = None, worker: str = ""
) -> dict[str, Any]:
    """Import for `job` (the body of its task): claimed once, then succeeded with its corpus,
    or failed with the importer's one-line message and nothing stored."""
    if (skipped := job_claim(job, key="import", task_id=task_id, worker=worker)) is not None:
        return skipped
    try:
        corpus = corpus_import(
            name=job.name, paths=_absolute(job), fmt=job.fmt, vocab_size=job.vocab_size,
            min_len=job.min_len, max_len=job.max_len, seed=job.seed,
            test_fraction=job.test_fraction,
        )  # fmt: skip
    except Exception as exc:
        job_end(job, JobStatus.FAILED, error=_one_line(job, exc))
        _discard_uploads(job.origin, job.paths)
        if not isinstance(exc, ServiceError | CorpusError):
            raise
        return {"import": job.pk, "status": job.status, "error": job.error}
    job_end(job, JobStatus.SUCCEEDED, corpus=corpus)
    return {"import": job.pk, "status": job.status, "corpus": corpus.name}


def corpus_imports_reclaim(worker: str) -> list[int]:
    """Requeue and send again the imports that `worker` was running when it died."""
    return jobs_reclaim(CorpusImport, worker, corpus_import_enqueue)
