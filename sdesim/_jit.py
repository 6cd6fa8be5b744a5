"""The one home of numba options: every compiled function in sdesim uses one of these.

``cache=True`` keeps compiled machine code on disk so a second process starts at
once; ``fastmath`` stays off because reassociated sums would break the
bit-for-bit reproducibility of the statistics.

Why ``inline="always"``: a compiled call that receives arrays increments and
decrements their reference counts atomically.  Inside a parallel kernel, arrays
shared by all threads (a problem's data) then bounce their reference count between
cores at every step, which made early kernels about 30 times slower than a bare
loop.  Inlined at numba's IR level, the calls disappear and so do the counts.
"""

import contextlib

import numba
import numba.extending
from numba.core import ir, ir_utils
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.typed_passes import NopythonRewrites


@register_pass(mutates_CFG=True, analysis_only=False)
class CopyPropagation(FunctionPass):
    """numba's copy propagation and dead-code removal (``ir_utils.simplify``) over the typed IR.

    Inlining a helper binds each of its array arguments to a new variable, and numba counts a
    reference for each binding, atomically; copy propagation, which numba's parallel passes run over
    a ``prange`` body, removes those copies before lowering, and with them the counts: without it the
    steps took 12 times as long (benchmarks/RESULTS.md, "Compile time")."""

    _name = "sdesim_copy_propagation"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        ir_utils.simplify(state.func_ir, state.typemap, state.calltypes, state.metadata)
        return True


@contextlib.contextmanager
def scopes_shared_when_inlining():
    """While a kernel compiles, a copied block of numba IR keeps its scope instead of copying it.

    numba inlines a call of an ``inline="always"`` function by copying the callee's IR block by
    block (``InlineWorker.inline_ir``), and each block's copy copied the scope with every variable of
    the callee, all it inlines included: O(blocks × variables) per call site, 60% of a kernel's
    compile time (7.9 of 13.2 s for the OU kernel).  Inlining only reads the callee's scope, to name
    the new variables it makes in the caller's, so a shared scope gives the same IR.  numba compiles
    under one global lock, so the replacement, undone on leaving, is seen by this compilation only.
    """
    before = vars(ir.Scope).get("__deepcopy__")   # ours when a compilation nests in another
    ir.Scope.__deepcopy__ = _same_scope
    try:
        yield
    finally:
        if before is None:
            del ir.Scope.__deepcopy__
        else:
            ir.Scope.__deepcopy__ = before


def _same_scope(scope, memo):
    """``copy.deepcopy`` of a scope, in `scopes_shared_when_inlining`: the scope itself."""
    return scope


class KernelCompiler(CompilerBase):
    """numba's nopython pipeline with `CopyPropagation` after its rewrites of the typed IR, compiled with
    `scopes_shared_when_inlining`."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.add_pass_after(CopyPropagation, NopythonRewrites)
        pm.finalize()
        return [pm]

    def _compile_core(self):
        with scopes_shared_when_inlining():
            return super()._compile_core()


jit = numba.njit(cache=True, fastmath=False, nogil=True, inline="always")
"""Decorator for problem functions and kernel helpers: inlined into the kernels."""

jit_leaf = numba.njit(cache=True, fastmath=False, nogil=True)
"""Decorator for random-number leaves, which touch only the thread-local stream state:
kept as calls, since inlining the whole ziggurat sampler into every kernel measured slower."""

parallel_jit = numba.njit(cache=True, fastmath=False, nogil=True, parallel=True)
"""Decorator for loops over ``prange`` (the benchmarks' bare kernels)."""

kernel_jit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy", pipeline_class=KernelCompiler)
"""Decorator for the path kernels, which run a range of blocks of paths, one range per thread
(sdesim.kernels.drivers); without the GIL, so that the threads run in parallel.  numba's copy
propagation runs over them (`CopyPropagation`), and division by zero gives ±inf or NaN (numpy's
error model), as in the parallel loops they replace."""


def inlined(fn):
    """``fn`` itself if it is already inlined into callers, else a copy of it that is.

    Used for users' own problem functions, so that they run in the kernels at the
    speed of the built-in ones.
    """
    if getattr(fn, "targetoptions", {}).get("inline") == "always":
        return fn
    return numba.njit(fastmath=False, nogil=True, inline="always")(fn.py_func)


@numba.extending.intrinsic
def fma(typingctx, a, b, c):
    """a·b + c rounded once (LLVM's fma), as torch's CPU kernels compute addcmul, lerp and add(alpha=):
    the adaptive steps use it to equal torch.optim bit for bit."""
    if not all(isinstance(t, numba.types.Float) for t in (a, b, c)):
        return None
    sig = numba.types.float64(numba.types.float64, numba.types.float64, numba.types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen
