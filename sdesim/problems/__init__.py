"""Problems: families of stochastic losses L_γ with their gradients, noise and loss.

Built in: `quadratic`, `linear_regression`, `double_well`,
`scale_invariant`; your own with `custom`, or an Itô SDE in its own terms with `sde`.
"""

from __future__ import annotations

import numpy as np

from sdesim._checks import choice
from sdesim.problems.base import Problem, ProblemFunctions, no_state
from sdesim._importable import import_function
from sdesim.problems.custom import custom
from sdesim.problems.double_well import double_well
from sdesim.problems.linear_regression import linear_regression
from sdesim.problems.noise import NOISE_LAWS
from sdesim.problems.quadratic import quadratic
from sdesim.problems.sampling import SAMPLINGS
from sdesim.problems.sde import sde
from sdesim.problems.scale_invariant import scale_invariant

PROBLEMS = {
    "quadratic": quadratic,
    "linear_regression": linear_regression,
    "double_well": double_well,
    "scale_invariant": scale_invariant,
}

__all__ = ["Problem", "ProblemFunctions", "no_state", "custom", "sde", "make_problem", "from_record",
           "PROBLEMS", "NOISE_LAWS", "SAMPLINGS", *PROBLEMS]


def make_problem(name: str, **options) -> Problem:
    """A built-in problem by name, e.g. ``make_problem("quadratic", dim=3)``."""
    choice("problem", name, tuple(PROBLEMS))
    return PROBLEMS[name](**options)


def from_record(record: dict) -> Problem:
    """Rebuild a problem from the ``{"name", "params"}`` record a result carries."""
    name, params = record["name"], dict(record["params"])
    if name in PROBLEMS:
        return PROBLEMS[name](**params)
    functions = params.pop("functions", None) or {}
    if not functions or None in functions.values():
        raise ValueError(f"problem {name!r} was defined by functions that cannot be imported by name; "
                         "rebuild it with sdesim.problems.custom")
    data = tuple(np.asarray(v) if isinstance(v, list) else v for v in params.pop("data"))
    if "drift" in functions:
        return sde(name, drift=import_function(functions["drift"]), diffusion=import_function(functions["diffusion"]),
                   data=data, **params)
    return custom(name, sample_grad=import_function(functions["sample_grad"]),
                  mean_grad=import_function(functions["mean_grad"]),
                  noise_factor=import_function(functions["noise_factor"]),
                  loss=import_function(functions["loss"]),
                  init_state=import_function(functions["init_state"]),
                  lanes_mean_grad=(import_function(functions["lanes_mean_grad"]) if "lanes_mean_grad" in functions
                                   else None), data=data, **params)
