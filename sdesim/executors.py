"""Running a study's tasks in-process or on a Dask cluster, with the same numbers either way.

A task is one (label, run settings, block-aligned range of paths).  Its block
statistics merge exactly with those of the other ranges of the same label, in any
order (`BlockStats`), so where a task runs does not
change the result.  Ctrl-C (or SIGTERM, `sdesim.interrupts`) stops cleanly, within a kernel call (about
0.4 s, `sdesim.kernels.slicing`): labels whose tasks all finished are kept, and once a signal came every
later study stops before its first task.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sdesim import interrupts
from sdesim._checks import positive_float
from sdesim.kernels.stats import BlockStats
from sdesim.problems.base import Problem
from sdesim.footprint import Footprint, check_footprint, progress_bar
from sdesim.simulate import Run


@dataclass(frozen=True)
class Task:
    """One unit of a study's work: ``paths`` paths of the level ``label`` from path ``path_offset`` on, run as
    `sdesim.simulate.Run` with ``settings``; the same tasks give the same numbers on any executor."""

    label: tuple          # e.g. ("svag", 8)
    settings: dict        # keyword arguments of Run
    path_offset: int
    paths: int


@dataclass
class Outcome:
    """Merged statistics per label, the runs that describe them, and whether Ctrl-C cut the study short."""

    stats: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    interrupted: bool = False


def split(label: tuple, run: Run, settings: dict, paths: int, tasks_per_label: int = 8) -> list[Task]:
    """Cut ``paths`` into about ``tasks_per_label`` block-aligned tasks."""
    blocks = -(-paths // run.block_size)
    per = max(1, -(-blocks // tasks_per_label)) * run.block_size
    return [Task(label, settings, start, min(per, paths - start)) for start in range(0, paths, per)]


def run_task(problem: Problem, settings: dict, path_offset: int, paths: int) -> BlockStats:
    """Run one task (also on a Dask worker, where the kernel loads from the disk cache)."""
    return Run(problem, **settings).blocks(path_offset, paths)


def execute(problem: Problem, tasks: list[Task], runs: dict, *, client=None, progress: bool = False,
            desc: str = "paths") -> Outcome:
    """Run the tasks and merge their statistics per label.  ``runs`` maps label → prepared Run.

    The work (path-steps) and memory are estimated first, and a study that would not fit in
    memory is refused before any path moves; the progress bar counts path-steps.
    """
    parts, expected = defaultdict(dict), defaultdict(int)
    for task in tasks:
        expected[task.label] += 1
    footprint = Footprint.combine(runs[task.label].footprint(task.paths) for task in tasks)
    check_footprint(footprint, f"{sum(t.paths for t in tasks)} paths in all, over {len(expected)} levels",
                    "Use fewer paths or fewer l values")
    steps = {label: int(run.small[-1]) for label, run in runs.items()}
    bar = progress_bar(footprint, desc) if progress else None
    interrupted = False
    try:
        if client is None:
            for task in tasks:
                if interrupts.received():   # an interrupt an earlier study kept: stop this one too
                    raise KeyboardInterrupt
                parts[task.label][task.path_offset] = runs[task.label].blocks(task.path_offset, task.paths)
                if bar is not None:
                    bar.update(task.paths * steps[task.label])
        else:
            from distributed import as_completed

            futures = {client.submit(run_task, problem, task.settings, task.path_offset, task.paths, pure=False): task
                       for task in tasks}
            try:
                for future in as_completed(futures):
                    task = futures[future]
                    parts[task.label][task.path_offset] = future.result()
                    if bar is not None:
                        bar.update(task.paths * steps[task.label])
            except KeyboardInterrupt:
                client.cancel(list(futures))
                raise
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    outcome = Outcome(interrupted=interrupted)
    for label, got in parts.items():
        if len(got) == expected[label]:   # blocks in path order, however the tasks finished
            outcome.stats[label] = BlockStats.concatenate([got[offset] for offset in sorted(got)])
            outcome.runs[label] = runs[label]
    return outcome


def connect(scheduler, timeout: float | None = None):
    """A Dask client from an address ('tcp://host:8786') or an existing client (returned as it is).

    ``timeout``: seconds to wait for the scheduler (None: dask's ``distributed.comm.timeouts.connect``,
    30 s unless configured).  A scheduler that cannot be reached raises a ValueError naming it.
    """
    if scheduler is None or not isinstance(scheduler, str):
        return scheduler
    options = {} if timeout is None else {"timeout": positive_float("scheduler timeout (seconds)", timeout)}
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("a scheduler address needs dask.distributed: pip install 'sdesim[dask]'") from None
    try:
        return Client(scheduler, **options)
    except OSError as error:   # refused, unreachable or timed out (TimeoutError is an OSError)
        waited = f"{timeout:g} s" if timeout is not None else "dask's connect timeout"
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} (waited {waited}: {error}); check the "
                         "address, start one with 'dask scheduler' and workers with 'dask worker ADDRESS', or "
                         "wait longer (--scheduler-timeout SECONDS, or connect(address, timeout=...))") from None
