"""Do the paper's models rank as the paper says? (issue 3, "Done when")

Trains VAE, AutoGen m=1 and AutoGen m=2 (optionally VAE + annealing) for the same number of
steps at one preset (``small`` unless ``--preset`` says otherwise) on real books, on the CPU,
then prints their test metrics as a Markdown table. Expected (Mansbridge et al. 2019): KL and
mutual information rank AutoGen m=2 > AutoGen m=1 > VAE, reconstruction BLEU likewise, and
the plain VAE's KL collapses towards zero.

The books: ``--corpus shared`` (default) takes the first ``--books`` of four books from
``../shared/corpora/sentences``; ``--corpus janeausten`` takes the demo's books, Jane Austen's
six novels from Debian's r-cran-janeaustenr (fetched once into ``--cache``), imported as the
demo imports them (raw books, the demo's test fraction).

    python benchmarks/paper_models.py --steps 2000 [--books 2] [--anneal] [--threads 2]
    python benchmarks/paper_models.py --preset demo --corpus janeausten --anneal
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpora import shared_corpora  # noqa: E402
from models_core.nn import metrics  # noqa: E402
from models_core.nn.config import PRESETS, preset  # noqa: E402
from models_core.nn.corpus import DEFAULT_TEST_FRACTION, load_encoded, prepare_corpus  # noqa: E402
from models_core.nn.janeausten import austen_books  # noqa: E402
from models_core.nn.objectives import autogen, objective_preset  # noqa: E402
from models_core.nn.train import train  # noqa: E402
from models_core.nn.vocab import SPECIALS, Vocab  # noqa: E402

CORPORA = shared_corpora() / "sentences"
BOOKS = (
    "austen_persuasion.txt",
    "edgeworth_parents-assistant.txt",
    "chesterton_man-who-was-thursday.txt",
    "chesterton_innocence-of-father-brown.txt",
)
SHOWN = ("kl", "mi", "active_units", "recon_bleu", "exact_match", "elbo", "iw_nll", "ppl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--steps", type=int, help="default: the preset's")
    parser.add_argument("--corpus", choices=("shared", "janeausten"), default="shared")
    parser.add_argument("--books", type=int, default=2, help="--corpus shared: how many books")
    parser.add_argument("--cache", type=Path, help="--corpus janeausten: where the books go")
    parser.add_argument("--test-fraction", type=float, help="default: the corpus's usual")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iw-samples", type=int, default=20)
    parser.add_argument("--anneal", action="store_true", help="also train VAE + annealing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    base = preset(args.preset)
    steps = args.steps or base.train.steps
    with tempfile.TemporaryDirectory() as scratch:
        books, fraction = corpus_books(args, Path(scratch))
        info = prepare_corpus(
            books,
            Path(scratch) / "corpus",
            vocab_size=base.model.vocab_size - len(SPECIALS),
            seed=args.seed,
            test_fraction=fraction,
        )
        vocab = Vocab.load(Path(scratch) / "corpus" / "vocab.txt")
        train_ids = load_encoded(Path(scratch) / "corpus", "train", vocab)
        test_ids = load_encoded(Path(scratch) / "corpus", "test", vocab)
    model_cfg = base.model.replace(vocab_size=len(vocab))
    train_cfg = base.train.replace(
        steps=steps, seed=args.seed, eval_every=max(1, steps // 4), device="cpu"
    )
    print(
        f"corpus: {len(books)} books ({args.corpus}), {info.n_train} train / {info.n_test} test "
        f"sentences, vocabulary {len(vocab)}; {args.preset} preset, {steps} steps, batch "
        f"{train_cfg.batch_size}, {args.threads} threads",
        file=sys.stderr,
    )
    models = {"VAE": objective_preset("vae")}
    if args.anneal:
        models["VAE (annealing)"] = objective_preset("vae-anneal", anneal_steps=max(1, steps // 2))
    models["AutoGen (m=1)"] = autogen(1.0)
    models["AutoGen (m=2)"] = autogen(2.0)

    results = {}
    for label, objective in models.items():
        started = time.perf_counter()
        model = train(model_cfg, train_cfg, objective, train_ids, test_ids).model
        trained_s = time.perf_counter() - started
        scores = metrics.evaluate(model, test_ids, iw_samples=args.iw_samples, seed=args.seed)
        results[label] = {**{k: scores[k] for k in SHOWN}, "train_s": trained_s}
        results[label]["steps_per_s"] = steps / trained_s
        print(f"{label}: {json.dumps(results[label])}", file=sys.stderr)

    print("| model | " + " | ".join(SHOWN) + " | train s | steps/s |")
    print("|---" * (len(SHOWN) + 3) + "|")
    for label, row in results.items():
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in SHOWN]
        print(
            f"| {label} | " + " | ".join(cells) + f" | {row['train_s']:.0f} "
            f"| {row['steps_per_s']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def corpus_books(args: argparse.Namespace, scratch: Path) -> tuple[list[Path], float]:
    """The books to train on and the test fraction to split them with."""
    if args.corpus == "janeausten":
        from autogen.demo import DEMO_TEST_FRACTION  # the demo's split, not a copy

        books = austen_books(args.cache or scratch / "cache")
        return books, args.test_fraction or DEMO_TEST_FRACTION
    books = [CORPORA / book for book in BOOKS[: args.books]]
    return books, args.test_fraction or DEFAULT_TEST_FRACTION


if __name__ == "__main__":
    main()
