"""What a user's function may not do to a run: move its path, pass a NaN off as divergence, fail anonymously.

- **x is read-only to observables.** The kernel hands each user observable (and test function) its
  own copy of x, in a scratch buffer (``user_observables_source``): a function that writes into its
  argument changes its copy, never the path (benchmarks/RESULTS.md §12 measures the cost).
- **NaN is not divergence.** A path diverges when its state x leaves the finite numbers (or an
  observable overflows to ±inf as |x| grows). At a checkpoint x is finite, so a NaN in an
  observable is that observable's own: ``nan_observables`` replaces it by 0 and raises the
  observable's flag, an entry of the observation vector after the length checks, and the run
  then stops with an error naming the function, the first time and how many paths
  (`Guard.check_nans`): averaging the other observables over the paths where it is a number would
  bias them.  Flags exist for ``loss``, ``grad_norm2``, ``noise_trace`` (a problem's functions)
  and every user observable.
- **A failure names its function.** `Guard.naming_failures` finds the user function an exception
  came from (numba reports it as the last frame).  The kernels have no parallel loop (their blocks
  run in threads, sdesim.kernels.drivers), so a function that can raise runs on every thread.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from sdesim._jit import jit

FLAGGED_BUILTINS = ("loss", "grad_norm2", "noise_trace")   # the built-in observables a problem's functions compute


def user_observables_source(sizes: list[int]) -> str:
    """``user_observables(x, obs, j, seen)``: write the user observables into obs from entry j on, then zero the flags.

    Each function is called on ``seen`` (a scratch array of x's shape, which the kernel frees for it)
    holding a copy of x made just before the call, so that a write into its argument moves neither
    the path nor the next function's view of it.
    A vector one (size > 0) is copied only when it has the length it had at x0; otherwise its
    entries are 0 and its length check, after all the observables, is 1 instead of 0, which
    ``Layout.check_lengths`` (sdesim.simulate) turns into an error.  A copy cut short or
    overrunning would fail inside the parallel kernel, where numba cannot raise cleanly.
    The entries after the checks are the NaN flags (``nan_observables``), 0 until a NaN raises one.
    """
    lines = ["@jit", "def user_observables(x, obs, j, seen):",
             f"    check = j + {sum(max(size, 1) for size in sizes)}"]
    for i, size in enumerate(sizes):
        lines.append("    for k in range(x.shape[0]):")
        lines.append("        seen[k] = x[k]")
        if size == 0:
            lines.append(f"    obs[j] = user_{i}(seen)")
            lines.append("    j += 1")
        else:
            lines.append(f"    value_{i} = user_{i}(seen)")
            lines.append(f"    fits = len(value_{i}) == {size}")
            lines.append(f"    for k in range({size}):")
            lines.append(f"        obs[j + k] = value_{i}[k] if fits else 0.0")
            lines.append("    obs[check] = 0.0 if fits else 1.0")
            lines.append("    check += 1")
            lines.append(f"    j += {size}")
    lines.append("    for k in range(check, obs.shape[0]):")
    lines.append("        obs[k] = 0.0")
    lines.append("    return None")
    sizes_line = f"USER_SIZES = numpy.array({[max(s, 1) for s in sizes]}, dtype=numpy.int64)   # for nan_observables"
    return "\n".join(["import numpy", *lines, sizes_line]) + "\n"


@jit
def nan_observables(obs, want, d, user_sizes):
    """At a checkpoint (x finite): turn each NaN of a flagged observable into 0 and raise its flag.

    ``want`` flags the built-ins (sdesim.simulate.BUILTIN_OBSERVABLES order), ``user_sizes`` the user
    observables' entries.  Returns False where some non-finite entry is not such a NaN (±inf: an
    overflow as |x| grows, or a NaN where only x's overflow can put one): the path has diverged.
    """
    n_flags = user_sizes.shape[0]
    for s in range(2, 5):
        if want[s]:
            n_flags += 1
    flag = obs.shape[0] - n_flags
    handled = True
    j = 0
    for s in range(7):
        if not want[s]:
            continue
        n = d if s == 0 or s == 5 or s == 6 else 1
        flagged = 2 <= s <= 4
        for k in range(j, j + n):
            if not np.isfinite(obs[k]):
                if flagged and np.isnan(obs[k]):
                    obs[k] = 0.0
                    obs[flag] = 1.0
                else:
                    handled = False
        j += n
        if flagged:
            flag += 1
    for i in range(user_sizes.shape[0]):
        for k in range(j, j + user_sizes[i]):
            if not np.isfinite(obs[k]):
                if np.isnan(obs[k]):
                    obs[k] = 0.0
                    obs[flag] = 1.0
                else:
                    handled = False
        j += user_sizes[i]
        flag += 1
    return handled


class UserFunctionError(ValueError):
    """A user's function raised while the paths ran; the message names it (a ValueError: bad input, exit 2)."""


def function_name(fn) -> str:
    """'module:qualname' of a (numba-compiled) function."""
    inner = getattr(fn, "py_func", fn)
    return f"{getattr(inner, '__module__', None) or '?'}:{getattr(inner, '__qualname__', repr(fn))}"


class Guard:
    """The functions a kernel calls, by role, for the messages that name one: a problem's (``functions``, a
    `ProblemFunctions`) and the user observables (``observables``, name → function)."""

    SOURCES = {"loss": "loss", "grad_norm2": "mean_grad", "noise_trace": "noise_factor"}   # flagged built-in → role

    def __init__(self, problem_name: str, functions, observables: dict):
        self.problem_name, self.functions, self.observables = problem_name, functions, observables
        self.roles = {f"{role} of problem {problem_name!r}": fn for role, fn in functions.items() if fn is not None}
        self.roles.update({f"observable {name!r}": fn for name, fn in observables.items()})

    def naming_failures(self, kernel):
        """``kernel`` turning an exception from one of the functions into a `UserFunctionError` naming its role,
        module:qualname, file and line (numba's traceback ends in a frame of the function's own source);
        other exceptions pass unchanged."""
        @functools.wraps(kernel)
        def guarded(*args):
            try:
                return kernel(*args)
            except Exception as error:
                raise self._named(error) from error

        return guarded

    def _named(self, error: Exception) -> Exception:
        tb = error.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        code = None if tb is None else tb.tb_frame.f_code
        for role, fn in self.roles.items():
            own = getattr(getattr(fn, "py_func", fn), "__code__", None)
            if code is not None and own is not None and own.co_name == code.co_name and \
                    os.path.basename(own.co_filename) == os.path.basename(code.co_filename):
                # by file name, not path: a kernel cached from another checkout keeps that checkout's paths
                return UserFunctionError(f"{role} ({function_name(fn)}, {code.co_filename}:{tb.tb_lineno}) raised "
                                         f"{type(error).__name__}: {error} while the paths ran, so this run has no "
                                         "result")
        return error

    def describe(self, name: str) -> str:
        """Whose function observable ``name`` (one with a NaN flag) is."""
        if name in self.observables:
            return f"observable {name!r} ({function_name(self.observables[name])})"
        role = self.SOURCES[name]
        return (f"observable {name!r}, from the {role} of problem {self.problem_name!r} "
                f"({function_name(getattr(self.functions, role))}),")

    def check_nans(self, means: np.ndarray, counts: np.ndarray, flags: dict, times: np.ndarray) -> None:
        """Raise if a NaN flag was raised, naming the first observable that had one, the first time and the paths.

        ``means`` and ``counts`` are block statistics (blocks × checkpoints × entries, blocks × checkpoints),
        ``flags`` maps an observable's name to its flag's entry (whose mean is the share of paths flagged).
        """
        for name, index in flags.items():
            hits = np.rint(means[:, :, index] * counts).sum(axis=0)
            if not np.any(hits):
                continue
            first = int(np.argmax(hits > 0))
            raise ValueError(f"{self.describe(name)} returned NaN at t = {times[first]:g} on {int(hits[first])} of "
                             f"{int(counts[:, first].sum())} paths, where x was finite: a NaN is the function's, not "
                             "a divergence of the paths, and averaging the other observables over the paths where it "
                             "is a number would bias them, so this run has no result; make it a number wherever the "
                             "paths go (log x at x ≤ 0, √x at x < 0 and 0/0 give NaN)")
