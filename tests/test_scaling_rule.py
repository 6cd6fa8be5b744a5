"""The scaling-rule algebra of section 5 (sdesim.estimators.scaling_rule).

Theorems 5.2 and 5.5 are checked on constructed equilibria: SGD's (R, G, N) tied by
eq. (11), the SDE's by eq. (12).  Whenever a pair is C-close (or (C, κ)-LSI holds) for the
measured C, the theorems' failure conditions must stay silent at that C.
"""

import math

import numpy as np
import pytest

from seeds import seed
from sdesim.estimators import scaling_rule as sr


def random_equilibria(rng, n):
    """n random SGD equilibria obeying eq. (11) and SDE equilibria obeying eq. (12)."""
    lr = rng.uniform(0.01, 2.0, n)
    wd = rng.uniform(1e-4, 0.5, n) / lr          # ηλ < 0.5
    G, N = rng.lognormal(0, 1.5, n), rng.lognormal(0, 1.5, n)
    R = sr.sgd_equilibrium_norm(lr, wd, G, N)
    Gb, Nb = G * rng.lognormal(0, 0.5, n), lr * N * rng.lognormal(0, 0.5, n)
    Rb = sr.sde_equilibrium_norm(wd, Nb)
    return lr, wd, (R, G, N), (Rb, Gb, Nb)


def test_equilibria_are_fixed_points_of_the_norm_recursions():
    # eq. (10) with ⟨∇L, x⟩ = 0: R' = (1 − ηλ)² R + η²(G + N); eq. (9): dR/dt = −2λR + N̄
    lr, wd, G, N = 0.3, 0.05, 0.7, 2.5
    R = sr.sgd_equilibrium_norm(lr, wd, G, N)
    assert (1 - lr * wd) ** 2 * R + lr**2 * (G + N) == pytest.approx(R, rel=1e-13)
    Rb = sr.sde_equilibrium_norm(wd, lr * N)
    assert -2 * wd * Rb + lr * N == pytest.approx(0.0, abs=1e-13)


def test_closeness_is_the_largest_ratio_either_way():
    assert sr.closeness((2.0, 1.0, 1.0), (1.0, 1.0, 0.1), lr=0.1) == pytest.approx(2.0)
    assert sr.closeness((1.0, 1.0, 1.0), (1.0, 3.0, 0.1), lr=0.1) == pytest.approx(3.0)
    assert sr.closeness((1.0, 1.0, 1.0), (1.0, 1.0, 0.1), lr=0.1) == pytest.approx(1.0)
    got = sr.closeness((np.array([1.0, 4.0]), 1.0, 1.0), (1.0, 1.0, 0.5), lr=0.5)
    np.testing.assert_allclose(got, [1.0, 4.0])


def test_theorem_5_2_never_fires_on_close_equilibria():
    rng = np.random.default_rng(seed(52))
    lr, wd, sgd, sde = random_equilibria(rng, 20000)
    C = sr.closeness(sgd, sde, lr) * (1 + 1e-12)
    verdict = sr.closeness_fails(lr, sgd[2], sgd[1], C=C, sde_noise=sde[2], sde_signal=sde[1])
    assert not np.any(verdict.fails)
    # and the conditions do fire often at a smaller C (the check is not vacuous)
    tighter = sr.closeness_fails(lr, sgd[2], sgd[1], C=np.maximum(1.01, C / 1.5), sde_noise=sde[2],
                                 sde_signal=sde[1])
    assert np.mean(tighter.fails) > 0.05


def test_theorem_5_2_thresholds_at_the_boundary():
    # C = 2: (ii) fires for N/G < 1/3, (i) for η > 3 N̄/Ḡ; both are strict
    at = sr.closeness_fails(0.3, 1.0, 3.0, C=2.0, sde_noise=0.1, sde_signal=1.0)
    assert at.nsr_threshold == pytest.approx(1 / 3) and at.lr_threshold == pytest.approx(0.3)
    assert not at.nsr_too_small and not at.lr_too_large and not at.fails
    below = sr.closeness_fails(0.3, 0.99, 3.0, C=2.0)
    assert below.nsr_too_small and below.fails and below.lr_too_large is None and below.lr_threshold is None
    above = sr.closeness_fails(0.31, 1.0, 3.0, C=2.0, sde_noise=0.1, sde_signal=1.0)
    assert above.lr_too_large and not above.nsr_too_small and above.fails


def test_theorem_5_5_and_5_6_never_fire_when_lsi_holds():
    rng = np.random.default_rng(seed(55))
    n = 20000
    lr = rng.uniform(0.01, 1.0, n)
    wd = rng.uniform(1e-4, 0.2, n) / lr
    kappa = rng.uniform(1.0, 8.0, n)
    G, N = rng.lognormal(0, 1.5, n), rng.lognormal(0, 1.5, n)
    Gs, Ns = G * rng.lognormal(0, 0.4, n), N / kappa * rng.lognormal(0, 0.4, n)
    R = sr.sgd_equilibrium_norm(lr, wd, G, N)
    Rs = sr.sgd_equilibrium_norm(kappa * lr, wd, Gs, Ns)       # κηλ < 1.6 < 2
    C = sr.lsi_closeness((R, G, N), (Rs, Gs, Ns), kappa) * (1 + 1e-12)
    assert not np.any(sr.lsi_fails(Ns, Gs, kappa, C=C))
    assert np.all(kappa <= sr.largest_kappa(N, G, C=C))
    # the certificates are not vacuous: at a smaller C they fire for some pairs
    smaller = np.maximum(1.01, C / 1.3)
    assert np.mean(sr.lsi_fails(Ns, Gs, kappa, C=smaller)) > 0.01
    assert np.mean(kappa > sr.largest_kappa(N, G, C=smaller)) > 0.01


def test_eq_14_threshold_simplifies():
    kappa, C = np.array([1.0, 2.0, 4.0, 64.0]), 1.5
    direct = (1 - 1 / kappa) / (C**2 - 1) - 1 / kappa
    np.testing.assert_allclose(sr.lsi_nsr_threshold(kappa, C), direct, rtol=1e-14)
    # at κ = C² the threshold is 0, so (14) cannot fire for κ <= C²
    assert sr.lsi_nsr_threshold(4.0, 2.0) == 0.0
    assert not sr.lsi_fails(0.0, 1.0, 4.0, C=2.0)
    assert sr.lsi_fails(0.1, 1.0, 8.0, C=2.0)          # threshold (8 − 4)/(8·3) = 1/6


def test_largest_kappa_and_critical_batch_size():
    assert sr.largest_kappa(10.0, 2.0, C=2.0) == pytest.approx(24.0)
    assert sr.largest_kappa(10.0, 2.0) == pytest.approx(12.0)
    np.testing.assert_allclose(sr.critical_batch_size(32, [10.0, 20.0], 2.0), [384.0, 704.0])


def test_delta_method_stderr_matches_monte_carlo():
    rng = np.random.default_rng(seed(7))
    N, G, seN, seG, cov = 6.0, 1.5, 0.06, 0.015, -0.5 * 0.06 * 0.015
    got = sr.critical_batch_size(16, N, G, noise_se=seN, signal_se=seG, noise_signal_cov=cov)
    draws = rng.multivariate_normal([N, G], [[seN**2, cov], [cov, seG**2]], size=200000)
    mc = 16 * 2 * (1 + draws[:, 0] / draws[:, 1])
    assert got.value == pytest.approx(16 * 2 * (1 + N / G))
    assert got.stderr == pytest.approx(np.std(mc), rel=0.02)
    ratio = sr.noise_to_signal(N, G, noise_se=seN, signal_se=seG, noise_signal_cov=cov)
    assert ratio.value == pytest.approx(4.0) and ratio.stderr == pytest.approx(got.stderr / 32, rel=1e-12)
    exact = sr.largest_kappa(N, G, noise_se=0.0, signal_se=0.0)
    assert exact.stderr == 0.0


@pytest.mark.parametrize("call, message", [
    (lambda: sr.largest_kappa(1.0, 0.0), "signal must be > 0, got 0.0"),
    (lambda: sr.largest_kappa(-1.0, 1.0), "noise must be >= 0, got -1.0"),
    (lambda: sr.largest_kappa(1.0, 1.0, C=1.0), "C must be > 1"),
    (lambda: sr.largest_kappa(1.0, 1.0, noise_se=0.1), "give both noise_se and signal_se"),
    (lambda: sr.largest_kappa(1.0, 1.0, noise_signal_cov=0.1), "noise_signal_cov needs"),
    (lambda: sr.largest_kappa(float("nan"), 1.0), "noise must be finite"),
    (lambda: sr.critical_batch_size(0, 1.0, 1.0), "batch_size must be > 0"),
    (lambda: sr.sgd_equilibrium_norm(1.0, 2.5, 1.0, 1.0), "lr \\* weight_decay must be < 2"),
    (lambda: sr.sde_equilibrium_norm(0.0, 1.0), "weight_decay must be > 0"),
    (lambda: sr.closeness((1.0, 1.0), (1.0, 1.0, 1.0), 0.1), "sgd must be a triple"),
    (lambda: sr.closeness_fails(0.1, 1.0, 1.0, sde_noise=1.0), "give both sde_noise and sde_signal"),
    (lambda: sr.lsi_fails(1.0, 1.0, kappa=-2.0), "kappa must be > 0"),
    (lambda: sr.largest_kappa("a lot", 1.0), "noise must be a real number"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_default_c_is_root_two():
    assert sr.SQRT2 == math.sqrt(2.0)
    assert sr.closeness_fails(0.1, 0.999, 1.0).nsr_too_small
    assert not sr.closeness_fails(0.1, 1.001, 1.0).nsr_too_small


# --- the square-root rule for adaptive methods (Malladi et al. 2022) --------------------------------

@pytest.mark.parametrize("kappa", [0.5, 2.0, 4.0, 8.0, 1.5])
@pytest.mark.parametrize("beta1", [None, 0.9])
def test_square_root_rule_keeps_the_sde_parameters(kappa, beta1):
    before, after = sr.sde_parameters_under_rule(3e-3, 32, kappa, beta1=beta1, beta2=0.999, eps=1e-8,
                                                 noise_scale=2.7)
    for name in ("sigma0", "c2", "eps0") + (("c1",) if beta1 is not None else ()):
        assert getattr(after, name) == pytest.approx(getattr(before, name), rel=1e-12, abs=0), name
    assert (before.c1 is None) == (after.c1 is None) == (beta1 is None)


@pytest.mark.parametrize("kappa", [0.5, 2.0, 4.0])
def test_linear_rule_changes_the_sde_parameters(kappa):
    before, after = sr.sde_parameters_under_rule(3e-3, 32, kappa, beta1=0.9, beta2=0.999, eps=1e-8,
                                                 rule="linear")
    assert after.sigma0 == pytest.approx(math.sqrt(kappa) * before.sigma0, rel=1e-12)
    assert after.c2 == pytest.approx(before.c2 / kappa**2, rel=1e-12)
    assert after.eps0 == pytest.approx(kappa * before.eps0, rel=1e-12)


def test_square_root_and_linear_rules_map_the_hyperparameters():
    new = sr.square_root_rule(1e-3, 64, 4, beta1=0.9, beta2=0.99, eps=1e-8, steps=1000)
    assert (new.lr, new.batch_size, new.steps) == (pytest.approx(2e-3, rel=1e-15), 256, 250)
    assert (new.beta1, new.beta2, new.eps) == (pytest.approx(0.6), pytest.approx(0.96), pytest.approx(5e-9))
    assert sr.square_root_rule(1e-3, 64, 1, beta2=0.99, eps=1e-8).beta1 is None
    small = sr.square_root_rule(1e-3, 64, 0.25, beta2=0.99, eps=1e-8, steps=10)
    assert (small.batch_size, small.steps, small.beta2) == (16, 40, pytest.approx(0.9975))
    assert sr.linear_rule(0.1, 32, 4, steps=100) == sr.ScaledHyperparameters("linear", 4.0, 0.4, 128, steps=25)
    assert sr.square_root_rule(0.1, 32, 10, beta2=0.9, eps=1e-8).beta2 == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("call,message", [
    (lambda: sr.square_root_rule(1e-3, 32, 20, beta1=0.9, beta2=0.999, eps=1e-8), r"beta1 = 1 - kappa.*< 0.*kappa <= "),
    (lambda: sr.square_root_rule(1e-3, 32, 0.3, beta2=0.999, eps=1e-8), r"kappa \* batch_size = 9.6.*m/32"),
    (lambda: sr.square_root_rule(1e-3, 32, 4, beta2=0.999, eps=1e-8, steps=10), r"steps / kappa = 2.5"),
    (lambda: sr.square_root_rule(1e-3, 32, 2, beta2=1.0, eps=1e-8), r"beta2 must be a number in \[0, 1\), got 1.0"),
    (lambda: sr.square_root_rule(1e-3, 32, 2, beta2=0.99, eps=0.0), r"eps must be > 0, got 0.0"),
    (lambda: sr.square_root_rule(1e-3, 32, -2, beta2=0.99, eps=1e-8), r"kappa must be > 0, got -2"),
    (lambda: sr.linear_rule(0.1, 32.0, 2), r"batch_size must be a positive integer, got 32.0"),
    (lambda: sr.adaptive_sde_parameters(0.1, -0.1, 0.9, 1e-8), r"beta1 must be a number in \[0, 1\)"),
    (lambda: sr.sde_parameters_under_rule(0.1, 32, 2, beta2=0.9, eps=1e-8, rule="cubic"), r"unknown rule 'cubic'"),
])
def test_rules_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
