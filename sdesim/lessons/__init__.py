"""Interactive lessons: marimo notebooks from "SGD is a stochastic process" to the square-root rule.

Each lesson is a marimo notebook in this folder (a plain Python file), served live with
``sdesim teach NAME`` and exported with ``sdesim teach NAME --export html|ipynb --out PATH``.
The lessons compute through `sdesim.demos` and the public API; they hold no formula of their own.
Importing this module does not import marimo: `load` does, and says how to install it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTALL = "pip install 'sdesim[teach]'"


@dataclass(frozen=True)
class Lesson:
    """One lesson: its command-line name, its title and the notebook file in this folder."""

    name: str
    title: str
    file: str

    @property
    def path(self) -> Path:
        return HERE / self.file


LESSONS = (
    Lesson("sgd-process", "1. SGD is a stochastic process", "sgd_process.py"),
    Lesson("sgd-to-sde", "2. From SGD to the SDE", "sgd_to_sde.py"),
    Lesson("stationary", "3. Is the stationary law Gibbs?", "stationary.py"),
    Lesson("weak-order", "4. Weak error and its order", "weak_order.py"),
    Lesson("scaling-rule", "5. When the approximation fails: the linear scaling rule", "scaling_rule.py"),
    Lesson("adaptive", "6. Adaptive methods and the square-root rule", "adaptive.py"),
)


def names() -> list[str]:
    return [lesson.name for lesson in LESSONS]


def lesson(name: str) -> Lesson:
    """The lesson called ``name``, or a ValueError that lists the names there are."""
    for item in LESSONS:
        if item.name == name:
            return item
    raise ValueError(f"no lesson {name!r}; the lessons are: {', '.join(names())}")


def require_marimo():
    """Import marimo, or raise ImportError naming the command that installs it."""
    try:
        import marimo
    except ImportError as exc:
        raise ImportError(f"the lessons need marimo, which is not installed; install it with: {INSTALL}") from exc
    return marimo


def load(name: str):
    """The lesson's marimo ``App`` (``app.run()`` runs it headless and returns its outputs and definitions)."""
    item = lesson(name)
    require_marimo()
    spec = importlib.util.spec_from_file_location(f"sdesim.lessons._notebook_{item.file[:-3]}", item.path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app
