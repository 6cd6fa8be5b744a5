"""Scale-invariant nets (sdesim.torch.nets): L(cx) = L(x) and ⟨∇L(x), x⟩ = 0 to float precision."""

import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from sdesim.torch import nets  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-12   # float64


def batch(shape, classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64),
            torch.randint(0, classes, (shape[0],), generator=gen))


INVARIANT = {
    "mlp-batch": (lambda: nets.scale_invariant_mlp(64, 10, hidden=(32, 16), norm="batch", seed=1), (12, 64)),
    "mlp-group": (lambda: nets.scale_invariant_mlp(64, 10, hidden=(32, 16), norm="group", seed=1), (12, 64)),
    "cnn-batch-8x8": (lambda: nets.scale_invariant_cnn(1, 10, channels=(8, 16), norm="batch", seed=1), (6, 1, 8, 8)),
    "cnn-group-32x32": (lambda: nets.scale_invariant_cnn(3, 10, channels=(8, 8), norm="group", seed=1), (4, 3, 32, 32)),
}


@pytest.mark.parametrize("name", INVARIANT)
def test_scale_invariant_nets_are_invariant(name):
    build, shape = INVARIANT[name]
    model = build().double()
    check = nets.check_scale_invariance(model, F.cross_entropy, batch(shape), scales=(0.01, 0.5, 3.0, 100.0))
    assert check.max_loss_change < TOL and check.gradient_cosine < TOL, check
    assert check.holds(TOL)
    # the last layer is frozen and every other layer has no bias
    params = list(model.parameters())
    assert all(p.dim() > 1 for p in params)
    assert all(p.requires_grad for p in params[:-1]) and not params[-1].requires_grad


def test_group_norm_net_stays_invariant_in_eval_mode():
    model = nets.scale_invariant_mlp(64, 10, norm="group", seed=3).double().eval()
    assert nets.check_scale_invariance(model, F.cross_entropy, batch((5, 64))).holds(TOL)


@pytest.mark.parametrize("build", [lambda: nets.mlp(64, 10, norm="batch", seed=1),
                                   lambda: nets.mlp(64, 10, norm=None, seed=1),
                                   lambda: nets.cnn(1, 10, norm="group", seed=1)])
def test_ordinary_nets_fail_the_check(build):
    model = build().double()
    shape = (12, 1, 8, 8) if isinstance(model[0], torch.nn.Conv2d) else (12, 64)
    check = nets.check_scale_invariance(model, F.cross_entropy, batch(shape))
    assert check.max_loss_change > 1e-3 and check.gradient_cosine > 1e-4, check
    assert not check.holds(1e-6)


def test_check_has_no_side_effects():
    model = nets.scale_invariant_mlp(64, 10, seed=2).double()
    inputs, targets = batch((12, 64))
    model(inputs).sum().backward()
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    nets.check_scale_invariance(model, F.cross_entropy, (inputs, targets))
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    for p, g in zip(model.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


def test_invariant_batch_norm_matches_torchs_away_from_eps():
    ours = nets.InvariantBatchNorm(5)
    theirs = torch.nn.BatchNorm1d(5, eps=1e-300, affine=False).double()
    z = torch.randn(16, 5, dtype=torch.float64) * 3 + 1
    torch.testing.assert_close(ours.double()(z), theirs(z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.running_var, theirs.running_var, rtol=1e-12, atol=1e-12)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(z), theirs(z), rtol=1e-12, atol=1e-12)


def test_seed_fixes_weights_and_spares_the_global_generator():
    state = torch.get_rng_state()
    a, b = nets.scale_invariant_cnn(1, 10, seed=5), nets.scale_invariant_cnn(1, 10, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert nets.weight_norm2(a) == pytest.approx(float(nets.trainable_vector(a).double().pow(2).sum()))
