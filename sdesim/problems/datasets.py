"""Data sets for the least-squares problems: checking, loading from files, synthetic defaults."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from sdesim._checks import finite_array


def check_regression_data(features, targets) -> tuple[np.ndarray, np.ndarray]:
    """Features n×d and targets n as float64 arrays, or a clear error."""
    a = finite_array("features", features, ndim=2)
    b = finite_array("targets", targets, ndim=1)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"features has {a.shape[0]} rows but targets has {b.shape[0]} entries; they must match")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"features must be a non-empty n×d matrix, got shape {a.shape}")
    return a, b


def synthetic_regression(n: int, dim: int, *, unit_target: bool = False, seed: int = 0):
    """a_i ~ N(0, I_d), b_i = a_iᵀ w* + ½ ε_i with w* = (1, …, 1) (or w*/|w*| if ``unit_target``)."""
    gen = np.random.default_rng(seed)
    a = gen.standard_normal((n, dim))
    w = np.ones(dim) / (np.sqrt(dim) if unit_target else 1.0)
    b = a @ w + 0.5 * gen.standard_normal(n)
    return a, b


def load_regression_data(path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``features`` and ``targets`` from a .npz, or a CSV whose last column is the target."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"data file {str(path)!r} is a folder; give a file: a .npz with arrays features and "
                         "targets, or a .csv whose last column is the target")
    if path.suffix == ".npz":
        return _load_npz(path)
    if path.suffix == ".csv":
        table = _read_csv(path)
        if table.shape[1] < 2:
            raise ValueError(f"{path} needs at least two columns (features, then the target), got one")
        return check_regression_data(table[:, :-1], table[:, -1])
    raise ValueError(f"data file must be .npz (arrays features, targets) or .csv (last column the target), got {path.name!r}")


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The arrays ``features`` and ``targets`` of a NumPy archive, or an error about the format."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a NumPy .npz archive (a zip of arrays, as numpy.savez writes); "
                         "save the data with numpy.savez(path, features=..., targets=...), or give a .csv")
    with np.load(path) as archive:
        missing = {"features", "targets"} - set(archive.files)
        if missing:
            raise ValueError(f"{path} must hold arrays 'features' and 'targets'; missing {sorted(missing)}")
        arrays = []
        for name in ("features", "targets"):
            try:
                arrays.append(archive[name])
            except ValueError:   # an object array, which only unpickling could read
                raise ValueError(f"array {name!r} in {path} is not numeric (it holds Python objects); "
                                 "save features and targets as arrays of numbers") from None
    return check_regression_data(*arrays)


def _read_csv(path: Path) -> np.ndarray:
    """The numbers of a comma-separated file, one row per line, after an optional header line.

    The first line is a header when none of its fields parses as a number, and then every
    other line must be numbers: a line that mixes numbers and words, a line of another
    length, or a field that is not a finite number is an error naming the line, never a
    row dropped.  Blank lines and ``#`` comments are skipped, as numpy.loadtxt does.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file; a .csv holds comma-separated numbers, "
                         "the last column the target") from None
    except OSError as error:   # not readable (permissions, a special file): say which file and why
        raise ValueError(f"data file {str(path)!r} cannot be read: {error.strerror or error}") from None
    lines = [(number, line.split("#", 1)[0].strip()) for number, line in enumerate(text.splitlines(), 1)]
    rows = [(number, [field.strip() for field in line.split(",")]) for number, line in lines if line]
    if not rows:
        raise ValueError(f"{path} holds no data: it needs rows of comma-separated numbers, the last column the target")
    header = None
    if not any(_parses(field) for field in rows[0][1]):
        header, rows = rows[0], rows[1:]
        if not rows:
            raise ValueError(f"{path} holds only a header (line {header[0]}) and no rows of numbers")
    columns = len(rows[0][1])
    if header is not None and len(header[1]) != columns:
        raise ValueError(f"{path}: the header on line {header[0]} names {len(header[1])} columns but line "
                         f"{rows[0][0]} has {columns}; they must match")
    for number, fields in rows:
        if len(fields) != columns:
            raise ValueError(f"{path}: line {number} has {len(fields)} fields but line {rows[0][0]} has {columns}; "
                             "every row needs the same columns (features, then the target)")
        bad = next((field for field in fields if not (_parses(field) and np.isfinite(float(field)))), None)
        if bad is not None:
            read_as = f" (line {header[0]} is read as the header)" if header else ""
            raise ValueError(f"{path}: line {number} holds {bad!r}, which is not a finite number; every line but "
                             f"an optional header (a first line of names, no numbers) must be numbers{read_as}")
    return np.array([[float(field) for field in fields] for _, fields in rows], dtype=np.float64)


def _parses(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
