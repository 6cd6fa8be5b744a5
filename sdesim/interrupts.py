"""Ctrl-C and SIGTERM as one interrupt: both raise `KeyboardInterrupt` where Python runs next (the kernels
return to Python within about a second, `sdesim.kernels.slicing`), so that the code that keeps what
finished handles both, and the exit status says which came: 128 + the signal's number.

    SIGINT (Ctrl-C)  → KeyboardInterrupt, exit status 130
    SIGTERM          → `Terminated` (a KeyboardInterrupt), exit status 143
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_RECEIVED: list = []   # the signals received within `caught`, in order


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as after Ctrl-C, keeping what finished."""


def _raise(signum, frame):
    _RECEIVED.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


_DEPTH: list = []      # nesting of `caught`


@contextmanager
def caught():
    """Within: SIGINT and SIGTERM raise (in the main thread; elsewhere Python cannot install handlers),
    and `received` tells whether one came; the handlers before are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _DEPTH:
        _RECEIVED.clear()
    before = {signum: signal.signal(signum, _raise) for signum in (signal.SIGINT, signal.SIGTERM)}
    _DEPTH.append(True)
    try:
        yield
    finally:
        _DEPTH.pop()
        for signum, handler in before.items():
            signal.signal(signum, handler)


def received() -> bool:
    """Whether a signal arrived within the outermost `caught`: what ran meanwhile may have been cut short."""
    return bool(_RECEIVED)


def exit_code(error: BaseException | None = None) -> int:
    """128 + the number of the first signal received (130 for Ctrl-C without our handler, or ``error``'s kind)."""
    if _RECEIVED:
        return 128 + int(_RECEIVED[0])
    return 128 + int(signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT)
