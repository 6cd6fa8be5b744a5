"""Where a study's E g(X_t) comes from, test function by test function.

Each test keeps the best reference it has, whatever the other tests are:

==================  ===========================================================================
``user``            your callable ``exact(name, times)`` returned E g(X_t) for this test
``exact``           the problem's closed-form SDE (every built-in test and ``norm4`` on the
                    quadratic problem), or its exact moment ODE (quadratic tests on least
                    squares with i.i.d. batches)
``extrapolation``   Richardson in l from the two finest levels, which then leave this test's fit:
                    with e(l) ≈ C/l, E g(X) ≈ (r ĝ(L) − ĝ(L/r)) / (r − 1)
``euler``           Euler–Maruyama with a step ``euler_factor`` times finer than the finest level
==================  ===========================================================================

``reference="auto"`` takes ``user``, then ``exact``, then ``extrapolation``; naming one of
``exact``, ``extrapolation`` or ``euler`` asks for it for every test the callable leaves out.
"""

from __future__ import annotations

import numpy as np

from sdesim.estimators.exact_moments import ExactMoments
from sdesim.estimators.test_functions import EXTRA_TESTS, gaussian_norm4
from sdesim.problems.base import Problem
from sdesim.simulate import BUILTIN_OBSERVABLES

REFERENCES = ("auto", "exact", "extrapolation", "euler")


def check_reference(reference):
    """A reference name or a callable ``exact(name, times)``."""
    if callable(reference):
        return reference
    if not isinstance(reference, str) or reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; choose one of {', '.join(REFERENCES)}, or pass a "
                         "callable exact(name, times) returning E g(X_t) for the test function called name")
    return reference


def why_not_exact(problem: Problem, test: str) -> str | None:
    """None if the problem gives the exact SDE value of the built-in ``test``, else why not."""
    if test not in BUILTIN_OBSERVABLES and test not in EXTRA_TESTS:
        return f"{test!r} is your own test function: pass its exact values with reference=callable"
    if problem.has_exact_sde:
        return None
    if not problem.has_linear_quadratic:
        return f"problem {problem.name!r} has neither a closed-form SDE nor closed moments"
    if test in EXTRA_TESTS:
        return (f"{test!r} needs more than two moments, and the SDE of {problem.name!r} is not Gaussian, so only "
                "its first two moments are exact")
    return None


def exact_sde_values(problem: Problem, lr, tests, times, x0) -> dict:
    """E g(X_t) for each built-in test at each time: (times,) or (times, d) arrays."""
    if problem.has_exact_sde:
        sde = problem.exact_sde
        per_time = []
        for t in times:
            values = sde.observables(t, x0, lr)
            values["norm4"] = gaussian_norm4(sde.mean(t, x0), sde.cov(t, lr))
            per_time.append(values)
        return {test: np.array([v[test] for v in per_time]) for test in tests}
    engine = ExactMoments(problem, lr)
    values = engine.observables(engine.sde_moments(times, x0))
    return {test: values[test] for test in tests}


def user_values(reference, test: str, times: np.ndarray, size: int):
    """The callable's E g(X_t) for ``test`` at ``times``, checked: None if it has none for this test."""
    try:
        values = reference(test, np.array(times))
    except Exception as error:   # the user's code: say whose it is
        raise ValueError(f"the reference callable {getattr(reference, '__name__', reference)!r} failed for test "
                         f"{test!r}: {type(error).__name__}: {error}") from error
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    want = (len(times),) if size == 0 else (len(times), size)
    if values.shape != want and not (size == 1 and values.shape == (len(times),)):
        raise ValueError(f"the reference callable returned shape {values.shape} for test {test!r}; expected {want} "
                         f"(one value{'' if size == 0 else ' per component'} at each of the {len(times)} times), "
                         "or None for a test it has no value for")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"the reference callable returned values that are not finite for test {test!r}: "
                         f"{values.ravel()[~np.isfinite(values.ravel())][:3].tolist()}")
    return values.reshape(want)


def plan_references(problem: Problem, reference, tests: dict, times, lr, x0) -> dict:
    """{test: (kind, exact values or None)} for each test (``tests`` maps name → size, 0 for a scalar).

    Every callable value is fetched and checked here, before any path moves.
    """
    plan = {}
    for test, size in tests.items():
        if callable(reference):
            values = user_values(reference, test, times, size)
            if values is not None:
                plan[test] = ("user", values)
                continue
            mode = "auto"
        else:
            mode = reference
        why = why_not_exact(problem, test)
        if mode in ("auto", "exact") and why is None:
            plan[test] = ("exact", None)
        elif mode == "exact":
            raise ValueError(f"reference 'exact' does not exist for test {test!r}: {why}; use 'extrapolation', "
                             "'euler', or pass a callable with its exact values")
        else:
            plan[test] = ("extrapolation" if mode == "auto" else mode, None)
    closed = [t for t, (kind, _) in plan.items() if kind == "exact"]
    if closed:
        values = exact_sde_values(problem, lr, closed, times, x0)
        for t in closed:
            plan[t] = ("exact", np.asarray(values[t], float))
    return plan
