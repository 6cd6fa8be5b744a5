"""Lesson 3 (stationary): it runs headless with its numbers on their exact values, its exercise's
self-check finds the Langevin temperature, and `sdesim.demos.gibbs_gap` / `anisotropic_noise` agree
with an independent solution of the Lyapunov equation (its Kronecker form, solved as a linear system)."""

import numpy as np
import pytest

from seeds import seed
from sdesim import demos

pytest.importorskip("marimo")


def test_lesson_runs_headless_with_its_numbers_on_their_exact_values():
    from sdesim.lessons import load

    _, defs = load("stationary").run()
    rows = defs["lesson_rows"]
    assert len(rows) == 9         # double well: SGD P(x>0), SDE E x², SDE P(x>0); SGD's covariance in both panels
    for r in rows:
        assert abs(r.z) < 5, f"{r.name}: measured {r.measured} ± {r.stderr}, exact {r.exact} (z = {r.z:.2f})"
    assert defs["well_paths"] == 1_000 and defs["plane_paths"] == 10_000
    assert defs["gap"].rows[0].measured > 0.5            # default α = 1: far from Gibbs
    assert not defs["verdict"].right


def test_self_check_finds_the_langevin_temperature():
    from sdesim.lessons.exercises.stationary import check

    right = check("0.2", seed=seed(31))
    assert right.right and "T = ησ²/2" in right.why
    for wrong, reason in (("0.4", "twice T"), ("0.1", "variance σ², not σ"), ("1/3", "√(2T)")):
        verdict = check(wrong, seed=seed(31))
        assert not verdict.right and reason in verdict.why and "standard errors" in verdict.why
    for malformed in ("T", "0.2, 0.4", True):
        verdict = check(malformed)
        assert not verdict.right and "type a single number" in verdict.why


def lyapunov_by_kronecker(h, sigma, lr):
    """S with H S + S H = ηΣ from (I ⊗ H + H ⊗ I) vec S = η vec Σ."""
    d = len(h)
    system = np.kron(np.eye(d), h) + np.kron(h, np.eye(d))
    return np.linalg.solve(system, lr * sigma.reshape(-1)).reshape(d, d)


def test_gibbs_gap_against_an_independent_lyapunov_solution():
    h = np.diag([1.0, 4.0])
    for alpha in (0.0, 0.3, 1.0):
        sigma = demos.anisotropic_noise(alpha)
        assert np.trace(sigma) == pytest.approx(2.0) and np.all(np.linalg.eigvalsh(sigma) >= 0)
        s = lyapunov_by_kronecker(h, sigma, 0.1)
        gibbs = 0.1 * 2.0 / 4 * np.linalg.inv(h)           # T = η Tr Σ / (2d)
        demo = demos.gibbs_gap(alpha, lr=0.1, points=5)
        assert demo.rows[0].measured == pytest.approx(np.linalg.norm(s - gibbs) / np.linalg.norm(gibbs), abs=1e-12)
        assert demo.rows[1].measured == pytest.approx(0.05)
        # direction i feels T_i = ηΣ_ii/2 (H diagonal), and (HS)₁₂ = H₁₁ ηΣ₁₂/(H₁₁ + H₂₂)
        assert [r.measured for r in demo.rows[2:4]] == pytest.approx(0.1 * np.diag(sigma) / 2, abs=1e-12)
        assert demo.rows[4].measured == pytest.approx(1.0 * 0.1 * sigma[0, 1] / 5, abs=1e-12)
    assert demos.gibbs_gap(0.0).rows[0].measured < 1e-12     # isotropic noise: Gibbs
    assert np.allclose(demos.anisotropic_noise(1.0), [[0.4, 0.6], [0.6, 1.6]])


def test_stationary_gibbs_with_partial_anisotropy():
    demo = demos.stationary_gibbs(lr=0.16, noise_cov=demos.anisotropic_noise(0.5), paths=4_000, seed=seed(32))
    for r in demo.rows:
        assert r.z is None or abs(r.z) < 5, r
