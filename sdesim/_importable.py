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


class UserModuleError(ImportError, ValueError):
    """A user's module did not import; the message names it and says why (a ValueError too: bad input, exit 2)."""


def import_module(module: str):
    """``importlib.import_module(module)``, or a `UserModuleError` naming the module and the reason: not found,
    a syntax error, a missing dependency, an exception while it ran, or a file path given for a module name."""
    if module.endswith(".py") or "/" in module or "\\" in module:
        raise UserModuleError(f"module {module!r}: give a module's name (my_module for my_module.py, importable from "
                              "the current directory or PYTHONPATH), not a file path", name=module)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and (module == error.name or module.startswith(error.name + ".")):
            reason = "no such module in the current directory or on PYTHONPATH"
        else:
            reason = f"it imports {error.name!r}, which is not installed or not found (a missing dependency)"
    except SyntaxError as error:
        reason = f"a syntax error in {error.filename}, line {error.lineno}: {error.msg}"
    except Exception as error:   # the module's own code failed while it ran
        tb = error.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = "" if tb is None else f" (at {tb.tb_frame.f_code.co_filename}, line {tb.tb_lineno})"
        reason = f"importing it raised {type(error).__name__}: {error}{where}"
    raise UserModuleError(f"module {module!r} could not be imported: {reason}", name=module)


def import_function(path: str):
    """The object named by 'module:qualname' (a `UserModuleError` if the module does not import)."""
    module, _, qualname = path.partition(":")
    found = import_module(module)
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
    except UserModuleError as error:
        raise UserModuleError(f"{what} {spec!r}: {error}", name=module) from None
    except AttributeError:
        raise ValueError(f"{what} {spec!r}: module {module!r} has no {name!r}") from None
