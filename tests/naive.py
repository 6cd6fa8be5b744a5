"""A slow, obvious twin of the engine, to hold the compiled kernels against.

Three layers, each written from the maths rather than from the compiled code:

- the generator: xoshiro256++, SplitMix64 seeding per path and the samplers built on them
  (uniform, Lemire's randint, Rademacher, exponential, the 256-layer ziggurat normal with its
  tail and wedge branches), on Python integers masked to 64 bits.  Only the ziggurat's tables
  are borrowed from `sdesim.rng.normal`: they are data;
- each built-in problem's ∇L_γ, ∇L, a noise factor D (Σ = D Dᵀ) and L in NumPy, reading only
  the problem's parameters (never its compiled functions);
- one step of each method and a path runner with the engine's semantics for checkpoints,
  kept paths and divergence.

It agrees with the kernels to rounding (the sums are not taken in the kernels' order), not
bit for bit; the generator alone is bit-exact.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from sdesim.rng.normal import _ZF as ZF_TABLE, _ZK as ZK_TABLE, _ZW as ZW_TABLE, ZIGGURAT_R

# the ziggurat's tables, as Python numbers: layer i has width x[i] = 2⁵³·_ZW[i], accepts mantissas
# j < _ZK[i] at once, and spans heights _ZF[i] to _ZF[i+1] of f(x) = exp(−x²/2)
_ZW, _ZK, _ZF = list(map(float, ZW_TABLE[:256])), list(map(int, ZK_TABLE)), list(map(float, ZF_TABLE))

# --- the generator (Python ints masked to 64 bits) ------------------------------------------

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def ref_rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


def ref_xoshiro256pp(s):
    """One xoshiro256++ step on the list ``s`` (modified in place); returns the output."""
    s0, s1, s2, s3 = s
    result = (ref_rotl((s0 + s3) & MASK64, 23) + s0) & MASK64
    t = (s1 << 17) & MASK64
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = ref_rotl(s3, 45)
    s[:] = [s0, s1, s2, s3]
    return result


def ref_mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def ref_splitmix64(seed, n):
    """First ``n`` outputs of SplitMix64 started at ``seed``."""
    out, x = [], seed
    for _ in range(n):
        x = (x + GOLDEN) & MASK64
        out.append(ref_mix64(x))
    return out


def ref_seed_path(key, path_index):
    """The state of path ``path_index``: z ← mix64((z ^ key[i]) + GOLDEN) from z = path index."""
    z, state = path_index, []
    for k in key:
        z = ref_mix64(((z ^ int(k)) + GOLDEN) & MASK64)
        state.append(z)
    if not any(state):  # xoshiro cannot leave the all-zero state
        state[0] = GOLDEN
    return state


def ref_stream_key(seed):
    """The run's root key: four words of ``SeedSequence(seed)``."""
    return [int(w) for w in np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)]


class Stream:
    """The random stream of one path, with the samplers of `sdesim.rng`.

    ``branches`` counts the ziggurat branch each normal draw left by, and the rejections
    of randint, so that tests can show every branch was taken.
    """

    def __init__(self, key, path):
        self.state = ref_seed_path(key, path)
        self.branches = Counter()

    def next_u64(self):
        return ref_xoshiro256pp(self.state)

    def uniform(self):
        """The top 53 bits of one draw, times 2⁻⁵³."""
        return (self.next_u64() >> 11) * 2.0**-53

    def randint(self, n):
        """Uniform in [0, n), Lemire: the high half of (32-bit draw)·n, redrawn while the low
        half is below 2³² mod n."""
        threshold = (1 << 32) % n
        while True:
            m = (self.next_u64() >> 32) * n
            if m & 0xFFFFFFFF >= threshold:
                return m >> 32
            self.branches["randint rejected"] += 1

    def rademacher(self):
        """±1 by the top bit of one draw (set: −1)."""
        return -1.0 if self.next_u64() >> 63 else 1.0

    def exponential(self):
        """Exp(1) by inversion."""
        return -math.log(1.0 - self.uniform())

    def normal(self):
        """Standard normal, ziggurat with 256 layers: bits 0-7 of a draw pick the layer i,
        bit 8 the sign, bits 11-63 the mantissa j of z = ±j·x[i]/2⁵³."""
        u = self.next_u64()
        while True:
            i, negative, j = u & 0xFF, (u >> 8) & 1, u >> 11
            z = j * _ZW[i]  # x[i]/2⁵³ of the positive half of the table
            if negative:
                z = -z
            if j < _ZK[i]:  # under the curve: inside the rectangle of layer i
                self.branches["fast"] += 1
                return z
            if i == 0:  # Marsaglia's tail: r + a, a ~ Exp(rate r), kept when 2b > a², b ~ Exp(1)
                self.branches["tail"] += 1
                while True:
                    a = self.exponential() * (1.0 / ZIGGURAT_R)
                    b = self.exponential()
                    if b + b > a * a:
                        return -(ZIGGURAT_R + a) if z < 0.0 else ZIGGURAT_R + a
                    self.branches["tail rejected"] += 1
            # the wedge: a uniform height between f(x[i]) and f(x[i+1]) under f(z)?
            if _ZF[i] + self.uniform() * (_ZF[i + 1] - _ZF[i]) < math.exp(-0.5 * z * z):
                self.branches["wedge"] += 1
                return z
            self.branches["wedge rejected"] += 1
            u = self.next_u64()

    def standardized(self, law):
        """A draw with mean 0 and variance 1 from the named noise law."""
        if law == "gaussian":
            return self.normal()
        if law == "rademacher":
            return self.rademacher()
        return self.exponential() - 1.0


# --- the problems ------------------------------------------------------------------------------


class NaiveProblem:
    """∇L_γ, ∇L, D with Σ = D Dᵀ, and L, from a problem's parameters.

    ``path_state()`` is what a path carries from step to step (a minibatch sampler's
    permutation); ``sample_grad`` may change it.
    """

    def __init__(self, problem):
        self.params = problem.params
        self.dim = problem.dim

    def path_state(self):
        return None

    def noise_trace(self, x):
        d = self.noise_factor(x)
        return float(np.trace(d @ d.T))


class AdditiveNoise(NaiveProblem):
    """∇L_γ(x) = ∇L(x) + F ε̄: ε̄_k the mean of B standardized draws, for each column k of F in turn."""

    def __init__(self, problem, f):
        super().__init__(problem)
        self.f, self.law, self.batch = f, self.params["noise"], self.params["batch_size"]

    def sample_grad(self, x, stream, state):
        eps = [np.mean([stream.standardized(self.law) for _ in range(self.batch)]) for _ in range(self.f.shape[1])]
        return self.mean_grad(x) + self.f @ np.array(eps)

    def noise_factor(self, x):
        return self.f / np.sqrt(self.batch)


class Quadratic(AdditiveNoise):
    """L(x) = ½ (x−x*)ᵀA(x−x*), F the symmetric root of S."""

    def __init__(self, problem):
        p = problem.params
        super().__init__(problem, np.real(scipy.linalg.sqrtm(np.asarray(p["noise_cov"], float))))
        self.a, self.x_star = np.asarray(p["hessian"], float), np.asarray(p["minimizer"], float)

    def mean_grad(self, x):
        return self.a @ (x - self.x_star)

    def loss(self, x):
        e = x - self.x_star
        return 0.5 * e @ self.a @ e


class DoubleWell(AdditiveNoise):
    """L(x) = h (x₁² − 1)² + ½ Σ_{j≥2} x_j², F = σ I."""

    def __init__(self, problem):
        super().__init__(problem, problem.params["noise_scale"] * np.eye(problem.dim))
        self.barrier = problem.params["barrier"]

    def mean_grad(self, x):
        g = x.copy()
        g[0] = 4.0 * self.barrier * x[0] * (x[0] ** 2 - 1.0)
        return g

    def loss(self, x):
        return self.barrier * (x[0] ** 2 - 1.0) ** 2 + 0.5 * np.sum(x[1:] ** 2)


class LeastSquares(NaiveProblem):
    """L_γ(x) = 1/(2B) Σ_{i∈γ} (a_iᵀx − b_i)², γ drawn by the problem's sampling.

    Σ(x) = f · Cov_i(g_i(x)), g_i the per-example gradients, f = 1/B with replacement and
    (n−B)/(B(n−1)) without; D has the n columns √(f/n)(g_i − ḡ).
    """

    def __init__(self, problem):
        super().__init__(problem)
        p = self.params
        self.a, self.b = np.asarray(p["features"], float), np.asarray(p["targets"], float)
        self.n, self.batch, self.sampling = len(self.b), p["batch_size"], p["sampling"]
        n, batch = self.n, self.batch
        self.f = 1.0 / batch if self.sampling == "with_replacement" or n == 1 else (n - batch) / (batch * (n - 1.0))

    def path_state(self):
        """The permutation the samplers walk, and the position in the reshuffled epoch."""
        return {"perm": list(range(self.n)), "pos": self.n}

    def draw_batch(self, stream, state):
        n, batch, perm = self.n, self.batch, state["perm"]
        if self.sampling == "with_replacement":
            return [stream.randint(n) for _ in range(batch)]
        if self.sampling == "without_replacement":  # partial Fisher–Yates on the kept permutation
            for j in range(batch):
                k = j + stream.randint(n - j)
                perm[j], perm[k] = perm[k], perm[j]
            return perm[:batch]
        if state["pos"] + batch > n:  # reshuffle: a new epoch, Fisher–Yates from the top
            for i in range(n - 1, 0, -1):
                k = stream.randint(i + 1)
                perm[i], perm[k] = perm[k], perm[i]
            state["pos"] = 0
        start = state["pos"]
        state["pos"] += batch
        return perm[start:start + batch]

    def example_grads(self, v):
        """Rows g_i = a_i (a_iᵀv − b_i)."""
        return self.a * (self.a @ v - self.b)[:, None]

    def sample_grad(self, x, stream, state):
        return self.example_grads(x)[self.draw_batch(stream, state)].mean(axis=0)

    def mean_grad(self, x):
        return self.example_grads(x).mean(axis=0)

    def noise_factor(self, x):
        g = self.example_grads(x)
        return np.sqrt(self.f / self.n) * (g - g.mean(axis=0)).T

    def loss(self, x):
        return 0.5 * np.mean((self.a @ x - self.b) ** 2)


class ScaleInvariant(LeastSquares):
    """Least squares on u = x/|x|: every gradient is P(·)/|x|, P = I − uuᵀ."""

    def project(self, x, g):
        """P g / |x| for each row g."""
        norm = np.sqrt(x @ x)
        u = x / norm
        return (g - np.outer(g @ u, u)) / norm

    def example_grads(self, x):
        return self.project(x, super().example_grads(x / np.sqrt(x @ x)))

    def loss(self, x):
        return super().loss(x / np.sqrt(x @ x))


NAIVE_PROBLEMS = {"quadratic": Quadratic, "linear_regression": LeastSquares,
                  "double_well": DoubleWell, "scale_invariant": ScaleInvariant}


def naive_problem(problem) -> NaiveProblem:
    return NAIVE_PROBLEMS[problem.name](problem)


# --- the methods -------------------------------------------------------------------------------


@dataclass
class NaivePlan:
    """One small step of a method: its size h, small steps per effective step, and what the step kind needs."""

    kind: str               # "stochastic", "gaussian", "linear", "adaptive" or "adaptive_sde"
    h: float
    per_step: float         # small steps per effective step (time η, or η² for the adaptive methods)
    c1: float = 1.0
    c2: float = 0.0
    noise_scale: float = 0.0
    transition: tuple = ()
    adaptive: "NaiveAdaptive | None" = None

    @property
    def small_dt(self) -> float:
        """The time one small step covers: h for SGD-type steps; η²/l² (or dt) for the adaptive ones."""
        return self.h if self.adaptive is None else self.adaptive.small_dt


@dataclass
class NaiveAdaptive:
    """RMSprop/Adam as docs/theory/adaptive-sde.md writes them, the small step's values after SVAG's scaling.

    Discrete: β₁, β₂, ε of the small step (1 − β → (1 − β)/l², ε → εl) and u = v/l².  SDE: the rates
    c₁ = (1 − β₁)/η², c₂ = (1 − β₂)/η², σ₀ = η, ε₀ = εη, and u itself is the state (u_scale 1).
    """

    momentum: bool
    bias_correction: bool
    beta1: float
    beta2: float
    eps: float
    v0: object
    u_scale: float
    small_dt: float
    rates: tuple = ()       # SDE: (c₁, c₂, σ₀, ε₀)


# the adaptive methods: (momentum, bias correction fixed or None for the user's choice, default β₂)
ADAPTIVE = {"rmsprop": (False, False, 0.99), "adam": (True, None, 0.999), "paper_rmsprop": (False, True, 0.99)}


def naive_adaptive_plan(method, lr, l, dt, beta1=None, beta2=None, eps=None, bias_correction=None, v0=None):
    base = method.removesuffix("_sde")
    momentum, fixed, default_beta2 = ADAPTIVE[base]
    beta1 = (0.9 if beta1 is None else beta1) if momentum else 0.0
    beta2 = default_beta2 if beta2 is None else beta2
    eps = 1e-8 if eps is None else eps
    correction = fixed if fixed is not None else (True if bias_correction is None else bias_correction)
    v0 = 0.0 if v0 is None else v0
    if method == base:   # the 2022 paper's SVAG: η/l, 1 − β → (1 − β)/l², ε → εl, weights of l²
        root = math.sqrt(2 * l * l - 1)
        # RMSprop has no β₁ to scale: β₁ = 0 stays 0 (b₁ = 1), as its SDE has no γ₁
        small_beta1 = 1 - (1 - beta1) / l**2 if momentum else 0.0
        hyper = NaiveAdaptive(momentum, correction, small_beta1, 1 - (1 - beta2) / l**2, eps * l, v0,
                              1.0 / l**2, lr * lr / (l * l))
        return NaivePlan("adaptive", lr / l, l * l, (1 + root) / 2, (1 - root) / 2, adaptive=hyper)
    h = lr**2 / l**2 if dt is None else dt
    hyper = NaiveAdaptive(momentum, correction, beta1, beta2, eps, v0, 1.0, h,
                          ((1 - beta1) / lr**2, (1 - beta2) / lr**2, lr, eps * lr))
    return NaivePlan("adaptive_sde", h, lr**2 / h, noise_scale=math.sqrt(h), adaptive=hyper)


def naive_plan(problem, method, lr, l=1, dt=None, scheme="euler", **hyper) -> NaivePlan:
    if method.removesuffix("_sde") in ADAPTIVE:
        return naive_adaptive_plan(method, lr, l, dt, **hyper)
    if method == "sgd":                       # eq. (1)
        return NaivePlan("stochastic", lr, 1.0)
    if method == "svag":                      # eq. (5)
        root = math.sqrt(2 * l - 1)
        return NaivePlan("stochastic", lr / l, l, (1 + root) / 2, (1 - root) / 2)
    if method == "ngd":                       # eq. (3)
        return NaivePlan("gaussian", lr, 1.0, noise_scale=lr)
    h = lr / l if dt is None else dt
    if scheme == "exact":                     # the OU transition over h
        return NaivePlan("linear", h, lr / h, transition=problem.exact_sde.transition(h, lr))
    return NaivePlan("gaussian", h, lr / h, noise_scale=math.sqrt(h * lr))  # Euler–Maruyama on eq. (2)


@dataclass
class NaiveState:
    """An adaptive method's per-path state: m, v (u = v·u_scale) and the step count k."""

    m: np.ndarray
    v: np.ndarray
    k: int = 0

    @classmethod
    def start(cls, hyper, d):
        """m = 0, and v = v₀/u_scale, so that u = v₀ at every l."""
        return cls(np.zeros(d), np.broadcast_to(np.asarray(hyper.v0, float), (d,)) / hyper.u_scale)

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.m)) and np.all(np.isfinite(self.v)))


def naive_adaptive_step(twin, plan, weight_decay, x, opt, stream, state):
    """x after one RMSprop/Adam small step (SVAG's when c₂ ≠ 0); updates ``opt``:

    g = c₁∇L_γ₁ + c₂∇L_γ₂ + λx,  m ← β₁m + (1 − β₁)g (Adam; else m = g),  v ← β₂v + (1 − β₂)g²,
    x ← x − h (m/b₁) / (√(v/b₂) + ε),  bᵢ = 1 − βᵢᵏ with bias correction, else 1.
    """
    a = plan.adaptive
    g = plan.c1 * twin.sample_grad(x, stream, state)
    if plan.c2 != 0.0:
        g = g + plan.c2 * twin.sample_grad(x, stream, state)
    g = g + weight_decay * x
    opt.k += 1
    opt.m = a.beta1 * opt.m + (1 - a.beta1) * g if a.momentum else g
    opt.v = a.beta2 * opt.v + ((1 - a.beta2) * g) * g   # (1 − β₂)g first: where g² alone would overflow
    b1, b2 = (1 - a.beta1**opt.k, 1 - a.beta2**opt.k) if a.bias_correction else (1.0, 1.0)
    return x - plan.h * (opt.m / b1) / (np.sqrt(opt.v / b2) + a.eps)


def naive_adaptive_sde_step(twin, plan, weight_decay, x, opt, stream):
    """x after one Euler–Maruyama step of dt on the RMSprop/Adam SDE (docs/theory/adaptive-sde.md); updates ``opt``:

    u ← u + c₂(diag Σ(x) − u) dt,  w = √dt D(x) z,
    Adam: m ← m + c₁(∇L + λx − m) dt + c₁σ₀w,  x ← x − dt (m/γ₁)/(σ₀√(u/γ₂) + ε₀);
    RMSprop: x ← x − (dt(∇L + λx) + σ₀w)/(σ₀√(u/γ₂) + ε₀),  γᵢ = 1 − e^{−cᵢt} at the step's end.
    """
    a = plan.adaptive
    c1, c2, sigma0, eps0 = a.rates
    dt = plan.h
    d = twin.noise_factor(x)
    w = plan.noise_scale * (d @ np.array([stream.normal() for _ in range(d.shape[1])]))
    drift = twin.mean_grad(x) + weight_decay * x
    opt.k += 1
    t = opt.k * dt
    gamma1, gamma2 = (1 - math.exp(-c1 * t), 1 - math.exp(-c2 * t)) if a.bias_correction else (1.0, 1.0)
    opt.v = opt.v + c2 * (np.sum(d * d, axis=1) - opt.v) * dt
    denominator = sigma0 * np.sqrt(opt.v / gamma2) + eps0
    if a.momentum:
        opt.m = opt.m + c1 * (drift - opt.m) * dt + c1 * sigma0 * w
        return x - dt * (opt.m / gamma1) / denominator
    return x - (dt * drift + sigma0 * w) / denominator


def naive_step(twin, plan, weight_decay, x, stream, state, opt=None):
    """x after one small step; λx is added to every gradient.  ``opt``: an adaptive method's `NaiveState`."""
    if plan.kind == "adaptive":
        return naive_adaptive_step(twin, plan, weight_decay, x, opt, stream, state)
    if plan.kind == "adaptive_sde":
        return naive_adaptive_sde_step(twin, plan, weight_decay, x, opt, stream)
    if plan.kind == "stochastic":
        g = plan.c1 * twin.sample_grad(x, stream, state)
        if plan.c2 != 0.0:  # SVAG's second, independent gradient (none for l = 1)
            g = g + plan.c2 * twin.sample_grad(x, stream, state)
        return x - plan.h * (g + weight_decay * x)
    if plan.kind == "gaussian":
        d = twin.noise_factor(x)
        z = np.array([stream.normal() for _ in range(d.shape[1])])
        # associated as x + (s D z − h(∇L + λx)), as the kernels do: near a blow-up a rounding
        # difference grows several-fold a step, beyond any tolerance
        return x + (plan.noise_scale * (d @ z) - plan.h * (twin.mean_grad(x) + weight_decay * x))
    f, c, k = plan.transition
    z = np.array([stream.normal() for _ in range(len(x))])
    return f @ x + c + k @ z


# --- the paths ---------------------------------------------------------------------------------

OBSERVABLES = ("x", "norm2", "loss", "grad_norm2", "noise_trace")
STATE_OBSERVABLES = ("u", "m")   # an adaptive method's state: u = v·u_scale, and m (Adam only)


def default_observables(method) -> tuple:
    """Every built-in observable the method has: u for RMSprop, u and m for Adam."""
    base = method.removesuffix("_sde")
    if base not in ADAPTIVE:
        return OBSERVABLES
    return OBSERVABLES + (STATE_OBSERVABLES if ADAPTIVE[base][0] else STATE_OBSERVABLES[:1])


def naive_observe(twin, x, names=OBSERVABLES, opt=None, u_scale=1.0) -> dict:
    formulas = {"x": lambda: x, "norm2": lambda: x @ x, "loss": lambda: twin.loss(x),
                "grad_norm2": lambda: np.sum(twin.mean_grad(x) ** 2), "noise_trace": lambda: twin.noise_trace(x),
                "u": lambda: opt.v * u_scale, "m": lambda: opt.m}
    return {name: np.asarray(formulas[name](), float) for name in names}


@dataclass
class NaiveRun:
    """Per path: the kept points, the observables at each checkpoint and the small step at
    which the path was dropped (None if it never was).  Points and observations after a
    path is dropped are NaN."""

    small_dt: float            # the time one small step covers
    small: np.ndarray          # the checkpoints in small steps
    kept: np.ndarray           # (keep_paths, points, d)
    observed: dict             # name -> (paths, checkpoints[, d])
    dropped: list
    def counted(self) -> np.ndarray:
        """(paths, checkpoints): whether the path's observables count at the checkpoint."""
        first = next(iter(self.observed.values()))
        return np.all(np.isfinite(first.reshape(first.shape[0], first.shape[1], -1)), axis=2)

    @property
    def counts(self) -> np.ndarray:
        return self.counted().sum(axis=0)

    def mean(self, name) -> np.ndarray:
        """Mean over the paths counted at each checkpoint (NaN where none is)."""
        return self._per_checkpoint(name, lambda v: v.mean(axis=0), 1)

    def stderr(self, name) -> np.ndarray:
        """Standard error of the mean at each checkpoint (NaN where fewer than two paths count)."""
        return self._per_checkpoint(name, lambda v: v.std(axis=0, ddof=1) / np.sqrt(len(v)), 2)

    def _per_checkpoint(self, name, statistic, at_least):
        values, mask = self.observed[name], self.counted()
        nan = np.full(values.shape[2:], np.nan)
        with np.errstate(over="ignore", invalid="ignore"):  # squares of paths about to blow up
            return np.array([statistic(values[mask[:, c], c]) if mask[:, c].sum() >= at_least else nan
                             for c in range(len(self.small))])

    @property
    def diverged(self) -> int:
        return sum(k is not None for k in self.dropped)

    @property
    def first_divergence(self):
        """The earliest small step at which a path was dropped, or None."""
        return min((k for k in self.dropped if k is not None), default=None)


def naive_simulate(problem, method, *, lr, x0, steps, paths, seed, l=1, dt=None, scheme="euler",
                   checkpoints=None, keep_paths=0, keep_every=1, observables=None, **hyper) -> NaiveRun:
    """``sdesim.simulate`` the slow way, path after path and step after step.

    A path is dropped at the small step that leaves x (or an adaptive method's m, v) non-finite
    (that point is not kept), or at a checkpoint where one of the observables is not finite (that
    point is kept).  Checkpoints are effective steps (time kη, or kη² for the adaptive methods);
    the last is always ``steps``.  ``hyper``: the adaptive methods' beta1, beta2, eps,
    bias_correction, v0; ``observables`` default to every built-in one the method has.
    """
    observables = default_observables(method) if observables is None else tuple(observables)
    with np.errstate(over="ignore", invalid="ignore"):  # paths that blow up are expected
        return _naive_paths(problem, method, lr, x0, steps, paths, seed, l, dt, scheme, checkpoints,
                            keep_paths, keep_every, observables, hyper)


def _naive_paths(problem, method, lr, x0, steps, paths, seed, l, dt, scheme, checkpoints, keep_paths,
                 keep_every, observables, hyper):
    twin, plan = naive_problem(problem), naive_plan(problem, method, lr, l, dt, scheme, **hyper)
    effective = [0, steps] if checkpoints is None else sorted(set(checkpoints) | {steps})
    small = np.array([round(k * plan.per_step) for k in effective])
    x0 = np.asarray(x0, float)
    kept = np.full((keep_paths, small[-1] // keep_every + 1, len(x0)), np.nan)
    observed = {name: np.full((paths, len(small)) + ((len(x0),) if name in ("x", "u", "m") else ()), np.nan)
                for name in observables}
    dropped, at_checkpoint = [], {int(k): c for c, k in enumerate(small)}
    key = ref_stream_key(seed)
    for path in range(paths):
        stream, state, x = Stream(key, path), twin.path_state(), x0.copy()
        opt = None if plan.adaptive is None else NaiveState.start(plan.adaptive, len(x0))
        dropped.append(None)
        for k in range(small[-1] + 1):
            if k > 0:
                x = naive_step(twin, plan, problem.weight_decay, x, stream, state, opt)
                if not (np.all(np.isfinite(x)) and (opt is None or opt.finite())):
                    dropped[path] = k
                    break
            if path < keep_paths and k % keep_every == 0:
                kept[path, k // keep_every] = x
            if k in at_checkpoint:
                values = naive_observe(twin, x, observables, opt, 1.0 if plan.adaptive is None else plan.adaptive.u_scale)
                if not all(np.all(np.isfinite(v)) for v in values.values()):
                    dropped[path] = k
                    break
                for name, value in values.items():
                    observed[name][path, at_checkpoint[k]] = value
    return NaiveRun(plan.small_dt, small, kept, observed, dropped)
