"""SentenceVAE: shapes, padding invariance, decode_step agreement, KL, word dropout."""

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

import models_core.nn.model as model_module
from models_core.nn.config import ModelConfig, preset
from models_core.nn.model import BufferPool, SentenceVAE, gaussian_kl, linear_cross_entropy
from models_core.nn.train import autocast, cpu_runs_bf16_lstm
from models_core.nn.vocab import EOS, PAD, SOS, UNK, Vocab

CFG = preset("tiny").model  # vocab 64, embed 16, hidden 32, latent 8


def make_batch(lengths, vocab=CFG.vocab_size, seed=0, extra_pad=0):
    """Random sentences of the given word counts, <eos> appended, right-padded."""
    g = torch.Generator().manual_seed(seed)
    rows = [
        torch.cat([torch.randint(EOS + 1, vocab, (n,), generator=g), torch.tensor([EOS])])
        for n in lengths
    ]
    tokens = pad_sequence(rows, batch_first=True, padding_value=PAD)
    if extra_pad:
        tokens = torch.cat([tokens, tokens.new_zeros(len(rows), extra_pad)], dim=1)
    return tokens, torch.tensor([n + 1 for n in lengths])


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SentenceVAE(CFG).eval()


def test_it_returns_documented_shapes(model):
    tokens, lengths = make_batch([5, 9, 3])
    mu, logvar = model.encode(tokens, lengths)
    assert mu.shape == logvar.shape == (3, CFG.latent_dim)
    z = model.reparameterize(mu, logvar, n_samples=4)
    assert z.shape == (3, 4, CFG.latent_dim)
    h, c = model.init_state(z[:, 0])
    assert h.shape == c.shape == (CFG.num_layers, 3, CFG.hidden_dim)
    logits, (h2, c2) = model.decode_step(torch.full((3,), SOS), (h, c), z[:, 0])
    assert logits.shape == (3, CFG.vocab_size) and h2.shape == h.shape and c2.shape == c.shape
    out = model(tokens, lengths)
    assert out.log_px.shape == out.kl.shape == (3,)
    assert out.kl_dims.shape == out.z.shape == (3, CFG.latent_dim)
    assert out.num_tokens == int(lengths.sum())
    assert model.log_likelihood(tokens, lengths, z).shape == (3, 4)
    assert model.log_likelihood(tokens, lengths, z[:, 0]).shape == (3,)


def test_padding_changes_nothing_batch_equals_sentences_alone(model):
    lengths = [4, 12, 1, 7]
    tokens, lens = make_batch(lengths)
    z = torch.randn(4, CFG.latent_dim)
    batched = model.log_likelihood(tokens, lens, z)
    padded_more = model.log_likelihood(*make_batch(lengths, extra_pad=6), z)
    alone = torch.stack(
        [
            model.log_likelihood(tokens[i : i + 1, : lens[i]], lens[i : i + 1], z[i : i + 1])[0]
            for i in range(4)
        ]
    )
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded_more, batched, rtol=1e-6, atol=1e-6)
    mu_b, _ = model.encode(tokens, lens)
    mu_1, _ = model.encode(tokens[1:2, : lens[1]], lens[1:2])
    torch.testing.assert_close(mu_b[1:2], mu_1, rtol=1e-5, atol=1e-6)


def test_pad_positions_get_no_gradient_and_garbage_there_is_ignored(model):
    tokens, lens = make_batch([3, 8])
    z = torch.randn(2, CFG.latent_dim)
    garbage = tokens.clone()
    garbage[0, lens[0] :] = 17  # anything past the length must be ignored
    torch.testing.assert_close(
        model.log_likelihood(garbage, lens, z), model.log_likelihood(tokens, lens, z)
    )


def test_teacher_forcing_equals_step_by_step_decoding(model):
    """decode_step (used by beam search) and the packed training path are the same model."""
    tokens, lens = make_batch([6, 2, 10], seed=3)
    z = torch.randn(3, CFG.latent_dim)
    state = model.init_state(z)
    prev = torch.full((3,), SOS)
    total = torch.zeros(3)
    for t in range(tokens.shape[1]):
        logits, state = model.decode_step(prev, state, z)
        logp = logits.log_softmax(-1).gather(1, tokens[:, t : t + 1]).squeeze(1)
        total += torch.where(t < lens, logp, torch.zeros(()))
        prev = tokens[:, t]
    torch.testing.assert_close(model.log_likelihood(tokens, lens, z), total, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("feed_z", [True, False])
def test_z_changes_the_likelihood_with_and_without_feeding(feed_z):
    torch.manual_seed(1)
    m = SentenceVAE(CFG.replace(feed_z=feed_z)).eval()
    tokens, lens = make_batch([5, 5])
    a = m.log_likelihood(tokens, lens, torch.zeros(2, CFG.latent_dim))
    b = m.log_likelihood(tokens, lens, torch.ones(2, CFG.latent_dim))
    assert not torch.allclose(a, b)


def test_untrained_model_scores_near_uniform(model):
    tokens, lens = make_batch([10] * 8)
    nll_per_token = -model.log_likelihood(tokens, lens, torch.zeros(8, CFG.latent_dim)) / lens
    assert torch.allclose(nll_per_token, torch.full((8,), math.log(CFG.vocab_size)), rtol=0.05)


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(2)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    z = SentenceVAE.reparameterize(mu, logvar, n_samples=200_000)  # [3, S, 4]
    q = torch.distributions.Normal(mu.unsqueeze(1), (0.5 * logvar).exp().unsqueeze(1))
    p = torch.distributions.Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).mean(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), mc, atol=0.02, rtol=0.02)
    assert torch.all(gaussian_kl(torch.zeros(5), torch.zeros(5)) == 0)


def test_reparameterize_has_the_posterior_moments():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    z = SentenceVAE.reparameterize(mu, logvar, 100_000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(1), mu, atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(1), torch.tensor([[1.0, 2.0]]), atol=0.03, rtol=0)


def _decoder_inputs(m, tokens, lens):
    """Ids the embedding sees on the decoder call (the encoder's call comes first)."""
    seen = []
    hook = m.embedding.register_forward_pre_hook(lambda _mod, args: seen.append(args[0]))
    m(tokens, lens, generator=torch.Generator().manual_seed(0))
    hook.remove()
    return seen[1]


def test_word_dropout_replaces_decoder_inputs_with_unk_in_train_mode_only():
    torch.manual_seed(0)
    m = SentenceVAE(CFG.replace(word_dropout=0.5))
    tokens, lens = make_batch([30] * 20, seed=5)
    ids = _decoder_inputs(m.train(), tokens, lens)  # [B, T]: <sos> w1 … w29 <eos>
    assert torch.all(ids[:, 0] == SOS)
    share = (ids[:, 1:] == UNK).float().mean().item()
    assert 0.45 < share < 0.55
    assert not torch.any(_decoder_inputs(m.eval(), tokens, lens) == UNK)


def test_forward_scores_with_its_own_z_and_dropout_only_when_training():
    torch.manual_seed(0)
    m = SentenceVAE(CFG.replace(word_dropout=0.5))
    tokens, lens = make_batch([9, 4, 6])
    out = m.eval()(tokens, lens)
    torch.testing.assert_close(out.log_px, m.log_likelihood(tokens, lens, out.z))
    out = m.train()(tokens, lens)
    assert not torch.allclose(out.log_px, m.log_likelihood(tokens, lens, out.z))


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    m = SentenceVAE(CFG).train()
    tokens, lens = make_batch([5, 7, 2, 9])
    out = m(tokens, lens)
    (out.kl.sum() - out.log_px.sum()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert torch.all(m.embedding.weight.grad[PAD] == 0)


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = ModelConfig(vocab_size=123, feed_z=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "hiden_dim": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    paper = preset("paper")
    assert (paper.model.hidden_dim, paper.model.latent_dim, paper.model.embed_dim) == (500, 50, 300)
    assert (paper.train.batch_size, paper.train.lr, paper.model.vocab_size) == (200, 1e-4, 20_004)


def test_special_ids_are_the_vocabularys_special_words():
    itos = Vocab.build({"the": 3}, size=1).itos
    assert [itos[i] for i in (PAD, UNK, SOS, EOS)] == ["<pad>", "<unk>", "<sos>", "<eos>"]


@pytest.mark.parametrize("chunk", [7, 1 << 22])
def test_fused_cross_entropy_matches_pytorch_in_value_and_gradient(monkeypatch, chunk):
    monkeypatch.setattr(model_module, "CE_CHUNK_ELEMENTS", chunk * 50)  # chunks of `chunk` rows
    torch.manual_seed(0)
    h = torch.randn(23, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    b = torch.randn(50, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (23,))
    g = torch.randn(23, dtype=torch.float64)
    ours = linear_cross_entropy(h, w, b, t)
    (ours.double() * g).sum().backward()
    grads = [p.grad.clone() for p in (h, w, b)]
    for p in (h, w, b):
        p.grad = None
    ref = F.cross_entropy(F.linear(h, w, b), t, reduction="none")
    (ref * g).sum().backward()
    torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=1e-6)
    for mine, theirs in zip(grads, (h.grad, w.grad, b.grad), strict=True):
        torch.testing.assert_close(mine, theirs)
    with torch.no_grad():  # the scoring path keeps one chunk alive, same numbers
        torch.testing.assert_close(linear_cross_entropy(h, w, b, t), ours)


def test_fused_cross_entropy_is_stable_for_huge_logits_and_refuses_a_second_backward():
    h = torch.tensor([[1000.0], [-1000.0]], requires_grad=True)
    w = torch.tensor([[1.0], [-1.0], [0.0]])
    nll = linear_cross_entropy(h, w, torch.zeros(3), torch.tensor([1, 1]))
    assert torch.isfinite(nll).all() and nll[1].item() == pytest.approx(0.0, abs=1e-6)
    nll.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        nll.sum().backward()


@pytest.mark.skipif(not cpu_runs_bf16_lstm(), reason="this CPU has no bfloat16 LSTM (AVX-512)")
def test_bf16_autocast_keeps_the_loss_close_and_float32():
    torch.manual_seed(0)
    m = SentenceVAE(CFG).eval()
    tokens, lens = make_batch([12] * 16)
    z = torch.randn(16, CFG.latent_dim)
    full = m.log_likelihood(tokens, lens, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = m.log_likelihood(tokens, lens, z)
        mu, _ = m.encode(tokens, lens)
    assert half.dtype == mu.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.01, atol=0.0)


@pytest.mark.skipif(cpu_runs_bf16_lstm(), reason="this CPU runs bfloat16 LSTMs")
def test_bf16_on_a_cpu_without_it_is_refused_in_words():
    with pytest.raises(ValueError, match="this CPU cannot run bfloat16 LSTMs"):
        autocast(torch.device("cpu"), True)
    assert isinstance(autocast(torch.device("cpu"), False), contextlib.nullcontext)


def test_the_softmax_buffer_is_reused_after_backward_but_never_shared_by_live_graphs():
    torch.manual_seed(0)
    h = torch.randn(6, 4, requires_grad=True)
    w = torch.randn(9, 4, requires_grad=True)
    b = torch.zeros(9, requires_grad=True)
    t = torch.randint(0, 9, (6,))
    pool = BufferPool()
    linear_cross_entropy(h, w, b, t, pool).sum().backward()
    first = pool._free.data_ptr()
    linear_cross_entropy(h, w, b, t, pool).sum().backward()
    assert pool._free.data_ptr() == first  # the second step reused the first one's memory
    h.grad = w.grad = None

    two = linear_cross_entropy(h, w, b, t, pool) + 2 * linear_cross_entropy(h, w, b, t, pool)
    two.sum().backward()  # both graphs alive at once: each had its own buffer
    pooled = h.grad.clone()
    h.grad = None
    (3 * F.cross_entropy(F.linear(h, w, b), t, reduction="none")).sum().backward()
    torch.testing.assert_close(pooled, h.grad)
