"""Noisy gradient descent with the covariance of SGD's noise, eq. (3) and figure 1, without a d×d matrix.

Give example i of the N examples the loss weight δᵢ = 1 + a(zᵢ − z̄), zᵢ i.i.d. N(0, 1), and take
the gradient of (1/N) Σᵢ δᵢ ℓᵢ(x).  Since Σᵢ (zᵢ − z̄) ∇ℓᵢ = Σᵢ zᵢ (∇ℓᵢ − ∇L),

    g = ∇L(x) + (a/N) Σᵢ zᵢ (∇ℓᵢ − ∇L)   ~   N(∇L(x), (a²/N) Σ₁),   Σ₁ = (1/N) Σᵢ (∇ℓᵢ − ∇L)(∇ℓᵢ − ∇L)ᵀ,

exactly Gaussian.  With a² = f·N/B the covariance is f·Σ₁/B: the covariance of a batch of B drawn
with replacement (f = 1) or as a random subset (f = (N − B)/(N − 1)).  The cost is one forward and
backward pass over all N examples (in chunks), no per-example gradients.

The large-batch variant weighs a uniformly random subset S of M examples instead:
δᵢ = 1 + a(zᵢ − z̄_S) on S.  Its noise has mean 0 and, with a² = (f/B − (N−M)/(M(N−1)))·M²(N−1)/((M−1)N),
covariance exactly f·Σ₁/B (the spread of the subset's mean gradient is part of it), but it is a
mixture of Gaussians, not a Gaussian; it costs a pass over M examples.

Both need per-example losses that do not depend on the other examples of the batch: batch norm in
training mode couples them and is refused.
"""

from __future__ import annotations

import contextlib
import math

import torch


def coupling_layers(model: torch.nn.Module) -> list[str]:
    """Names of the layers that make one example's output depend on the others' (batch norm in training mode)."""
    return [name or type(module).__name__ for name, module in model.named_modules()
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.training]


def describe_coupling(model: torch.nn.Module) -> str:
    """The coupling layers for a message, e.g. "layer '1' (BatchNorm1d)"; "" if there are none."""
    kinds = {name: type(module).__name__ for name, module in model.named_modules()}
    names = [f"layer {name!r} ({kinds.get(name, name)})" for name in coupling_layers(model)]
    return f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"


def refuse_coupling(model: torch.nn.Module, method: str) -> None:
    """Raise if the model has a layer that couples the examples of a batch."""
    coupled = describe_coupling(model)
    if coupled:
        raise ValueError(
            f"method {method!r} sums per-example gradients over the whole data set in chunks, which is the "
            f"gradient of the full-batch loss only when no layer couples the examples of a batch; the model "
            f"has batch norm in training mode ({coupled}). "
            f"Use group norm or layer norm, or no normalization, for 'gd' and 'ngd'")


def noise_scale(n: int, batch_size: int, covariance_factor: float = 1.0, sample_size: int | None = None) -> float:
    """The a of δᵢ = 1 + a(zᵢ − z̄) that gives covariance ``covariance_factor``·Σ₁/B (module docstring)."""
    if sample_size is None or sample_size == n:
        return math.sqrt(covariance_factor * n / batch_size)
    m = sample_size
    spread_of_subset_mean = (n - m) / (m * (n - 1))
    target = covariance_factor / batch_size
    if m < 2 or target < spread_of_subset_mean * (1 - 1e-12):
        raise ValueError(
            f"ngd_sample_size M={m} is too small for batch size B={batch_size} out of N={n}: the spread of the "
            f"mean gradient over M examples alone, (N−M)/(M(N−1)) = {spread_of_subset_mean:.3g}, already exceeds "
            f"the target covariance factor f/B = {target:.3g}; use M well above B")
    return math.sqrt(max(0.0, target - spread_of_subset_mean) * m * m * (n - 1) / ((m - 1) * n))


def ngd_weights(n: int, batch_size: int, generator: torch.Generator, *, covariance_factor: float = 1.0,
                sample_size: int | None = None, dtype=torch.float32):
    """(indices, δ) for one NGD step: indices None for all N examples, else the M sampled ones.

    z is drawn from ``generator`` (M or N normals), then the subset if any (one randperm).
    """
    m = n if sample_size is None else sample_size
    a = noise_scale(n, batch_size, covariance_factor, sample_size)
    z = torch.randn(m, generator=generator, device=generator.device, dtype=dtype)
    weights = 1.0 + a * (z - z.mean())
    if m == n:
        return None, weights
    indices = torch.randperm(n, generator=generator, device=generator.device)[:m]
    return indices, weights


def weighted_gradient(model, loss_fn, data, weights=None, indices=None, *, chunk_size: int | None = None,
                      forward=None, read=None):
    """Add ∇ (1/M) Σᵢ wᵢ ℓᵢ over the examples ``indices`` (all when None) to the parameters' ``.grad``.

    ``loss_fn(outputs, targets)`` returns per-example losses.  One forward and backward pass per chunk
    of ``chunk_size`` examples (all at once when None), through ``forward`` (default ``model``; e.g. the
    trainer's compiled or autocast pass).  Returns the plain mean loss (1/M) Σᵢ ℓᵢ, detached.
    ``read``: None (``data.batch`` of each chunk) or a function [index tensor per chunk] -> a generator of
    (inputs, targets) per chunk (the trainer's Dataset reader, ``sdesim.torch.loading``).
    """
    forward = model if forward is None else forward
    m = len(data) if indices is None else len(indices)
    chunk = m if chunk_size is None else chunk_size
    starts = range(0, m, chunk)
    chunks = [torch.arange(start, min(start + chunk, m), device=data.device) if indices is None
              else indices[start:start + chunk] for start in starts]
    reads = (data.batch(where) for where in chunks) if read is None else read(chunks)
    total = None
    with contextlib.closing(reads):
        for start, (inputs, targets) in zip(starts, reads):
            losses = loss_fn(forward(inputs), targets)
            objective = losses if weights is None else losses * weights[start:start + chunk].to(losses.device)
            (objective.sum() / m).backward()
            part = losses.detach().sum()
            total = part if total is None else total + part
    return total / m


def ngd_gradient(model, loss_fn, data, batch_size: int, generator: torch.Generator, *,
                 covariance_factor: float = 1.0, sample_size: int | None = None, chunk_size: int | None = None,
                 forward=None, read=None):
    """Add one NGD gradient, ∇L(x) + noise with covariance f·Σ₁/B (eq. (3)), to ``.grad``; return the mean loss
    (``forward``, ``read``: as for `weighted_gradient`)."""
    dtype = next(p.dtype for p in model.parameters() if p.requires_grad)
    indices, weights = ngd_weights(len(data), batch_size, generator, covariance_factor=covariance_factor,
                                   sample_size=sample_size, dtype=dtype)
    return weighted_gradient(model, loss_fn, data, weights, indices, chunk_size=chunk_size, forward=forward, read=read)
