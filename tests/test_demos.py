"""The teaching demonstrations at tiny size: each returns its figure and its numbers, and the numbers
agree with the exact values (closed forms, Lyapunov equations, the Gibbs law) within 5 standard errors."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from seeds import seed
from sdesim import demos

ROOT = Path(__file__).resolve().parents[1]


def assert_within_5_stderr(demo):
    checked = [r for r in demo.rows if r.z is not None]
    assert checked, "the demo shows no measured number with an exact value"
    for r in checked:
        assert abs(r.z) < 5, f"{r.name}: measured {r.measured} ± {r.stderr}, exact {r.exact} (z = {r.z:.2f})"


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --- histograms ---------------------------------------------------------------------------------------


def test_svag_closed_form_by_hand():
    """One SGD step from 0 on ½(x−1)² with skewed noise: x₁ = η(1 − ξ), so mean η, Var η², κ₃ = −2η³."""
    mean, var, third = demos.svag_exact_moments(0.3, 1, 1)
    assert np.allclose([mean, var, third], [0.3, 0.09, -2 * 0.3**3], rtol=1e-14)
    # two SVAG steps of η/2 (l = 2): ρ = 1 − η/2, Var = (η/2)² · 2 · (1 + ρ²), κ₃ = −(η/2)³ · (5/2) · 2 · (1 + ρ³)
    rho = 1 - 0.15
    _, var2, third2 = demos.svag_exact_moments(0.3, 2, 1)
    assert np.isclose(var2, 0.15**2 * 2 * (1 + rho**2), rtol=1e-14)
    assert np.isclose(third2, -(0.15**3) * 2.5 * 2 * (1 + rho**3), rtol=1e-14)


def test_svag_closed_form_tends_to_the_sde():
    mean_sde, var_sde = demos.sde_exact_moments(0.5, 1.0)
    errors = []
    for l in (64, 128, 256):
        mean, var, third = demos.svag_exact_moments(0.5, l, 2)
        errors.append(abs(var - var_sde))
        assert abs(third) < 2.0 / l
    assert errors[1] / errors[0] == pytest.approx(0.5, rel=0.02)   # order 1 in l
    assert errors[2] / errors[1] == pytest.approx(0.5, rel=0.02)


def test_histograms():
    demo = demos.histograms(l_values=(1, 4), paths=8_000, seed=seed(1))
    assert isinstance(demo.figure, Figure)
    assert_within_5_stderr(demo)
    assert len([r for r in demo.rows if r.z is not None]) == 9     # mean, variance, κ₃ of SGD, SVAG l=4, SDE
    # the skew shrinks with l: the exact third moments, and the measured ones beyond their errors
    sgd, svag = demo.row("SGD: third central moment"), demo.row("SVAG l=4: third central moment")
    assert sgd.exact < svag.exact < 0
    assert svag.measured - sgd.measured > 5 * math.hypot(sgd.stderr, svag.stderr)
    labels = legend_texts(demo.figure.axes[0])
    assert any(text.startswith("SGD: skewness") for text in labels)
    assert "SGD: mean" in demo.table()


# --- double well --------------------------------------------------------------------------------------


def test_gibbs_density_of_the_double_well():
    density, second, right = demos.gibbs_double_well(0.5, 0.2)
    x = np.linspace(-4, 4, 40_001)
    assert np.trapezoid(density(x), x) == pytest.approx(1.0, abs=1e-9)
    assert np.trapezoid(x * x * density(x), x) == pytest.approx(second, abs=1e-9)
    assert right == 0.5
    # a cold well concentrates on x = ±1: E x² → 1
    assert demos.gibbs_double_well(0.5, 1e-3)[1] == pytest.approx(1.0, abs=5e-3)


def test_double_well_paths():
    demo = demos.double_well_paths(paths=2_000, shown=3, seed=seed(2))
    assert isinstance(demo.figure, Figure)
    assert len(demo.figure.axes) == 3
    assert len(demo.figure.axes[0].get_lines()) == 3 + 1          # the shown paths and the line x = 0
    assert_within_5_stderr(demo)                                   # the SDE against Gibbs; both P(x > 0) = ½
    assert demo.row("SDE: E x² at t=100").exact == demo.row("Gibbs exp(−L/T): E x², exact").measured


# --- the stationary law against Gibbs -------------------------------------------------------------------


def test_stationary_covariances_solve_their_equations():
    h = np.array([[1.0, 0.3], [0.3, 4.0]])
    s = np.array([[0.4, 0.6], [0.6, 1.6]])
    sgd, sde, gibbs = demos.stationary_covariances(h, s, 0.1)
    rho = np.eye(2) - 0.1 * h
    assert np.allclose(rho @ sgd @ rho.T + 0.01 * s, sgd, atol=1e-15)
    assert np.allclose(h @ sde + sde @ h, 0.1 * s, atol=1e-15)
    assert np.allclose(gibbs, 0.1 * 1.0 / 2 * np.linalg.inv(h))    # T = η Tr Σ / (2d) = 0.05
    # with H diagonal, (H₁₁ + H₂₂) S₁₂ = η Σ₁₂ and 2 H_ii S_ii = η Σ_ii
    _, sde, gibbs = demos.stationary_covariances(np.diag([1.0, 4.0]), s, 0.1)
    assert np.allclose(sde, [[0.02, 0.012], [0.012, 0.02]], rtol=1e-12)
    assert gibbs[0, 1] == 0
    # isotropic noise: the Lyapunov solution is the Gibbs covariance
    _, sde, gibbs = demos.stationary_covariances(h, 2.0 * np.eye(2), 0.1)
    assert np.allclose(sde, gibbs, rtol=1e-12)
    # SGD → the SDE as η → 0, at rate η
    gaps = [np.abs(demos.stationary_covariances(h, s, lr)[0] / lr - demos.stationary_covariances(h, s, lr)[1] / lr)
            .max() for lr in (1e-2, 5e-3)]
    assert gaps[1] / gaps[0] == pytest.approx(0.5, rel=0.02)


def test_stationary_gibbs():
    demo = demos.stationary_gibbs(paths=6_000, seed=seed(3))
    assert isinstance(demo.figure, Figure)
    assert_within_5_stderr(demo)
    assert demo.row("anisotropic Σ: |S_SDE − T H⁻¹| / |T H⁻¹|, exact").measured > 0.5
    assert demo.row("isotropic Σ: |S_SDE − T H⁻¹| / |T H⁻¹|, exact").measured < 1e-12
    # SGD's correlation is far from Gibbs' zero under anisotropic noise
    cov = demo.row("anisotropic Σ: SGD Cov x₁x₂")
    assert cov.measured > 20 * cov.stderr


def test_stationary_covariances_refuse_an_unstable_learning_rate():
    with pytest.raises(ValueError, match="no stationary law"):
        demos.stationary_covariances(np.diag([1.0, 4.0]), np.eye(2), 0.6)


# --- the weak-error plot --------------------------------------------------------------------------------


def test_weak_error_exact():
    demo = demos.weak_error(l_values=(4, 8, 16, 32, 64), exact=True)
    assert isinstance(demo.figure, Figure)
    ax = demo.figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    order = demo.row("norm2: order p")
    assert order.measured == pytest.approx(1.0, abs=0.05)
    errors = [demo.row(f"norm2: e(l={l})").measured for l in (4, 8, 16, 32, 64)]
    assert np.all(np.abs(np.diff(np.log2(np.abs(errors))) + 1) < 0.1)   # halves when l doubles


# --- bad input and the scripts ----------------------------------------------------------------------------


@pytest.mark.parametrize("call,message", [
    (lambda: demos.histograms(l_values=()), "at least one l"),
    (lambda: demos.histograms(lr=0.3, time=1.0), "whole number"),
    (lambda: demos.histograms(l_values=(0,)), "l"),
    (lambda: demos.double_well_paths(paths=2, shown=3), "shown"),
    (lambda: demos.stationary_gibbs(hessian=np.eye(3)), "hessian"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_script_prints_its_numbers_and_writes_its_picture(tmp_path):
    out = tmp_path / "h.png"
    done = subprocess.run([sys.executable, str(ROOT / "demos" / "histograms.py"), "--paths", "2000", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "SGD: third central moment" in done.stdout
    assert out.stat().st_size > 1000
