"""JAX peers of bench_engine's 1-D OU row (issue 23, point 5): the same Euler–Maruyama steps of
dX = −(X − μ) dt + √η dW over a vector of paths, written as JAX users write them.

- ``jax lax.scan euler``: one ``jax.lax.scan`` over the steps, each step x ← x − (x − μ)h + √(ηh) z,
  z = ``jax.random.normal`` of a key split per step, over the whole vector of paths; jitted;
- ``diffrax euler + vmap``: diffrax's ``Euler`` solver on ``MultiTerm(ODETerm, ControlTerm)`` driven by
  an ``UnsafeBrownianPath`` (its fastest path for fixed steps; forward mode, no adjoint), ``jax.vmap`` over the paths' keys; jitted.

Both in float64 (``jax_enable_x64``) and float32.  The step count is static (a scan's length, diffrax's
``max_steps``), so each new count compiles once; bench_engine times the best of its interleaved rounds,
which leaves the compiling round out.  Each run returns what bench_engine's runs return: the sample mean of
X_T, its standard error and the step sizes, so the table checks them against the exact Euler mean.

Needs the ``bench`` extra (``pip install 'sdesim[bench]'``: jax, diffrax); `unavailable` says why not.
"""

from __future__ import annotations

import math

import numpy as np


def unavailable() -> str | None:
    """Why the JAX rows cannot run here (None when they can)."""
    try:
        import diffrax  # noqa: F401
        import jax  # noqa: F401
    except ImportError as exc:
        return f"JAX rows skipped: {exc.name} is not installed (pip install 'sdesim[bench]')"
    return None


def jax_runs(eta: float, mu: float, x0: float, dt: float, paths: int, seed: int) -> dict:
    """bench_engine's run table for the JAX peers: {name: (run(n) -> (mean, stderr, step sizes), unit, probe)}."""
    import jax

    jax.config.update("jax_enable_x64", True)   # float64 as asked; float32 stays float32
    runs = {}
    for dtype in ("float64", "float32"):
        runs[f"jax lax.scan euler {dtype}"] = (_scan_run(eta, mu, x0, dt, paths, seed, dtype), 1, 10)
        runs[f"diffrax euler + vmap {dtype}"] = (_diffrax_run(eta, mu, x0, dt, paths, seed, dtype), 1, 10)
    return runs


def _summary(xt, n: int, dt: float):
    xt = np.asarray(xt, dtype=np.float64)
    return float(xt.mean()), float(xt.std() / math.sqrt(xt.size)), np.full(n, dt)


def _scan_run(eta, mu, x0, dt, paths, seed, dtype):
    import jax
    import jax.numpy as jnp

    kind = jnp.dtype(dtype)
    h, scale = kind.type(dt), kind.type(math.sqrt(eta * dt))
    target = kind.type(mu)
    compiled = {}

    def solve(n):
        def step(carry, _):
            x, key = carry
            key, sub = jax.random.split(key)
            z = jax.random.normal(sub, x.shape, dtype=kind)
            return (x - (x - target) * h + scale * z, key), None

        @jax.jit
        def run(key):
            x = jnp.full((paths,), x0, dtype=kind)
            (x, _), _ = jax.lax.scan(step, (x, key), None, length=n)
            return x
        return run

    def run(n):
        if n not in compiled:
            compiled[n] = solve(n)
        xt = compiled[n](jax.random.key(seed)).block_until_ready()
        return _summary(xt, n, dt)
    return run


def _diffrax_run(eta, mu, x0, dt, paths, seed, dtype):
    import diffrax
    import jax
    import jax.numpy as jnp

    kind = jnp.dtype(dtype)
    sigma = kind.type(math.sqrt(eta))
    compiled = {}

    def solve(n):
        drift = diffrax.ODETerm(lambda t, y, args: -(y - kind.type(mu)))

        def one_path(key):
            brownian = diffrax.UnsafeBrownianPath(shape=jax.ShapeDtypeStruct((), kind), key=key)
            terms = diffrax.MultiTerm(drift, diffrax.ControlTerm(lambda t, y, args: sigma, brownian))
            solution = diffrax.diffeqsolve(terms, diffrax.Euler(), t0=0.0, t1=n * dt, dt0=dt,
                                           y0=jnp.asarray(x0, dtype=kind), saveat=diffrax.SaveAt(t1=True),
                                           max_steps=n + 1, adjoint=diffrax.ForwardMode())
            return solution.ys[0]
        return jax.jit(jax.vmap(one_path))

    def run(n):
        if n not in compiled:
            compiled[n] = solve(n)
        keys = jax.random.split(jax.random.key(seed), paths)
        xt = compiled[n](keys).block_until_ready()
        return _summary(xt, n, dt)
    return run
