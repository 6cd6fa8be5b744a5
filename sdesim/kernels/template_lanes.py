# The lane kernels' part of the kernel template (sdesim/kernels/template.py): the builder appends it to
# the template's text, so the names bound there (the header's problem functions, ``normal_lanes``, FLOAT,
# BITS, the template's own ``gaussian_move``, ``start_path``, ``record`` …) are this part's globals too.
#
# The steps whose only random numbers are standard normals run LANES paths at a time (``run_paths_lanes``
# and ``run_paths_lanes_scalar``): their streams advance together and draw their normals in SIMD lanes
# (sdesim.rng.lanes), each lane exactly the numbers its own stream gives the one-path kernel, and the
# builder's ``move_lanes`` moves them: one of the moves below, or sdesim.kernels.elementwise's.
import numpy as np
from sdesim.kernels.elementwise import lane_views
from sdesim.kernels.slicing import DONE, LIVE, NEW, finish, load_lanes, next_stop, save_lanes, slot, status
from sdesim.kernels.tuples import copy_arrays
from sdesim.rng.lanes import LANES, store_lane
from sdesim.rng.xoshiro import STATE_WORDS


@jit
def gaussian_lanes_each(xs, zs, gs, ws, live, x, z, g1, data, noise, p, f_mat, c_vec, k_mat, constant_noise,
                        flat):
    """The Gaussian step of every live lane (a column of xs, its normals a column of zs), lane after lane:
    ``gaussian_move`` on the lane copied into x.  For any problem."""
    for lane in range(xs.shape[1]):
        if not live[lane]:
            continue
        for j in range(xs.shape[0]):
            x[j] = xs[j, lane]
        for r in range(noise.shape[1]):
            z[r] = zs[r, lane]
        gaussian_move(x, data, g1, noise, z, p, f_mat, c_vec, k_mat, constant_noise)
        for j in range(xs.shape[0]):
            xs[j, lane] = x[j]


@jit
def gaussian_lanes_together(xs, zs, gs, ws, live, x, z, g1, data, noise, p, f_mat, c_vec, k_mat, constant_noise,
                            flat):
    """The Gaussian step of all lanes at once, for a problem with constant noise and a ``lanes_mean_grad``:
    ``gaussian_move``'s arithmetic on every lane, in loops over the lanes that the compiler vectorizes
    (lanes not live move too, unrecorded)."""
    lanes_mean_grad(xs, data, gs)
    n = xs.shape[1]
    for j in range(xs.shape[0]):
        if p.diagonal_noise:
            for lane in range(n):
                ws[lane] = ZERO + noise[j, j] * zs[j, lane]
        else:
            for lane in range(n):
                ws[lane] = 0.0
            for k in range(noise.shape[1]):
                for lane in range(n):
                    ws[lane] += noise[j, k] * zs[k, lane]
        for lane in range(n):
            xs[j, lane] += p.noise_scale * ws[lane] - p.h * (gs[j, lane] + p.weight_decay * xs[j, lane])


@jit
def linear_lanes_together(xs, zs, gs, ws, live, x, z, g1, data, noise, p, f_mat, c_vec, k_mat, constant_noise,
                          flat):
    """The exact OU transition of all lanes at once: ``linear_step``'s arithmetic in loops over the lanes."""
    d, n = xs.shape[0], xs.shape[1]
    for j in range(d):
        for lane in range(n):
            gs[j, lane] = c_vec[j]
        for k in range(d):
            for lane in range(n):
                gs[j, lane] += f_mat[j, k] * xs[k, lane] + k_mat[j, k] * zs[k, lane]
    for j in range(d):
        for lane in range(n):
            xs[j, lane] = gs[j, lane]


@jit
def lanes_finite(bits, first, last):
    """Whether lanes first … last − 1 (columns of ``bits``, FLOAT numbers seen as BITS integers) are all
    finite, that is, no exponent is all ones: one pass with no branch, which the compiler vectorizes."""
    bad = np.uint64(0)
    for j in range(bits.shape[0]):
        for lane in range(first, last):
            bad |= np.uint64((bits[j, lane] & EXPONENT_BITS) == EXPONENT_BITS)
    return bad == 0


@jit
def advance_lanes(n, k, xs, bits, lanes, outputs, rng, zs, n_normals, live, x, data, g1, gs, ws, noise, z, p,
                  f_mat, c_vec, k_mat, constant_noise, start, b, bad_counts, first_bad, flat):
    """Take n small steps of every lane (its x a column of xs) after small step k; return the lanes still live.

    Each step draws ``n_normals`` normals for all lanes at once (`normal_lanes`), then moves them
    (``move_lanes``).  ``bits`` is xs seen as uint64: one pass over it tells whether any x left the
    finite numbers; a live lane that did is counted as diverged at that step, as ``advance`` would
    count it, and stays idle at the start from then on.
    """
    n_live = 0
    for lane in range(xs.shape[1]):
        if live[lane]:
            n_live += 1
    for i in range(n):
        if n_live == 0:
            break
        for r in range(n_normals):
            normal_lanes(lanes, outputs, rng, zs, r)
        move_lanes(xs, zs, gs, ws, live, x, z, g1, data, noise, p, f_mat, c_vec, k_mat, constant_noise, flat)
        if not lanes_finite(bits, 0, xs.shape[1]):
            for lane in range(xs.shape[1]):
                if not lanes_finite(bits, lane, lane + 1):
                    if live[lane]:
                        live[lane] = False
                        n_live -= 1
                        bad_counts[b] += 1
                        first_bad[b] = min(first_bad[b], k + i + 1)
                    for j in range(xs.shape[0]):
                        xs[j, lane] = start[j]
    return n_live


@jit
def run_lanes_block(b, data, x0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, checkpoints,
                    want, state_size, keep_every, constant_noise, counts, means, m2s, comoments, kept, bad_counts,
                    first_bad, n_normals, buffers, until, resume):
    """Block b of ``run_paths_lanes``, on the buffers its caller sized: x, g1, grad (d), noise and
    recorded_noise (d × noise columns), z (normals per step), xs and gs (d × LANES), zs (normals per step × LANES).

    Lane i of a group runs path p + i; the lanes' streams advance together and draw their
    normals with SIMD instructions (`sdesim.rng.lanes`), each lane exactly the numbers its
    own stream gives the one-path kernel.  The lanes of a group cut short by the block's
    end draw too, unrecorded.  Lanes are recorded in path order at every stop, so the
    statistics are the one-path kernel's bit for bit.
    """
    x, g1, grad, noise, recorded_noise, z, xs, gs, zs = buffers
    flat = lane_views(xs, gs)   # for elementwise problems (sdesim.kernels.elementwise)
    d = x.shape[0]
    n_ckpt = checkpoints.shape[0]
    n_obs = means.shape[2]
    bits = xs.view(BITS)
    lanes = np.empty((STATE_WORDS, LANES), dtype=np.uint64)   # the lanes' streams, word-major
    outputs = np.empty(LANES, dtype=np.uint64)
    ws = np.empty(LANES, FLOAT)
    rng = np.empty(STATE_WORDS, dtype=np.uint64)
    pstate = np.zeros(max(state_size, 1), dtype=np.int64)
    live = np.empty(LANES, dtype=np.bool_)
    paths = np.empty(LANES, dtype=np.int64)
    obs = np.empty(n_obs)
    delta = np.empty(n_obs)
    no_opt = np.empty(0)
    start, f_loc, c_loc, k_loc = x0.copy(), f_mat.copy(), c_vec.copy(), k_mat.copy()
    local = copy_arrays(data)
    last = min((b + 1) * block_size, n_paths)
    for first in range(b * block_size, last, LANES):
        s = slot(b, block_size, first)
        state = status(resume, s)
        if state == DONE:
            continue
        for lane in range(LANES):
            paths[lane] = path_offset + first + lane
        if state == NEW:
            for lane in range(LANES):
                live[lane] = first + lane < last
                if live[lane]:   # otherwise the lane keeps the previous lane's stream, unrecorded
                    start_path(x, start, local, key, paths[lane], rng, pstate, noise, constant_noise, kept,
                               no_opt, no_opt)
                store_lane(lanes, lane, rng)
                for j in range(d):
                    xs[j, lane] = start[j]
            k = 0
            ci = 0
        else:   # paused by the call before (sdesim.kernels.slicing)
            k, ci = load_lanes(resume, s, xs, lanes, live)
            if constant_noise:
                noise_factor(start, local, noise)
        keep = paths[0] < kept.shape[0]  # lane 0 has the lowest path index
        n_live = LANES
        paused = False
        while ci < n_ckpt and n_live > 0:
            stop = next_stop(checkpoints[ci], k, keep, keep_every, until)
            if stop > k:
                n_live = advance_lanes(stop - k, k, xs, bits, lanes, outputs, rng, zs, n_normals, live, x, local,
                                       g1, gs, ws, noise, z, params, f_loc, c_loc, k_loc, constant_noise, start, b,
                                       bad_counts, first_bad, flat)
                k = stop
            at_checkpoint = k == checkpoints[ci]
            for lane in range(LANES):
                if not live[lane]:
                    continue
                for j in range(d):
                    x[j] = xs[j, lane]
                if not record(x, paths[lane], k, ci, at_checkpoint, b, local, want, grad, recorded_noise, obs,
                              delta, keep_every, counts, means, m2s, comoments, kept, bad_counts, first_bad,
                              no_opt, 1.0):
                    live[lane] = False
                    n_live -= 1
            if at_checkpoint:
                ci += 1
            if k == until and ci < n_ckpt and n_live > 0:
                save_lanes(resume, s, k, ci, xs, lanes, live)
                paused = True
                break
        if not paused:
            finish(resume, s)


@jit
def lanes_block(b, data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat, corrections,
                checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
                counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume):
    """Block b of ``run_paths_lanes``, for the steps whose only random numbers are standard normals, LANES paths at once."""
    d = x0.shape[0]
    n_normals = noise_rank if normals_per_noise_column else d
    x, g1, grad = np.empty(d, FLOAT), np.empty(d, FLOAT), np.empty(d, FLOAT)
    noise, recorded_noise = np.empty((d, noise_rank), FLOAT), np.empty((d, noise_rank), FLOAT)
    z, xs, gs = np.empty(max(n_normals, 1), FLOAT), np.empty((d, LANES), FLOAT), np.empty((d, LANES), FLOAT)
    zs = np.empty((max(n_normals, 1), LANES), FLOAT)
    run_lanes_block(b, data, x0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat,
                    checkpoints, want, state_size, keep_every, constant_noise, counts, means, m2s, comoments,
                    kept, bad_counts, first_bad, n_normals, (x, g1, grad, noise, recorded_noise, z, xs, gs, zs),
                    until, resume)


@jit
def lanes_scalar_block(b, data, x0, opt0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat,
                       corrections, checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
                       counts, means, m2s, comoments, kept, bad_counts, first_bad, until, resume):
    """``lanes_block`` for d = 1 and one normal per step, on buffers of constant size (unrolled loops)."""
    x, g1, grad = np.empty(1, FLOAT), np.empty(1, FLOAT), np.empty(1, FLOAT)
    noise, recorded_noise = np.empty((1, 1), FLOAT), np.empty((1, 1), FLOAT)
    z, xs, gs, zs = (np.empty(1, FLOAT), np.empty((1, LANES), FLOAT), np.empty((1, LANES), FLOAT),
                     np.empty((1, LANES), FLOAT))
    run_lanes_block(b, data, x0, key, path_offset, n_paths, block_size, params, f_mat, c_vec, k_mat,
                    checkpoints, want, state_size, keep_every, constant_noise, counts, means, m2s, comoments,
                    kept, bad_counts, first_bad, 1, (x, g1, grad, noise, recorded_noise, z, xs, gs, zs),
                    until, resume)
