"""The clock of a weak-error study, for an SGD-family problem or an SDE in its own terms.

An SDE in its own terms (`sdesim.problems.sde`, dX = b dt + σ dW) is studied with its step H
(``dt``; ``--dt``): level l runs Euler–Maruyama with step H/l, x ← x + h b(x) + √h σ(x) z, and
the weak error is the largest gap over the steps t = kH ≤ T.  The arguments that belong to SGD
(a learning rate, the methods that sample gradients or precondition them, exact moments and
control variates of a linear-quadratic loss) mean nothing there and are refused, each with the
reason; ``dt`` means nothing for an SGD-family problem, whose time unit is its learning rate.
"""

from __future__ import annotations

from sdesim.methods import own_terms_plan
from sdesim.problems.base import Problem

DEFAULT_LR, DEFAULT_METHOD = 0.1, "svag"


def study_clock(problem: Problem, *, lr, dt, method, hyperparameters=None, exact: bool = False,
                control_variates: bool = True, default_lr: float = DEFAULT_LR, cli: bool = False) -> tuple[str, float]:
    """(method, η or H): the swept method and the time of one step, checked against the problem.

    SGD-family problems: ``method`` (default ``svag``) and ``lr`` (default ``default_lr``); ``dt`` refused.
    An SDE in its own terms: method ``sde`` (the default) and ``dt`` = H (required); ``lr``, any other
    method, adaptive hyperparameters, ``exact`` and turning control variates off refused.
    ``cli``: name the options as the command line spells them.
    """
    flag = (lambda name: "--" + name.replace("_", "-")) if cli else (lambda name: name)
    if not problem.sde_terms:
        if dt is not None:
            raise ValueError(f"{flag('dt')} is the step H of an SDE in its own terms (sdesim.problems.sde); problem "
                             f"{problem.name!r} is of the SGD family, whose time unit is the learning rate: give "
                             f"{flag('lr')} (method 'sde' then steps by η/l)")
        return (DEFAULT_METHOD if method is None else method), (default_lr if lr is None else lr)
    what = f"{problem.name!r}, an SDE in its own terms"
    if lr is not None:
        raise ValueError(f"{flag('lr')} does not apply to {what}: it has no learning rate η. Give its step "
                         f"{flag('dt')} = H; level l runs Euler–Maruyama with step H/l")
    if dt is None:
        raise ValueError(f"{what} needs its step {flag('dt')} = H (level l runs Euler–Maruyama with step H/l, "
                         "the weak error is the largest gap over the steps t = kH)")
    given = sorted(flag(name) for name in hyperparameters or {})
    if given:
        raise ValueError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only to the adaptive methods "
                         f"(RMSprop, Adam), not to {what}")
    method = "sde" if method is None else method
    own_terms_plan(method, dt, 1)   # refuses, with the reason, the methods that are SGD's
    if exact:
        raise ValueError(f"{flag('exact')} does not apply to {what}: exact moments need the closed moment "
                         "recursions of a linear-quadratic loss, which it does not have; use Monte Carlo")
    if not control_variates:
        raise ValueError(f"{flag('no_control_variates') if cli else 'control_variates=False'} does not apply to "
                         f"{what}: its control variates would be the exact moments of a linear-quadratic loss, "
                         "which it does not have, so there are none to turn off")
    return method, dt
