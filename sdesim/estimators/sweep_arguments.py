"""The arguments of an order study's sweep: its horizon, its l values, the levels of its fit and its error kind."""

from __future__ import annotations

import numpy as np

from sdesim._checks import choice

ERROR_KINDS = ("max_over_steps", "at_time")


def horizon_steps(unit: float, time: float, name: str = "η") -> int:
    """T/unit, the number of steps of ``unit`` to the horizon T = ``time``; refused unless a whole number ≥ 1."""
    steps = time / unit
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps) or round(steps) < 1:
        raise ValueError(f"the horizon T = {time:g} is not a whole number of steps of {name} = {unit:g} "
                         f"(T/{name} = {steps:g}); choose T = k{name} for an integer k ≥ 1")
    return int(round(steps))


def l_values_of(l_values) -> tuple:
    """The sweep's l values, sorted: at least two distinct integers ≥ 1."""
    if isinstance(l_values, (str, bytes)) or not np.iterable(l_values):
        raise ValueError(f"l values must be a list of integers >= 1, got {l_values!r}")
    values = []
    for v in l_values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not float(v).is_integer() or v < 1:
            raise ValueError(f"l values must be integers >= 1, got {v!r}")
        values.append(int(v))
    if len(set(values)) != len(values):
        raise ValueError(f"l values must be distinct, got {list(l_values)}")
    if len(values) < 2:
        raise ValueError("a sweep needs at least two l values")
    return tuple(sorted(values))


def fit_levels(l_values: tuple, fit_from: int, extrapolated: bool = False) -> list:
    """The l values of a fit: those ≥ ``fit_from``, less the two finest when they make the (extrapolated) reference."""
    return [l for l in l_values if l >= fit_from and not (extrapolated and l in l_values[-2:])]


def check_fit_range(l_values: tuple, fit_from: int, extrapolated: bool) -> None:
    """Refuse, before any work, a fit range that holds no level of the sweep."""
    if fit_levels(l_values, fit_from, extrapolated):
        return
    listed = ", ".join(map(str, l_values))
    if not extrapolated or fit_from > l_values[-1]:
        raise ValueError(f"fit_from = {fit_from} is above every l of the sweep ({listed}): the fit would have no "
                         f"level; give fit_from at most {l_values[-1]}, or add larger l values")
    raise ValueError(f"reference 'extrapolation' takes the two finest l ({l_values[-2]}, {l_values[-1]}) out of the "
                     f"fit, which leaves no l ≥ fit_from = {fit_from} of the sweep ({listed}) to fit; add l values "
                     f"above {l_values[-1]}, or lower fit_from to at most {l_values[-3] if len(l_values) > 2 else 1}, "
                     "or use another reference")


def error_kind(value: str) -> str:
    """'max_over_steps' or 'at_time' (hyphens allowed, as on the command line)."""
    value = value.replace("-", "_") if isinstance(value, str) else value
    return choice("error", value, ERROR_KINDS)
