"""The validation suite (``sdesim validate --quick``): every claim passes, the report is written, and a
claim fed a wrong expectation or too few samples fails (the verdicts are not a rubber stamp)."""

import json

import pytest

from sdesim.cli import main
from sdesim.validation import CLAIMS, validate
from sdesim.validation import (claim1_one_step_moments, claim2_weak_order, claim3_decomposition,
                               claim4_equilibrium, claim5_scaling_rule)
from sdesim.validation.report import Check, ClaimResult, write_report


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
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
    assert "5 of 5 claims pass" in text
    for result in results:
        assert f"| {result.reference} | **pass** |" in text
        for figure in result.figures:
            assert f"]({figure})" in text
            assert (out / figure).stat().st_size > 10_000
    data = json.loads((out / "results.json").read_text())
    assert [d["verdict"] for d in data] == ["pass"] * len(results)
    assert {"quantity", "measured", "paper", "passed"} <= set(data[0]["checks"][0])


def test_the_report_marks_the_printed_third_moment_as_an_erratum(quick_run):
    _, results, _ = quick_run
    moments = results[0]
    row = next(c for c in moments.checks if "as printed" in c.quantity)
    assert row.passed and "erratum" in row.paper and "rejected at" in row.measured


# --- verdicts that must fail ----------------------------------------------------------------

def test_too_few_samples_cannot_reproduce_the_erratum(tmp_path):
    result = claim1_one_step_moments.run(quick=True, out_dir=tmp_path, paths=400)
    assert not result.passed
    failed = [c for c in result.checks if c.passed is False]
    assert any("as printed" in c.quantity for c in failed)


def test_a_wrong_expected_order_fails(tmp_path):
    result = claim2_weak_order.run(quick=True, out_dir=tmp_path, expected_order=2.0, l_values=(1, 2, 4, 8),
                                   paths=8192, exact_l=(1, 2, 4, 8, 16, 32), grid=400)
    assert not result.passed
    assert all(c.passed is False for c in result.checks)  # every fit says p = 1, not 2
    assert "not 2" in result.reason


def test_an_impossible_tolerance_fails_the_decomposition(tmp_path):
    result = claim3_decomposition.run(quick=True, out_dir=tmp_path, tolerance=1e6, paths=8192, l_values=(1, 2, 4))
    assert not result.passed
    assert any("at l = 1" in c.quantity and c.passed is False for c in result.checks)


def test_a_sweep_that_never_reaches_the_theorems_fails_instead_of_passing_vacuously(tmp_path):
    rule = claim5_scaling_rule.run(quick=True, out_dir=tmp_path, kappas=(4, 8), paths=1024)
    assert not rule.passed
    assert "no κ of the sweep lies beyond κ*" in next(c.measured for c in rule.checks if "5.6" in c.quantity)
    equilibrium = claim4_equilibrium.run(quick=True, out_dir=tmp_path, lrs=(0.25,), paths=1024)
    assert not equilibrium.passed
    assert any(c.measured == "no η of the sweep is certified" for c in equilibrium.checks)


def test_a_failed_check_shows_in_the_report_and_the_exit_status(tmp_path, monkeypatch, capsys):
    failing = ClaimResult("decomposition", "t", "Eq. (4)", [Check("q", "1", "2", False), Check("i", "3", "4", None)],
                          "because.")
    assert not failing.passed and failing.verdict == "fail"
    text = write_report([failing], tmp_path, quick=True, seconds=1.0).read_text()
    assert "0 of 1 claims pass" in text and "| **fail** |" in text and "| info |" in text
    monkeypatch.setattr(claim3_decomposition, "run", lambda quick, out_dir: failing)
    assert main(["validate", "--quick", "--only", "decomposition", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "0 of 1 claims pass; failed: decomposition" in capsys.readouterr().out


def test_cli_runs_one_claim_and_refuses_unknown_ones(tmp_path, capsys):
    assert main(["validate", "--quick", "--only", "decomposition", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "1 of 1 claims pass" in capsys.readouterr().out
    assert (tmp_path / "REPORT.md").exists() and (tmp_path / "figures" / "claim3_decomposition.png").exists()
    assert main(["validate", "--only", "lemma9"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim 'lemma9'" in err and "one_step_moments" in err
