"""What every small-step optimizer of ``sdesim.torch.optim`` shares: the count of small steps and effective
steps, the watch on hyperparameters that must stay fixed through an effective step, the refusal of
parameters without gradient and of group settings the method does not have, and a ``state_dict`` that
records (and on load checks) the method.  One effective step is ``small_steps`` calls of ``step()``.
"""

from __future__ import annotations

import torch

from sdesim.torch import param_groups
from sdesim.torch._checks import finite_number


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

    takes_sparse_gradients = True    # x ← x − h(g + λx) takes them, as torch.optim.SGD does; moments do not

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
        """``torch.optim.Optimizer.add_param_group``, refusing a hyperparameter this optimizer does not honour
        (``sdesim.torch.param_groups``) or one out of range, and watching the group's learning rate."""
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
        sparse = [] if self.takes_sparse_gradients else [
            _describe(g, i, group, p) for g, group in enumerate(self.param_groups)
            for i, p in enumerate(group["params"]) if p.grad is not None and p.grad.is_sparse]
        if sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients ({', '.join(sparse[:3])}"
                               f"{' ...' if len(sparse) > 3 else ''}): make the embedding dense (sparse=False)")
        return [[p for p in group["params"] if p.grad is not None] for group in self.param_groups]

    def state_dict(self) -> dict:
        """torch's optimizer state plus an ``sdesim`` entry: the settings (method, l, ...), the small steps taken and
        the values the current effective step started from, so a resumed run continues bit for bit."""
        state = super().state_dict()
        state["sdesim"] = {**self.settings, "small_steps_taken": self.small_steps_taken,
                           "effective_step_values": None if self._start is None else list(self._start[1])}
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from this optimizer's own `state_dict`; a ValueError if it was saved by another method or l, or
        not by an ``sdesim.torch.optim`` optimizer."""
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
