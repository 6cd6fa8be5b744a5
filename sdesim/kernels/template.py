# Template of the path kernel.  Not imported directly: sdesim.kernels.build
# prepends a header that binds the problem's compiled functions
#   sample_grad, mean_grad, noise_factor, loss, init_state, user_observables
# and the decorators jit and parallel_jit, then imports the result as a module
# so numba can cache the compiled kernel on disk.
#
# and, after the template, ``take_step = <kind>_step`` for the one kind of step the
# kernel runs (with h the small step and λ the weight decay):
#   stochastic_step  x ← x − h (c₁ ∇L_γ₁(x) + c₂ ∇L_γ₂(x) + λx)       SGD eq. (1), SVAG eq. (5)
#   gaussian_step    x ← x − h (∇L(x) + λx) + s D(x) z,  s = √(hη)    NGD eq. (3), Euler–Maruyama
#   linear_step      x ← F x + c + K z                                exact OU transition
import numpy as np
from numba import prange

from sdesim.kernels.tuples import copy_arrays
from sdesim.rng import normal, seed_path

# The three kinds of step share one signature; the builder binds take_step to one of
# them, so that each generated kernel compiles only the step it runs.

@jit
def stochastic_step(x, data, rng, pstate, c1, c2, h, noise_scale, weight_decay,
                    f_mat, c_vec, k_mat, g1, g2, noise, z, constant_noise):
    """SGD eq. (1) / SVAG eq. (5): x ← x − h (c₁∇L_γ₁(x) + c₂∇L_γ₂(x) + λx)."""
    sample_grad(x, data, rng, pstate, g1)
    if c2 != 0.0:
        sample_grad(x, data, rng, pstate, g2)
        for j in range(x.shape[0]):
            x[j] -= h * (c1 * g1[j] + c2 * g2[j] + weight_decay * x[j])
    else:
        for j in range(x.shape[0]):
            x[j] -= h * (c1 * g1[j] + weight_decay * x[j])


@jit
def gaussian_step(x, data, rng, pstate, c1, c2, h, noise_scale, weight_decay,
                  f_mat, c_vec, k_mat, g1, g2, noise, z, constant_noise):
    """NGD eq. (3) / Euler–Maruyama on eq. (2): x ← x − h (∇L(x) + λx) + √(hη) D(x) z."""
    mean_grad(x, data, g1)
    if not constant_noise:
        noise_factor(x, data, noise)
    m = noise.shape[1]
    for k in range(m):
        z[k] = normal(rng)
    for j in range(x.shape[0]):
        w = 0.0
        for k in range(m):
            w += noise[j, k] * z[k]
        x[j] += noise_scale * w - h * (g1[j] + weight_decay * x[j])


@jit
def linear_step(x, data, rng, pstate, c1, c2, h, noise_scale, weight_decay,
                f_mat, c_vec, k_mat, g1, g2, noise, z, constant_noise):
    """The exact OU transition: x ← F x + c + K z."""
    d = x.shape[0]
    for k in range(d):
        z[k] = normal(rng)
    for j in range(d):
        acc = c_vec[j]
        for k in range(d):
            acc += f_mat[j, k] * x[k] + k_mat[j, k] * z[k]
        g1[j] = acc
    x[:] = g1


@jit
def advance(n, x, data, rng, pstate, c1, c2, h, noise_scale, weight_decay,
            f_mat, c_vec, k_mat, g1, g2, noise, z, constant_noise):
    """Take n small steps; return the index of the step that made x non-finite, or −1."""
    for i in range(n):
        take_step(x, data, rng, pstate, c1, c2, h, noise_scale, weight_decay,
                  f_mat, c_vec, k_mat, g1, g2, noise, z, constant_noise)
        if not all_finite(x):
            return i
    return -1


@jit
def observe(x, data, want, grad, noise, obs):
    """Write the requested observables of x into obs: x, |x|², L, |∇L|², Tr Σ, then user ones."""
    d = x.shape[0]
    j = 0
    if want[0]:
        for k in range(d):
            obs[k] = x[k]
        j += d
    if want[1]:
        obs[j] = np.sum(x * x)
        j += 1
    if want[2]:
        obs[j] = loss(x, data)
        j += 1
    if want[3]:
        mean_grad(x, data, grad)
        obs[j] = np.sum(grad * grad)
        j += 1
    if want[4]:
        noise_factor(x, data, noise)
        obs[j] = np.sum(noise * noise)
        j += 1
    user_observables(x, obs, j)


@jit
def all_finite(v):
    for k in range(v.shape[0]):
        if not np.isfinite(v[k]):
            return False
    return True


@jit
def accumulate(counts, means, m2s, comoments, obs, delta):
    """Welford update of one block's running means, M2 sums and (if sized) co-moments."""
    n = counts[0] + 1
    counts[0] = n
    for j in range(obs.shape[0]):
        delta[j] = obs[j] - means[j]
        means[j] += delta[j] / n
        m2s[j] += delta[j] * (obs[j] - means[j])
    for i in range(comoments.shape[0]):
        for j in range(comoments.shape[1]):
            comoments[i, j] += delta[i] * (obs[j] - means[j])


@parallel_jit
def run_paths(data, x0, key, path_offset, n_paths, block_size,
              c1, c2, h, noise_scale, weight_decay, f_mat, c_vec, k_mat,
              checkpoints, want, noise_rank, state_size, keep_every, constant_noise,
              counts, means, m2s, comoments, kept, bad_counts, first_bad):
    """Run paths path_offset … path_offset + n_paths − 1 and fill the per-block statistics.

    Block b holds paths [b·block_size, (b+1)·block_size) of this call; its running
    means, M2 sums and co-moments (when ``comoments`` is not empty) at each
    checkpoint (small-step indices) are updated in path order, so the numbers do
    not depend on how blocks are spread over threads.  Arrays read at every step
    are copied per block, so threads never share them.  With ``constant_noise`` the
    noise factor D is computed once per path instead of at every Gaussian step.
    """
    n_blocks = counts.shape[0]
    d = x0.shape[0]
    n_ckpt = checkpoints.shape[0]
    n_obs = means.shape[2]
    n_keep = kept.shape[0]
    for b in prange(n_blocks):
        rng = np.empty(4, dtype=np.uint64)
        pstate = np.zeros(max(state_size, 1), dtype=np.int64)
        x = np.empty(d)
        g1 = np.empty(d)
        g2 = np.empty(d)
        noise = np.empty((d, noise_rank))
        z = np.empty(max(noise_rank, d))
        obs = np.empty(n_obs)
        delta = np.empty(n_obs)
        start, f_loc, c_loc, k_loc = x0.copy(), f_mat.copy(), c_vec.copy(), k_mat.copy()
        local = copy_arrays(data)
        stop = min((b + 1) * block_size, n_paths)
        for p in range(b * block_size, stop):
            path = path_offset + p
            seed_path(key, path, rng)
            init_state(local, rng, pstate)
            x[:] = start
            if constant_noise:
                noise_factor(x, local, noise)
            keep = path < n_keep
            if keep:
                kept[path, 0, :] = x
            ci = 0
            if checkpoints[0] == 0:
                observe(x, local, want, g1, noise, obs)
                accumulate(counts[b, 0:1], means[b, 0], m2s[b, 0], comoments[b, 0], obs, delta)
                ci = 1
            k = 0
            while ci < n_ckpt:
                # advance to the next checkpoint (or kept point) in one tight loop
                stop = checkpoints[ci]
                if keep:
                    stop = min(stop, (k // keep_every + 1) * keep_every)
                bad = advance(stop - k, x, local, rng, pstate, c1, c2, h, noise_scale, weight_decay,
                              f_loc, c_loc, k_loc, g1, g2, noise, z, constant_noise)
                if bad >= 0:
                    bad_counts[b] += 1
                    first_bad[b] = min(first_bad[b], k + bad + 1)
                    break
                k = stop
                if keep and k % keep_every == 0:
                    kept[path, k // keep_every, :] = x
                if k == checkpoints[ci]:
                    observe(x, local, want, g1, noise, obs)
                    if not all_finite(obs):
                        bad_counts[b] += 1
                        first_bad[b] = min(first_bad[b], k)
                        break
                    accumulate(counts[b, ci:ci + 1], means[b, ci], m2s[b, ci], comoments[b, ci], obs, delta)
                    ci += 1
