"""Claim 1, Lemmas 4.6 and 4.7: the one-step moments of SVAG and of the SDE.

SVAG's increment Δ at x over one small step η/l has, exactly (Lemma 4.7, derived in
`sdesim.estimators.moment_checks`), with G = ∇L(x) (+ λx):

    E Δ = −(η/l) G,   E ΔΔᵀ = (η²/l) Σ + (η²/l²) G Gᵀ,
    E Δ^{⊗3} = −(η³/l²)((3 − 1/l)/2) Λ − (η³/l²) 3 sym(G ⊗ Σ) − (η³/l³) G^{⊗3},

and the SDE's increment over time η/l (Lemma 4.6) matches the first two up to O(l⁻²)
with a third moment O(l⁻²).  Checked: SVAG's Monte Carlo estimates against these values
(z-scores), the SDE's O(l⁻²) remainders from its exact law, and the paper's printed (iii),
which the numbers reject (a missing minus sign and l⁻³ instead of l⁻² on the cross term).
Shown as identities (they hold by construction): the SDE's sampled moments, drawn from the
same Gaussian law whose moments they are compared with, and SVAG's remainders, read off
the derived formula.  Below `MIN_PATHS` samples the z-scores' false-alarm rate is far
above the normal one (measured in `sdesim.estimators.moment_checks`), so the check refuses.
"""

from __future__ import annotations

import numpy as np

from sdesim.estimators.moment_checks import MIN_PATHS, moment_checks
from sdesim.problems import linear_regression, quadratic
from sdesim.atomic import save_figure
from sdesim.validation.report import all_passed, Check, ClaimResult, figure_path, IDENTITY, Timer, Z

NAME = "one_step_moments"
TITLE = "One-step moments of SVAG and the SDE"
FLOAT64_ONLY = ("its one-step moments come from float64 draws of its own, in sdesim.estimators.moment_checks, "
                "not from the path kernels")
REFERENCE = "Lemmas 4.6 and 4.7"

QUICK = dict(lr=0.5, l_values=(1, 2, 4, 8), paths=200_000, seed=1, x=(2.0, -1.0), tolerance=Z)
FULL = dict(QUICK, l_values=(1, 2, 4, 8, 16, 32), paths=2_000_000)


def _problems(settings):
    """Additive skewed noise (quadratic, SVAG and the closed-form SDE) and multiplicative minibatch noise
    (least squares, SVAG only: its SDE has no closed-form one-step law)."""
    return {"quadratic (exponential noise)": (quadratic(2, noise="exponential"), settings["x"]),
            "least squares (B = 2)": (linear_regression(dim=2, batch_size=2), (1.0, -0.5))}


def run(quick: bool = True, out_dir="sdesim-validation", **overrides) -> ClaimResult:
    """Check Lemmas 4.6 and 4.7; ``overrides`` replace entries of QUICK/FULL (e.g. ``tolerance``)."""
    settings = {**(QUICK if quick else FULL), **overrides}
    tol = settings["tolerance"]
    checks, figure_data, printed = [], {}, []
    calibrated = settings["paths"] >= MIN_PATHS
    refused = ("" if calibrated else f"; REFUSED: {settings['paths']} samples, fewer than the {MIN_PATHS} below which "
               "|z| > 5 on third moments is far more frequent than for a normal z")
    with Timer() as timer:
        for label, (problem, x) in _problems(settings).items():
            check = moment_checks(problem, x=np.array(x), lr=settings["lr"], l_values=settings["l_values"],
                                  paths=settings["paths"], seed=settings["seed"],
                                  remainder_l=(1, 2, 4, 8, 16, 32, 64, 128, 256))
            for method, lemma in (("svag", "Lemma 4.7 (i)-(iii)"), ("sde", "Lemma 4.6 (i)-(iii)")):
                rows = [r for r in check.rows if r["method"] == method]
                if not rows:
                    continue
                worst = max(rows, key=lambda r: r["max_abs_z"])
                entries = sum(np.size(r["z"]) for r in rows)
                within = bool(worst["max_abs_z"] <= tol)
                if method == "svag":
                    verdict, kind = calibrated and within, None
                else:   # sampled from the very law whose moments it is compared with: an identity (info if refused)
                    verdict, kind = (within, IDENTITY) if calibrated else (None, None)
                checks.append(Check(
                    f"{lemma}, {label}: E Δ, E ΔΔᵀ, E Δ^⊗3 at l = {list(settings['l_values'])}",
                    f"largest |z| = {worst['max_abs_z']:.2f} over {entries} entries "
                    f"(order {worst['order']}, l = {worst['l']}){refused}",
                    "exact values (derived for (iii), see below)" if method == "svag" else
                    "exact OU increments (sampled from that same Gaussian law: it tests the sampler, not the lemma)",
                    verdict, kind))
            third = [r for r in check.rows if r["method"] == "svag" and r["order"] == 3 and r["l"] > 1]
            printed += [(label, r) for r in third]
            figure_data[label] = check.remainders
        # the printed (iii): wrong wherever the samples resolve the third moment
        rejected = [(label, r) for label, r in printed if r["paper_max_abs_z"] > tol]
        sign_only = [(label, r) for label, r in printed if r["paper_sign_corrected_max_abs_z"] > tol]
        checks.append(Check(
            "Lemma 4.7 (iii) as printed: +(η³/l²)((3 − l⁻¹)/2)Λ + (η³/l³)(3 sym(∇L⊗Σ) + ∇L^⊗3)",
            f"rejected at {len(rejected)} of {len(printed)} (problem, l > 1) pairs, largest |z| = "
            f"{max(r['paper_max_abs_z'] for _, r in printed):.0f}; with the sign alone fixed still rejected at "
            f"{len(sign_only)}{refused}",
            "erratum: a missing minus sign, and l⁻³ instead of l⁻² on the cross term",
            calibrated and bool(printed) and len(rejected) == len(sign_only) == len(printed)))
        # the O(l⁻²) remainders: their local slope in l between the two finest l is (at least) 2.  SVAG's are
        # read off the derived formula, whose terms are l⁻² and l⁻³ by construction (an identity); the SDE's come
        # from its exact Ornstein–Uhlenbeck law, independent of the lemma (a check)
        for label, remainders in figure_data.items():
            last, before = remainders[-1], remainders[-2]
            for keys, kind, lemma in ((("svag_2", "svag_3"), IDENTITY, "SVAG's, from the derived formula: Lemma 4.7 "
                                       "(ii)-(iii)"),
                                      (("sde_1", "sde_2", "sde_3"), None, "the SDE's, from its exact law: Lemma 4.6 "
                                       "(i)-(iii)")):
                keys = [k for k in keys if k in last]
                if not keys:
                    continue
                # the rows hold remainder × l², so the slope of the remainder itself is 2 − log(ratio)/log(l ratio)
                slopes = [2 - np.log(last[k] / before[k]) / np.log(last["l"] / before["l"]) for k in keys]
                checks.append(Check(
                    f"remainders beyond the leading terms, {label}, l = {before['l']} → {last['l']}: {lemma}",
                    f"local slopes in l: {', '.join(f'{s:.3f}' for s in slopes)}",
                    "O(l⁻²): slope ≥ 2 up to the 1/l correction", min(slopes) > 1.9, kind))
        figures = [_plot(figure_data, out_dir)]
    ok = all_passed(checks)
    reason = ("SVAG's sampled moments match the exact one-step moments within "
              f"{tol:g} standard errors and the SDE's remainders shrink like l⁻², as the lemmas say; the printed "
              "(iii) has a sign and an l-power error (its conclusion O(l⁻²) stands); (iv) is not checked."
              if ok else f"Too few samples (fewer than {MIN_PATHS}) for calibrated z-scores: the check refuses."
              if not calibrated else
              "At least one sampled moment or remainder disagrees with the lemmas: see the failed rows.")
    return ClaimResult(NAME, TITLE, REFERENCE, checks, reason, figures, settings, timer.seconds, quick)


def _plot(data, out_dir) -> str:
    from matplotlib.figure import Figure

    path, relative = figure_path(out_dir, "claim1_one_step_moments.png")
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    names = {"svag_2": "SVAG (ii)", "svag_3": "SVAG (iii)", "sde_1": "SDE (i)", "sde_2": "SDE (ii)",
             "sde_3": "SDE (iii)"}
    for i, (label, remainders) in enumerate(data.items()):
        l = [r["l"] for r in remainders]
        for key, name in names.items():
            if key in remainders[0]:
                ax.plot(l, [r[key] for r in remainders], "o-" if i == 0 else "s--", ms=3,
                        label=f"{name}, {label.split(' ')[0]}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l")
    ax.set_ylabel("largest |remainder| × l²")
    ax.set_title("Lemmas 4.6/4.7: remainders are O(l⁻²) (flat lines)")
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=110)
    return relative
