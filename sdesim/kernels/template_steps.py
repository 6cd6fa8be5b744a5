# The steps of the kernel template (sdesim/kernels/template.py): one small step of each method.  The builder
# puts this text after the header (the problem's functions, ``normal``, FLOAT, ZERO …) and before the
# template, and binds ``take_step = <kind>`` to the one step the kernel runs (with h the small step and λ
# the weight decay; sdesim.methods names them):
#   stochastic_step    x ← x − h (c₁ ∇L_γ₁(x) + c₂ ∇L_γ₂(x) + λx)       SGD eq. (1), SVAG eq. (5)
#   gaussian_step      x ← x − h (∇L(x) + λx) + s D(x) z,  s = √(hη)    NGD eq. (3), Euler–Maruyama
#   linear_step        x ← F x + c + K z                                exact OU transition
#   adaptive_step      RMSprop / Adam (and their SVAG), torch.optim's arithmetic
#   adaptive_sde_step  Euler–Maruyama on the RMSprop / Adam SDE
# Every step reads its scalars from one `sdesim.methods.StepParams` named tuple ``p`` and
# an adaptive method's per-path state (m, v, step count) from ``opt``.
import math

from sdesim._jit import fma

# The three kinds of step share one signature; the builder binds take_step to one of
# them, so that each generated kernel compiles only the step it runs.

@jit
def draw_gradients(x, data, rng, pstate, two, g1, g2):
    """Draw ∇L_γ₁(x) into g1 or, with ``two``, ∇L_γ₁ into g2 and then ∇L_γ₂ into g1.

    One call site of ``sample_grad`` for both gradients, so that it is inlined once.
    """
    for draw in range(2 if two else 1):
        if draw == 1:
            for j in range(x.shape[0]):
                g2[j] = g1[j]
        sample_grad(x, data, rng, pstate, g1)


@jit
def stochastic_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """SGD eq. (1) / SVAG eq. (5): x ← x − h (c₁∇L_γ₁(x) + c₂∇L_γ₂(x) + λx)."""
    draw_gradients(x, data, rng, pstate, p.c2 != 0.0, g1, g2)
    h, c1, c2, weight_decay = p.h, p.c1, p.c2, p.weight_decay
    if c2 != 0.0:
        for j in range(x.shape[0]):
            x[j] -= h * (c1 * g2[j] + c2 * g1[j] + weight_decay * x[j])
    else:
        for j in range(x.shape[0]):
            x[j] -= h * (c1 * g1[j] + weight_decay * x[j])


@jit
def draw_normals(rng, z, n):
    """n standard normals from the stream ``rng`` into z[0 … n−1]."""
    for k in range(n):
        z[k] = normal(rng)


@jit
def gaussian_draw(x, data, rng, g1, noise, z, constant_noise):
    """∇L(x) into g1, D(x) into noise (unless constant) and m standard normals into z."""
    mean_grad(x, data, g1)
    if not constant_noise:
        noise_factor(x, data, noise)
    draw_normals(rng, z, noise.shape[1])


@jit
def gaussian_move(x, data, g1, noise, z, p, f_mat, c_vec, k_mat, constant_noise):
    """The Gaussian step given its m normals z: x ← x − h (∇L(x) + λx) + √(hη) D(x) z."""
    mean_grad(x, data, g1)
    if not constant_noise:
        noise_factor(x, data, noise)
    m = noise.shape[1]
    if p.diagonal_noise:   # (D z)_j = 0.0 + D_jj z_j: the dense sum's value, whose other terms are ±0
        for j in range(x.shape[0]):
            x[j] += p.noise_scale * (ZERO + noise[j, j] * z[j]) - p.h * (g1[j] + p.weight_decay * x[j])
    else:
        for j in range(x.shape[0]):
            w = ZERO
            for k in range(m):
                w += noise[j, k] * z[k]
            x[j] += p.noise_scale * w - p.h * (g1[j] + p.weight_decay * x[j])


@jit
def gaussian_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """NGD eq. (3) / Euler–Maruyama on eq. (2): x ← x − h (∇L(x) + λx) + √(hη) D(x) z."""
    draw_normals(rng, z, noise.shape[1])
    gaussian_move(x, data, g1, noise, z, p, f_mat, c_vec, k_mat, constant_noise)


@jit
def linear_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """The exact OU transition: x ← F x + c + K z."""
    d = x.shape[0]
    draw_normals(rng, z, d)
    for j in range(d):
        acc = c_vec[j]
        for k in range(d):
            acc += f_mat[j, k] * x[k] + k_mat[j, k] * z[k]
        g1[j] = acc
    for j in range(d):
        x[j] = g1[j]


@jit
def adaptive_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """One RMSprop/Adam small step (the 2022 paper's SVAG when c₂ ≠ 0), in torch.optim's order:

        g = c₁∇L_γ₁ + c₂∇L_γ₂ + λx,  m ← β₁m + (1−β₁)g (Adam; else m = g),  v ← β₂v + (1−β₂)g²,
        x ← x − (h/b₁) m / (√v/√b₂ + ε),   bᵢ = 1 − βᵢᵏ with bias correction, else 1.

    ``opt`` holds m (d), v (d) and the step count k.  The fused multiply-adds are torch's own
    (addcmul, lerp, add with alpha), so that l = 1 equals torch.optim bit for bit.  b₁ and √b₂
    depend on k alone: ``corrections`` holds them for the first steps (`StepPlan.corrections`,
    the same pow in Python), and from step ``p.settled`` on both are exactly 1.
    """
    d = x.shape[0]
    two = p.c2 != 0.0
    draw_gradients(x, data, rng, pstate, two, g1, g2)
    k = opt[2 * d] + 1.0
    opt[2 * d] = k
    step, root2 = p.h, 1.0
    if p.bias_correction and k < p.settled:
        i = int(k) - 1
        if i < corrections.shape[0]:
            step = p.h / corrections[i, 0]
            root2 = corrections[i, 1]
        else:
            step = p.h / (1.0 - p.beta1 ** k)
            root2 = math.pow(1.0 - p.beta2 ** k, p.half)   # torch's bias_correction2 ** 0.5
    for j in range(d):
        g = p.c1 * g2[j] + p.c2 * g1[j] if two else g1[j]
        if p.weight_decay != 0.0:
            g = fma(p.weight_decay, x[j], g)
        m = g
        if p.momentum:   # torch's lerp(m, g, w)
            m = opt[j]
            w = p.one_minus_beta1
            m = fma(w, g - m, m) if w < 0.5 else fma(-(g - m), 1.0 - w, g)
            opt[j] = m
        v = fma(p.one_minus_beta2 * g, g, opt[d + j] * p.beta2)
        opt[d + j] = v
        x[j] = x[j] + (-step * m) / (math.sqrt(v) / root2 + p.eps)


@jit
def adaptive_sde_step(x, data, rng, pstate, opt, p, f_mat, c_vec, k_mat, corrections, g1, g2, noise, z, constant_noise):
    """Euler–Maruyama on the RMSprop/Adam SDE, the state (m, u) first, then x with the new (m, u):

        u ← u + c₂(diag Σ(x) − u) dt,   w = √dt D(x) z,
        Adam:     m ← m + c₁(∇L(x) + λx − m) dt + c₁σ₀ w,   x ← x − dt (m/γ₁) / (σ₀√(u/γ₂) + ε₀)
        RMSprop:  x ← x − (dt (∇L(x) + λx) + σ₀ w) / (σ₀√(u/γ₂) + ε₀)

    with γᵢ = 1 − e^{−cᵢt} at the step's end (1 without bias correction; tabulated in
    ``corrections`` like the discrete step's).  Taking x last keeps m/γ₁ finite at t = 0, where
    γ₁ = 0.  ``opt`` holds m, u and the step count.
    """
    d = x.shape[0]
    gaussian_draw(x, data, rng, g1, noise, z, constant_noise)
    m_cols = noise.shape[1]
    n = opt[2 * d] + 1.0
    opt[2 * d] = n
    gamma1, root2 = 1.0, 1.0
    if p.bias_correction and n < p.settled:
        i = int(n) - 1
        if i < corrections.shape[0]:
            gamma1 = corrections[i, 0]
            root2 = corrections[i, 1]
        else:
            t = n * p.h
            gamma1 = -math.expm1(-p.rate1 * t)
            root2 = math.sqrt(-math.expm1(-p.rate2 * t))
    for j in range(d):
        w = 0.0
        diag = 0.0
        for k in range(m_cols):
            w += noise[j, k] * z[k]
            diag += noise[j, k] * noise[j, k]
        w *= p.noise_scale
        u = opt[d + j] + p.rate2 * (diag - opt[d + j]) * p.h
        opt[d + j] = u
        drift = g1[j] + p.weight_decay * x[j]
        denom = p.sigma0 * math.sqrt(u) / root2 + p.eps0
        if p.momentum:
            m = opt[j] + p.rate1 * ((drift - opt[j]) * p.h + p.sigma0 * w)
            opt[j] = m
            x[j] -= p.h * (m / gamma1) / denom
        else:
            x[j] -= (p.h * drift + p.sigma0 * w) / denom
