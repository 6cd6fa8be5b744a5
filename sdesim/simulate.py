"""The one entry point that runs a method on a problem: `simulate`."""

from __future__ import annotations

import dataclasses
import math
import platform
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numba
import numpy as np

import sdesim
from sdesim import rng
from sdesim._checks import check_memory, positive_int, user_call
from sdesim.footprint import STATS_COPIES, Footprint, check_footprint, progress_bar
from sdesim.kernels import slicing
from sdesim.kernels.build import kernel_module
from sdesim.kernels.dtype_check import check_functions_take
from sdesim.kernels.guards import FLAGGED_BUILTINS, Guard
from sdesim.kernels.precision import DEFAULT_DTYPE, as_dtype, check_dtype, check_kind
from sdesim.kernels.stats import BlockStats
from sdesim.methods import ADAPTIVE_SDE, LINEAR, METHOD_TABLE, StepPlan, own_terms_plan, plan
from sdesim.problems.base import Problem
from sdesim.problems.custom import lr_mismatch
from sdesim.result import Observable, Result, to_jsonable
from sdesim.rng.versions import DEFAULT_STREAM_VERSION
from sdesim.rng.versions import stream_version as check_stream_version

BUILTIN_OBSERVABLES = ("x", "norm2", "loss", "grad_norm2", "noise_trace", "u", "m")
STATE_OBSERVABLES = {"u": "the adaptive methods", "m": "Adam (adam, adam_sde)"}   # optimizer state, per method
DEFAULT_BLOCK_SIZE = 1024
@dataclass(frozen=True)
class Layout:
    """Where each observable sits in the kernel's observation vector.

    After the observables come ``checks``: one entry per vector user observable, which the
    kernel sets to 1 (instead of 0) where the observable returned another length than at
    x0; `check_lengths` turns that into an error.  They have no co-moments.
    """

    want: np.ndarray             # flags for the built-ins, in BUILTIN_OBSERVABLES order
    slices: dict                 # name -> (start, stop, is_vector)
    user_functions: tuple
    user_sizes: tuple            # 0 for a scalar user observable
    size: int                    # entries the kernel writes, checks included
    checks: dict = field(default_factory=dict)   # vector user observable name -> index of its length check
    nan_flags: dict = field(default_factory=dict)   # name -> index of its NaN flag (sdesim.kernels.guards)

    @property
    def observed(self) -> int:
        """Entries that hold observables (the checks and flags excluded)."""
        return self.size - len(self.checks) - len(self.nan_flags)

    def check_lengths(self, stats: BlockStats, times: np.ndarray) -> None:
        """Raise if a vector user observable changed length on a path (see the class docstring)."""
        for name, index in self.checks.items():
            seen = np.any(stats.means[:, :, index] != 0.0, axis=0)
            if np.any(seen):
                start, stop, _ = self.slices[name]
                raise ValueError(f"user observable {name!r} returned an array of length {stop - start} at x0 but "
                                 f"one of another length at t = {times[np.argmax(seen)]:g} on a path; it must return "
                                 "one length at every x (its statistics would mix entries), so this run has no result")


def state_observables(method: str) -> tuple:
    """The optimizer-state observables ``method`` has: u (RMSprop, Adam) and m (Adam)."""
    spec = METHOD_TABLE[method]
    return ("u", "m") if spec.momentum else ("u",) if spec.adaptive else ()


def observable_layout(problem: Problem, x0: np.ndarray, observables, user_observables, method: str = "sgd") -> Layout:
    """Check the requested observables (user ones are evaluated once at x0) and lay them out.

    By default every built-in one the method has (u and m only for the adaptive methods).
    """
    if isinstance(observables, str):
        raise TypeError(f"observables must be a list of names, e.g. [{observables!r}], got the string {observables!r}")
    if user_observables is not None and not isinstance(user_observables, Mapping):
        raise TypeError("user_observables must be a dict {name: compiled function of x}, "
                        f"got {type(user_observables).__name__}")
    has_state = state_observables(method)
    names = list([n for n in BUILTIN_OBSERVABLES if (n not in STATE_OBSERVABLES or n in has_state)
                  and not (n == "loss" and problem.sde_terms)] if observables is None else observables)
    for name in names:
        if name not in BUILTIN_OBSERVABLES:
            raise ValueError(f"unknown observable {name!r}; built in: {', '.join(BUILTIN_OBSERVABLES)} "
                             "(pass your own compiled functions as user_observables={name: function})")
        if name == "loss" and problem.sde_terms:
            raise ValueError(f"observable 'loss' does not exist for {problem.name!r}, an SDE in its own terms: it has "
                             "a drift and a diffusion, no loss (grad_norm2 is |b(x)|², noise_trace tr σσᵀ(x))")
        if name in STATE_OBSERVABLES and name not in has_state:
            raise ValueError(f"observable {name!r} is the optimizer state of {STATE_OBSERVABLES[name]}; "
                             f"method {method!r} has none")
    want = np.array([name in names for name in BUILTIN_OBSERVABLES], dtype=np.bool_)
    slices, start = {}, 0
    for name, flag in zip(BUILTIN_OBSERVABLES, want):
        if flag:
            vector = name in ("x", "u", "m")
            size = problem.dim if vector else 1
            slices[name] = (start, start + size, vector)
            start += size
    functions, sizes = [], []
    for name, fn in (user_observables or {}).items():
        if name in slices:
            raise ValueError(f"user observable {name!r} has the name of a built-in one; rename it")
        if not (callable(fn) and hasattr(fn, "py_func")):
            raise TypeError(f"user observable {name!r} must be a numba-compiled function of x "
                            f"(decorate it with @numba.njit), got {fn!r}")
        value = np.asarray(user_call(f"user observable {name!r}", f"{name}(x) at x0 = {x0}", fn, x0.copy()),
                           dtype=np.float64)   # a copy: a function that writes into x cannot move the start
        if value.ndim > 1 or value.shape == (0,):
            raise ValueError(f"user observable {name!r} must return a number or a 1-d array of at least one entry, "
                             f"got shape {value.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"user observable {name!r} is not finite at x0 = {x0}: {value}")
        size = value.size if value.ndim == 1 else 0
        slices[name] = (start, start + max(size, 1), value.ndim == 1)
        start += max(size, 1)
        functions.append(fn)
        sizes.append(size)
    if start == 0:
        raise ValueError("no observables requested; name at least one")
    vectors = [name for name, size in zip(user_observables or {}, sizes) if size]
    checks = {name: start + i for i, name in enumerate(vectors)}
    flagged = [name for name in FLAGGED_BUILTINS if name in slices] + list(user_observables or {})
    nan_flags = {name: start + len(checks) + i for i, name in enumerate(flagged)}
    return Layout(want, slices, tuple(functions), tuple(sizes), start + len(checks) + len(nan_flags), checks, nan_flags)


@contextmanager
def _threads(threads):
    if threads is None:
        yield
        return
    threads = positive_int("threads", threads)
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be at most {numba.config.NUMBA_NUM_THREADS} on this machine, got {threads}")
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _checkpoints(step_plan: StepPlan, steps: int, checkpoints) -> np.ndarray:
    if checkpoints is None:
        effective = np.array([0, steps], dtype=np.int64) if steps > 0 else np.array([0], dtype=np.int64)
    else:
        effective = np.asarray([positive_int("checkpoint", c, allow_zero=True) for c in np.atleast_1d(checkpoints)])
        if np.any(np.diff(effective) <= 0):
            raise ValueError("checkpoints must be strictly increasing effective steps")
        if effective.size and effective[-1] > steps:
            raise ValueError(f"checkpoint {effective[-1]} lies beyond steps={steps}")
        if effective.size == 0 or effective[-1] != steps:
            effective = np.append(effective, steps)
    return effective


class Run:
    """A validated, compiled simulation: run any block-aligned range of paths, then summarize.

    Every argument is checked here, before any path moves.  ``blocks(offset, n)``
    returns the statistics of paths offset … offset + n − 1 (offset a multiple of
    ``block_size``); statistics of disjoint ranges concatenate into exactly those
    of one run over their union.  See `simulate` for the arguments; for an SDE in its own
    terms ``lr`` may also give the time of one effective step (a study's H, with ``dt`` the
    Euler step, default H/l), the time ``dt`` gives when ``lr`` is left out.  ``dtype``: the paths'
    floating-point type (`sdesim.kernels.precision`).
    """

    def __init__(self, problem: Problem, method: str = "sgd", *, lr: float | None = None, l: int = 1, steps: int = 100,
                 seed: int = 0, x0=None, checkpoints=None, observables=None, user_observables=None,
                 dt: float | None = None, scheme: str = "euler", keep_paths: int = 0, keep_every: int | None = None,
                 block_size: int = DEFAULT_BLOCK_SIZE, covariance: bool = False, dtype: str = DEFAULT_DTYPE,
                 stream_version: int = DEFAULT_STREAM_VERSION, **hyperparameters):
        self.dtype = check_dtype(dtype)
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be an sdesim Problem (see sdesim.problems), got {type(problem).__name__}")
        self.seed = positive_int("seed", seed, allow_zero=True)
        self.stream_version = check_stream_version(stream_version)
        if problem.sde_terms:   # the time of one effective step: lr where a study gives its H, else dt
            lr, dt = (dt, None) if lr is None else (lr, dt)
            self.plan = own_terms_plan(method, lr, l, dt=dt, scheme=scheme, **hyperparameters)
        else:
            lr = 0.1 if lr is None else lr
            self.plan = plan(method, lr, l, dt=dt, scheme=scheme, **hyperparameters)
        self.problem, self.lr, self.l, self.covariance = problem, lr, l, covariance
        check_kind(self.dtype, self.plan.kind, method)
        self.steps = positive_int("steps", steps, allow_zero=True)
        self.block_size = positive_int("block_size", block_size)
        self.keep_paths = positive_int("keep_paths", keep_paths, allow_zero=True)
        self.key = rng.stream_key(seed)
        self.x0 = problem.start_point(x0)
        self.effective = _checkpoints(self.plan, self.steps, checkpoints)
        self.small = self.plan.small_steps(self.effective)
        n_small = int(self.small[-1])
        self.keep_every = (max(1, n_small // 1000) if keep_every is None
                           else positive_int("keep_every", keep_every))
        self.layout = observable_layout(problem, self.x0, observables, user_observables, method)
        d = problem.dim
        self.opt0 = self._optimizer_start()
        self.transition = np.zeros((d, d)), np.zeros(d), np.zeros((d, d))
        if self.plan.kind == LINEAR:
            if not problem.has_exact_sde:
                raise ValueError(f"scheme 'exact' needs a closed-form SDE solution, which problem {problem.name!r} "
                                 "does not have; use scheme 'euler'")
            self.transition = problem.exact_sde.transition(self.plan.h, lr)
        self.corrections = self.plan.corrections(n_small)   # no rows without bias correction
        kept_shape = (self.keep_paths, n_small // self.keep_every + 1, d)
        check_memory(8 * math.prod(kept_shape), f"keeping {self.keep_paths} paths at {kept_shape[1]} points each",
                     "Keep fewer paths (keep_paths) or fewer points (a larger keep_every)")
        self.kept = np.full(kept_shape, np.nan)
        self.module = kernel_module(problem.functions, self.plan.kind, self.layout.user_functions, self.layout.user_sizes,
                                    constant_noise=problem.constant_noise, dtype=self.dtype,
                                    stream_version=self.stream_version)
        self.slicer = slicing.Slicer()   # kernel calls of bounded wall time, so that signals are seen
        self.partial = None              # what an interrupted `blocks` had computed
        users = [name for name in self.layout.slices if name not in BUILTIN_OBSERVABLES]
        self.guard = Guard(problem.name, problem.functions, dict(zip(users, self.layout.user_functions)))
        check_functions_take(problem, self.x0, dict(zip(users, self.layout.user_functions)), self.dtype)
        self.run_paths = self.guard.naming_failures(self.module.run_paths)   # an exception names its function

    def _optimizer_start(self) -> np.ndarray:
        """The optimizer state every path starts from: m = 0, v = v₀/u_scale (so u = v₀ at every l), k = 0.

        Empty for methods without one.  The SDE methods' Σ(x₀) must be finite: its diagonal drives u.
        """
        hyper, d = self.plan.adaptive, self.problem.dim
        if hyper is None:
            return np.zeros(0)
        v0 = np.asarray(hyper.v0, dtype=np.float64)
        if v0.ndim == 1 and v0.shape != (d,):
            raise ValueError(f"v0 must be a number or have {d} entries (one per coordinate of problem "
                             f"{self.problem.name!r}), got {v0.shape[0]}")
        if self.plan.kind == ADAPTIVE_SDE:
            factor = self.problem.noise_sqrt(self.x0)
            if not np.all(np.isfinite(factor)):
                raise ValueError(f"method {self.plan.method!r} needs diag Σ(x), but problem {self.problem.name!r}'s "
                                 f"noise factor D(x) is not finite at x0 = {self.x0}: {factor.tolist()}")
        opt = np.zeros(2 * d + 1)
        opt[d:2 * d] = v0 / self.plan.u_scale
        return opt

    def footprint(self, paths: int) -> Footprint:
        """The work and memory of running ``paths`` paths (see `Footprint`), without running them."""
        p = self.problem
        n_blocks = math.ceil(paths / self.block_size)
        statistics = STATS_COPIES * BlockStats.nbytes_for(n_blocks, len(self.small), self.layout.size,
                                                          self.covariance)
        data = sum(v.nbytes for v in p.data if isinstance(v, np.ndarray))
        scratch = 8 * (p.dim * p.noise_rank + max(p.noise_rank, p.dim) + 4 * p.dim + 2 * self.layout.size
                       + p.state_size + 2 * p.dim * p.dim + 2 * self.opt0.size)
        threads = min(numba.get_num_threads(), n_blocks)
        return Footprint(paths * int(self.small[-1]), statistics + self.kept.nbytes + self.corrections.nbytes,
                         threads * (data + scratch))

    def blocks(self, path_offset: int, paths: int) -> BlockStats:
        """Statistics of the paths path_offset … path_offset + paths − 1.

        The kernel runs them in calls of about `slicing.TARGET_SECONDS` each (pieces of paths, slices of
        steps), bit for bit one call's numbers, so that Ctrl-C and SIGTERM are seen between calls.
        """
        path_offset = positive_int("path_offset", path_offset, allow_zero=True)
        paths = positive_int("paths", paths)
        if path_offset % self.block_size:
            raise ValueError(f"path_offset ({path_offset}) must be a multiple of block_size ({self.block_size}) "
                             "so that partial runs merge into the same blocks as one run")
        sizes = (self.problem.dim, self.opt0.size, self.problem.state_size)
        parts = []
        try:
            for offset, n in self.slicer.pieces(path_offset, paths, self.block_size, slicing.row_bytes(*sizes)):
                self._sliced(offset, n, sizes, parts)
        except KeyboardInterrupt:   # the statistics of every call that ran: each checkpoint its paths reached
            self.partial = BlockStats.concatenate(parts) if parts else None
            raise
        stats = parts[0] if len(parts) == 1 else BlockStats.concatenate(parts)
        times = self.effective * self.plan.time_per_step
        self.layout.check_lengths(stats, times)
        self.guard.check_nans(stats.means, stats.counts, self.layout.nan_flags, times)
        return stats

    def _sliced(self, path_offset: int, paths: int, sizes: tuple, parts: list) -> None:
        """One piece of `blocks`, appended to ``parts`` and filled by kernel calls until every path has run every step."""
        n_blocks = math.ceil(paths / self.block_size)
        stats = BlockStats.empty(n_blocks, len(self.small), self.layout.size,
                                 covariance=self.covariance, tracked=self.layout.observed, dtype=self.dtype,
                                 stream_version=self.stream_version)
        parts.append(stats)
        data, x0, f_mat, c_vec, k_mat = as_dtype((self.problem.data, self.x0, *self.transition), self.dtype)
        params = as_dtype(self.plan.step_params(self.problem.weight_decay, self.problem.diagonal_noise), self.dtype)

        def call(until, resume):
            self.run_paths(
                data, x0, self.opt0, self.key, path_offset, paths, self.block_size,
                params, f_mat, c_vec, k_mat, self.corrections, self.small, self.layout.want, self.problem.noise_rank, self.problem.state_size, self.keep_every,
                self.problem.constant_noise,
                stats.counts, stats.means, stats.m2s, stats.comoments, self.kept, stats.bad_counts, stats.first_bad,
                until, resume,
            )

        def resume_state(paused: bool) -> tuple:
            return (slicing.resume_state(n_blocks, self.block_size, *sizes) if paused
                    else slicing.no_resume(*sizes))

        self.slicer.run(call, int(self.small[-1]), paths, resume_state)

    def chunks(self, paths: int, path_offset: int = 0, blocks_per_chunk: int = 64):
        """(offset, paths) pairs cutting a range into whole blocks, for progress and interruption.

        Made one at a time, as they run: nothing proportional to ``paths`` exists before the work.
        """
        step = self.block_size * blocks_per_chunk
        return ((path_offset + start, min(step, paths - start)) for start in range(0, paths, step))

    def result(self, stats: BlockStats, paths: int, path_offset: int = 0) -> Result:
        """The `Result` of merged block statistics ``stats`` covering ``paths`` paths from ``path_offset``."""
        if stats.dtype != self.dtype:
            raise ValueError(f"these block statistics were simulated in {stats.dtype}, this run in {self.dtype}; "
                             "a result summarizes paths of one dtype")
        if stats.stream_version != self.stream_version:
            raise ValueError(f"these statistics are of stream version {stats.stream_version}, this run's is "
                             f"{self.stream_version}: results of one stream version only")
        return make_result(self.problem, self.plan, stats, self.layout, lr=self.lr, l=self.l, steps=self.steps,
                           paths=paths, seed=self.seed, x0=self.x0, effective=self.effective,
                           block_size=self.block_size, path_offset=path_offset, dtype=self.dtype,
                           kept=self.kept if self.keep_paths else None,
                           kept_times=np.arange(self.kept.shape[1]) * self.keep_every * self.plan.small_dt)


def simulate(problem: Problem, method: str = "sgd", *, lr: float | None = None, l: int = 1, steps: int = 100,
             paths: int = 10_000, seed: int = 0, x0=None, checkpoints=None, observables=None,
             user_observables=None, dt: float | None = None, scheme: str = "euler", keep_paths: int = 0,
             keep_every: int | None = None, threads: int | None = None, block_size: int = DEFAULT_BLOCK_SIZE,
             path_offset: int = 0, progress: bool = False, return_blocks: bool = False, keep_interrupted: bool = False,
             dtype: str = DEFAULT_DTYPE, stream_version: int = DEFAULT_STREAM_VERSION, **hyperparameters):
    """Run ``paths`` independent paths of ``method`` on ``problem`` for ``steps`` effective steps.

    Effective step k is time t = kη; SVAG with l takes l small steps of η/l per
    effective step and ``sde`` takes steps of ``dt`` (default η/l).  For the adaptive
    methods (``rmsprop``, ``adam``, ``paper_rmsprop`` and their ``_sde``) t = kη², l² small
    steps (or steps of ``dt``, default η²/l²) per effective step, and ``hyperparameters``
    are ``beta1``, ``beta2``, ``eps``, ``bias_correction``, ``v0`` (see `sdesim.methods`).  Observables
    (default: all built-ins) are averaged at ``checkpoints`` (effective steps;
    default the start and the end), with standard errors.  Path i always uses the
    same random stream for the same ``seed``, so two runs with one seed share
    their random numbers, and the numbers do not depend on ``threads``.  ``stream_version`` picks the
    normal sampler (`sdesim.rng.versions`: 1, the default, or 2, the cheaper one); the result records it.

    ``lr`` is 0.1 when not given.  An SDE in its own terms (`sdesim.problems.sde`) takes ``dt`` and no
    ``lr``: method ``sde`` takes ``steps`` Euler–Maruyama steps of dt (l of dt/l each with ``l``),
    x ← x + h b(x) + √h σ(x) z, to time ``steps``·dt.
    A problem written for another η (`sdesim.problems.custom.lr_mismatch`) gives a UserWarning.

    Returns a `Result` (and the per-block statistics if
    ``return_blocks``, for merging partial runs of one study).  With ``keep_interrupted``, Ctrl-C (or
    SIGTERM, `sdesim.interrupts`) returns what ran instead of raising: a Result with ``interrupted``
    True whose ``counts`` say how many paths reached each checkpoint (it raises if no kernel call finished).
    ``dtype`` ``"float32"`` holds and steps the paths in float32, statistics still in float64
    (`sdesim.kernels.precision`; the adaptive methods run in float64 only).
    """
    if isinstance(problem, Problem) and problem.sde_terms:
        if lr is not None:
            raise ValueError(f"lr does not apply to {problem.name!r}, an SDE in its own terms: it has no learning "
                             "rate; give its step dt")
        if dt is None:
            raise ValueError(f"{problem.name!r} is an SDE in its own terms: give its step dt (the time of one step)")
    paths = positive_int("paths", paths)
    check_stream_version(stream_version)
    path_offset = positive_int("path_offset", path_offset, allow_zero=True)
    keep_paths = positive_int("keep_paths", keep_paths, allow_zero=True)
    if keep_paths > paths:
        raise ValueError(f"keep_paths ({keep_paths}) must be at most paths ({paths}): only paths that run can be kept")
    if threads is not None:
        threads = positive_int("threads", threads)
    if path_offset % positive_int("block_size", block_size):
        raise ValueError(f"path_offset ({path_offset}) must be a multiple of block_size ({block_size}) "
                         "so that partial runs merge into the same blocks as one run")
    run = Run(problem, method, lr=lr, l=l, steps=steps, seed=seed, x0=x0, checkpoints=checkpoints,
              observables=observables, user_observables=user_observables, dt=dt, scheme=scheme,
              keep_paths=keep_paths, keep_every=keep_every, block_size=block_size, dtype=dtype,
              stream_version=stream_version, **hyperparameters)
    mismatch = lr_mismatch(problem, run.lr)   # None for a problem that declares no η (an SDE in its own terms)
    if mismatch is not None:   # a Result has no warnings of its own: Python's
        warnings.warn(mismatch, UserWarning, stacklevel=2)
    with _threads(threads):
        footprint = run.footprint(paths)
        check_footprint(footprint, f"{paths} paths of {method}",
                        "Use fewer paths, fewer checkpoints or a larger block_size, or run the paths in parts "
                        "(path_offset, return_blocks=True) and merge their block statistics")
        bar = progress_bar(footprint, f"{method} l={l}") if progress else None
        parts, interrupted = [], False
        try:
            for offset, n in run.chunks(paths, path_offset):
                parts.append(run.blocks(offset, n))
                if bar is not None:
                    bar.update(n * int(run.small[-1]))
        except KeyboardInterrupt:
            parts += [] if run.partial is None else [run.partial]
            if not (keep_interrupted and parts):
                raise
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
        stats = BlockStats.concatenate(parts)
    result = run.result(stats, paths, path_offset)
    if interrupted:
        result = dataclasses.replace(result, interrupted=True)
    return (result, stats) if return_blocks else result


def make_result(problem, step_plan, stats: BlockStats, layout: Layout, *, lr, l, steps, paths, seed, x0,
                effective, block_size, path_offset, kept=None, kept_times=None, dtype=DEFAULT_DTYPE) -> Result:
    """Summarize block statistics into a `Result`."""
    counts, mean, stderr = stats.summary()
    observables = {}
    for name, (start, stop, vector) in layout.slices.items():
        if vector:
            observables[name] = Observable(mean[:, start:stop], stderr[:, start:stop])
        else:
            observables[name] = Observable(mean[:, start], stderr[:, start])
    first = stats.first_divergence
    return Result(
        problem={"name": problem.name, "params": to_jsonable(problem.params)}, method=step_plan.method,
        lr=float(lr), l=int(l), steps=int(steps), paths=int(paths), seed=int(seed),
        times=effective * step_plan.time_per_step, time_scale=step_plan.time_scale,
        hyperparameters=({} if step_plan.adaptive is None
                         else step_plan.adaptive.record(METHOD_TABLE[step_plan.method])),
        observables=observables, counts=counts, diverged=stats.diverged,
        first_divergence_time=None if first is None else first * step_plan.small_dt, x0=x0, dt=step_plan.h,
        scheme=step_plan.scheme, block_size=block_size, path_offset=path_offset, stream_version=stats.stream_version,
        kept_paths=kept, kept_times=None if kept is None else kept_times, dtype=dtype,
        versions={"sdesim": sdesim.__version__, "numpy": np.__version__, "numba": numba.__version__,
                  "python": platform.python_version()},
    )
