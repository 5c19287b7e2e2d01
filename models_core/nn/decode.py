"""Decoding a sentence VAE: batched beam search, greedy and sampling, selected by name; then
reconstruction, prior generation and interpolation as Mansbridge et al. (2019) use them.

- Reconstruction (Sect. 3.2): z ~ q(z|x) (or its mean), decoded by beam search.
- Generation (Sect. 3.3): z ~ N(0, I), decoded the same way.
- Interpolation (Sect. 3.4): z1, z2 from two sentences, decoded at 10 evenly spaced points.
- Display filter (Sect. 3.2): shown sentences have 4–20 words and no <unk>.

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

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from models_core.nn.vocab import EOS, PAD, SOS, SPECIALS, UNK

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BEAM",
    "DISPLAY_MAX_WORDS",
    "DISPLAY_MIN_WORDS",
    "INTERPOLATION_STEPS",
    "STRATEGIES",
    "Decoded",
    "Hypothesis",
    "beam_search",
    "decode",
    "display_filter",
    "generate",
    "greedy",
    "interpolate",
    "interpolation_path",
    "make_generator",
    "reconstruct",
    "sample",
]

# Beam width of the co-author's code (PAPER.md, "Details the paper leaves out").
DEFAULT_BEAM = 15
# fairseq's default ``lenpen``: rank finished hypotheses by mean log-probability per token.
DEFAULT_ALPHA = 1.0
# Sect. 3.4: "10 evenly spaced steps" from z1 to z2, both ends included.
INTERPOLATION_STEPS = 10
# Sect. 3.2: sentences shown in the paper's tables have 4–20 words and no unknown word.
DISPLAY_MIN_WORDS = 4
DISPLAY_MAX_WORDS = 20

Strategy = Literal["beam", "greedy", "sample"]
STRATEGIES: tuple[str, ...] = ("beam", "greedy", "sample")
Interpolation = Literal["linear", "spherical"]
_NEG_INF = float("-inf")
# Never targets in training, so never emitted (fairseq masks <pad> the same way). They are
# masked for the choice only: the normaliser includes them, log-probabilities stay the model's.
_NEVER_EMITTED = (PAD, SOS)
# Below this angle between z1 and z2 slerp's sin(Ω) underflows; the arc is then a line anyway.
_SLERP_MIN_ANGLE = 1e-4


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
    device = z.device
    b = z.shape[0]
    t_max = max_len + 1  # tokens, the last one <eos>
    # lp[n - 1] = n**alpha for a hypothesis of n tokens; lp_reach[i] = the largest divisor a
    # hypothesis still live after i + 1 tokens can end with (any length from i + 2 to T).
    lp = torch.arange(1, t_max + 1, device=device, dtype=torch.float32).pow(alpha)
    lp_reach = torch.cat([lp.flip(0).cummax(0).values.flip(0)[1:], lp[-1:]])

    never = torch.tensor(_NEVER_EMITTED, device=device)
    active = torch.arange(b, device=device)  # original row of each active sentence
    zk = z.repeat_interleave(k, dim=0)  # [b·K, Z]
    state = model.init_state(zk)
    prev = torch.full((b * k,), SOS, dtype=torch.long, device=device)
    # All K beams start identical: only beam 0 may expand at the first step.
    alive_score = torch.full((b, k), _NEG_INF, device=device)
    alive_score[:, 0] = 0.0
    alive_seq = torch.full((b, k, t_max), PAD, dtype=torch.long, device=device)
    fin_score = torch.full((b, k), _NEG_INF, device=device)
    fin_logp = torch.full((b, k), _NEG_INF, device=device)
    fin_len = torch.zeros((b, k), dtype=torch.long, device=device)
    fin_seq = torch.full((b, k, t_max), PAD, dtype=torch.long, device=device)

    for t in range(t_max):
        n = active.numel()
        logits, state = model.decode_step(prev, state, zk)
        logits = logits.float()
        vocab = logits.shape[-1]
        barred = logits.index_select(1, never)
        logits.index_fill_(1, never, _NEG_INF)
        # log p = logit − log-normaliser. Ranking candidates within a beam needs only the
        # logits (the normaliser is a per-row constant), so no [b·K, V] log-softmax or score
        # sum is materialised: top-2K logits per beam first, then the normaliser computed in
        # place over the logits, then offsets on [b·K, 2K] only.
        if t == t_max - 1:
            eos_logit = logits[:, EOS].clone()
            offset = alive_score.view(-1) - _log_normaliser_(logits, logits.amax(1), barred)
            cand_score = (offset + eos_logit).view(n, k)  # [n, K]
            cand_beam = torch.arange(k, device=device).expand(n, k)
            cand_tok = torch.full((n, k), EOS, dtype=torch.long, device=device)
        else:
            per_beam = min(2 * k, vocab)
            top_logit, top_tok = logits.topk(per_beam, dim=-1)  # [b·K, P]
            offset = alive_score.view(-1) - _log_normaliser_(logits, top_logit[:, 0], barred)
            flat = (top_logit + offset.unsqueeze(1)).view(n, k * per_beam)
            cand_score, pick = flat.topk(min(2 * k, k * per_beam), dim=-1)  # [n, C]
            cand_beam = torch.div(pick, per_beam, rounding_mode="floor")
            cand_tok = top_tok.view(n, k * per_beam).gather(1, pick)
        c = cand_tok.shape[1]
        cand_seq = alive_seq.gather(1, cand_beam.unsqueeze(-1).expand(n, c, t_max))
        cand_seq[:, :, t] = cand_tok
        is_eos = cand_tok == EOS

        # Merge the candidates ending now into the pool of K finished per sentence.
        ended = cand_score.masked_fill(~is_eos, _NEG_INF)
        pool_score, pool_pick = torch.cat([fin_score[active], ended / lp[t]], dim=1).topk(k, 1)
        pool_logp = torch.cat([fin_logp[active], ended], dim=1).gather(1, pool_pick)
        pool_len = torch.cat([fin_len[active], torch.full_like(cand_tok, t + 1)], 1)
        pool_seq = torch.cat([fin_seq[active], cand_seq], dim=1)
        fin_score[active] = pool_score
        fin_logp[active] = pool_logp
        fin_len[active] = pool_len.gather(1, pool_pick)
        fin_seq[active] = pool_seq.gather(1, pool_pick.unsqueeze(-1).expand(n, k, t_max))
        if t == t_max - 1:
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

    return _collect(fin_seq, fin_len, fin_logp, fin_score, n_best, z)


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


def decode(
    model: StepDecoder,
    z: Tensor,
    strategy: Strategy = "beam",
    *,
    beam: int = DEFAULT_BEAM,
    n_best: int = 1,
    alpha: float = DEFAULT_ALPHA,
    early_stopping: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    max_len: int | None = None,
    generator: torch.Generator | None = None,
) -> Decoded:
    """Decode B latents with the strategy named ``"beam"``, ``"greedy"`` or ``"sample"``.

    Options that do not apply to the strategy are ignored (``beam`` for greedy decoding, …);
    see `beam_search`, `greedy` and `sample`.

    Args:
        z: [B, Z] latents (moved to the model's device)
    Returns:
        `Decoded` (sequences [B] of word ids without <eos>, hypotheses, z)
    """
    if strategy == "beam":
        return beam_search(
            model,
            z,
            beam=beam,
            n_best=n_best,
            alpha=alpha,
            max_len=max_len,
            early_stopping=early_stopping,
        )
    if strategy == "greedy":
        return greedy(model, z, max_len=max_len)
    if strategy == "sample":
        return sample(
            model, z, temperature=temperature, top_k=top_k, max_len=max_len, generator=generator
        )
    raise ValueError(f"unknown decoding strategy {strategy!r}; choose from {STRATEGIES}")


# ------------------------------------------------------- reconstruction, generation, paths
def _posterior_z(
    model: nn.Module,
    tokens: Tensor,
    lengths: Tensor,
    use_mean: bool,
    generator: torch.Generator | None,
) -> Tensor:
    with _inference(model):
        mu, logvar = model.encode(tokens.to(_device(model)), lengths)
        if use_mean:
            return mu
        return model.reparameterize(mu, logvar, generator=generator).squeeze(1)


def reconstruct(
    model: nn.Module,
    tokens: Tensor,
    lengths: Tensor,
    *,
    use_mean: bool = False,
    strategy: Strategy = "beam",
    generator: torch.Generator | None = None,
    **options: Any,
) -> Decoded:
    """Reconstruct sentences: z ~ q(z|x) (Sect. 3.2; each run differs) or z = E[z|x], decoded.

    Args:
        tokens: [B, T] word ids + <eos>, padded, no <sos> (a `data.Batch`'s layout)
        lengths: [B] real tokens per row
        use_mean: decode the posterior mean instead of a sample
        strategy, options: as `decode` (``beam=``, ``alpha=``, ``max_len=``, …)
        generator: RNG on the model's device for z (and for sampling)
    """
    z = _posterior_z(model, tokens, lengths, use_mean, generator)
    return decode(model, z, strategy, generator=generator, **options)  # type: ignore[arg-type]


def generate(
    model: nn.Module,
    n: int,
    *,
    strategy: Strategy = "beam",
    generator: torch.Generator | None = None,
    **options: Any,
) -> Decoded:
    """Sentences from the prior: z ~ N(0, I) (Sect. 3.3), decoded by `strategy`.

    Args:
        n: sentences to generate
        generator: RNG on the model's device; same seed, same sentences
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    z = torch.randn((n, model.config.latent_dim), generator=generator, device=_device(model))  # type: ignore[union-attr]
    return decode(model, z, strategy, generator=generator, **options)  # type: ignore[arg-type]


def interpolation_path(
    z1: Tensor, z2: Tensor, steps: int = INTERPOLATION_STEPS, *, mode: Interpolation = "linear"
) -> Tensor:
    """`steps` evenly spaced points from z1 to z2, both ends included.

    ``linear``: (1 − w)·z1 + w·z2 with w = 0, 1/(steps−1), …, 1 (Sect. 3.4). ``spherical``:
    slerp (Shoemake 1985; White 2016 for generative models) of the directions, even steps in
    angle, with the norm interpolated linearly: points stay near the shell where a Gaussian
    prior's samples lie instead of cutting through its low-density centre.

    Args:
        z1, z2: [Z]
    Returns:
        [steps, Z]
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (both ends), got {steps}")
    if mode not in ("linear", "spherical"):
        raise ValueError(f"unknown interpolation {mode!r}; choose from ('linear', 'spherical')")
    w = torch.linspace(0.0, 1.0, steps, device=z1.device, dtype=z1.dtype).unsqueeze(1)
    if mode == "spherical":
        n1, n2 = z1.norm(), z2.norm()
        tiny = torch.finfo(z1.dtype).tiny
        u1, u2 = z1 / n1.clamp_min(tiny), z2 / n2.clamp_min(tiny)
        omega = float(torch.arccos(torch.dot(u1, u2).clamp(-1.0, 1.0)))
        if omega > _SLERP_MIN_ANGLE:
            s = math.sin(omega)
            direction = (torch.sin((1 - w) * omega) * u1 + torch.sin(w * omega) * u2) / s
            return direction * ((1 - w) * n1 + w * n2)
    return (1 - w) * z1 + w * z2


def interpolate(
    model: nn.Module,
    tokens: Tensor,
    lengths: Tensor,
    *,
    steps: int = INTERPOLATION_STEPS,
    mode: Interpolation = "linear",
    use_mean: bool = True,
    strategy: Strategy = "beam",
    generator: torch.Generator | None = None,
    **options: Any,
) -> Decoded:
    """Decode the path between two sentences' latents (Sect. 3.4, Table 5).

    Args:
        tokens: [2, T] the two sentences (a `data.Batch` of two); lengths: [2]
        steps: points on the path, both ends included (paper: 10)
        mode: ``linear`` or ``spherical``
        use_mean: ends at the posterior means (default; reproducible) or at samples
    Returns:
        `Decoded` with `steps` rows, row 0 decoding z1 and the last row z2; ``.z`` the path
    """
    if tokens.shape[0] != 2:
        raise ValueError(f"interpolate needs exactly 2 sentences, got {tokens.shape[0]}")
    ends = _posterior_z(model, tokens, lengths, use_mean, generator)
    path = interpolation_path(ends[0], ends[1], steps, mode=mode)
    return decode(model, path, strategy, generator=generator, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ display filter
# Specials by id and by name, both from the vocabulary's definitions (vocab.py: SPECIALS[i] is
# the word of id i), so the filter cannot drift from the vocabulary.
_NOT_WORD_IDS = (PAD, SOS, EOS)
_NOT_WORDS = frozenset({*_NOT_WORD_IDS, *(SPECIALS[i] for i in _NOT_WORD_IDS)})
_UNKNOWN = frozenset({UNK, SPECIALS[UNK]})


def display_filter(
    tokens: Sequence[int] | Sequence[str],
    *,
    min_words: int = DISPLAY_MIN_WORDS,
    max_words: int = DISPLAY_MAX_WORDS,
) -> bool:
    """Whether the paper would show this sentence: 4–20 words, no <unk> (Sect. 3.2).

    Works on word ids or on words; <pad>, <sos> and <eos> are not words and are not counted.
    """
    words = [t for t in tokens if t not in _NOT_WORDS]
    if any(t in _UNKNOWN for t in words):
        return False
    return min_words <= len(words) <= max_words


# Prior samples drawn at least per round while filtering: few tiny rounds cost more than waste.
FILTERED_MIN_BATCH = 8


def generate_filtered(
    model: nn.Module,
    n: int,
    *,
    keep: Callable[[list[int]], bool] | None = None,
    max_tries: int,
    strategy: Strategy = "beam",
    generator: torch.Generator | None = None,
    **options: Any,
) -> list[list[int]]:
    """Up to `n` prior samples (`generate`) that `keep` accepts, e.g. :func:`display_filter`.

    Draws in rounds (the missing count, at least ``FILTERED_MIN_BATCH`` when filtering) until
    it has `n` or has drawn `max_tries`; may return fewer. Without `keep`, one round of `n`.
    """
    kept: list[list[int]] = []
    tries = 0
    while len(kept) < n and tries < max_tries:
        batch = n - len(kept) if keep is None else max(n - len(kept), FILTERED_MIN_BATCH)
        tries += batch
        out = generate(model, batch, strategy=strategy, generator=generator, **options)
        kept += [seq for seq in out.sequences if keep is None or keep(seq)]
    return kept[:n]
