"""Claim 7 (Malladi et al. 2022): the square-root scaling rule keeps the adaptive SDE, the linear rule does not.

Batch κB with η → √κ η, 1 − βᵢ → κ(1 − βᵢ), ε → ε/√κ (and κ times fewer steps) leaves the SDE's
parameters σ₀ = ση, cᵢ = (1 − βᵢ)/η², ε₀ = εη unchanged, since the gradient noise scale σ goes like
1/√B: an identity of the algebra (docs/theory/adaptive-sde.md), shown with its numbers.  The linear
rule (η → κη) multiplies σ₀ by √κ.

What can fail is the consequence: Adam on a quadratic whose gradient noise is that of a batch of B,
run to equilibrium, has the same E L(x) at κB under the square-root rule, and a different one under
the linear rule.  The check passes when the square-root rule's ratio L_κ/L_1 lies within
``tolerance`` (declared before the run) of 1, up to 5 standard errors, for every κ of ``kappas``,
and the linear rule's ratio exceeds 1 + ``tolerance`` by more than 5 standard errors for each.
At larger κ the step η√κ grows and the discrete method's own O(η) error shows: ``wide_kappas``
are measured and reported, not judged.
"""

from __future__ import annotations

import math

import sdesim
from sdesim.estimators.scaling_rule import linear_rule, sde_parameters_under_rule, square_root_rule
from sdesim.problems import quadratic
from sdesim.atomic import save_figure
from sdesim.validation.report import all_passed, Check, ClaimResult, figure_path, fmt, Timer, Z

NAME = "square_root_rule"
TITLE = "The square-root scaling rule for Adam keeps its SDE and its equilibrium; the linear rule does not"
FLOAT64_ONLY = "the adaptive methods run in float64 only: they hold torch.optim's float64 arithmetic bit for bit"
REFERENCE = "Malladi et al. 2022, square-root scaling rule"

QUICK = dict(batch_size=1, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, steps=1600, kappas=(2, 4), wide_kappas=(8,),
             paths=10_000, seed=7, tolerance=0.1, dim=2)
FULL = dict(QUICK, steps=3200, paths=200_000)


def _equilibrium_loss(settings, hyper, seed):
    """E L(x) after ``hyper['steps']`` Adam steps on the quadratic with batch ``hyper['batch_size']``, ± stderr."""
    problem = quadratic(dim=settings["dim"], batch_size=hyper["batch_size"])
    result = sdesim.simulate(problem, "adam", lr=hyper["lr"], steps=hyper["steps"], paths=settings["paths"],
                             seed=seed, observables=["loss"], beta1=hyper["beta1"], beta2=hyper["beta2"],
                             eps=hyper["eps"])
    return float(result.mean("loss")[-1]), float(result.stderr("loss")[-1])


def ratio_with_stderr(a, sa, b, sb):
    """b/a and its standard error from independent estimates a ± sa, b ± sb (delta method)."""
    r = b / a
    return r, r * math.hypot(sa / a, sb / b)


def run(quick: bool = True, out_dir="sdesim-validation", **overrides) -> ClaimResult:
    settings = {**(QUICK if quick else FULL), **overrides}
    tol = settings["tolerance"]
    base = dict(lr=settings["lr"], batch_size=settings["batch_size"], beta1=settings["beta1"],
                beta2=settings["beta2"], eps=settings["eps"], steps=settings["steps"])
    checks, points = [], []
    with Timer() as timer:
        for kappa in settings["kappas"] + settings["wide_kappas"]:
            before, after = sde_parameters_under_rule(base["lr"], base["batch_size"], kappa, beta1=base["beta1"],
                                                      beta2=base["beta2"], eps=base["eps"], rule="square_root")
            worst = max(abs(a / b - 1) for a, b in zip(after, before))
            checks.append(Check(f"κ = {kappa}: (σ₀, c₁, c₂, ε₀) under the square-root rule",
                                f"largest relative change {worst:.1e}", "unchanged (algebra)", worst < 1e-12,
                                kind="identity"))
        l1, s1 = _equilibrium_loss(settings, base, settings["seed"])
        checks.append(Check(f"baseline Adam, B = {base['batch_size']}, η = {base['lr']:g}, β = ({base['beta1']:g}, "
                            f"{base['beta2']:g}), {base['steps']} steps: E L(x) at the end", fmt(l1, s1), "", None))
        for i, kappa in enumerate(settings["kappas"] + settings["wide_kappas"]):
            sq = square_root_rule(base["lr"], base["batch_size"], kappa, beta1=base["beta1"], beta2=base["beta2"],
                                  eps=base["eps"], steps=base["steps"])
            lin = linear_rule(base["lr"], base["batch_size"], kappa, steps=base["steps"])
            sq_loss = _equilibrium_loss(settings, dict(lr=sq.lr, batch_size=sq.batch_size, beta1=sq.beta1,
                                                       beta2=sq.beta2, eps=sq.eps, steps=sq.steps),
                                        settings["seed"] + 1 + 2 * i)
            lin_loss = _equilibrium_loss(settings, dict(base, lr=lin.lr, batch_size=lin.batch_size, steps=lin.steps),
                                         settings["seed"] + 2 + 2 * i)
            r_sq, se_sq = ratio_with_stderr(l1, s1, *sq_loss)
            r_lin, se_lin = ratio_with_stderr(l1, s1, *lin_loss)
            judged = kappa in settings["kappas"]
            points.append(dict(kappa=kappa, sq=(r_sq, se_sq), lin=(r_lin, se_lin)))
            checks.append(Check(f"κ = {kappa}, square-root rule (η = {sq.lr:.4g}, β = ({sq.beta1:.4g}, {sq.beta2:.4g})):"
                                " E L ratio to baseline", fmt(r_sq, se_sq, 3), f"1 ± {tol:g}",
                                abs(r_sq - 1) <= tol + Z * se_sq if judged else None))
            checks.append(Check(f"κ = {kappa}, linear rule (η = {lin.lr:.4g}): E L ratio to baseline",
                                fmt(r_lin, se_lin, 3), f"> 1 + {tol:g} (σ₀ ×√κ)",
                                r_lin - 1 > tol + Z * se_lin if judged else None))
        figures = [_plot(points, tol, out_dir)]
    ok = all_passed(checks)
    kappas = ", ".join(str(k) for k in settings["kappas"])
    reason = (f"For κ = {kappas} the square-root rule keeps Adam's equilibrium loss within {tol:.0%} of the "
              f"baseline and the linear rule moves it by more, as the unchanged SDE predicts."
              if ok else "A run did not behave as the rule predicts (see the failed rows).")
    return ClaimResult(NAME, TITLE, REFERENCE, checks, reason, figures, settings, timer.seconds, quick)


def _plot(points, tol, out_dir) -> str:
    from matplotlib.figure import Figure

    path, relative = figure_path(out_dir, "claim7_square_root_rule.png")
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    kappa = [p["kappa"] for p in points]
    for key, label in (("sq", "square-root rule"), ("lin", "linear rule")):
        ax.errorbar(kappa, [p[key][0] for p in points], yerr=[1.96 * p[key][1] for p in points], fmt="o-",
                    capsize=3, label=label)
    ax.axhspan(1 - tol, 1 + tol, color="0.9", label=f"1 ± {tol:g}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("κ (batch κB)")
    ax.set_ylabel("E L at equilibrium / baseline")
    ax.set_title("Adam on a quadratic with batch noise", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)
    return relative
