"""Commands that judge exit by their verdict: 0 every judged verdict confirmed, 1 any rejected, 3 otherwise;
130 when interrupted, 2 for bad input (before any work)."""

import pytest

from sdesim.cli import main
from sdesim.estimators import decomposition, moment_checks
from sdesim.estimators.exit_status import PASSED_KIND, exit_status


@pytest.mark.parametrize("kinds,interrupted,status", [
    (["confirmed"], False, 0),
    (["confirmed", "confirmed"], False, 0),
    (["confirmed", None], False, 0),                 # a part not judged (decompose: zero to rounding)
    (["rejected"], False, 1),
    (["confirmed", "rejected"], False, 1),
    (["inconclusive", "rejected"], False, 1),        # a rejection outweighs an inconclusive verdict
    (["confirmed", "inconclusive"], False, 3),
    (["inconclusive"], False, 3),
    ([], False, 3),                                  # nothing judged confirms nothing
    ([None, None], False, 3),
    (["confirmed"], True, 130),
    (["rejected"], True, 130),
    ([PASSED_KIND[True]], False, 0),                 # moments: pass, FAIL, no verdict below the calibrated size
    ([PASSED_KIND[False]], False, 1),
    ([PASSED_KIND[None]], False, 3),
])
def test_the_exit_status_of_verdicts(kinds, interrupted, status):
    assert exit_status(kinds, interrupted=interrupted) == status


def test_an_unknown_verdict_is_an_error_not_a_status():
    with pytest.raises(ValueError, match=r"unknown verdict kinds \['passed'\]; a verdict is one of confirmed, "):
        exit_status(["confirmed", "passed"])


EXACT = ["converge", "--exact", "--problem", "linear_regression", "--test", "norm2", "--l", "1,2,4,8,16",
         "--plot", "none"]


@pytest.mark.parametrize("extra,status,verdict", [
    ([], 0, "CONFIRMED"),
    (["--expected", "2"], 1, "REJECTED"),              # a wrong order is rejected
    (["--precision", "0.0001"], 3, "INCONCLUSIVE"),   # the interval is wider than asked for
    (["--precision", "2"], 2, "error: precision"),    # bad input, before any work
])
def test_converge_exits_by_its_verdict(extra, status, verdict, capsys):
    assert main([*EXACT, *extra]) == status
    captured = capsys.readouterr()
    assert verdict in captured.out + captured.err


@pytest.mark.parametrize("extra,status", [
    # the headline (first) test is confirmed; the exit status sees every test: norm2's exact interval is
    # ±0.00088 around 0.9997, loss's ±0.00076 around 0.9998
    (["--test", "loss,norm2", "--precision", "0.0008"], 3),   # norm2 inconclusive: wider than 0.0008
    (["--test", "norm2,loss", "--expected", "0.999"], 1),     # loss's interval excludes 0.999
])
def test_converge_exits_by_every_tests_verdict_not_the_headlines(extra, status, capsys):
    assert main([*EXACT[:4], *EXACT[6:], *extra]) == status
    assert capsys.readouterr().out.count("CONFIRMED") == 1


class _Fit:
    def __init__(self, kind):
        self.kind = kind


@pytest.mark.parametrize("kinds,status", [
    ({"total": "confirmed", "discretization": "confirmed", "non_gaussian": None}, 0),
    ({"total": "confirmed", "discretization": "rejected", "non_gaussian": "confirmed"}, 1),
    ({"total": "confirmed", "discretization": "inconclusive", "non_gaussian": None}, 3),
])
def test_decompose_exits_by_its_parts_verdicts(kinds, status, monkeypatch, capsys):
    class Result:
        interrupted = False
        fits = {part: None if kind is None else _Fit(kind) for part, kind in kinds.items()}

        def table(self):
            return "table"

        def to_dict(self):
            return {}

    monkeypatch.setattr(decomposition, "decompose", lambda *a, **k: Result())
    assert main(["decompose", "--no-progress"]) == status


@pytest.mark.parametrize("passed,status", [(True, 0), (False, 1), (None, 3)])
def test_moments_exits_by_its_verdict(passed, status, monkeypatch):
    class Check:
        def table(self):
            return "table"

        def to_dict(self):
            return {}

    Check.passed = passed
    monkeypatch.setattr(moment_checks, "moment_checks", lambda *a, **k: Check())
    assert main(["moments"]) == status
