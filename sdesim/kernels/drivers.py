"""The path kernels: the blocks of paths of one call, spread over threads, each block compiled code with no
parallel loop.

``drivers_source()`` is appended to the kernel template by the builder (`sdesim.kernels.build`): each
kernel (``run_paths_any`` …) is a plain compiled function that runs the blocks it is given one after
another, the template's block function (``any_block`` …) inlined into it.  `in_threads` gives each of
numba's threads (`numba.get_num_threads`) a contiguous range of blocks: views of the per-block arrays
and of the resume rows, and the paths of those blocks.  Every block's statistics depend on its paths
alone, so the numbers are those of one thread bit for bit.

Why not a ``prange`` loop: numba's parallel passes over the inlined body of a block cost time more than
linear in its size, and the loop is linked and optimized four times over (its gufunc and three
wrappers): the first study compiled in half the time without it (benchmarks/RESULTS.md, "Compile
time").  Of those passes the kernels keep the one their speed needs, copy propagation
(`sdesim._jit.CopyPropagation`).  The kernels release the GIL (``nogil``), so the threads run in parallel, and an
exception raised in a range reaches the caller as from any compiled call.
"""

from __future__ import annotations

import threading

import numba

ARGUMENTS = ("data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections, "
             "checkpoints, want, noise_rank, state_size, keep_every, constant_noise, "
             "counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume")
"""The arguments of every path kernel and of ``run_paths`` (`sdesim.kernels.template`)."""

KERNELS = {"run_paths_any": "any_block", "run_paths_scalar": "scalar_block",
           "run_paths_lanes": "lanes_block", "run_paths_lanes_scalar": "lanes_scalar_block"}
"""Each path kernel and the template's function that runs one of its blocks."""

NAMES = ARGUMENTS.split(", ")
PER_BLOCK = ("counts", "means", "m2s", "comoments", "bad_counts", "first_bad")   # arrays with a row per block


def drivers_source() -> str:
    """The source of the path kernels, one per entry of ``KERNELS``."""
    return "".join(f"\n\n@kernel_jit\ndef {kernel}({ARGUMENTS}):\n"
                   f'    """The blocks of paths of this call, one after another: ``{block}`` on each."""\n'
                   f"    for b in range(counts.shape[0]):\n"
                   f"        {block}(b, {ARGUMENTS})\n"
                   for kernel, block in KERNELS.items())


def block_range(args: dict, first: int, last: int, slots_per_block: int) -> dict:
    """``args`` (a kernel's arguments by name) for blocks first … last − 1 alone: views of the per-block
    arrays and of their resume rows, and their paths."""
    part = dict(args)
    for name in PER_BLOCK:
        part[name] = args[name][first:last]
    if args["resume"][0].shape[0] > 0:
        part["resume"] = tuple(rows[first * slots_per_block:last * slots_per_block] for rows in args["resume"])
    size = args["block_size"]
    part["path_offset"] = args["path_offset"] + first * size
    part["n_paths"] = min(args["n_paths"] - first * size, (last - first) * size)
    return part


def in_threads(kernel, args: dict, slots_per_block: int) -> None:
    """``kernel(*args.values())`` (``args`` in the order of ``NAMES``) with its blocks split into one contiguous range per thread, the first range in the
    calling thread.  A signal that arrives meanwhile is raised once every range has finished, as it would be
    after one compiled call; an exception of a range is raised after that too (the first range's first)."""
    n_blocks = args["counts"].shape[0]
    threads = max(1, min(numba.get_num_threads(), n_blocks))
    if threads == 1:
        kernel(*args.values())
        return
    bounds = [n_blocks * t // threads for t in range(threads + 1)]
    parts = [block_range(args, bounds[t], bounds[t + 1], slots_per_block) for t in range(threads)]
    errors: list = [None] * threads

    def run(t):
        try:
            kernel(*parts[t].values())
        except BaseException as error:   # raised below, in the calling thread
            errors[t] = error

    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(1, threads)]
    for worker in workers:
        worker.start()
    run(0)
    interrupted = None
    for worker in workers:
        while worker.is_alive():
            try:
                worker.join()
            except BaseException as signal:   # Ctrl-C or SIGTERM: the ranges finish first
                interrupted = interrupted or signal
    for error in [*errors, interrupted]:
        if error is not None:
            raise error
