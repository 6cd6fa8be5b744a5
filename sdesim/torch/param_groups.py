"""Per-group hyperparameters of the small-step optimizers (``sdesim.torch.optim``): what each honours, what
it refuses and why, and the watch on the values that must stay fixed through an effective step.

torch's optimizers read ``lr``, ``weight_decay``, ``betas``, ``momentum``, ... from each param group.  An
optimizer here honours the keys in its ``defaults`` (each group's own value, rescaled for l where the method
rescales it) and refuses, with the reason, any other hyperparameter torch would have used: a group that sets
``nesterov=True`` must not silently train without it.  Keys torch does not know (your own labels, a
scheduler's ``initial_lr`` or ``max_lr``) pass through.
"""

from __future__ import annotations

from sdesim.torch._checks import finite_number

# torch.optim's per-group hyperparameters with the value that leaves them off, and why one is refused here
TORCH_KEYS = {
    "momentum": (0, "SVAG's heavy-ball momentum is unvalidated (the paper has no theorem for it): turn it on with "
                    "SVAG(..., unvalidated_momentum=β), after which groups may set their own 'momentum'; the adaptive "
                    "methods have only β₁"),
    "dampening": (0, "no SVAG rule is known for dampened momentum"),
    "nesterov": (False, "no SVAG rule is known for Nesterov momentum"),
    "maximize": (False, "negate the loss instead"),
    "amsgrad": (False, "AMSGrad has no SDE in Malladi et al. (2022), so no SVAG rule"),
    "centered": (False, "centred RMSprop has no SDE in Malladi et al. (2022), so no SVAG rule"),
    "capturable": (False, "CUDA-graph capture is not implemented here"),
    "differentiable": (False, "differentiating through the update is not implemented here"),
    "fused": (None, "the fused kernels are not implemented here"),
    "foreach": (None, "this optimizer runs the single-tensor arithmetic only"),
    "decoupled_weight_decay": (False, "decoupled weight decay is another method: use AdamWSVAG"),
    "betas": (None, "this method has no β₁ and β₂ (RMSprop's decay is 'alpha')"),
    "alpha": (None, "this method's decays are 'betas'"),
    "eps": (None, "this method has no ε"),
}


def _off(key: str, value) -> bool:
    off = TORCH_KEYS[key][0]
    return value is None or value is off or (not isinstance(value, (tuple, list)) and value == off)


def check_group(optimizer, index: int, group: dict) -> None:
    """Raise if group ``index`` sets a torch hyperparameter ``optimizer`` does not honour (module docstring),
    or an lr or weight decay out of range.  A group's lr may be 0, as in torch (a schedule's warm-up from 0,
    a frozen group); the optimizer's own η must be > 0."""
    finite_number(f"param_groups[{index}]['lr'] (the learning rate η_k; 0 is a step that does not move x, as a "
                  f"warm-up from 0 takes)", group["lr"], positive=False)
    finite_number(f"param_groups[{index}]['weight_decay'] (λ of eq. (7))", group["weight_decay"], positive=False)
    name = type(optimizer).__name__
    for key, value in group.items():
        if key in TORCH_KEYS and key not in optimizer.defaults and not _off(key, value):
            raise ValueError(f"param_groups[{index}] sets {key}={value!r}, which {name} does not have: "
                             f"{TORCH_KEYS[key][1]}.  torch.optim would use it; here it would be ignored, so it is "
                             f"refused")


HYPERPARAMETERS = ("lr", "weight_decay", "momentum", "betas", "alpha", "eps")


def watched_keys(optimizer) -> tuple:
    """The group values that must not change within an effective step: the hyperparameters the optimizer
    honours (not ``foreach``, which only chooses how the arithmetic is grouped)."""
    return tuple(key for key in HYPERPARAMETERS if key in optimizer.defaults)


class WatchedGroup(dict):
    """A param group that counts how often each of its values is set (``writes``), even to the same value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes = {}

    def __setitem__(self, key, value):
        self.writes[key] = self.writes.get(key, 0) + 1
        super().__setitem__(key, value)


def snapshot(optimizer) -> tuple:
    """(writes, values) of the watched keys of every group: what `changed` compares."""
    keys = watched_keys(optimizer)
    writes = [tuple(group.writes.get(key, 0) for key in keys) for group in optimizer.param_groups]
    values = [tuple(group.get(key) for key in keys) for group in optimizer.param_groups]
    return writes, values


def changed(before: tuple, now: tuple, keys: tuple) -> str | None:
    """The first watched key written or changed between two snapshots, else None (writes None: values only)."""
    (writes_before, values_before), (writes_now, values_now) = before, now
    if len(values_before) != len(values_now):
        return "param_groups"
    for g, (value_before, value_now) in enumerate(zip(values_before, values_now)):
        for k, key in enumerate(keys):
            if value_before[k] != value_now[k] or (writes_before is not None and writes_before[g][k] != writes_now[g][k]):
                return key
    return None
