"""The validation suite (``sdesim validate --quick``): every claim passes, the report is written, and a
claim fed a wrong expectation or too few samples fails (the verdicts are not a rubber stamp).

Every claim runs on the seed of its settings (QUICK["seed"]) taken through seeds.seed: the
same numbers as ``sdesim validate --quick`` by default, fresh ones with SDESIM_TEST_SEED=N."""

import json
import math

import numpy as np
import pytest

from seeds import seed
from sdesim.cli import main
from sdesim.estimators.moment_checks import false_alarm_rates, MIN_PATHS, moment_checks
from sdesim.problems import quadratic
from sdesim.validation import CLAIMS, validate
from sdesim.validation import (claim1_one_step_moments, claim2_weak_order, claim3_decomposition,
                               claim4_equilibrium, claim5_scaling_rule, claim6_adaptive_weak_order,
                               claim7_square_root_rule)
from sdesim.validation.equilibrium import Equilibrium, equilibrium
from sdesim.validation.report import (Check, ClaimResult, describe_t_bound, IDENTITY, seed_mean, student_t,
                                      write_report, Z)


def claim_seed(claim) -> int:
    """The seed a claim's quick run uses here: its own, or with SDESIM_TEST_SEED a fresh one."""
    return seed(claim.QUICK["seed"])


def seed_claims(patch, claims):
    """Make `validate` (and ``sdesim validate``) run each claim on `claim_seed` while ``patch`` lasts."""
    for claim in claims:
        patch.setitem(claim.QUICK, "seed", claim_seed(claim))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    with pytest.MonkeyPatch.context() as patch:
        seed_claims(patch, CLAIMS.values())
        results, report = validate(quick=True, out_dir=out, progress=False)
    return out, results, report


def test_every_claim_passes_in_the_quick_form(quick_run):
    _, results, _ = quick_run
    assert [r.name for r in results] == list(CLAIMS)
    for result in results:
        assert result.passed, result.table()
        assert result.checks and result.reason and result.reference


def test_the_report_lists_every_claim_with_its_figures(quick_run):
    out, results, report = quick_run
    text = report.read_text()
    assert report == out / "REPORT.md"
    assert f"{len(CLAIMS)} of {len(CLAIMS)} claims pass" in text
    for result in results:
        assert f"| {result.reference} | **pass** |" in text
        for figure in result.figures:
            assert f"]({figure})" in text
            assert (out / figure).stat().st_size > 10_000
    data = json.loads((out / "results.json").read_text())
    assert [d["verdict"] for d in data] == ["pass"] * len(results)
    assert {"quantity", "measured", "paper", "passed", "kind"} <= set(data[0]["checks"][0])
    # the header counts the falsifiable checks only; identities and info rows are counted apart
    rows = [c for r in results for c in r.checks]
    checks, identities = sum(c.kind == "check" for c in rows), sum(c.kind == "identity" for c in rows)
    assert 0 < identities < checks
    assert f"{checks} falsifiable checks ran and {checks} passed. {identities} rows are marked `identity`" in text
    assert text.count("| identity |") == identities
    assert [d["counts"]["checks"] for d in data] == [r.counts["checks"] for r in results]


def test_rows_that_hold_by_construction_are_labelled_identity(quick_run):
    _, results, _ = quick_run
    by_name = {r.name: r for r in results}

    def kinds(name, words):
        found = [c.kind for c in by_name[name].checks if words in c.quantity or words in c.paper]
        assert found, (name, words)
        return set(found)

    assert kinds("decomposition", "eq. (4) is an identity") == {IDENTITY}
    assert kinds("decomposition", "non-Gaussian gap with |x|²") == {IDENTITY}
    assert kinds("decomposition", "at l = 1 (SGD vs NGD)") == {"check"}
    assert kinds("one_step_moments", "sampled from that same Gaussian law") == {IDENTITY}
    assert kinds("one_step_moments", "SVAG's, from the derived formula") == {IDENTITY}
    assert kinds("one_step_moments", "the SDE's, from its exact law") == {"check"}
    assert kinds("one_step_moments", "Lemma 4.7 (i)-(iii)") == {"check"}
    assert kinds("equilibrium", "Euler–Maruyama's own recursion") == {IDENTITY}
    assert kinds("equilibrium", "extrapolated to h → 0") == {"check"}
    assert kinds("equilibrium", "stop being √2-close") == {IDENTITY}
    for result in results:   # every claim rests on falsifiable checks; every row is counted once
        n = result.counts
        assert n["checks"] >= 2 and n["checks"] + n["identities"] + n["info"] == len(result.checks), result.table()


def test_the_report_marks_the_printed_third_moment_as_an_erratum(quick_run):
    _, results, _ = quick_run
    moments = results[0]
    row = next(c for c in moments.checks if "as printed" in c.quantity)
    assert row.passed and "erratum" in row.paper and "rejected at" in row.measured


# --- verdicts that must fail ----------------------------------------------------------------

def test_too_few_samples_for_calibrated_z_scores_are_refused(tmp_path):
    result = claim1_one_step_moments.run(quick=True, out_dir=tmp_path, paths=400,
                                          seed=claim_seed(claim1_one_step_moments))
    assert not result.passed and str(MIN_PATHS) in result.reason
    failed = [c for c in result.checks if c.passed is False]
    assert any("as printed" in c.quantity for c in failed)
    assert all("REFUSED" in c.measured for c in failed)
    # the identity (SDE samples against their own law) is not tested rather than called a bug
    sde = next(c for c in result.checks if "Lemma 4.6" in c.quantity and "|z|" in c.measured)
    assert sde.kind == "info" and sde.passed is None


def test_a_wrong_expected_order_fails(tmp_path):
    result = claim2_weak_order.run(quick=True, out_dir=tmp_path, expected_order=2.0, l_values=(1, 2, 4, 8),
                                   paths=8192, exact_l=(1, 2, 4, 8, 16, 32), grid=400,
                                   seed=claim_seed(claim2_weak_order))
    assert not result.passed
    assert all(c.passed is False for c in result.checks)  # every fit says p = 1, not 2
    assert "does not confirm order 2" in result.reason


def test_an_impossible_tolerance_fails_the_decomposition(tmp_path):
    result = claim3_decomposition.run(quick=True, out_dir=tmp_path, tolerance=1e6, paths=8192, l_values=(1, 2, 4),
                                      seed=claim_seed(claim3_decomposition))
    assert not result.passed
    assert any("at l = 1" in c.quantity and c.passed is False for c in result.checks)


def test_a_sweep_that_never_reaches_the_theorems_fails_instead_of_passing_vacuously(tmp_path):
    rule = claim5_scaling_rule.run(quick=True, out_dir=tmp_path, kappas=(4, 8), paths=1024,
                                   seed=claim_seed(claim5_scaling_rule))
    assert not rule.passed
    assert "no κ of the sweep lies beyond κ*" in next(c.measured for c in rule.checks if "5.6" in c.quantity)
    equilibrium = claim4_equilibrium.run(quick=True, out_dir=tmp_path, lrs=(0.25,), paths=1024,
                                         seed=claim_seed(claim4_equilibrium))
    assert not equilibrium.passed
    assert any(c.measured == "no η of the sweep is certified" for c in equilibrium.checks)


def test_the_adaptive_weak_order_claim_fails_when_held_to_an_order_the_data_reject(tmp_path):
    # order 4 in 1/l would need the errors to fall 16-fold per doubling of l; they fall about 3-fold
    result = claim6_adaptive_weak_order.run(quick=True, out_dir=tmp_path, bound_order=4.0,
                                            seed=claim_seed(claim6_adaptive_weak_order))
    assert not result.passed
    assert any(c.passed is False and "the paper's bound" in c.quantity for c in result.checks)


def test_the_square_root_rule_claim_fails_when_the_linear_rule_is_not_expected_to_differ(tmp_path):
    # a tolerance of 100% would call the linear rule's 35–75% change "no change": its checks must fail
    result = claim7_square_root_rule.run(quick=True, out_dir=tmp_path, tolerance=1.0, wide_kappas=(),
                                         seed=claim_seed(claim7_square_root_rule))
    assert not result.passed
    failed = [c for c in result.checks if c.passed is False]
    assert failed and all("linear rule" in c.quantity for c in failed)


def test_eq12_is_rejected_for_an_sde_whose_equilibrium_violates_it():
    # L = ax²/2 is not scale-invariant: d E|X|²/dt = −2aR̄ − 2λR̄ + N̄, so at equilibrium
    # 2λR̄ − N̄ = −2aR̄ = −aη/(a + λ) (the OU law, Σ = 1) instead of eq. (12)'s 0
    a, lam, lr = 0.05, 0.1, 0.25
    problem = quadratic(1, hessian=[[a]], minimizer=[0.0], weight_decay=lam)
    x0 = [math.sqrt(lr / (2 * (a + lam)))]
    coarse = equilibrium(problem, "sde", lr=lr, l=2, steps=80, paths=4096, seed=seed(11), x0=x0)
    fine = equilibrium(problem, "sde", lr=lr, l=4, steps=80, paths=4096, seed=seed(12), x0=x0)
    row = claim4_equilibrium.eq12_check(coarse, fine, lr=lr, weight_decay=lam, h=lr / 2)
    assert row.kind == "check" and row.passed is False
    e = claim4_equilibrium.eq12_extrapolation(coarse, fine, lr=lr, weight_decay=lam)
    assert abs(e["r0"] - (-a * lr / (a + lam))) <= Z * e["se0"]         # the extrapolation finds the true value


def test_eq12_extrapolation_removes_eulers_step_term_and_nothing_else():
    # fake Euler equilibria with r(h) = 2λR − ηN = r0 + c·h exactly: Richardson returns r0
    lam, lr, h, c = 0.1, 1.0, 0.25, 0.08
    cov = np.diag([1e-8, 1e-8, 1e-8])

    def at(step, r0):   # R = 1, G = 0.5, N chosen so that 2λR − ηN = r0 + c·step
        return Equilibrium(1.0, 0.5, (2 * lam - r0 - c * step) / lr, cov)

    holds = claim4_equilibrium.eq12_check(at(h, 0.0), at(h / 2, 0.0), lr=lr, weight_decay=lam, h=h)
    broken = claim4_equilibrium.eq12_check(at(h, 0.01), at(h / 2, 0.01), lr=lr, weight_decay=lam, h=h)
    assert holds.passed and not broken.passed
    e = claim4_equilibrium.eq12_extrapolation(at(h, 0.01), at(h / 2, 0.01), lr=lr, weight_decay=lam)
    assert e["r0"] == pytest.approx(0.01) and e["r_half"] == pytest.approx(0.01 + c * h / 2)
    assert e["se0"] == pytest.approx(math.sqrt(5 * 1e-8 * ((2 * lam)**2 + lr**2)))   # √(4 se(h/2)² + se(h)²)


# --- kinds of rows ----------------------------------------------------------------------------

def test_a_check_knows_its_kind_and_refuses_inconsistent_ones():
    assert Check("q", "1", "1", True).kind == "check" and Check("q", "1", "", None).kind == "info"
    assert Check("q", "0", "0", np.bool_(True), IDENTITY).passed is True
    with pytest.raises(ValueError, match="one of check, identity, info"):
        Check("q", "1", "1", True, "proof")
    with pytest.raises(ValueError, match="passed None"):
        Check("q", "0", "0", None, IDENTITY)
    with pytest.raises(ValueError, match="passed None"):
        Check("q", "0", "0", True, "info")


def test_identities_are_shown_but_not_counted_and_fail_their_claim_when_they_do_not_hold(tmp_path):
    rows = [Check("fit", "p = 1.0", "p = 1", True), Check("sum", "1e-17", "0", True, IDENTITY),
            Check("where", "κ = 8", "", None)]
    good = ClaimResult("decomposition", "t", "Eq. (4)", rows, "because.")
    assert good.passed and good.counts == {"checks": 1, "passed": 1, "identities": 1, "identities_failed": 0,
                                           "info": 1}
    text = write_report([good], tmp_path, quick=True, seconds=1.0).read_text()
    assert "1 falsifiable checks ran and 1 passed. 1 rows are marked `identity`" in text
    assert "| 1 of 1 (+ 1 identities, 1 info) |" in text and "| identity |" in text and "| info |" in text
    assert "Verdict: **pass**: 1 of 1 falsifiable checks pass; 1 of 1 identities hold" in text
    assert [c["kind"] for c in json.loads((tmp_path / "results.json").read_text())[0]["checks"]] == \
        ["check", "identity", "info"]
    broken = ClaimResult("decomposition", "t", "Eq. (4)", [rows[0], Check("sum", "0.3", "0", False, IDENTITY)], "b.")
    assert not broken.passed and broken.counts["passed"] == 1
    assert "FAIL (identity)" in broken.table() and "a failed one is a bug" in broken.table()


# --- false alarms ------------------------------------------------------------------------------

def test_third_moment_z_scores_are_heavy_tailed_below_the_minimum_sample_count():
    problem = quadratic(2, noise="exponential")
    few = false_alarm_rates(problem, x=(2.0, -1.0), lr=0.5, l=1, paths=300, repetitions=2000, seed=seed(3))
    third = few["orders"][3]
    assert third["tests"] == 4 * 2000 and third["normal"][3.0] == pytest.approx(0.0027, rel=0.01)
    # measured 0.018 with 10⁶ repetitions (validation/moment_false_alarms.py): far above the normal rate
    assert third["exceed"][3.0] > 3 * third["normal"][3.0] * third["tests"]
    assert third["exceed"][5.0] > 0                                  # normal: 0.005 expected in 8000 tests
    enough = false_alarm_rates(problem, x=(2.0, -1.0), lr=0.5, l=1, paths=MIN_PATHS, repetitions=60, seed=seed(3))
    assert enough["orders"][3]["exceed"][4.0] == 0 and enough["orders"][3]["exceed"][3.0] <= 5   # normal: 0.65
    assert not moment_checks(problem, x=(2.0, -1.0), lr=0.5, l_values=[1], paths=1000, remainder_l=()).calibrated
    assert "warning: fewer than" in moment_checks(problem, lr=0.5, l_values=[1], paths=1000, remainder_l=()).table()


def test_student_t_replaces_the_normal_quantile_over_a_few_seeds():
    assert student_t(3, 0.01) == pytest.approx(9.925, abs=1e-3) and student_t(1000, 0.01) == pytest.approx(2.58,
                                                                                                         abs=0.01)
    assert seed_mean([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / math.sqrt(3)))
    assert "99% Student-t bound over 3 seeds (9.92 standard errors)" in describe_t_bound(3)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_mean([1.0])
    with pytest.raises(ValueError, match="n ≥ 2"):
        student_t(1)


def test_a_failed_check_shows_in_the_report_and_the_exit_status(tmp_path, monkeypatch, capsys):
    failing = ClaimResult("decomposition", "t", "Eq. (4)", [Check("q", "1", "2", False), Check("i", "3", "4", None)],
                          "because.")
    assert not failing.passed and failing.verdict == "fail"
    text = write_report([failing], tmp_path, quick=True, seconds=1.0).read_text()
    assert "0 of 1 claims pass" in text and "| **fail** |" in text and "| info |" in text
    monkeypatch.setattr(claim3_decomposition, "run", lambda quick, out_dir: failing)
    assert main(["validate", "--quick", "--only", "decomposition", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "0 of 1 claims pass; failed: decomposition" in capsys.readouterr().out


def test_cli_runs_one_claim_and_refuses_unknown_ones(tmp_path, monkeypatch, capsys):
    seed_claims(monkeypatch, [claim3_decomposition])
    assert main(["validate", "--quick", "--only", "decomposition", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "1 of 1 claims pass" in capsys.readouterr().out
    assert (tmp_path / "REPORT.md").exists() and (tmp_path / "figures" / "claim3_decomposition.png").exists()
    assert main(["validate", "--only", "lemma9"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim 'lemma9'" in err and "one_step_moments" in err
