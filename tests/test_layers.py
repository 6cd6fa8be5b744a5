"""Imports flow one way: each layer imports only from the layers below it.

L-1 atomic (atomic file writes) · L0 _checks, _jit, _importable, interrupts, result · L1 rng · L2 problems, kernels (kernels never
import problems) · L3 methods · L3.5 footprint (a run's cost) · L4 simulate, then executors · L5 estimators · L5.5 outputs · L5.75 cli_parser · L5.8 cli_problem · L6 cli, plotting, testing, validation, demos, then rerun (it parses with the cli's parser) · L6.75 lessons · L6.8 teach (the lessons' command) · L7 torch (the only unit that imports torch).
The core never imports torch, torchsde or matplotlib at module level.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sdesim"
LAYER = {"_checks": 0, "_jit": 0, "_importable": 0, "interrupts": 0, "result": 0, "atomic": -1, "rng": 1, "problems": 2, "kernels": 2,
         "methods": 3, "footprint": 3.5, "simulate": 4, "executors": 4.5, "estimators": 5, "cli": 6, "plotting": 6, "testing": 6, "lessons": 6.75,
         "validation": 6, "demos": 6,
         "cli_parser": 5.75,   # the cli's argument parser (negative values, the options given)
         "cli_problem": 5.8,   # the problem and adaptive options the commands share
         "outputs": 5.5,    # the files a command writes, checked before any work (cli, rerun)
         "rerun": 6.5,      # the rerun command: parses a record's argv with the cli's parser
         "teach": 6.8,      # the teach command: serves and exports the lessons (sdesim.lessons)
         "torch": 7}
HEAVY = ("torch", "torchsde", "matplotlib")


def unit(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def module_level_imports(path: Path):
    """Imports executed at import time (not those inside functions, which load lazily)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


FILES = [p for p in ROOT.rglob("*.py") if unit(p) in LAYER and p.name not in ("template.py", "template_steps.py", "template_lanes.py")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_down(path):
    here = unit(path)
    for name in module_level_imports(path):
        top = name.split(".")[0]
        if here != "torch":
            assert top not in HEAVY, f"{path.name} imports {name} at module level; the core must not"
        if top != "sdesim" or name == "sdesim":
            continue
        target = name.split(".")[1]
        assert target in LAYER, f"{path.name} imports unknown unit {name}"
        if target == here:
            continue
        assert LAYER[target] < LAYER[here], f"{path} (layer {LAYER[here]}) imports {name} (layer {LAYER[target]})"
        assert not (here == "kernels" and target == "problems"), "kernels must not import problems"


def test_every_unit_has_a_layer():
    units = {unit(p) for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT}
    assert units <= set(LAYER), f"units without a layer: {units - set(LAYER)}"


def torch_imports(path: Path):
    """The sdesim.torch modules ``path`` imports anywhere in it (module level or inside functions)."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["sdesim", "torch"] and len(parts) > 2:
                yield parts[2]
            elif isinstance(node, ast.ImportFrom) and name == "sdesim.torch":
                yield from (a.name for a in node.names if (ROOT / "torch" / f"{a.name}.py").exists())


def test_no_import_cycle_among_torch_modules():
    """No sdesim.torch module imports, even lazily inside a function, one that imports it back (directly or
    through others): each concept depends one way (the trainer on nsr, never nsr on the trainer)."""
    modules = {p.stem: p for p in (ROOT / "torch").glob("*.py") if p.stem != "__init__"}
    graph = {name: {target for target in torch_imports(path) if target in modules and target != name}
             for name, path in modules.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"import cycle among sdesim.torch modules: {' -> '.join(trail + [name])}"
        state[name] = "open"
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
