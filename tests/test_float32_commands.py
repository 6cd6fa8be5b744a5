"""float32 on the commands that simulate for a fixed purpose: ``sdesim validate --dtype`` (the claims whose
paths run in float32; the others named as float64 only) and ``sdesim demo --dtype``."""

import numpy as np
import pytest

from seeds import seed
from sdesim import demos
from sdesim.cli import main
from sdesim.simulate import Run
from sdesim.validation import CLAIMS, validate
from sdesim.validation import runner
from sdesim.validation.report import Check, ClaimResult
from test_demos import assert_within_5_stderr

FLOAT64_ONLY = {"one_step_moments", "adaptive_weak_order", "square_root_rule"}


def stub_claims(monkeypatch):
    """Replace each claim's ``run`` by one that records its keyword arguments and passes one check."""
    calls = {}
    for name, module in CLAIMS.items():
        def run(quick=True, out_dir=None, name=name, **kw):
            calls[name] = kw
            return ClaimResult(name, name, "ref", [Check("q", "m", "p", True)], "why", [], dict(kw), 0.0, quick)
        monkeypatch.setattr(module, "run", run)
    return calls


def test_validate_in_float32_runs_the_float32_claims_and_names_the_others(tmp_path, monkeypatch):
    calls = stub_claims(monkeypatch)
    results, report = validate(quick=True, out_dir=tmp_path, progress=False, dtype="float32")
    assert set(calls) == set(CLAIMS) - FLOAT64_ONLY
    assert all(kw == {"dtype": "float32"} for kw in calls.values())
    text = report.read_text()
    assert "`sdesim validate --quick --dtype float32`" in text
    assert "**Paths in float32**" in text
    for name in FLOAT64_ONLY:
        assert f"{name}: {CLAIMS[name].FLOAT64_ONLY}" in text
    calls.clear()
    validate(quick=True, out_dir=tmp_path, progress=False)        # float64: every claim, as before
    assert set(calls) == set(CLAIMS) and all(kw == {} for kw in calls.values())
    assert "Paths in" not in report.read_text()


def test_validate_refuses_float32_for_float64_only_claims_before_any_work(tmp_path, monkeypatch):
    calls = stub_claims(monkeypatch)
    with pytest.raises(ValueError, match=r"no claim asked for runs in float32: adaptive_weak_order: the adaptive "
                                         r"methods run in float64 only.* The claims with float32 paths: weak_order"):
        validate(only=["adaptive_weak_order"], out_dir=tmp_path, dtype="float32")
    with pytest.raises(ValueError, match="dtype"):
        validate(only=["weak_order"], out_dir=tmp_path, dtype="float16")
    assert calls == {}


class FirstRun(Exception):
    pass


@pytest.mark.parametrize("name", sorted(set(CLAIMS) - FLOAT64_ONLY))
def test_each_float32_claim_builds_its_paths_in_float32(name, tmp_path, monkeypatch):
    """The claim's first run of paths is built with dtype float32 (stopped there, before any work)."""
    seen = []

    def first_run(self, *args, **kw):
        seen.append(kw.get("dtype"))
        raise FirstRun

    monkeypatch.setattr(Run, "__init__", first_run)
    with pytest.raises(FirstRun):
        CLAIMS[name].run(quick=True, out_dir=tmp_path, dtype="float32")
    assert seen == ["float32"]


def test_the_cli_passes_dtype_to_validate_and_demo(tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(runner, "select", lambda only=None: [])
    monkeypatch.setattr(runner, "in_dtype", lambda modules, dtype: seen.setdefault("validate", dtype) and ([], []))
    monkeypatch.setattr(runner, "write_report", lambda results, out_dir, **kw: tmp_path / "REPORT.md")
    assert main(["validate", "--quick", "--no-progress", "--out", str(tmp_path), "--dtype", "float32"]) == 0
    assert seen["validate"] == "float32"

    def fake_demo(**kw):
        seen["demo"] = kw
        raise SystemExit(0)

    monkeypatch.setattr(demos, "stationary_gibbs", fake_demo)
    with pytest.raises(SystemExit):
        main(["demo", "stationary-gibbs", "--dtype", "float32", "--out", str(tmp_path / "p.png")])
    assert seen["demo"] == {"seed": 0, "dtype": "float32"}
    with pytest.raises(SystemExit):
        main(["demo", "stationary-gibbs", "--dtype", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def test_a_demo_in_float32_moves_float32_paths_and_keeps_its_numbers():
    """The stationary covariances in float32: within 5 standard errors of the exact ones, the title says so,
    and the numbers are the float64 run's up to rounding (the same normals), not bit for bit."""
    kw = dict(paths=6_000, seed=seed(3))
    single, double = demos.stationary_gibbs(dtype="float32", **kw), demos.stationary_gibbs(**kw)
    assert single.title == double.title + " [paths in float32]"
    assert_within_5_stderr(single)
    measured = np.array([(r.measured, d.measured) for r in single.rows for d in double.rows
                         if r.name == d.name and r.stderr > 0])
    assert len(measured) == 6
    assert not np.array_equal(measured[:, 0], measured[:, 1])
    np.testing.assert_allclose(measured[:, 0], measured[:, 1], rtol=1e-4)
    with pytest.raises(ValueError, match="dtype"):
        demos.histograms(dtype="float16")
