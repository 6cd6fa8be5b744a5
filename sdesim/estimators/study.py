"""The result of a weak-error study (`sdesim.estimators.weak_error.weak_error_study`): its rows, the order
fitted per test function with its verdict, its table, and its JSON record."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sdesim.estimators.levels import CV_ALARM, control_count
from sdesim.estimators.order import MODEL, OrderFit
from sdesim.estimators.record import git_commit, versions
from sdesim.estimators.test_functions import describe
from sdesim.methods import METHOD_TABLE
from sdesim.result import to_jsonable


@dataclass
class Study:
    """A weak-error study: its rows, the fitted order per test function, and the full record."""

    problem: dict
    method: str
    lr: float
    time: float
    test_functions: tuple       # scalar test names ('x' becomes 'x[0]', 'x[1]', …)
    l_values: tuple
    reference: str              # what was asked: auto, exact, extrapolation, euler, or a callable's name
    references: dict            # test → the reference it got: user, exact, extrapolation or euler
    engine: str                 # "exact" (exact moments) or "monte_carlo"
    control_variates: bool
    seed: int
    paths: int
    x0: np.ndarray
    recorded_times: np.ndarray  # the times t = kη over which the maximum is taken (at_time: T alone)
    rows: list
    fits: dict
    error_kind: str = "max_over_steps"
    fit_from: int = 1
    reference_notes: dict = field(default_factory=dict)
    interrupted: bool = False
    warnings: list = field(default_factory=list)
    block_size: int = 1024
    time_scale: str = "lr"       # "lr": effective step k is t = kη; "lr^2" (adaptive methods): t = kη²; "dt": t = kH
    hyperparameters: dict = field(default_factory=dict)
    user_functions: dict = field(default_factory=dict)   # role → {name, sha256} (`sdesim.estimators.record`)
    command: list | None = None  # the argv, when run from the command line
    dtype: str = "float64"       # the paths' floating-point type (sdesim.kernels.precision)
    stream_version: int = 1      # the normal sampler (sdesim.rng.versions); 1 in records without the field

    @property
    def unit(self) -> float:
        """The time of one effective step: η, or η² for the adaptive methods."""
        return self.lr * self.lr if self.time_scale == "lr^2" else self.lr

    def step_size(self, l: int) -> float:
        """The SDE methods' Euler step at level l: η/l, or η²/l² for the adaptive SDEs."""
        return self.unit / (l * l if self.time_scale == "lr^2" else l)

    @property
    def fit(self) -> OrderFit:
        return self.fits[self.test_functions[0]]

    @property
    def order(self) -> float:
        return self.fit.order

    @property
    def order_ci(self) -> tuple:
        return self.fit.ci

    @property
    def verdict(self) -> str:
        return self.fit.verdict

    @property
    def verdict_kind(self) -> str:
        return self.fit.kind

    def _clock(self) -> dict:
        """The record's time unit: ``lr`` (η), or ``dt`` (H) for an SDE in its own terms, whose ``lr`` is null."""
        return {"lr": None, "dt": self.lr} if self.time_scale == "dt" else {"lr": self.lr}

    def rows_for(self, test: str) -> list:
        """The table's rows for test function ``test``, one per level l."""
        return [r for r in self.rows if r.test == test]

    def to_dict(self) -> dict:
        """The study as its JSON record (docs/reference/json.md): settings, rows, fits and verdicts."""
        fit = self.fit
        return to_jsonable({
            "problem": self.problem, "method": self.method, **self._clock(), "time": self.time,
            "steps": int(round(self.time / self.unit)), "time_scale": self.time_scale,
            "hyperparameters": self.hyperparameters, "seed": self.seed, "stream_version": self.stream_version,
            "paths": self.paths, "x0": self.x0,
            "test_functions": list(self.test_functions), "l": list(self.l_values), "reference": self.reference,
            "references": self.references, "reference_notes": self.reference_notes, "engine": self.engine,
            "control_variates": self.control_variates, "error_kind": self.error_kind,
            "recorded_times": self.recorded_times, "fit_from": self.fit_from, "block_size": self.block_size,
            "expected": fit.expected, "precision": fit.precision, "confidence": fit.confidence,
            "order": self.order, "order_ci": list(self.order_ci), "verdict": self.verdict,
            "verdict_kind": self.verdict_kind,
            "fits": {t: {**f.to_dict(), "reference": self.references[t]} for t, f in self.fits.items()},
            "rows": [{"l": r.l, **({"h": self.step_size(r.l)} if METHOD_TABLE[self.method].sde else {}),
                      "test": r.test,
                      "paths": r.paths, "source": r.source, "estimate": r.estimate,
                      "reference_value": r.reference_value, "error": r.error, "stderr": r.stderr, "time": r.time,
                      "times": list(r.times), "resolved": r.resolved, "raw_estimate": r.raw_estimate,
                      "raw_stderr": r.raw_stderr, "cv_residual_z": r.cv_residual_z, "diverged": r.diverged}
                     for r in self.rows],
            "interrupted": self.interrupted, "warnings": self.warnings, "dtype": self.dtype,
            "command": self.command, "user_functions": self.user_functions, "versions": versions(), "git": git_commit(),
        })

    def table(self) -> str:
        """The study as text: a table per test function, its fit and its verdict."""
        if self.error_kind == "max_over_steps":
            how = (f"largest gap over the {len(self.recorded_times)} effective steps"
                   + ("" if self.engine == "exact" else " (the step picked on paths independent of those "
                      "that estimate it)"))
        else:
            how = f"gap at t = T = {self.time:g}"
        engine = "exact moments" if self.engine == "exact" else (
            "Monte Carlo" + (" with control variates" if self.control_variates else ""))
        what = (f"Euler–Maruyama (step h = H/l) on the SDE {self.problem['name']}, H = {self.lr:g}"
                if self.time_scale == "dt" else f"{self.method} against the SDE on {self.problem['name']}, η = {self.lr:g}")
        lines = [f"weak error of {what}, T = {self.time:g}: {how}; {engine}"]
        for test in self.test_functions:
            lines += ["", self._test_table(test)]
        if self.interrupted:
            lines.append("interrupted: the table holds the levels that finished")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _control_header(self) -> str:
        """The control z column says over how many it is the largest: the controls, at every recorded step."""
        steps = len(self.recorded_times)
        return (f"control z (max of {control_count(len(self.x0))} controls"
                + (f" × {steps} steps)" if steps > 1 else ")"))

    def _test_table(self, test: str) -> str:
        rows = self.rows_for(test)
        note = self.reference_notes.get(test, "")
        sources = {r.source for r in rows}
        head = (f"test function {test}" + (f" = {describe(test)}" if describe(test) != test else "")
                + f": reference {self.references[test]}"
                + (f" ({note})" if note else "")
                + ("; E g(x) exact: in the span of the control variates (plain Monte Carlo shown beside it)"
                   if sources == {"exact_in_span"} else ""))
        sde = METHOD_TABLE[self.method].sde
        header = ["l", *(["h"] if sde else []), "estimate", "reference", "error e(l)", "95% interval", "t of max"]
        plain = self.engine != "exact"
        if plain:
            header += ["plain Monte Carlo", *([self._control_header()] if self.control_variates else [])]
        body = []
        for r in rows:
            if r.diverged:
                interval = f"diverged: {r.diverged} of {r.paths} paths"
            elif r.exact:
                interval = "exact"
            else:
                half = 1.96 * r.stderr
                interval = f"[{r.error - half:.4g}, {r.error + half:.4g}]" + ("" if r.resolved else " within noise")
            when = "/".join(f"{t:g}" for t in (r.times or (r.time,)))
            cells = [str(r.l), *([f"{self.step_size(r.l):.4g}"] if sde else []), f"{r.estimate:.6g}",
                     f"{r.reference_value:.6g}", f"{r.error:.4g}", interval, when]
            if plain:
                cells.append(f"{r.raw_estimate:.6g} ± {r.raw_stderr:.2g}")
                if self.control_variates:
                    cells.append("-" if math.isnan(r.cv_residual_z) else
                                 f"{r.cv_residual_z:+.2f}" + (" !" if abs(r.cv_residual_z) > CV_ALARM else ""))
            body.append(cells)
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
        lines = [head, "  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(b, widths)) for b in body]
        fit = self.fits[test]
        lines.append(f"fit {fit.interval_kind} interval of p in {MODEL} over l = "
                     f"{', '.join(str(int(v)) for v in fit.l)}: p = {fit.order:.4g}, [{fit.ci[0]:.4g}, {fit.ci[1]:.4g}]")
        lines.append(f"{fit.kind.upper()}: {fit.verdict}")
        return "\n".join(lines)
