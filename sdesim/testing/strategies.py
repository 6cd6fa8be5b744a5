"""Hypothesis strategies that draw valid random problems, for property-based tests.

Each problem strategy draws a `Case`: a problem that its constructor accepts,
a start point x0, and a learning rate η at which SGD on it is stable (‖I − ηM‖ < 1
for the linear problems, M = H + λI the Hessian with weight decay).  Every number
is drawn by hypothesis (no hidden seeds), so failures shrink toward the simplest
case: dimension 1, identity-like matrices, Gaussian noise, batch size 1, no weight
decay, x0 = 0.

Drawn problems of one kind share their compiled kernel: numba compiles a kernel per
problem kind and step kind, and a problem's data only changes the values passed in,
so a property test compiles once and then runs each example in milliseconds.

A drawn `Case` prints as ``Case(problem={'name': ..., 'params': ...}, x0=[...], lr=...)``:
valid Python that rebuilds it, so a failing example pastes back into a test.

Never let hypothesis draw the seed of a statistical (k-standard-error) check: it
would go looking for the rare seed that fails.  Draw problems here, fix the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from sdesim.problems import double_well, from_record, linear_regression, quadratic
from sdesim.problems.base import Problem
from sdesim.problems.noise import NOISE_LAWS
from sdesim.problems.sampling import SAMPLINGS
from sdesim.result import to_jsonable

IID_SAMPLINGS = ("with_replacement", "without_replacement")  # minibatch samplings whose moments close

__all__ = ["Case", "noise_laws", "learning_rates", "vectors", "spd_matrices", "stable_linear_sdes",
           "least_squares_datasets", "least_squares_problems", "double_wells", "svag_l", "step_counts",
           "IID_SAMPLINGS"]


@dataclass(frozen=True, eq=False, repr=False)
class Case:
    """A drawn problem, a start point and a learning rate at which SGD on the problem is stable.

    ``problem`` may be given as its record ``{'name': ..., 'params': ...}`` (what the repr
    prints), ``x0`` as a list: ``eval(repr(case))`` rebuilds the case.
    """

    problem: Problem
    x0: np.ndarray
    lr: float

    def __post_init__(self):
        if isinstance(self.problem, dict):
            object.__setattr__(self, "problem", from_record(self.problem))
        if not isinstance(self.problem, Problem):
            raise TypeError(f"problem must be an sdesim Problem or its record {{'name': ..., 'params': ...}}, "
                            f"got {type(self.problem).__name__}")
        object.__setattr__(self, "x0", np.array(self.x0, dtype=np.float64))
        object.__setattr__(self, "lr", float(self.lr))

    def __repr__(self) -> str:
        record = {"name": self.problem.name, "params": to_jsonable(self.problem.params)}
        return f"Case(problem={record!r}, x0={self.x0.tolist()!r}, lr={self.lr!r})"


def _floats(low: float, high: float):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def noise_laws(laws=NOISE_LAWS):
    """One of the noise laws of the gradient noise: gaussian, rademacher, exponential."""
    unknown = [law for law in laws if law not in NOISE_LAWS]
    if unknown or not laws:
        raise ValueError(f"laws must be a non-empty subset of {NOISE_LAWS}, got {laws!r}")
    return st.sampled_from(tuple(laws))


def learning_rates(min_value: float = 0.01, max_value: float = 0.5):
    """Learning rates η in [min_value, max_value]."""
    if not 0 < min_value <= max_value or not np.isfinite(max_value):
        raise ValueError(f"need 0 < min_value <= max_value < inf, got [{min_value}, {max_value}]")
    return _floats(min_value, max_value)


def svag_l(min_value: int = 1, max_value: int = 16):
    """SVAG's l in [min_value, max_value] (l = 1 is SGD); shrinks toward min_value."""
    return _range("l (min_value, max_value)", (min_value, max_value))


def step_counts(min_value: int = 1, max_value: int = 50):
    """Numbers of (effective) steps in [min_value, max_value]; shrinks toward min_value."""
    return _range("step counts (min_value, max_value)", (min_value, max_value))


def vectors(dim: int, bound: float = 1.0):
    """Vectors in [−bound, bound]^dim, as float64 arrays."""
    return st.lists(_floats(-bound, bound), min_size=dim, max_size=dim).map(lambda v: np.array(v, dtype=np.float64))


@st.composite
def spd_matrices(draw, dim: int, *, min_eigenvalue: float = 0.5, spread: float = 1.0):
    """Symmetric matrices min_eigenvalue·I + spread·R Rᵀ/dim, R with entries in [−1, 1].

    Their eigenvalues lie in [min_eigenvalue, min_eigenvalue + spread·dim], so the
    condition number is bounded; R shrinks to 0, the matrix to min_eigenvalue·I.
    """
    if min_eigenvalue < 0 or spread < 0:
        raise ValueError(f"min_eigenvalue and spread must be >= 0, got {min_eigenvalue}, {spread}")
    root = np.array(draw(st.lists(vectors(dim), min_size=dim, max_size=dim)))
    return min_eigenvalue * np.eye(dim) + spread * (root @ root.T) / dim


def _stable_lr(draw, drift: np.ndarray, min_lr: float | None, max_lr: float) -> float:
    """η ∈ [min_lr, min(max_lr, 1/λ_max(M))]: then I − ηM has eigenvalues in [0, 1).

    Without ``min_lr``, the lower end is 0.01 (or half the upper end, if that is smaller);
    the strategies build M so that 1/λ_max(M) ≥ ``min_lr``, so nothing is discarded."""
    high = min(max_lr, 1.0 / float(np.linalg.eigvalsh(drift).max()))
    low = min(0.01, high / 2) if min_lr is None else min(min_lr, high)
    return draw(learning_rates(low, high))


def _lr_bounds(min_lr, max_lr, top: float):
    """(min_lr, max_lr) checked, with min_lr ≤ top (the largest η every drawn problem can be stable at)."""
    max_lr = _positive("max_lr", max_lr)
    if min_lr is None:
        return None, max_lr
    min_lr = _positive("min_lr", min_lr)
    if min_lr > max_lr:
        raise ValueError(f"need min_lr <= max_lr, got min_lr = {min_lr!r}, max_lr = {max_lr!r}")
    if min_lr > top:
        raise ValueError(f"min_lr = {min_lr!r} exceeds {top:.4g}, the largest learning rate at which every problem "
                         "this strategy draws can be stable; lower it (or the weight decay)")
    return min_lr, max_lr


def _dims(dims, dim):
    """The range of dimensions: ``dim`` fixes it."""
    return _range("dims", dims) if dim is None else _range("dim", (dim, dim))


def _scales(name, bounds):
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {bounds!r}") from None
    if not 0 <= low <= high < np.inf:
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high < inf, got {bounds!r}")
    return _floats(low, high)


def _range(name, bounds):
    """Integers in [low, high], or a clear error (raised when the strategy is made, not when it draws)."""
    try:
        low, high = (int(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of integers, got {bounds!r}") from None
    if not 1 <= low <= high:
        raise ValueError(f"{name} must be (low, high) with 1 <= low <= high, got {bounds!r}")
    return st.integers(low, high)


def _choices(name, values):
    values = tuple(values)
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} must be a non-empty list of numbers >= 0, got {values!r}")
    return st.sampled_from(values)


def _positive(name, value):
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def stable_linear_sdes(*, dims=(1, 3), dim: int | None = None, noise=NOISE_LAWS, max_batch_size: int = 4,
                       weight_decays=(0.0, 0.1), min_lr: float | None = None, max_lr: float = 0.5,
                       noise_scales=(1.0, 1.0), x0_bound: float = 2.0):
    """Quadratic problems L_γ(x) = ½(x−x*)ᵀH(x−x*) + ξ_γᵀx whose SDE is a stable Ornstein–Uhlenbeck process.

    H is symmetric positive definite (eigenvalues in [0.5, 0.5 + d], or below 1/min_lr − λ
    when that is smaller), the noise covariance s²·S with S positive definite (eigenvalues
    in [0.1, 0.1 + d]) and the noise scale s in ``noise_scales``, x* and x0 in
    [−x0_bound, x0_bound]^d; ``dim`` fixes d; noise law, batch size B and weight decay λ
    drawn from the given choices.  The case's η ∈ [min_lr, max_lr] has η·λ_max(H + λI) ≤ 1.
    """
    decays = tuple(weight_decays)
    choices = _choices("weight_decays", decays)
    min_lr, max_lr = _lr_bounds(min_lr, max_lr, 1.0 / (0.5 + max(decays)))
    return _stable_linear_sdes(_dims(dims, dim), noise_laws(noise), _range("max_batch_size", (1, max_batch_size)),
                               choices, min_lr, max_lr, _scales("noise_scales", noise_scales),
                               _positive("x0_bound", x0_bound))


@st.composite
def _stable_linear_sdes(draw, dims, laws, batch_sizes, weight_decays, min_lr, max_lr, noise_scales, x0_bound):
    dim = draw(dims)
    decay = draw(weight_decays)
    room = np.inf if min_lr is None else 1.0 / min_lr - decay - 0.5      # ≥ 0 by _lr_bounds
    hessian = draw(spd_matrices(dim, spread=min(1.0, room / dim)))
    problem = quadratic(dim, hessian=hessian, minimizer=draw(vectors(dim, x0_bound)),
                        noise_cov=draw(noise_scales) ** 2 * draw(spd_matrices(dim, min_eigenvalue=0.1)),
                        noise=draw(laws), batch_size=draw(batch_sizes), weight_decay=decay)
    drift = problem.exact_sde.drift_matrix
    return Case(problem, draw(vectors(dim, x0_bound)), _stable_lr(draw, drift, min_lr, max_lr))


def least_squares_datasets(*, dims=(1, 3), dim: int | None = None, examples=(4, 12), max_condition: float = 100.0):
    """Well-conditioned least-squares data (A, b): A n×d with cond(AᵀA) ≤ max_condition, n ≥ d + 1.

    A = E + P, E the rows e_{i mod d} (a design with AᵀA ∝ I) and P with entries in
    [−1, 1], which shrinks to 0; b = A w + ½ε with w in [−2, 2]^d, ε in [−1, 1]^n; ``dim`` fixes d.
    """
    if not max_condition >= 1:
        raise ValueError(f"max_condition must be >= 1 (a condition number), got {max_condition!r}")
    return _least_squares_datasets(_dims(dims, dim), _range("examples", examples), float(max_condition))


@st.composite
def _least_squares_datasets(draw, dims, examples, max_condition):
    dim = draw(dims)
    n = max(draw(examples), dim + 1)
    base = np.eye(dim)[np.arange(n) % dim]
    features = base + np.array(draw(st.lists(vectors(dim), min_size=n, max_size=n)))
    assume(np.linalg.cond(features.T @ features) <= max_condition)
    targets = features @ draw(vectors(dim, 2.0)) + 0.5 * draw(vectors(n))
    return features, targets


def least_squares_problems(*, datasets=None, dim: int | None = None, samplings=IID_SAMPLINGS,
                           max_batch_size: int = 4, weight_decays=(0.0, 0.05), min_lr: float | None = None,
                           max_lr: float = 0.5, x0_bound: float = 2.0):
    """Least-squares problems (``linear_regression``) on drawn data sets, with multiplicative noise.

    ``datasets`` is a strategy of (A, b) (default `least_squares_datasets`, of dimension
    ``dim`` if given); ``samplings`` defaults to the i.i.d. ones, whose moments close
    (exact moments exist); B ≤ n.  The case's η ∈ [min_lr, max_lr] has
    η·λ_max(AᵀA/n + λI) ≤ 1: with ``min_lr``, data whose λ_max(AᵀA/n) exceeds 1/min_lr − λ
    are scaled down (A and b by one factor, which keeps the condition number).  The noise
    is the data's own (no noise scale).
    """
    if datasets is not None and dim is not None:
        raise ValueError("pass dim or datasets, not both (a datasets strategy fixes its own dimensions)")
    decays = tuple(weight_decays)
    choices = _choices("weight_decays", decays)
    min_lr, max_lr = _lr_bounds(min_lr, max_lr, np.inf if max(decays) == 0 else 1.0 / max(decays))
    samplings = tuple(samplings)
    if not samplings or any(s not in SAMPLINGS for s in samplings):
        raise ValueError(f"samplings must be a non-empty subset of {SAMPLINGS}, got {samplings!r}")
    _range("max_batch_size", (1, max_batch_size))
    return _least_squares_problems(least_squares_datasets(dim=dim) if datasets is None else datasets,
                                   st.sampled_from(samplings), int(max_batch_size), choices, min_lr, max_lr,
                                   _positive("x0_bound", x0_bound))


@st.composite
def _least_squares_problems(draw, datasets, samplings, max_batch_size, weight_decays, min_lr, max_lr, x0_bound):
    features, targets = draw(datasets)
    n, dim = features.shape
    decay = draw(weight_decays)
    if min_lr is not None:
        top = float(np.linalg.eigvalsh(features.T @ features / n).max())
        room = 1.0 / min_lr - decay                    # > 0 by _lr_bounds
        if top > room:
            factor = np.sqrt(room / top) * (1 - 1e-12)
            features, targets = factor * features, factor * targets
    problem = linear_regression(features, targets, batch_size=draw(st.integers(1, min(max_batch_size, n))),
                                sampling=draw(samplings), weight_decay=decay)
    drift = features.T @ features / n + problem.weight_decay * np.eye(dim)
    return Case(problem, draw(vectors(dim, x0_bound)), _stable_lr(draw, drift, min_lr, max_lr))


def double_wells(*, dims=(1, 2), dim: int | None = None, barriers=(0.05, 1.0), max_noise_scale: float = 1.0,
                 min_noise_scale: float = 0.0, noise=NOISE_LAWS, max_batch_size: int = 4,
                 min_lr: float | None = None, max_lr: float = 0.1):
    """Double wells L(x) = h(x₁² − 1)² + ½Σ_{j≥2} x_j² with x0 between and around the wells.

    η ∈ [min_lr, min(max_lr, 0.025/h)]: then a path must wander past |x₁| ≈ 5 before the
    cubic drift can throw it out, which short runs with noise scale ≤ 1 do not do; with
    ``min_lr`` the barriers are capped at 0.025/min_lr.  ``dim`` fixes d.
    """
    dims = dims if dim is None else (dim, dim)
    if not (dims[0] >= 1 and dims[1] <= 2):
        raise ValueError(f"dims of the double well lie in (1, 2), got {dims!r}")
    low, high = barriers
    if not 0 < low <= high < np.inf:
        raise ValueError(f"barriers must be (low, high) with 0 < low <= high, got {barriers!r}")
    min_lr, max_lr = _lr_bounds(min_lr, max_lr, 0.025 / low)
    high = high if min_lr is None else min(high, 0.025 / min_lr)
    return _double_wells(_range("dims", dims), _floats(low, high),
                         _scales("(min_noise_scale, max_noise_scale)", (min_noise_scale, max_noise_scale)),
                         noise_laws(noise), _range("max_batch_size", (1, max_batch_size)), min_lr, max_lr)


@st.composite
def _double_wells(draw, dims, barriers, noise_scales, laws, batch_sizes, min_lr, max_lr):
    dim = draw(dims)
    barrier = draw(barriers)
    problem = double_well(dim, barrier=barrier, noise_scale=draw(noise_scales), noise=draw(laws),
                          batch_size=draw(batch_sizes))
    x0 = draw(vectors(dim)) * np.r_[1.5, np.ones(dim - 1)]
    high = min(max_lr, 0.025 / barrier)
    low = min(0.01, high / 2) if min_lr is None else min(min_lr, high)
    return Case(problem, x0, draw(learning_rates(low, high)))
