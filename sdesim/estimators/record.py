"""What a study's record holds so that it can be run again and checked: provenance.

- ``user_functions``: role → {"name": "module:qualname", "sha256": sha256 of the function's source}
  for every function of the user's in the study (a custom problem's functions, the ``--problem``
  factory, user test functions, a reference callable); a numba function's source is its
  ``py_func``'s.  The hash covers the function's own text, not the helpers it calls.
- ``versions``: sdesim, numpy, numba, scipy, python, and torch only when something already
  imported it (it is never imported here);
- ``git``: {"commit", "dirty"} when sdesim runs from a git checkout (``dirty``: uncommitted
  changes under ``sdesim/``), else null.

`changed_functions` and `differing_rows` are what ``sdesim rerun`` checks before and after it
repeats a study.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

import sdesim

PACKAGE = Path(sdesim.__file__).resolve().parent


def source_hash(fn) -> str | None:
    """sha256 of the source text of ``fn`` (a numba function's ``py_func``); None where there is no source."""
    try:
        source = inspect.getsource(getattr(fn, "py_func", fn))
    except (OSError, TypeError):   # defined interactively, a builtin, or no file behind it
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def function_entry(fn) -> dict:
    """{"name": "module:qualname", "sha256": …} of a user's function."""
    inner = getattr(fn, "py_func", fn)
    module = getattr(inner, "__module__", None) or "?"
    qualname = getattr(inner, "__qualname__", None) or type(fn).__name__
    return {"name": f"{module}:{qualname}", "sha256": source_hash(fn)}


def _is_users(fn) -> bool:
    module = getattr(getattr(fn, "py_func", fn), "__module__", None) or ""
    return module != "sdesim" and not module.startswith("sdesim.")


def user_functions(problem=None, user_tests=None, reference=None, factory=None) -> dict:
    """role → `function_entry` for each function of the user's: the problem's that are not sdesim's own
    ("problem mean_grad", …), the problem ``factory``, each user test ("test NAME"), a callable ``reference``."""
    found = {}
    if factory is not None:
        found["problem factory"] = function_entry(factory)
    for role, fn in (problem.functions.items() if problem is not None else ()):
        if fn is not None and _is_users(fn):
            found[f"problem {role}"] = function_entry(fn)
    for name, fn in (user_tests or {}).items():
        found[f"test {name}"] = function_entry(fn)
    if callable(reference):
        found["reference"] = function_entry(reference)
    return found


def versions() -> dict:
    """The versions that made the numbers; torch only when it is already loaded."""
    import scipy

    found = {"sdesim": sdesim.__version__, "numpy": np.__version__, "numba": numba.__version__,
             "scipy": scipy.__version__, "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "__version__"):
        found["torch"] = str(torch.__version__)
    return found


@functools.lru_cache(maxsize=1)
def git_commit() -> dict | None:
    """{"commit": HEAD, "dirty": bool} when the sdesim package is the ``sdesim/`` folder of a git checkout,
    else None (an installed package, no git, or a checkout of some other repository around it)."""
    root = PACKAGE.parent

    def git(*args):
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        top = git("rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != root:
            return None
        commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--", "sdesim")
    except (OSError, subprocess.SubprocessError):
        return None
    return None if commit is None else {"commit": commit, "dirty": bool(status)}


def changed_functions(recorded: dict, current: dict) -> list[str]:
    """Why the functions ``current`` would run are not those ``recorded`` (role → entry); empty when they are."""
    reasons = []
    for role, entry in recorded.items():
        now = current.get(role)
        if now is None:
            reasons.append(f"{role} {entry['name']} was in the study but the command now has none")
        elif entry.get("sha256") is None:
            reasons.append(f"{role} {entry['name']}: its source could not be read when the study ran, so it "
                           "cannot be checked")
        elif now["sha256"] != entry["sha256"]:
            reasons.append(f"{role} {entry['name']}: its source changed since the study ran (sha256 "
                           f"{entry['sha256'][:12]}… then, {str(now['sha256'])[:12]}… now)")
    reasons += [f"{role} {now['name']} is new: the study did not use it" for role, now in current.items()
                if role not in recorded]
    return reasons


def _same(a, b) -> bool:
    """Equal as the JSON record holds them (null for NaN; a float's repr is exact: to the last bit)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def differing_rows(recorded: list, rows: list) -> list[str]:
    """One line per row of ``rows`` that differs from ``recorded``'s row of the same (test, l), or is missing."""
    def key(row):
        return row["test"], row["l"]

    old, new = {key(r): r for r in recorded}, {key(r): r for r in rows}
    lines = []
    for k in dict.fromkeys([*old, *new]):
        if k not in new or k not in old:
            lines.append(f"{k[0]}, l = {k[1]}: only in the {'record' if k in old else 're-run'}")
            continue
        fields = [f for f in dict.fromkeys([*old[k], *new[k]]) if not _same(old[k].get(f), new[k].get(f))]
        if fields:
            lines.append(f"{k[0]}, l = {k[1]}: " + ", ".join(f"{f} {new[k].get(f)!r} (record {old[k].get(f)!r})"
                                                           for f in fields))
    return lines
