"""Scaling rules applied to a training run's settings: B → κB with the rule's learning rate, betas, ε and steps.

============  =====================================================================================
square_root   η → √κ η, 1 − βᵢ → κ(1 − βᵢ), ε → ε/√κ, steps → steps/κ: RMSprop and Adam (Malladi et al.
              2022), keeping the SDE's σ₀ = ση, cᵢ = (1 − βᵢ)/η², ε₀ = εη
linear        η → κη, steps → steps/κ: SGD and SVAG (and NGD, whose noise follows B).  On an adaptive
              method it warns, keeping β and ε: it changes the SDE (σ₀ × √κ), the comparison the
              paper draws, not a rule to use
============  =====================================================================================

Both keep the number of epochs; schedule milestones (effective steps) shrink by κ as the steps do.  The
formulas are `sdesim.estimators.scaling_rule.square_root_rule` and ``linear_rule``.
"""

from __future__ import annotations

import warnings

from sdesim.estimators.scaling_rule import linear_rule, square_root_rule
from sdesim.torch.adaptive import ADAPTIVE_METHODS, check_hyperparameters

RULES = ("square_root", "linear")


def _scaled_schedule(schedule, kappa: float):
    """Milestones k → k/κ (whole numbers), factors unchanged."""
    if schedule is None:
        return None
    if not isinstance(schedule, dict):
        raise ValueError(f"schedule {schedule!r} cannot be rescaled: scale_config moves the milestones of a dict "
                         f"{{effective step: factor}} by 1/kappa; rescale a schedule function yourself")
    scaled = {}
    for milestone, factor in schedule.items():
        new = milestone / kappa
        if new != round(new):
            raise ValueError(f"schedule milestone {milestone} / kappa={kappa!r} = {new!r} is not a whole effective "
                             f"step; choose milestones divisible by kappa")
        scaled[int(round(new))] = factor
    return scaled


def scale_config(config: dict, kappa: float, rule: str = "square_root") -> dict:
    """``config`` (a ``Trainer.config`` or the keyword arguments of ``train``) with the batch size ×κ by ``rule``.

    ``"square_root"`` (adaptive methods only): η → √κ η, βᵢ → 1 − κ(1 − βᵢ), ε → ε/√κ; ``"linear"``: η → κη,
    for SGD, SVAG and NGD (GD has no batch), and with a warning for adaptive methods.  ``steps`` (if present)
    and the schedule's milestones → /κ.  Missing adaptive hyperparameters are filled with their defaults
    before the square-root rule scales them.  κB, steps/κ and the milestones/κ must be whole numbers.
    """
    method = config.get("method", "sgd")
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; allowed: {', '.join(map(repr, RULES))}")
    adaptive = method in ADAPTIVE_METHODS
    if rule == "square_root" and not adaptive:
        raise ValueError(f"the square-root rule is for the adaptive methods ({', '.join(map(repr, ADAPTIVE_METHODS))}), "
                         f"not method {method!r}; use rule='linear' for SGD-like methods")
    if method == "gd":
        raise ValueError("method 'gd' uses the full data set: it has no batch size to scale")
    out = dict(config)
    if rule == "linear":
        if adaptive:
            warnings.warn(f"the linear rule on method {method!r} changes its SDE (σ₀ = ση grows by √kappa); the "
                          f"square-root rule keeps it (rule='square_root')", UserWarning, stacklevel=2)
        new = linear_rule(config["lr"], config["batch_size"], kappa, steps=config.get("steps"))
    else:
        names = ("beta1", "beta2", "eps", "bias_correction") if method == "adam" else ("beta2", "eps")
        hyper = check_hyperparameters(method, **{n: config[n] for n in names if config.get(n) is not None})
        beta1 = hyper.beta1 if method == "adam" else None        # paper_rmsprop's β₁ = 0 is not scaled
        new = square_root_rule(config["lr"], config["batch_size"], kappa, beta1=beta1, beta2=hyper.beta2,
                               eps=hyper.eps, steps=config.get("steps"))
        out.update(beta2=new.beta2, eps=new.eps)
        if method == "adam":
            out["beta1"] = new.beta1
    out.update(lr=new.lr, batch_size=new.batch_size)
    if "steps" in config:
        out["steps"] = new.steps
    if "schedule" in config:
        out["schedule"] = _scaled_schedule(config["schedule"], new.kappa)
    return out
