"""Time slices of a path kernel: its steps run in calls of bounded wall time, bit for bit as one call.

A kernel call takes ``until``, a small-step index: every path runs to ``until`` at most and, if it
has checkpoints left, leaves its whole state in ``resume`` — x, the optimizer state (m, v, step
count), its random stream with what its normal sampler holds, its problem's sampler state, its step k
and next checkpoint, and whether it is live — and the next call continues from there.  Statistics are
accumulated per block, checkpoint by checkpoint, in path order, whatever the slices, so a sliced run
equals an unsliced one bit for bit (tests/test_interrupts.py).  Between calls Python runs, so Ctrl-C and
SIGTERM are seen within a slice.

``resume`` is a tuple (pos, xs, opts, rngs, pstates) with one row per slot: pos[s] = (status, k, ci).
A kernel's unit (one path, a pair, a group of LANES lanes) at path p of block b takes the slots from
``slot(b, block_size, p)`` on; a block has ``block_size`` rounded up to LANES slots, so the idle lanes
past a block's end have their own.  An empty ``resume`` (no rows, `no_resume`) runs without pausing.

`Slicer` picks each call's ``until`` from the measured speed of the calls before, so that a call
lasts about ``target`` seconds; a call that covers every step allocates no resume state.
"""

from __future__ import annotations

import time

import numpy as np

from sdesim._jit import jit
from sdesim.rng.lanes import LANES
from sdesim.rng.xoshiro import STATE_WORDS

NEW, LIVE, IDLE, DONE = 0, 1, 2, 3     # a slot's status: not started, paused live, paused idle, finished
TARGET_SECONDS = 0.4                   # the wall time of one call, aimed at
FIRST_PATH_STEPS = 1 << 20             # the first call's work, before any speed is measured
GROWTH = 8                             # a call takes at most this many times the steps of the one before
RESUME_BYTES = 64 << 20                # the resume state of one piece of paths, at most (one block at least)


def slots_per_block(block_size: int) -> int:
    return -(-block_size // LANES) * LANES


def row_bytes(dim: int, opt_size: int, state_size: int) -> int:
    """Bytes of one slot's state."""
    return 8 * (3 + dim + opt_size + STATE_WORDS + max(state_size, 1))


def resume_state(n_blocks: int, block_size: int, dim: int, opt_size: int, state_size: int, rows=None) -> tuple:
    """Zeroed resume state (every slot NEW) for ``n_blocks`` blocks; ``rows=0``: `no_resume`."""
    rows = n_blocks * slots_per_block(block_size) if rows is None else rows
    return (np.zeros((rows, 3), dtype=np.int64), np.zeros((rows, dim)), np.zeros((rows, opt_size)),
            np.zeros((rows, STATE_WORDS), dtype=np.uint64), np.zeros((rows, max(state_size, 1)), dtype=np.int64))


def no_resume(dim: int, opt_size: int, state_size: int) -> tuple:
    """A resume state with no rows, of the same types: a call that runs every step."""
    return resume_state(0, 1, dim, opt_size, state_size, rows=0)


@jit
def slot(b, block_size, p):
    """The first slot of the unit at path p (of this call) in block b."""
    return b * ((block_size + LANES - 1) // LANES * LANES) + p - b * block_size


@jit
def next_stop(checkpoint, k, keep, keep_every, until):
    """The small step a unit at step k runs to next: its next checkpoint, its next kept point (if ``keep``),
    or the call's end, whichever comes first."""
    stop = min(checkpoint, until)
    if keep:
        stop = min(stop, (k // keep_every + 1) * keep_every)
    return stop


@jit
def status(resume, s):
    """The status of slot s: NEW where there is no resume state."""
    pos = resume[0]
    return pos[s, 0] if pos.shape[0] > 0 else NEW


@jit
def finish(resume, s):
    pos = resume[0]
    if pos.shape[0] > 0:
        pos[s, 0] = DONE


@jit
def save_path(resume, s, state, k, ci, x, opt, rng, pstate):
    """Leave one path's state in slot s."""
    pos, xs, opts, rngs, pstates = resume
    pos[s, 0] = state
    pos[s, 1] = k
    pos[s, 2] = ci
    for j in range(x.shape[0]):
        xs[s, j] = x[j]
    for j in range(opt.shape[0]):
        opts[s, j] = opt[j]
    for w in range(STATE_WORDS):
        rngs[s, w] = rng[w]
    for j in range(pstate.shape[0]):
        pstates[s, j] = pstate[j]


@jit
def load_path(resume, s, x, opt, rng, pstate):
    """Take one path's state back from slot s; return its (k, ci)."""
    pos, xs, opts, rngs, pstates = resume
    for j in range(x.shape[0]):
        x[j] = xs[s, j]
    for j in range(opt.shape[0]):
        opt[j] = opts[s, j]
    for w in range(STATE_WORDS):
        rng[w] = rngs[s, w]
    for j in range(pstate.shape[0]):
        pstate[j] = pstates[s, j]
    return pos[s, 1], pos[s, 2]


@jit
def save_lanes(resume, s, k, ci, xs, lanes, live):
    """Leave a group of lanes (x in the columns of xs, streams in those of ``lanes``) in slots s, s + 1, …"""
    pos, xrows, _, rngs, _ = resume
    for lane in range(xs.shape[1]):
        pos[s + lane, 0] = LIVE if live[lane] else IDLE
        pos[s + lane, 1] = k
        pos[s + lane, 2] = ci
        for j in range(xs.shape[0]):
            xrows[s + lane, j] = xs[j, lane]
        for w in range(STATE_WORDS):
            rngs[s + lane, w] = lanes[w, lane]


@jit
def load_lanes(resume, s, xs, lanes, live):
    """Take a group of lanes back from slots s, s + 1, …; return its (k, ci)."""
    pos, xrows, _, rngs, _ = resume
    for lane in range(xs.shape[1]):
        live[lane] = pos[s + lane, 0] == LIVE
        for j in range(xs.shape[0]):
            xs[j, lane] = xrows[s + lane, j]
        for w in range(STATE_WORDS):
            lanes[w, lane] = rngs[s + lane, w]
    return pos[s, 1], pos[s, 2]


class Slicer:
    """Chooses the ``until`` of each kernel call so that a call lasts about ``target`` seconds.

    The steps of the next call are the measured speed (path-steps per second) of the last call times
    ``target``, over the paths, at most ``GROWTH`` times the last call's (its speed may have included
    compiling the kernel), at least 1.  ``steps`` fixes the steps per call instead (for tests).
    One Slicer serves the calls of one `Run`, so its speed carries over from one range of paths to the next.
    """

    def __init__(self, target: float = TARGET_SECONDS, steps: int | None = None):
        self.target, self.steps = target, steps
        self.speed = None     # path-steps per second of the last call
        self.last = None      # steps of the last call

    def next_steps(self, paths: int, left: int) -> int:
        if self.steps is not None:
            return max(1, min(self.steps, left))
        work = FIRST_PATH_STEPS if self.speed is None else self.speed * self.target
        steps = max(1, int(work // max(paths, 1)))
        if self.last is not None:
            steps = min(steps, GROWTH * self.last)
        return max(1, min(steps, left))

    def run(self, call, n_small: int, paths: int, make_resume) -> None:
        """``call(until, resume)`` with until rising to ``n_small``; ``make_resume()`` is called once,
        and only if the first call does not cover every step."""
        k, resume = 0, None
        while True:
            steps = self.next_steps(paths, n_small - k)
            if resume is None:
                resume = make_resume(k + steps < n_small)
            start = time.perf_counter()
            call(k + steps, resume)
            elapsed = time.perf_counter() - start
            self.speed, self.last = paths * steps / max(elapsed, 1e-6), steps
            k += steps
            if k >= n_small:
                return

    @staticmethod
    def pieces(path_offset: int, paths: int, block_size: int, per_slot: int):
        """Block-aligned (offset, paths) pieces of a range whose resume state fits in ``RESUME_BYTES``."""
        per_block = slots_per_block(block_size) * per_slot
        step = max(1, RESUME_BYTES // per_block) * block_size
        return [(path_offset + start, min(step, paths - start)) for start in range(0, paths, step)]

