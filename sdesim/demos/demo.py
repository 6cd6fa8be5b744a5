"""A demonstration's figure and the numbers it shows, and the helpers every demonstration shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sdesim._checks import positive_int
from sdesim.atomic import save_figure
from sdesim.simulate import simulate

# fewer paths and a demonstration's standard errors, sample moments and histograms mean little
# (with one path a variance is 0 and a skewness undefined)
MIN_PATHS = 100


@dataclass(frozen=True, eq=False)
class Row:
    """One number shown by a demonstration: measured ± standard error, and the exact value if known.

    Attributes:
        name: what the number is, e.g. ``"SVAG l=2: variance"``.
        measured: the Monte Carlo estimate (or an exact value, with ``stderr`` 0).
        stderr: its standard error; 0 for a number computed exactly.
        exact: the closed-form value it estimates, or None.
    """

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
    """A demonstration's figure and the numbers it shows.

    Attributes:
        title: the demonstration and where its exact values come from.
        figure: a ``matplotlib.figure.Figure`` made without pyplot (no display needed).
        rows: the `Row`s, in the order of the table.
    """

    title: str
    figure: object                    # matplotlib.figure.Figure
    rows: list = field(default_factory=list)

    def row(self, name: str) -> Row:
        """The row called ``name``; a KeyError lists the names there are."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r} in demo {self.title!r}; it has {[r.name for r in self.rows]}")

    def table(self) -> str:
        """The numbers as a text table: quantity, measured, ± stderr, exact, z = (measured − exact)/stderr.

        Measured and exact values are shown to 5 significant digits, the standard error to 2, z to 2
        decimals; a z beyond ±5 means the number and its exact value disagree (a false alarm about 6
        times in 10 million).
        """
        body = [(r.name, f"{r.measured:.5g}", f"{r.stderr:.2g}" if r.stderr else "",
                 "" if r.exact is None else f"{r.exact:.5g}", "" if r.z is None else f"{r.z:+.2f}")
                for r in self.rows]
        header = ("quantity", "measured", "± stderr", "exact", "z")
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        lines = [self.title, "  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths)) for b in body]
        return "\n".join(lines)

    def save(self, path, dpi: int = 90) -> None:
        """Write the figure to ``path`` (.png, .pdf, .svg, ...) at ``dpi``, atomically: the old file or the new one."""
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


def _titled(title: str, dtype: str) -> str:
    """A demonstration's title, with its paths' type when they are not float64."""
    return title if dtype == "float64" else f"{title} [paths in {dtype}]"


def _final_samples(problem, method, *, lr, steps, paths, seed, x0=None, l=1, dt=None, scheme="euler",
                   dtype="float64"):
    """x at time steps·η on every path (paths × d), from the kept paths, and the run's Result."""
    h = dt if dt is not None else (lr / l if method in ("svag", "sde") else lr)
    small = int(round(steps * lr / h))
    run = simulate(problem, method, lr=lr, l=l, steps=steps, paths=paths, seed=seed, x0=x0, dt=dt,
                   scheme=scheme, keep_paths=paths, keep_every=max(small, 1), observables=["x"], dtype=dtype)
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
