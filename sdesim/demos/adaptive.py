"""Adam's SDE, and the square-root scaling rule that keeps it (Malladi, Lyu, Panigrahi, Arora 2022).

With time t = kη², σ₀ = ση, cᵢ = (1 − βᵢ)/η² and ε₀ = εη, Adam follows the SDE
(docs/theory/adaptive-sde.md)

    dm = c₁(∇L − m) dt + c₁σ₀ Σ^{1/2} dW,   du = c₂(diag Σ − u) dt,
    dx = −(m/γ₁) ⊘ (σ₀ √(u/γ₂) + ε₀) dt,   γᵢ = 1 − e^{−cᵢt}.

`adam_one_step`: one step of Adam (SVAG with l = 1) and one Euler step of its SDE from the same state,
sampled, against their exact moments (`sdesim.estimators.adaptive_moments`), and the exact gap per unit
time between the two shrinking as SVAG's l grows.

`adam_scaling_rules`: Adam on a quadratic whose gradient noise is that of a batch (σ ∝ 1/√B).  Batch κB
under the square-root rule (η → √κη, 1 − βᵢ → κ(1 − βᵢ), ε → ε/√κ) keeps (σ₀, c₁, c₂, ε₀) and so the
SDE and its equilibrium E L; the linear rule (η → κη) multiplies σ₀ by √κ and moves it.
"""

from __future__ import annotations

import numpy as np

from sdesim.estimators.adaptive_moments import adaptive_moment_checks
from sdesim.estimators.scaling_rule import linear_rule, sde_parameters_under_rule, square_root_rule
from sdesim.problems import quadratic
from sdesim.simulate import simulate
from sdesim.demos.demo import Demo, Row, _check_paths, _figure

# the state and problem of tests/test_adaptive_moments.py: Adam away from m = ∇L, past its first step
STEP_PROBLEM = dict(hessian=[[2.0, 0.5], [0.5, 1.0]], minimizer=[1.0, -1.0], noise_cov=[[1.0, 0.3], [0.3, 0.5]],
                    noise="rademacher", batch_size=2)
STEP_STATE = dict(x=[0.5, 2.0], m=[0.2, 1.0])
STEP_HYPER = dict(beta1=0.9, beta2=0.99, eps=1e-3)
BASE = dict(lr=0.1, batch_size=1, beta1=0.9, beta2=0.99, eps=1e-8, steps=1600)   # claim 7's baseline
KAPPAS = (2, 4, 8)             # κ ≤ 1/(1 − β₁) = 10 keeps β₁ ≥ 0 under the square-root rule


def adam_one_step(*, lr: float = 0.1, paths: int = 20_000, seed: int = 0) -> Demo:
    """One Adam step and one Euler step of Adam's SDE from a state: sampled E Δx, E Δx² against exact.

    Rows: order 1 and the diagonal of order 2 of Δx, for Adam and for the SDE's step.  The picture:
    the exact gap |E Δ_adam − E Δ_sde|/dt per unit time against SVAG's l (it vanishes as l grows).
    """
    paths = _check_paths("adam-one-step", paths)
    problem = quadratic(2, **STEP_PROBLEM)
    check = adaptive_moment_checks(problem, "adam", lr=lr, t=lr**2, l_values=(1,), paths=paths, seed=seed,
                                   **STEP_STATE, **STEP_HYPER)
    rows = []
    for r in check.rows:
        if r["component"] != "x" or r["order"] > 2:
            continue
        who = "Adam" if r["method"] == "adam" else "SDE Euler step"
        for i in range(problem.dim):
            index = (i,) if r["order"] == 1 else (i, i)
            what = f"E Δx{'₁₂'[i]}" if r["order"] == 1 else f"E Δx{'₁₂'[i]}²"
            rows.append(Row(f"{who}: {what}", float(r["estimate"][index]), float(r["stderr"][index]),
                            float(r["exact"][index])))
    fig, (ax,) = _figure(6.0, 4.2)
    for order in (1, 2):
        gaps = [g for g in check.gaps if g["component"] == "x" and g["order"] == order]
        what = "|E Δx − E Δx̃|" if order == 1 else "max |E Δx Δxᵀ − E Δx̃ Δx̃ᵀ|"
        ax.plot([g["l"] for g in gaps], [g["gap"] for g in gaps], "o-", label=f"order {order}: {what} / dt")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("l (Adam's SVAG: step η/l, 1 − β → (1 − β)/l²)")
    ax.set_ylabel("gap per unit time, exact")
    ax.set_title(f"one step of Adam's SVAG against its SDE's, from x = {STEP_STATE['x']}", fontsize=9)
    ax.legend(fontsize=8)
    return Demo(f"one step of Adam and of its SDE ({paths} samples each)", fig, rows)


def _loss_curve(hyper: dict, paths: int, seed: int, points: int = 40):
    """E L(x) at ``points`` + 1 checkpoints of an Adam run on the quadratic at batch hyper['batch_size']."""
    steps = hyper["steps"]
    checkpoints = np.unique(np.linspace(0, steps, points + 1).round().astype(int))
    result = simulate(quadratic(dim=2, batch_size=hyper["batch_size"]), "adam", lr=hyper["lr"], steps=steps,
                      paths=paths, seed=seed, checkpoints=checkpoints, observables=["loss"], beta1=hyper["beta1"],
                      beta2=hyper["beta2"], eps=hyper["eps"])
    return checkpoints / steps, result.mean("loss"), result.stderr("loss")


def rule_hyperparameters(kappa: int, base: dict = BASE) -> dict:
    """{rule: hyperparameters at batch κB} for the square-root and the linear rule, from ``base``."""
    sq = square_root_rule(base["lr"], base["batch_size"], kappa, beta1=base["beta1"], beta2=base["beta2"],
                          eps=base["eps"], steps=base["steps"])
    lin = linear_rule(base["lr"], base["batch_size"], kappa, steps=base["steps"])
    return {"square-root": dict(lr=sq.lr, batch_size=sq.batch_size, beta1=sq.beta1, beta2=sq.beta2, eps=sq.eps,
                                steps=sq.steps),
            "linear": dict(base, lr=lin.lr, batch_size=lin.batch_size, steps=lin.steps)}


def baseline_curve(*, paths: int = 4000, seed: int = 7):
    """The baseline Adam run's (fraction of the run, E L, stderr), computed once for every κ."""
    return _loss_curve(BASE, _check_paths("adam-scaling-rules", paths), seed)


def adam_scaling_rules(*, kappa: int = 4, paths: int = 4000, seed: int = 7, baseline=None) -> Demo:
    """E L(x) over the same epochs for the baseline and for batch κB under each rule; the SDE parameters.

    ``baseline``: `baseline_curve`'s result, to reuse it when only κ changes.  Rows: the end values ± stderr
    and their ratios to the baseline (no exact value: the equilibrium of Adam has no closed form), and
    (σ₀, c₁, c₂, ε₀) before and after each rule (exact algebra, `sde_parameters_under_rule`).
    """
    if kappa not in KAPPAS:
        raise ValueError(f"kappa must be one of {KAPPAS} (κB whole, 1 − κ(1 − β₂) ≥ 0), got {kappa!r}")
    from sdesim.validation.claim7_square_root_rule import ratio_with_stderr   # same layer: imported here

    paths = _check_paths("adam-scaling-rules", paths)
    base_curve = baseline if baseline is not None else baseline_curve(paths=paths, seed=seed)
    curves = {"baseline": base_curve}
    for i, (rule, hyper) in enumerate(rule_hyperparameters(kappa).items()):
        curves[rule] = _loss_curve(hyper, paths, seed + 1 + i)
    end = {name: (float(c[1][-1]), float(c[2][-1])) for name, c in curves.items()}
    rows = [Row(f"E L at the end, {name}", *end[name]) for name in curves]
    rows += [Row(f"E L ratio {rule} / baseline", *ratio_with_stderr(*end["baseline"], *end[rule]))
             for rule in ("square-root", "linear")]
    for rule, key in (("square-root", "square_root"), ("linear", "linear")):
        before, after = sde_parameters_under_rule(BASE["lr"], BASE["batch_size"], kappa, beta1=BASE["beta1"],
                                                  beta2=BASE["beta2"], eps=BASE["eps"], rule=key)
        for name, b, a in zip(("σ₀", "c₁", "c₂", "ε₀"), before, after):
            rows.append(Row(f"{rule} rule: {name} after / before, exact", a / b))
    fig, (ax,) = _figure(6.4, 4.2)
    for (name, (frac, mean, se)), color, style in zip(curves.items(), ("k", "C0", "C3"), ("-", "-", "--")):
        ax.plot(frac, mean, style, color=color, label=name if name == "baseline" else f"{name} rule, κ = {kappa}")
        ax.fill_between(frac, mean - 2 * se, mean + 2 * se, color=color, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("fraction of the run (same number of epochs)")
    ax.set_ylabel("E L(x)")
    ax.set_title(f"Adam on the quadratic, batch {BASE['batch_size']} → {BASE['batch_size'] * kappa}, "
                 f"{paths} paths (± 2 se)", fontsize=9)
    ax.legend(fontsize=8)
    return Demo(f"Adam's equilibrium under the square-root and the linear rule (κ = {kappa})", fig, rows)
