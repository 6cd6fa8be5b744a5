"""Exact weak errors of Euler–Maruyama on SDEs whose Euler moments close: data the order rule was not built from.

Each scheme's error e(l) = max_k |E g(x_k) − E g(X_{kH})| over the steps t = kH ≤ T, where x
is Euler with step h = H/l and E g(x_k) comes from the exact moment recursion of the discrete
scheme (not Monte Carlo), E g(X_t) from the SDE's closed form.  Every power of 1/l is in these
errors, not just the two of the fitted model.  ``sd`` is the standard deviation of g(X_t) at
the step of the maximum, so sd/√N is the standard error of an N-path estimate there.

- ``gbm_x2``, ``gbm_x``: geometric Brownian motion dX = μX dt + σX dW (μ = 0.5, σ = 0.5,
  X₀ = 1), g = x² and x: E x_{k+1}² = ((1 + μh)² + σ²h) E x_k², E X_t² = e^{(2μ+σ²)t}.
- ``ou_norm2``: a 2-d Ornstein–Uhlenbeck process dX = −AX dt + S dW with a non-symmetric A,
  g = |x|²: mean m ← (I − hA)m, covariance P ← (I − hA)P(I − hA)ᵀ + hSSᵀ.
- ``pearson_x4``: the nonlinear SDE dX = −θX dt + √(a + bX²) dW (θ = 1, a = b = 0.5,
  X₀ = 1.5), g = x⁴, whose second and fourth Euler moments close.
"""

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov

L = 2 ** np.arange(7)          # l = 1, 2, …, 64
H = 0.25                       # the coarsest step (l = 1)


def _gbm(power, mu=0.5, sigma=0.5, x0=1.0):
    if power == 2:
        euler = lambda h, k: x0**2 * ((1 + mu * h) ** 2 + sigma**2 * h) ** k                # noqa: E731
        exact = lambda t: x0**2 * np.exp((2 * mu + sigma**2) * t)                           # noqa: E731
        var = lambda t: x0**4 * np.exp((4 * mu + 6 * sigma**2) * t) - exact(t) ** 2        # noqa: E731
    else:
        euler = lambda h, k: x0 * (1 + mu * h) ** k                                          # noqa: E731
        exact = lambda t: x0 * np.exp(mu * t)                                                # noqa: E731
        var = lambda t: x0**2 * np.exp((2 * mu + sigma**2) * t) - exact(t) ** 2             # noqa: E731
    return euler, exact, var, 1.0


def _ou():
    a = np.array([[1.0, 2.0], [-0.5, 1.5]])
    q = np.array([[0.7, 0.0], [0.3, 0.5]]) @ np.array([[0.7, 0.0], [0.3, 0.5]]).T
    x0 = np.array([1.0, -0.5])
    stationary = solve_continuous_lyapunov(-a, -q)          # A P + P Aᵀ = S Sᵀ

    def euler(h, k):
        step, m, p, out = np.eye(2) - h * a, x0.copy(), np.zeros((2, 2)), {}
        for j in range(1, int(k.max()) + 1):
            m, p = step @ m, step @ p @ step.T + h * q
            out[j] = m @ m + np.trace(p)
        return np.array([out[j] for j in k])

    def moments(t):
        e = expm(-a * t)
        return e @ x0, stationary - e @ stationary @ e.T

    exact = lambda t: np.array([m @ m + np.trace(p) for m, p in map(moments, t)])           # noqa: E731
    var = lambda t: np.array([2 * np.trace(p @ p) + 4 * m @ p @ m for m, p in map(moments, t)])  # noqa: E731
    return euler, exact, var, 2.0


def _pearson(theta=1.0, a=0.5, b=0.5, x0=1.5):
    def euler(h, k):
        c, m2, m4, out = 1 - theta * h, x0**2, x0**4, {}
        for j in range(1, int(k.max()) + 1):
            m4, m2 = (c**4 * m4 + 6 * c * c * h * (a * m2 + b * m4) + 3 * h * h * (a * a + 2 * a * b * m2 + b * b * m4),
                      c * c * m2 + h * (a + b * m2))
            out[j] = m4
        return np.array([out[j] for j in k])

    # d/dt (E X², E X⁴, 1) = G (E X², E X⁴, 1) by Itô's formula
    g = np.array([[-2 * theta + b, 0, a], [6 * a, -4 * theta + 6 * b, 0], [0, 0, 0]])
    exact = lambda t: np.array([(expm(g * s) @ np.array([x0**2, x0**4, 1.0]))[1] for s in t])  # noqa: E731
    var = lambda t: 2 * exact(t) ** 2     # a scale for the noise (E X⁸ does not close cheaply)
    return euler, exact, var, 1.0


SCHEMES = {"gbm_x2": _gbm(2), "gbm_x": _gbm(1), "ou_norm2": _ou(), "pearson_x4": _pearson()}


def errors(name, offset=0.0, l=L):
    """(e(l), sd) of scheme ``name``; ``offset``: the reference off by that fraction (E g(X) × (1 + offset))."""
    euler, exact, var, horizon = SCHEMES[name]
    steps = np.arange(1, int(round(horizon / H)) + 1)
    t = H * steps
    reference = exact(t) * (1.0 + offset)
    out, sd = [], []
    for v in l:
        gap = euler(H / v, v * steps) - reference
        k = int(np.argmax(np.abs(gap)))
        out.append(abs(gap[k]))
        sd.append(float(np.sqrt(var(t[k:k + 1]))[0]))
    return np.array(out), np.array(sd)
