"""The scaling-rule prediction of Theorem 5.6 from noise-to-signal measurements (`sdesim.torch.nsr`).

From Ĝ and N̂ at a baseline (B, η), the linear scaling rule is certified to fail beyond
κ* = C²(1 + N/G), that is beyond batch size B* = κ*B (figure 3).  The measurements come from a
monitored run's log (averaged along a plateau), one `NSREstimate`, or given numbers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from sdesim._checks import positive_float, positive_int
from sdesim.estimators import scaling_rule
from sdesim.torch.nsr import COVARIANCE, NOISE, NOISE_SE, SIGNAL, SIGNAL_SE, NSREstimate
from sdesim.torch.train_result import TrainResult

DRIFT_LEVEL = 1e-3        # two-sided false-alarm rate of the drift test for independent, stationary measurements
DRIFT_FRACTION = 0.25     # ... and the smallest change across the plateau, relative to the mean, that it reports


@dataclass(frozen=True)
class ScalingPrediction:
    """Theorem 5.6 from a baseline at (B, η): beyond κ* = C²(1 + N/G) the linear scaling rule fails.

    ``print(prediction)`` gives a summary; ``notes`` holds the warnings raised while predicting
    (B* beyond the training set, a plateau whose Ĝ or N̂ drifts).
    """

    kappa: float
    kappa_se: float
    critical_batch_size: float      # κ*·B
    critical_batch_size_se: float
    critical_lr: float              # κ*·η
    signal: float                   # plateau averages of Ĝ and N̂, with standard errors
    noise: float
    signal_se: float
    noise_se: float
    nsr: float
    nsr_se: float
    batch_size: int
    lr: float
    C: float
    measurements: int
    n_train: int | None = None      # the training set's size N, when known
    notes: tuple = ()

    def __str__(self) -> str:
        plural = "" if self.measurements == 1 else "s"
        size = "" if self.n_train is None else f", N = {self.n_train}"
        lines = [
            f"Theorem 5.6 from a baseline at B = {self.batch_size}, η = {_short(self.lr)} "
            f"({self.measurements} measurement{plural}{size}):",
            f"  Ĝ = {_short(self.signal)} ± {_short(self.signal_se, 2)}, N̂ = {_short(self.noise)} "
            f"± {_short(self.noise_se, 2)}, N/G = {_short(self.nsr)} ± {_short(self.nsr_se, 2)}",
            f"  κ* = C²(1 + N/G) = {_short(self.kappa)} ± {_short(self.kappa_se, 2)} (C = {_short(self.C)})",
            f"  the linear scaling rule is certified to fail beyond batch size B* = "
            f"{_short(self.critical_batch_size)} ± {_short(self.critical_batch_size_se, 2)} "
            f"(learning rate κ*η = {_short(self.critical_lr)})"]
        return "\n".join(lines + [f"  warning: {note}" for note in self.notes])


def _short(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, but whole numbers up to 10⁶ in full (104, not 1e+02)."""
    if math.isfinite(value) and 10 ** digits <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def predict_scaling(source, batch_size: int | None = None, lr: float | None = None, C: float = scaling_rule.SQRT2,
                    *, plateau=None, n_train: int | None = None) -> ScalingPrediction:
    """The largest κ and the critical batch size B* = κ*B (figure 3) from a baseline run.

    ``source``: a `TrainResult` of a monitored run (B, N and, unless given, η on the
    plateau come from it); a training log — a list of dicts (or a dict of lists) with keys
    ``grad_norm2``, ``noise_trace`` and ``step``, as the monitor writes them; an
    `NSREstimate`; or a pair (G, N) or quadruple (G, N, G_se, N_se).  For a log,
    ``plateau`` = (first_step, last_step) selects the measurements to average (default:
    all).  The average's standard errors come from the spread of the k >= 2 measurements
    over time (std/√k, covariance likewise), which holds both the estimation noise and the
    fluctuation along the plateau, treating measurements as independent; a single
    measurement keeps its jackknife errors.

    It warns (and records in ``notes``) when B* exceeds the training set's ``n_train``
    examples, and when Ĝ or N̂ drifts along the plateau: a line fitted to k >= 4
    measurements changes by more than `DRIFT_FRACTION` of their mean across it, with a
    slope significant at level `DRIFT_LEVEL`.
    """
    run = source if isinstance(source, TrainResult) else None
    rows = _rows(source if run is None else run.log, plateau)
    if run is not None:
        batch_size = run.config["batch_size"] if batch_size is None else batch_size
        n_train = run.config["n_train"] if n_train is None else n_train
        lr = _plateau_lr(rows) if lr is None else lr
    if batch_size is None or lr is None:
        raise ValueError("batch_size and lr (the baseline's B and η) are needed unless source is a TrainResult, "
                         "which records them")
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_float("lr", lr)
    n_train = None if n_train is None else positive_int("n_train", n_train)
    G, N, G_se, N_se, cov, k = _plateau(source, plateau) if rows is None else _average(rows)
    kappa = scaling_rule.largest_kappa(N, G, C, noise_se=N_se, signal_se=G_se, noise_signal_cov=cov)
    ratio = scaling_rule.noise_to_signal(N, G, noise_se=N_se, signal_se=G_se, noise_signal_cov=cov)
    critical = batch_size * kappa.value
    notes = [] if rows is None else [note for key in (SIGNAL, NOISE) if (note := _drift(rows, key, plateau))]
    if n_train is not None and critical > n_train:
        notes.append(f"B* = {_short(critical)} exceeds the training set's {n_train} examples: no batch size this data "
                     f"set allows is certified to break the rule (it may still break below B*)")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return ScalingPrediction(
        kappa=kappa.value, kappa_se=kappa.stderr, critical_batch_size=critical,
        critical_batch_size_se=batch_size * kappa.stderr, critical_lr=lr * kappa.value, signal=G, noise=N,
        signal_se=G_se, noise_se=N_se, nsr=ratio.value, nsr_se=ratio.stderr, batch_size=batch_size, lr=lr,
        C=float(C), measurements=k, n_train=n_train, notes=tuple(notes))


def _rows(source, plateau):
    """The measurements (dicts with Ĝ and N̂) of a log within ``plateau``; None if ``source`` is no log."""
    if isinstance(source, dict):
        if SIGNAL not in source or NOISE not in source:
            raise ValueError(f"a log given as a dict of lists needs keys {SIGNAL!r} and {NOISE!r}")
        n = len(source[SIGNAL])
        source = [{key: values[i] for key, values in source.items() if len(values) == n} for i in range(n)]
    if not (isinstance(source, (tuple, list)) and source and all(isinstance(r, dict) for r in source)):
        return None
    rows = [r for r in source if r.get(SIGNAL) is not None and r.get(NOISE) is not None]
    if plateau is not None:
        first, last = plateau
        if any("step" not in r for r in rows):
            raise ValueError("plateau selects by step, but some measurements have no 'step'")
        rows = [r for r in rows if first <= r["step"] <= last]
    if not rows:
        raise ValueError(f"no measurements with {SIGNAL!r} and {NOISE!r} in the log"
                         + ("" if plateau is None else f" within plateau {plateau}"))
    return rows


def _plateau_lr(rows) -> float:
    """The one learning rate logged along the plateau."""
    rates = sorted({r["lr"] for r in rows if r.get("lr") is not None})
    if len(rates) != 1:
        raise ValueError(f"the log's learning rates on the plateau are {rates}, not one: choose a plateau at one "
                         f"learning rate, or pass lr=")
    return rates[0]


def _average(rows):
    """(G, N, G_se, N_se, cov, k) averaged over the measurements ``rows``."""
    G = np.array([float(r[SIGNAL]) for r in rows])
    N = np.array([float(r[NOISE]) for r in rows])
    k = len(rows)
    if k == 1:
        r = rows[0]
        return G[0], N[0], float(r.get(SIGNAL_SE, 0.0)), float(r.get(NOISE_SE, 0.0)), \
            float(r.get(COVARIANCE, 0.0)), 1
    cov = np.cov(G, N)
    return (float(G.mean()), float(N.mean()), math.sqrt(cov[0, 0] / k), math.sqrt(cov[1, 1] / k),
            float(cov[0, 1] / k), k)


def _drift(rows, key: str, plateau) -> str | None:
    """A warning if ``key`` trends along the plateau (`predict_scaling`), else None."""
    if len(rows) < 4 or any("step" not in r for r in rows):
        return None
    from scipy import stats

    steps = np.array([float(r["step"]) for r in rows])
    values = np.array([float(r[key]) for r in rows])
    span = steps.max() - steps.min()
    if span == 0:
        return None
    fit = stats.linregress(steps, values)
    change, mean = float(fit.slope * span), float(values.mean())
    if abs(change) <= DRIFT_FRACTION * abs(mean):
        return None
    t = abs(fit.slope) / fit.stderr if fit.stderr > 0 else math.inf
    if t < stats.t.ppf(1 - DRIFT_LEVEL / 2, len(rows) - 2):
        return None
    start = fit.intercept + fit.slope * steps.min()
    where = "the log" if plateau is None else f"the plateau {tuple(plateau)}"
    relative = f"{change / mean:+.0%} of the mean; " if mean else ""
    name = {SIGNAL: "Ĝ", NOISE: "N̂"}[key]
    return (f"{name} ({key}) drifts along {where}: a line fitted to its {len(rows)} measurements goes from "
            f"{start:.4g} to {start + change:.4g} ({relative}slope {t:.3g} standard errors from 0), so the average "
            f"is no equilibrium value; choose a later plateau or train longer")


def _plateau(source, plateau):
    """(G, N, G_se, N_se, cov, 1) of a single estimate: an NSREstimate, (G, N) or (G, N, G_se, N_se)."""
    if isinstance(source, NSREstimate):
        return source.signal, source.noise, source.signal_se, source.noise_se, source.covariance, 1
    if plateau is not None:
        raise ValueError("plateau applies only to a log of measurements")
    try:
        values = tuple(float(v) for v in source)
    except (TypeError, ValueError):
        raise ValueError(f"source must be an NSREstimate, (G, N), (G, N, G_se, N_se) or a log, got {source!r}") from None
    if len(values) == 2:
        return values[0], values[1], 0.0, 0.0, 0.0, 1
    if len(values) == 4:
        return (*values, 0.0, 1)
    raise ValueError(f"source must be an NSREstimate, (G, N), (G, N, G_se, N_se) or a log; got {len(values)} values")
