"""NGD's gradient (eq. (3)): exactly ∇L + (a/N)Σ zᵢ(∇ℓᵢ − ∇L), mean ∇L and covariance f·Σ₁/B.

Statistical checks use fixed seeds (fresh ones with SDESIM_TEST_SEED, tests/seeds.py) and 5 standard errors.
"""

from __future__ import annotations

import math

import pytest

from seeds import seed

torch = pytest.importorskip("torch")

from sdesim.torch.data import covariance_factor, synthetic_classification  # noqa: E402
from sdesim.torch.ngd import (coupling_layers, ngd_gradient, ngd_weights, noise_scale,  # noqa: E402
                              weighted_gradient)

torch.set_num_threads(1)
N, B = 12, 3


def per_example_loss(outputs, targets):
    return torch.nn.functional.cross_entropy(outputs, targets, reduction="none")


def setting():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    data = synthetic_classification(N, dim=4, classes=2, seed=1, dtype=torch.float64)
    return model, data


def per_example_gradients(model, data) -> torch.Tensor:
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters()}

    def loss_one(values, x, y):
        return torch.nn.functional.cross_entropy(functional_call(model, values, (x[None],)), y[None])

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, data.inputs, data.targets)
    return torch.cat([grads[n].reshape(len(data), -1) for n in params], dim=1)


def flat_grad(model):
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    model.zero_grad(set_to_none=True)
    return grads


def test_ngd_gradient_is_the_full_gradient_plus_the_weighted_deviations():
    """The algebra: ∇(1/N)Σ δᵢℓᵢ = ḡ + (a/N) Σ zᵢ (gᵢ − ḡ) for the same z, to rounding."""
    model, data = setting()
    g = per_example_gradients(model, data)
    generator = torch.Generator().manual_seed(4)
    z = torch.randn(N, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ngd_gradient(model, per_example_loss, data, B, generator, covariance_factor=0.7)
    a = math.sqrt(0.7 * N / B)
    expected = g.mean(0) + a / N * (z[:, None] * (g - g.mean(0))).sum(0)
    torch.testing.assert_close(flat_grad(model), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sampling,sample_size", [("replacement", None), ("subset", None), ("subset", 8)])
def test_ngd_noise_has_mean_full_gradient_and_covariance_of_a_batch(sampling, sample_size):
    model, data = setting()
    g = per_example_gradients(model, data)
    mean = g.mean(0)
    f = covariance_factor(sampling, N, B)
    cov = f * (g - mean).T @ (g - mean) / N / B
    generator = torch.Generator().manual_seed(seed(7))
    draws = []
    for _ in range(4000):
        ngd_gradient(model, per_example_loss, data, B, generator, covariance_factor=f, sample_size=sample_size)
        draws.append(flat_grad(model))
    draws = torch.stack(draws)
    n = len(draws)
    assert torch.all(((draws.mean(0) - mean) / torch.sqrt(torch.diag(cov) / n)).abs() < 5)
    centred = draws - mean
    products = centred[:, :, None] * centred[:, None, :]
    z_cov = (products.mean(0) - cov) / (products.std(0) / math.sqrt(n))
    assert torch.all(z_cov.abs() < 5), z_cov.abs().max()
    trace, trace_se = (centred ** 2).sum(1).mean(), (centred ** 2).sum(1).std() / math.sqrt(n)
    assert abs(trace - torch.trace(cov)) < 5 * trace_se
    assert abs(trace - 1.3 * torch.trace(cov)) > 5 * trace_se   # the check can tell a 30% error


def test_weights_average_to_one_and_chunks_do_not_change_the_gradient():
    indices, weights = ngd_weights(N, B, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert indices is None and abs(float(weights.mean()) - 1.0) < 1e-14
    indices, weights = ngd_weights(N, B, torch.Generator().manual_seed(0), sample_size=8, dtype=torch.float64)
    assert len(set(indices.tolist())) == 8 and abs(float(weights.mean()) - 1.0) < 1e-14
    model, data = setting()
    weighted_gradient(model, per_example_loss, data)
    whole = flat_grad(model)
    weighted_gradient(model, per_example_loss, data, chunk_size=5)
    torch.testing.assert_close(flat_grad(model), whole, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(whole, per_example_gradients(model, data).mean(0), rtol=1e-10, atol=1e-14)


def test_noise_scale_of_the_large_batch_variant():
    assert noise_scale(N, B, 1.0, None) == noise_scale(N, B, 1.0, N) == math.sqrt(N / B)
    with pytest.raises(ValueError, match="too small for batch size"):
        noise_scale(1000, 10, 1.0, 5)
    # a subset of M = B examples drawn as SGD draws its batch is SGD itself: no added noise
    assert noise_scale(N, B, covariance_factor("subset", N, B), B) < 1e-6


def test_batch_norm_in_training_mode_is_found():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.GroupNorm(1, 2))
    assert coupling_layers(model) == ["1"]
    model.eval()
    assert coupling_layers(model) == []
