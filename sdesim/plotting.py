"""Pictures of studies: the log-log weak-error plot.  matplotlib is imported only here, on use."""

from __future__ import annotations

import numpy as np


def plot_weak_error(study, path=None, *, ax=None):
    """|e(l)| against l on log-log axes, with 95% error bars, the fitted line and a slope −1 guide.

    Points whose error is not resolved (within 3 standard errors of 0) are drawn hollow.
    Returns the matplotlib figure; writes it to ``path`` if given.
    """
    from matplotlib.figure import Figure  # no pyplot: works on machines without a display

    if ax is None:
        fig = Figure(figsize=(6.0, 4.5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    markers = "osD^v<>"
    for i, test in enumerate(study.test_functions):
        rows = study.rows_for(test)
        if not rows:
            continue
        l = np.array([r.l for r in rows], float)
        e = np.abs([r.error for r in rows])
        half = 1.96 * np.array([r.stderr for r in rows])
        lower = np.minimum(half, e * 0.999)  # a log axis cannot show an interval reaching 0
        resolved = np.array([r.resolved for r in rows])
        color = f"C{i}"
        ax.errorbar(l, e, yerr=[lower, half], fmt="none", ecolor=color, capsize=3)
        ax.plot(l[resolved], e[resolved], markers[i % len(markers)], color=color,
                label=f"{test}: p = {study.fits[test].order:.2f}")
        ax.plot(l[~resolved], e[~resolved], markers[i % len(markers)], color=color, mfc="none")
        fit = study.fits[test]
        if np.isfinite(fit.order) and fit.used:
            used = np.array(fit.used, float)
            ax.plot(used, fit.constant * used ** -fit.order, "-", color=color, alpha=0.5)
    l_all = np.array(study.l_values, float)
    first = study.rows_for(study.test_functions[0])
    if first:
        anchor = abs(first[0].error) * first[0].l
        ax.plot(l_all, anchor / l_all, "k--", lw=1, label="slope −1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l (SVAG steps per effective step)")
    ax.set_ylabel("weak error |E g(x) − E g(X)|")
    ax.set_title(f"{study.method} vs SDE on {study.problem['name']}, η={study.lr:g}, T={study.time:g}")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
