"""Data sets for the least-squares problems: checking, loading from files, synthetic defaults."""

from __future__ import annotations

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
    if path.suffix == ".npz":
        with np.load(path) as archive:
            missing = {"features", "targets"} - set(archive.files)
            if missing:
                raise ValueError(f"{path} must hold arrays 'features' and 'targets'; missing {sorted(missing)}")
            return check_regression_data(archive["features"], archive["targets"])
    if path.suffix == ".csv":
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            table = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)  # a header row
        if table.shape[1] < 2:
            raise ValueError(f"{path} needs at least two columns (features, then the target)")
        return check_regression_data(table[:, :-1], table[:, -1])
    raise ValueError(f"data file must be .npz (arrays features, targets) or .csv (last column the target), got {path.name!r}")
