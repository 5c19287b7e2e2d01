"""Corpora: prepare text files into a named corpus on disk, all or nothing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from models_core.models import Corpus
from models_core.nn import corpus
from models_core.nn.textfiles import CorpusError
from models_core.services.errors import ServiceError

CORPUS_EXISTS = "A corpus named {name!r} exists already; choose another --name."
CORPUS_BAD_NAME = (
    "Corpus name {name!r}: use letters, digits, hyphens and underscores only (a slug)."
)
CORPUS_FOLDER_EXISTS = "{path} exists already (a deleted corpus?); move it away or pick a name."


def corpus_import(
    *,
    name: str,
    paths: Sequence[str | Path],
    fmt: str = "auto",
    vocab_size: int = corpus.DEFAULT_VOCAB_SIZE,
    min_len: int = corpus.DEFAULT_MIN_LEN,
    max_len: int = corpus.DEFAULT_MAX_LEN,
    seed: int = 0,
    test_fraction: float = corpus.DEFAULT_TEST_FRACTION,
) -> Corpus:
    """Prepare `paths` into a new corpus named `name`.

    The files are prepared in a scratch folder and moved into place only when the whole corpus
    is good, so a bad input (`CorpusError`) leaves every stored corpus as it was.
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


def _prepare_corpus(*args: Any, **kwargs: Any) -> corpus.CorpusInfo:
    """`corpus.prepare_corpus`, its option errors (a vocabulary of 0, min > max) as refusals."""
    try:
        return corpus.prepare_corpus(*args, **kwargs)
    except CorpusError:
        raise  # names the file: the commands print it as it is
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
