# Template of the path kernel.  Not imported directly: sdesim.kernels.build
# prepends a header that binds the problem's compiled functions
#   sample_grad, mean_grad, noise_factor, loss, init_state, user_observables
#   (and lanes_mean_grad where the problem has one),
# the normal samplers ``normal`` and ``normal_lanes`` of the run's stream version (sdesim.rng.versions),
# and the decorators jit and kernel_jit, and the floating-point type of the paths (FLOAT, ZERO, BITS,
# EXPONENT_BITS: sdesim.kernels.precision), then imports the result as a module
# so numba can cache the compiled kernel on disk.
#
# and, after the template, ``take_step = <kind>`` for the one kind of step the kernel runs: a step
# function of sdesim/kernels/template_steps.py, which the builder puts before this text.
#
# The module holds four compiled kernels with one signature (sdesim.kernels.drivers, appended by the
# builder: each runs the blocks it is given with ``any_block`` or ``scalar_block`` below, or
# ``lanes_block`` or ``lanes_scalar_block`` of sdesim/kernels/template_lanes.py, which the builder
# appends to this text), and ``run_paths`` picks one per call and runs it in threads (numba compiles,
# or loads from its cache, only the one that runs):
#   run_paths_lanes   the steps whose only random numbers are standard normals (gaussian_step,
#                     linear_step; ``move_lanes``, bound by the builder) where the lanes move
#                     together (the exact step; Euler/NGD on a problem with a ``lanes_mean_grad``
#                     and constant noise, or with elementwise functions, sdesim.kernels.elementwise):
#                     LANES (64) paths in SIMD lanes, their normals drawn together
#                     (sdesim.rng.lanes) and their moves made in loops over the lanes
#   run_paths_lanes_scalar  these steps for d = 1 and one normal per step, on buffers of constant
#                     size; the lanes move together or, for other problems, one by one
#   run_paths_scalar  other steps with d = 1, one noise column and no optimizer state: paths
#                     two at a time, on buffers of constant size one (the compiler unrolls
#                     every loop over x)
#   run_paths_any     every other problem: one path at a time, on buffers of size d
# All give the same numbers: every path draws from its own stream, in the same order, and
# statistics are accumulated in path order.
#
# Everything called per step is inlined (see sdesim._jit), so all of it is compiled into
# one function, the kernel; numba's passes over that body cost time
# more than linear in its size.  Hence loops instead of array expressions and slices,
# and the kernels' per-path logic written so that each helper is inlined once.
import numpy as np
from sdesim.kernels.drivers import NAMES, in_threads
from sdesim.kernels.guards import nan_observables
from sdesim.kernels.slicing import (DONE, IDLE, LIVE, NEW, finish, load_path, next_stop, save_path, slot,
                                     slots_per_block, status)
from sdesim.kernels.tuples import copy_arrays
from sdesim.rng import seed_path
from sdesim.rng.xoshiro import STATE_WORDS

@jit
def advance(n, x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """Take n small steps; return the index of the step that made x (or the optimizer state) non-finite, or −1."""
    for i in range(n):
        take_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise)
        if not (all_finite(x) and all_finite(opt)):
            return i
    return -1


@jit
def advance_pair(n, xa, xb, data, rng_a, rng_b, pstate_a, pstate_b, no_opt, p, f_mat, c_vec, k_mat, corrections,
                 g1a, g1b, g2a, g2b, noise_a, noise_b, za, zb, constant_noise):
    """``advance`` for two paths in lockstep; return the index of the first step that
    left either of them non-finite, or −1.

    A step in one dimension is a short chain of dependent operations; two independent
    paths interleaved keep the core busy while either one waits.
    """
    for i in range(n):
        take_step(xa, data, rng_a, pstate_a, no_opt, p, f_mat, c_vec, k_mat, corrections, g1a, g2a, noise_a, za, constant_noise)
        take_step(xb, data, rng_b, pstate_b, no_opt, p, f_mat, c_vec, k_mat, corrections, g1b, g2b, noise_b, zb, constant_noise)
        if not (all_finite(xa) and all_finite(xb)):
            return i
    return -1


@jit
def sum_of_squares(v):
    total = 0.0
    for k in range(v.shape[0]):
        total += v[k] * v[k]
    return total


@jit
def observe(x, data, want, grad, noise, obs, opt, u_scale):
    """Write the requested observables of x into obs: x, |x|², L, |∇L|², Tr Σ, u, m, then user ones.

    u = v·u_scale and m are an adaptive method's state (``opt`` = m, v, step count).
    """
    d = x.shape[0]
    j = 0
    if want[0]:
        for k in range(d):
            obs[k] = x[k]
        j += d
    if want[1]:
        obs[j] = sum_of_squares(x)
        j += 1
    if want[2]:
        obs[j] = loss(x, data)
        j += 1
    if want[3]:
        mean_grad(x, data, grad)
        obs[j] = sum_of_squares(grad)
        j += 1
    if want[4]:
        noise_factor(x, data, noise)
        total = 0.0
        for r in range(noise.shape[0]):
            for c in range(noise.shape[1]):
                total += noise[r, c] * noise[r, c]
        obs[j] = total
        j += 1
    if want[5]:
        for k in range(d):
            obs[j + k] = opt[d + k] * u_scale
        j += d
    if want[6]:
        for k in range(d):
            obs[j + k] = opt[k]
        j += d
    user_observables(x, obs, j, grad)   # grad, free scratch here, holds each user function's copy of x


@jit
def all_finite(v):
    for k in range(v.shape[0]):
        if not np.isfinite(v[k]):
            return False
    return True


@jit
def accumulate(counts, means, m2s, comoments, b, ci, obs, delta):
    """Welford update of block b's running means, M2 sums and (if sized) co-moments at checkpoint ci."""
    n = counts[b, ci] + 1
    counts[b, ci] = n
    for j in range(obs.shape[0]):
        delta[j] = obs[j] - means[b, ci, j]
        means[b, ci, j] += delta[j] / n
        m2s[b, ci, j] += delta[j] * (obs[j] - means[b, ci, j])
    for i in range(comoments.shape[2]):
        for j in range(comoments.shape[3]):
            comoments[b, ci, i, j] += delta[i] * (obs[j] - means[b, ci, j])


@jit
def start_path(x, start, local, key, path, rng, pstate, noise, constant_noise, kept, opt, opt0):
    """Seed the stream of ``path``, prepare its state, put x (and the optimizer state) at the start (and keep x)."""
    seed_path(key, path, rng)
    init_state(local, rng, pstate)
    for j in range(x.shape[0]):
        x[j] = start[j]
    for j in range(opt.shape[0]):
        opt[j] = opt0[j]
    if constant_noise:
        noise_factor(x, local, noise)
    if path < kept.shape[0]:
        for j in range(x.shape[0]):
            kept[path, 0, j] = x[j]


@jit
def record(x, path, k, ci, at_checkpoint, b, local, want, grad, noise, obs, delta, keep_every,
           counts, means, m2s, comoments, kept, bad_counts, first_bad, opt, u_scale):
    """Keep x if due and, at a checkpoint, add its observables to block b's statistics.

    Returns False if an observable is infinite (the path is then counted as diverged); a NaN raises its
    observable's flag instead (sdesim.kernels.guards).
    """
    if path < kept.shape[0] and k % keep_every == 0:
        for j in range(x.shape[0]):
            kept[path, k // keep_every, j] = x[j]
    if at_checkpoint:
        observe(x, local, want, grad, noise, obs, opt, u_scale)
        if not all_finite(obs) and not nan_observables(obs, want, x.shape[0], USER_SIZES):
            bad_counts[b] += 1
            first_bad[b] = min(first_bad[b], k)
            return False
        accumulate(counts, means, m2s, comoments, b, ci, obs, delta)
    return True


@jit
def any_block(b, data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections,
              checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
              counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume):
    """Block b of ``run_paths_any``: one path at a time, for any problem."""
    d = x0.shape[0]
    n_ckpt = checkpoints.shape[0]
    n_obs = means.shape[2]
    rng = np.empty(STATE_WORDS, dtype=np.uint64)
    pstate = np.zeros(max(state_size, 1), dtype=np.int64)
    x = np.empty(d, FLOAT)
    g1 = np.empty(d, FLOAT)
    g2 = np.empty(d, FLOAT)
    noise = np.empty((d, noise_rank), FLOAT)
    z = np.empty(max(noise_rank, d), FLOAT)
    obs = np.empty(n_obs)
    delta = np.empty(n_obs)
    start, f_loc, c_loc, k_loc = x0.copy(), f_mat.copy(), c_vec.copy(), k_mat.copy()
    opt_start = opt0.copy()
    opt = np.empty(opt0.shape[0])
    local = copy_arrays(data)
    for p in range(b * block_size, min((b + 1) * block_size, n_paths)):
        path = path_offset + p
        s = slot(b, block_size, p)
        state = status(resume, s)
        if state == DONE:
            continue
        if state == NEW:
            start_path(x, start, local, key, path, rng, pstate, noise, constant_noise, kept, opt, opt_start)
            k = 0
            ci = 0
        else:   # paused by the call before at step `until` (sdesim.kernels.slicing)
            k, ci = load_path(resume, s, x, opt, rng, pstate)
            if constant_noise:
                noise_factor(start, local, noise)
        keep = path < kept.shape[0]
        paused = False
        while ci < n_ckpt:
            # advance to the next checkpoint (or kept point, or the call's end) in one tight loop
            stop = next_stop(checkpoints[ci], k, keep, keep_every, until)
            if stop > k:
                bad = advance(stop - k, x, local, rng, pstate, opt, params,
                              f_loc, c_loc, k_loc, corrections, g1, g2, noise, z, constant_noise)
                if bad >= 0:
                    bad_counts[b] += 1
                    first_bad[b] = min(first_bad[b], k + bad + 1)
                    break
                k = stop
            at_checkpoint = k == checkpoints[ci]
            if not record(x, path, k, ci, at_checkpoint, b, local, want, g1, noise, obs, delta, keep_every,
                          counts, means, m2s, comoments, kept, bad_counts, first_bad, opt, params.u_scale):
                break
            if at_checkpoint:
                ci += 1
            if k == until and ci < n_ckpt:
                save_path(resume, s, LIVE, k, ci, x, opt, rng, pstate)
                paused = True
                break
        if not paused:
            finish(resume, s)


@jit
def scalar_block(b, data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections,
                 checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
                 counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume):
    """Block b of ``run_paths_scalar``, for d = 1, one noise column and no optimizer state: paths two at a
    time, in lanes a and b.

    The buffers have constant size one.  A lane whose path has diverged (or lane b when
    a block has an odd number of paths) keeps stepping from the start point, unrecorded,
    so that the other lane never leaves ``advance_pair``.  Lanes are told apart by index
    and their values copied, never by rebinding array variables: a rebound array costs an
    atomic reference count, which at every checkpoint would cost more than the steps.
    """
    n_ckpt = checkpoints.shape[0]
    n_obs = means.shape[2]
    rng_a = np.empty(STATE_WORDS, dtype=np.uint64)
    rng_b = np.empty(STATE_WORDS, dtype=np.uint64)
    pstate_a = np.zeros(max(state_size, 1), dtype=np.int64)
    pstate_b = np.zeros(max(state_size, 1), dtype=np.int64)
    xa = np.empty(1, FLOAT)
    xb = np.empty(1, FLOAT)
    g1a = np.empty(1, FLOAT)
    g1b = np.empty(1, FLOAT)
    g2a = np.empty(1, FLOAT)
    g2b = np.empty(1, FLOAT)
    noise_a = np.empty((1, 1), FLOAT)
    noise_b = np.empty((1, 1), FLOAT)
    za = np.empty(1, FLOAT)
    zb = np.empty(1, FLOAT)
    x = np.empty(1, FLOAT)  # the lane being recorded, and scratch for its observables
    grad = np.empty(1, FLOAT)
    noise = np.empty((1, 1), FLOAT)
    live = np.empty(2, dtype=np.bool_)
    obs = np.empty(n_obs)
    delta = np.empty(n_obs)
    no_opt = np.empty(0)
    start, f_loc, c_loc, k_loc = x0.copy(), f_mat.copy(), c_vec.copy(), k_mat.copy()
    local = copy_arrays(data)
    last = min((b + 1) * block_size, n_paths)
    for p in range(b * block_size, last, 2):
        # lane a runs path p, lane b path p + 1 (or, unrecorded, path p again)
        paths = (path_offset + p, path_offset + p + 1 if p + 1 < last else path_offset + p)
        s = slot(b, block_size, p)
        state = status(resume, s)
        if state == DONE:
            continue
        if state == NEW:
            live[0] = True
            live[1] = p + 1 < last
            start_path(xa, start, local, key, paths[0], rng_a, pstate_a, noise_a, constant_noise, kept, no_opt,
                       no_opt)
            start_path(xb, start, local, key, paths[1], rng_b, pstate_b, noise_b, constant_noise, kept, no_opt,
                       no_opt)
            k = 0
            ci = 0
        else:   # paused by the call before (sdesim.kernels.slicing)
            live[0] = state == LIVE
            live[1] = status(resume, s + 1) == LIVE
            k, ci = load_path(resume, s, xa, no_opt, rng_a, pstate_a)
            load_path(resume, s + 1, xb, no_opt, rng_b, pstate_b)
            if constant_noise:
                noise_factor(start, local, noise_a)
                noise_factor(start, local, noise_b)
        keep = paths[0] < kept.shape[0]  # lane a has the lower path index
        paused = False
        while ci < n_ckpt and (live[0] or live[1]):
            # advance both lanes to the next checkpoint (or kept point, or the call's end) in one tight loop
            stop = next_stop(checkpoints[ci], k, keep, keep_every, until)
            while k < stop and (live[0] or live[1]):
                bad = advance_pair(stop - k, xa, xb, local, rng_a, rng_b, pstate_a, pstate_b, no_opt, params,
                                   f_loc, c_loc, k_loc, corrections, g1a, g1b, g2a, g2b, noise_a, noise_b, za, zb,
                                   constant_noise)
                if bad < 0:
                    k = stop
                    break
                k += bad + 1
                for lane in range(2):
                    if not np.isfinite(xa[0] if lane == 0 else xb[0]):
                        if live[lane]:
                            live[lane] = False
                            bad_counts[b] += 1
                            first_bad[b] = min(first_bad[b], k)
                        if lane == 0:  # idle from now on
                            xa[0] = start[0]
                        else:
                            xb[0] = start[0]
            # keep and record the live lanes, in path order
            at_checkpoint = k == checkpoints[ci]
            for lane in range(2):
                if not live[lane]:
                    continue
                x[0] = xa[0] if lane == 0 else xb[0]
                if not record(x, paths[lane], k, ci, at_checkpoint, b, local, want, grad, noise, obs,
                              delta, keep_every, counts, means, m2s, comoments, kept, bad_counts, first_bad,
                              no_opt, 1.0):
                    live[lane] = False
            if at_checkpoint:
                ci += 1
            if k == until and ci < n_ckpt and (live[0] or live[1]):
                save_path(resume, s, LIVE if live[0] else IDLE, k, ci, xa, no_opt, rng_a, pstate_a)
                save_path(resume, s + 1, LIVE if live[1] else IDLE, k, ci, xb, no_opt, rng_b, pstate_b)
                paused = True
                break
        if not paused:
            finish(resume, s)


def run_paths(data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections,
              checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
              counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume):
    """Run paths path_offset … path_offset + n_paths − 1 and fill the per-block statistics.

    Block b holds paths [b·block_size, (b+1)·block_size) of this call; its running
    means, M2 sums and co-moments (when ``comoments`` is not empty) at each
    checkpoint (small-step indices) are updated in path order, so the numbers do
    not depend on how blocks are spread over threads.  Arrays read at every step
    are copied per block, so threads never share them.  With ``constant_noise`` the
    noise factor D is computed once per path instead of at every Gaussian step.
    ``params`` is a `sdesim.methods.StepParams`; ``opt0`` the optimizer state every
    path starts from (empty for methods without one).  Paths stop at small step ``until`` and
    continue from ``resume`` in the next call (`sdesim.kernels.slicing`).  The blocks run in
    numba's threads (`sdesim.kernels.drivers.in_threads`).
    """
    given = locals()
    args = {name: given[name] for name in NAMES}   # the arguments by name, in order
    # d > 1 without lanes moved together runs one path at a time: lanes moved one by one gained 1.4x in
    # 10-D but compiled in 20 s instead of 13 (benchmarks/RESULTS.md §1)
    scalar = x0.shape[0] == 1 and noise_rank == 1 and opt0.shape[0] == 0
    if move_lanes is not None and scalar:
        kernel = run_paths_lanes_scalar
    elif moves_lanes_together and opt0.shape[0] == 0:
        kernel = run_paths_lanes
    elif scalar:
        kernel = run_paths_scalar
    else:
        kernel = run_paths_any
    in_threads(kernel, args, slots_per_block(block_size))
