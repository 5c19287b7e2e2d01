"""``manage.py import_corpus PATH [PATH …] --name NAME``: tokenise, filter, split, count.

``--source janeausten`` imports a named source instead of files: Jane Austen's six novels from
Debian's ``r-cran-janeaustenr`` (``apt-get download``, no root), fetched once into
``$AUTOGEN_VAR_DIR/cache``; ``--name`` defaults to the source's name.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from models_core import services
from models_core.management.commands._base import JsonCommand
from models_core.nn import janeausten
from models_core.nn.corpus import (
    DEFAULT_MAX_LEN,
    DEFAULT_MIN_LEN,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VOCAB_SIZE,
    FORMATS,
)

# Named sources: name -> the function giving its text files, given a cache folder.
SOURCES = {janeausten.SOURCE_NAME: janeausten.austen_books}
PATHS_OR_SOURCE = "Give files to import or --source NAME, not both."
NAME_NEEDED = "--name is needed when importing files."


def source_cache() -> Path:
    """Where named sources are fetched to, once (the product's own scratch, not the data)."""
    return Path(settings.VAR_DIR) / "cache"


class Command(JsonCommand):
    help = (
        "Prepare book text or one-sentence-per-line files (or a named source: --source "
        "janeausten) into a named corpus."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("paths", nargs="*", metavar="PATH")
        parser.add_argument(
            "--source",
            choices=sorted(SOURCES),
            help="a named source instead of files: janeausten (Debian's r-cran-janeaustenr)",
        )
        parser.add_argument("--name", help="the corpus's name (default with --source: its name)")
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="auto")
        parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
        parser.add_argument("--min-len", type=int, default=DEFAULT_MIN_LEN)
        parser.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN)
        parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        source = options["source"]
        if bool(options["paths"]) == bool(source):
            raise CommandError(PATHS_OR_SOURCE)
        name = options["name"] or source
        if not name:
            raise CommandError(NAME_NEEDED)
        paths = SOURCES[source](source_cache()) if source else options["paths"]
        corpus = services.corpus_import(
            name=name,
            paths=paths,
            fmt=options["fmt"],
            vocab_size=options["vocab_size"],
            min_len=options["min_len"],
            max_len=options["max_len"],
            seed=options["seed"],
            test_fraction=options["test_fraction"],
        )
        stats = corpus.stats
        self.emit(
            options,
            {"corpus": corpus.name, "id": corpus.pk, **stats},
            f"Corpus {corpus.name!r}: {corpus.n_train} train and {corpus.n_test} test sentences "
            f"({stats['fmt']}), vocabulary {stats['vocab_size']}, "
            f"unknown words {100 * stats['unk_rate']:.2f}%.",
        )
