"""Binding a problem's compiled functions into the path kernel, cached on disk.

numba cannot cache a kernel that receives functions as arguments (their type names
the function's address), so the kernel source (``template.py``) is written once per
set of problem functions into a module file whose header imports them by name.
numba then caches that module's machine code like any other; the file name hashes
the template, the header, the source files of the units a kernel can call (kernels,
problems, rng, the jit options) and those of the bound functions, so an edit to any
of them yields a new module instead of stale machine code.

Functions that cannot be imported by name (defined in ``__main__``, a notebook or a
closure) are bound through an in-process registry instead, and their kernel is
compiled in memory, without a file or the disk cache; so is every kernel when the
cache folder cannot be written (with a one-line warning).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import linecache
import os
import sys
import time
import types
import warnings
from pathlib import Path

import numba

from sdesim._importable import function_path
from sdesim.kernels.drivers import drivers_source
from sdesim.kernels.elementwise import elementwise_source
from sdesim.kernels.guards import user_observables_source
from sdesim.kernels.precision import DEFAULT_DTYPE, kernel_lines
from sdesim.rng.versions import DEFAULT_STREAM_VERSION, sampler_bindings

TEMPLATE = Path(__file__).with_name("template.py")
STEPS_TEMPLATE = Path(__file__).with_name("template_steps.py")   # each method's small step, before the template
LANES_TEMPLATE = Path(__file__).with_name("template_lanes.py")   # the lane kernels, appended to the template
_ROOT = Path(__file__).resolve().parents[1]
# what a kernel can call: the kernels themselves, the problems, the random streams, the jit options
_PACKAGE_SOURCES = sorted([*_ROOT.glob("_*.py"), *(p for unit in ("kernels", "problems", "rng")
                                                  for p in (_ROOT / unit).rglob("*.py"))])
_REGISTRY: dict[int, dict] = {}
_LOADED: dict[tuple, object] = {}
_counter = itertools.count()
_WARNED: list = []      # the folder already warned about (one warning per process)
_CLEANED: list = []     # whether stale uncached kernels were looked for in this process


def cache_dir() -> Path:
    """Where generated kernel modules live: $SDESIM_CACHE_DIR, else ~/.cache/sdesim."""
    root = os.environ.get("SDESIM_CACHE_DIR") or Path.home() / ".cache" / "sdesim"
    return Path(root) / "kernels"


STEP_FUNCTIONS = ("stochastic_step", "gaussian_step", "linear_step", "adaptive_step", "adaptive_sde_step")
# The steps whose only random numbers are standard normals, drawn before the step: whether one step
# draws one normal per noise column (else one per coordinate), the template's function that moves
# the lanes for any problem, the one for a problem with constant noise and a ``lanes_mean_grad``, and
# the one for a problem with elementwise functions (`sdesim.kernels.elementwise`).
# Their kernels run paths in SIMD lanes (``run_paths_lanes``).
LANE_MOVES = {"gaussian_step": (True, "gaussian_lanes_each", "gaussian_lanes_together", "gaussian_lanes_elementwise"),
              "linear_step": (False, "linear_lanes_together", "linear_lanes_together", "linear_lanes_together")}


def kernel_module(functions, kind: str, user_functions=(), user_sizes=(), constant_noise: bool = False,
                  dtype: str = DEFAULT_DTYPE, stream_version: int = DEFAULT_STREAM_VERSION):
    """The module holding ``run_paths`` for these problem functions, step kind and user observables.

    ``functions`` is a `ProblemFunctions`; ``kind`` the `StepPlan` kind, the name of a step function
    of the template (one of ``STEP_FUNCTIONS``);
    ``user_functions`` compiled maps x ↦ value with ``user_sizes`` their sizes (0 for a scalar);
    ``constant_noise``: the problem's noise factor does not depend on x (with a ``lanes_mean_grad``,
    its Gaussian steps then move all lanes at once); ``dtype`` the paths' floating-point type
    (`sdesim.kernels.precision`); ``stream_version``: whose ``normal`` and ``normal_lanes`` the kernel
    calls (`sdesim.rng.versions`).  With ``functions.elementwise`` the noise factor
    is bound as ``noise_diagonal`` and `sdesim.kernels.elementwise` supplies ``noise_factor`` and the
    lanes' move.
    Where the cache folder cannot be written (read-only, or not a folder), the kernel is
    compiled in memory instead, with a one-line warning.
    """
    if kind not in STEP_FUNCTIONS:
        raise ValueError(f"unknown step kind {kind!r}; the kernel template has {', '.join(STEP_FUNCTIONS)}")
    bound = dict(functions.items())
    elementwise = functions.elementwise
    if elementwise:   # the user's diagonal; the matrix noise_factor comes with elementwise_source()
        bound["noise_diagonal"] = bound.pop("noise_factor")
    bound.update({f"user_{i}": fn for i, fn in enumerate(user_functions)})
    lane_lines = _lane_lines(kind, constant_noise and functions.lanes_mean_grad is not None, elementwise)
    samplers = sampler_bindings(stream_version, dtype)
    memo_key = (tuple(id(fn) for fn in bound.values()), kind, tuple(user_sizes), lane_lines, elementwise, dtype,
                samplers)
    if memo_key in _LOADED:
        return _LOADED[memo_key]
    paths = {name: function_path(fn) for name, fn in bound.items()}
    cached = all(paths.values())
    body = (kernel_lines(dtype) + user_observables_source(list(user_sizes)) + STEPS_TEMPLATE.read_text()
            + TEMPLATE.read_text() + LANES_TEMPLATE.read_text() + drivers_source()
            + (elementwise_source() if elementwise else "")
            + f"\n\ntake_step = {kind}\n" + lane_lines)
    module = None
    if cached:
        source = _header(bound, paths, persistent=True) + samplers + body
        digest = hashlib.sha256(source.encode())
        digest.update(numba.__version__.encode())
        for path in _source_files(bound.values()):
            digest.update(path.read_bytes())
        module = _load_from_cache(f"kernel_{digest.hexdigest()[:20]}", source)
    else:
        _clean_stale()
    if module is None:
        module = _load_in_memory(_header(bound, paths, persistent=False) + samplers + body)
    _LOADED[memo_key] = module
    return module


def _lane_lines(kind: str, together: bool, elementwise: bool = False) -> str:
    """``move_lanes``, ``normals_per_noise_column`` and ``moves_lanes_together`` for the lane kernels
    (``move_lanes = None``: none for this kind)."""
    if kind not in LANE_MOVES:
        return "move_lanes = None\nnormals_per_noise_column = False\nmoves_lanes_together = False\n"
    per_column, each, all_at_once, for_elementwise = LANE_MOVES[kind]
    move = for_elementwise if elementwise else all_at_once if together else each
    return (f"move_lanes = {move}\nnormals_per_noise_column = {per_column}\n"
            f"moves_lanes_together = {move in (all_at_once, for_elementwise)}\n")


def _header(bound: dict, paths: dict, *, persistent: bool) -> str:
    """Lines that bind the problem's functions and the decorators; ``persistent``: numba's disk cache on."""
    header = ["# generated by sdesim.kernels.build; do not edit"]
    if persistent:
        header.append("from sdesim._jit import inlined, jit, kernel_jit")
    else:
        header.append("import numba")
        header.append("from sdesim._jit import KernelCompiler, inlined")
        header.append("jit = numba.njit(fastmath=False, nogil=True, inline='always')")
        header.append("kernel_jit = numba.njit(fastmath=False, nogil=True, error_model='numpy', "
                      "pipeline_class=KernelCompiler)")
    # every bound function is inlined into the kernel (see sdesim._jit for why)
    if all(paths.values()):
        for name, path in paths.items():
            module, _, qualname = path.partition(":")
            header.append(f"from {module} import {qualname.split('.')[0]} as _{name}_root")
            header.append(f"{name} = inlined(_{name}_root" + "".join(f".{p}" for p in qualname.split(".")[1:]) + ")")
    else:
        token = next(_counter)
        _REGISTRY[token] = bound
        header.append("from sdesim.kernels.build import _REGISTRY")
        for name in bound:
            header.append(f"{name} = inlined(_REGISTRY[{token}][{name!r}])")
    return "\n".join(header) + "\n"


def _load_from_cache(name: str, source: str):
    """Write the module into the cache folder (once) and import it; None if the folder cannot be written."""
    folder = cache_dir()
    file = folder / f"{name}.py"
    try:
        if not file.exists() or file.read_text() != source:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, file)  # atomic: concurrent processes never see half a file
    except OSError as error:
        if not _WARNED:   # once per process, on one line (no source line under it)
            _WARNED.append(folder)
            warnings.warn_explicit(f"cannot write the kernel cache in {folder} ({error.strerror or error}); "
                                   "compiling kernels in memory, again in every process (set SDESIM_CACHE_DIR "
                                   "to a writable folder)", RuntimeWarning, filename="sdesim", lineno=0,
                                   module="sdesim.kernels.build")
        return None
    spec = importlib.util.spec_from_file_location(f"sdesim_{name}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_in_memory(source: str):
    """A module made from ``source`` without a file (its kernels are compiled without the disk cache).

    The source is registered with ``linecache`` so that tracebacks and numba's messages can show it.
    """
    name = f"sdesim_kernel_{os.getpid()}_{next(_counter)}"
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def _clean_stale(max_age: float = 86400.0) -> None:
    """Remove the files older versions left in ``<cache>/uncached`` (one per uncached kernel, never reused).

    Once per process: a file goes when the process that wrote it (kernel_<pid>_<n>.py) has ended,
    or, where that cannot be told, when it is older than ``max_age`` seconds.
    """
    if _CLEANED:
        return
    _CLEANED.append(True)
    folder = cache_dir() / "uncached"
    try:
        files = list(folder.glob("kernel_*"))
    except OSError:
        return
    now = time.time()
    for file in files:
        try:
            pid = int(file.name.split("_")[1])
            if pid == os.getpid() or (_alive(pid) and now - file.stat().st_mtime < max_age):
                continue
            file.unlink()
        except (OSError, ValueError, IndexError):
            continue
    pycache = folder / "__pycache__"
    try:
        for compiled in pycache.glob("kernel_*"):   # bytecode of the removed files
            if not (folder / f"{compiled.name.split('.')[0]}.py").exists():
                compiled.unlink(missing_ok=True)
        pycache.rmdir()   # only if empty
        folder.rmdir()
    except OSError:
        pass


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (POSIX); True where that cannot be told."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _source_files(functions) -> list[Path]:
    files = set(_PACKAGE_SOURCES)
    for fn in functions:
        try:
            files.add(Path(inspect.getsourcefile(fn.py_func)))
        except (TypeError, AttributeError):
            pass
    return sorted(files)
