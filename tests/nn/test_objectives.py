"""The objective (1+m)·recon − β(t)·KL: values, presets, schedules, free bits, records."""

import math

import pytest
import torch

from models_core.nn.model import VAEOutput
from models_core.nn.objectives import (
    OBJECTIVE_PRESETS,
    Objective,
    autogen,
    beta_vae,
    kl_share,
    objective_preset,
)


def fake_output(log_px, kl_dims):
    """A VAEOutput with the given per-sentence log p(x|z) [B] and per-dimension KL [B, Z]."""
    log_px = torch.as_tensor(log_px, dtype=torch.float32)
    kl_dims = torch.as_tensor(kl_dims, dtype=torch.float32)
    b, z = kl_dims.shape
    zeros = torch.zeros(b, z)
    return VAEOutput(log_px, kl_dims.sum(-1), kl_dims, zeros, zeros, zeros, 10 * b)


OUT = fake_output([-10.0, -30.0], [[0.5, 1.5], [1.0, 1.0]])  # recon −20, KL 2 per sentence


def test_vae_objective_is_the_elbo():
    t = objective_preset("vae")(OUT, step=0)
    assert t.objective.item() == pytest.approx(-22.0)
    assert t.elbo.item() == pytest.approx(-22.0)
    assert t.loss.item() == pytest.approx(22.0)
    assert (t.recon.item(), t.kl.item()) == (pytest.approx(-20.0), pytest.approx(2.0))


def test_autogen_doubles_the_reconstruction_and_m2_triples_it_but_elbo_stays_plain():
    t1 = objective_preset("autogen")(OUT, step=0)
    assert t1.objective.item() == pytest.approx(2 * -20.0 - 2.0)  # Eq. 9
    t2 = objective_preset("autogen-m2")(OUT, step=0)
    assert t2.objective.item() == pytest.approx(3 * -20.0 - 2.0)  # Eq. 10, m = 2
    assert t1.elbo.item() == t2.elbo.item() == pytest.approx(-22.0)  # Eq. 1 for every model


@pytest.mark.parametrize("m", [-0.5, 0.5, 1.0, 2.0, 3.7])
def test_autogen_m_is_a_scaled_beta_vae_with_the_same_optimum(m):
    """(1+m)·recon − KL = (1+m)·(recon − KL/(1+m)): values and gradients are proportional,
    so both have the same stationary points (Sect. 4)."""
    params = torch.tensor([-15.0, 3.0], requires_grad=True)

    def run(objective):
        log_px = params[0] * torch.tensor([1.0, 2.0])
        kl_dims = params[1] * torch.tensor([[0.25, 0.75], [0.5, 0.5]])
        value = objective(fake_output(log_px, kl_dims), step=0).objective
        (grad,) = torch.autograd.grad(value, params)
        return value, grad

    value_ag, grad_ag = run(autogen(m))
    value_b, grad_b = run(beta_vae(1.0 / (1.0 + m)))
    torch.testing.assert_close(value_ag, (1 + m) * value_b)
    torch.testing.assert_close(grad_ag, (1 + m) * grad_b)


def test_beta_scales_the_kl_term():
    t = objective_preset("vae", beta=4.0)(OUT, step=0)
    assert t.objective.item() == pytest.approx(-20.0 - 8.0)
    assert t.kl_term.item() == pytest.approx(8.0)
    assert t.elbo.item() == pytest.approx(-22.0)


@pytest.mark.parametrize(
    ("step", "weight"), [(0, 0.0), (5_000, 0.25), (10_000, 0.5), (20_000, 1.0), (10**6, 1.0)]
)
def test_linear_warm_up_reaches_full_weight_after_20k_iterations(step, weight):
    assert objective_preset("vae-anneal").kl_weight(step) == pytest.approx(weight)


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(
    ("step", "weight"),
    [(0, sigmoid(-5)), (500, sigmoid(0)), (250, sigmoid(-2.5)), (1000, sigmoid(5)), (10**5, 1.0)],
)
def test_logistic_schedule_is_centred_half_way(step, weight):
    obj = objective_preset("vae-anneal", anneal="logistic", anneal_steps=1000)
    assert obj.kl_weight(step) == pytest.approx(weight)


@pytest.mark.parametrize(
    ("step", "weight"),
    [(0, 0.0), (25, 0.5), (50, 1.0), (99, 1.0), (100, 0.0), (125, 0.5), (175, 1.0), (310, 0.2)],
)
def test_cyclical_schedule_ramps_for_half_of_each_cycle(step, weight):
    obj = Objective(anneal="cyclical", anneal_steps=100, cycle_ratio=0.5)
    assert obj.kl_weight(step) == pytest.approx(weight)


def test_annealing_weight_enters_the_objective_and_the_kl_share():
    obj = objective_preset("vae-anneal")
    t = obj(OUT, step=5_000)  # β = 0.25
    assert t.kl_weight == pytest.approx(0.25)
    assert t.objective.item() == pytest.approx(-20.0 - 0.5)
    assert t.record()["kl_share"] == pytest.approx(100 * 0.5 / 20.5)
    assert obj(OUT, step=0).record()["kl_share"] == 0.0


def test_kl_share_is_minus_kl_as_percent_of_the_objective():
    rec = objective_preset("autogen")(OUT, step=0).record()  # J = −42, −KL = −2
    assert rec["kl_share"] == pytest.approx(100 * 2 / 42)
    assert set(rec) >= {"loss", "objective", "recon", "kl", "elbo", "kl_term", "kl_weight"}


def test_free_bits_give_dimensions_below_lambda_no_kl_gradient():
    kl_dims = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)  # batch means .2, 3
    t = Objective(free_bits=0.5)(fake_output([-1.0, -1.0], kl_dims), step=0)
    assert t.kl_term.item() == pytest.approx(0.5 + 3.0)
    assert t.kl.item() == pytest.approx((2.1 + 4.3) / 2)  # the logged KL is the real one
    (grad,) = torch.autograd.grad(t.objective, kl_dims)
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5], [0.0, -0.5]]))


def test_presets_are_the_four_paper_models():
    assert {name: (o.m, o.anneal) for name, o in OBJECTIVE_PRESETS.items()} == {
        "vae": (0.0, "constant"),
        "vae-anneal": (0.0, "linear"),
        "autogen": (1.0, "constant"),
        "autogen-m2": (2.0, "constant"),
    }
    obj = objective_preset("autogen-m2")
    assert Objective.from_dict(obj.to_dict()) == obj


def test_bad_settings_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="m must exceed -1"):
        autogen(-1.0)
    with pytest.raises(ValueError, match="anneal must be one of"):
        Objective(anneal="cosine")
    with pytest.raises(ValueError, match="unknown objective 'vea'"):
        objective_preset("vea")


def test_kl_share_is_one_function_for_training_and_evaluation():
    from models_core.nn import metrics, train

    # One definition: training records, train.evaluate and metrics.evaluate all call it.
    assert metrics.kl_share is kl_share and train.kl_share is kl_share
    assert kl_share(kl_term=2.0, objective=-40.0) == pytest.approx(5.0)
    assert kl_share(kl_term=1.0, objective=0.0) == 0.0
    rec = objective_preset("autogen")(OUT, step=0).record()
    assert rec["kl_share"] == kl_share(rec["kl_term"], rec["objective"])
