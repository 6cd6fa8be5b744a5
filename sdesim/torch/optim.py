"""SVAG, its adaptive versions and noisy GD as ``torch.optim`` optimizers, for a training loop of your own.

====================  ===========================================================================================
``SVAG``              small step x ← x − (η/l)(g + λx), g = c₁∇L_γ₁ + c₂∇L_γ₂, c₁,₂ = (1 ± √(2l−1))/2;
                      l small steps per effective step; l = 1 is torch.optim.SGD                       eq. (5)
``RMSpropSVAG``,      the update of ``sdesim.torch.adaptive`` with η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl on the SVAG
``AdamSVAG``,         gradient with l²; l² small steps per effective step; l = 1 is torch.optim.RMSprop(alpha=β),
``PaperRMSpropSVAG``  torch.optim.Adam, torch.optim.Adam(betas=(0, β))
``NoisyGD``           x ← x − η(∇L + ε + λx), ε ~ N(0, f·Σ₁/B) exactly, from loss weights δᵢ (``sdesim.torch.ngd``)
====================  ===========================================================================================

λ is eq. (7)'s weight decay (``weight_decay``, unchanged across l).  ``.grad`` holds g: the loop computes
each batch's loss in its own forward pass and calls ``opt.combine(loss1, loss2).backward()`` (at l = 1
``opt.combine(loss)``: one batch, SGD).  The optimizer counts its small steps (``small_steps_taken``, saved
by ``state_dict``); effective step k is small steps lk..lk+l−1 (l² for the adaptive methods), time kη (kη²).

Step an lr scheduler once per effective step, when ``opt.ends_effective_step``: every small step of an
effective step uses one learning rate η_k.  A learning rate set in the middle of an effective step (by a
scheduler's ``step()`` or by hand, even to the same value) is refused at the next ``opt.step()``: this
catches the loop that steps its scheduler after every ``opt.step()`` (l small steps per effective step).
"""

from __future__ import annotations

import torch

from sdesim._checks import decay
from sdesim.methods import svag_weights
from sdesim.torch._checks import finite_number, strict_positive_int
from sdesim.torch.adaptive import AdaptiveState, adaptive_step, check_hyperparameters
from sdesim.torch.data import SAMPLINGS as NGD_SAMPLINGS, covariance_factor
from sdesim.torch.ngd import ngd_weights, noise_scale


def gradient_step(params, lr: float, weight_decay: float) -> None:
    """x ← x − lr·(g + λx) for each parameter, g its ``.grad`` (torch.optim.SGD's arithmetic)."""
    for p in params:
        p.add_(p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay), alpha=-lr)


class _WatchedGroup(dict):
    """A param group that counts how often its learning rate is set (``lr_writes``)."""

    lr_writes = 0

    def __setitem__(self, key, value):
        if key == "lr":
            self.lr_writes += 1
        super().__setitem__(key, value)


def _describe(group_index: int, index: int, group: dict, param: torch.Tensor) -> str:
    names = group.get("param_names")
    name = repr(names[index]) if names else f"param_groups[{group_index}]['params'][{index}]"
    return f"{name} (shape {tuple(param.shape)})"


class SmallStepOptimizer(torch.optim.Optimizer):
    """What every optimizer here shares: the small-step counter, the learning-rate watch, the refusal of
    parameters without gradient, and a ``state_dict`` that records (and on load checks) the method.

    Subclasses set ``small_steps`` and ``settings`` (what a saved state must match) and write `_update`.
    """

    def __init__(self, params, lr, weight_decay, *, small_steps: int, settings: dict):
        self.small_steps = small_steps
        self.settings = settings
        self.small_steps_taken = 0
        self._start = None          # (lr writes, lrs) of the groups when the current effective step began
        defaults = {"lr": finite_number("lr (the learning rate η)", lr, positive=True),
                    "weight_decay": finite_number("weight_decay (λ of eq. (7))", weight_decay, positive=False)}
        super().__init__(params, defaults)

    # -- the counter ------------------------------------------------------------------------------

    @property
    def effective_steps_taken(self) -> int:
        """Effective steps completed: small_steps_taken // small_steps."""
        return self.small_steps_taken // self.small_steps

    @property
    def ends_effective_step(self) -> bool:
        """True right after the last small step of an effective step (time to step a scheduler, to log)."""
        return self.small_steps_taken % self.small_steps == 0

    # -- torch.optim.Optimizer ---------------------------------------------------------------------

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        index = len(self.param_groups) - 1
        finite_number(f"param_groups[{index}]['lr'] (the learning rate η)", group["lr"], positive=True)
        finite_number(f"param_groups[{index}]['weight_decay'] (λ of eq. (7))", group["weight_decay"], positive=False)
        self.param_groups[-1] = _WatchedGroup(group)

    @torch.no_grad()
    def step(self, closure=None):
        """One small step with the gradient in ``.grad`` (module docstring); returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_learning_rate()
        with_gradient = self._params_with_gradient()
        for group, params in zip(self.param_groups, with_gradient):
            self._update(group, params)
        self.small_steps_taken += 1
        return loss

    def _update(self, group: dict, params: list) -> None:
        raise NotImplementedError

    def _check_learning_rate(self) -> None:
        """Raise if a group's lr was set since the current effective step began (module docstring)."""
        now = ([group.lr_writes for group in self.param_groups], [group["lr"] for group in self.param_groups])
        within = self.small_steps_taken % self.small_steps
        if within == 0 or self._start is None:
            self._start = now
            return
        if now[0] == self._start[0] and now[1] == self._start[1]:
            return
        k, l = self.effective_steps_taken, self.small_steps
        raise RuntimeError(
            f"the learning rate was set during effective step {k}, after {within} of its {l} small steps "
            f"(lr {self._start[1]} -> {now[1]}): {type(self).__name__} takes {l} small steps (opt.small_steps) "
            f"at one learning rate per effective step.  Step your lr scheduler once per effective step, after "
            f"`opt.step()` when `opt.ends_effective_step` is True, not after every opt.step(); its milestones and "
            f"lengths are then in effective steps")

    def _params_with_gradient(self) -> list:
        """Per group, the parameters that take a step; raise if one that requires a gradient has none."""
        missing = [_describe(g, i, group, p) for g, group in enumerate(self.param_groups)
                   for i, p in enumerate(group["params"]) if p.requires_grad and p.grad is None]
        if missing:
            total = sum(p.requires_grad for group in self.param_groups for p in group["params"])
            if len(missing) == total:
                raise RuntimeError(
                    f"no parameter has a gradient at {type(self).__name__}.step() (every .grad is None): call "
                    f"loss.backward() (e.g. opt.combine(loss1, loss2).backward()) between opt.zero_grad() and "
                    f"opt.step()")
            raise RuntimeError(
                f"{len(missing)} of the {total} parameters have no gradient at step() (.grad is None): "
                f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}.  They took no part in the loss; "
                f"torch.optim skips such parameters silently, but then the step (with its weight decay) is not "
                f"the method's for them.  Give the optimizer only the parameters the loss uses, or freeze the "
                f"others (p.requires_grad_(False))")
        return [[p for p in group["params"] if p.grad is not None] for group in self.param_groups]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["sdesim"] = {**self.settings, "small_steps_taken": self.small_steps_taken,
                           "effective_step_lrs": None if self._start is None else list(self._start[1])}
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get("sdesim") if isinstance(state_dict, dict) else None
        if saved is None:
            raise ValueError(f"this state was not saved by an sdesim.torch.optim optimizer (it has no 'sdesim' "
                             f"entry); {type(self).__name__} resumes only from its own state_dict()")
        differ = [f"{name}: saved {saved.get(name)!r}, here {value!r}" for name, value in self.settings.items()
                  if saved.get(name) != value]
        if differ:
            raise ValueError(f"the saved optimizer state is from another method or l than this "
                             f"{type(self).__name__} ({'; '.join(differ)}); resume with the same settings")
        super().load_state_dict({key: value for key, value in state_dict.items() if key != "sdesim"})
        self.param_groups[:] = [_WatchedGroup(group) for group in self.param_groups]
        self.small_steps_taken = int(saved["small_steps_taken"])
        lrs = saved["effective_step_lrs"]
        self._start = None if lrs is None else ([0] * len(self.param_groups), list(lrs))


class SVAGFamily(SmallStepOptimizer):
    """The optimizers that combine two independent batches: `combine`, `split`, ``weights``, ``batches``."""

    def __init__(self, params, lr, weight_decay, *, l: int, small_steps: int, settings: dict):
        self.l = l
        self.weights = svag_weights(small_steps if l > 1 else 1)
        self.batches = 1 if l == 1 else 2    # independent batches per small step
        super().__init__(params, lr, weight_decay, small_steps=small_steps, settings=settings)

    def combine(self, *losses):
        """c₁·loss1 + c₂·loss2 (``weights``), each loss the mean over its own batch; at l = 1 the one loss itself."""
        if len(losses) != self.batches:
            want = "one loss (l = 1: one batch, SGD)" if self.batches == 1 else "two losses (two independent batches)"
            raise ValueError(f"{type(self).__name__}(l={self.l}).combine takes {want}, got {len(losses)}")
        shapes = [tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__ for loss in losses]
        if len(set(shapes)) > 1:
            raise ValueError(f"combine got losses of different shapes {shapes[0]} and {shapes[1]}: each must be "
                             f"one batch's mean loss, a scalar tensor")
        if not all(isinstance(loss, torch.Tensor) and loss.ndim == 0 for loss in losses):
            raise ValueError(f"combine takes scalar losses (each batch's mean loss), got shape {shapes[0]}; "
                             f"reduce per-example losses with .mean()")
        if self.batches == 1:
            return losses[0]
        c1, c2 = self.weights
        return c1 * losses[0] + c2 * losses[1]

    def split(self, *tensors) -> list:
        """The step's examples cut into its batches: [(x₁, y₁), (x₂, y₂)] (B rows each), [(x, y)] at l = 1."""
        if not tensors:
            raise ValueError("split takes the tensors of one small step's examples, e.g. opt.split(inputs, targets)")
        rows = {len(t) for t in tensors}
        if len(rows) > 1 or next(iter(rows)) % self.batches:
            raise ValueError(f"split needs tensors of one length divisible by {self.batches} (the batches per "
                             f"small step), got lengths {[len(t) for t in tensors]}; draw them with "
                             f"two_independent_batches(..., batches=opt.batches)")
        return list(zip(*(t.chunk(self.batches) for t in tensors)))


class SVAG(SVAGFamily):
    """SVAG (eq. (5)) as a ``torch.optim.Optimizer``: each ``step()`` is one small step x ← x − (η/l)(g + λx),
    g in ``.grad`` (``opt.combine(loss1, loss2).backward()``); ``small_steps`` = l per effective step.
    l = 1 is ``torch.optim.SGD(lr=η, weight_decay=λ)`` bit for bit.

    ``unvalidated_momentum`` = β > 0 adds heavy-ball momentum, b ← β_l b + (g + λx), x ← x − (η/l²) b with
    β_l = 1 − (1 − β)/l: at l = 1 ``torch.optim.SGD(momentum=β)`` bit for bit; for l > 1 it is SVAG's rule
    (η → η/l, 1 − β → (1 − β)/l) applied to the averaged form m = (1 − β)b, x ← x − (η/(1 − β)) m.  UNVALIDATED:
    the paper has no theorem for SVAG with momentum (its experiments use none); whether SVAG(l) then tracks
    l = 1 is only measured (validation/figure_svag_momentum.py), not proved.
    """

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *,
                 unvalidated_momentum: float = 0.0):
        l = strict_positive_int("l", l)
        momentum = unvalidated_momentum
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"unvalidated_momentum must be a number in [0, 1) (0: none, the paper's SVAG), "
                             f"got {momentum!r}")
        self.momentum = float(momentum)
        self.small_momentum = 1.0 - (1.0 - self.momentum) / l if l > 1 else self.momentum
        super().__init__(params, lr, weight_decay, l=l, small_steps=l,
                         settings={"method": "svag", "l": l, "unvalidated_momentum": self.momentum})

    def _update(self, group: dict, params: list) -> None:
        weight_decay, l = group["weight_decay"], self.l
        if not self.momentum:
            gradient_step(params, group["lr"] / l, weight_decay)
            return
        for p in params:
            grad = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.clone(grad).detach()
            else:
                state["momentum_buffer"].mul_(self.small_momentum).add_(grad)
            p.add_(state["momentum_buffer"], alpha=-group["lr"] / l / l)


class AdaptiveSVAG(SVAGFamily):
    """SVAG of an adaptive method (``sdesim.torch.adaptive``): l² small steps per effective step."""

    method = None

    def __init__(self, params, lr, l, weight_decay, **hyperparameters):
        l = strict_positive_int("l", l)
        self.hyperparameters = check_hyperparameters(self.method, **hyperparameters)
        self.small_hyperparameters = self.hyperparameters.small_step(l)
        super().__init__(params, lr, weight_decay, l=l, small_steps=l * l,
                         settings={"method": self.method, "l": l, **self.hyperparameters.settings()})

    def _update(self, group: dict, params: list) -> None:
        first_moment = self.hyperparameters.beta1 is not None
        states = [self.state[p] for p in params]
        for p, state in zip(params, states):
            if not state:
                state.update(step=0, exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format))
                if first_moment:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        moments = AdaptiveState([], first_moment)      # a view of these parameters' state, updated in place
        moments.exp_avg = [state["exp_avg"] for state in states] if first_moment else None
        moments.exp_avg_sq = [state["exp_avg_sq"] for state in states]
        moments.steps = [state["step"] for state in states]
        adaptive_step(params, moments, self.small_hyperparameters, group["lr"] / self.l, group["weight_decay"])
        for state, steps in zip(states, moments.steps):
            state["step"] = steps


def _pair(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (β₁, β₂), got {value!r}")
    return tuple(value)


class RMSpropSVAG(AdaptiveSVAG):
    """RMSprop's SVAG: v ← β_l v + (1 − β_l) g⊙g, x ← x − (η/l) g ⊘ (√v + εl), β_l = 1 − (1 − β)/l², l² small
    steps per effective step; l = 1 is ``torch.optim.RMSprop(lr=η, alpha=β, eps=ε, weight_decay=λ)`` bit for bit."""

    method = "rmsprop"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *, alpha: float = 0.99,
                 eps: float = 1e-8):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps)


class AdamSVAG(AdaptiveSVAG):
    """Adam's SVAG (Malladi et al. 2022): η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl, l² small steps per effective step;
    l = 1 is ``torch.optim.Adam(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adam"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8, bias_correction: bool = True):
        beta1, beta2 = _pair("betas", betas)
        super().__init__(params, lr, l, weight_decay, beta1=decay("betas[0]", beta1), beta2=decay("betas[1]", beta2),
                         eps=eps, bias_correction=bias_correction)


class PaperRMSpropSVAG(AdaptiveSVAG):
    """The paper's RMSprop (Adam with β₁ = 0 and bias correction) and its SVAG; l = 1 is
    ``torch.optim.Adam(lr=η, betas=(0, β), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "paper_rmsprop"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *, alpha: float = 0.99,
                 eps: float = 1e-8):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps)


class AdamWSVAG(AdamSVAG):
    """AdamW's SVAG: AdamSVAG with decoupled weight decay x ← x(1 − (η/l)(λ/l)) before each small step (λ → λ/l
    keeps the decay per unit of SDE time, docs/theory/adaptive-sde.md); l = 1 is
    ``torch.optim.AdamW(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adamw"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.01, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr, l, weight_decay, betas=betas, eps=eps)


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
        self._owner._chunks_used += 1
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
        self._chunks, self._chunks_used = None, 0
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
        self._chunks_used = 0
        return self._chunks

    def step(self, closure=None):
        if self._chunks is None:
            raise RuntimeError("call opt.draw() before each NoisyGD.step(): the noise is drawn once per step")
        if self._chunks_used != len(self._chunks):
            raise RuntimeError(f"only {self._chunks_used} of this step's {len(self._chunks)} chunks went into the "
                               f"gradient (chunk.loss(...).backward() for each): the step would miss examples")
        loss = super().step(closure)
        self._chunks = None
        return loss

    def _update(self, group: dict, params: list) -> None:
        gradient_step(params, group["lr"], group["weight_decay"])

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["sdesim"]["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.generator.set_state(state_dict["sdesim"]["generator"])

