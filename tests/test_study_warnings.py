"""The warnings a weak-error study writes into its record: the table's footer and JSON ``warnings``."""

import json
import warnings

import numpy as np
import pytest

import user_problem
from seeds import seed
from sdesim.cli import main
from sdesim.estimators.study_warnings import block_shares, dominant_block, heavy
from sdesim.estimators.weak_error import weak_error_study
from sdesim.kernels.stats import BlockStats
from sdesim.problems import custom, from_record, quadratic
from sdesim.simulate import Run, simulate
from test_estimators import your_module


def _block_stats(samples):
    """BlockStats of one observable from samples (steps, blocks, paths per block)."""
    steps, blocks, n = samples.shape
    means = samples.mean(axis=2)
    m2s = ((samples - means[..., None]) ** 2).sum(axis=2)
    return BlockStats(counts=np.full((blocks, steps), n, np.int64), means=means.T[..., None], m2s=m2s.T[..., None],
                      bad_counts=np.zeros(blocks, np.int64), first_bad=np.zeros(blocks, np.int64),
                      comoments=np.zeros((blocks, steps, 0, 0)))


def _flagged_steps(samples) -> int:
    """How many steps (rows of samples) the heavy-tail rule flags."""
    return sum(heavy(share, blocks) for share, blocks in zip(*block_shares(_block_stats(samples), 0)))


def test_the_heavy_tail_rule_holds_its_false_alarm_rate_on_light_tails_and_flags_cauchy():
    # 11 blocks of 128 paths: a false alarm needs |Z| > 7.1 in one of 1408 draws for Z² (2·10⁻⁹ a step) and is out
    # of reach for Z, so 0 of 20 000 steps fails by chance about 4·10⁻⁵ of the time; Cauchy steps are flagged at
    # about 70% (at least 50% of 2000: 9 standard errors of margin)
    rng = np.random.default_rng(seed(190))
    for _ in range(4):
        z = rng.standard_normal((5000, 11, 128))
        assert _flagged_steps(z) == 0 and _flagged_steps(z * z) == 0
    assert _flagged_steps(rng.standard_cauchy((2000, 11, 128))) > 1000
    assert np.isnan(dominant_block(_block_stats(np.ones((3, 11, 128))), 0)[0])   # a constant test: nothing to judge


def test_a_clean_study_warns_of_nothing_but_its_noise_floor():
    problem = quadratic(1)                       # Gaussian noise: the SDE is an Ornstein–Uhlenbeck process
    sde = problem.exact_sde

    def exact(name, times):
        return np.array([sde.observables(t, np.zeros(1), 0.2)[name] for t in times])

    for k in range(6):                           # x and |x|² on 20 blocks of 128 paths, six seeds
        study = weak_error_study(problem, lr=0.2, time=0.6, tests=("x", "norm2"), l_values=[1, 2, 4], paths=2560,
                                 block_size=128, seed=seed(191 + k), reference=exact, control_variates=False)
        assert all("noise floor" in w for w in study.warnings), study.warnings
        assert study.references == {"x[0]": "user", "norm2": "user"}


def exact_x(name, times):
    """E X_t of quadratic(1) from 0 (the exact SDE's mean) for the test x; None for any other."""
    return np.array([quadratic(1).exact_sde.mean(t, np.zeros(1)) for t in times]) if name == "x" else None


def test_a_reference_callable_that_leaves_a_test_out_says_which_and_what_it_got():
    problem = quadratic(1)
    study = weak_error_study(problem, lr=0.2, time=0.6, tests=("x", "norm4"), l_values=[1, 2, 4], paths=1000,
                             seed=seed(9), reference=exact_x, control_variates=False)
    warning = ("the reference callable test_study_warnings:exact_x returned None for 1 of 2 test functions, which "
               "fell back to another reference: norm4 (exact)")
    assert warning in study.warnings and warning in study.to_dict()["warnings"]
    assert f"warning: {warning}" in study.table().splitlines()


def test_a_reference_callable_that_answers_no_test_is_refused_before_any_path_moves(monkeypatch):
    monkeypatch.setattr(Run, "blocks", lambda *a, **k: pytest.fail("a path moved before the error"))
    with pytest.raises(ValueError, match=r"reference callable \S+<lambda> returned None for every test function "
                                         r"\(x, norm4\): it gives no reference at all"):
        weak_error_study(quadratic(1), lr=0.2, time=0.6, tests=("x", "norm4"), l_values=[1, 2, 4], paths=1000,
                         reference=lambda name, times: None)


TESTS = "\n@numba.njit\ndef tan_x(x):\n    return np.tan(x[0])\n"


def test_heavy_tails_and_missed_tests_reach_the_table_and_the_json(tmp_path, monkeypatch, capsys):
    # One run (one kernel to compile) for two warnings, each in its case.  tan x has no finite mean under
    # Euler–Maruyama on the arctan SDE (a step can land near π/2): at H = 0.5 one block of 1024 paths holds most of
    # its squared deviations (flagged in 30 of 30 seeds, x in none); its exact callable knows x only.  (log x,
    # NaN where x < 0, stops the study naming it: tests/test_bad_input.py)
    your_module(tmp_path, monkeypatch, extra=TESTS)
    out = tmp_path / "tan.json"
    assert main(["converge", "--problem", "arctan_sde:make_problem", "--test", "x,arctan_sde:tan_x",
                 "--reference", "arctan_sde:exact", "--dt", "0.5", "--time", "2", "--l", "1,2,4", "--fit-from", "1",
                 "--paths", "20480", "--seed", str(seed(192)), "--plot", "none", "--json", str(out)]) in (0, 1, 3)
    footer = [line[len("warning: "):] for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    recorded = json.loads(out.read_text())["warnings"]
    assert footer == recorded
    expected = ["the reference callable arctan_sde:exact returned None for 1 of 2 test functions, which fell back to "
                "another reference: tan_x (extrapolation)",
                "tan_x: heavy tails at sde l = "]
    for start in expected:
        assert sum(w.startswith(start) for w in recorded) == 1, (start, recorded)
    assert sum("heavy tails" in w for w in recorded) == 1


def test_a_study_at_another_learning_rate_than_the_problem_declares_says_so():
    problem = custom("quartic", 2, lr=0.1, **QUARTIC)
    study = weak_error_study(problem, lr=0.2, time=0.4, tests=("x",), l_values=[1, 2, 4], paths=200, seed=seed(193),
                             fit_from=1)
    mismatch = [w for w in study.warnings if w.startswith("problem 'quartic' is written for lr = 0.1")]
    assert len(mismatch) == 1 and "runs at lr = 0.2" in mismatch[0]
    assert f"warning: {mismatch[0]}" in study.table() and mismatch[0] in study.to_dict()["warnings"]
    assert study.to_dict()["problem"]["params"]["lr"] == 0.1
    matched = weak_error_study(problem, lr=0.1, time=0.4, tests=("x",), l_values=[1, 2, 4], paths=200, seed=seed(193),
                               fit_from=1)
    assert not any("is written for lr" in w for w in matched.warnings)


QUARTIC = dict(sample_grad=user_problem.sample_grad, mean_grad=user_problem.mean_grad,
               noise_factor=user_problem.noise_factor, loss=user_problem.loss, init_state=user_problem.no_state,
               data=(0.5,), x0=[0.4, -0.2])


def test_a_problem_declares_its_learning_rate_and_simulate_warns_at_another():
    problem = custom("quartic", 2, lr=0.1, **QUARTIC)
    assert problem.params["lr"] == 0.1 and custom("quartic", 2, **QUARTIC).params["lr"] is None
    assert from_record({"name": problem.name, "params": problem.params}).params["lr"] == 0.1
    kw = dict(steps=1, paths=100, seed=1, observables=["x"])
    with pytest.warns(UserWarning, match=r"problem 'quartic' is written for lr = 0\.1 .* runs at lr = 0\.2"):
        simulate(problem, "sgd", lr=0.2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(problem, "sgd", lr=0.1, **kw)
    with pytest.raises(ValueError, match=r"lr \(the learning rate the problem's functions are written for\) must be "
                                         r"finite and > 0, got -0\.1"):
        custom("quartic", 2, lr=-0.1, **QUARTIC)
