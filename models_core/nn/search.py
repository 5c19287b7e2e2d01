"""Decoding strategies: how a batch of latents becomes sentences. Batched beam search, greedy
decoding and ancestral sampling; `models_core.nn.decode` selects them by name and builds
reconstruction, prior generation and interpolation on them.

Every strategy decodes a whole batch of latents at once: one ``decode_step`` call per time step
for all rows (and, for beam search, all B·K beams of all B sentences in one [B·K] tensor). The
per-step work is tensor operations whose number does not grow with the batch; sentences that
are done leave the batch (the rows kept are gathered), so the last long sentence does not
drag finished ones through the LSTM and the V-way projection.

Layout in beam search (K beams, T = max_len + 1 tokens, the last one <eos>):

    state (h, c)  [L, b·K, H]   row r·K + k is beam k of active sentence r
    alive_seq     [b, K, T]     tokens of the K live hypotheses, <pad> after step t
    alive_score   [b, K]        their summed log-probabilities (natural log)
    fin_*         [B, K, …]     the K best finished hypotheses of every sentence, by score

Scores of finished hypotheses are length-normalised, log p(y|z) / |y|^alpha with |y| counting
<eos> (Wu et al. 2016 use ((5+|y|)/6)^alpha; fairseq's ``lenpen`` divides by |y|^alpha as
here). alpha = 0 ranks by log-probability, which favours short sentences; alpha = 1 by mean
log-probability per token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from models_core.nn.vocab import EOS, PAD, SOS

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BEAM",
    "Decoded",
    "Hypothesis",
    "StepDecoder",
    "beam_search",
    "greedy",
    "make_generator",
    "sample",
]

# Beam width of the co-author's code (PAPER.md, "Details the paper leaves out").
DEFAULT_BEAM = 15
# fairseq's default ``lenpen``: rank finished hypotheses by mean log-probability per token.
DEFAULT_ALPHA = 1.0

_NEG_INF = float("-inf")
# Never targets in training, so never emitted (fairseq masks <pad> the same way). They are
# masked for the choice only: the normaliser includes them, log-probabilities stay the model's.
_NEVER_EMITTED = (PAD, SOS)


class StepDecoder(Protocol):
    """What the decoders need of a model; `SentenceVAE` provides it."""

    config: Any  # `ModelConfig`: latent_dim, max_len

    def init_state(self, z: Tensor) -> tuple[Tensor, Tensor]: ...

    def decode_step(
        self, prev_ids: Tensor, state: tuple[Tensor, Tensor], z: Tensor
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits [N, V] (a fresh tensor: the decoders mask <pad>, <sos> in place) and state."""
        ...


class Hypothesis(NamedTuple):
    """One decoded sentence."""

    tokens: list[int]  # word ids, without <sos> and <eos>
    log_prob: float  # log p(tokens, <eos> | z) under the model (temperature 1), natural log
    score: float  # what ranked it: log_prob / (len(tokens) + 1)**alpha in beam search,
    # log_prob for greedy and sampling


class Decoded(NamedTuple):
    """Decoder output for B latents."""

    sequences: list[list[int]]  # [B] the best hypothesis's word ids per row
    hypotheses: list[list[Hypothesis]]  # [B][≤ n_best] best first (one for greedy / sample)
    z: Tensor  # [B, Z] the latents decoded, on the model's device (an inference tensor)


# ------------------------------------------------------------------------------------ helpers
def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def make_generator(seed: int, model: nn.Module) -> torch.Generator:
    """A `torch.Generator` on the model's device seeded with `seed`: same seed, same output."""
    return torch.Generator(_device(model)).manual_seed(seed)


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode (no word dropout) and no autograd; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _select_rows(state: tuple[Tensor, Tensor], rows: Tensor) -> tuple[Tensor, Tensor]:
    """Rows of an LSTM state laid out [layers, N, H]."""
    return state[0].index_select(1, rows), state[1].index_select(1, rows)


def _max_len(model: StepDecoder, max_len: int | None) -> int:
    max_len = model.config.max_len if max_len is None else max_len
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0 words, got {max_len}")
    return max_len


def _prepare_z(model: nn.Module, z: Tensor) -> Tensor:
    if z.dim() != 2:
        raise ValueError(f"z must be [B, latent_dim], got shape {tuple(z.shape)}")
    return z.to(_device(model))


def _log_normaliser_(logits: Tensor, row_max: Tensor, barred: Tensor) -> Tensor:
    """log Σ_v exp(logit_v) per row over the whole vocabulary, overwriting `logits`.

    In place, so a step allocates no second [N, V] tensor (a fresh 80 MB buffer per step
    costs more in page faults than the arithmetic). `logits` holds the never-emitted columns
    at −inf and `barred` [N, 2] their real values, so the normaliser, and every reported
    log-probability, is the model's own. `row_max` [N] is the row maximum of `logits`.
    """
    m = torch.maximum(row_max, barred.amax(1)).unsqueeze(1)
    total = logits.sub_(m).exp_().sum(1) + (barred - m).exp().sum(1)
    return total.log_().add_(m.squeeze(1))


# -------------------------------------------------------------------------------- beam search
def beam_search(
    model: StepDecoder,
    z: Tensor,
    *,
    beam: int = DEFAULT_BEAM,
    n_best: int = 1,
    alpha: float = DEFAULT_ALPHA,
    max_len: int | None = None,
    early_stopping: bool = False,
) -> Decoded:
    """Batched beam search: K beams for each of B latents, all B·K rows in one step call.

    Each step scores every one-token extension of every live beam, keeps the 2K best per
    sentence (at most K of them end in <eos>, one per beam, so K live ones always remain),
    moves those ending in <eos> into the sentence's pool of K finished hypotheses (ranked by
    length-normalised score) and continues with the K best that do not end. At the length
    limit only <eos> may follow (fairseq does the same), so every hypothesis is a complete
    sentence of at most `max_len` words.

    A sentence is done when no live beam can still enter its `n_best` best finished ones:
    a live log-probability a ≤ 0 only falls, so its best possible score is a / max |y|^alpha
    over the lengths still reachable. That stop is exact. With ``early_stopping`` a sentence
    stops as soon as it has K finished hypotheses (fairseq, Hugging Face ``early_stopping``):
    faster, and the usual practice, but a longer hypothesis could have scored better.

    Args:
        model: a `SentenceVAE` (anything with `init_state` and `decode_step`)
        z: [B, Z] latents
        beam: K, beams per sentence (paper default 15)
        n_best: hypotheses returned per sentence, 1 ≤ n_best ≤ K
        alpha: length normalisation exponent (score = log p / |y|^alpha, |y| with <eos>)
        max_len: most words per sentence (default ``model.config.max_len``)
        early_stopping: stop a sentence once K hypotheses have finished
    Returns:
        `Decoded`: best word ids per row, and up to `n_best` hypotheses per row, best first
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if not 1 <= n_best <= beam:
        raise ValueError(f"n_best must be in [1, beam={beam}], got {n_best}")
    max_len = _max_len(model, max_len)
    with _inference(model):  # type: ignore[arg-type]
        z = _prepare_z(model, z)  # type: ignore[arg-type]
        return _beam_search(model, z, beam, n_best, alpha, max_len, early_stopping)


def _beam_search(
    model: StepDecoder,
    z: Tensor,
    k: int,
    n_best: int,
    alpha: float,
    max_len: int,
    early_stopping: bool,
) -> Decoded:
    """`beam_search` on checked arguments, under `_inference`. Each step: the candidates
    (`_candidates`), the finished pools (`_Finished.merge`), the K live beams of each
    sentence, and the sentences that are done leave the batch."""
    device = z.device
    b = z.shape[0]
    t_max = max_len + 1  # tokens, the last one <eos>
    lp, lp_reach = _length_penalties(t_max, alpha, device)
    never = torch.tensor(_NEVER_EMITTED, device=device)
    active = torch.arange(b, device=device)  # original row of each active sentence
    zk = z.repeat_interleave(k, dim=0)  # [b·K, Z]
    state = model.init_state(zk)
    prev = torch.full((b * k,), SOS, dtype=torch.long, device=device)
    # All K beams start identical: only beam 0 may expand at the first step.
    alive_score = torch.full((b, k), _NEG_INF, device=device)
    alive_score[:, 0] = 0.0
    alive_seq = torch.full((b, k, t_max), PAD, dtype=torch.long, device=device)
    fin = _Finished.empty(b, k, t_max, device)

    for t in range(t_max):
        n = active.numel()
        logits, state = model.decode_step(prev, state, zk)
        last = t == t_max - 1
        cand_score, cand_beam, cand_tok = _candidates(logits.float(), never, alive_score, last)
        cand_seq = alive_seq.gather(1, cand_beam.unsqueeze(-1).expand(n, -1, t_max))
        cand_seq[:, :, t] = cand_tok
        is_eos = cand_tok == EOS
        pool_score = fin.merge(active, cand_score, cand_tok, cand_seq, is_eos, t, lp[t])
        if last:
            break

        # Continue with the K best candidates that did not end.
        alive_score, keep = cand_score.masked_fill(is_eos, _NEG_INF).topk(k, dim=1)
        beam_of = cand_beam.gather(1, keep)
        prev = cand_tok.gather(1, keep).view(-1)
        alive_seq = cand_seq.gather(1, keep.unsqueeze(-1).expand(n, k, t_max))
        rows = (torch.arange(n, device=device).unsqueeze(1) * k + beam_of).view(-1)
        state = _select_rows(state, rows)

        if early_stopping:
            done = pool_score[:, k - 1] > _NEG_INF
        else:
            nth = pool_score[:, n_best - 1]
            done = (nth > _NEG_INF) & (alive_score[:, 0] / lp_reach[t] <= nth)
        n_done = int(done.sum())  # the step's one host sync
        if n_done == n:
            break
        if n_done:
            keep_sent = ~done
            active = active[keep_sent]
            alive_score = alive_score[keep_sent]
            alive_seq = alive_seq[keep_sent]
            keep_rows = keep_sent.repeat_interleave(k).nonzero().squeeze(1)
            state = _select_rows(state, keep_rows)
            zk = zk.index_select(0, keep_rows)
            prev = prev.index_select(0, keep_rows)

    return _collect(fin.seq, fin.length, fin.logp, fin.score, n_best, z)


def _length_penalties(t_max: int, alpha: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """(lp, lp_reach), both [T]: lp[n - 1] = n**alpha for a hypothesis of n tokens;
    lp_reach[i] = the largest divisor a hypothesis still live after i + 1 tokens can end
    with (any length from i + 2 to T)."""
    lp = torch.arange(1, t_max + 1, device=device, dtype=torch.float32).pow(alpha)
    lp_reach = torch.cat([lp.flip(0).cummax(0).values.flip(0)[1:], lp[-1:]])
    return lp, lp_reach


def _candidates(
    logits: Tensor, never: Tensor, alive_score: Tensor, last: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """The best one-token extensions of the live beams: (score, beam, token), each [n, C].

    `logits` [n·K, V] float32 (overwritten) of the n active sentences' K beams; `never` the
    ids that are never emitted; `alive_score` [n, K]. At the `last` step only <eos> may
    follow: C = K, one per beam. Before, C = 2K of the K·2K per-beam best.
    """
    n, k = alive_score.shape
    device = logits.device
    vocab = logits.shape[-1]
    barred = logits.index_select(1, never)
    logits.index_fill_(1, never, _NEG_INF)
    # log p = logit − log-normaliser. Ranking candidates within a beam needs only the
    # logits (the normaliser is a per-row constant), so no [b·K, V] log-softmax or score
    # sum is materialised: top-2K logits per beam first, then the normaliser computed in
    # place over the logits, then offsets on [b·K, 2K] only.
    if last:
        eos_logit = logits[:, EOS].clone()
        offset = alive_score.view(-1) - _log_normaliser_(logits, logits.amax(1), barred)
        cand_score = (offset + eos_logit).view(n, k)  # [n, K]
        cand_beam = torch.arange(k, device=device).expand(n, k)
        cand_tok = torch.full((n, k), EOS, dtype=torch.long, device=device)
        return cand_score, cand_beam, cand_tok
    per_beam = min(2 * k, vocab)
    top_logit, top_tok = logits.topk(per_beam, dim=-1)  # [b·K, P]
    offset = alive_score.view(-1) - _log_normaliser_(logits, top_logit[:, 0], barred)
    flat = (top_logit + offset.unsqueeze(1)).view(n, k * per_beam)
    cand_score, pick = flat.topk(min(2 * k, k * per_beam), dim=-1)  # [n, C]
    cand_beam = torch.div(pick, per_beam, rounding_mode="floor")
    cand_tok = top_tok.view(n, k * per_beam).gather(1, pick)
    return cand_score, cand_beam, cand_tok


class _Finished(NamedTuple):
    """The K best finished hypotheses of each of the B sentences, best first."""

    score: Tensor  # [B, K] length-normalised log-probability; −inf for an empty slot
    logp: Tensor  # [B, K] log-probability
    length: Tensor  # [B, K] tokens, <eos> included
    seq: Tensor  # [B, K, T] tokens, <pad> after <eos>

    @classmethod
    def empty(cls, b: int, k: int, t_max: int, device: torch.device) -> _Finished:
        """B pools of K empty slots, for hypotheses of up to `t_max` tokens."""
        return cls(
            torch.full((b, k), _NEG_INF, device=device),
            torch.full((b, k), _NEG_INF, device=device),
            torch.zeros((b, k), dtype=torch.long, device=device),
            torch.full((b, k, t_max), PAD, dtype=torch.long, device=device),
        )

    def merge(
        self,
        active: Tensor,
        cand_score: Tensor,
        cand_tok: Tensor,
        cand_seq: Tensor,
        is_eos: Tensor,
        t: int,
        lp_t: Tensor,
    ) -> Tensor:
        """Merge the candidates ending at step `t` into the pools of the `active` sentences
        (in place); returns their new pool scores [n, K]."""
        n, k = active.numel(), self.score.shape[1]
        t_max = self.seq.shape[2]
        ended = cand_score.masked_fill(~is_eos, _NEG_INF)
        pool_score, pool_pick = torch.cat([self.score[active], ended / lp_t], dim=1).topk(k, 1)
        pool_logp = torch.cat([self.logp[active], ended], dim=1).gather(1, pool_pick)
        pool_len = torch.cat([self.length[active], torch.full_like(cand_tok, t + 1)], 1)
        pool_seq = torch.cat([self.seq[active], cand_seq], dim=1)
        self.score[active] = pool_score
        self.logp[active] = pool_logp
        self.length[active] = pool_len.gather(1, pool_pick)
        self.seq[active] = pool_seq.gather(1, pool_pick.unsqueeze(-1).expand(n, k, t_max))
        return pool_score


def _collect(
    seq: Tensor, length: Tensor, logp: Tensor, score: Tensor, n_best: int, z: Tensor
) -> Decoded:
    """Hypotheses as Python lists: one device-to-host copy, then per-row list work."""
    seq_l, len_l = seq[:, :n_best].tolist(), length[:, :n_best].tolist()
    logp_l, score_l = logp[:, :n_best].tolist(), score[:, :n_best].tolist()
    hypotheses = [
        [
            Hypothesis(s[: n_tok - 1], lp_, sc)
            for s, n_tok, lp_, sc in zip(ss, ns, lps, scs, strict=True)
            if sc > _NEG_INF
        ]
        for ss, ns, lps, scs in zip(seq_l, len_l, logp_l, score_l, strict=True)
    ]
    return Decoded([h[0].tokens if h else [] for h in hypotheses], hypotheses, z)


# ---------------------------------------------------------------------- greedy and sampling
def _sequential(
    model: StepDecoder, z: Tensor, choose: Callable[[Tensor], Tensor], max_len: int
) -> Decoded:
    """One token per row per step, chosen by `choose(logits [n, V]) -> ids [n]`."""
    device = z.device
    b = z.shape[0]
    t_max = max_len + 1
    never = torch.tensor(_NEVER_EMITTED, device=device)
    active = torch.arange(b, device=device)
    state = model.init_state(z)
    zk = z
    prev = torch.full((b,), SOS, dtype=torch.long, device=device)
    seq = torch.full((b, t_max), PAD, dtype=torch.long, device=device)
    logp = torch.zeros(b, device=device)
    length = torch.full((b,), t_max, dtype=torch.long, device=device)
    for t in range(t_max):
        logits, state = model.decode_step(prev, state, zk)
        logits = logits.float()
        barred = logits.index_select(1, never)
        logits.index_fill_(1, never, _NEG_INF)
        if t == t_max - 1:  # at the length limit only <eos> may follow, as in beam search
            tok = torch.full((active.numel(),), EOS, dtype=torch.long, device=device)
        else:
            tok = choose(logits)
        chosen = logits.gather(1, tok.unsqueeze(1)).squeeze(1)
        step_logp = chosen - _log_normaliser_(logits, logits.amax(1), barred)
        seq[active, t] = tok
        logp.index_add_(0, active, step_logp)
        ended = tok == EOS
        n_ended = int(ended.sum())  # the step's one host sync
        if n_ended == active.numel():
            length[active] = t + 1
            break
        if n_ended:
            length[active[ended]] = t + 1
            keep = (~ended).nonzero().squeeze(1)
            active = active.index_select(0, keep)
            state = _select_rows(state, keep)
            zk = zk.index_select(0, keep)
            tok = tok.index_select(0, keep)
        prev = tok
    logp_col = logp.unsqueeze(1)
    return _collect(seq.unsqueeze(1), length.unsqueeze(1), logp_col, logp_col, 1, z)


def greedy(model: StepDecoder, z: Tensor, *, max_len: int | None = None) -> Decoded:
    """The most probable next token at every step, for all B latents at once.

    Args:
        z: [B, Z]; max_len: most words (default ``model.config.max_len``)
    """
    max_len = _max_len(model, max_len)
    with _inference(model):  # type: ignore[arg-type]
        z = _prepare_z(model, z)  # type: ignore[arg-type]
        return _sequential(model, z, lambda logits: logits.argmax(-1), max_len)


def sample(
    model: StepDecoder,
    z: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    max_len: int | None = None,
    generator: torch.Generator | None = None,
) -> Decoded:
    """Ancestral sampling from softmax(logits / temperature), optionally among the top k.

    Temperature 0 is greedy decoding. `Hypothesis.log_prob` is the model's own log p (at
    temperature 1), so samples from different temperatures are scored alike.

    Args:
        z: [B, Z]
        temperature: > 0 flattens (> 1) or sharpens (< 1) the distribution; 0 takes the argmax
        top_k: sample only among the k most probable tokens (Fan et al. 2018); None for all
        generator: RNG on the model's device (`make_generator`); same seed, same sentences
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    max_len = _max_len(model, max_len)

    def choose(logits: Tensor) -> Tensor:
        if temperature == 0:
            return logits.argmax(-1)
        if top_k is not None and top_k < logits.shape[-1]:
            top, ids = logits.topk(top_k, dim=-1)
            pick = torch.multinomial(torch.softmax(top / temperature, -1), 1, generator=generator)
            return ids.gather(1, pick).squeeze(1)
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    with _inference(model):  # type: ignore[arg-type]
        z = _prepare_z(model, z)  # type: ignore[arg-type]
        return _sequential(model, z, choose, max_len)
