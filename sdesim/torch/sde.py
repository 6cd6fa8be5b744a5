"""The engine's synthetic problems as torchsde SDEs, solved on the CPU or a GPU.

For a problem with a `LinearQuadraticForm` (``quadratic``,
``linear_regression``) the SDE (2) with weight decay λ,

    dX = −(∇L(X) + λX) dt + (ηΣ(X))^{1/2} dW,     ∇L(x) = Hx − v,
    Σ(x) = Σ₀ + s Σ_i (D_i x − e_i)(D_i x − e_i)ᵀ,

has torch formulas: the diffusion is the d×m factor √η [Σ₀^{1/2} | √s (D_i x − e_i)]_i
(columns for Σ₀ only when Σ₀ ≠ 0), so Σ = factor·factorᵀ/η; ``noise_type="general"``,
``sde_type="ito"``.  `solve` integrates many paths as one batch with
``torchsde.sdeint`` (Euler–Maruyama, the engine's scheme: x ← x − h(∇L + λx) + √(hη) Σ^{1/2} z)
and returns a `Result` like `sdesim.simulate`'s.
"""

from __future__ import annotations

import math
import platform

import numpy as np
import torch

from sdesim._checks import finite_array, positive_float, positive_int
from sdesim.methods import plan
from sdesim.result import Observable, Result, to_jsonable

OBSERVABLES = ("x", "norm2", "loss", "grad_norm2", "noise_trace")


class ProblemSDE(torch.nn.Module):
    """A torchsde SDE for ``problem`` at learning rate η: drift f = −(∇L + λx), diffusion g = (ηΣ)^{1/2}.

    ``time_scale`` c > 0 runs the same SDE in the time t' = t/c (f and g scaled by c and √c),
    which `solve` uses so that Euler steps fall on whole numbers of t'.
    """

    noise_type = "general"
    sde_type = "ito"

    def __init__(self, problem, lr: float, *, device="cpu", dtype=torch.float64, time_scale: float = 1.0):
        super().__init__()
        form = getattr(problem, "linear_quadratic", None)
        if form is None:
            raise ValueError(f"problem {getattr(problem, 'name', problem)!r} has no linear-quadratic form "
                             "(∇L affine and Σ quadratic in x), so it has no torch formulas here; "
                             "use 'quadratic' or 'linear_regression', or sdesim.simulate(..., 'sde') for any problem")
        self.lr = positive_float("lr (the learning rate η)", lr)
        self.weight_decay = float(problem.weight_decay)
        scale = positive_float("time_scale", time_scale)
        self.time_scale = scale

        def tensor(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)

        self.register_buffer("hessian", tensor(form.hessian))
        self.register_buffer("offset", tensor(form.offset))
        self.constant = float(form.constant)
        sigma0 = np.asarray(form.sigma0, dtype=np.float64)
        root0 = _psd_root(sigma0) if np.any(sigma0) else np.zeros((problem.dim, 0))
        self.register_buffer("root0", tensor(root0))             # Σ₀^{1/2}, d×d (or d×0)
        self.register_buffer("rows", tensor(form.rows))           # D, n×d×d
        self.register_buffer("cols", tensor(form.cols))           # e, n×d
        self.scale = float(form.scale)
        self.dim = int(problem.dim)
        self.noise_size = self.root0.shape[1] + self.rows.shape[0]
        if self.noise_size == 0:
            raise ValueError(f"problem {problem.name!r} has no noise (Σ ≡ 0): nothing for an SDE solver to do")

    # the SDE --------------------------------------------------------------------------------
    def grad(self, y: torch.Tensor) -> torch.Tensor:
        """∇L(y) = Hy − v for a batch y (P×d), without weight decay."""
        return y @ self.hessian.T - self.offset

    def sigma_factor(self, y: torch.Tensor) -> torch.Tensor:
        """A P×d×m factor of Σ(y): [Σ₀^{1/2} | √s (D_i y − e_i)]."""
        parts = []
        if self.root0.shape[1]:
            parts.append(self.root0.expand(y.shape[0], *self.root0.shape))
        if self.rows.shape[0]:
            residual = torch.einsum("nij,pj->pin", self.rows, y) - self.cols.T   # P×d×n
            parts.append(math.sqrt(self.scale) * residual)
        return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]

    def f(self, t, y):
        """The drift −c(∇L(y) + λy) for a batch y (P×d), c the ``time_scale``."""
        return -self.time_scale * (self.grad(y) + self.weight_decay * y)

    def g(self, t, y):
        """The diffusion √(cη) Σ(y)^{1/2}, a factor of shape (P, d, m) for a batch y (P×d)."""
        return math.sqrt(self.time_scale * self.lr) * self.sigma_factor(y)

    # observables (the engine's definitions: loss and grad_norm2 leave weight decay out) ----
    def observables(self, y: torch.Tensor) -> dict:
        """Per-path x, |x|², L(x), |∇L(x)|², Tr Σ(x) for a batch y (P×d)."""
        grad = self.grad(y)
        factor = self.sigma_factor(y)
        return {
            "x": y,
            "norm2": (y * y).sum(1),
            "loss": 0.5 * (y * (y @ self.hessian.T)).sum(1) - y @ self.offset + self.constant,
            "grad_norm2": (grad * grad).sum(1),
            "noise_trace": (factor * factor).sum((1, 2)),
        }


def _psd_root(matrix):
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def to_torchsde(problem, lr: float, *, device="cpu", dtype=torch.float64) -> ProblemSDE:
    """The SDE (2) of ``problem`` at learning rate η as a torchsde module (time t = kη)."""
    return ProblemSDE(problem, lr, device=_device(device), dtype=dtype)


def _device(device) -> torch.device:
    from sdesim.torch._checks import resolve_device

    return resolve_device(device)


def solve(problem, *, lr: float = 0.1, l: int = 1, steps: int = 100, paths: int = 10_000, seed: int = 0,
          x0=None, checkpoints=None, dt: float | None = None, device="cpu", dtype=torch.float64) -> Result:
    """Euler–Maruyama on the SDE (2) of ``problem`` with torchsde, ``paths`` paths in one batch.

    Arguments as `sdesim.simulate`: effective step k is time t = kη, the step is
    dt (default η/l), ``checkpoints`` are effective steps (default the start and the end).
    Torch draws the Brownian increments (``torchsde.BrownianInterval`` seeded by ``seed``),
    so paths differ from the engine's; means agree within Monte Carlo error.  Time runs in
    units of dt inside torchsde, so every step is exactly dt.
    """
    import torchsde

    paths = positive_int("paths", paths)
    steps = positive_int("steps", steps)
    seed = positive_int("seed", seed, allow_zero=True)
    step_plan = plan("sde", lr, l, dt=dt)
    device = _device(device)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    sde = ProblemSDE(problem, lr, device=device, dtype=dtype, time_scale=step_plan.h)
    start = problem.start_point(x0)
    effective = np.array([0, steps] if checkpoints is None else sorted(set(int(k) for k in checkpoints)))
    if checkpoints is not None:
        finite_array("checkpoints", effective, ndim=1)
        if effective[0] < 0 or effective[-1] > steps:
            raise ValueError(f"checkpoints must lie in 0..steps={steps}, got {effective.min()}..{effective.max()}")
    small = step_plan.small_steps(effective)                      # whole numbers of Euler steps
    times = torch.as_tensor(np.unique(np.concatenate([[0], small])).astype(np.float64), dtype=dtype, device=device)
    y0 = torch.as_tensor(start, dtype=dtype, device=device).expand(paths, -1).contiguous()
    brownian = torchsde.BrownianInterval(t0=float(times[0]), t1=float(times[-1]) if len(times) > 1 else 1.0,
                                         size=(paths, sde.noise_size), dtype=dtype, device=device, entropy=seed)
    with torch.no_grad():
        ys = torchsde.sdeint(sde, y0, times, method="euler", dt=1.0, bm=brownian) if len(times) > 1 else y0[None]
        lookup = {int(round(float(t))): i for i, t in enumerate(times)}
        stats = [_summarize(sde.observables(ys[lookup[int(k)]])) for k in small]
    counts = np.array([c for c, _ in stats])
    observables = {name: Observable(np.array([s[name][0] for _, s in stats]), np.array([s[name][1] for _, s in stats]))
                   for name in OBSERVABLES}
    return Result(
        problem={"name": problem.name, "params": to_jsonable(problem.params)}, method="sde", lr=float(lr), l=int(l),
        steps=steps, paths=paths, seed=seed, times=effective * float(lr), observables=observables,
        counts=counts, diverged=int(paths - counts.min()), first_divergence_time=None,
        x0=np.asarray(start, dtype=np.float64), dt=step_plan.h, scheme="torchsde-euler",
        versions={"torch": torch.__version__, "torchsde": getattr(torchsde, "__version__", "unknown"),
                  "numpy": np.__version__, "python": platform.python_version(), "device": str(device)})


def _summarize(values: dict):
    """(paths counted, {name: (mean, stderr)}) over the paths whose state is finite."""
    finite = torch.isfinite(values["x"]).all(1)
    count = int(finite.sum())
    out = {}
    for name, v in values.items():
        v = v[finite].double()
        mean = v.mean(0)
        se = v.std(0, unbiased=True) / math.sqrt(count) if count > 1 else torch.full_like(mean, float("nan"))
        out[name] = (mean.cpu().numpy(), se.cpu().numpy())
    return count, out
