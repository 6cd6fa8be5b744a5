"""Noisy GD (eq. (3)) as a ``torch.optim`` optimizer: x ← x − η(∇L + ε + λx), ε ~ N(0, f·Σ₁/B) exactly,
from per-example loss weights δᵢ drawn once per step (``sdesim.torch.ngd``)."""

from __future__ import annotations

import torch

from sdesim.torch._checks import strict_positive_int
from sdesim.torch.data import SAMPLINGS as NGD_SAMPLINGS, covariance_factor
from sdesim.torch.ngd import ngd_weights, noise_scale
from sdesim.torch.small_steps import SmallStepOptimizer, gradient_step


class NoisyGDChunk:
    """A chunk of the examples one NoisyGD step weighs: ``indices``, and `loss` of their per-example losses."""

    def __init__(self, owner: "NoisyGD", indices: torch.Tensor, weights: torch.Tensor, total: int):
        self._owner, self.indices, self._weights, self._total = owner, indices, weights, total

    def loss(self, losses: torch.Tensor) -> torch.Tensor:
        """(1/M) Σᵢ δᵢ ℓᵢ over this chunk (M: the examples of the whole step); ``.backward()`` it."""
        if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (len(self.indices),):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(f"chunk.loss takes one loss per example of the chunk, shape ({len(self.indices)},), "
                             f"got {shape}; use reduction='none'")
        if self._owner._chunks is None or not any(chunk is self for chunk in self._owner._chunks):
            raise RuntimeError("this chunk is from an earlier step's draw: take the losses of this step's chunks, "
                               "those the last opt.draw() returned")
        if self in self._owner._chunks_used:
            raise RuntimeError(f"this chunk's loss was already taken in this step (examples {int(self.indices[0])}.."
                               f"{int(self.indices[-1])}): each chunk goes into the gradient once, or its examples "
                               f"would count twice")
        self._owner._chunks_used.append(self)
        return (losses * self._weights.to(losses.device)).sum() / self._total


class NoisyGD(SmallStepOptimizer):
    """Noisy GD, eq. (3): x ← x − η(∇L + ε + λx) with ε ~ N(0, f·Σ₁/B) exactly, SGD's noise at batch size B
    under ``sampling`` (f = 1 for ``"replacement"``, (N − B)/(N − 1) for ``"subset"``).

    Each step: ``for chunk in opt.draw(chunk_size): chunk.loss(per_example_losses(chunk.indices)).backward()``,
    then ``opt.step()``.  `draw` draws the weights δᵢ = 1 + a(zᵢ − z̄) once per step from the optimizer's
    generator (seeded by ``seed``, saved by ``state_dict``); the chunks cover all N examples, or a random
    M-subset with ``sample_size`` = M (``sdesim.torch.ngd``).  Needs per-example losses that do not depend on
    the other examples (no batch norm in training mode) and fixed examples (no random augmentation).
    """

    def __init__(self, params, lr: float, *, n: int, batch_size: int, sampling: str = "subset",
                 sample_size: int | None = None, weight_decay: float = 0.0, seed: int = 0):
        n = strict_positive_int("n (the number of training examples)", n)
        batch_size = strict_positive_int("batch_size", batch_size)
        if n < 2:
            raise ValueError(f"n={n}: noisy GD needs at least 2 training examples (its noise has the covariance of "
                             f"the per-example gradients, which one example does not have)")
        if batch_size > n:
            raise ValueError(f"batch_size={batch_size} exceeds n={n}")
        if sampling not in NGD_SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, NGD_SAMPLINGS))}")
        if sample_size is not None:
            sample_size = strict_positive_int("sample_size", sample_size)
            if sample_size > n:
                raise ValueError(f"sample_size={sample_size} exceeds n={n}")
        self.n, self.batch_size, self.sample_size = n, batch_size, sample_size
        self.covariance_factor = covariance_factor(sampling, n, batch_size)
        noise_scale(n, batch_size, self.covariance_factor, sample_size)       # raises if M is too small
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.generator = torch.Generator().manual_seed(seed)
        self._chunks, self._chunks_used = None, []
        super().__init__(params, lr, weight_decay, small_steps=1,
                         settings={"method": "ngd", "n": n, "batch_size": batch_size, "sampling": sampling,
                                   "sample_size": sample_size})

    def draw(self, chunk_size: int | None = None) -> list:
        """This step's noise: the chunks (of ``chunk_size`` examples; one when None) to take losses on."""
        if self._chunks is not None:
            raise RuntimeError("NoisyGD.draw was called twice before step(): its noise is drawn once per step")
        m = self.n if self.sample_size is None else self.sample_size
        chunk = m if chunk_size is None else strict_positive_int("chunk_size", chunk_size)
        dtype = next(p.dtype for group in self.param_groups for p in group["params"])
        indices, weights = ngd_weights(self.n, self.batch_size, self.generator, dtype=dtype,
                                       covariance_factor=self.covariance_factor, sample_size=self.sample_size)
        indices = torch.arange(self.n) if indices is None else indices
        self._chunks = [NoisyGDChunk(self, indices[start:start + chunk], weights[start:start + chunk], m)
                        for start in range(0, m, chunk)]
        self._chunks_used = []
        return self._chunks

    def step(self, closure=None):
        """One step of eq. (3): x ← x − η(∇L + ε + λx), with the noise ε drawn by `draw`; a RuntimeError if
        `draw` was not called or a chunk's loss did not go into the gradient."""
        if self._chunks is None:
            raise RuntimeError("call opt.draw() before each NoisyGD.step(): the noise is drawn once per step")
        if len(self._chunks_used) != len(self._chunks):
            raise RuntimeError(f"only {len(self._chunks_used)} of this step's {len(self._chunks)} chunks went into the "
                               f"gradient (chunk.loss(...).backward() for each): the step would miss examples")
        loss = super().step(closure)
        self._chunks = None
        return loss

    def _update(self, group: dict, params: list) -> None:
        gradient_step(params, group["lr"], group["weight_decay"])

    def state_dict(self) -> dict:
        """`SmallStepOptimizer.state_dict` plus the noise generator's state."""
        state = super().state_dict()
        state["sdesim"]["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """`SmallStepOptimizer.load_state_dict`, and the noise generator's state."""
        super().load_state_dict(state_dict)
        self.generator.set_state(state_dict["sdesim"]["generator"])
