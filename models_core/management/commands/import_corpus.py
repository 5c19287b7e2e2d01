"""``manage.py import_corpus PATH [PATH …] --name NAME``: tokenise, filter, split, count."""

from models_core import services
from models_core.management.commands._base import JsonCommand
from models_core.nn.corpus import (
    DEFAULT_MAX_LEN,
    DEFAULT_MIN_LEN,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VOCAB_SIZE,
    FORMATS,
)


class Command(JsonCommand):
    help = "Prepare book text or one-sentence-per-line files into a named corpus."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--name", required=True)
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="auto")
        parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
        parser.add_argument("--min-len", type=int, default=DEFAULT_MIN_LEN)
        parser.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN)
        parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        corpus = services.corpus_import(
            name=options["name"],
            paths=options["paths"],
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
