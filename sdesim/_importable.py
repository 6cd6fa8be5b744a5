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
