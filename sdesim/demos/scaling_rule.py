"""Where the linear scaling rule breaks, and κ* from one run (section 5.2, Theorems 5.5 and 5.6).

SGD with weight decay λ on the scale-invariant problem (`sdesim.problems.scale_invariant`,
⟨∇L_γ(x), x⟩ = 0) settles at an equilibrium whose squared norm R, squared gradient norm G = E|∇L|²
and noise N = E Tr Σ_B obey, exactly,

    (2 − ηλ) λ R = η (G + N)                                                    eq. (11)

(|x_{k+1}|² = (1 − ηλ)²|x_k|² + η²|∇L_γ(x_k)|² by orthogonality, in balance).  From a baseline at
batch B and learning rate η, Theorem 5.6 says (C, κ)-linear-scaling invariance (eq. (13)) fails for

    κ > κ* = C² (1 + N/G)                                                       eq. (15)

and Theorem 5.5 certifies failure at κ where the scaled run's N′/G′ < (1 − 1/κ)/(C² − 1) − 1/κ, eq. (14).
Runs along the rule (κB, κη) measure C_κ, the smallest C for which eq. (13) holds.  The formulas are
those of `sdesim.estimators.scaling_rule`; the equilibria and C_κ's standard error those of claim 5
(`sdesim.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdesim._checks import positive_float
from sdesim.estimators.scaling_rule import (SQRT2, largest_kappa, lsi_closeness, lsi_fails, lsi_nsr_threshold,
                                           noise_to_signal)
from sdesim.problems import scale_invariant
from sdesim.demos.demo import Demo, Row, _check_paths, _figure


@dataclass(frozen=True)
class ScalingRun:
    """A baseline at (B, η) and runs along the linear rule at (κB, κη): their equilibria (R, G, N)."""

    lr: float
    batch_size: int
    weight_decay: float
    paths: int
    baseline: object                 # sdesim.validation.equilibrium.Equilibrium
    scaled: dict = field(default_factory=dict)   # κ → Equilibrium


@dataclass(frozen=True, eq=False)
class ScalingDemo(Demo):
    """A `Demo` with κ* (an `Estimate`) and, per κ, C_κ ± stderr and whether eq. (14) holds."""

    kappa_star: object = None
    points: list = field(default_factory=list)


def norm_balance(eq, lr: float, weight_decay: float) -> tuple[float, float]:
    """(2 − ηλ)λR − η(G + N) of an equilibrium and its standard error: 0 exactly at equilibrium, eq. (11)."""
    return eq.combination(((2.0 - lr * weight_decay) * weight_decay, -lr, -lr))


def _nsr(eq):
    """N/G of an equilibrium with its standard error (N and G from the same paths: their covariance counts)."""
    return noise_to_signal(eq.N, eq.G, noise_se=eq.stderr[2], signal_se=eq.stderr[1], noise_signal_cov=eq.cov[2, 1])


def measure_scaling_rule(*, kappas=(2, 4, 8, 16, 32, 64), lr: float = 0.1, batch_size: int = 2,
                         weight_decay: float = 0.1, n: int = 64, paths: int = 2048, seed: int = 5,
                         time: float = 40.0, min_steps: int = 200) -> ScalingRun:
    """The baseline's and each scaled run's equilibrium, after max(``min_steps``, time/(κη)) steps."""
    from sdesim.validation.equilibrium import equilibrium   # same layer as the demonstrations: imported here

    lr, weight_decay, time = (positive_float(k, v) for k, v in (("lr", lr), ("weight_decay", weight_decay),
                                                                 ("time", time)))
    paths = _check_paths("scaling-rule", paths)
    kappas = tuple(kappas)
    if not kappas or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 for k in kappas):
        raise ValueError(f"kappas must be whole numbers >= 2 (the batch grows to κB), got {kappas!r}")

    def run(kappa, seed_):
        problem = scale_invariant(weight_decay=weight_decay, n=n, batch_size=batch_size * kappa)
        steps = max(min_steps, int(round(time / (lr * kappa))))
        return equilibrium(problem, "sgd", lr=lr * kappa, steps=steps, paths=paths, seed=seed_)

    baseline = run(1, seed)
    scaled = {k: run(k, seed + 1 + i) for i, k in enumerate(kappas)}
    return ScalingRun(lr, batch_size, weight_decay, paths, baseline, scaled)


def linear_scaling_rule(measured: ScalingRun, *, kappa: int, C: float = SQRT2) -> ScalingDemo:
    """κ* of the baseline, C_κ along the rule with ``kappa`` highlighted, and eq. (11)'s balance as rows."""
    from sdesim.validation.claim5_scaling_rule import closeness_with_stderr

    if kappa not in measured.scaled:
        raise ValueError(f"kappa must be one of the measured {sorted(measured.scaled)}, got {kappa!r}")
    base, lam, lr = measured.baseline, measured.weight_decay, measured.lr
    kappa_star = largest_kappa(base.N, base.G, C, noise_se=base.stderr[2], signal_se=base.stderr[1],
                               noise_signal_cov=base.cov[2, 1])
    points = []
    rows = [Row(f"eq. (11) at the baseline (B = {measured.batch_size}, η = {lr:g}): (2 − ηλ)λR − η(G + N)",
                *norm_balance(base, lr, lam), 0.0)]
    for k, eq in measured.scaled.items():
        c_value, c_se = closeness_with_stderr(base, eq, k)
        nsr = _nsr(eq)
        points.append(dict(kappa=k, C=float(lsi_closeness(base.values, eq.values, k)), C_se=c_se,
                           nsr=float(nsr.value), nsr_se=float(nsr.stderr), threshold=float(lsi_nsr_threshold(k, C)),
                           certified=bool(lsi_fails(eq.N, eq.G, k, C))))
        rows.append(Row(f"eq. (11) at κ = {k} (B = {measured.batch_size * k}, η = {lr * k:g}): "
                        "(2 − κηλ)λR − κη(G + N)", *norm_balance(eq, lr * k, lam), 0.0))
    chosen = next(p for p in points if p["kappa"] == kappa)
    rows += [Row("baseline noise-to-signal ratio N/G", *map(float, _nsr(base))),
             Row(f"κ* = C²(1 + N/G), C = {C:.4g}", float(kappa_star.value), float(kappa_star.stderr)),
             Row(f"C_κ at κ = {kappa}", chosen["C"], chosen["C_se"])]

    fig, (left, right) = _figure(10.0, 4.0, columns=2)
    ks = np.array([p["kappa"] for p in points], float)
    left.errorbar(ks, [p["C"] for p in points], yerr=[2 * p["C_se"] for p in points], fmt="o-", capsize=3,
                  label="measured C_κ, eq. (13) (± 2 se)")
    left.axhline(C, color="k", lw=1, ls=":", label=f"C = {C:.3g}")
    left.axvspan(kappa_star.value - 2 * kappa_star.stderr, kappa_star.value + 2 * kappa_star.stderr, color="C3",
                 alpha=0.25, label=f"κ* = {kappa_star.value:.3g} ± {2 * kappa_star.stderr:.2g} (Theorem 5.6)")
    left.plot([kappa], [chosen["C"]], "o", ms=12, mfc="none", color="C2", label=f"κ = {kappa}")
    left.set_ylabel("C_κ (LSI holds iff C_κ ≤ C)")
    right.errorbar(ks, [p["nsr"] for p in points], yerr=[2 * p["nsr_se"] for p in points], fmt="o-", capsize=3,
                   label="scaled run's N′/G′ (± 2 se)")
    right.plot(ks, [p["threshold"] for p in points], "k--", lw=1, label="(1 − 1/κ)/(C² − 1) − 1/κ, eq. (14)")
    certified = [p for p in points if p["certified"]]
    right.plot([p["kappa"] for p in certified], [p["nsr"] for p in certified], "x", color="C3", ms=9, ls="none",
               label="eq. (14) holds: LSI certified to fail")
    right.plot([kappa], [chosen["nsr"]], "o", ms=12, mfc="none", color="C2")
    right.set_ylabel("N′/G′ at (κB, κη)")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("κ (batch κB, learning rate κη)")
        ax.legend(fontsize=7)
    right.set_yscale("log")
    fig.suptitle(f"linear scaling rule on the scale-invariant problem, λ = {lam:g}, {measured.paths} paths per run")
    return ScalingDemo(f"the linear scaling rule breaks beyond κ* (κ = {kappa}, C = {C:.4g})", fig, rows,
                       kappa_star, points)
