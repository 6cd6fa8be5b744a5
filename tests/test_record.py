"""A study's record names what made it (the command, the user functions with a hash of their source, the
versions, sdesim's commit) and `sdesim rerun` repeats it bit for bit, or refuses with the reason."""

import hashlib
import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import user_problem
from sdesim.cli import main
from sdesim.estimators.record import changed_functions, user_functions
from sdesim.estimators.weak_error import weak_error_study
from sdesim.problems import linear_regression
from sdesim.problems.base import ProblemFunctions

MODULE = '''"""A user's study: a problem factory and a reference callable (not the SDE's values: any numbers serve)."""
import numpy as np

from sdesim.problems import quadratic


def make_problem():
    return quadratic(2, noise="exponential")


def exact(name, times):
    return np.full(len(times), 30.0) if name == "norm4" else None
'''
ROOT = Path(__file__).resolve().parents[1]
STUDY = ["converge", "--problem", "mystudy:make_problem", "--x0", "2", "--test", "norm4", "--reference",
         "mystudy:exact", "--l", "1,2,4", "--paths", "2000", "--time", "0.4", "--no-progress", "--plot", "none"]


def sha256_of_source(fn):
    return hashlib.sha256(inspect.getsource(getattr(fn, "py_func", fn)).encode()).hexdigest()


def test_a_python_study_records_versions_and_commit_and_no_command():
    data = weak_error_study(linear_regression(), exact=True, tests=["norm2"], l_values=[1, 2, 4, 8]).to_dict()
    assert data["command"] is None and data["user_functions"] == {}          # built in: nothing of the user's
    assert set(data["versions"]) >= {"sdesim", "numpy", "numba", "scipy", "python"}
    assert ("torch" in data["versions"]) == ("torch" in sys.modules)         # never imported for the record
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:    # run from a checkout: its commit, and whether sdesim/ has uncommitted changes
        assert data["git"]["commit"] == head.stdout.strip() and isinstance(data["git"]["dirty"], bool)
    else:
        assert data["git"] is None


def test_the_user_functions_are_named_and_hashed_by_their_source():
    fns = ProblemFunctions(user_problem.sample_grad, user_problem.mean_grad, user_problem.noise_factor,
                           user_problem.loss, user_problem.no_state)
    problem = types.SimpleNamespace(functions=fns)
    found = user_functions(problem, {"g": user_problem.loss}, user_problem.noise_factor)
    assert found["problem mean_grad"] == {"name": "user_problem:mean_grad",
                                          "sha256": sha256_of_source(user_problem.mean_grad)}
    assert found["test g"]["name"] == "user_problem:loss" and found["reference"]["name"] == "user_problem:noise_factor"
    assert user_functions(types.SimpleNamespace(functions=linear_regression().functions)) == {}   # sdesim's own
    changed = dict(found, reference={"name": "user_problem:noise_factor", "sha256": "0" * 64})
    assert changed_functions(found, found) == []
    assert changed_functions(found, changed) == [
        f"reference user_problem:noise_factor: its source changed since the study ran (sha256 "
        f"{found['reference']['sha256'][:12]}… then, 000000000000… now)"]


@pytest.fixture
def your_study(tmp_path, monkeypatch):
    """mystudy.py in the current directory, imported afresh."""
    (tmp_path / "mystudy.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "mystudy", raising=False)
    return tmp_path


def test_rerun_repeats_the_rows_bit_for_bit_and_refuses_a_changed_source(your_study, monkeypatch, capsys):
    main([*STUDY, "--json", "first.json"])
    record = json.loads((your_study / "first.json").read_text())
    assert record["command"] == ["sdesim", *STUDY, "--json", "first.json"]
    import mystudy

    assert record["user_functions"] == {
        "problem factory": {"name": "mystudy:make_problem", "sha256": sha256_of_source(mystudy.make_problem)},
        "reference": {"name": "mystudy:exact", "sha256": sha256_of_source(mystudy.exact)}}
    assert "control z (max of 5 controls × 2 steps)" in capsys.readouterr().out

    assert main(["rerun", "first.json", "--json", "again.json"]) == 0
    out = capsys.readouterr().out
    assert "the rows equal the record's bit for bit (3 rows)" in out and "wrote again.json" in out
    again = json.loads((your_study / "again.json").read_text())
    assert again["rows"] == record["rows"] and again["command"] == record["command"]

    record["rows"][1]["error"] += 1e-12 * abs(record["rows"][1]["error"])   # a record the numbers do not match
    (your_study / "edited.json").write_text(json.dumps(record))
    assert main(["rerun", "edited.json"]) == 1
    out = capsys.readouterr().out
    assert "1 of 3 rows differ from the record's:\n  norm4, l = 2: error " in out and "wrote" not in out

    (your_study / "mystudy.py").write_text(MODULE.replace("30.0", "31.0"))  # the user's reference changes
    monkeypatch.delitem(sys.modules, "mystudy")
    assert main(["rerun", "first.json"]) == 2
    assert ("sdesim rerun: error: refusing to re-run first.json: reference mystudy:exact: its source changed "
            "since the study ran") in capsys.readouterr().err
    (your_study / "mystudy.py").unlink()
    monkeypatch.delitem(sys.modules, "mystudy")
    assert main(["rerun", "first.json"]) == 2
    assert ("refusing to re-run first.json: --problem factory 'mystudy:make_problem': module 'mystudy' could not be "
            "imported: no such module in the current directory or on PYTHONPATH" in capsys.readouterr().err)


def test_rerun_refuses_a_record_without_a_command(tmp_path, capsys):
    path = tmp_path / "python.json"
    path.write_text(json.dumps(weak_error_study(linear_regression(), exact=True, tests=["norm2"],
                                                l_values=[1, 2, 4, 8]).to_dict()))
    assert main(["rerun", str(path)]) == 2
    assert "has no command: only a study run by `sdesim converge`" in capsys.readouterr().err
    assert main(["rerun", str(tmp_path / "missing.json")]) == 2
    assert "missing.json': no such file" in capsys.readouterr().err
