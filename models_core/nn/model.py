"""The sentence VAE of Bowman et al. (2016), as trained in Mansbridge et al. (2019), Sect. 3.

    tokens [B, T] ──embed──► LSTM encoder ──h_T──► Linear ──► mu, logvar [B, Z]
                                                               │ z = mu + σ·ε
    <sos> w1 … wn ──embed (word dropout)──┬─► LSTM decoder ◄── init_state(z)
                                 z [B, Z] ┘  (z at every step)   │ h [N, H], real tokens only
                                                                 ▼
                                        Linear [N, V] ─► cross entropy vs w1 … wn <eos>

Every model of the paper is this one module; they differ only in the objective
(`objectives.py`). Layout conventions (see `data.py`):

- ``tokens`` [B, T] LongTensor: word ids of each sentence followed by ``<eos>``, right-padded
  with ``<pad>`` = 0, *without* ``<sos>``; ``lengths`` [B] counts the real tokens (words + 1).
- The decoder reads ``<sos> w1 … wn`` and predicts ``w1 … wn <eos>``; both have length
  ``lengths[b]``.
- The LSTMs run on the padded [B, T] batch (cuDNN on CUDA, oneDNN's fused LSTM on CPU; on
  the CPU, packed sequences take a path that slices the input per time step and zero-fills a
  full-size gradient per slice, measured 1.5x slower in training). That is exact because an
  LSTM is causal: padding after a row's end never reaches that row's real outputs.
  `data.BucketBatcher` keeps that padding to ~1%.
- The V-way output projection and softmax, three quarters of the FLOPs at the paper's
  sizes, run on the N = sum(lengths) real positions only, gathered to [N, H] first.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from models_core.nn.config import ModelConfig
from models_core.nn.vocab import EOS, PAD, SOS, UNK

__all__ = [
    "EOS",
    "PAD",
    "SOS",
    "UNK",
    "BufferPool",
    "SentenceVAE",
    "State",
    "VAEOutput",
    "gaussian_kl",
    "linear_cross_entropy",
]

# Decoder LSTM state (h, c), each [num_layers, N, hidden_dim].
State = tuple[Tensor, Tensor]


class VAEOutput(NamedTuple):
    """One stochastic pass of `SentenceVAE.forward` over a batch of B sentences."""

    log_px: Tensor  # [B] log p(x|z) summed over each sentence's real tokens (incl. <eos>)
    kl: Tensor  # [B] KL(q(z|x) || N(0, I)) in closed form
    kl_dims: Tensor  # [B, Z] the same KL per latent dimension (free bits need it)
    mu: Tensor  # [B, Z]
    logvar: Tensor  # [B, Z]
    z: Tensor  # [B, Z] the sample the decoder was given
    num_tokens: int  # N = sum(lengths): targets scored


# Logits computed at once by `linear_cross_entropy`: 838 rows at V = 20k, 64 MB in float32.
# Measured at the paper's sizes on one core, 104 to 3354 rows per chunk all ran within noise
# (61–72 GFLOP/s for the whole layer), larger chunks a little faster (the GEMM's M grows);
# the bound matters for scoring without gradients, where only one chunk is ever alive.
CE_CHUNK_ELEMENTS = 1 << 24


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor,
    targets: Tensor,
    pool: BufferPool | None = None,
) -> Tensor:
    """−log softmax(hidden · weightᵀ + bias)[target] per row, fused and chunked over rows.

    Same values and gradients as ``F.cross_entropy(F.linear(hidden, weight, bias), targets,
    reduction="none")``, cheaper in time and memory: the [N, V] logits are computed chunk by
    chunk and turned in place into the gradient w.r.t. the logits (softmax − one-hot), and
    that one [N, V] buffer is all the backward pass needs (PyTorch's composite
    keeps log-probabilities, writes a one-hot gradient, then reads both again). Without
    gradients only one chunk is alive at a time, so scoring many samples of z costs no [N, V]
    memory. Under autocast the GEMMs run in the autocast dtype and the softmax in float32.

    Args:
        hidden: [N, H]; weight: [V, H]; bias: [V]; targets: [N] int64
        pool: reuses the [N, V] buffer from step to step (see `BufferPool`)
    Returns:
        [N] float32 negative log-likelihoods
    """
    device_type = hidden.device.type
    if torch.is_autocast_enabled(device_type):
        dtype = torch.get_autocast_dtype(device_type)
        hidden, weight, bias = hidden.to(dtype), weight.to(dtype), bias.to(dtype)
    with torch.autocast(device_type, enabled=False):
        if torch.is_grad_enabled() and (
            hidden.requires_grad or weight.requires_grad or bias.requires_grad
        ):
            return _LinearCrossEntropy.apply(hidden, weight, bias, targets, pool)
        return _chunked_nll(hidden, weight, bias, targets, None)


def _chunked_nll(
    hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor, grad_buf: Tensor | None
) -> Tensor:
    """NLL per row; with `grad_buf` [N, V], also fill it with softmax − one-hot."""
    n, v = hidden.shape[0], weight.shape[0]
    rows = max(1, CE_CHUNK_ELEMENTS // v)
    nll = torch.empty(n, dtype=torch.float32, device=hidden.device)
    scratch = None
    for start in range(0, n, rows):
        end = min(n, start + rows)
        if grad_buf is not None:
            logits = torch.addmm(bias, hidden[start:end], weight.t(), out=grad_buf[start:end])
        else:
            if scratch is None:
                scratch = hidden.new_empty((min(rows, n), v))
            logits = torch.addmm(bias, hidden[start:end], weight.t(), out=scratch[: end - start])
        # Half-precision logits are widened for the softmax; float32/64 are updated in place.
        probs = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        target = targets[start:end].unsqueeze(1)
        target_logit = probs.gather(1, target).squeeze(1)
        peak = probs.amax(1, keepdim=True)  # subtracted so exp cannot overflow
        total = probs.sub_(peak).exp_().sum(1, keepdim=True)
        nll[start:end] = (peak + total.log()).squeeze(1) - target_logit
        if grad_buf is not None:
            probs.div_(total).scatter_add_(1, target, probs.new_full(target.shape, -1.0))
            if probs is not logits:
                logits.copy_(probs)
    return nll


class BufferPool:
    """Hands the [N, V] gradient buffer of one training step to the next.

    A fresh buffer of that size (280 MB at the paper's sizes) is new memory from the OS each
    step, and its page faults cost ~0.1 s per step on the CPU, more than the whole softmax. A
    buffer returns to the pool only when its backward pass has run, so a graph still waiting
    for backward never shares its buffer; one that is never back-propagated simply keeps it.
    """

    def __init__(self) -> None:
        self._free: Tensor | None = None

    def take(self, numel: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """A flat buffer of at least `numel` elements (the pooled one when it fits)."""
        buf, self._free = self._free, None
        if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != device:
            buf = torch.empty(numel, dtype=dtype, device=device)
        return buf

    def give(self, buf: Tensor) -> None:
        self._free = buf


class _LinearCrossEntropy(torch.autograd.Function):
    """Autograd for `linear_cross_entropy`; saves one [N, V] buffer, consumed by backward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, pool):  # type: ignore[override]
        n, v = hidden.shape[0], weight.shape[0]
        flat = (pool or BufferPool()).take(n * v, hidden.dtype, hidden.device)
        grad_buf = flat[: n * v].view(n, v)
        nll = _chunked_nll(hidden, weight, bias, targets, grad_buf)
        ctx.save_for_backward(hidden, weight, grad_buf)
        ctx.pool, ctx.flat = pool, flat
        return nll

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_nll):  # type: ignore[override]
        # Scaling the saved buffer in place bumps its version, so autograd itself refuses a
        # second backward through this graph (retain_graph=True) instead of using stale data.
        hidden, weight, grad_logits = ctx.saved_tensors
        # d nll / d logits = softmax − one-hot, scaled per row by the incoming gradient.
        grad_logits.mul_(grad_nll.to(grad_logits.dtype).unsqueeze(1))
        grad_hidden = grad_logits @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad_logits.t() @ hidden if ctx.needs_input_grad[1] else None
        grad_bias = grad_logits.sum(0) if ctx.needs_input_grad[2] else None
        if ctx.pool is not None:
            # Same stream on CUDA: the next step's writes queue behind these reads.
            ctx.pool.give(ctx.flat)
        ctx.flat = None
        return grad_hidden, grad_weight, grad_bias, None, None


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per dimension (Kingma & Welling 2014, App. B).

    Args:
        mu, logvar: [..., Z]
    Returns:
        [..., Z]; sum over the last axis for the KL of the whole latent.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class SentenceVAE(nn.Module):
    """LSTM encoder q(z|x), LSTM decoder p(x|z), standard normal prior p(z).

    The embedding table is shared by encoder and decoder. The decoder's initial (h, c) is an
    affine map of z (tanh on h, whose LSTM range is (-1, 1)); with ``config.feed_z`` z is also
    concatenated to the decoder input at every step, as in the co-author's code, so the
    decoder cannot forget it over long sentences.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=PAD)
        self.encoder = nn.LSTM(c.embed_dim, c.hidden_dim, c.num_layers, batch_first=True)
        self.to_posterior = nn.Linear(c.hidden_dim, 2 * c.latent_dim)
        self.to_state = nn.Linear(c.latent_dim, 2 * c.num_layers * c.hidden_dim)
        decoder_in = c.embed_dim + (c.latent_dim if c.feed_z else 0)
        self.decoder = nn.LSTM(decoder_in, c.hidden_dim, c.num_layers, batch_first=True)
        self.output = nn.Linear(c.hidden_dim, c.vocab_size)
        self._ce_pool = BufferPool()  # not state: scratch memory reused across steps

    # ----------------------------------------------------------------------------- encoder
    def encode(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of q(z|x) from the encoder's last hidden state.

        Args:
            tokens: [B, T] word ids + <eos>, padded with <pad>, no <sos>
            lengths: [B] real tokens per row (CPU or same device; >= 1)
        Returns:
            mu, logvar: [B, Z] each, float32 even under autocast
        """
        tokens, lengths = _trim(tokens, lengths)
        out, _ = self.encoder(self.embedding(tokens))  # [B, T, H]
        # The LSTM is causal, so padding after a row's end cannot reach its last real output,
        # which is the top layer's final hidden state h_n for that row.
        last = out[torch.arange(len(lengths), device=out.device), lengths.to(out.device) - 1]
        mu, logvar = self.to_posterior(last).float().chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(
        mu: Tensor, logvar: Tensor, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> Tensor:
        """z = mu + exp(logvar / 2) · ε, ε ~ N(0, I) (Kingma & Welling 2014).

        Args:
            mu, logvar: [B, Z]
            n_samples: S samples per row
            generator: optional RNG (on mu's device) so evaluation need not touch the global one
        Returns:
            z: [B, S, Z]
        """
        b, z_dim = mu.shape
        eps = torch.randn(
            (b, n_samples, z_dim), generator=generator, device=mu.device, dtype=mu.dtype
        )
        return mu.unsqueeze(1) + (0.5 * logvar).exp().unsqueeze(1) * eps

    # ----------------------------------------------------------------------------- decoder
    def init_state(self, z: Tensor) -> State:
        """Decoder LSTM state from z.

        Args:
            z: [N, Z]
        Returns:
            (h, c): each [num_layers, N, H]
        """
        n = z.shape[0]
        layers, hidden = self.config.num_layers, self.config.hidden_dim
        h, c = self.to_state(z).view(n, 2, layers, hidden).permute(1, 2, 0, 3).unbind(0)
        return torch.tanh(h).contiguous(), c.contiguous()

    def decode_step(self, prev_ids: Tensor, state: State, z: Tensor) -> tuple[Tensor, State]:
        """One decoder step, for greedy / sampling / beam search decoding.

        Args:
            prev_ids: [N] previous token ids (<sos> at the first step)
            state: (h, c), each [num_layers, N, H] (from `init_state` or the previous step)
            z: [N, Z] the latent each row decodes (fed at every step when ``feed_z``)
        Returns:
            logits: [N, V] unnormalised scores of the next token
            state: the new (h, c)
        """
        x = self.embedding(prev_ids)
        if self.config.feed_z:
            x = torch.cat([x, z.to(x.dtype)], dim=-1)
        out, state = self.decoder(x.unsqueeze(1), state)
        return self.output(out.squeeze(1)), state

    def _log_px(
        self,
        tokens: Tensor,
        lengths: Tensor,
        z: Tensor,
        word_dropout: float,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """log p(x|z) per row by teacher forcing.

        Args:
            tokens: [B, T]; lengths: [B]; z: [B, Z]
            word_dropout: probability of replacing each decoder input word (not <sos>) by <unk>
        Returns:
            [B] float32
        """
        tokens, lengths = _trim(tokens, lengths)
        b, t = tokens.shape
        inputs = torch.cat([tokens.new_full((b, 1), SOS), tokens[:, :-1]], dim=1)
        if word_dropout > 0.0:
            drop = torch.rand((b, t), generator=generator, device=tokens.device) < word_dropout
            drop[:, 0] = False  # <sos> is kept: it marks the start, it carries no word
            inputs = inputs.masked_fill(drop, UNK)
        x = self.embedding(inputs)  # [B, T, E]
        if self.config.feed_z:
            x = torch.cat([x, z.to(x.dtype).unsqueeze(1).expand(b, t, -1)], dim=-1)
        out, _ = self.decoder(x, self.init_state(z))  # [B, T, H]
        real = torch.arange(t, device=tokens.device) < lengths.to(tokens.device).unsqueeze(1)
        # The V-way projection and fused log-softmax run on real tokens only: [N, H] -> [N, V].
        nll = linear_cross_entropy(
            out[real], self.output.weight, self.output.bias, tokens[real], self._ce_pool
        )
        # Per-row sums without atomics (deterministic on CUDA too): [N] -> [B, T] -> [B].
        return -torch.zeros((b, t), device=nll.device).masked_scatter_(real, nll).sum(1)

    def log_likelihood(self, tokens: Tensor, lengths: Tensor, z: Tensor) -> Tensor:
        """log p(x|z), no word dropout, for metrics such as importance-weighted NLL.

        Args:
            tokens: [B, T] word ids + <eos>, padded, no <sos>; lengths: [B]
            z: [B, Z] or [B, S, Z] (S latent samples per sentence)
        Returns:
            [B] or [B, S] float32: sum over each sentence's real tokens of log p(token | z, prefix)
        """
        if z.dim() == 2:
            return self._log_px(tokens, lengths, z, word_dropout=0.0)
        b, s, z_dim = z.shape
        flat = self._log_px(
            tokens.repeat_interleave(s, dim=0),
            lengths.repeat_interleave(s, dim=0),
            z.reshape(b * s, z_dim),
            word_dropout=0.0,
        )
        return flat.view(b, s)

    def forward(
        self, tokens: Tensor, lengths: Tensor, generator: torch.Generator | None = None
    ) -> VAEOutput:
        """One-sample estimate of the ELBO's terms (Eq. 1) for a batch.

        Word dropout is applied in train mode only. ``model(*batch)`` works for `data.Batch`.

        Args:
            tokens: [B, T] word ids + <eos>, padded with <pad>, no <sos>
            lengths: [B] real tokens per row
            generator: optional RNG for ε and word dropout (the global RNG otherwise)
        Returns:
            `VAEOutput` with log_px [B], kl [B], kl_dims [B, Z], mu, logvar, z [B, Z]
        """
        mu, logvar = self.encode(tokens, lengths)
        z = self.reparameterize(mu, logvar, generator=generator).squeeze(1)
        p = self.config.word_dropout if self.training else 0.0
        log_px = self._log_px(tokens, lengths, z, p, generator)
        kl_dims = gaussian_kl(mu, logvar)
        return VAEOutput(log_px, kl_dims.sum(-1), kl_dims, mu, logvar, z, int(lengths.sum()))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _trim(tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Drop all-padding columns past the longest row, so no LSTM step is spent on them."""
    longest = int(lengths.max())
    return (tokens[:, :longest] if tokens.shape[1] > longest else tokens), lengths
