"""Decoding a sentence VAE: the strategies of `models_core.nn.search` (batched beam search,
greedy and sampling) selected by name; then reconstruction, prior generation and interpolation
as Mansbridge et al. (2019) use them, and the paper's display filter.

- Reconstruction (Sect. 3.2): z ~ q(z|x) (or its mean), decoded by beam search.
- Generation (Sect. 3.3): z ~ N(0, I), decoded the same way.
- Interpolation (Sect. 3.4): z1, z2 from two sentences, decoded at 10 evenly spaced points.
- Display filter (Sect. 3.2): shown sentences have 4–20 words and no <unk>.
- `decode_mode`: one of the three for a survey (`DECODE_MODES`), as rows a product stores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from models_core.nn.data import collate
from models_core.nn.search import (
    DEFAULT_ALPHA,
    DEFAULT_BEAM,
    Decoded,
    Hypothesis,
    StepDecoder,
    _device,
    _inference,
    beam_search,
    greedy,
    make_generator,
    sample,
)
from models_core.nn.vocab import EOS, PAD, SOS, SPECIALS, UNK

__all__ = [
    "DECODE_MODES",
    "DEFAULT_ALPHA",
    "DEFAULT_BEAM",
    "DISPLAY_MAX_WORDS",
    "DISPLAY_MIN_WORDS",
    "INTERPOLATION_STEPS",
    "STRATEGIES",
    "Decoded",
    "Hypothesis",
    "ModeRow",
    "beam_search",
    "decode",
    "decode_mode",
    "display_filter",
    "generate",
    "generate_filtered",
    "greedy",
    "interpolate",
    "interpolation_path",
    "make_generator",
    "reconstruct",
    "sample",
]

# Sect. 3.4: "10 evenly spaced steps" from z1 to z2, both ends included.
INTERPOLATION_STEPS = 10
# Sect. 3.2: sentences shown in the paper's tables have 4–20 words and no unknown word.
DISPLAY_MIN_WORDS = 4
DISPLAY_MAX_WORDS = 20

Strategy = Literal["beam", "greedy", "sample"]
STRATEGIES: tuple[str, ...] = ("beam", "greedy", "sample")
Interpolation = Literal["linear", "spherical"]
# Below this angle between z1 and z2 slerp's sin(Ω) underflows; the arc is then a line anyway.
_SLERP_MIN_ANGLE = 1e-4


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


# ---------------------------------------------------------------------- decoding for a survey
DECODE_MODES = ("reconstruct", "prior", "interpolate")


class ModeRow(NamedTuple):
    """One sentence `decode_mode` decoded."""

    sources: list[list[int]]  # what it decodes: no sentence (prior), the one it reconstructs,
    # or the two ends of its interpolation path (word ids)
    tokens: list[int]  # the decoded word ids, without <eos>


def decode_mode(
    model: nn.Module,
    mode: str,
    sources: Sequence[Sequence[int]] = (),
    *,
    n: int = 1,
    strategy: str = "beam",
    beam: int = DEFAULT_BEAM,
    steps: int = INTERPOLATION_STEPS,
    paper_filter: bool = False,
    max_tries: int | None = None,
    generator: torch.Generator | None = None,
) -> list[ModeRow]:
    """Decode as a survey's mode (`DECODE_MODES`) asks; the product stores the rows.

    - ``prior``: up to `n` sentences from z ~ N(0, I) (`generate_filtered`); with
      `paper_filter`, only those `display_filter` passes, drawing `max_tries` at most
      (default `n`); `sources` is not used;
    - ``reconstruct``: each of `sources` re-decoded from z ~ q(z|x) (`reconstruct`), in order;
    - ``interpolate``: `steps` points between the two `sources` (`interpolate`).

    `strategy` names the decoder for every mode; `beam` applies to ``"beam"`` only, and
    `generator` draws every z (and the samples of ``"sample"``): same seed, same rows.

    Raises:
        ValueError: an unknown mode, ``interpolate`` without exactly two sources, or an
            option a decoder refuses (its message says which)
    """
    options: dict[str, Any] = {"strategy": strategy, "generator": generator}
    if strategy == "beam":
        options["beam"] = beam
    if mode == "prior":
        keep = display_filter if paper_filter else None
        tries = n if max_tries is None else max_tries
        outputs = generate_filtered(model, n, keep=keep, max_tries=tries, **options)
        return [ModeRow([], seq) for seq in outputs]
    if mode == "reconstruct":
        batch = collate(sources)
        out = reconstruct(model, batch.tokens, batch.lengths, **options)
        pairs = zip(sources, out.sequences, strict=True)
        return [ModeRow([list(src)], seq) for src, seq in pairs]
    if mode == "interpolate":
        if len(sources) != 2:
            raise ValueError("interpolate needs exactly two sentences.")
        batch = collate(sources)
        out = interpolate(model, batch.tokens, batch.lengths, steps=steps, **options)
        ends = [list(src) for src in sources]
        return [ModeRow(ends, seq) for seq in out.sequences]
    raise ValueError(f"unknown decoding mode {mode!r}; choose from {', '.join(DECODE_MODES)}")
