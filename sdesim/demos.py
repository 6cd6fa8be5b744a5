"""Teaching demonstrations: one picture and the numbers it shows, each in seconds.

Every demonstration returns a `Demo`: a matplotlib ``Figure`` (made without
pyplot, so it works on machines without a display) and a table of the numbers in the
picture, each measured value next to its exact counterpart where one exists.

- `histograms`: x at a fixed time under SGD, SVAG with growing l and the SDE,
  on the quadratic problem with skewed noise; the skewness closes in on the SDE's 0.
- `double_well_paths`: sample paths of the double well under SGD and under the SDE,
  and where they end against the SDE's stationary law, the Gibbs density.
- `stationary_gibbs`: the stationary spread of SGD on a 2-d quadratic with
  anisotropic noise against the Lyapunov equation H S + S H = ηΣ and the Gibbs law.
- `weak_error`: the log-log weak-error plot of a convergence study.

``python demos/NAME.py`` runs one in class; ``python demos/make_pictures.py`` redraws docs/img.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sdesim._checks import finite_array, positive_float, positive_int
from sdesim.atomic import save_figure
from sdesim.estimators.weak_error import weak_error_study
from sdesim.problems import double_well, quadratic
from sdesim.simulate import simulate

# fewer paths and a demonstration's standard errors, sample moments and histograms mean little
# (with one path a variance is 0 and a skewness undefined)
MIN_PATHS = 100


@dataclass(frozen=True, eq=False)
class Row:
    """One number shown by a demonstration: measured ± standard error, and the exact value if known."""

    name: str
    measured: float
    stderr: float = 0.0
    exact: float | None = None

    @property
    def z(self) -> float | None:
        """(measured − exact) / stderr, or None without an exact value or an error bar."""
        if self.exact is None or not self.stderr > 0:
            return None
        return (self.measured - self.exact) / self.stderr


@dataclass(frozen=True, eq=False)
class Demo:
    """A demonstration's figure and the numbers it shows."""

    title: str
    figure: object                    # matplotlib.figure.Figure
    rows: list = field(default_factory=list)

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r} in demo {self.title!r}; it has {[r.name for r in self.rows]}")

    def table(self) -> str:
        body = [(r.name, f"{r.measured:.5g}", f"{r.stderr:.2g}" if r.stderr else "",
                 "" if r.exact is None else f"{r.exact:.5g}", "" if r.z is None else f"{r.z:+.2f}")
                for r in self.rows]
        header = ("quantity", "measured", "± stderr", "exact", "z")
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines = [self.title, "  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths)) for b in body]
        return "\n".join(lines)

    def save(self, path, dpi: int = 90) -> None:
        save_figure(self.figure, path, dpi=dpi)


def _figure(width: float, height: float, columns: int = 1):
    from matplotlib.figure import Figure  # no pyplot: works on machines without a display

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, columns, squeeze=False)[0]


def _check_paths(demo: str, paths) -> int:
    """``paths`` as an int, or an error before any work if a demonstration cannot show much with so few."""
    paths = positive_int("paths", paths)
    if paths < MIN_PATHS:
        raise ValueError(f"paths must be at least {MIN_PATHS} for demonstration {demo!r}, got {paths}: its numbers "
                         "carry standard errors and its picture shows histograms")
    return paths


def _stride(total: int, points: int) -> int:
    """The smallest divisor of ``total`` that keeps at most ``points`` + 1 points, so the last one is the end."""
    for k in range(max(1, math.ceil(total / points)), total + 1):
        if total % k == 0:
            return k
    return max(total, 1)


def _final_samples(problem, method, *, lr, steps, paths, seed, x0=None, l=1, dt=None, scheme="euler"):
    """x at time steps·η on every path (paths × d), from the kept paths, and the run's Result."""
    h = dt if dt is not None else (lr / l if method in ("svag", "sde") else lr)
    small = int(round(steps * lr / h))
    run = simulate(problem, method, lr=lr, l=l, steps=steps, paths=paths, seed=seed, x0=x0, dt=dt,
                   scheme=scheme, keep_paths=paths, keep_every=max(small, 1), observables=["x"])
    return run.kept_paths[:, -1, :], run


def _central_moments(samples: np.ndarray):
    """Mean, variance and third central moment with standard errors from their influence functions."""
    n = samples.size
    mean = samples.mean()
    d = samples - mean
    var = np.mean(d**2)
    m3 = np.mean(d**3)
    se = lambda v: float(np.std(v) / math.sqrt(n))  # noqa: E731
    return ((float(mean), se(d)), (float(var), se(d**2)), (float(m3), se(d**3 - 3.0 * var * d)))


# --- SGD, SVAG and the SDE at a fixed time ----------------------------------------------------------


def svag_exact_moments(lr: float, l: int, steps: int, *, hessian: float = 1.0, minimizer: float = 1.0,
                       x0: float = 0.0, noise_var: float = 1.0, third: float = 2.0):
    """Mean, variance and third central moment of SVAG (eq. (5)) after ``steps`` effective steps, 1-d quadratic.

    With h = η/l, ρ = 1 − h a and n = l·steps small steps, x_n − E x_n = −h Σ_j ρ^{n−1−j} N_j where
    N = c₁ξ₁ + c₂ξ₂ has E N² = l s and E N³ = ((3l − 1)/2) κ₃ s^{3/2}, so
    E x_n = x* + ρⁿ (x₀ − x*),  Var = h² l s Σ_m ρ^{2m},  κ₃(x_n) = −h³ ((3l − 1)/2) κ₃ s^{3/2} Σ_m ρ^{3m}.
    l = 1 is SGD (eq. (1)).
    """
    h = lr / l
    rho = 1.0 - h * hessian
    n = l * steps
    powers = rho ** np.arange(n)
    mean = minimizer + rho**n * (x0 - minimizer)
    var = h**2 * l * noise_var * np.sum(powers**2)
    m3 = -(h**3) * (3 * l - 1) / 2 * third * noise_var**1.5 * np.sum(powers**3)
    return float(mean), float(var), float(m3)


def sde_exact_moments(lr: float, time: float, *, hessian: float = 1.0, minimizer: float = 1.0,
                      x0: float = 0.0, noise_var: float = 1.0):
    """Mean and variance of the SDE (eq. (2)) dX = −a(X − x*) dt + √(ηs) dW at ``time``; it is Gaussian (κ₃ = 0)."""
    mean = minimizer + math.exp(-hessian * time) * (x0 - minimizer)
    var = lr * noise_var * (1.0 - math.exp(-2.0 * hessian * time)) / (2.0 * hessian)
    return mean, var


def histograms(l_values=(1, 2, 8), *, lr: float = 0.5, time: float = 1.0, paths: int = 40_000, seed: int = 0,
               bins: int = 80) -> Demo:
    """Histograms of x at ``time`` for SVAG with each l (l = 1 is SGD) and the SDE, closing in on each other.

    The problem is the 1-d quadratic L(x) = ½(x − 1)² with skewed noise ξ = Exp(1) − 1
    (variance 1, third moment 2), started at 0.  Every method has the SDE's mean; the
    variance and skewness of SVAG approach the SDE's (skewness 0) as l grows.
    """
    l_values = tuple(positive_int("l", l) for l in l_values)
    if not l_values:
        raise ValueError("l_values must name at least one l")
    lr = positive_float("lr", lr)
    time = positive_float("time", time)
    paths = _check_paths("histograms", paths)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    problem = quadratic(1, noise="exponential")
    fig, (ax,) = _figure(6.4, 4.0)
    rows = []
    samples_by = {}
    for l in l_values:
        method = "sgd" if l == 1 else "svag"
        samples, _ = _final_samples(problem, method, l=l, lr=lr, steps=steps, paths=paths, seed=seed + l)
        samples_by[l] = samples[:, 0]
    sde, _ = _final_samples(problem, "sde", scheme="exact", lr=lr, steps=steps, paths=paths, seed=seed)
    sde = sde[:, 0]
    lo, hi = np.quantile(np.concatenate([*samples_by.values(), sde]), [0.0005, 0.9995])
    edges = np.linspace(lo, hi, bins + 1)
    for i, (l, x) in enumerate(samples_by.items()):
        (m, m_se), (v, v_se), (k3, k3_se) = _central_moments(x)
        em, ev, ek3 = svag_exact_moments(lr, l, steps)
        name = "SGD" if l == 1 else f"SVAG l={l}"
        rows += [Row(f"{name}: mean", m, m_se, em), Row(f"{name}: variance", v, v_se, ev),
                 Row(f"{name}: third central moment", k3, k3_se, ek3)]
        ax.hist(x, bins=edges, density=True, histtype="step", lw=1.6, color=f"C{i}",
                label=f"{name}: skewness {k3 / v**1.5:+.2f} (exact {ek3 / ev**1.5:+.2f})")
    (m, m_se), (v, v_se), (k3, k3_se) = _central_moments(sde)
    em, ev = sde_exact_moments(lr, time)
    rows += [Row("SDE: mean", m, m_se, em), Row("SDE: variance", v, v_se, ev),
             Row("SDE: third central moment", k3, k3_se, 0.0)]
    ax.hist(sde, bins=edges, density=True, color="0.8", label=f"SDE: skewness {k3 / v**1.5:+.2f} (exact 0)")
    grid = np.linspace(lo, hi, 400)
    ax.plot(grid, np.exp(-((grid - em) ** 2) / (2 * ev)) / math.sqrt(2 * math.pi * ev), "k--", lw=1,
            label="SDE: exact density")
    ax.set_xlabel(f"x at t = {time:g}")
    ax.set_ylabel("density")
    ax.set_title(f"SGD → SVAG → SDE on ½(x−1)², skewed noise, η={lr:g}, {paths} paths")
    ax.legend(fontsize=8)
    return Demo("x at a fixed time: SGD, SVAG and the SDE (exact: closed forms)", fig, rows)


# --- sample paths of the double well ----------------------------------------------------------------


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
                      paths: int = 4_000, shown: int = 4, sde_substeps: int = 10, seed: int = 0) -> Demo:
    """Sample paths of the double well L(x) = h(x² − 1)² under SGD and the SDE, from x₀ = −1.

    The SDE runs Euler–Maruyama with step η/``sde_substeps``.  The right panel compares where
    all paths are at ``time`` with the SDE's stationary law exp(−L/T), T = ησ²/2.
    """
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
                       observables=["norm2"])
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
    return Demo(f"double well h={barrier:g}, σ={noise_scale:g}, η={lr:g} (exact: the SDE's stationary Gibbs law)",
                fig, rows)


# --- the stationary law of SGD against Gibbs --------------------------------------------------------


def stationary_covariances(hessian, noise_cov, lr: float):
    """Exact stationary covariances on L(x) = ½ xᵀHx with constant noise covariance Σ.

    SGD (eq. (1)):      S = (I − ηH) S (I − ηH) + η²Σ   (discrete Lyapunov);
    the SDE (eq. (2)):  H S + S H = ηΣ                  (continuous Lyapunov);
    Gibbs ∝ exp(−L/T):  S = T H⁻¹ with T = η Tr Σ / (2d), the temperature that gives the SDE's E L.
    The SDE's stationary law is Gibbs exactly when Σ is a multiple of the identity.
    """
    from scipy.linalg import solve_continuous_lyapunov, solve_discrete_lyapunov

    h = finite_array("hessian", hessian, ndim=2)
    s = finite_array("noise_cov", noise_cov, shape=h.shape)
    d = h.shape[0]
    rho = np.eye(d) - lr * h
    if np.max(np.abs(np.linalg.eigvals(rho))) >= 1:
        raise ValueError(f"SGD with lr={lr} has no stationary law on this H: need all eigenvalues of ηH in (0, 2)")
    sgd = solve_discrete_lyapunov(rho, lr**2 * s)
    sde = solve_continuous_lyapunov(h, lr * s)
    temperature = lr * np.trace(s) / (2 * d)
    gibbs = temperature * np.linalg.inv(h)
    return sgd, sde, gibbs


def _ellipse(ax, cov, color, style, label, scale=2.0):
    values, vectors = np.linalg.eigh(cov)
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    points = vectors @ (scale * np.sqrt(values)[:, None] * circle)
    ax.plot(points[0], points[1], style, color=color, lw=1.6, label=label)


def stationary_gibbs(*, lr: float = 0.1, hessian=((1.0, 0.0), (0.0, 4.0)),
                     noise_cov=((0.4, 0.6), (0.6, 1.6)), time: float = 12.0, paths: int = 20_000,
                     seed: int = 0) -> Demo:
    """SGD's stationary spread on a 2-d quadratic with anisotropic noise, against the SDE and Gibbs.

    Left: Σ = ``noise_cov`` (not a multiple of I, not commuting with H): the SDE's stationary
    covariance (Lyapunov) is not T H⁻¹, so the law is not Gibbs.  Right: Σ = (Tr Σ/2) I, where
    it is.  The dots are SGD at ``time`` (long enough to forget x₀ = x* = 0), the ellipses
    the 2-standard-deviation contours of the exact covariances.
    """
    lr = positive_float("lr", lr)
    time = positive_float("time", time)
    paths = _check_paths("stationary-gibbs", paths)
    steps = round(time / lr)
    if steps < 1 or abs(steps * lr - time) > 1e-9 * time:
        raise ValueError(f"time ({time}) must be a whole number ≥ 1 of steps lr ({lr})")
    h = finite_array("hessian", hessian, shape=(2, 2))
    s = finite_array("noise_cov", noise_cov, shape=(2, 2))
    isotropic = np.trace(s) / 2 * np.eye(2)
    fig, axes = _figure(9.0, 4.2, columns=2)
    rows = []
    for ax, (name, sigma) in zip(axes, (("anisotropic Σ", s), ("isotropic Σ", isotropic))):
        sgd_exact, sde_exact, gibbs = stationary_covariances(h, sigma, lr)
        problem = quadratic(2, hessian=h, minimizer=np.zeros(2), noise_cov=sigma)
        x, _ = _final_samples(problem, "sgd", lr=lr, steps=steps, paths=paths, seed=seed)
        centered = x - x.mean(axis=0)
        for i, j, label in ((0, 0, "Var x₁"), (1, 1, "Var x₂"), (0, 1, "Cov x₁x₂")):
            products = centered[:, i] * centered[:, j]
            rows.append(Row(f"{name}: SGD {label}", float(products.mean()), float(products.std() / math.sqrt(paths)),
                            float(sgd_exact[i, j])))
        for i, j, label in ((0, 0, "Var x₁"), (1, 1, "Var x₂"), (0, 1, "Cov x₁x₂")):
            rows.append(Row(f"{name}: SDE (Lyapunov) {label}, exact", float(sde_exact[i, j])))
            rows.append(Row(f"{name}: Gibbs T H⁻¹ {label}, exact", float(gibbs[i, j])))
        rows.append(Row(f"{name}: |S_SDE − T H⁻¹| / |T H⁻¹|, exact",
                        float(np.linalg.norm(sde_exact - gibbs) / np.linalg.norm(gibbs))))
        shown = x[: min(paths, 3000)]
        ax.plot(shown[:, 0], shown[:, 1], ".", ms=1.5, color="0.6", alpha=0.6, label="SGD samples")
        _ellipse(ax, sgd_exact, "C0", "-", "SGD, exact")
        _ellipse(ax, sde_exact, "C1", "--", "SDE: HS + SH = ηΣ")
        _ellipse(ax, gibbs, "C3", ":", "Gibbs: T H⁻¹")
        ax.set_aspect("equal")
        ax.set_title(f"{name} = [[{sigma[0, 0]:g}, {sigma[0, 1]:g}], [{sigma[1, 0]:g}, {sigma[1, 1]:g}]]")
        ax.set_xlabel("x₁")
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("x₂")
    fig.suptitle(f"stationary law on ½xᵀHx, H = diag({h[0, 0]:g}, {h[1, 1]:g}), η = {lr:g}")
    return Demo("stationary covariance of SGD, against the Lyapunov solution and Gibbs (exact: Lyapunov equations)",
                fig, rows)


# --- the weak-error plot ----------------------------------------------------------------------------


def weak_error(*, l_values=(1, 2, 4, 8, 16), lr: float = 0.2, time: float = 1.0, paths: int = 20_000,
               seed: int = 0, exact: bool = False) -> Demo:
    """The log-log weak-error plot of SVAG against the SDE (Theorem 4.3: slope −1).

    The study of ``sdesim converge``: the 2-d quadratic with skewed noise from x₀ = (2, 2),
    test functions |x|⁴ and |x|², the exact SDE values as reference.  ``exact=True`` uses the
    exact moment engine (|x|² only; no Monte Carlo).
    """
    from sdesim.plotting import plot_weak_error

    if not exact:   # the exact engine runs no paths
        paths = _check_paths("weak-error", paths)
    problem = quadratic(2, noise="exponential")
    tests = ("norm2",) if exact else ("norm4", "norm2")
    study = weak_error_study(problem, lr=lr, time=time, tests=tests, l_values=l_values, paths=paths, seed=seed,
                             x0=[2.0, 2.0], exact=exact)
    fig, (ax,) = _figure(6.0, 4.5)
    plot_weak_error(study, ax=ax)
    rows = [Row(f"{r.test}: e(l={r.l})", r.error, r.stderr) for r in study.rows]
    for test in study.test_functions:
        fit = study.fits[test]
        rows.append(Row(f"{test}: order p", fit.order, exact=1.0))
    return Demo(f"weak error of SVAG against the SDE ({study.verdict})", fig, rows)
