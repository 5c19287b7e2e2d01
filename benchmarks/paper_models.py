"""Do the paper's models rank as the paper says? (issue 3, "Done when")

Trains VAE, AutoGen m=1 and AutoGen m=2 (optionally VAE + annealing) for the same number of
steps at the `small` preset on real books from ``../shared/corpora/sentences``, on the CPU,
then prints their test metrics as a Markdown table. Expected (Mansbridge et al. 2019): KL and
mutual information rank AutoGen m=2 > AutoGen m=1 > VAE, reconstruction BLEU likewise, and
the plain VAE's KL collapses towards zero.

    python benchmarks/paper_models.py --steps 2000 [--books 2] [--anneal] [--threads 2]
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
from models_core.nn.config import preset  # noqa: E402
from models_core.nn.corpus import load_encoded, prepare_corpus  # noqa: E402
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
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--books", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iw-samples", type=int, default=20)
    parser.add_argument("--anneal", action="store_true", help="also train VAE + annealing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    base = preset("small")
    with tempfile.TemporaryDirectory() as scratch:
        info = prepare_corpus(
            [CORPORA / book for book in BOOKS[: args.books]],
            scratch,
            vocab_size=base.model.vocab_size - len(SPECIALS),
            seed=args.seed,
        )
        vocab = Vocab.load(Path(scratch) / "vocab.txt")
        train_ids = load_encoded(scratch, "train", vocab)
        test_ids = load_encoded(scratch, "test", vocab)
    model_cfg = base.model.replace(vocab_size=len(vocab))
    train_cfg = base.train.replace(
        steps=args.steps, seed=args.seed, eval_every=max(1, args.steps // 4), device="cpu"
    )
    print(
        f"corpus: {args.books} books, {info.n_train} train / {info.n_test} test sentences, "
        f"vocabulary {len(vocab)}; small preset, {args.steps} steps, batch "
        f"{train_cfg.batch_size}, {args.threads} threads",
        file=sys.stderr,
    )
    models = {"VAE": objective_preset("vae")}
    if args.anneal:
        models["VAE (annealing)"] = objective_preset(
            "vae-anneal", anneal_steps=max(1, args.steps // 2)
        )
    models["AutoGen (m=1)"] = autogen(1.0)
    models["AutoGen (m=2)"] = autogen(2.0)

    results = {}
    for label, objective in models.items():
        started = time.perf_counter()
        model = train(model_cfg, train_cfg, objective, train_ids, test_ids).model
        trained_s = time.perf_counter() - started
        scores = metrics.evaluate(model, test_ids, iw_samples=args.iw_samples, seed=args.seed)
        results[label] = {**{k: scores[k] for k in SHOWN}, "train_s": trained_s}
        print(f"{label}: {json.dumps(results[label])}", file=sys.stderr)

    print("| model | " + " | ".join(SHOWN) + " | train s |")
    print("|---" * (len(SHOWN) + 2) + "|")
    for label, row in results.items():
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in SHOWN]
        print(f"| {label} | " + " | ".join(cells) + f" | {row['train_s']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
