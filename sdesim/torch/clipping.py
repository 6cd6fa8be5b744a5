"""Each batch's gradient clipped before SVAG combines them, so that SVAG simulates the SDE of clipped SGD.

Clipped SGD takes x ← x − η(clip_c(∇L_γ) + λx) with clip_c(g) = g·min(1, c/(‖g‖ + 10⁻⁶)), ‖·‖ the total
2-norm over the optimizer's parameters (``torch.nn.utils.clip_grad_norm_``'s arithmetic).  It is SGD on the
stochastic gradient clip_c(∇L_γ), whose mean and covariance define its SDE; SVAG of that method (eq. (5))
combines two independent clipped gradients, g = c₁clip_c(∇L_γ₁) + c₂clip_c(∇L_γ₂), which has the mean and
l times the covariance of one of them, at every l.

Clipping the combination instead, clip_c(c₁∇L_γ₁ + c₂∇L_γ₂), is another method at each l: the combination's
noise grows like √l (c₁ ≈ −c₂ ≈ √(l/2)), so a threshold that clips a few steps at l = 1 clips nearly every
step at l = 4 and shrinks the drift with it (benchmarks/RESULTS.md, "Clipping").
"""

from __future__ import annotations

import contextlib

import torch


def clip_gradients(params: list, clip_norm: float | None, scale: float = 1.0) -> None:
    """clip_c of the gradients in ``.grad`` of ``params`` (those that have one), in place, as
    ``torch.nn.utils.clip_grad_norm_(params, clip_norm)`` does it; nothing when ``clip_norm`` is None.  With
    ``scale`` S (a GradScaler's), the gradients hold S·g and are clipped where g would be: coefficient
    min(1, c/(‖S·g‖/S + 10⁻⁶))."""
    grads = [p.grad for p in params if p.grad is not None]
    if clip_norm is None or not grads:
        return
    total = torch.nn.utils.get_total_norm(grads)
    torch.nn.utils.clip_grads_with_norm_([p for p in params if p.grad is not None], clip_norm,
                                         total if scale == 1.0 else total / scale)


@contextlib.contextmanager
def batch_gradient(params: list, weight: float, clip_norm: float | None, scale: float = 1.0):
    """The gradients computed inside the block are one batch's: on exit they are clipped (`clip_gradients`,
    at ``scale``), multiplied by ``weight`` and added to the ``.grad`` held before the block; if the block
    raises, ``.grad`` is put back as it was."""
    before = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        yield
    except BaseException:
        for p, grad in zip(params, before):
            p.grad = grad
        raise
    with torch.no_grad():
        clip_gradients(params, clip_norm, scale)
        for p, grad in zip(params, before):
            if p.grad is None:
                p.grad = grad
                continue
            if weight != 1.0:
                p.grad.mul_(weight)
            if grad is not None:
                p.grad = grad.add_(p.grad)
