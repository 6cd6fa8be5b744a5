"""The adaptive methods in the engine: RMSprop, Adam and the 2022 paper's SVAG for them, and their SDEs.

- l = 1 equals torch.optim.RMSprop / torch.optim.Adam bit for bit, fed the engine's own gradients and
  given correctly rounded square roots: torch's CPU float64 sqrt (MKL's on x86 wheels) is not correctly
  rounded in about 1% of calls (`test_torch_sqrt_is_not_correctly_rounded`), the engine's is; with
  torch's own sqrt the two agree to a few units in the last place;
- l > 1 takes the scaled hyperparameters (η/l, 1 − (1 − β)/l², εl) and l² small steps per unit η²;
- bad hyperparameters are refused before any path moves.
"""

from __future__ import annotations

import contextlib
import json
import math

import numba
import numpy as np
import pytest

import sdesim
from sdesim import problems, rng
from seeds import seed
from sdesim.methods import plan, svag_weights

torch = pytest.importorskip("torch")

STEPS = 30


@contextlib.contextmanager
def correctly_rounded_sqrt():
    """torch.Tensor.sqrt replaced by NumPy's correctly rounded one (CPU float64 tensors only)."""
    original = torch.Tensor.sqrt
    torch.Tensor.sqrt = lambda self: torch.from_numpy(np.sqrt(self.detach().numpy()))
    try:
        yield
    finally:
        torch.Tensor.sqrt = original


def test_torch_sqrt_is_not_correctly_rounded():
    """Why the bit-for-bit test patches torch's sqrt (if this fails, torch's sqrt became exact: drop the patch)."""
    values = torch.linspace(0.01, 3.0, 100_001, dtype=torch.float64)
    differ = np.mean(values.sqrt().numpy() != np.sqrt(values.numpy()))
    if differ == 0:
        pytest.skip("this torch build's sqrt is correctly rounded")
    with correctly_rounded_sqrt():
        assert np.array_equal(values.sqrt().numpy(), np.sqrt(values.numpy()))
    assert 0 < differ < 0.05


def replay_with_torch(problem, optimizer_factory, *, lr, steps, seed, path, x0):
    """Path ``path`` of the engine's stream, stepped by a torch optimizer on the problem's own gradients."""
    key = rng.stream_key(seed)
    state = np.empty(4, dtype=np.uint64)
    pstate = np.zeros(max(problem.state_size, 1), dtype=np.int64)
    rng.seed_path(key, path, state)
    problem.functions.init_state(problem.data, state, pstate)
    param = torch.nn.Parameter(torch.tensor(np.asarray(x0, dtype=np.float64)))
    optimizer = optimizer_factory([param])
    trajectory = [param.detach().numpy().copy()]
    for _ in range(steps):
        gradient = np.empty(problem.dim)
        problem.functions.sample_grad(param.detach().numpy().copy(), problem.data, state, pstate, gradient)
        param.grad = torch.from_numpy(gradient)
        optimizer.step()
        trajectory.append(param.detach().numpy().copy())
    return np.array(trajectory)


CASES = {
    "rmsprop": (dict(beta2=0.9, eps=1e-3), lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-3,
                                                                                  weight_decay=wd)),
    "adam": (dict(beta1=0.8, beta2=0.95, eps=1e-3), lambda p, lr, wd: torch.optim.Adam(p, lr=lr, betas=(0.8, 0.95),
                                                                                        eps=1e-3, weight_decay=wd)),
    "adam_defaults": (dict(), lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd)),
    "paper_rmsprop": (dict(beta2=0.9, eps=1e-3), lambda p, lr, wd: torch.optim.Adam(p, lr=lr, betas=(0.0, 0.9),
                                                                                     eps=1e-3, weight_decay=wd)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("problem_name,weight_decay", [("quadratic", 0.0), ("quadratic", 0.05),
                                                       ("linear_regression", 0.0)])
def test_l1_equals_torch_optim_bit_for_bit(case, problem_name, weight_decay):
    hyper, factory = CASES[case]
    method = "adam" if case == "adam_defaults" else case
    problem = (problems.quadratic(dim=3, noise="exponential" if weight_decay else "gaussian", weight_decay=weight_decay)
               if problem_name == "quadratic" else problems.linear_regression(dim=3, n=32, batch_size=4))
    x0 = np.array([0.5, -1.0, 2.0])
    lr, paths = 0.05, 3
    result = sdesim.simulate(problem, method, lr=lr, steps=STEPS, paths=paths, seed=7, x0=x0, keep_paths=paths,
                             keep_every=1, observables=["norm2"], **hyper)
    assert result.time_scale == "lr^2"
    np.testing.assert_allclose(result.kept_times[-1], STEPS * lr * lr, rtol=1e-12)
    for path in range(paths):
        with correctly_rounded_sqrt():
            expected = replay_with_torch(problem, lambda p: factory(p, lr, weight_decay), lr=lr, steps=STEPS,
                                         seed=7, path=path, x0=x0)
        assert np.array_equal(result.kept_paths[path], expected), (
            f"path {path}: largest difference {np.max(np.abs(result.kept_paths[path] - expected))}")
        torch_own = replay_with_torch(problem, lambda p: factory(p, lr, weight_decay), lr=lr, steps=STEPS,
                                      seed=7, path=path, x0=x0)
        np.testing.assert_allclose(result.kept_paths[path], torch_own, rtol=1e-13, atol=1e-14)


def test_svag_plan_scales_the_hyperparameters():
    """l: lr η/l, 1 − β → (1 − β)/l², ε → εl, weights of l², l² small steps of time η² per effective step."""
    p = plan("adam", 0.1, 3, beta1=0.9, beta2=0.99, eps=1e-4)
    assert p.h == pytest.approx(0.1 / 3, rel=1e-15)
    assert p.small == pytest.approx((1 - 0.1 / 9, 1 - 0.01 / 9, 3e-4), rel=1e-13)
    assert (p.c1, p.c2) == svag_weights(9)
    assert p.steps_per_unit == 9 and p.time_per_step == pytest.approx(0.01)
    assert list(p.small_steps([0, 1, 4])) == [0, 9, 36]
    one = plan("adam", 0.1, 1, beta1=0.9, beta2=0.99, eps=1e-4)
    assert one.small == (0.9, 0.99, 1e-4) and (one.c1, one.c2) == (1.0, 0.0)   # exactly, not 1 − (1 − β)
    sde = plan("adam_sde", 0.1, 2, beta1=0.9, beta2=0.99, eps=1e-4)
    assert sde.h == pytest.approx(0.01 / 4) and sde.rates == pytest.approx((0.1 / 0.01, 0.01 / 0.01, 0.1, 1e-5))


BAD = [
    (dict(method="adam", beta1=1.0), r"beta1 must lie in \[0, 1\)"),
    (dict(method="adam", beta2=-0.1), "beta2 must lie in"),
    (dict(method="rmsprop", eps=0.0), "eps"),
    (dict(method="adam", eps=-1e-8), "eps"),
    (dict(method="rmsprop", beta1=0.9), "beta1 applies only to Adam"),
    (dict(method="rmsprop", bias_correction=True), "bias correction off by definition"),
    (dict(method="rmsprop_sde", bias_correction=True), "bias correction off by definition"),
    (dict(method="sgd", beta2=0.9), "apply only to the adaptive methods|applies only to the adaptive methods"),
    (dict(method="svag", l=2, eps=1e-8), "applies only to the adaptive methods"),
    (dict(method="adam", v0=-1.0), "v0"),
    (dict(method="adam", v0=[1.0, 2.0, 3.0]), "v0 must be a number or have 2 entries"),
    (dict(method="adam", dt=0.1), "dt applies only to the SDE methods"),
    (dict(method="adam", momentum=0.9), "unknown hyperparameter"),
    (dict(method="adam", bias_correction="yes"), "bias_correction must be True or False"),
]


@pytest.mark.parametrize("settings,message", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_hyperparameters_are_refused(settings, message):
    settings = dict(settings)
    with pytest.raises((ValueError, TypeError), match=message):
        sdesim.simulate(problems.quadratic(dim=2), settings.pop("method"), lr=0.1, steps=2, paths=10, **settings)


def test_state_observables_only_for_methods_that_have_them():
    with pytest.raises(ValueError, match="optimizer state of Adam"):
        sdesim.simulate(problems.quadratic(dim=2), "rmsprop", lr=0.1, steps=2, paths=10, observables=["m"])
    with pytest.raises(ValueError, match="method 'sgd' has none"):
        sdesim.simulate(problems.quadratic(dim=2), "sgd", lr=0.1, steps=2, paths=10, observables=["u"])


def test_weak_error_study_of_adam_svag_against_its_sde():
    """The 2022 paper's SVAG for Adam against Euler on the Adam SDE: the error at l = 1 and l = 2 is resolved
    and falls with l by more than 5 standard errors; the record says t = kη²."""
    from sdesim.estimators.weak_error import weak_error_study

    study = weak_error_study(problems.quadratic(dim=2), lr=0.2, time=1.0, tests=("x",),
                             l_values=(1, 2, 4), method="adam", reference="euler", euler_factor=2, paths=20_000,
                             x0=[2.0, 2.0], hyperparameters=dict(beta1=0.9, beta2=0.99), seed=seed(3))
    rows = study.rows_for("x[0]")
    assert [r.l for r in rows] == [1, 2, 4]
    assert rows[0].error - rows[1].error > 5 * np.hypot(rows[0].stderr, rows[1].stderr)
    assert rows[1].error > 5 * rows[1].stderr
    record = study.to_dict()
    assert record["time_scale"] == "lr^2" and record["steps"] == 25
    assert record["hyperparameters"] == {"beta1": 0.9, "beta2": 0.99}
    np.testing.assert_allclose(study.recorded_times[-1], 1.0)
    assert "η²/32" in study.reference_notes["x[0]"]


@pytest.mark.parametrize("method", ["rmsprop", "rmsprop_sde"])
def test_a_study_of_rmsprop_from_v0_zero_is_refused(method):
    from sdesim.estimators.weak_error import weak_error_study

    with pytest.raises(ValueError, match="starts its SDE at u = 0"):
        weak_error_study(problems.quadratic(dim=1), lr=0.2, time=0.4, method=method, paths=1000)
    with pytest.raises(ValueError, match="the adaptive SDE has no closed form"):
        weak_error_study(problems.quadratic(dim=1), lr=0.2, time=0.4, method="adam", reference="exact", paths=1000)
    with pytest.raises(ValueError, match="moments that close"):
        weak_error_study(problems.quadratic(dim=1), lr=0.2, time=0.4, method="adam", exact=True)


@numba.njit
def _root_sample_grad(x, data, state, pstate, out):
    out[0] = x[0] + math.sqrt(x[0]) * rng.normal(state)


@numba.njit
def _root_mean_grad(x, data, out):
    out[0] = x[0]


@numba.njit
def _root_noise_factor(x, data, out):
    out[0, 0] = math.sqrt(x[0])     # NaN for x < 0


@numba.njit
def _root_loss(x, data):
    return 0.5 * x[0] * x[0]


def test_an_sde_method_needs_a_finite_noise_factor_at_the_start():
    problem = problems.custom("root_noise", 1, sample_grad=_root_sample_grad, mean_grad=_root_mean_grad,
                              noise_factor=_root_noise_factor, loss=_root_loss, x0=[1.0])
    with pytest.raises(ValueError, match=r"noise factor D\(x\) is not finite at x0 = \[-1.\]"):
        sdesim.simulate(problem, "adam_sde", lr=0.1, steps=2, paths=10, x0=[-1.0])


def test_same_numbers_on_any_thread_count_and_blown_up_paths_counted():
    """One stream per path: 1 and 2 threads give the same bits; paths whose gradient turns NaN (x < 0 here)
    are counted as diverged, and the statistics are over the others."""
    problem = problems.custom("root_noise", 1, sample_grad=_root_sample_grad, mean_grad=_root_mean_grad,
                              noise_factor=_root_noise_factor, loss=_root_loss, x0=[1.0])
    runs = [sdesim.simulate(problem, "adam", lr=0.5, l=2, steps=20, paths=3000, seed=4, threads=t, block_size=256,
                            observables=["x", "u", "m"]) for t in (1, 2)]
    for name in ("x", "u", "m"):
        assert np.array_equal(runs[0].mean(name), runs[1].mean(name))
    assert runs[0].diverged == runs[1].diverged > 0
    assert runs[0].counts[-1] == 3000 - runs[0].diverged
    assert np.all(np.isfinite(runs[0].mean("u")))


def test_methods_without_momentum_keep_beta1_zero_at_every_l():
    """paper_rmsprop is Adam with β₁ = 0 at every l: its bias correction 1 − β₁ᵏ stays 1 (SVAG scales 1 − β₂ only)."""
    for l in (1, 2, 4):
        p = plan("paper_rmsprop", 0.1, l, beta2=0.99)
        assert p.small[0] == 0.0 and p.step_params(0.0).one_minus_beta1 == 1.0


@pytest.mark.parametrize("method", ["adam", "adam_sde"])
def test_tabulated_bias_corrections_equal_the_ones_computed_per_step(method, monkeypatch):
    """b₁ and √b₂ come from a per-run table for the first steps; a table cut after 5 rows makes the kernel
    compute the rest itself, with the same bits; from `settled` on both are exactly 1."""
    p = plan(method, 0.5, 1, beta1=0.5, beta2=0.9)
    assert p.correction(p.settled) == (1.0, 1.0) and p.correction(p.settled - 1) != (1.0, 1.0)
    problem = problems.quadratic(dim=2)
    settings = dict(lr=0.5, steps=p.settled + 20, paths=64, seed=2, keep_paths=4, keep_every=1,
                    observables=["x", "u"], beta1=0.5, beta2=0.9)
    full = sdesim.simulate(problem, method, **settings)
    monkeypatch.setattr("sdesim.methods.MAX_CORRECTIONS", 5)
    cut = sdesim.simulate(problem, method, **settings)
    assert np.array_equal(full.kept_paths, cut.kept_paths)
    assert np.array_equal(full.mean("u"), cut.mean("u"))


@pytest.mark.parametrize("method", ["rmsprop", "adam_sde"])
def test_the_json_record_reruns_to_the_same_numbers(method, tmp_path):
    """Every hyperparameter and the time scale are in the record; the recipe of docs/reference/json.md reruns it
    (an SDE reruns with its recorded dt, which is the step: l does not apply then)."""
    problem = problems.quadratic(dim=2)
    result = sdesim.simulate(problem, method, lr=0.2, l=2, steps=6, paths=200, seed=5, checkpoints=[3],
                             beta2=0.9, eps=1e-3, v0=[0.5, 2.0])
    result.to_json(tmp_path / "r.json")
    record = json.loads((tmp_path / "r.json").read_text())
    back = sdesim.Result.from_json(tmp_path / "r.json")
    assert back.time_scale == "lr^2" and back.hyperparameters == record["hyperparameters"]
    assert record["hyperparameters"]["v0"] == [0.5, 2.0] and record["hyperparameters"]["eps"] == 1e-3
    unit = record["lr"] ** 2 if record["time_scale"] == "lr^2" else record["lr"]
    again = sdesim.simulate(problems.from_record(record["problem"]), record["method"], lr=record["lr"],
                            l=1 if record["method"].endswith("sde") else record["l"], steps=record["steps"], paths=record["paths"], seed=record["seed"],
                            checkpoints=np.rint(np.array(record["times"]) / unit).astype(int),
                            dt=record["dt"] if record["method"].endswith("sde") else None,
                            **record["hyperparameters"])
    for name in result.observables:
        assert np.array_equal(again.mean(name), result.mean(name))
