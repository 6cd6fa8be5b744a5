"""Speed of the sdesim engine against torchsde, a bare numba kernel and itself.

One run measures, on this machine and in this process (alternatives interleaved
round by round, best of ``--repeats``, so that they share the machine's noise):

1. the 1-D Ornstein-Uhlenbeck SDE dX = -(X - 1) dt + sqrt(eta) dW
   (``quadratic(1)``, method "sde", Euler, eta = 0.1, dt = eta/l): sdesim's
   ``simulate`` vs torchsde's Euler scheme (float64 and float32, diagonal noise)
   vs a bare Euler-Maruyama numba kernel, in path-steps per second, plus the raw
   normal-draw rates of NumPy, numba's ``np.random`` and ``sdesim.rng.normal``; and
   (1c) sdesim against the bare kernel with 1 and with 2 numba threads; and a user SDE in the same
   table, geometric Brownian motion written with ``sde(..., elementwise=True)`` and without it
   (``benchmarks/bench_user_sde.py``), against the built-in OU;
2. the 10-D linear SDE (``quadratic(10)``, Euler) vs torchsde with a general
   (d x d) noise, float32 and float64: sdesim with the diagonal structure the problem
   declares and with the dense path forced on it, and bare diagonal-step kernels;
3. SVAG vs SGD on ``linear_regression(batch_size=8)``, in ns per gradient
   evaluation (SVAG with l > 1 evaluates two minibatch gradients per small step), for
   dim=10, n=256 and (3b, ``--lr-more``) dim=2, n=64;
4. compilation and the kernel disk cache: the first ``simulate`` call in fresh
   subprocesses (a fresh ``SDESIM_CACHE_DIR`` twice, the default cache, and, with
   ``--cold``, fresh numba caches for everything).

Step counts are chosen per method so that one timing takes about ``--target``
seconds (a short calibration run first); rates are per path-step, so the
methods are comparable even where their step counts differ.  Every SDE result
is also checked against the exact mean of the Euler recursion (column "z").

Run from the repository root:

    .venv/bin/python benchmarks/bench_engine.py            # readable tables
    .venv/bin/python benchmarks/bench_engine.py --markdown # and the same as Markdown
    .venv/bin/python benchmarks/bench_engine.py --quick    # a smoke test (seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import prange  # noqa: E402

import sdesim  # noqa: E402
from sdesim._jit import parallel_jit  # noqa: E402
from sdesim.problems import linear_regression, quadratic  # noqa: E402
from sdesim.problems.quadratic import FUNCTIONS as DENSE_QUADRATIC_FUNCTIONS  # noqa: E402
from sdesim.rng import normal, seed_path, stream_key  # noqa: E402
from sdesim.rng.lanes import LANES  # noqa: E402

import bench_jax  # noqa: E402  (the JAX peers of the 1-D OU row)
import bench_user_sde  # noqa: E402  (the user SDE of table 1, importable so its kernels are cached)
import bench_rng  # noqa: E402  (the bare kernel and the draw loops)

fill_normal_streams = bench_rng.fill_normal_streams
fill_numba_normal = bench_rng.fill_numba_normal
bench_rng_ou = bench_rng.bare_ou_kernel
bench_rng_ou_lanes = bench_rng.bare_ou_lanes_kernel
BENCH_RNG_NOTE = "from benchmarks/bench_rng.py"
LANES_KEY = f"bench_rng.bare_ou_lanes_kernel (the same, {LANES} SIMD lanes)"
LANES16_KEY = "bench_rng.bare_ou_lanes_kernel, 16 lanes (the width before 64)"
SDESIM_32_V2 = "sdesim float32, stream version 2"


@parallel_jit
def bare_ou_shifted(key, x0, mu, sigma, dt, steps, out):
    """Euler-Maruyama for dX = -(X - mu) dt + sigma dW, the bench_rng.py kernel with this drift.

    x += -(x - mu) dt + sqrt(dt) sigma z, one sdesim stream per path (seed_path as in sdesim).
    """
    s = math.sqrt(dt) * sigma
    for p in prange(out.size):
        state = np.empty(4, np.uint64)
        seed_path(key, p, state)
        x = x0
        for _ in range(steps):
            x += -(x - mu) * dt + s * normal(state)
        out[p] = x


@parallel_jit
def bare_linear_diagonal(key, a_diag, x_star, s, dt, steps, draws_only, out):
    """Euler-Maruyama for dX = -A(X - x*) dt + s dW with a diagonal A, d normals per path-step.

    x_j += -A_jj (x_j - x*_j) dt + s z_j; with ``draws_only`` x_j += s z_j (the draws alone,
    a random walk).  One sdesim stream per path; out[p] = x_0 at the end.
    """
    d = a_diag.shape[0]
    for p in prange(out.size):
        state = np.empty(4, np.uint64)
        seed_path(key, p, state)
        x = np.zeros(d)
        for _ in range(steps):
            if draws_only:
                for j in range(d):
                    x[j] += s * normal(state)
            else:
                for j in range(d):
                    x[j] += -a_diag[j] * (x[j] - x_star[j]) * dt + s * normal(state)
        out[p] = x[0]


def sdesim_case(problem, eta, l, paths, seed, kernel=None, dtype="float64", stream_version=1):
    """A timing of ``simulate(problem, "sde", ...)`` over n small steps: (mean, stderr of x_0 at the end, steps).

    With ``kernel``, the kernel of the run's module by that name is forced on the same `Run`
    (``run_paths_scalar``: two paths at a time; ``run_paths_any``: one path at a time), the engine's
    paths before the SIMD lanes; the numbers are the same bit for bit (tests/test_engine.py).
    ``dtype``: the paths' floating-point type (float32: docs/guide/float32.md); ``stream_version``: the
    normal sampler (sdesim.rng.versions).
    An SDE in its own terms takes eta as its step H (``dt``), l Euler steps of eta/l each.
    """
    from types import SimpleNamespace

    from sdesim.simulate import Run

    def run(n_small):
        if kernel is None:
            result = sdesim.simulate(problem, "sde", **{"dt" if problem.sde_terms else "lr": eta}, l=l,
                                     steps=n_small // l, paths=paths, observables=["x"], seed=seed, dtype=dtype,
                                     stream_version=stream_version)
        else:
            r = Run(problem, "sde", lr=eta, l=l, steps=n_small // l, seed=seed, observables=["x"],
                    stream_version=stream_version)
            r.module = SimpleNamespace(run_paths=getattr(r.module, kernel))
            result = r.result(r.blocks(0, paths), paths)
        return float(result.mean("x")[-1, 0]), float(result.stderr("x")[-1, 0]), np.full(n_small, eta / l)
    return run


# --- tables ----------------------------------------------------------------------------------


class Table:
    def __init__(self, title, headers, notes=()):
        self.title, self.headers, self.rows, self.notes = title, list(headers), [], list(notes)

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def text(self):
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]
        line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
        out = [self.title, "=" * len(self.title), line(self.headers), line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self):
        esc = lambda c: c.replace("|", "\\|")  # noqa: E731
        out = [f"### {self.title}", "", "| " + " | ".join(map(esc, self.headers)) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(self.headers) - 1)) + "|"]
        out += ["| " + " | ".join(map(esc, r)) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)


TABLES: list[Table] = []


def show(table: Table):
    TABLES.append(table)
    print("\n" + table.text(), flush=True)


def mps(rate):
    return f"{rate / 1e6:.2f}"


def ratio(a, b):
    return f"{a / b:.3g}x"


# --- timing ----------------------------------------------------------------------------------


def timeit(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def choose_steps(run, probe, target, unit, cap):
    """Small-step count (a multiple of ``unit``, at most ``cap``) for a ~``target`` s timing."""
    t, _ = timeit(run, probe)
    per_step = max(t, 1e-6) / probe
    n = int(math.ceil(target / per_step / unit)) * unit
    return max(unit, min(n, cap))


def interleaved(cases, repeats):
    """cases: name -> (fn, work); fn() -> info. Round-robin, returns name -> (best s, median s, info)."""
    times = {name: [] for name in cases}
    infos = {}
    for _ in range(repeats):
        for name, (fn, _) in cases.items():
            t, infos[name] = timeit(fn)
            times[name].append(t)
    return {name: (min(ts), float(np.median(ts)), infos[name]) for name, ts in times.items()}


def euler_mean(a, x0, mu, hs):
    """Exact mean of the Euler recursion x <- x - a (x - mu) h_k + noise over the steps hs."""
    return mu + (x0 - mu) * float(np.prod(1.0 - a * np.asarray(hs)))


def zscore(mean, stderr, exact):
    return f"{(mean - exact) / stderr:+.1f}" if stderr > 0 else "n/a"


# --- torchsde ----------------------------------------------------------------------------------


def torch_setup(threads):
    import torch
    import torchsde

    torch.set_num_threads(threads)
    return torch, torchsde


def make_torch_ou(torch, eta, mu):
    class OU(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def __init__(self):
            super().__init__()
            self.sigma = math.sqrt(eta)
            self.seen = []

        def f(self, t, y):
            self.seen.append(t)
            return -(y - mu)

        def g(self, t, y):
            return torch.full_like(y, self.sigma)

    return OU()


def make_torch_linear(torch, a, x_star, d_mat, eta, dtype):
    class Linear(torch.nn.Module):
        noise_type = "general"
        sde_type = "ito"

        def __init__(self):
            super().__init__()
            self.at = torch.tensor(a.T, dtype=dtype)
            self.xs = torch.tensor(x_star, dtype=dtype)
            self.g_mat = torch.tensor(math.sqrt(eta) * d_mat, dtype=dtype)
            self.seen = []

        def f(self, t, y):
            self.seen.append(t)
            return -(y - self.xs) @ self.at

        def g(self, t, y):  # (batch, d, m), a constant matrix broadcast over the batch
            return self.g_mat.expand(y.shape[0], *self.g_mat.shape)

    return Linear()


def with_threads(torch, n, run, default):
    """run(steps) with torch.set_num_threads(n), restoring ``default`` afterwards."""
    def wrapped(steps):
        torch.set_num_threads(n)
        try:
            return run(steps)
        finally:
            torch.set_num_threads(default)
    return wrapped


def torch_run(torch, torchsde, sde, y0, dt, steps):
    """Integrate to T = steps·dt; returns (X_T as numpy, the step sizes torchsde took).

    The drift f records the times it is called at: once by sdeint's shape check, then
    once per Euler step.  In float32 the accumulated time can fall just short of T,
    and torchsde then takes one more, tiny, step (it costs as much as a full one).
    """
    ts = torch.tensor([0.0, steps * dt], dtype=y0.dtype)
    sde.seen = []
    with torch.no_grad():
        ys = torchsde.sdeint(sde, y0, ts, method="euler", dt=dt)
    times = [float(t) for t in sde.seen[1:]] + [float(ts[-1])]
    return ys[-1].double().numpy(), np.diff(times)


# --- sections ----------------------------------------------------------------------------------


GBM_TOGETHER = "sdesim user SDE (GBM), elementwise"
GBM_EACH = "sdesim user SDE (GBM), matrix diffusion"


def section_ou(args, torch, torchsde):
    eta, l = args.lr, args.l
    dt = eta / l
    paths = args.paths
    problem = quadratic(1)
    mu, x0 = 1.0, 0.0
    key = stream_key(args.seed)
    out = np.empty(paths)

    sdesim_run = sdesim_case(problem, eta, l, paths, args.seed)
    one_by_one = dataclasses.replace(problem, functions=dataclasses.replace(problem.functions, lanes_mean_grad=None))

    def bare_run(n):
        bare_ou_shifted(key, x0, mu, math.sqrt(eta), dt, n, out)
        return float(out.mean()), float(out.std() / math.sqrt(paths)), np.full(n, dt)

    def rng_bare_run(n):  # Y = (X - 1)/sqrt(eta) solves dY = -Y dt + dW exactly
        bench_rng_ou(key, (x0 - mu) / math.sqrt(eta), dt, n, out)
        xs = mu + math.sqrt(eta) * out
        return float(xs.mean()), float(xs.std() / math.sqrt(paths)), np.full(n, dt)

    def torch_case(dtype):
        sde = make_torch_ou(torch, eta, mu)
        y0 = torch.full((paths, 1), x0, dtype=dtype)

        def run(n):
            xt, hs = torch_run(torch, torchsde, sde, y0, dt, n)
            return float(xt.mean()), float(xt.std() / math.sqrt(paths)), hs
        return run

    def rng_lanes_run(n, kernel=bench_rng_ou_lanes):  # bare_ou_kernel's numbers, LANES paths in SIMD lanes
        lanes_out = np.empty(paths - paths % LANES)
        kernel(key, (x0 - mu) / math.sqrt(eta), dt, n, lanes_out)
        xs = mu + math.sqrt(eta) * lanes_out
        return float(xs.mean()), float(xs.std() / math.sqrt(xs.size)), np.full(n, dt)

    def rng_lanes_v2_run(name):  # the same with stream version 2's lane samplers (bench_rng.V2)
        ou = bench_rng.V2[name][1]

        def run(n):
            single = "float32" in name
            lanes_out = np.empty(paths - paths % LANES, np.float32 if single else np.float64)
            ou(key, (x0 - mu) / math.sqrt(eta), dt, n, lanes_out)
            xs = mu + math.sqrt(eta) * lanes_out.astype(np.float64)
            return float(xs.mean()), float(xs.std() / math.sqrt(xs.size)), np.full(n - n % (2 if single else 1), dt)
        return run

    runs = {
        "sdesim simulate (float64)": (sdesim_run, l, 10 * l),
        "sdesim float32": (sdesim_case(problem, eta, l, paths, args.seed, dtype="float32"), l, 10 * l),
        SDESIM_32_V2: (sdesim_case(problem, eta, l, paths, args.seed, dtype="float32", stream_version=2), l, 10 * l),
        "sdesim simulate, stream version 2 (float64)": (
            sdesim_case(problem, eta, l, paths, args.seed, stream_version=2), l, 10 * l),
        "sdesim, two-path kernel (before the lanes)": (
            sdesim_case(problem, eta, l, paths, args.seed, kernel="run_paths_scalar"), l, 10 * l),
        "sdesim, lanes moved one by one (no lanes_mean_grad)": (
            sdesim_case(one_by_one, eta, l, paths, args.seed), l, 10 * l),
        GBM_TOGETHER: (sdesim_case(bench_user_sde.gbm(elementwise=True), eta, l, paths, args.seed), l, 10 * l),
        GBM_EACH: (sdesim_case(bench_user_sde.gbm(elementwise=False), eta, l, paths, args.seed), l, 10 * l),
        "torchsde euler float64": (torch_case(torch.float64), 1, 10),
        "torchsde euler float32": (torch_case(torch.float32), 1, 10),
    }
    if args.torch_1thread and args.threads != 1:
        runs["torchsde euler float64, 1 torch thread"] = (
            with_threads(torch, 1, torch_case(torch.float64), args.threads), 1, 10)
        runs["torchsde euler float32, 1 torch thread"] = (
            with_threads(torch, 1, torch_case(torch.float32), args.threads), 1, 10)
    runs["bare numba kernel (float64)"] = (bare_run, 1, 100)
    runs["bench_rng.bare_ou_kernel (Y=(X-1)/sqrt(eta))"] = (rng_bare_run, 1, 100)
    runs[LANES_KEY] = (rng_lanes_run, 1, 100)
    runs[LANES16_KEY] = (lambda n: rng_lanes_run(n, bench_rng.bare_ou_lanes16_kernel), 1, 100)
    for name in bench_rng.V2:
        runs[f"bench_rng lanes kernel, stream {name}"] = (rng_lanes_v2_run(name), 2, 100)
    no_jax = bench_jax.unavailable()
    if no_jax is None:
        runs.update(bench_jax.jax_runs(eta, mu, x0, dt, paths, args.seed))

    # warm-up (compile or load from cache) at the probe's step count, since a JAX run compiles once per step
    # count, then step counts for ~target s per timing (the round that compiles the chosen count is not the best)
    for fn, _, probe in runs.values():
        fn(probe)
    steps = {name: choose_steps(fn, probe, args.target, unit, args.max_steps)
             for name, (fn, unit, probe) in runs.items()}
    cases = {name: ((lambda fn=fn, n=steps[name]: fn(n)), None) for name, (fn, _, _) in runs.items()}
    res = interleaved(cases, args.repeats)

    rates = {}
    t = Table(f"1. 1-D OU dX = -(X-1)dt + sqrt(eta)dW, eta={eta}, dt=eta/l={dt:g}, {paths:,} paths, "
              f"{numba.get_num_threads()} threads",
              ["method", "steps", "best s", "median s", "M path-steps/s", "ns/path-step",
               "mean X_T", "z vs Euler mean"],
              notes=["rate = paths x steps / best time; z = (mean - exact Euler mean)/stderr, "
                     "|z| < 4 expected",
                     "torchsde: sdeint(method='euler', dt) with its default BrownianInterval, "
                     "torch.set_num_threads(%d), no_grad" % args.threads,
                     "bare kernel: bench_rng.py's loop with this drift: "
                     "x += -(x-1) dt + sqrt(eta dt) z, z = sdesim.rng.normal; "
                     f"draw loops and bare_ou_kernel {BENCH_RNG_NOTE}",
                     f"sdesim runs {LANES} paths in SIMD lanes (run_paths_lanes_scalar), drawing their normals and moving "
                     "them together (the quadratic's lanes_mean_grad); 'one by one': the same problem without "
                     "lanes_mean_grad, normals drawn together, paths moved one after the other (what a custom "
                     "problem without one runs); 'two-path kernel': run_paths_scalar, the kernel before the lanes; "
                     "all give the same numbers bit for bit",
                     "'sdesim float32': the same run with dtype='float32' (paths and each step's arithmetic in float32, "
                     "the normals the float64 stream's rounded, statistics in float64; docs/guide/float32.md)",
                     f"user SDE: dX = {bench_user_sde.MU}X dt + {bench_user_sde.SIGMA}X dW, X_0 = "
                     f"{bench_user_sde.X0}, the same steps (benchmarks/bench_user_sde.py; z against its Euler "
                     f"mean), 'elementwise': sde(..., elementwise=True), its {LANES} lanes moved together; "
                     "'matrix diffusion': the same SDE without it, lanes moved one by one; the same numbers bit "
                     "for bit"])
    for name, (best, med, (mean, se, hs)) in res.items():
        rate = paths * len(hs) / best
        rates[name] = rate
        t.add(name, len(hs), f"{best:.3f}", f"{med:.3f}", mps(rate), f"{1e9 / rate:.2f}",
              f"{mean:.4f} +- {se:.4f}",
              zscore(mean, se, bench_user_sde.euler_mean(hs) if name in (GBM_TOGETHER, GBM_EACH)
                     else euler_mean(1.0, x0, mu, hs)))
    note = thread_note(rates, "torchsde euler float64", "torchsde euler float64, 1 torch thread")
    if note:
        t.notes.append(note)
    t.notes.append(no_jax or "jax: its CPU backend, jax_enable_x64 on; 'lax.scan euler' is one jitted lax.scan over "
                   "the steps of the whole vector of paths, a key split per step (benchmarks/bench_jax.py); "
                   "'diffrax euler + vmap': diffrax.Euler with an UnsafeBrownianPath, vmap over the paths")
    show(t)
    return rates


def section_ou_threads(args):
    """sdesim vs the bare kernels on the 1-D OU with 1 and 2 numba threads (interleaved, best of repeats).

    Returns {threads: sdesim / bench_rng.bare_ou_kernel} (or / the kernel with this drift where
    bench_rng.py is unusable).
    """
    eta, l = args.lr, args.l
    dt = eta / l
    paths = args.paths
    problem = quadratic(1)
    key = stream_key(args.seed)
    out = np.empty(paths)

    def sdesim_run(n_small):
        sdesim.simulate(problem, "sde", lr=eta, l=l, steps=n_small // l, paths=paths, observables=["x"],
                        seed=args.seed)

    kernels = {"bare, this drift": lambda n: bare_ou_shifted(key, 0.0, 1.0, math.sqrt(eta), dt, n, out)}
    if bench_rng_ou is not None:
        kernels["bench_rng.bare_ou_kernel"] = lambda n: bench_rng_ou(key, -1.0 / math.sqrt(eta), dt, n, out)
    reference = list(kernels)[-1]
    before = numba.get_num_threads()
    t = Table(f"1c. 1-D OU as in table 1, per numba thread count: sdesim vs the bare kernels, {paths:,} paths",
              ["numba threads", "steps", "sdesim M path-steps/s"]
              + [f"{name} M/s" for name in kernels] + [f"sdesim / {name}" for name in kernels],
              notes=["aim: sdesim >= 2/3 of bench_rng.bare_ou_kernel (dX = -X dt + dW) with 1 and with 2 threads; "
                     "'bare, this drift' is table 1's kernel, one subtraction more per step",
                     "each row interleaves the kernels round by round, same step count, best of --repeats"])
    ratios = {}
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            sdesim_run(2 * l)
            for run in kernels.values():
                run(2)
            n = choose_steps(lambda k: sdesim_run(k), 10 * l, args.target, l, args.max_steps)
            cases = {"sdesim": (lambda: sdesim_run(n), None)}
            cases.update({name: ((lambda run=run: run(n)), None) for name, run in kernels.items()})
            res = interleaved(cases, args.repeats)
            rate = {name: paths * n / best for name, (best, _, _) in res.items()}
            ratios[threads] = rate["sdesim"] / rate[reference]
            t.add(threads, n, mps(rate["sdesim"]), *(mps(rate[name]) for name in kernels),
                  *(ratio(rate["sdesim"], rate[name]) for name in kernels))
    finally:
        numba.set_num_threads(before)
    show(t)
    return ratios


def section_draws(args):
    n = args.draws
    streams = 2_048   # a multiple of the lane width (LANES = 64), so the lane samplers fill every stream
    per = max(1, n // streams)
    n = streams * per
    buf = np.empty((streams, per))
    key = stream_key(args.seed)
    gen = np.random.default_rng(args.seed)
    fill_normal_streams(key, buf[:2, :10])
    bench_rng.fill_normal_lanes(key, buf[:LANES, :10])
    fill_numba_normal(buf[:2, :10])
    gen.standard_normal(10)
    v2_fills = {name: (fill, np.empty(buf.shape, np.float32 if "float32" in name else np.float64))
                for name, (fill, _) in bench_rng.V2.items()}
    for fill, out in v2_fills.values():
        fill(key, out[:LANES, :10])
    cases = {
        "sdesim.rng.normal, prange (%d streams)" % streams: (lambda: fill_normal_streams(key, buf), None),
        f"sdesim.rng.lanes.normal_lanes, the same numbers {LANES} streams at once":
            (lambda: bench_rng.fill_normal_lanes(key, buf), None),
        **{f"stream {name}, {LANES} streams at once": (lambda fill=fill, out=out: fill(key, out), None)
           for name, (fill, out) in v2_fills.items()},
        "numba np.random.standard_normal, prange": (lambda: fill_numba_normal(buf), None),
        "numpy default_rng().standard_normal (1 thread)": (lambda: gen.standard_normal(n), None),
    }
    res = interleaved(cases, args.repeats)
    t = Table(f"1b. Raw normal draws, {n:,} draws (float64; float32 where named), {numba.get_num_threads()} threads",
              ["generator", "best s", "M draws/s", "ns/draw (wall)"])
    rates = {}
    for name, (best, _, _) in res.items():
        rates[name] = n / best
        t.add(name, f"{best:.3f}", mps(n / best), f"{best / n * 1e9:.2f}")
    show(t)
    return rates


def section_linear(args, torch, torchsde):
    d, eta, l = args.dim, args.lr, args.l
    dt = eta / l
    paths = args.paths_nd
    problem = quadratic(d)   # A and S diagonal: it declares them so (the diagonal functions and noise product)
    dense = dataclasses.replace(problem, functions=DENSE_QUADRATIC_FUNCTIONS, diagonal_noise=False)
    a, x_star, _, d_mat = problem.data[0], problem.data[1], problem.data[2], problem.data[3]
    key = stream_key(args.seed)
    out = np.empty(paths)

    def bare_case(draws_only):
        def run(n):
            bare_linear_diagonal(key, np.diag(a).copy(), x_star, math.sqrt(eta * dt) * d_mat[0, 0], dt, n,
                                 draws_only, out)
            exact = 0.0 if draws_only else None   # the random walk's mean is its start
            return float(out.mean()), float(out.std() / math.sqrt(paths)), np.full(n, dt), exact
        return run

    def torch_case(dtype):
        sde = make_torch_linear(torch, a, x_star, d_mat, eta, dtype)
        y0 = torch.zeros((paths, d), dtype=dtype)

        def run(n):
            xt, hs = torch_run(torch, torchsde, sde, y0, dt, n)
            return float(xt[:, 0].mean()), float(xt[:, 0].std() / math.sqrt(paths)), hs
        return run

    runs = {
        "sdesim simulate, declared diagonal (float64)": (sdesim_case(problem, eta, l, paths, args.seed), l, 10 * l),
        "sdesim simulate, dense path forced (float64)": (sdesim_case(dense, eta, l, paths, args.seed), l, 10 * l),
        "sdesim float32, declared diagonal": (sdesim_case(problem, eta, l, paths, args.seed, dtype="float32"), l, 10 * l),
        "sdesim, declared diagonal, one-path kernel (before the lanes)": (
            sdesim_case(problem, eta, l, paths, args.seed, kernel="run_paths_any"), l, 10 * l),
        "torchsde euler general float32": (torch_case(torch.float32), 1, 10),
        "torchsde euler general float64": (torch_case(torch.float64), 1, 10),
        f"bare numba kernel, diagonal Euler step ({d} normals per path-step)": (bare_case(False), 1, 10),
        f"bare numba kernel, {d} normals per path-step only": (bare_case(True), 1, 10),
    }
    if args.torch_1thread and args.threads != 1:
        runs["torchsde euler general float32, 1 torch thread"] = (
            with_threads(torch, 1, torch_case(torch.float32), args.threads), 1, 10)
    for fn, unit, _ in runs.values():
        fn(2 * unit)
    steps = {name: choose_steps(fn, probe, args.target, unit, args.max_steps)
             for name, (fn, unit, probe) in runs.items()}
    cases = {name: ((lambda fn=fn, n=steps[name]: fn(n)), None) for name, (fn, _, _) in runs.items()}
    res = interleaved(cases, args.repeats)
    t = Table(f"2. {d}-D linear SDE (quadratic({d}): A=diag(linspace(1,2,{d})), x*=1, S=I), "
              f"Euler, eta={eta}, dt={dt:g}, {paths:,} paths",
              ["method", "steps", "best s", "median s", "M path-steps/s", "ns/path-step",
               "mean X_T[0]", "z vs Euler mean"],
              notes=["torchsde: noise_type='general', g(t, y) = sqrt(eta) I expanded to "
                     f"(batch, {d}, {d}); f(t, y) = -(y - x*) A^T",
                     "declared diagonal: quadratic()'s own choice for a diagonal A and S (diagonal functions "
                     "and noise product); dense path forced: the same problem with the dense functions and "
                     "no diagonal_noise (dataclasses.replace), the engine's path before the structure was "
                     f"declared; both give the same numbers bit for bit; both run {LANES} paths in SIMD lanes "
                     "(run_paths_lanes); 'one-path kernel': run_paths_any, the kernel before the lanes",
                     "bare kernels: x_j += -A_jj (x_j - x*_j) dt + sqrt(eta dt) z_j, one sdesim stream per "
                     "path, no statistics; 'normals only': x_j += sqrt(eta dt) z_j"])
    rates = {}
    for name, (best, med, info) in res.items():
        mean, se, hs = info[:3]
        exact = info[3] if len(info) > 3 and info[3] is not None else euler_mean(a[0, 0], 0.0, 1.0, hs)
        rate = paths * len(hs) / best
        rates[name] = rate
        t.add(name, len(hs), f"{best:.3f}", f"{med:.3f}", mps(rate), f"{1e9 / rate:.1f}",
              f"{mean:.4f} +- {se:.4f}", zscore(mean, se, exact))
    note = thread_note(rates, "torchsde euler general float32", "torchsde euler general float32, 1 torch thread")
    if note:
        t.notes.append(note)
    show(t)
    return rates


def section_svag(args, dim, n, number="3"):
    problem = linear_regression(dim=dim, n=n, batch_size=8)
    paths, eta = args.lr_paths, args.lr
    variants = {"SGD": ("sgd", 1), "SVAG l=1": ("svag", 1), f"SVAG l={args.svag_l}": ("svag", args.svag_l)}

    def make(method, l):
        grads_per_small = 2 if (method == "svag" and l > 1) else 1

        def run(n_small):
            r = sdesim.simulate(problem, method, l=l, lr=eta, steps=n_small // l, paths=paths,
                                observables=["loss"], seed=args.seed)
            return n_small, n_small * grads_per_small, float(r.mean("loss")[-1]), r.diverged
        return run, l

    runs = {name: make(*v) for name, v in variants.items()}
    for fn, unit in runs.values():
        fn(2 * unit)
    steps = {name: choose_steps(fn, 10 * unit, args.target, unit, args.max_steps)
             for name, (fn, unit) in runs.items()}
    cases = {name: ((lambda fn=fn, n=steps[name]: fn(n)), None) for name, (fn, _) in runs.items()}
    res = interleaved(cases, args.repeats)
    t = Table(f"{number}. SVAG vs SGD, linear_regression(dim={dim}, n={n}, batch_size=8), "
              f"eta={eta}, {paths:,} paths",
              ["method", "small steps", "grads/step", "best s", "median s", "ns/grad eval",
               "ns/small step", "M grads/s", "loss at end", "diverged"],
              notes=["SGD: one minibatch gradient per step; SVAG l: l small steps of eta/l per effective "
                     "step, each with two independent minibatch gradients (l=1 has c2 = 0: one gradient)"])
    ns = {}
    for name, (best, med, (n_small, grads, loss_end, diverged)) in res.items():
        total = paths * grads
        ns[name] = best / total * 1e9
        t.add(name, n_small, grads // n_small, f"{best:.3f}", f"{med:.3f}", f"{ns[name]:.1f}",
              f"{best / (paths * n_small) * 1e9:.1f}", mps(total / best), f"{loss_end:.4g}", diverged)
    show(t)
    return ns


COMPILE_CHILD = textwrap.dedent("""
    import json, time
    t0 = time.perf_counter()
    import sdesim
    from sdesim.problems import quadratic
    from sdesim.kernels.build import cache_dir
    t1 = time.perf_counter()
    p = quadratic(1)
    sdesim.simulate(p, "sde", lr=0.1, l=10, steps=10, paths=1000, observables=["x"])
    t2 = time.perf_counter()
    sdesim.simulate(p, "sde", lr=0.1, l=10, steps=10, paths=1000, observables=["x"])
    t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2, "cache": str(cache_dir())}))
""")


def section_compile(args):
    def child(env_changes):
        env = dict(os.environ)
        for k, v in env_changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", COMPILE_CHILD], env=env, cwd=str(ROOT),
                              capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"compile child failed:\n{proc.stderr[-2000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info["wall"] = wall
        return info

    t = Table("4. First simulate call in a fresh process (quadratic(1), sde, 1,000 paths x 100 steps)",
              ["process", "import s", "first call s", "second call s", "process wall s"],
              notes=["'first call' includes building the kernel module and compiling it "
                     "or loading it from numba's disk cache; aim: < 2 s when loading from the cache",
                     "fresh SDESIM_CACHE_DIR: only the generated kernel is new; the problem functions "
                     "and sdesim.rng still load from numba's cache in sdesim/**/__pycache__"])
    firsts = {}
    with tempfile.TemporaryDirectory(prefix="sdesim-bench-cache-") as tmp:
        env = {"SDESIM_CACHE_DIR": tmp, "NUMBA_CACHE_DIR": None}
        rows = [("1: fresh SDESIM_CACHE_DIR (compiles kernel)", env),
                ("2: same SDESIM_CACHE_DIR (loads from cache)", env),
                ("3: default cache (~/.cache/sdesim)", {"SDESIM_CACHE_DIR": None, "NUMBA_CACHE_DIR": None})]
        for name, env_changes in rows:
            info = child(env_changes)
            firsts[name] = info["first"]
            t.add(name, f"{info['import']:.2f}", f"{info['first']:.2f}", f"{info['second']:.3f}",
                  f"{info['wall']:.2f}")
        n_files = sum(1 for _ in Path(tmp).rglob("*") if _.is_file())
        t.notes.append(f"the fresh cache dir held {n_files} files after process 2")
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="sdesim-bench-cold-") as tmp:
            name = "4: fresh SDESIM_CACHE_DIR and NUMBA_CACHE_DIR (all cold)"
            info = child({"SDESIM_CACHE_DIR": str(Path(tmp) / "s"), "NUMBA_CACHE_DIR": str(Path(tmp) / "n")})
            firsts[name] = info["first"]
            t.add(name, f"{info['import']:.2f}", f"{info['first']:.2f}", f"{info['second']:.3f}",
                  f"{info['wall']:.2f}")
    show(t)
    return firsts


def busy_cores(seconds=1.0):
    """Cores kept busy (by anything) over ``seconds``, from /proc/stat; None where unavailable."""
    def read():
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]
    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    frac = 1.0 - (idle1 - idle0) / max(1, total1 - total0)
    return frac * (os.cpu_count() or 1)


def busy_line(when):
    b = busy_cores()
    return f"CPU busy {when} (other processes; 1 s sample of /proc/stat): " + (
        "n/a" if b is None else f"{b:.2f} of {os.cpu_count()} cores")


def thread_note(rates, two, one):
    """A note when torch with 1 thread beats torch with more: the cores are taken by others."""
    if one in rates and two in rates and rates[one] > rates[two]:
        return (f"torchsde was {rates[one] / rates[two]:.1f}x faster with 1 torch thread than with "
                "the requested number: other processes hold the cores, and each OpenMP parallel op "
                "waits for its descheduled second thread; the 1-thread row is the fairer reference")
    return None


# --- machine -----------------------------------------------------------------------------------


def machine_lines(args):
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {"python": platform.python_version(), "sdesim": sdesim.__version__, "numpy": np.__version__,
                "numba": numba.__version__}
    try:
        import torch
        import torchsde
        versions["torch"] = torch.__version__
        versions["torchsde"] = torchsde.__version__
    except Exception:  # pragma: no cover
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    def git(*cmd):  # read-only queries
        try:
            return subprocess.run(["git", *cmd], cwd=str(ROOT), capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except Exception:
            return "?"
    dirty = " ".join(line.split(None, 1)[-1] for line in git("status", "--porcelain", "--", "sdesim").splitlines())
    return [
        f"command: {shlex.join([sys.executable] + sys.argv)}",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"cpu: {model}; {os.cpu_count()} logical cores ({usable} usable); "
        f"numba threads: {numba.get_num_threads()}; "
        f"torch threads: {args.threads}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"platform: {platform.platform()}",
        f"sdesim tree: commit {git('rev-parse', '--short', 'HEAD')}"
        + (f", uncommitted changes in: {dirty}" if dirty else ", clean"),
        f"load average at start (1/5/15 min): {load}",
        busy_line("before the run"),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=100_000, help="paths for the 1-D OU (default 100000)")
    ap.add_argument("--paths-nd", type=int, default=20_000, help="paths for the d-D linear SDE (default 20000)")
    ap.add_argument("--dim", type=int, default=10, help="dimension of the linear SDE (default 10)")
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate eta (default 0.1)")
    ap.add_argument("--l", type=int, default=10, help="SDE step dt = eta/l (default 10)")
    ap.add_argument("--lr-dim", type=int, default=10, help="linear_regression dim (default 10)")
    ap.add_argument("--lr-n", type=int, default=256, help="linear_regression examples n (default 256)")
    ap.add_argument("--lr-paths", type=int, default=20_000, help="paths for SVAG/SGD (default 20000)")
    ap.add_argument("--svag-l", type=int, default=4, help="SVAG l compared with SGD (default 4)")
    ap.add_argument("--lr-more", default="2x64",
                    help="further linear_regression sizes DIMxN for section 3, comma-separated (default 2x64)")
    ap.add_argument("--draws", type=int, default=20_000_000, help="normal draws per timing (default 2e7)")
    ap.add_argument("--target", type=float, default=1.5,
                    help="seconds one timing should take; step counts are chosen for it (default 1.5)")
    ap.add_argument("--max-steps", type=int, default=20_000, help="cap on small steps per timing (default 20000)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; best is reported (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--torch-1thread", action=argparse.BooleanOptionalAction, default=True,
                    help="also time torchsde with 1 torch thread, for reference (default on)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold", action=argparse.BooleanOptionalAction, default=True,
                    help="also time a fully cold compile (fresh NUMBA_CACHE_DIR too; default on)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: ou,threads,draws,linear,svag,compile")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    ap.add_argument("--markdown", action="store_true", help="also print every table as Markdown at the end")
    args = ap.parse_args(argv)
    if args.quick:
        args.paths, args.paths_nd, args.lr_paths, args.draws = 10_000, 2_000, 2_000, 1_000_000
        args.target, args.repeats, args.cold = 0.1, 2, False
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.lr_more = [tuple(int(v) for v in item.lower().split("x")) for item in args.lr_more.split(",") if item.strip()]

    start = time.perf_counter()
    machine = machine_lines(args)
    print("\n".join(machine), flush=True)
    torch, torchsde = torch_setup(args.threads)

    aims = Table("Aims", ["aim", "measured", "target", "met"])

    def aim(name, value, target, ok, fmt="{:.3g}x"):
        aims.add(name, fmt.format(value), target, "-" if ok is None else ("yes" if ok else "NO"))

    if "ou" not in skip:
        r = section_ou(args, torch, torchsde)
        s = r["sdesim simulate (float64)"]
        aim("1-D OU: sdesim, path-steps/s", s, ">= 8e8", s >= 8e8, fmt="{:.3g}")
        aim("1-D OU: sdesim / torchsde float64", s / r["torchsde euler float64"], ">= 60x",
            s / r["torchsde euler float64"] >= 60)
        aim("1-D OU: SIMD lanes / two-path kernel, same run (info)",
            s / r["sdesim, two-path kernel (before the lanes)"], "-", None)
        aim("1-D OU: lanes moved together / one by one, same run (info)",
            s / r["sdesim, lanes moved one by one (no lanes_mean_grad)"], "-", None)
        aim("1-D OU: sdesim / torchsde float32 (info)", s / r["torchsde euler float32"], "-", None)
        aim("1-D user SDE (GBM) / built-in OU", r[GBM_TOGETHER] / s, ">= 0.8x", r[GBM_TOGETHER] / s >= 0.8)
        aim("1-D user SDE (GBM) without elementwise / built-in OU (info)", r[GBM_EACH] / s, "-", None)
        if "torchsde euler float64, 1 torch thread" in r:
            aim("1-D OU: sdesim / torchsde float64 1 thread (info)",
                s / r["torchsde euler float64, 1 torch thread"], "-", None)
        s2 = r["sdesim simulate, stream version 2 (float64)"]
        aim("1-D OU: sdesim stream version 2 / version 1, same run (info)", s2 / s, "-", None)
        if "jax lax.scan euler float64" in r:
            aim("1-D OU: sdesim / jax scan float64", s / r["jax lax.scan euler float64"], ">= 7x",
                s / r["jax lax.scan euler float64"] >= 7)
            aim("1-D OU: sdesim stream version 2 / jax scan float64", s2 / r["jax lax.scan euler float64"], ">= 7x",
                s2 / r["jax lax.scan euler float64"] >= 7)
            v32 = "bench_rng lanes kernel, stream version 2 float32 (normal32_lanes_v2)"
            aim("1-D OU: bare lanes kernel, float32 sampler / jax scan float32 (info)",
                r[v32] / r["jax lax.scan euler float32"], "-", None)
            aim("1-D OU: sdesim / diffrax euler + vmap float64 (info)", s / r["diffrax euler + vmap float64"], "-",
                None)
            aim("1-D OU: sdesim float32 / jax scan float32", r["sdesim float32"] / r["jax lax.scan euler float32"],
                ">= 3x", r["sdesim float32"] / r["jax lax.scan euler float32"] >= 3)
            aim("1-D OU: sdesim float32 stream version 2 / jax scan float32",
                r[SDESIM_32_V2] / r["jax lax.scan euler float32"], ">= 3x",
                r[SDESIM_32_V2] / r["jax lax.scan euler float32"] >= 3)
            aim("1-D OU: sdesim float64 / jax scan float32 (info)", s / r["jax lax.scan euler float32"], "-", None)
        aim("1-D OU: sdesim float32 / sdesim float64, same run (info)", r["sdesim float32"] / s, "-", None)
        aim("1-D OU: sdesim float32 stream version 2 / sdesim float64, same run (info)", r[SDESIM_32_V2] / s, "-",
            None)
        aim("1-D OU: sdesim / bare kernel", s / r["bare numba kernel (float64)"], ">= 0.667x",
            s / r["bare numba kernel (float64)"] >= 2 / 3)
        key = "bench_rng.bare_ou_kernel (Y=(X-1)/sqrt(eta))"
        if key in r:
            aim("1-D OU: sdesim / bench_rng.bare_ou_kernel", s / r[key], ">= 0.667x", s / r[key] >= 2 / 3)
        lanes_key = LANES_KEY
        if lanes_key in r:
            aim(f"1-D OU: sdesim / bench_rng.bare_ou_lanes_kernel ({LANES} lanes)", s / r[lanes_key], ">= 0.85x",
                s / r[lanes_key] >= 0.85)
            aim("1-D OU: sdesim / bench_rng.bare_ou_lanes_kernel, 16 lanes (the issue's reference)",
                s / r[LANES16_KEY], ">= 0.85x", s / r[LANES16_KEY] >= 0.85)
            aim("1-D OU: sdesim stream version 2 / bench_rng.bare_ou_lanes_kernel", s2 / r[lanes_key], ">= 0.85x",
                s2 / r[lanes_key] >= 0.85)
            aim("1-D OU: bare lanes kernel / torchsde float64 (ceiling, info)",
                r[lanes_key] / r["torchsde euler float64"], "-", None)
        aim("1-D OU: bare kernel / torchsde float64 (ceiling, info)",
            r["bare numba kernel (float64)"] / r["torchsde euler float64"], "-", None)
        if "torchsde euler float64, 1 torch thread" in r:
            aim("1-D OU: bare kernel / torchsde float64 1 thread (ceiling, info)",
                r["bare numba kernel (float64)"] / r["torchsde euler float64, 1 torch thread"], "-", None)
    if "ou" not in skip and "threads" not in skip:
        for threads, r in section_ou_threads(args).items():
            aim(f"1-D OU: sdesim / bench_rng.bare_ou_kernel, {threads} numba thread{'s' if threads > 1 else ''} "
                "(table 1c)", r, ">= 0.667x", r >= 2 / 3)
    if "draws" not in skip:
        section_draws(args)
    if "linear" not in skip:
        r = section_linear(args, torch, torchsde)
        s = r["sdesim simulate, declared diagonal (float64)"]
        aim(f"{args.dim}-D: sdesim declared diagonal, path-steps/s", s, ">= 3e7", s >= 3e7, fmt="{:.3g}")
        aim(f"{args.dim}-D: SIMD lanes / one-path kernel, same run (info)",
            s / r["sdesim, declared diagonal, one-path kernel (before the lanes)"], "-", None)
        aim(f"{args.dim}-D: declared diagonal / dense path forced (info)",
            s / r["sdesim simulate, dense path forced (float64)"], "-", None)
        aim(f"{args.dim}-D: declared diagonal / bare diagonal kernel (info)",
            s / r[f"bare numba kernel, diagonal Euler step ({args.dim} normals per path-step)"], "-", None)
        aim(f"{args.dim}-D: sdesim / torchsde float32", s / r["torchsde euler general float32"], ">= 10x",
            s / r["torchsde euler general float32"] >= 10)
        aim(f"{args.dim}-D: sdesim / torchsde float64 (info)", s / r["torchsde euler general float64"], "-", None)
        aim(f"{args.dim}-D: sdesim float32 / sdesim float64, same run (info)",
            r["sdesim float32, declared diagonal"] / s, "-", None)
        key = "torchsde euler general float32, 1 torch thread"
        if key in r:
            aim(f"{args.dim}-D: sdesim / torchsde float32 1 thread (info)", s / r[key], "-", None)
    if "svag" not in skip:
        ns = section_svag(args, args.lr_dim, args.lr_n)
        for i, (dim, n) in enumerate(args.lr_more):
            more = section_svag(args, dim, n, number=f"3{'bcdefgh'[i]}")
            aim(f"ns/grad: SGD, linear_regression(dim={dim}, n={n}) (info)", more["SGD"], "-", None,
                fmt="{:.1f} ns")
            aim(f"ns/grad: SGD / SVAG l={args.svag_l}, dim={dim}, n={n} (info)",
                more["SGD"] / more[f"SVAG l={args.svag_l}"], "-", None)
        name = f"SVAG l={args.svag_l}"
        aim(f"ns/grad: SGD / {name} (>= 1: SVAG no slower)", ns["SGD"] / ns[name], ">= 1x",
            ns["SGD"] / ns[name] >= 1)
        aim("ns/grad: SGD / SVAG l=1 (info)", ns["SGD"] / ns["SVAG l=1"], "-", None)
    if "compile" not in skip:
        firsts = section_compile(args)
        second = firsts["2: same SDESIM_CACHE_DIR (loads from cache)"]
        aim("first call, 2nd process, cached kernel", second, "< 2 s", second < 2.0, fmt="{:.2f} s")
    aims.notes.append("'(info)' rows are context, not aims")
    show(aims)
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none used"
    tail = (f"total benchmark time: {time.perf_counter() - start:.0f} s; numba threading layer: {layer}; "
            "load average at end: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + "; "
            + busy_line("after the run"))
    print("\n" + tail)
    if args.markdown:
        print("\n\n# Markdown\n")
        print("\n".join(f"- {line}" for line in machine + [tail]))
        for table in TABLES:
            print("\n" + table.markdown())


if __name__ == "__main__":
    main()
