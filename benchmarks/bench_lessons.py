"""How fast the lessons are for a live class (issue 22, point 3): a whole lesson top to bottom, and a redraw.

For each lesson (`sdesim.lessons.LESSONS` whose notebook is in the tree, or the notebooks named with --notebook):

- **whole lesson, warm**: ``app.run()`` (marimo's headless run of every cell, in this process) once to warm up
  (the kernels compile or load from the disk cache), then ``--runs`` more times, timed; aim ≤ 30 s.
- **redraw in the served app**: ``sdesim teach NAME --no-browser --port P`` in a subprocess, opened in headless
  Chromium (Debian's chromium and chromedriver, through Selenium: tests/teach_browser.py); after the page has
  settled, its first control (a slider or a dropdown, in page order) is moved one step (an arrow key, or the next option) ``--moves`` times, and each move is timed from the
  key press to (first) the first change of a number shown by another cell, and (settled) the last change of any
  other cell's output text, i.e. when the redraw is complete; aim ≤ 1 s.  The first move is dropped as a
  warm-up (a new value may still compile a kernel variant); the table gives the median and the worst of the rest.
  This is what a student sees, browser round trip included.  Needs the browser (apt-get install chromium
  chromium-driver); without it the redraw columns say so.

Run from the repository root, after the lessons' kernels have compiled once (any run does that):

    .venv/bin/python benchmarks/bench_lessons.py                     # every lesson in the tree
    .venv/bin/python benchmarks/bench_lessons.py --notebook tests/data/teach_fixture.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import teach_browser  # noqa: E402  (tests/teach_browser.py)

from sdesim import lessons  # noqa: E402


def app_of(notebook: str):
    """The marimo App of a lesson (its name) or of a notebook file (its path)."""
    if notebook in lessons.names():
        return lessons.load(notebook)
    spec = importlib.util.spec_from_file_location(f"bench_notebook_{Path(notebook).stem}", notebook)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def whole_lesson(notebook: str, runs: int) -> tuple[float, list[float]]:
    """(seconds of the warm-up run, seconds of each warm run) of ``app.run()``."""
    app = app_of(notebook)
    start = time.perf_counter()
    app.run()
    warmup = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
    return warmup, times


def redraws(notebook: str, moves: int) -> tuple[float, list[float], list[float]]:
    """(seconds to open the served lesson, first-change seconds, settled seconds) for each move but the first."""
    with teach_browser.served(notebook) as (url, _), teach_browser.chromium() as driver:
        start = time.perf_counter()
        teach_browser.open_lesson(driver, url)
        opened = time.perf_counter() - start
        first, settled = [], []
        for _ in range(moves + 1):
            _, _, to_first, to_settled = teach_browser.redraw(driver)
            first.append(to_first)
            settled.append(to_settled)
    return opened, first[1:], settled[1:]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", action="append", help="a lesson's name or a notebook's path (repeatable; "
                                                             "default: every lesson in the tree)")
    parser.add_argument("--runs", type=int, default=3, help="warm whole-lesson runs (default: 3)")
    parser.add_argument("--moves", type=int, default=5, help="timed control moves after a warm-up move (default: 5)")
    args = parser.parse_args()
    notebooks = args.notebook or [item.name for item in lessons.LESSONS if item.path.is_file()]
    if not notebooks:
        parser.error("no lesson's notebook is in the tree yet; name one with --notebook")
    browser = teach_browser.unavailable()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}; {load()}")
    print("whole lesson: app.run() warm, best and median of the runs; redraw: served app in headless Chromium, "
          "first control moved one step, median and worst of the moves\n")
    print("| lesson | warm-up run (s) | whole lesson warm, best / median (s) | page open (s) "
          "| redraw, first number (s) | redraw complete, median / worst (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for notebook in notebooks:
        warmup, times = whole_lesson(notebook, args.runs)
        row = f"| {notebook} | {warmup:.2f} | {min(times):.2f} / {statistics.median(times):.2f} "
        if browser is None:
            opened, first, settled = redraws(notebook, args.moves)
            row += (f"| {opened:.2f} | {statistics.median(first):.2f} "
                    f"| {statistics.median(settled):.2f} / {max(settled):.2f} |")
        else:
            row += f"| no browser: {browser} | | |"
        print(row, flush=True)
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
