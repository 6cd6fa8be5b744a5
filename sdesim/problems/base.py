"""What a problem is: a family of stochastic losses L_γ as data plus compiled functions.

A problem supplies five ``@jit`` functions, each taking the problem's ``data`` tuple:

- ``sample_grad(x, data, rng, pstate, out)``: write one stochastic gradient ∇L_γ(x)
  into ``out``, drawing γ from the stream ``rng`` (``pstate`` is per-path integer
  scratch that persists across the steps of one path, e.g. a shuffled epoch);
- ``mean_grad(x, data, out)``: write ∇L(x) = E ∇L_γ(x);
- ``noise_factor(x, data, out)``: write a d×m matrix D with Σ(x) = D Dᵀ, where
  Σ(x) is the covariance of ∇L_γ(x);
- ``loss(x, data)``: return L(x);
- ``init_state(data, rng, pstate)``: prepare ``pstate`` at the start of a path;
- optionally ``lanes_mean_grad(xs, data, out)``: ∇L at every column of xs (d × lanes) into
  the columns of ``out``, with ``mean_grad``'s arithmetic on each column, in loops over the
  lanes that the compiler vectorizes.  With constant noise, the Euler and NGD kernels then
  move all their SIMD lanes at once.
- or, instead, ``elementwise`` (`ProblemFunctions.elementwise`): ``mean_grad`` writes out[j] = f(x[j]) with
  one formula for every j, and ``noise_factor`` writes the diagonal of a diagonal D(x), out[j] = g(x[j]),
  shape (d,); the Gaussian steps then move all lanes at once for any noise (`sdesim.kernels.elementwise`).

Weight decay λ is applied by the kernels (∇ of L + λ/2 |x|², eq. (7)), never by
the problem functions, so every problem has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from sdesim import rng as _rng
from sdesim._checks import finite_array
from sdesim._jit import jit


@jit
def no_state(data, rng, pstate):
    """``init_state`` for problems whose paths keep no state between steps."""
    return None


@dataclass(frozen=True)
class ProblemFunctions:
    """The compiled pieces of a problem; see the module docstring for signatures."""

    sample_grad: Callable
    mean_grad: Callable
    noise_factor: Callable
    loss: Callable
    init_state: Callable = no_state
    lanes_mean_grad: Callable | None = None
    elementwise: bool = False   # mean_grad elementwise, noise_factor writing D's diagonal (see the module docstring)

    def items(self):
        roles = (
            ("sample_grad", self.sample_grad),
            ("mean_grad", self.mean_grad),
            ("noise_factor", self.noise_factor),
            ("loss", self.loss),
            ("init_state", self.init_state),
        )
        return roles + ((("lanes_mean_grad", self.lanes_mean_grad),) if self.lanes_mean_grad is not None else ())


@dataclass(frozen=True, eq=False)
class LinearQuadraticForm:
    """The structure that makes moments close: ∇L(x) = Hx − v, L(x) = ½xᵀHx − vᵀx + c₀,

        Σ(x) = Σ₀ + s Σ_i (D_i x − e_i)(D_i x − e_i)ᵀ,

    so E Σ(x) is linear in E x and E xxᵀ.  Quadratic problem: D, e empty, Σ₀ = S/B.
    Least squares: D_i = a_i a_iᵀ − H, e_i = a_i b_i − v, s = f/n, Σ₀ = 0.
    """

    hessian: np.ndarray     # H, d×d
    offset: np.ndarray      # v, d
    constant: float         # c₀
    sigma0: np.ndarray      # Σ₀, d×d
    rows: np.ndarray        # D, n×d×d
    cols: np.ndarray        # e, n×d
    scale: float            # s


@dataclass(frozen=True, eq=False)
class Problem:
    """A stochastic loss family L_γ on R^d, its data and what it can do.

    ``params`` is the JSON-able record from which ``sdesim.problems.from_record``
    rebuilds the problem exactly (matrices and data included).
    ``exact_sde`` is an `OrnsteinUhlenbeck` when the
    SDE (2) of this problem has a closed-form solution, else ``None``;
    ``linear_quadratic`` a `LinearQuadraticForm` when the first two moments
    of every method obey closed recursions, else ``None``: built on first use by
    ``linear_quadratic_builder`` (least squares holds n×d×d numbers), while
    ``has_linear_quadratic`` says whether there is one without building it.
    """

    name: str
    dim: int
    data: tuple
    functions: ProblemFunctions
    params: dict
    noise_rank: int
    weight_decay: float = 0.0
    state_size: int = 0
    default_x0: np.ndarray | None = None
    exact_sde: Any = None
    third_moment: Callable | None = field(default=None, repr=False)
    origin_excluded: bool = False
    constant_noise: bool = False       # Σ(x) does not depend on x: D is computed once per path
    linear_quadratic_builder: Callable[[], LinearQuadraticForm] | None = field(default=None, repr=False)
    # D(x) is square (m = d) and diagonal for every x: the Gaussian steps multiply z by its diagonal
    # alone, which is faster and gives the dense product's numbers bit for bit (its other terms are ±0)
    diagonal_noise: bool = False
    # an Itô SDE in its own terms, dX = b(X) dt + σ(X) dW (`sdesim.problems.sde`): ``mean_grad`` is the drift b
    # (not −b), ``noise_factor`` the diffusion σ, there is no loss, no stochastic gradient and no learning rate,
    # and the only method is Euler–Maruyama x ← x + h b + √h σ z (`sdesim.methods.own_terms_plan`)
    sde_terms: bool = False

    def __post_init__(self):
        if self.diagonal_noise and self.noise_rank != self.dim:
            raise ValueError(f"diagonal_noise needs a square noise factor, but problem {self.name!r} has "
                             f"noise_rank {self.noise_rank} and dim {self.dim}")

    @property
    def has_exact_sde(self) -> bool:
        return self.exact_sde is not None

    @property
    def has_linear_quadratic(self) -> bool:
        """Whether the first two moments close (a `LinearQuadraticForm` exists), without building it."""
        return self.linear_quadratic_builder is not None

    @cached_property
    def linear_quadratic(self) -> LinearQuadraticForm | None:
        """The `LinearQuadraticForm`, built on first use and kept (None if the moments do not close)."""
        return None if self.linear_quadratic_builder is None else self.linear_quadratic_builder()

    def __getstate__(self):
        # a built form is rebuilt where it is needed rather than shipped (to Dask workers, say): it can be large
        state = dict(self.__dict__)
        state.pop("linear_quadratic", None)
        return state

    def start_point(self, x0=None) -> np.ndarray:
        """The start point: ``x0`` checked against the dimension, or the default."""
        if x0 is None:
            return np.zeros(self.dim) if self.default_x0 is None else self.default_x0.copy()
        x0 = finite_array("x0", np.atleast_1d(x0), ndim=1)
        if x0.shape != (self.dim,):
            raise ValueError(f"x0 must have {self.dim} entries for problem {self.name!r}, got {x0.shape[0]}")
        if self.origin_excluded and not np.any(x0):
            raise ValueError(f"x0 = 0 is not allowed for problem {self.name!r}: its loss is undefined at the origin")
        return x0

    # Python-side evaluations, for checks, plots and exact formulas ---------------
    # (``out`` starts as NaN, so an entry a function leaves unwritten shows as NaN, never as garbage)
    def mean_grad(self, x) -> np.ndarray:
        """∇L(x), without weight decay."""
        out = np.full(self.dim, np.nan)
        self.functions.mean_grad(np.ascontiguousarray(x, dtype=np.float64), self.data, out)
        return out

    def noise_sqrt(self, x) -> np.ndarray:
        """A factor D(x), d×m, with Σ(x) = D Dᵀ (diag of the diagonal an elementwise problem's function writes)."""
        out = np.full(self.dim if self.functions.elementwise else (self.dim, self.noise_rank), np.nan)
        self.functions.noise_factor(np.ascontiguousarray(x, dtype=np.float64), self.data, out)
        return np.diag(out) if self.functions.elementwise else out

    def sigma(self, x) -> np.ndarray:
        """Σ(x), the covariance of the stochastic gradient ∇L_γ(x)."""
        d = self.noise_sqrt(x)
        return d @ d.T

    def loss(self, x) -> float:
        """L(x) = E L_γ(x), without the weight-decay term."""
        value = self.functions.loss(np.ascontiguousarray(x, dtype=np.float64), self.data)
        if np.ndim(value) != 0:
            raise TypeError(f"loss of problem {self.name!r} must return a number L(x), got an array of shape "
                            f"{np.shape(value)}")
        return float(value)

    def sample_grads(self, x, n: int, seed: int = 0) -> np.ndarray:
        """n independent stochastic gradients ∇L_γ(x) (each from its own stream), n×d."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        key = _rng.stream_key(seed)
        out = np.full((n, self.dim), np.nan)
        _sample_many(self.functions.sample_grad, self.functions.init_state, x, self.data,
                     key, self.state_size, out)
        return out


def _sample_many(sample_grad, init_state, x, data, key, state_size, out):
    state = np.empty(4, dtype=np.uint64)
    pstate = np.zeros(max(state_size, 1), dtype=np.int64)
    for i in range(out.shape[0]):
        _rng.seed_path(key, i, state)
        init_state(data, state, pstate)
        sample_grad(x, data, state, pstate, out[i])
