"""How many kernels a study compiles, how numba inlines into them (sdesim._jit), and the kernels' blocks spread
over threads (sdesim.kernels.drivers).

Compiling is most of a first study's time (benchmarks/RESULTS.md, "Compile time"): the default study
compiles one kernel, and every kernel runs its blocks in numba's threads with one thread's numbers.
"""

import sys

import numba
import numpy as np
import pytest

from sdesim.kernels import drivers
from sdesim.kernels.slicing import Slicer, slots_per_block
from sdesim.kernels.stats import BlockStats
from sdesim.problems import quadratic
from sdesim.simulate import Run


def compiled_kernels() -> int:
    """The compiled signatures of every path kernel loaded in this process."""
    return sum(len(getattr(module, name).signatures) for key, module in list(sys.modules.items())
               if key.startswith("sdesim_kernel") for name in drivers.KERNELS if hasattr(module, name))


def test_the_default_study_compiles_one_kernel(capsys):
    from sdesim.cli import main

    before = compiled_kernels()
    assert main(["converge", "--paths", "200", "--plot", "none", "--no-progress"]) in (0, 1, 3)
    assert compiled_kernels() - before <= 1


def test_block_ranges_are_views_of_their_blocks_and_paths():
    n_blocks, size = 5, 4
    stats = BlockStats.empty(n_blocks, 2, 3)
    spb = slots_per_block(size)
    resume = tuple(np.zeros((n_blocks * spb, 2)) for _ in range(5))
    args = {name: None for name in drivers.NAMES}
    args.update({field: getattr(stats, field) for field in drivers.PER_BLOCK},
                block_size=size, path_offset=40, n_paths=18, resume=resume)
    part = drivers.block_range(args, 3, 5, spb)
    assert part["path_offset"] == 52 and part["n_paths"] == 6    # blocks 3 and 4: paths 12 … 17 of the call
    assert np.shares_memory(part["means"], stats.means) and part["means"].shape[0] == 2
    assert all(rows.shape[0] == 2 * spb and np.shares_memory(rows, whole) for rows, whole in zip(part["resume"], resume))
    assert list(part) == drivers.NAMES


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
def test_blocks_in_threads_give_one_threads_numbers_bit_for_bit():
    """Two threads, each a range of blocks (an odd number of blocks, the last cut short, kept paths, calls
    sliced in steps): one thread's statistics and kept paths."""
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            run = Run(quadratic(2), "svag", l=2, lr=0.1, steps=6, seed=3, keep_paths=5, block_size=16)
            run.slicer = Slicer(steps=3)
            runs.append((run.blocks(0, 75), run.kept.copy()))
    finally:
        numba.set_num_threads(before)
    (one, kept_one), (two, kept_two) = runs
    for field in BlockStats.FIELDS:
        np.testing.assert_array_equal(getattr(two, field), getattr(one, field), err_msg=field)
    np.testing.assert_array_equal(kept_two, kept_one)


def test_a_kernel_compiles_with_shared_scopes_and_leaves_numba_as_it_was(monkeypatch):
    """Inlining in a kernel copies no scope (`sdesim._jit.scopes_shared_when_inlining`: numba copied the
    callee's scope once per block, most of a kernel's compile time), gives the inlined function's numbers,
    and leaves ``ir.Scope`` as it was afterwards, also when one compilation nests in another."""
    from numba.core import ir

    from sdesim import _jit

    shared = []
    monkeypatch.setattr(_jit, "_same_scope", lambda scope, memo: shared.append(scope) or scope)

    @numba.njit(inline="always")   # as sdesim._jit.jit and kernel_jit, without the disk cache: compiled here
    def helper(v, out):
        for j in range(v.shape[0]):
            if v[j] > 0.0:
                out[j] = 2.0 * v[j]
            else:
                out[j] = -v[j]

    @numba.njit(pipeline_class=_jit.KernelCompiler)
    def kernel(v, out):
        helper(v, out)
        helper(out, out)

    out = np.empty(3)
    kernel(np.array([1.5, -2.0, 0.25]), out)
    assert out.tolist() == [6.0, 4.0, 1.0]
    assert shared, "the kernel's inlining copied scopes"
    assert "__deepcopy__" not in vars(ir.Scope)
    with _jit.scopes_shared_when_inlining():
        with _jit.scopes_shared_when_inlining():
            pass
        assert vars(ir.Scope)["__deepcopy__"] is _jit._same_scope
    assert "__deepcopy__" not in vars(ir.Scope)
