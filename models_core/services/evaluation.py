"""Evaluation and decoding: a trained run's test-set metrics, and its sentences for surveys.

The numerical work is :mod:`models_core.nn`'s (``metrics.evaluate``, ``decode.decode_mode``);
these functions find the run's checkpoint and test split and store what the engine returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from models_core.models import Decoding, TrainingRun
from models_core.nn import decode, metrics
from models_core.nn.checkpoint import Trained, load_trained
from models_core.nn.corpus import load_encoded
from models_core.nn.tokenize import tokenize
from models_core.nn.vocab import Vocab
from models_core.services.errors import ServiceError
from models_core.services.runs import device_check, run_checkpoint_path


def run_trained(run: TrainingRun, device: str = "auto") -> Trained:
    """The run's trained model (eval mode) and vocabulary, from its last checkpoint alone."""
    return load_trained(run_checkpoint_path(run), device=device_check(device))


def run_evaluate(
    run: TrainingRun,
    *,
    iw_samples: int = metrics.DEFAULT_IW_SAMPLES,
    prior_samples: int = metrics.DEFAULT_PRIOR_SAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Test-set metrics of `run` (all with the plain ELBO, whatever the objective), stored in
    ``final_metrics["evaluation"]`` and returned."""
    trained = run_trained(run)
    model, vocab = trained.model, trained.vocab
    test = load_encoded(run.corpus.directory, "test", vocab)
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
    beam: int = decode.DEFAULT_BEAM,
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
    trained = run_trained(run)
    model, vocab = trained.model, trained.vocab
    sources = _decode_inputs(
        run, vocab, model.config.max_len, mode=mode, n=n, paper_filter=paper_filter,
        seed=seed, sentences=sentences,
    )  # fmt: skip
    generator = decode.make_generator(seed, model)
    try:
        rows = decode.decode_mode(
            model, mode, sources, n=n, strategy=strategy, beam=beam, steps=steps,
            paper_filter=paper_filter, max_tries=FILTER_MAX_TRIES * n, generator=generator,
        )  # fmt: skip
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    used = {"beam": beam, "strategy": strategy, "seed": seed, "paper_filter": paper_filter}
    return _store_decodings(run, mode, vocab, rows, used)


def _store_decodings(
    run: TrainingRun,
    mode: str,
    vocab: Vocab,
    rows: Sequence[decode.ModeRow],
    settings: dict[str, Any],
) -> list[Decoding]:
    """`rows` as one batch of `Decoding`s, in order: the words of each row's sources (the two
    ends of an interpolation joined by an arrow) and of its sentence."""
    group = uuid.uuid4()
    return Decoding.objects.bulk_create(
        Decoding(
            run=run,
            mode=mode,
            batch=group,
            index=i,
            source=" → ".join(" ".join(vocab.decode(src)) for src in row.sources),
            text=" ".join(vocab.decode(row.tokens)),
            n_words=len(row.tokens),
            passes_filter=decode.display_filter(row.tokens),
            settings=settings,
        )
        for i, row in enumerate(rows)
    )


def _decode_inputs(
    run: TrainingRun,
    vocab: Vocab,
    max_len: int,
    *,
    mode: str,
    n: int,
    paper_filter: bool,
    seed: int,
    sentences: Sequence[str],
) -> list[list[int]]:
    """The sentences to encode (reconstruct, interpolate): the given ones, which must pass the
    paper filter when it is on, or a seeded choice among the test sentences (that pass)."""
    if sentences:
        sources = []
        for sentence in sentences:
            tokens = tokenize(sentence)
            if not tokens:
                raise ServiceError(f"nothing to decode in {sentence!r}")
            ids = vocab.encode(tokens[:max_len])
            if paper_filter and mode != Decoding.Mode.PRIOR and not decode.display_filter(ids):
                raise ServiceError(FILTER_REFUSED.format(sentence=sentence))
            sources.append(ids)
        return sources
    if mode == Decoding.Mode.PRIOR:
        return []
    test = load_encoded(run.corpus.directory, "test", vocab)
    if paper_filter:
        test = [s for s in test if decode.display_filter(s.tolist())]
    wanted = 2 if mode == Decoding.Mode.INTERPOLATE else n
    if len(test) < wanted:
        raise ServiceError(
            f"Corpus {run.corpus.name!r} has {len(test)} test sentences"
            f"{' passing the paper filter' if paper_filter else ''}; {wanted} wanted."
        )
    picks = np.random.default_rng(seed).choice(len(test), size=wanted, replace=False)
    return [test[i].tolist() for i in picks]
