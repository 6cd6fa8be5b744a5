"""Every refused input and what it is told, one table per area: input → exception → message.

Each message names what was wrong and what is allowed, and every refusal comes before any
path moves: the fixture ``no_paths_move`` makes `Run.blocks` (and the one-step moment
checks) fail if they are reached.  The one error that only a run can find, a user
observable changing length on a path, has a focused test at the end.
"""

import re

import numba
import numpy as np
import pytest

import user_problem
from sdesim import demos, simulate
from sdesim.cli import main
from sdesim.estimators import moment_checks
from sdesim.problems import custom, quadratic
from sdesim.problems.datasets import load_regression_data
from sdesim.simulate import Run

QUAD = quadratic(2)


@pytest.fixture
def no_paths_move(monkeypatch):
    def moved(*args, **kwargs):
        raise AssertionError("paths moved before the input was refused")

    monkeypatch.setattr(Run, "blocks", moved)
    monkeypatch.setattr(moment_checks, "moment_checks", moved)


def exit_status(argv) -> int:
    """``sdesim ARGV``'s exit status, argparse's own refusals (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as done:
        return done.code


# --- data files (sdesim.problems.datasets, --data) ---------------------------------------------------

NO_NUMBERS = "every line but an optional header \\(a first line of names, no numbers\\) must be numbers"
BAD_DATA_FILES = [
    ("r.csv", "1,2,3\n4,5\n", "r.csv: line 2 has 2 fields but line 1 has 3; every row needs the same columns"),
    ("r.csv", "1,2,3\n4,x,6\n", f"r.csv: line 2 holds 'x', which is not a finite number; {NO_NUMBERS}"),
    ("r.csv", "1,2,abc\n4,5,6\n", "r.csv: line 1 holds 'abc', which is not a finite number"),
    ("r.csv", "1,2,3\n4,5,\n", "r.csv: line 2 holds '', which is not a finite number"),
    ("r.csv", "1,2,3\n4,nan,6\n", "r.csv: line 2 holds 'nan', which is not a finite number"),
    ("r.csv", "a,b,y\n1,2,3\n# note\n4,x,6\n", "r.csv: line 4 holds 'x'.*\\(line 1 is read as the header\\)"),
    ("r.csv", "a,b\n1,2,3\n", "r.csv: the header on line 1 names 2 columns but line 2 has 3; they must match"),
    ("r.csv", "a,b,y\n", "r.csv holds only a header \\(line 1\\) and no rows of numbers"),
    ("r.csv", "", "r.csv holds no data: it needs rows of comma-separated numbers, the last column the target"),
    ("r.csv", "\n# only a comment\n", "r.csv holds no data"),
    ("r.csv", "1\n2\n", "r.csv needs at least two columns \\(features, then the target\\), got one"),
    ("r.csv", b"\xff\xfe\x00\x81", "r.csv is not a text file; a .csv holds comma-separated numbers"),
    ("r.npz", "1,2,3\n", "r.npz is not a NumPy .npz archive \\(a zip of arrays, as numpy.savez writes\\)"),
    ("r.txt", "1,2,3\n", "data file must be .npz \\(arrays features, targets\\) or .csv \\(last column the target\\), "
                         "got 'r.txt'"),
]


@pytest.mark.parametrize("name,content,message", BAD_DATA_FILES, ids=[m[:40] for _, _, m in BAD_DATA_FILES])
def test_bad_data_files_are_refused_naming_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message) as refused:
        load_regression_data(path)
    assert "pickle" not in str(refused.value)


@pytest.mark.parametrize("arrays,message", [
    (dict(features=np.ones((3, 2))), "must hold arrays 'features' and 'targets'; missing \\['targets'\\]"),
    (dict(features=np.array([[1.0, None]], dtype=object), targets=np.ones(1)),
     "array 'features' in .*r.npz is not numeric \\(it holds Python objects\\); save features and targets as arrays "
     "of numbers"),
])
def test_bad_npz_archives_are_refused(tmp_path, arrays, message):
    np.savez(tmp_path / "r.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_regression_data(tmp_path / "r.npz")


def test_a_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file '.*nothing.csv' does not exist"):
        load_regression_data(tmp_path / "nothing.csv")


def test_a_first_line_of_names_is_a_header_and_no_row_is_lost(tmp_path):
    (tmp_path / "h.csv").write_text("a1, a2, b\n1,2,3\n\n4,5,6  # a comment\n")
    features, targets = load_regression_data(tmp_path / "h.csv")
    np.testing.assert_array_equal(features, [[1.0, 2.0], [4.0, 5.0]])
    np.testing.assert_array_equal(targets, [3.0, 6.0])


def test_cli_with_a_short_row_exits_2_and_writes_nothing(tmp_path, capsys, no_paths_move):
    (tmp_path / "r.csv").write_text("1,2,3\n4,5\n")
    argv = ["simulate", "--problem", "linear_regression", "--data", str(tmp_path / "r.csv"),
            "--json", str(tmp_path / "r.json")]
    assert exit_status(argv) == 2
    assert "line 2 has 2 fields but line 1 has 3" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()

