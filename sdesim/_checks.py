"""Argument validation at the public boundary.

Every check raises before any work starts, and its message names the argument,
the value received and what is allowed.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
from numba.core.errors import NumbaError


def positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise if it is not a (positive) integer."""
    lower = "a non-negative" if allow_zero else "a positive"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be {lower} integer, got {value!r}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {lower} integer, got {value}")
    return value


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0), or raise."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        allowed = "finite and >= 0" if allow_zero else "finite and > 0"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def finite_array(name: str, value, *, shape: tuple | None = None, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array with the given shape, or raise."""
    try:
        arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers (no NaN or inf)")
    return arr


def symmetric(name: str, matrix: np.ndarray) -> np.ndarray:
    """Raise unless ``matrix`` is square and symmetric to rounding; return it symmetrized."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {matrix.shape}")
    scale = max(1.0, float(np.max(np.abs(matrix))))
    if not np.allclose(matrix, matrix.T, rtol=0.0, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric (it is a Hessian or a covariance)")
    return np.ascontiguousarray(0.5 * (matrix + matrix.T))


def psd_sqrt(name: str, matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix; raise if it is not PSD."""
    matrix = symmetric(name, matrix)
    values, vectors = np.linalg.eigh(matrix)
    scale = max(1.0, float(np.max(np.abs(values))))
    if values.min() < -1e-12 * scale:
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance), but its smallest "
            f"eigenvalue is {values.min():.3g}"
        )
    values = np.clip(values, 0.0, None)
    return np.ascontiguousarray((vectors * np.sqrt(values)) @ vectors.T)


def decay(name: str, value) -> float:
    """An exponential average's decay β ∈ [0, 1) (RMSprop's, Adam's β₁ and β₂)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def choice(name: str, value, allowed) -> str:
    """Raise unless ``value`` is one of ``allowed`` (strings)."""
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"unknown {name} {value!r}; allowed: {listed}")
    return value


def user_call(what: str, call: str, fn, *args):
    """``fn(*args)`` for a user's compiled function, or an error naming ``what`` failed and how it was ``call``ed.

    A call numba cannot compile (a wrong signature, wrong argument types) raises TypeError,
    any other failure ValueError.
    """
    try:
        return fn(*args)
    except Exception as error:
        kind = TypeError if isinstance(error, (TypeError, NumbaError)) else ValueError
        raise kind(f"{what} failed when called as {call}: {type(error).__name__}: {error}") from error


# memory: estimate before allocating, refuse what cannot fit ---------------------------------------

def format_bytes(size: float) -> str:
    """``size`` bytes in the largest binary unit below it: '512 B', '48.0 MiB', '13.4 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Bytes of memory this process can still take, read portably; None where the system does not say.

    psutil's figure where it is installed (every platform), else Linux's MemAvailable, else the
    physical memory (sysconf: macOS, BSD); on Linux capped by the room left in a cgroup v2 limit.
    """
    try:
        import psutil
        found = [psutil.virtual_memory().available]
    except ImportError:
        found = [_meminfo_available() or _physical_memory()]
    found.append(_cgroup_room())
    found = [v for v in found if v]
    return min(found) if found else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def _cgroup_room() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(int(limit) - used, 0)


def check_memory(need: int, what: str, advice: str, *, cap: int | None = None, cap_name: str = "") -> None:
    """Raise before any work if ``need`` bytes exceed the memory available (or ``cap``, if smaller).

    The message says what would need how much, what the limit is and where it comes from, and ``advice``.
    """
    room = available_memory()
    limits = [(room, "the memory available on this machine")] if room is not None else []
    if cap is not None:
        limits.append((cap, cap_name or "the cap"))
    if not limits:
        return
    limit, source = min(limits, key=lambda item: item[0])
    if need > limit:
        raise ValueError(f"{what} would need {format_bytes(need)}; the limit is {format_bytes(limit)} ({source}). "
                         f"{advice}")
