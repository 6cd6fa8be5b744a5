"""An Itô SDE in its own terms (`sdesim.problems.sde`): its Euler step, its study, its refusals.

One compiled kernel serves every test that moves paths: the mean-reverting SDE
dX = (α − βX) dt + γX dW of ``user_sde.py`` (d = 1), with the built-in observables x and norm2.
"""

import json
import math

import numba
import numpy as np
import pytest

import user_sde
from naive import Stream, ref_stream_key
from sdesim.cli import main
from sdesim.estimators.weak_error import weak_error_study
from sdesim.problems import from_record, quadratic, sde
from sdesim.result import to_jsonable
from sdesim.simulate import Run, simulate
from seeds import seed

SDE = user_sde.reverting()


@pytest.fixture
def no_paths_move(monkeypatch):
    def moved(*args, **kwargs):
        raise AssertionError("paths moved before the input was refused")

    monkeypatch.setattr(Run, "blocks", moved)


def test_the_euler_step_is_x_plus_h_b_plus_root_h_sigma_z():
    """Every kept point of every path against x ← x + h b(x) + √h σ(x) z on the path's own normals:
    H = 0.25 and l = 2, so h = 0.125, recorded at t = kH."""
    h, paths, s = 0.125, 3, seed(11)
    result = simulate(SDE, "sde", dt=0.25, l=2, steps=3, paths=paths, seed=s, keep_paths=paths, keep_every=1,
                      observables=["x"])
    assert result.times.tolist() == [0.0, 0.75] and result.dt == h and result.lr == 0.25
    key = ref_stream_key(s)
    for i in range(paths):
        stream, x, kept = Stream(key, i), user_sde.X0, [user_sde.X0]
        for _ in range(6):
            z = stream.normal()
            x = x + h * (user_sde.ALPHA - user_sde.BETA * x) + math.sqrt(h) * user_sde.GAMMA * x * z
            kept.append(x)
        np.testing.assert_allclose(result.kept_paths[i, :, 0], kept, rtol=1e-14, atol=0)


def test_euler_moments_follow_their_exact_recursion():
    """Euler's m₁ ← αh + (1 − βh)m₁ and m₂ ← ((1 − βh)² + γ²h)m₂ + 2αh(1 − βh)m₁ + α²h², to 5 standard errors."""
    h, a, b, c = 0.25, user_sde.ALPHA, user_sde.BETA, user_sde.GAMMA
    result = simulate(SDE, "sde", dt=h, steps=4, paths=20_000, seed=seed(12), observables=["x", "norm2"],
                      checkpoints=[1, 2, 3, 4])
    m1, m2, means = user_sde.X0, user_sde.X0**2, []
    for _ in range(4):
        m1, m2 = a * h + (1 - b * h) * m1, ((1 - b * h) ** 2 + c * c * h) * m2 + 2 * a * h * (1 - b * h) * m1 + (a * h) ** 2
        means.append((m1, m2))
    for name, exact in zip(("x", "norm2"), np.array(means).T):
        obs = result.observables[name]
        z = (obs.mean.ravel() - exact) / obs.stderr.ravel()
        assert np.all(np.abs(z) < 5), (name, z)


def test_converge_on_an_sde_factory_reports_rows_at_h_equal_to_H_over_l(tmp_path, capsys):
    out = tmp_path / "reverting.json"
    assert main(["converge", "--problem", "user_sde:reverting", "--dt", "0.5", "--time", "1", "--l", "1,2,4",
                 "--test", "x,norm2", "--reference", "user_sde:reverting_mean", "--paths", "2000", "--seed", str(seed(13)),
                 "--fit-from", "1", "--plot", "none", "--json", str(out)]) == 3   # three levels, 2000 paths: inconclusive
    data = json.loads(out.read_text())
    assert {fit["kind"] for fit in data["fits"].values()} == {"inconclusive"}
    assert data["method"] == "sde" and data["dt"] == 0.5 and data["lr"] is None and data["time_scale"] == "dt"
    assert data["problem"]["params"]["functions"] == {"drift": "user_sde:reverting_drift",
                                                      "diffusion": "user_sde:reverting_diffusion"}
    assert data["references"] == {"x[0]": "user", "norm2": "extrapolation"}
    assert [r["h"] for r in data["rows"] if r["test"] == "norm2"] == [0.5, 0.25, 0.125]
    assert data["recorded_times"] == [0.5, 1.0]
    coarse = next(r for r in data["rows"] if r["test"] == "x[0]" and r["l"] == 1)
    assert coarse["error"] > 5 * coarse["stderr"]     # Euler's error at h = H is resolved
    assert "weak error of Euler–Maruyama (step h = H/l) on the SDE reverting, H = 0.5" in capsys.readouterr().out


def test_the_record_names_the_functions_and_rebuilds_the_problem():
    record = {"name": SDE.name, "params": to_jsonable(SDE.params)}
    again = from_record(json.loads(json.dumps(record)))
    assert again.sde_terms and again.functions.mean_grad is user_sde.reverting_drift
    assert again.functions.noise_factor is user_sde.reverting_diffusion and again.params["noise_dim"] == 1


@pytest.mark.parametrize("call,error,message", [
    (lambda: weak_error_study(SDE, lr=0.25), ValueError, "lr does not apply to 'reverting', an SDE in its own terms"),
    (lambda: weak_error_study(SDE, dt=0.25, lr=0.25), ValueError, "it has no learning rate"),
    (lambda: weak_error_study(SDE), ValueError, "needs its step dt = H"),
    (lambda: weak_error_study(SDE, dt=0.25, method="svag"), ValueError,
     "method 'svag' does not apply to an SDE in its own terms: it samples stochastic gradients"),
    (lambda: weak_error_study(SDE, dt=0.25, method="adam"), ValueError, "it is RMSprop/Adam"),
    (lambda: weak_error_study(SDE, dt=0.25, hyperparameters={"beta2": 0.9}), ValueError,
     "beta2 applies only to the adaptive methods"),
    (lambda: weak_error_study(SDE, dt=0.25, exact=True), ValueError, "exact does not apply"),
    (lambda: weak_error_study(SDE, dt=0.25, control_variates=False), ValueError, "there are none to turn off"),
    (lambda: weak_error_study(SDE, dt=0.3, time=1.0), ValueError, r"not a whole number of steps of H = 0.3"),
    (lambda: weak_error_study(SDE, dt=0.25, tests=("loss",)), ValueError, "no loss"),
    (lambda: weak_error_study(quadratic(1), dt=0.1), ValueError, "dt is the step H of an SDE in its own terms"),
    (lambda: simulate(SDE, "sgd", dt=0.1), ValueError, "method 'sgd' does not apply to an SDE in its own terms"),
    (lambda: simulate(SDE, "ngd", dt=0.1), ValueError, "it needs a learning rate η"),
    (lambda: simulate(SDE, "sde", lr=0.1, dt=0.1), ValueError, "lr does not apply"),
    (lambda: simulate(SDE, "sde"), ValueError, "give its step dt"),
    (lambda: simulate(SDE, "sde", dt=0.1, scheme="exact"), ValueError, "use scheme 'euler'"),
    (lambda: simulate(SDE, "sde", dt=0.1, observables=["loss"]), ValueError, "observable 'loss' does not exist"),
])
def test_what_an_sde_in_its_own_terms_refuses(call, error, message, no_paths_move):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("extra,message", [
    (["--dt", "0.25", "--lr", "0.2"], "--lr does not apply to 'reverting', an SDE in its own terms"),
    (["--lr", "0.2"], "--lr does not apply"),
    (["--time", "1"], "needs its step --dt = H"),
    (["--dt", "0.25", "--method", "svag"], "method 'svag' does not apply"),
    (["--dt", "0.25", "--beta2", "0.9"], "--beta2 applies only to the adaptive methods"),
    (["--dt", "0.25", "--exact"], "--exact does not apply"),
    (["--dt", "0.25", "--no-control-variates"], "--no-control-variates does not apply"),
    (["--dt", "0.3", "--time", "1"], r"T = 1 is not a whole number of steps of H = 0.3"),
    (["--dt", "0.25", "--batch-size", "4"], "--batch-size do not apply to a problem from a factory"),
])
def test_converge_refuses_sgd_options_for_an_sde(extra, message, no_paths_move, capsys):
    assert main(["converge", "--problem", "user_sde:reverting", "--plot", "none", *extra]) == 2
    assert message in capsys.readouterr().err


def test_converge_refuses_dt_for_an_sgd_family_problem(no_paths_move, capsys):
    assert main(["converge", "--problem", "quadratic", "--dt", "0.1", "--plot", "none"]) == 2
    assert "--dt is the step H of an SDE in its own terms" in capsys.readouterr().err


# --- bad drift and diffusion: refused when the problem is built, before anything runs --------------

@numba.njit
def drift_short(x, data, out):          # d = 2 but writes one entry
    out[0] = -x[0]


@numba.njit
def drift_long(x, data, out):           # d = 1 but writes two entries
    out[0] = -x[0]
    out[1] = 0.0


@numba.njit
def drift_nan(x, data, out):
    out[0] = math.log(x[0])             # NaN at x0 = −1


@numba.njit
def drift_two_args(x, out):
    out[0] = -x[0]


@numba.njit
def drift_1d(x, data, out):
    out[0] = -x[0]


@numba.njit
def diffusion_1d(x, data, out):
    out[0, 0] = 1.0


@numba.njit
def diffusion_square(x, data, out):     # writes d × d when noise_dim = 1
    for i in range(x.shape[0]):
        for j in range(x.shape[0]):
            out[i, j] = 1.0


@numba.njit
def diffusion_inf(x, data, out):
    out[0, 0] = math.exp(1000.0 * x[0])   # inf at x0 = 1


@numba.njit
def drift_2d(x, data, out):
    out[0] = -x[0]
    out[1] = -x[1]


def drift_python(x, data, out):
    out[0] = -x[0]


@pytest.mark.parametrize("dim,options,error,message", [
    (1, dict(drift=drift_python), TypeError, "drift must be a numba-compiled function drift"),
    (1, dict(diffusion=lambda x, data, out: None), TypeError, "diffusion must be a numba-compiled function"),
    (2, dict(drift=drift_short, diffusion=diffusion_square, x0=[1.0, 1.0], noise_dim=2), ValueError,
     r"drift of SDE 'bad' returned a non-finite value .* out\[1\] = nan .* never wrote"),
    (1, dict(drift=drift_long), ValueError, r"drift of SDE 'bad' wrote past the end of out .* shape \(1,\)"),
    (2, dict(drift=drift_2d, diffusion=diffusion_square, x0=[1.0, 1.0], noise_dim=1), ValueError,
     r"diffusion of SDE 'bad' wrote past the end of out .* shape \(2, 1\)"),
    (2, dict(drift=drift_2d, diffusion=diffusion_1d, x0=[1.0, 1.0]), ValueError,
     r"diffusion of SDE 'bad' returned a non-finite value .* out\[0, 1\] = nan"),
    (1, dict(drift=drift_nan, x0=[-1.0]), ValueError, r"drift of SDE 'bad' returned a non-finite value at x0 = \[-1.\]"),
    (1, dict(diffusion=diffusion_inf), ValueError, r"diffusion .* non-finite value .* out\[0, 0\] = inf"),
    (1, dict(drift=drift_two_args), TypeError, r"drift of SDE 'bad' failed when called as drift\(x, data, out\)"),
    (2, dict(x0=[1.0]), ValueError, r"x0 must have shape \(2,\), got \(1,\)"),
    (1, dict(x0=[[1.0]]), ValueError, r"x0 must have shape \(1,\), got \(1, 1\)"),
    (1, dict(x0=[math.nan]), ValueError, "x0 must contain only finite numbers"),
    (1, dict(noise_dim=0), ValueError, "noise_dim"),
    (1, dict(noise_dim=1.5), (TypeError, ValueError), "noise_dim"),
    (1, dict(data=[1.0]), TypeError, "data must be a tuple"),
])
def test_sde_refuses_bad_functions_and_shapes(dim, options, error, message):
    arguments = {**dict(drift=drift_1d, diffusion=diffusion_1d, x0=[1.0]), **options}
    with pytest.raises(error, match=message):
        sde("bad", dim, **arguments)
