"""How fast the lessons are for a live class: the whole lesson, and the redraw after one control moves.

For each lesson named (default: every lesson file that exists in sdesim/lessons/):

* whole lesson: ``sdesim.lessons.load(name).run()`` top to bottom, headless; the first run in a
  fresh process (imports, kernels loaded from the disk cache) and the next runs (warm);
* redraw: for every control (a slider or dropdown a cell defines), set it to another allowed value
  and rerun, with marimo's own cell objects (``Cell.run``), exactly the cells that depend on it
  (transitively), as marimo does in the browser: the demos calls, the figures rendered into the
  page, the tables.  The browser's own drawing and the network are not included.

Aims (issue 22): whole lesson ≤ 30 s warm, redraw ≤ 1 s on 2 cores.  The machine's load average
is printed: on a shared machine the timings include the other users' work.

Run:  SDESIM_CACHE_DIR=~/.cache/sdesim .venv/bin/python benchmarks/bench_lessons.py [NAME ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

from sdesim import lessons


def another_value(element):
    """A value of a slider or dropdown other than its current one (the next allowed, or the one before)."""
    if hasattr(element, "options"):                       # dropdown: options maps labels to values
        allowed = list(element.options)
        current = element.selected_key if hasattr(element, "selected_key") else element.value
    else:                                                 # slider: its steps, or start/stop/step
        allowed = list(element.steps) if getattr(element, "steps", None) else None
        if allowed is None:
            allowed, v = [], element.start
            while v <= element.stop + 1e-12:
                allowed.append(v)
                v += element.step
        current = element.value
    i = min(range(len(allowed)), key=lambda j: abs(allowed[j] - current) if not isinstance(current, str)
            else (allowed[j] != current))
    j = i + 1 if i + 1 < len(allowed) else i - 1
    return allowed[j] if not hasattr(element, "options") else element.options[allowed[j]]


def controls(defs):
    import marimo as mo

    kinds = (mo.ui.slider, mo.ui.dropdown)
    return {name: value for name, value in defs.items() if isinstance(value, kinds)}


def redraw(app, defs, name, value):
    """Wall and CPU seconds (this process, all its threads) to rerun the cells that depend on control ``name``."""
    cells = list(app._cell_manager.cells())
    changed = {name}
    scope = dict(defs)
    scope[name] = SimpleNamespace(value=value)
    start, cpu = time.perf_counter(), time.process_time()
    for cell in cells:
        if changed & set(cell.refs):
            _, new = cell.run(**{ref: scope[ref] for ref in cell.refs if ref in scope})
            scope.update(new)
            changed |= set(cell.defs)
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="lessons (default: every lesson whose file exists)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing (default 3)")
    args = parser.parse_args(argv)
    names = args.names or [item.name for item in lessons.LESSONS if item.path.exists()]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; repeats {args.repeats}")
    print("| lesson | whole, first run (s) | whole, warm (s, median) | control → new value "
          "| redraw wall (s, median / max) | redraw CPU (s, median) |")
    print("|---|---:|---:|---|---:|---:|")
    for name in names:
        app = lessons.load(name)
        times = []
        for _ in range(args.repeats + 1):
            start = time.perf_counter()
            _, defs = app.run()
            times.append(time.perf_counter() - start)
        first, warm = times[0], statistics.median(times[1:])
        for i, (control, element) in enumerate(controls(defs).items()):
            value = another_value(element)
            runs = [redraw(app, defs, control, value) for _ in range(args.repeats)]
            wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
            head = (name, f"{first:.2f}", f"{warm:.2f}") if i == 0 else ("", "", "")
            shown = f"{value:.4g}" if isinstance(value, float) else value
            print(f"| {' | '.join(head)} | {control} → {shown} | {statistics.median(wall):.2f} / {max(wall):.2f} "
                  f"| {statistics.median(cpu):.2f} |")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
