"""The parallel path kernels: a ``prange`` loop over the blocks of paths, one call of a block function each.

The builder appends ``drivers_source()`` to the kernel template (`sdesim.kernels.build`).  A block
function (``any_block`` …, decorated ``block_jit``) is called, not inlined: numba's parallel passes
then see a one-line loop body, where over the whole inlined block they cost time more than linear
in its size (benchmarks/RESULTS.md, "Compile time").  The call passes the shared arrays once per
block; a block copies those it reads at every step, so threads share no reference count per step
(see sdesim._jit).  b is passed as an int64: numba types a ``prange`` index int64, then uint64 in the
parallel loop, which would compile the block function twice.
"""

ARGUMENTS = ("data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections, "
             "checkpoints, want, noise_rank, state_size, keep_every, constant_noise, "
             "counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume")
"""The arguments of every path kernel and of ``run_paths`` (`sdesim.kernels.template`)."""

KERNELS = {"run_paths_any": "any_block", "run_paths_scalar": "scalar_block",
           "run_paths_lanes": "lanes_block", "run_paths_lanes_scalar": "lanes_scalar_block"}
"""Each path kernel and the template's function that runs one of its blocks."""


def drivers_source() -> str:
    """The source of the path kernels, one per entry of ``KERNELS``."""
    return "".join(f"\n\n@parallel_jit\ndef {kernel}({ARGUMENTS}):\n"
                   f'    """Every block of paths of this call, in parallel: ``{block}`` on each."""\n'
                   f"    for b in prange(counts.shape[0]):\n"
                   f"        {block}(np.int64(b), {ARGUMENTS})\n"
                   for kernel, block in KERNELS.items())
