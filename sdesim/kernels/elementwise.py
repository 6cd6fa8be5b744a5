"""Kernels for problems with elementwise functions (``sde(..., elementwise=True)``, ``custom(..., elementwise=True)``).

Such a problem's drift (or ∇L) writes out[j] = b(x[j]) with one formula for every j, and its noise factor
writes the diagonal of D(x), out[j] = σ(x[j]), so both apply unchanged to the flat (d·LANES) array of all the
lanes' coordinates, x[j·LANES + lane] = lane's x_j.  The builder (`sdesim.kernels.build`) binds the user's
diagonal as ``noise_diagonal`` and appends ``elementwise_source()`` to the kernel template:

- ``noise_factor``, the d × d matrix D = diag(σ(x)) that the one-path kernels, the observables and the
  Python side use (`sdesim.problems.base.Problem.noise_sqrt`);
- ``gaussian_lanes_elementwise``, the Gaussian step of all lanes at once: each user function called once per
  step on the flat views (`lane_views`, made once per block: a view costs an atomic reference count), then
  ``gaussian_move``'s diagonal arithmetic x ← x + s (0 + σ z) − h (b + λx) in loops over the lanes, which
  the compiler vectorizes; the same numbers as the one-path step, bit for bit.
"""

from __future__ import annotations

import numpy as np

from sdesim._jit import jit


@jit
def lane_views(xs, gs):
    """Flat views of the lanes' positions and gradients (d × LANES, C order) and a flat buffer for σ (their dtype)."""
    xs_flat = xs.reshape(xs.size)
    return xs_flat, gs.reshape(gs.size), np.empty_like(xs_flat)


_SOURCE = '''

@jit
def noise_factor(x, data, out):
    """D(x) = diag(σ(x)), d × d, from the elementwise ``noise_diagonal``: σ(x) into row 0, then moved
    onto the diagonal and the other entries zeroed."""
    d = out.shape[0]
    noise_diagonal(x, data, out[0])
    for j in range(1, d):
        out[j, j] = out[0, j]
    for j in range(d):
        for k in range(d):
            if k != j:
                out[j, k] = 0.0


@jit
def gaussian_lanes_elementwise(xs, zs, gs, ws, live, x, z, g1, data, noise, p, f_mat, c_vec, k_mat, constant_noise,
                               flat):
    """The Gaussian step of all lanes at once for elementwise b and σ: x ← x + s (0 + σ z) − h (b + λx)
    (``gaussian_move``'s diagonal arithmetic), b and σ each computed by one call on the flat views ``flat``
    (lanes not live move too, unrecorded)."""
    xs_flat, gs_flat, sigma = flat
    mean_grad(xs_flat, data, gs_flat)
    n = xs.shape[1]
    if constant_noise:   # D computed once per path (start_path): its diagonal, lane by lane
        for j in range(xs.shape[0]):
            for lane in range(n):
                sigma[j * n + lane] = noise[j, j]
    else:
        noise_diagonal(xs_flat, data, sigma)
    for j in range(xs.shape[0]):
        for lane in range(n):
            xs[j, lane] += (p.noise_scale * (ZERO + sigma[j * n + lane] * zs[j, lane])
                            - p.h * (gs[j, lane] + p.weight_decay * xs[j, lane]))
'''


def elementwise_source() -> str:
    """The source appended to the kernel template for a problem with elementwise functions."""
    return _SOURCE
