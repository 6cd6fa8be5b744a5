"""Pictures of studies: the log-log weak-error plot.  matplotlib is imported only here, on use."""

from __future__ import annotations

import numpy as np

from sdesim.atomic import save_figure
from sdesim.estimators.test_functions import describe
from sdesim.methods import METHOD_TABLE


def plot_weak_error(study, path=None, *, ax=None):
    """e(l) against l on log-log axes: 95% error bars, the fitted C₁l^−p + C₂l^−p−1 over its fit range, the slope of the judged order.

    Points within 3 standard errors of 0 are drawn hollow; exact points carry no bars.  An error
    below 0 (``at_time``'s signed gap, or a maximum over steps estimated below 0) is drawn at |e|
    with a minus sign over it.  The y-limits come from the points and their bars, never from the
    fit (a failed fit's constants can be NaN or huge: its curve is drawn only near its data).
    For an Euler–Maruyama sweep (``sde``, or an adaptive ``*_sde``) the top axis reads the step h = η/l
    (adaptive: η²/l²).
    Returns the matplotlib figure; writes it to ``path`` if given.
    """
    from matplotlib.figure import Figure  # no pyplot: works on machines without a display

    if ax is None:
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    markers = "osD^v<>"
    fit_ranges, y_low, y_high, negative = set(), [], [], []
    for i, test in enumerate(study.test_functions):
        rows = [r for r in study.rows_for(test) if np.isfinite(r.error)]
        if not rows:
            continue
        l = np.array([r.l for r in rows], float)
        e = np.abs([r.error for r in rows])
        half = 1.96 * np.array([r.stderr for r in rows])
        lower = np.minimum(half, e * 0.999)  # a log axis cannot show an interval reaching 0
        resolved = np.array([r.resolved for r in rows])
        color, marker = f"C{i}", markers[i % len(markers)]
        fit = study.fits[test]
        label = (f"{describe(test)}: p = {fit.order:.3f} [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}], {fit.kind}"
                 + (" (exact values)" if fit.exact else ""))
        if np.any(half > 0):
            ax.errorbar(l, e, yerr=[lower, half], fmt="none", ecolor=color, capsize=3, lw=1)
        ax.plot(l[resolved], e[resolved], marker, color=color, label=label)
        ax.plot(l[~resolved], e[~resolved], marker, color=color, mfc="none")
        negative += [(r.l, abs(r.error)) for r in rows if r.error < 0]
        shown = e > 0                       # a zero error has no place on a log axis
        y_low += list(np.maximum(e - lower, e / 20)[shown])   # a bar reaching 0 is cut at e/20
        y_high += list((e + half)[shown])
        if np.isfinite(fit.order) and len(fit.l) >= 2:
            grid = np.geomspace(fit.l[0], fit.l[-1], 50)
            curve = np.abs(fit.curve(grid))
            with np.errstate(invalid="ignore"):   # far off its data (a failed fit's huge or NaN constants): not drawn
                curve[~((curve >= e.min() / 100) & (curve <= e.max() * 100))] = np.nan
            ax.plot(grid, curve, "-", color=color, alpha=0.6, lw=1.5)
            fit_ranges.add((fit.l[0], fit.l[-1]))
    l_all = np.array(study.l_values, float)
    first = [r for r in study.rows_for(study.test_functions[0]) if np.isfinite(r.error)] if study.test_functions else []
    if first:
        order = study.fit.expected
        anchor = abs(first[-1].error) * first[-1].l ** order
        ax.plot(l_all, anchor / l_all ** order, "k--", lw=1, label=f"slope −{order:g} (order {order:g}, judged)")
    if negative:
        ax.plot(*zip(*negative), "_", color="k", ms=11, mew=1.5, linestyle="none", label="negative error, drawn at |e|")
    for low, high in fit_ranges:
        ax.axvspan(low / 1.15, high * 1.15, color="0.5", alpha=0.08, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if y_low:
        ax.set_ylim(min(y_low) / 1.5, max(y_high) * 1.5)
    spec = METHOD_TABLE[study.method]
    per_step = "l²" if spec.adaptive else "l"
    own_terms = study.time_scale == "dt"      # an SDE in its own terms: steps of H, no effective step of SGD
    sweep = f"{per_step} {'Euler–Maruyama' if spec.sde else 'SVAG'} steps per {'step H' if own_terms else 'effective step'}"
    ax.set_xlabel(f"l ({sweep})")
    unit = "H" if own_terms else "η²" if spec.adaptive else "η"
    what = f"max over steps k ≤ T/{unit} of " if study.error_kind == "max_over_steps" else "at t = T of "
    ax.set_ylabel(f"weak error e(l): {what}|E g(x_k) − E g(X_k{unit})|", fontsize=8)
    if spec.sde:
        power = 2.0 if spec.adaptive else 1.0     # h = unit/l^power, so l = (unit/h)^(1/power)
        top = ax.secondary_xaxis("top", functions=(lambda v: study.unit / np.maximum(v, 1e-300) ** power,
                                                   lambda h: (study.unit / np.maximum(h, 1e-300)) ** (1 / power)))
        top.set_xlabel(f"step h = {unit}/{per_step}")
    scheme = "Euler–Maruyama" if own_terms else f"{study.method} vs the SDE"
    ax.set_title(f"{scheme} on {study.problem['name']}, {unit.rstrip('²')} = {study.lr:g}, T = {study.time:g}",
                 fontsize=10)
    if ax.get_legend_handles_labels()[0]:   # nothing to label when every level diverged
        ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    bars = "95% error bars; hollow: within 3 standard errors of 0; shaded: the fitted range"
    if study.engine != "exact" and any(r.stderr > 0 for r in study.rows):
        smallest = min(1.96 * r.stderr / abs(r.error) for r in study.rows if r.stderr > 0 and r.error)
        if smallest < 0.05:
            bars += "; bars hidden by a marker are smaller than it"
    ax.text(0.01, 0.01, bars, transform=ax.transAxes, fontsize=6, color="0.35", va="bottom")
    if path is not None:
        save_figure(fig, path, dpi=120)
    return fig
