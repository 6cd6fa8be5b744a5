"""Lesson 6's exercise: the learning rate and β₂ that keep Adam's SDE when the batch grows κ-fold.

Right when (σ₀, c₂) = (ση, (1 − β₂)/η²) at batch κB (σ → σ/√κ) equal the baseline's to 1%
(`sdesim.estimators.scaling_rule.adaptive_sde_parameters`, compared with
`sdesim.testing.assert_within_stderr`): the square-root rule η → √κ η, 1 − β₂ → κ(1 − β₂).
"""

from __future__ import annotations

import math
import re

from sdesim.estimators.scaling_rule import adaptive_sde_parameters
from sdesim.lessons.exercises.answers import number
from sdesim.lessons.view import Verdict
from sdesim.testing import assert_within_stderr

TOLERANCE = 0.01   # relative: typed decimals


def _pair(answer):
    parts = [p for p in re.split(r"[;,\s]+", str(answer).strip()) if p]
    if len(parts) != 2:
        return None
    values = [number(p) for p in parts]
    return None if None in values else values


def check(answer, kappa: int = 4, lr: float = 0.1, beta2: float = 0.99) -> Verdict:
    """Is ``answer`` ("η, β₂", two numbers) the pair that keeps Adam's SDE at batch κB?"""
    pair = _pair(answer)
    if pair is None:
        return Verdict(False, f"Type two numbers separated by a comma: the new learning rate and the new β₂ "
                              f"(for example 0.3, 0.95); {str(answer)!r} is not that.")
    new_lr, new_beta2 = pair
    if not (new_lr > 0 and 0 <= new_beta2 < 1):
        return Verdict(False, f"The learning rate must be > 0 and β₂ in [0, 1); got η = {new_lr:g}, "
                              f"β₂ = {new_beta2:g}.")
    before = adaptive_sde_parameters(lr, None, beta2, 1e-8)
    after = adaptive_sde_parameters(new_lr, None, new_beta2, 1e-8, noise_scale=1 / math.sqrt(kappa))
    wrong = []
    for name, b, a in (("σ₀ = ση", before.sigma0, after.sigma0), ("c₂ = (1 − β₂)/η²", before.c2, after.c2)):
        try:
            assert_within_stderr(a, 0.0, b, atol=TOLERANCE * b, name=name)
        except AssertionError:
            wrong.append(f"{name} becomes {a:.4g} instead of {b:.4g} (× {a / b:.3g})")
    if not wrong:
        return Verdict(True, f"η = {new_lr:g}, β₂ = {new_beta2:g} keep σ₀ and c₂: the square-root rule, η → √κ η = "
                             f"{math.sqrt(kappa) * lr:g} and 1 − β₂ → κ(1 − β₂) = {kappa * (1 - beta2):g}. The batch "
                             f"divides σ by √κ, the learning rate gives it back, so Adam follows the same SDE.")
    return Verdict(False, "Adam's SDE changes: " + "; ".join(wrong) + ". The batch κB divides the noise scale σ by "
                          "√κ, so σ₀ = ση stays only if η grows by √κ; then c₂ stays only if 1 − β₂ grows by κ.")
