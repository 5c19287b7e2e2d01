"""Decoders: beam search against greedy and brute force, batching, stopping, sampling, paths."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from models_core.nn.config import ModelConfig, preset
from models_core.nn.decode import (
    DECODE_MODES,
    DEFAULT_BEAM,
    INTERPOLATION_STEPS,
    beam_search,
    decode,
    decode_mode,
    display_filter,
    generate,
    generate_filtered,
    greedy,
    interpolate,
    interpolation_path,
    make_generator,
    reconstruct,
    sample,
)
from models_core.nn.model import SentenceVAE
from models_core.nn.vocab import EOS, PAD, SOS, SPECIALS, UNK

CFG = preset("tiny").model  # vocab 64, hidden 32, latent 8, max_len 12
A, B, C, D, E, F = 4, 5, 6, 7, 8, 9  # word ids of the hand-built models


class MarkovDecoder(nn.Module):
    """A decoder whose next-token distribution depends on the previous token only.

    `transitions` maps a previous token to {next token: probability}; the rest of each row's
    mass (1e-6 per token) is spread over every other token, so nothing is impossible.
    Counts its step calls so tests can see when decoding stopped.
    """

    def __init__(self, transitions, vocab=12, max_len=6):
        super().__init__()
        probs = torch.full((vocab, vocab), 1e-6, dtype=torch.float64)
        for prev, nexts in transitions.items():
            for tok, p in nexts.items():
                probs[prev, tok] = p
        probs /= probs.sum(1, keepdim=True)
        self.register_buffer("table", probs.log().float())
        self.config = SimpleNamespace(max_len=max_len, latent_dim=2, vocab_size=vocab)
        self.calls = 0

    def init_state(self, z):
        zeros = z.new_zeros(1, z.shape[0], 1)
        return zeros, zeros.clone()

    def decode_step(self, prev_ids, state, z):
        self.calls += 1
        return self.table[prev_ids], state  # advanced indexing: a fresh tensor

    def log_prob(self, words):
        """log p(words, <eos>) under the chain, for checking reported scores."""
        path = [SOS, *words, EOS]
        return sum(float(self.table[a, b]) for a, b in itertools.pairwise(path))


def zs(n, dim=2, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a shared machine a busy
    second core turns OpenMP's barrier into milliseconds per op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(one_thread):
    torch.manual_seed(0)
    m = SentenceVAE(CFG).eval()
    with torch.no_grad():  # make <eos> likely enough that sentences end at different lengths
        m.output.bias[EOS] += 0.5
    return m


def make_batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = [
        torch.cat([torch.randint(EOS + 1, CFG.vocab_size, (n,), generator=g), torch.tensor([EOS])])
        for n in lengths
    ]
    return pad_sequence(rows, batch_first=True, padding_value=PAD), torch.tensor(
        [n + 1 for n in lengths]
    )


# ------------------------------------------------------------------------------- beam search
def test_beam_search_finds_the_best_sentence_where_greedy_fails():
    # Greedy takes A (0.6) and ends "A C" with p = 0.6·0.34 ≈ 0.20; "B" has p = 0.4.
    chain = MarkovDecoder(
        {SOS: {A: 0.6, B: 0.4}, A: {C: 0.34, D: 0.33, E: 0.33}, B: {EOS: 1.0}, C: {EOS: 1.0}}
    )
    assert greedy(chain, zs(1)).sequences == [[A, C]]
    for alpha in (0.0, 1.0):
        out = beam_search(chain, zs(1), beam=2, alpha=alpha)
        assert out.sequences == [[B]]
        hyp = out.hypotheses[0][0]
        assert hyp.log_prob == pytest.approx(math.log(0.4), abs=1e-4)
        assert hyp.score == pytest.approx(hyp.log_prob / 2**alpha, abs=1e-6)


def test_beam_of_one_equals_greedy_decoding(model):
    z = zs(7, CFG.latent_dim, seed=1)
    beam = beam_search(model, z, beam=1, alpha=0.0)
    gr = greedy(model, z)
    assert beam.sequences == gr.sequences
    for hb, hg in zip(beam.hypotheses, gr.hypotheses, strict=True):
        assert hb[0].log_prob == pytest.approx(hg[0].log_prob, abs=1e-4)


def test_batched_beam_search_equals_each_sentence_alone(model):
    z = zs(6, CFG.latent_dim, seed=2)
    for early in (False, True):
        batched = beam_search(model, z, beam=4, n_best=3, early_stopping=early)
        lengths = {len(h.tokens) for row in batched.hypotheses for h in row}
        assert len(lengths) > 2, "the fixture should end sentences at different lengths"
        for i in range(6):
            alone = beam_search(model, z[i : i + 1], beam=4, n_best=3, early_stopping=early)
            assert [h.tokens for h in alone.hypotheses[0]] == [
                h.tokens for h in batched.hypotheses[i]
            ]
            for ha, hb in zip(alone.hypotheses[0], batched.hypotheses[i], strict=True):
                assert ha.score == pytest.approx(hb.score, abs=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_a_beam_wider_than_the_search_space_matches_brute_force(alpha):
    # Words: <unk> and ids 4–6; at most 3 words: 1 + 4 + 16 + 64 = 85 sentences. K = 64 beams
    # keep every prefix and 2K candidates every extension, so the search is exhaustive.
    torch.manual_seed(3)
    cfg = ModelConfig(vocab_size=7, embed_dim=8, hidden_dim=8, latent_dim=2, max_len=3)
    small = SentenceVAE(cfg).eval()
    with torch.no_grad():
        small.output.weight.mul_(8.0)  # peaked distributions: scores far apart
    z = zs(1, 2, seed=4)
    words = [UNK, 4, 5, 6]
    sentences = [list(s) for n in range(4) for s in itertools.product(words, repeat=n)]
    tokens = pad_sequence(
        [torch.tensor([*s, EOS]) for s in sentences], batch_first=True, padding_value=PAD
    )
    lengths = torch.tensor([len(s) + 1 for s in sentences])
    with torch.no_grad():
        logp = small.log_likelihood(tokens, lengths, z.expand(len(sentences), 2))
    scores = logp / lengths.float().pow(alpha)
    best = scores.argsort(descending=True)[:5].tolist()
    out = beam_search(small, z, beam=64, n_best=5, alpha=alpha)
    assert [h.tokens for h in out.hypotheses[0]] == [sentences[i] for i in best]
    for h, i in zip(out.hypotheses[0], best, strict=True):
        assert h.log_prob == pytest.approx(float(logp[i]), abs=1e-4)
        assert h.score == pytest.approx(float(scores[i]), abs=1e-4)


def test_n_best_lists_are_sorted_distinct_and_complete(model):
    out = beam_search(model, zs(3, CFG.latent_dim, seed=5), beam=6, n_best=6)
    for row, best in zip(out.hypotheses, out.sequences, strict=True):
        assert len(row) == 6 and row[0].tokens == best
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
        assert len({tuple(h.tokens) for h in row}) == 6
        for h in row:
            assert EOS not in h.tokens and PAD not in h.tokens and SOS not in h.tokens


def test_it_stops_at_eos_once_no_live_beam_can_win():
    chain = MarkovDecoder({SOS: {A: 1.0}, A: {EOS: 1.0}}, max_len=10)
    out = beam_search(chain, zs(4), beam=3, n_best=1)
    assert out.sequences == [[A]] * 4
    assert out.hypotheses[0][0].log_prob == pytest.approx(0.0, abs=1e-4)
    # Step 1 emits A, step 2 <eos>; the live beams' bound is then hopeless: no third step.
    assert chain.calls == 2
    chain.calls = 0
    assert greedy(chain, zs(4)).sequences == [[A]] * 4 and chain.calls == 2


def test_every_strategy_respects_max_len():
    # <eos> has probability ~1e-6: sentences end only at the length limit.
    chain = MarkovDecoder({SOS: {A: 1.0}, A: {B: 1.0}, B: {A: 1.0}}, max_len=30)
    g = torch.Generator().manual_seed(0)
    for max_len in (0, 1, 5):
        for strategy in ("beam", "greedy", "sample"):
            out = decode(chain, zs(3), strategy, beam=3, max_len=max_len, generator=g)
            assert all(len(s) == max_len for s in out.sequences), strategy
    assert greedy(chain, zs(1)).sequences == [[A, B] * 15]


def test_length_normalisation_trades_short_for_long_sentences():
    # "A": p = 0.5·0.6 = 0.30 (2 tokens); "B C D E": p = 0.5·0.5·0.9³ ≈ 0.18 (5 tokens).
    chain = MarkovDecoder(
        {
            SOS: {A: 0.5, B: 0.5},
            A: {EOS: 0.6, F: 0.4},
            F: {EOS: 0.01, F: 0.99},
            B: {C: 0.5, EOS: 0.5},
            C: {D: 0.9, EOS: 0.1},
            D: {E: 0.9, EOS: 0.1},
            E: {EOS: 0.9, F: 0.1},
        }
    )
    assert beam_search(chain, zs(1), beam=4, alpha=0.0).sequences == [[A]]
    assert beam_search(chain, zs(1), beam=4, alpha=1.0).sequences == [[B, C, D, E]]


def test_it_never_emits_pad_or_sos():
    chain = MarkovDecoder({SOS: {PAD: 0.5, SOS: 0.3, A: 0.2}, A: {EOS: 1.0}})
    for strategy in ("beam", "greedy"):
        assert decode(chain, zs(2), strategy, beam=2).sequences == [[A], [A]]


def test_the_paper_beam_width_is_the_default():
    assert DEFAULT_BEAM == 15


# ---------------------------------------------------------------------------------- sampling
def test_sampling_is_reproducible_by_seed(model):
    z = zs(5, CFG.latent_dim)
    first = sample(model, z, generator=make_generator(7, model)).sequences
    again = sample(model, z, generator=make_generator(7, model)).sequences
    other = sample(model, z, generator=make_generator(8, model)).sequences
    assert first == again and first != other


def test_low_temperature_and_top_1_sample_the_greedy_sentence(model):
    z = zs(5, CFG.latent_dim, seed=9)
    expected = greedy(model, z).sequences
    g = make_generator(0, model)
    assert sample(model, z, temperature=0.0, generator=g).sequences == expected
    assert sample(model, z, temperature=1e-4, generator=g).sequences == expected
    assert sample(model, z, top_k=1, generator=g).sequences == expected


def test_sampled_log_probs_are_the_models_own():
    chain = MarkovDecoder({SOS: {A: 0.5, B: 0.5}, A: {EOS: 1.0}, B: {C: 1.0}, C: {EOS: 1.0}})
    out = sample(chain, zs(20), temperature=2.0, generator=torch.Generator().manual_seed(1))
    assert {tuple(s) for s in out.sequences} == {(A,), (B, C)}
    for h in (row[0] for row in out.hypotheses):
        assert h.log_prob == pytest.approx(chain.log_prob(h.tokens), abs=1e-4)


def test_bad_options_are_refused_with_the_allowed_values(model):
    z = zs(1, CFG.latent_dim)
    with pytest.raises(ValueError, match="'beam', 'greedy', 'sample'"):
        decode(model, z, "nucleus")
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, z, beam=2, n_best=3)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, z, temperature=-1.0)


# ------------------------------------------------- reconstruction, generation, interpolation
def test_reconstruction_from_the_mean_is_deterministic_and_from_samples_seeded(model):
    tokens, lengths = make_batch([5, 3, 8])
    mean = reconstruct(model, tokens, lengths, use_mean=True, beam=3)
    assert mean.sequences == reconstruct(model, tokens, lengths, use_mean=True, beam=3).sequences
    mu, _ = model.encode(tokens, lengths)
    torch.testing.assert_close(mean.z, mu)
    first = reconstruct(model, tokens, lengths, beam=3, generator=make_generator(1, model))
    again = reconstruct(model, tokens, lengths, beam=3, generator=make_generator(1, model))
    torch.testing.assert_close(first.z, again.z)
    assert first.sequences == again.sequences and len(first.sequences) == 3


def test_generation_draws_z_from_the_prior_by_seed(model):
    first = generate(model, 4, strategy="greedy", generator=make_generator(3, model))
    again = generate(model, 4, strategy="greedy", generator=make_generator(3, model))
    assert first.z.shape == (4, CFG.latent_dim)
    torch.testing.assert_close(first.z, again.z)
    assert first.sequences == again.sequences
    # z is the seeded generator's standard normal draw, not a posterior or a scaled one.
    expected = torch.randn((4, CFG.latent_dim), generator=make_generator(3, model))
    torch.testing.assert_close(first.z, expected)
    many = generate(model, 400, strategy="greedy", generator=make_generator(4, model)).z
    assert abs(many.mean().item()) < 0.05 and abs(many.std().item() - 1.0) < 0.05


def test_interpolation_path_has_even_steps_and_exact_ends():
    z1, z2 = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    path = interpolation_path(z1, z2)
    assert path.shape == (INTERPOLATION_STEPS, 8) == (10, 8)
    torch.testing.assert_close(path[0], z1)
    torch.testing.assert_close(path[-1], z2)
    steps = path.diff(dim=0)
    torch.testing.assert_close(steps, ((z2 - z1) / 9).expand_as(steps))
    arc = interpolation_path(z1, z2, 5, mode="spherical")
    torch.testing.assert_close(arc[0], z1)
    torch.testing.assert_close(arc[-1], z2)
    angles = [
        math.acos(float(torch.dot(a, b) / (a.norm() * b.norm())))
        for a, b in itertools.pairwise(arc)
    ]
    assert angles == pytest.approx([angles[0]] * 4, rel=1e-4)
    norms = arc.norm(dim=1)
    torch.testing.assert_close(norms, torch.linspace(float(z1.norm()), float(z2.norm()), 5))
    # Parallel ends: no angle to walk, the arc is the line.
    torch.testing.assert_close(interpolation_path(z1, 2 * z1, 3, mode="spherical")[1], 1.5 * z1)


def test_interpolation_decodes_from_one_sentence_to_the_other(model):
    tokens, lengths = make_batch([6, 9], seed=1)
    out = interpolate(model, tokens, lengths, beam=2)
    mu, _ = model.encode(tokens, lengths)
    assert len(out.sequences) == 10
    torch.testing.assert_close(out.z[0], mu[0])
    torch.testing.assert_close(out.z[-1], mu[1])
    assert (
        out.sequences[0] == reconstruct(model, tokens, lengths, use_mean=True, beam=2).sequences[0]
    )
    with pytest.raises(ValueError, match="exactly 2"):
        interpolate(model, *make_batch([3, 4, 5]))


# ------------------------------------------------------------------------ decoding by mode
def test_decode_mode_reconstructs_each_source_in_order(model):
    sources = [[4, 5, 6, 7, 8], [9, 10, 11], [12, 13, 14, 15, 16, 17]]
    rows = decode_mode(model, "reconstruct", sources, beam=3, generator=make_generator(2, model))
    tokens = pad_sequence(
        [torch.tensor([*s, EOS]) for s in sources], batch_first=True, padding_value=PAD
    )
    lengths = torch.tensor([len(s) + 1 for s in sources])
    expected = reconstruct(model, tokens, lengths, beam=3, generator=make_generator(2, model))
    assert [row.sources for row in rows] == [[s] for s in sources]
    assert [row.tokens for row in rows] == expected.sequences


def test_decode_mode_interpolates_between_exactly_two_sources(model):
    ends = [[4, 5, 6, 7], [8, 9, 10, 11, 12]]
    rows = decode_mode(model, "interpolate", ends, steps=4, strategy="greedy")
    assert len(rows) == 4 and all(row.sources == ends for row in rows)
    with pytest.raises(ValueError, match=r"^interpolate needs exactly two sentences\.$"):
        decode_mode(model, "interpolate", ends[:1])


def test_decode_mode_draws_prior_samples_through_the_filter(model):
    plain = decode_mode(model, "prior", n=5, strategy="greedy", generator=make_generator(1, model))
    same = generate(model, 5, strategy="greedy", generator=make_generator(1, model))
    assert [row.tokens for row in plain] == same.sequences
    assert all(row.sources == [] for row in plain)
    kept = decode_mode(
        model, "prior", n=3, strategy="greedy", paper_filter=True, max_tries=40,
        generator=make_generator(1, model),
    )  # fmt: skip
    expected = generate_filtered(
        model, 3, keep=display_filter, max_tries=40, strategy="greedy",
        generator=make_generator(1, model),
    )  # fmt: skip
    assert [row.tokens for row in kept] == expected
    assert all(display_filter(row.tokens) for row in kept)


def test_decode_mode_passes_the_beam_to_beam_search_only(model):
    wide = decode_mode(model, "prior", n=3, beam=1, generator=make_generator(5, model))
    greedy_rows = decode_mode(
        model, "prior", n=3, beam=1, strategy="greedy", generator=make_generator(5, model)
    )
    assert [r.tokens for r in wide] == [r.tokens for r in greedy_rows]  # beam 1 is greedy


def test_decode_mode_refuses_an_unknown_mode_naming_the_modes(model):
    assert DECODE_MODES == ("reconstruct", "prior", "interpolate")
    with pytest.raises(ValueError, match="'paraphrase'; choose from reconstruct, prior"):
        decode_mode(model, "paraphrase", [[4, 5, 6, 7]])


# ------------------------------------------------------------------------------------ filter
@pytest.mark.parametrize(
    ("tokens", "shown"),
    [
        ([4, 5, 6, 7], True),
        ([4, 5, 6], False),
        (list(range(4, 24)), True),
        (list(range(4, 25)), False),
        ([4, 5, UNK, 7, 8], False),
        ([4, 5, 6, 7, EOS], True),  # <eos> is not a word
        (["the", "cat", "sat", "down"], True),
        (["the", "<unk>", "sat", "down"], False),
        (["the", "cat", "sat", "down", "<eos>"], True),
        ([], False),
    ],
)
def test_display_filter_keeps_4_to_20_words_without_unk(tokens, shown):
    assert display_filter(tokens) is shown


@pytest.mark.parametrize("special", [PAD, SOS, EOS])
def test_display_filter_knows_the_specials_by_the_vocabularys_ids_and_words(special):
    words = ["the", "cat", "sat"]
    # <pad>, <sos>, <eos> are not words, as ids or as vocab.SPECIALS' words for those ids.
    assert display_filter([4, 5, 6, special]) is False  # 3 words
    assert display_filter([4, 5, 6, 7, special]) is True
    assert display_filter([*words, SPECIALS[special]]) is False
    assert display_filter([*words, "down", SPECIALS[special]]) is True
    assert display_filter([*words, "down", SPECIALS[UNK]]) is False


# ------------------------------------------------------------------------------ modes, sizes
def test_every_strategy_works_at_batch_size_one_and_restores_train_mode(model):
    model.train()
    try:
        z = zs(1, CFG.latent_dim, seed=11)
        for strategy in ("beam", "greedy", "sample"):
            out = decode(model, z, strategy, beam=3, generator=make_generator(0, model))
            assert len(out.sequences) == 1 and len(out.hypotheses[0]) == 1
            assert model.training
        tokens, lengths = make_batch([4])
        assert len(reconstruct(model, tokens, lengths, beam=3).sequences) == 1
        assert len(generate(model, 1, beam=3).sequences) == 1
    finally:
        model.eval()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decoding_runs_on_the_models_cuda_device(model):
    gpu = SentenceVAE(CFG).cuda().eval()
    gpu.load_state_dict(model.state_dict())
    z = zs(4, CFG.latent_dim)
    out = beam_search(gpu, z, beam=3)
    assert out.z.is_cuda
    assert out.sequences == beam_search(model, z, beam=3).sequences
    g = make_generator(0, gpu)
    assert len(sample(gpu, z, generator=g).sequences) == 4
