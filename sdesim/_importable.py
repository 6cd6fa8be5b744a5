"""Naming compiled functions by 'module:qualname' so they can be imported again."""

from __future__ import annotations

import importlib


def function_path(fn) -> str | None:
    """'module:qualname' if ``fn`` can be imported back by that name, else None."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<locals>" in qualname:
        return None
    try:
        found = import_function(f"{module}:{qualname}")
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if found is fn else None


def import_function(path: str):
    """The object named by 'module:qualname'."""
    module, _, qualname = path.partition(":")
    found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def import_named(spec: str, what: str):
    """The object named 'module:name', importable from the current directory or PYTHONPATH, or a clear error.

    ``what`` says what the object is for, in the messages (e.g. "--problem factory").
    """
    import os
    import sys

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"{what} must be given as module:name (e.g. my_module:make_problem), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())   # as `python -m` does: modules in the current directory import
    try:
        return import_function(spec)
    except ModuleNotFoundError as error:
        raise ValueError(f"{what} {spec!r}: no module named {error.name!r} in the current directory or on "
                         "PYTHONPATH") from None
    except AttributeError:
        raise ValueError(f"{what} {spec!r}: module {module!r} has no {name!r}") from None
