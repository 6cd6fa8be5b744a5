"""What a claim check returns (`ClaimResult`) and the report that lists them (validation/REPORT.md)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdesim.atomic import save_figure, write_text
from sdesim.result import to_jsonable

Z = 5.0   # tolerances are Z standard errors: a two-sided false alarm about 6 times in 10 million for a normal z


CHECK, IDENTITY, INFO = "check", "identity", "info"
KINDS = (CHECK, IDENTITY, INFO)


@dataclass(frozen=True)
class Check:
    """One line of a claim's table: a measured quantity next to what the paper says about it.

    ``kind`` says what the row can tell:

    - ``check``: falsifiable, it could fail if the paper (or the code) were wrong; ``passed`` is its verdict;
    - ``identity``: holds by construction (an identity, an exact value compared with itself, an algebraic
      consequence of other rows); shown with its numbers but never counted as a pass, and ``passed``
      False (it did not hold) reveals a bug and fails the claim;
    - ``info``: a measurement without a verdict (``passed`` None).

    Without ``kind``, a row with a verdict is a ``check`` and one with ``passed`` None is ``info``.
    """

    quantity: str
    measured: str
    paper: str
    passed: bool | None
    kind: str | None = None

    def __post_init__(self):
        kind = self.kind if self.kind is not None else (INFO if self.passed is None else CHECK)
        if kind not in KINDS:
            raise ValueError(f"Check kind must be one of {', '.join(KINDS)}, got {kind!r} ({self.quantity!r})")
        if (kind == INFO) != (self.passed is None):
            raise ValueError(f"an {INFO!r} row has passed None and a {kind!r} row a verdict True/False; "
                             f"got kind {kind!r} with passed {self.passed!r} ({self.quantity!r})")
        object.__setattr__(self, "kind", kind)
        if self.passed is not None:
            object.__setattr__(self, "passed", bool(self.passed))


def all_passed(checks) -> bool:
    """A claim's verdict: no row failed, neither a ``check`` nor an ``identity`` (``info`` rows have no verdict)."""
    return all(c.passed is not False for c in checks)


def counts(checks) -> dict:
    """How many falsifiable checks ran and passed, identities held and failed, and info rows there are."""
    rows = list(checks)
    falsifiable = [c for c in rows if c.kind == CHECK]
    identities = [c for c in rows if c.kind == IDENTITY]
    return {"checks": len(falsifiable), "passed": sum(c.passed for c in falsifiable),
            "identities": len(identities), "identities_failed": sum(not c.passed for c in identities),
            "info": sum(c.kind == INFO for c in rows)}


def describe_counts(n: dict) -> str:
    """'7 of 7 falsifiable checks pass; 2 of 2 identities hold (not counted as passes); 1 info row', from `counts`."""
    text = f"{n['passed']} of {n['checks']} falsifiable checks pass"
    if n["identities"]:
        held = n["identities"] - n["identities_failed"]
        text += (f"; {held} of {n['identities']} identities hold (not counted as passes"
                 + (", a failed one is a bug)" if n["identities_failed"] else ")"))
    if n["info"]:
        text += f"; {n['info']} info row{'s' if n['info'] != 1 else ''}"
    return text


@dataclass
class ClaimResult:
    """The outcome of checking one claim of the paper at small scale.

    ``passed`` is True when every check passed; ``reason`` says why in one sentence;
    ``figures`` are paths relative to the output folder.
    """

    name: str
    title: str
    reference: str
    checks: list
    reason: str
    figures: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    quick: bool = True

    @property
    def passed(self) -> bool:
        return all_passed(self.checks)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def counts(self) -> dict:
        return counts(self.checks)

    def table(self) -> str:
        """The checks as plain text, for the terminal."""
        header = ("", "quantity", "measured", "paper")
        rows = [(_mark(c), c.quantity, c.measured, c.paper) for c in self.checks]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = [f"{self.title} ({self.reference}): {self.verdict.upper()}, {self.seconds:.1f} s; "
                 f"{describe_counts(self.counts)}"]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(self.reason)
        lines += [f"figure: {f}" for f in self.figures]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return to_jsonable({"name": self.name, "title": self.title, "reference": self.reference,
                            "verdict": self.verdict, "reason": self.reason, "quick": self.quick,
                            "seconds": self.seconds, "figures": self.figures, "settings": self.settings,
                            "counts": self.counts, "checks": [dict(c.__dict__) for c in self.checks]})


def _mark(check: Check) -> str:
    """'ok' / 'FAIL' for a check, 'identity' / 'FAIL (identity)' for an identity, 'info'."""
    if check.kind == INFO:
        return "info"
    if check.kind == IDENTITY:
        return "identity" if check.passed else "FAIL (identity)"
    return "ok" if check.passed else "FAIL"


def fmt(value: float, stderr: float | None = None, digits: int = 4) -> str:
    """'value ± stderr' with a sensible number of digits ('value' alone for exact numbers)."""
    if stderr is None or stderr == 0:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g} ± {stderr:.2g}"


FALSE_ALARM = 0.01   # the figure scripts' verdicts over a few seeds: two-sided, 1 time in 100


def seed_mean(values) -> tuple[float, float]:
    """Mean over seeds and its standard error std(ddof=1)/√n; n ≥ 2 values are needed."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        raise ValueError(f"a standard error over seeds needs at least 2 seeds, got {values.size}")
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def student_t(n: int, false_alarm: float = FALSE_ALARM) -> float:
    """t_{1−α/2, n−1}: over n normal values, |mean − true mean| > t·stderr with probability α (two-sided).

    The normal quantile (α = 0.01: 2.58) would be far too small for a few seeds (n = 3: t = 9.92).
    """
    from scipy.stats import t

    if n < 2:
        raise ValueError(f"Student's t needs n ≥ 2 values (n − 1 ≥ 1 degrees of freedom), got n = {n}")
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm must lie in (0, 1), got {false_alarm}")
    return float(t.ppf(1 - false_alarm / 2, n - 1))


def describe_t_bound(n: int, false_alarm: float = FALSE_ALARM) -> str:
    """'the 99% Student-t bound over 3 seeds (9.92 standard errors): a false alarm 1 time in 100', for captions."""
    return (f"the {100 * (1 - false_alarm):g}% Student-t bound over {n} seeds ({student_t(n, false_alarm):.3g} "
            f"standard errors): a false alarm 1 time in {1 / false_alarm:.3g}")


def ratio_stderr(a: float, sa: float, b: float, sb: float) -> tuple[float, float]:
    """a/b and its standard error (delta method, a and b independent)."""
    r = a / b
    return r, abs(r) * math.hypot(sa / a, sb / b)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def figure_path(out_dir, name: str) -> tuple[Path, str]:
    """(absolute path, path relative to the output folder) of a figure, its folder created."""
    relative = f"figures/{name}"
    path = Path(out_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, relative


def weak_error_figure(studies: dict, out_dir, name: str, prefix: str = "") -> str:
    """One weak-error panel per study ({label: Study}), side by side; returns the figure's relative path."""
    from matplotlib.figure import Figure

    from sdesim.plotting import plot_weak_error

    path, relative = figure_path(out_dir, name)
    fig = Figure(figsize=(15.0, 4.6), layout="constrained")
    for ax, (label, study) in zip(fig.subplots(1, len(studies)), studies.items()):
        plot_weak_error(study, ax=ax)
        ax.set_title(f"{prefix}{label}: {study.problem['name']}, η={study.lr:g}, T={study.time:g}", fontsize=9)
    save_figure(fig, path, dpi=100)
    return relative


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(results, out_dir, *, quick: bool, seconds: float, not_run=None, dtype: str = "float64",
                 float64_only=()) -> Path:
    """Write REPORT.md (a table of claims, then each claim's measured values) and results.json.

    ``not_run``: the claims an interrupt (Ctrl-C, SIGTERM) left unjudged, named at the top; ``dtype`` the
    paths' floating-point type, and ``float64_only`` (name, why) of the claims left out for it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    passed = sum(r.passed for r in results)
    total = counts(c for r in results for c in r.checks)
    lines = ["# Validation report: the claims of Li, Malladi & Arora (2021) and Malladi, Lyu, Panigrahi & Arora (2022), checked at small scale", "",
             f"Generated by `sdesim validate{' --quick' if quick else ''}"
             f"{'' if dtype == 'float64' else f' --dtype {dtype}'}` in {seconds:.0f} s: "
             f"{passed} of {len(results)} claims pass. {total['checks']} falsifiable checks ran and "
             f"{total['passed']} passed. {total['identities']} rows are marked `identity`: they hold by construction "
             "(an identity, an exact value compared with itself, an algebraic consequence of other rows), so they are "
             f"shown but not counted as passes, and one that fails reveals a bug and fails its claim "
             f"({total['identities'] - total['identities_failed']} of {total['identities']} hold). {total['info']} rows "
             "are `info`: measurements without a verdict. Tolerances are "
             f"{Z:g} standard errors of the Monte Carlo estimates; a fitted order passes when it is confirmed by the "
             "rule of `sdesim converge` at the confidence and precision its claim's settings declare; seeds are fixed, "
             "so the numbers repeat exactly.", "",
             *([] if dtype == "float64" else [
                 f"**Paths in {dtype}**: the claims below held their paths and did each step's arithmetic in "
                 f"{dtype} (their statistics and exact references in float64). "
                 + ("Not run here, float64 only: " + "; ".join(f"{name}: {why}" for name, why in float64_only)
                    + "." if float64_only else ""), ""]),
             *([] if not_run is None else [
                 f"**Interrupted** (Ctrl-C or SIGTERM): not run to the end, so not judged: {', '.join(not_run)}. "
                 "The claims below finished before the interrupt.", ""]),
             "| claim | paper | verdict | falsifiable checks passed | why | time |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        n = r.counts
        extra = ", ".join(f"{v} {k}" for k, v in (("identities", n["identities"]), ("info", n["info"])) if v)
        lines.append(f"| [{_cell(r.title)}](#{r.name.replace('_', '-')}) | {_cell(r.reference)} | "
                     f"**{r.verdict}** | {n['passed']} of {n['checks']}{f' (+ {extra})' if extra else ''} | "
                     f"{_cell(r.reason)} | {r.seconds:.1f} s |")
    for r in results:
        lines += ["", f'<a id="{r.name.replace("_", "-")}"></a>', "", f"## {r.title}", "",
                  f"{r.reference}. Verdict: **{r.verdict}**: {describe_counts(r.counts)}. {r.reason}", "",
                  "| quantity | measured | paper | |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(c.quantity)} | {_cell(c.measured)} | {_cell(c.paper)} | {_mark(c).replace('FAIL', '**fail**')} |"
                  for c in r.checks]
        for fig in r.figures:
            lines += ["", f"![{r.name}]({fig})"]
        settings = ", ".join(f"{k}={v}" for k, v in r.settings.items())
        lines += ["", f"Settings ({'quick' if r.quick else 'full'}): {settings}."]
    path = out / "REPORT.md"
    write_text(path, "\n".join(lines) + "\n")     # atomically, as every output (sdesim.atomic)
    write_text(out / "results.json", json.dumps([r.to_dict() for r in results], indent=1) + "\n")
    return path
