"""The demo's books: Jane Austen's six novels from Debian's package, or a folder of books.

Fetched at install time (``apt-get download``, cached under ``$AUTOGEN_VAR_DIR/cache``, as
``import_corpus --source janeausten`` does) and imported once: a corpus of the same name found
in the database is reused, so a second demo imports nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.text import slugify

from autogen.demo import DEMO_TEST_FRACTION
from models_core import services
from models_core.management.commands.import_corpus import SOURCES, source_cache
from models_core.models import Corpus
from models_core.nn import janeausten
from models_core.nn.textfiles import CorpusError

NO_BOOKS = "no .txt books in this folder (--corpus wants a folder of plain-text books)."
NOT_A_FOLDER = "not a folder (--corpus wants a folder of plain-text books)."


def demo_corpus(folder: Path | None = None) -> tuple[Corpus, bool]:
    """The corpus the demo trains on, and whether it was imported now (False: found).

    `folder`: a folder of ``.txt`` books instead of the Austen novels. Raises `CorpusError`
    (no apt, a bad book; the message says what to do) or `ServiceError`.
    """
    name = corpus_name(folder)
    found = Corpus.objects.filter(name=name).first()
    if found is not None:
        return found, False
    books = (
        folder_books(folder)
        if folder is not None
        else SOURCES[janeausten.SOURCE_NAME](source_cache())
    )
    corpus = services.corpus_import(name=name, paths=books, test_fraction=DEMO_TEST_FRACTION)
    return corpus, True


def corpus_name(folder: Path | None) -> str:
    """``janeausten`` for the novels, ``books-<folder>`` for a folder of books (a slug)."""
    if folder is None:
        return janeausten.SOURCE_NAME
    return "books-" + (slugify(Path(folder).resolve().name) or "folder")


def folder_books(folder: Path) -> list[Path]:
    """The ``.txt`` files in `folder` (not its subfolders), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(folder, NOT_A_FOLDER)
    books = sorted(path for path in folder.glob("*.txt") if path.is_file())
    if not books:
        raise CorpusError(folder, NO_BOOKS)
    return books
