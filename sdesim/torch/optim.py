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
``opt.combine(loss)``: one batch, SGD), or ``opt.backward(loss1, loss2)``, which with ``clip_norm`` = c
clips each batch's gradient to norm c before combining them (``sdesim.torch.clipping``).  Each param
group's own hyperparameters are honoured, or refused with the reason (``sdesim.torch.param_groups``).  The optimizer counts its small steps (``small_steps_taken``, saved
by ``state_dict``); effective step k is small steps lk..lk+l−1 (l² for the adaptive methods), time kη (kη²).

Step an lr scheduler once per effective step, when ``opt.ends_effective_step``: every small step of an
effective step uses one learning rate η_k.  A learning rate set in the middle of an effective step (by a
scheduler's ``step()`` or by hand, even to the same value) is refused at the next ``opt.step()``: this
catches the loop that steps its scheduler after every ``opt.step()`` (l small steps per effective step).
"""

from __future__ import annotations

import torch

import collections.abc
import math
import numbers

from sdesim._checks import decay
from sdesim.methods import svag_weights
from sdesim.torch import param_groups
from sdesim.torch._checks import finite_number, strict_positive_int
from sdesim.torch.adaptive import AdaptiveState, adaptive_step, check_hyperparameters
from sdesim.torch.clipping import batch_gradient
from sdesim.torch.data import SAMPLINGS as NGD_SAMPLINGS, covariance_factor
from sdesim.torch.ngd import ngd_weights, noise_scale
from sdesim.torch.samplers import claim_draw


def gradient_step(params, lr: float, weight_decay: float, foreach: bool | None = False) -> None:
    """x ← x − lr·(g + λx) for each parameter, g its ``.grad`` (torch.optim.SGD's arithmetic).  ``foreach``
    True runs it as torch's multi-tensor path does, with the same bits (None: as torch chooses, foreach
    when every parameter is on a GPU)."""
    if foreach is None:
        foreach = bool(params) and all(p.device.type == "cuda" for p in params)
    if foreach and params:
        grads = [p.grad for p in params]
        if weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    for p in params:
        p.add_(p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay), alpha=-lr)


def _describe(group_index: int, index: int, group: dict, param: torch.Tensor) -> str:
    names = group.get("param_names")
    name = repr(names[index]) if names else f"param_groups[{group_index}]['params'][{index}]"
    return f"{name} (shape {tuple(param.shape)})"


class SmallStepOptimizer(torch.optim.Optimizer):
    """What every optimizer here shares: the small-step counter, the learning-rate watch, the refusal of
    parameters without gradient, and a ``state_dict`` that records (and on load checks) the method.

    Subclasses set ``small_steps`` and ``settings`` (what a saved state must match), the per-group
    hyperparameters they honour besides lr and weight decay (``group_defaults``), and write `_update`.
    """

    def __init__(self, params, lr, weight_decay, *, small_steps: int, settings: dict, group_defaults=None):
        self.small_steps = small_steps
        self.settings = settings
        self.small_steps_taken = 0
        self._start = None          # param_groups.snapshot of the groups when the current effective step began
        defaults = {"lr": finite_number("lr (the learning rate η)", lr, positive=True),
                    "weight_decay": finite_number("weight_decay (λ of eq. (7))", weight_decay, positive=False),
                    **(group_defaults or {})}
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
        index = len(self.param_groups) - 1
        self._check_group(index, self.param_groups[-1])
        self.param_groups[-1] = param_groups.WatchedGroup(self.param_groups[-1])

    def _check_group(self, index: int, group: dict) -> None:
        """Raise if a group sets a hyperparameter this optimizer does not honour (``sdesim.torch.param_groups``)
        or an honoured one out of range; subclasses check their own keys too."""
        param_groups.check_group(self, index, group)

    @torch.no_grad()
    def step(self, closure=None):
        """One small step with the gradient in ``.grad`` (module docstring); returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            self._check_group(index, group)
        self._check_fixed_values()
        with_gradient = self._params_with_gradient()
        for group, params in zip(self.param_groups, with_gradient):
            self._update(group, params)
        self.small_steps_taken += 1
        return loss

    def _update(self, group: dict, params: list) -> None:
        raise NotImplementedError

    def skip_step(self) -> None:
        """Count a small step whose update did not happen (a ``GradScaler`` found an inf or NaN and skipped
        ``opt.step()``): its batches were drawn, so the counter moves on with the sampler, and a resumed run
        starts the sampler where the uninterrupted one is."""
        self._check_fixed_values()
        self.small_steps_taken += 1

    def _check_fixed_values(self) -> None:
        """Raise if a group's lr (or another honoured hyperparameter) was set since the current effective step
        began (module docstring).  Right after `load_state_dict` the values are compared, not the writes, so
        that building a scheduler on the loaded optimizer (which sets lr to its value) is not a change."""
        now = param_groups.snapshot(self)
        within = self.small_steps_taken % self.small_steps
        if within == 0 or self._start is None:
            self._start = now
            return
        keys = param_groups.watched_keys(self)
        key = param_groups.changed(self._start, now, keys)
        if key is None:
            self._start = now
            return
        k, l = self.effective_steps_taken, self.small_steps
        what = "the learning rate" if key == "lr" else f"{key!r}"
        position = keys.index(key) if key in keys else 0
        before, after = ([values[position] for values in snapshot[1]] for snapshot in (self._start, now))
        raise RuntimeError(
            f"{what} was set during effective step {k}, after {within} of its {l} small steps "
            f"({key} {before} -> {after}): {type(self).__name__} takes {l} small steps (opt.small_steps) "
            f"at one {'learning rate' if key == 'lr' else 'value of ' + repr(key)} per effective step.  Step your "
            f"schedulers once per effective step, after `opt.step()` when `opt.ends_effective_step` is True, not "
            f"after every opt.step(); their milestones and lengths are then in effective steps")

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
                           "effective_step_values": None if self._start is None else list(self._start[1])}
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
        self.param_groups[:] = [param_groups.WatchedGroup(group) for group in self.param_groups]
        self.small_steps_taken = int(saved["small_steps_taken"])
        values = saved.get("effective_step_values")
        self._start = None if values is None else (None, [tuple(group) for group in values])


def _clip_norm(clip_norm):
    if clip_norm is None:
        return None
    if isinstance(clip_norm, bool) or not isinstance(clip_norm, numbers.Real) or not math.isfinite(clip_norm) \
            or clip_norm <= 0:
        raise ValueError(f"clip_norm must be a finite number > 0 (the total gradient norm each batch's gradient is "
                         f"clipped to), or None for no clipping; got {clip_norm!r}")
    return float(clip_norm)


class SVAGFamily(SmallStepOptimizer):
    """The optimizers that combine two independent batches: `backward`, `batch`, `combine`, `split`,
    ``weights``, ``batches``, ``clip_norm``."""

    def __init__(self, params, lr, weight_decay, *, l: int, small_steps: int, settings: dict, clip_norm=None,
                 group_defaults=None):
        self.l = l
        self.weights = svag_weights(small_steps if l > 1 else 1)
        self.batches = 1 if l == 1 else 2    # independent batches per small step
        self.clip_norm = _clip_norm(clip_norm)
        self._batches_in = set()             # the batches whose gradient `batch` has put into .grad this small step
        super().__init__(params, lr, weight_decay, small_steps=small_steps,
                         settings={**settings, "clip_norm": self.clip_norm}, group_defaults=group_defaults)

    def _check_losses(self, losses, caller: str) -> None:
        if len(losses) != self.batches:
            want = "one loss (l = 1: one batch, SGD)" if self.batches == 1 else "two losses (two independent batches)"
            raise ValueError(f"{type(self).__name__}(l={self.l}).{caller} takes {want}, got {len(losses)}")
        shapes = [tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__ for loss in losses]
        if len(set(shapes)) > 1:
            raise ValueError(f"{caller} got losses of different shapes {shapes[0]} and {shapes[1]}: each must be "
                             f"one batch's mean loss, a scalar tensor")
        if not all(isinstance(loss, torch.Tensor) and loss.ndim == 0 for loss in losses):
            raise ValueError(f"{caller} takes scalar losses (each batch's mean loss), got shape {shapes[0]}; "
                             f"reduce per-example losses with .mean()")

    def combine(self, *losses):
        """c₁·loss1 + c₂·loss2 (``weights``), each loss the mean over its own batch; at l = 1 the one loss itself.
        ``combine(...).backward()`` puts g = c₁∇L_γ₁ + c₂∇L_γ₂ in ``.grad``; with ``clip_norm`` use `backward`."""
        self._check_losses(losses, "combine")
        if self.batches == 1:
            return losses[0]
        c1, c2 = self.weights
        return c1 * losses[0] + c2 * losses[1]

    def backward(self, *losses, scaler=None) -> None:
        """Put the small step's gradient in ``.grad``: g = c₁ĝ₁ + c₂ĝ₂, ĝᵢ = ∇L_γᵢ clipped to total norm
        ``clip_norm`` (``sdesim.torch.clipping``); at l = 1, ĝ of the one loss.  Without ``clip_norm`` it is
        ``combine(*losses).backward()``.  ``scaler``: a ``torch.amp.GradScaler``; the losses are scaled by it
        and each batch is clipped where its unscaled gradient would be; then ``scaler.step(opt)`` as usual."""
        self._check_losses(losses, "backward")
        if scaler is not None:
            losses = [scaler.scale(loss) for loss in losses]
        if self.clip_norm is None:
            self.combine(*losses).backward()
            return
        for i, loss in enumerate(losses):
            with self.batch(i, scaler=scaler):
                loss.backward(retain_graph=i + 1 < len(losses))

    def batch(self, i: int, *, scaler=None):
        """A block whose gradients are batch i's (0: γ₁, 1: γ₂): on exit they are clipped to ``clip_norm``
        (unscaled, with a GradScaler's ``scaler``) and added to ``.grad`` times cᵢ; for gradient accumulation
        over micro-batches of one batch, with clipping::

            with opt.batch(0):
                for part in micro_batches_1: (loss(part) / len(micro_batches_1)).backward()
        """
        if isinstance(i, bool) or i not in range(self.batches):
            raise ValueError(f"batch takes the batch's number, 0{' or 1' if self.batches == 2 else ''} "
                             f"({self.batches} batch(es) per small step at l = {self.l}), got {i!r}")
        if i in self._batches_in:
            raise RuntimeError(f"batch {i}'s gradient is already in .grad for this small step: clipping applies to "
                               f"a batch's whole gradient, so accumulate its micro-batches in one `with opt.batch({i}):`")
        self._batches_in.add(i)
        weight = self.weights[i] if self.batches == 2 else 1.0
        scale = 1.0 if scaler is None else float(scaler.get_scale())
        return batch_gradient(self._all_params(), weight, self.clip_norm, scale)

    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        self._batches_in = set()

    def step(self, closure=None):
        if self.clip_norm is not None and len(self._batches_in) != self.batches:
            raise RuntimeError(
                f"{type(self).__name__} has clip_norm={self.clip_norm}, but only {len(self._batches_in)} of the "
                f"small step's {self.batches} batch gradients went through opt.backward(...) or opt.batch(i): call "
                f"opt.backward({'loss' if self.batches == 1 else 'loss1, loss2'}) instead of .backward(), so that "
                f"each batch's gradient is clipped before they are combined")
        loss = super().step(closure)
        self._batches_in = set()
        return loss

    def skip_step(self) -> None:
        super().skip_step()
        self._batches_in = set()

    def split(self, *batch, own_sampling: bool = False) -> list:
        """One small step's examples cut into its batches, each a forward pass's input: [γ₁, γ₂] (B rows each
        of the 2B), [batch] at l = 1.  ``opt.split(x, y)`` or ``opt.split((x, y))`` -> [(x₁, y₁), (x₂, y₂)];
        ``opt.split({"input_ids": ..., "labels": ...})`` (a Hugging Face batch) -> two dicts of the same keys.
        Every value is a tensor of the same number of rows; anything else is refused, constants included.

        At l > 1 the rows must be one draw of a ``two_independent_batches`` sampler (``samplers.claim_draw``):
        ``DataLoader(batch_size=B, shuffle=True)`` would be halved to B/2 (and its short last batch), and the
        halves of ``batch_size=2B, shuffle=True`` are not independent; both are refused.  ``own_sampling=True``
        skips that check, for rows you drew as two independent batches yourself (γ₁ then γ₂)."""
        if not isinstance(own_sampling, bool):
            raise ValueError(f"own_sampling must be True or False, got {own_sampling!r}")
        if len(batch) == 1 and isinstance(batch[0], collections.abc.Mapping):
            keys, values = list(batch[0]), list(batch[0].values())
        elif len(batch) == 1 and isinstance(batch[0], (tuple, list)):
            keys, values = None, list(batch[0])
        else:
            keys, values = None, list(batch)
        if not values:
            raise ValueError("split takes one small step's examples: opt.split(inputs, targets), opt.split((inputs, "
                             "targets)) or opt.split({'input_ids': ..., 'labels': ...}); got nothing")
        names = [repr(key) for key in keys] if keys is not None else [f"item {i}" for i in range(len(values))]
        for name, value in zip(names, values):
            if not isinstance(value, torch.Tensor) or value.ndim == 0:
                kind = "a 0-dim tensor" if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"split takes tensors with one row per example; {name} of the batch is {kind}.  "
                                 f"Leave non-tensor values and per-batch constants out of the batch (e.g. in the "
                                 f"collate function) and pass them to the model yourself")
        rows = [len(value) for value in values]
        if len(set(rows)) > 1 or rows[0] % self.batches:
            raise ValueError(f"split needs tensors of one length divisible by {self.batches} (the batches per "
                             f"small step), got lengths {rows}; draw them with "
                             f"two_independent_batches(..., batches=opt.batches)")
        waiting = None if self.batches == 1 or own_sampling else claim_draw(rows[0])
        if waiting is not None:
            drawn = " or ".join(map(str, waiting))
            seen = (f"the two_independent_batches sampler drew {drawn} indices per small step: these rows are not "
                    f"its draw (a DataLoader with batch_size= and not batch_sampler=, or its short last batch?)"
                    if waiting else "no two_independent_batches sampler drew them")
            raise ValueError(
                f"split got {rows[0]} rows and {seen}.  From DataLoader(batch_size=B, shuffle=True) split would halve "
                f"each batch to B/2 (and the short last one), and the halves of batch_size=2B are not independent.  "
                f"Draw each small step's two batches with DataLoader(dataset, batch_sampler=two_independent_batches("
                f"len(dataset), B, batches=opt.batches, seed=..., draws=...)); if you drew two independent batches "
                f"of {rows[0] // 2} rows yourself (γ₁ then γ₂), pass opt.split(..., own_sampling=True)")
        pieces = [value.chunk(self.batches) for value in values]
        if keys is not None:
            return [dict(zip(keys, part)) for part in zip(*pieces)]
        return list(zip(*pieces))


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
                 unvalidated_momentum: float = 0.0, clip_norm: float | None = None, foreach: bool | None = None):
        l = strict_positive_int("l", l)
        self.momentum = _momentum("unvalidated_momentum", unvalidated_momentum)
        self._rescale_momentum = True    # False only in validation/figure_svag_momentum.py's negative control
        if foreach is not None and not isinstance(foreach, bool):
            raise ValueError(f"foreach must be True, False or None (as torch chooses), got {foreach!r}")
        # torch's per-group keys: 'momentum' only when momentum is on (OneCycleLR then cycles it), 'foreach'
        group_defaults = {"foreach": foreach, **({"momentum": self.momentum} if self.momentum else {})}
        super().__init__(params, lr, weight_decay, l=l, small_steps=l, clip_norm=clip_norm,
                         settings={"method": "svag", "l": l, "unvalidated_momentum": self.momentum},
                         group_defaults=group_defaults)

    def _check_group(self, index: int, group: dict) -> None:
        super()._check_group(index, group)
        if "momentum" in group and self.momentum:
            _momentum(f"param_groups[{index}]['momentum']", group["momentum"])

    def _update(self, group: dict, params: list) -> None:
        weight_decay, l, momentum = group["weight_decay"], self.l, group.get("momentum", 0.0)
        if not momentum:
            gradient_step(params, group["lr"] / l, weight_decay, group["foreach"])
            return
        small_momentum = 1.0 - (1.0 - momentum) / l if l > 1 and self._rescale_momentum else momentum
        for p in params:
            grad = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.clone(grad).detach()
            else:
                state["momentum_buffer"].mul_(small_momentum).add_(grad)
            p.add_(state["momentum_buffer"], alpha=-group["lr"] / l / l)


def _momentum(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (0: none, the paper's SVAG), got {value!r}")
    return float(value)


class AdaptiveSVAG(SVAGFamily):
    """SVAG of an adaptive method (``sdesim.torch.adaptive``): l² small steps per effective step.  Each param
    group's own β's and ε (torch's group keys: ``betas`` for Adam, ``alpha`` for the RMSprops, ``eps``) are
    rescaled for l at its small steps."""

    method = None

    def __init__(self, params, lr, l, weight_decay, *, clip_norm=None, **hyperparameters):
        l = strict_positive_int("l", l)
        self.hyperparameters = check_hyperparameters(self.method, **hyperparameters)
        self.small_hyperparameters = self.hyperparameters.small_step(l)
        self._small = {}                  # the group keys' values -> their small-step hyperparameters
        hyper = self.hyperparameters
        decays = {"betas": (hyper.beta1, hyper.beta2)} if hyper.beta1 is not None and self.method != "paper_rmsprop" \
            else {"alpha": hyper.beta2}
        decoupled = {"decoupled_weight_decay": True} if hyper.decoupled_weight_decay else {}
        super().__init__(params, lr, weight_decay, l=l, small_steps=l * l, clip_norm=clip_norm,
                         settings={"method": self.method, "l": l, **hyper.settings()},
                         group_defaults={**decays, "eps": hyper.eps, "foreach": None, **decoupled})

    def _check_group(self, index: int, group: dict) -> None:
        super()._check_group(index, group)
        if self.hyperparameters.decoupled_weight_decay and group.get("decoupled_weight_decay") is not True:
            raise ValueError(f"param_groups[{index}] sets decoupled_weight_decay={group['decoupled_weight_decay']!r}: "
                             f"{type(self).__name__} is AdamW's SVAG (decoupled weight decay); use AdamSVAG for "
                             f"Adam's coupled weight decay")
        if group["foreach"] is not None and not isinstance(group["foreach"], bool):
            raise ValueError(f"param_groups[{index}]['foreach'] must be True, False or None (as torch chooses), "
                             f"got {group['foreach']!r}")
        self._group_hyperparameters(group, index)

    def _group_hyperparameters(self, group: dict, index: int | None = None):
        """This group's β's and ε, checked, with SVAG's small-step rescaling for l (cached by value)."""
        key = (tuple(group["betas"]) if "betas" in group else group["alpha"], group["eps"])
        if key not in self._small:
            where = "" if index is None else f"param_groups[{index}]: "
            try:
                if "betas" in self.defaults:
                    beta1, beta2 = _pair("betas", group["betas"])
                    hyper = check_hyperparameters(self.method, beta1=decay("betas[0]", beta1),
                                                  beta2=decay("betas[1]", beta2), eps=group["eps"],
                                                  bias_correction=self.hyperparameters.bias_correction)
                else:
                    hyper = check_hyperparameters(self.method, beta2=decay("alpha", group["alpha"]), eps=group["eps"])
            except ValueError as error:
                raise ValueError(f"{where}{error}") from None
            self._small[key] = hyper.small_step(self.l)
        return self._small[key]

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
        adaptive_step(params, moments, self._group_hyperparameters(group), group["lr"] / self.l, group["weight_decay"],
                      foreach=group["foreach"])
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
                 eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps, clip_norm=clip_norm)


class AdamSVAG(AdaptiveSVAG):
    """Adam's SVAG (Malladi et al. 2022): η/l, 1 − βᵢ → (1 − βᵢ)/l², ε → εl, l² small steps per effective step;
    l = 1 is ``torch.optim.Adam(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adam"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8, bias_correction: bool = True,
                 clip_norm: float | None = None):
        beta1, beta2 = _pair("betas", betas)
        super().__init__(params, lr, l, weight_decay, beta1=decay("betas[0]", beta1), beta2=decay("betas[1]", beta2),
                         eps=eps, bias_correction=bias_correction, clip_norm=clip_norm)


class PaperRMSpropSVAG(AdaptiveSVAG):
    """The paper's RMSprop (Adam with β₁ = 0 and bias correction) and its SVAG; l = 1 is
    ``torch.optim.Adam(lr=η, betas=(0, β), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "paper_rmsprop"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.0, *, alpha: float = 0.99,
                 eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, beta2=decay("alpha", alpha), eps=eps, clip_norm=clip_norm)


class AdamWSVAG(AdamSVAG):
    """AdamW's SVAG: AdamSVAG with decoupled weight decay x ← x(1 − (η/l)(λ/l)) before each small step (λ → λ/l
    keeps the decay per unit of SDE time, docs/theory/adaptive-sde.md); l = 1 is
    ``torch.optim.AdamW(lr=η, betas=(β₁, β₂), eps=ε, weight_decay=λ)`` bit for bit."""

    method = "adamw"

    def __init__(self, params, lr: float, l: int = 1, weight_decay: float = 0.01, *,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8, clip_norm: float | None = None):
        super().__init__(params, lr, l, weight_decay, betas=betas, eps=eps, clip_norm=clip_norm)


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

