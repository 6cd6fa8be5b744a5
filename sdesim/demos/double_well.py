"""Sample paths of the double well under SGD and the SDE, against the Gibbs density."""

from __future__ import annotations

import math

import numpy as np

from sdesim._checks import positive_float, positive_int
from sdesim.problems import double_well
from sdesim.simulate import simulate
from sdesim.demos.demo import Demo, Row, _check_paths, _figure, _stride, _titled
from sdesim.kernels.precision import check_dtype


def gibbs_double_well(barrier: float, temperature: float):
    """The SDE's stationary density on the 1-d double well: p(x) ∝ exp(−L(x)/T), T = ησ²/2.

    In one dimension with constant noise the SDE dX = −L'(X) dt + √(ησ²) dW is Langevin
    dynamics, so its stationary law is Gibbs.  Returns (density function, E x², P(x > 0) = ½).
    """
    from scipy.integrate import quad

    loss = lambda x: barrier * (x * x - 1.0) ** 2  # noqa: E731
    weight = lambda x: math.exp(-loss(x) / temperature)  # noqa: E731
    z = 2 * quad(weight, 0, np.inf)[0]
    second = 2 * quad(lambda x: x * x * weight(x), 0, np.inf)[0] / z
    return (lambda x: np.exp(-barrier * (x * x - 1.0) ** 2 / temperature) / z), second, 0.5


def double_well_paths(*, lr: float = 0.1, time: float = 100.0, barrier: float = 0.5, noise_scale: float = 2.0,
                      paths: int = 4_000, shown: int = 4, sde_substeps: int = 10, seed: int = 0,
                      dtype: str = "float64") -> Demo:
    """Sample paths of the double well L(x) = h(x² − 1)² under SGD and the SDE, from x₀ = −1.

    The SDE runs Euler–Maruyama with step η/``sde_substeps``.  The right panel compares where
    all paths are at ``time`` with the SDE's stationary law exp(−L/T), T = ησ²/2.  ``dtype``: the paths'
    floating-point type.
    """
    dtype = check_dtype(dtype)
    lr = positive_float("lr", lr)
    time = positive_float("time", time)
    paths = positive_int("paths", paths)
    shown = positive_int("shown", shown)
    sde_substeps = positive_int("sde_substeps", sde_substeps)
    if shown > paths:
        raise ValueError(f"shown ({shown}) must be at most paths ({paths})")
    paths = _check_paths("double-well", paths)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    problem = double_well(1, barrier=barrier, noise_scale=noise_scale)
    temperature = lr * noise_scale**2 / 2
    density, gibbs_x2, gibbs_right = gibbs_double_well(barrier, temperature)
    fig, axes = _figure(10.0, 3.6, columns=3)
    fig.get_layout_engine().set(w_pad=0.02)
    rows = []
    runs = {"SGD": dict(method="sgd"), "SDE": dict(method="sde", dt=lr / sde_substeps)}
    finals = {}
    for ax, (name, options) in zip(axes[:2], runs.items()):
        h = options.get("dt", lr)
        small = int(round(steps * lr / h))
        run = simulate(problem, options["method"], lr=lr, steps=steps, paths=paths, seed=seed, x0=[-1.0],
                       dt=options.get("dt"), keep_paths=paths, keep_every=_stride(small, 600),
                       observables=["norm2"], dtype=dtype)
        if run.diverged:
            raise RuntimeError(f"{run.diverged} {name} paths blew up; lower lr or noise_scale")
        for i in range(shown):
            ax.plot(run.kept_times, run.kept_paths[i, :, 0], lw=0.7, color=f"C{i}")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_title(f"{name}" + (f" (Euler, step η/{sde_substeps})" if name == "SDE" else f", η={lr:g}"))
        ax.set_xlabel("t")
        x_end = run.kept_paths[:, -1, 0]
        finals[name] = x_end
        right = float(np.mean(x_end > 0))
        # the Gibbs law is the SDE's stationary law; SGD's differs from it by O(η)
        rows += [Row(f"{name}: E x² at t={time:g}", float(run.mean("norm2")[-1]), float(run.stderr("norm2")[-1]),
                     gibbs_x2 if name == "SDE" else None),
                 Row(f"{name}: P(x > 0) at t={time:g}", right, math.sqrt(max(right * (1 - right), 1e-12) / paths),
                     gibbs_right)]
    rows.append(Row("Gibbs exp(−L/T): E x², exact", gibbs_x2))
    axes[0].set_ylabel("x")
    axes[1].sharey(axes[0])
    ax = axes[2]
    edges = np.linspace(-2.5, 2.5, 61)
    ax.hist(finals["SDE"], bins=edges, density=True, color="0.8", label="SDE")
    ax.hist(finals["SGD"], bins=edges, density=True, histtype="step", lw=1.5, color="C0", label="SGD")
    grid = np.linspace(-2.5, 2.5, 400)
    ax.plot(grid, density(grid), "k--", lw=1, label="exp(−L/T), T = ησ²/2")
    ax.set_title(f"x at t = {time:g}, {paths} paths")
    ax.legend(fontsize=8)
    return Demo(_titled(f"double well h={barrier:g}, σ={noise_scale:g}, η={lr:g} (exact: the SDE's stationary Gibbs "
                        "law)", dtype),
                fig, rows)
