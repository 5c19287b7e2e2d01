"""Metrics against closed forms: KL, IW-NLL, MI, active units, BLEU, text statistics."""

import math
import random

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from models_core.nn.config import preset
from models_core.nn.data import collate
from models_core.nn.decode import greedy
from models_core.nn.metrics import (
    active_units,
    distinct_n,
    evaluate,
    exact_match,
    gaussian_log_density,
    importance_weighted,
    length_stats,
    mutual_information,
    perplexity,
    reconstruction_bleu,
)
from models_core.nn.model import SentenceVAE
from models_core.nn.objectives import kl_share
from models_core.nn.vocab import EOS

CFG = preset("tiny").model  # vocab 64, hidden 32, latent 8
REQUIRED = {
    "elbo",
    "recon",
    "kl",
    "kl_share",
    "iw_nll",
    "ppl",
    "mi",
    "active_units",
    "recon_bleu",
    "exact_match",
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread; on a shared machine it costs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sentences(n, seed=0, lo=4, hi=10):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    return [torch.randint(EOS + 1, CFG.vocab_size, (k,), generator=g).tolist() for k in lengths]


class KnownPosterior(SentenceVAE):
    """q(z|x) read from tables by the sentence's first word, so its KL is known exactly."""

    def __init__(self, mu_table, logvar_table, **changes):
        super().__init__(CFG.replace(**changes))
        self.register_buffer("mu_table", mu_table)
        self.register_buffer("logvar_table", logvar_table)

    def encode(self, tokens, lengths):
        return self.mu_table[tokens[:, 0]], self.logvar_table[tokens[:, 0]]


def known_tables(seed=0, spread=(2.0, 1.0)):
    """Posterior means varying over x in the first len(spread) dimensions only."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.full((CFG.vocab_size, CFG.latent_dim), 0.3)
    for d, s in enumerate(spread):
        mu[:, d] = s * torch.randn(CFG.vocab_size, generator=g)
    logvar = -1.0 + 0.5 * torch.randn(CFG.vocab_size, CFG.latent_dim, generator=g)
    return mu, logvar


def prior_posterior_model():
    """q(z|x) = p(z) = N(0, I) and a decoder blind to z: log p(x, z) − log q(z|x) = log p(x)."""
    torch.manual_seed(0)
    model = SentenceVAE(CFG.replace(feed_z=False)).eval()
    with torch.no_grad():
        model.to_posterior.weight.zero_()
        model.to_posterior.bias.zero_()
        model.to_state.weight.zero_()
    return model


# ------------------------------------------------------------------------------- densities
def test_gaussian_log_density_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    z, mu, logvar = torch.randn(3, 5, 4, generator=g)
    expected = Independent(Normal(mu, (0.5 * logvar).exp()), 1).log_prob(z)
    torch.testing.assert_close(gaussian_log_density(z, mu, logvar), expected)


def test_evaluated_kl_is_the_closed_form_of_the_known_posteriors():
    mu_t, logvar_t = known_tables()
    model = KnownPosterior(mu_t, logvar_t).eval()
    data = sentences(12)
    result = evaluate(model, data, iw_samples=2)
    first = torch.tensor([s[0] for s in data])
    q = Independent(Normal(mu_t[first], (0.5 * logvar_t[first]).exp()), 1)
    p = Independent(Normal(torch.zeros_like(q.mean), torch.ones_like(q.mean)), 1)
    assert result["kl"] == pytest.approx(float(kl_divergence(q, p).mean()), rel=1e-5)
    assert result["elbo"] == pytest.approx(result["recon"] - result["kl"], rel=1e-6)
    assert result["kl_share"] == pytest.approx(100 * result["kl"] / -result["elbo"], rel=1e-6)
    assert result["kl_share"] == kl_share(result["kl"], result["elbo"])


def test_iw_nll_equals_minus_elbo_when_the_posterior_is_exact():
    model = prior_posterior_model()
    data = sentences(6, seed=1)
    for k in (1, 7):
        result = evaluate(model, data, iw_samples=k)
        assert result["kl"] == pytest.approx(0.0, abs=1e-7)
        assert result["iw_nll"] == pytest.approx(-result["elbo"], rel=1e-5)
        assert result["ppl"] == pytest.approx(result["elbo_ppl"], rel=1e-5)
    batch = collate(data)
    exact = model.log_likelihood(batch.tokens, batch.lengths, torch.zeros(6, CFG.latent_dim))
    iw = importance_weighted(model, batch.tokens, batch.lengths, 5)
    torch.testing.assert_close(iw.log_px, exact, rtol=1e-5, atol=1e-4)


def test_one_sample_iw_is_the_elbo_in_expectation_and_many_samples_tighten_it():
    mu_t, _ = known_tables(spread=(0.0,))
    model = KnownPosterior(mu_t * 0, torch.zeros_like(mu_t)).eval()  # q(z|x) = N(0, I)
    with torch.no_grad():  # the decoder leans on z, so the ELBO's gap is wide
        model.to_state.weight.mul_(10.0)
        model.decoder.weight_ih_l0[:, -CFG.latent_dim :].mul_(10.0)
    batch = collate(sentences(4, seed=2))
    g = torch.Generator().manual_seed(0)
    one = torch.stack(
        [importance_weighted(model, *batch, 1, generator=g).log_px for _ in range(300)]
    )
    many = importance_weighted(model, *batch, 2000, generator=g)
    elbo = many.recon  # KL = 0 here, so the ELBO is E_q[log p(x|z)]
    stderr = one.std(0) / math.sqrt(one.shape[0])
    assert ((one.mean(0) - elbo).abs() < 4 * stderr + 0.02).all()
    assert (importance_weighted(model, *batch, 500, generator=g).log_px > elbo + 0.1).all()


def test_importance_sampling_in_chunks_changes_nothing():
    model = prior_posterior_model()
    batch = collate(sentences(3, seed=3))
    model.to_state.weight.data.normal_()
    whole = importance_weighted(model, *batch, 9, generator=torch.Generator().manual_seed(1))
    chunked = importance_weighted(
        model, *batch, 9, generator=torch.Generator().manual_seed(1), max_logits=1
    )
    torch.testing.assert_close(whole.log_px, chunked.log_px)
    torch.testing.assert_close(whole.recon, chunked.recon)


# ------------------------------------------------------------------------------- latent use
def test_mi_is_zero_when_the_posterior_ignores_x():
    mu = torch.full((2000, 4), 0.7)
    logvar = torch.full((2000, 4), -0.3)
    g = torch.Generator().manual_seed(0)
    assert mutual_information(mu, logvar, generator=g, analytic_entropy=False) == 0.0
    assert mutual_information(mu, logvar, generator=g) == pytest.approx(0.0, abs=0.1)


def test_mi_approaches_the_gaussian_closed_form():
    # x ~ N(0, I), q(z|x) = N(x, s²I): I(x; z) = (Z/2)·log(1 + 1/s²).
    g = torch.Generator().manual_seed(1)
    s = 0.5
    x = torch.randn(4000, 2, generator=g)
    logvar = torch.full_like(x, 2 * math.log(s))
    expected = math.log(1 + 1 / s**2)
    for analytic in (True, False):
        got = mutual_information(x, logvar, generator=g, analytic_entropy=analytic)
        assert got == pytest.approx(expected, abs=0.06)


def test_mi_of_the_paired_estimator_is_at_most_log_batch_size():
    g = torch.Generator().manual_seed(2)
    mu = 100 * torch.randn(50, 3, generator=g)
    got = mutual_information(mu, torch.full_like(mu, -4.0), generator=g, analytic_entropy=False)
    assert got == pytest.approx(math.log(50), abs=1e-4)


def test_active_units_count_dimensions_whose_mean_varies_over_x():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 0.001, 0.5, 0.0, 0.2])  # variances 1, 1e-6, 0.25, 0, 0.04
    mus = torch.randn(5000, 5, generator=g) * scales + 3.0
    count, var = active_units(mus)
    assert count == 3
    torch.testing.assert_close(var, scales.pow(2), rtol=0.1, atol=1e-4)
    assert active_units(mus[:1])[0] == 0  # one sentence: no variance to measure


def test_evaluate_counts_the_known_active_units():
    mu_t, logvar_t = known_tables(spread=(2.0, 1.0, 0.5))
    result = evaluate(KnownPosterior(mu_t, logvar_t).eval(), sentences(300), iw_samples=1)
    assert result["active_units"] == 3


# ---------------------------------------------------------------------------- text metrics
def test_bleu_is_100_for_identical_sentences_and_0_for_disjoint_ones():
    refs = [[4, 5, 6, 7, 8], [9, 10, 11, 12]]
    assert reconstruction_bleu(refs, refs) == pytest.approx(100.0)
    assert reconstruction_bleu([[20, 21, 22, 23, 24], [25, 26, 27, 28]], refs) == 0.0
    partial = reconstruction_bleu([[4, 5, 6, 7, 30], [9, 10, 11, 12]], refs)
    assert 0.0 < partial < 100.0
    assert reconstruction_bleu([[4, 5]], [[4, 5]]) == pytest.approx(100.0)  # under 4 words


def test_exact_match_rate_is_the_share_of_identical_sentences():
    refs = [[4, 5], [6], [7, 8, 9]]
    assert exact_match([[4, 5], [6, 6], [7, 8, 9]], refs) == pytest.approx(2 / 3)
    assert exact_match([], []) == 0.0
    with pytest.raises(ValueError, match="2 hypotheses for 3 references"):
        exact_match(refs[:2], refs)


def test_distinct_n_and_lengths_of_samples():
    samples = [[4, 5, 4, 5], [4, 5]]
    assert distinct_n(samples, 1) == pytest.approx(2 / 6)
    assert distinct_n(samples, 2) == pytest.approx(2 / 4)  # (4,5) (5,4) (4,5) | (4,5)
    assert distinct_n([[4]], 2) == 0.0
    assert length_stats(samples) == {"len_mean": 3.0, "len_hist": {2: 1, 4: 1}}


def test_kl_share_and_perplexity_formulas():
    # The plain ELBO's share: objectives.kl_share with kl_term = KL and J = ELBO.
    assert kl_share(kl_term=5.0, objective=-50.0) == pytest.approx(10.0)
    assert perplexity(nll_total=20.0, num_tokens=10) == pytest.approx(math.exp(2.0))
    with pytest.raises(ValueError):
        perplexity(1.0, 0)


# ---------------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def model(one_thread):
    torch.manual_seed(0)
    return SentenceVAE(CFG).eval()


def test_evaluate_returns_every_metric_and_documents_its_token_count(model):
    data = sentences(10, seed=4)
    result = evaluate(model, data, iw_samples=5, prior_samples=30)
    assert set(result) >= REQUIRED
    tokens = sum(len(s) + 1 for s in data)  # words + one <eos> each
    assert result["tokens"] == tokens and result["sentences"] == 10
    assert result["ppl"] == pytest.approx(math.exp(result["iw_nll"] * 10 / tokens), rel=1e-6)
    assert 0.0 <= result["recon_bleu"] <= 100.0 and 0.0 <= result["exact_match"] <= 1.0
    assert 0 <= result["active_units"] <= CFG.latent_dim
    assert sum(result["prior_len_hist"].values()) == 30
    assert 0.0 < result["distinct_1"] <= 1.0 and 0.0 <= result["distinct_2"] <= 1.0


def test_evaluate_is_seeded_and_takes_batches_or_sentences(model):
    data = sentences(7, seed=5)
    kwargs = {"iw_samples": 4, "recon_strategy": "beam", "recon_options": {"beam": 3}}
    first = evaluate(model, data, **kwargs)
    assert evaluate(model, data, **kwargs) == first
    assert evaluate(model, collate(data), **kwargs) == first
    assert evaluate(model, [collate(data)], **kwargs) == first
    assert evaluate(model, data, seed=1, **kwargs) != first


def test_evaluate_works_at_batch_size_one_and_keeps_train_mode(model):
    model.train()
    try:
        result = evaluate(model, sentences(3, seed=6), batch_size=1, iw_samples=3)
        assert model.training
    finally:
        model.eval()
    assert result["sentences"] == 3 and result["active_units"] <= CFG.latent_dim
    single = evaluate(model, sentences(1, seed=6), iw_samples=3)
    assert single["active_units"] == 0
    assert all(math.isfinite(single[k]) for k in REQUIRED)
    with pytest.raises(ValueError, match="at least one sentence"):
        evaluate(model, [])


# ------------------------------------------------------------ length-sorted batches, pairing
def shuffled(data, seed):
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    return [data[i] for i in order]


def test_likelihood_metrics_do_not_depend_on_sentence_order_or_batching():
    # q(z|x) = p(z) and a decoder blind to z: every likelihood metric is exact, not sampled.
    model = prior_posterior_model()
    data = sentences(23, seed=7, lo=1, hi=12)  # lengths mixed, not in sorted order
    first = evaluate(model, data, iw_samples=3, batch_size=4)
    with torch.no_grad():
        exact = torch.cat(
            [model.log_likelihood(*collate([s]), torch.zeros(1, CFG.latent_dim)) for s in data]
        )
    tokens = sum(len(s) + 1 for s in data)
    assert first["recon"] == pytest.approx(float(exact.mean()), rel=1e-5)
    assert first["iw_nll"] == pytest.approx(-float(exact.mean()), rel=1e-5)
    assert first["elbo_ppl"] == pytest.approx(math.exp(-float(exact.sum()) / tokens), rel=1e-5)
    assert first["tokens"] == tokens
    likelihood = ("elbo", "recon", "kl", "iw_nll", "ppl", "elbo_ppl", "tokens", "sentences")
    for seed, batch_size in ((1, 4), (2, 1), (3, 200)):
        other = evaluate(model, shuffled(data, seed), iw_samples=3, batch_size=batch_size)
        for key in likelihood:
            assert other[key] == pytest.approx(first[key], rel=1e-5, abs=1e-6), key


def test_kl_and_active_units_do_not_depend_on_sentence_order():
    mu_t, logvar_t = known_tables(spread=(2.0, 1.0, 0.5))
    model = KnownPosterior(mu_t, logvar_t).eval()
    data = sentences(40, seed=8, lo=1, hi=12)
    first = evaluate(model, data, iw_samples=1, batch_size=6)
    other = evaluate(model, shuffled(data, 0), iw_samples=1, batch_size=6)
    assert other["kl"] == pytest.approx(first["kl"], rel=1e-6)
    assert other["active_units"] == first["active_units"] == 3


class CopyModel(SentenceVAE):
    """Reconstructs every sentence exactly, except those starting with word `broken`.

    q(z|x) has the sentence's ids (+ <eos>, then zeros) as its mean and a tiny variance, so a
    sample rounds to them; the decoder emits the id at its step's position in z.
    """

    def __init__(self, broken=None):
        super().__init__(CFG.replace(latent_dim=CFG.max_len + 1))
        self.broken = broken

    def encode(self, tokens, lengths):
        z_dim = self.config.latent_dim
        ids = torch.zeros(len(lengths), z_dim)
        width = min(tokens.shape[1], z_dim)
        ids[:, :width] = tokens[:, :width].float()
        if self.broken is not None:
            ids[tokens[:, 0] == self.broken, 1] = self.broken  # second word becomes `broken`
        return ids, torch.full_like(ids, -20.0)

    def log_likelihood(self, tokens, lengths, z):
        return -lengths.float().view(-1, *[1] * (z.dim() - 2)).expand(z.shape[:-1])

    def init_state(self, z):
        position = torch.zeros(1, z.shape[0], 1)
        return position, position.clone()

    def decode_step(self, prev_ids, state, z):
        position = state[0][0, :, 0].long().clamp(max=z.shape[1] - 1)
        token = z.round().long().gather(1, position.unsqueeze(1))
        logits = torch.full((z.shape[0], self.config.vocab_size), -10.0)
        logits.scatter_(1, token, 10.0)
        return logits, (state[0] + 1, state[1] + 1)


@pytest.mark.parametrize(
    ("strategy", "options", "use_mean"),
    [("greedy", {}, False), ("greedy", {}, True), ("beam", {"beam": 3}, False)],
)
def test_reconstructions_are_scored_against_their_own_sentences(strategy, options, use_mean):
    # Sorting by length must not pair a reconstruction with another sentence's reference:
    # a perfect copier scores BLEU 100 and exact match 1 on unsorted data in small batches.
    data = sentences(17, seed=9, lo=1, hi=CFG.max_len)
    assert data != sorted(data, key=len)
    kwargs = {
        "iw_samples": 1,
        "batch_size": 3,
        "recon_strategy": strategy,
        "recon_options": options,
        "recon_use_mean": use_mean,
    }
    perfect = evaluate(CopyModel(), data, **kwargs)
    assert perfect["exact_match"] == 1.0 and perfect["recon_bleu"] == pytest.approx(100.0)
    # Which sentences fail is known exactly: those whose first word is `broken`.
    broken = data[0][0]
    data = [s for s in data if len(s) >= 2]
    expected = sum(s[0] != broken or s[1] == broken for s in data) / len(data)
    assert 0 < expected < 1
    for order in (data, shuffled(data, 1)):
        got = evaluate(CopyModel(broken=broken), order, **kwargs)
        assert got["exact_match"] == pytest.approx(expected)


def test_reconstruction_bleu_is_that_of_each_sentence_decoded_on_its_own(model):
    data = sentences(11, seed=10, lo=1, hi=10)
    result = evaluate(model, data, iw_samples=1, batch_size=2, recon_use_mean=True)
    hyps = [greedy(model, model.encode(*collate([s]))[0]).sequences[0] for s in data]
    assert result["recon_bleu"] == pytest.approx(reconstruction_bleu(hyps, data))
    assert result["exact_match"] == exact_match(hyps, data)


class LengthPosterior(SentenceVAE):
    """q(z|x) depends on the sentence's parity of length only: two far-apart posteriors."""

    def __init__(self):
        super().__init__(CFG)

    def encode(self, tokens, lengths):
        mu = torch.zeros(len(lengths), self.config.latent_dim)
        mu[:, 0] = torch.where(lengths.to(mu.device) % 2 == 0, 50.0, -50.0)
        return mu, torch.full_like(mu, -2.0)


def test_mi_groups_are_random_not_the_length_sorted_batches():
    # In length-sorted batches of 20 every batch holds one posterior and the MI is ~0; in
    # random groups of 20 of two balanced classes it is the entropy of the mix, ~log 2.
    model = LengthPosterior().eval()
    data = [[4] * n for n in (3, 4) for _ in range(200)]
    for order in (data, shuffled(data, 2)):
        result = evaluate(model, order, iw_samples=1, batch_size=20)
        assert 0.45 < result["mi"] <= math.log(2) + 0.1
    again = evaluate(model, data, iw_samples=1, batch_size=20)
    assert again == evaluate(model, data, iw_samples=1, batch_size=20)
