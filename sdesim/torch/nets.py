"""Small networks: scale-invariant ones for section 5, ordinary ones with batch or group norm.

A scale-invariant net (Li, Lyu & Arora 2020, appendix C) has L(cx) = L(x) for every
c > 0 and the vector x of all its trainable weights: every weight layer has no bias and
is followed by a normalization without affine parameters and with ε = 0 (so the
invariance is exact, not up to ε), and the last linear layer is frozen at its random
initial value.  Then ⟨∇L(x), x⟩ = 0 (Lemma E.7), which removes the cross term from the
norm dynamics (10) and makes eq. (11)-(12) exact.

With ``norm="batch"`` the invariance holds for the training-mode forward (each batch
normalized by its own statistics); in eval mode batch norm uses running statistics
gathered at earlier weights, and the loss is not invariant.  ``norm="group"`` couples no
examples (as noisy GD needs) and is invariant in both modes.

ε = 0 divides by a batch's (or group's) standard deviation: a feature that is constant
over a batch gives NaN.  That needs batches of at least two distinct examples (batch norm)
or groups of more than one channel (group norm); the builders enforce the latter.  torch's
own batch norm refuses ε = 0 in training mode, hence `InvariantBatchNorm`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from sdesim._checks import choice, positive_int

NORMS = ("batch", "group")
DEFAULT_SCALES = (0.1, 0.5, 2.0, 10.0)


# ---------------------------------------------------------------- the normalization

class InvariantBatchNorm(nn.Module):
    """Batch norm with ε = 0 and no affine parameters: y = (z − mean_B z) / std_B z per channel.

    torch's own batch norm refuses ε = 0 in training mode, so this is a plain version:
    in training mode each batch is normalized by its own mean and biased variance (over
    every dimension but the channel dimension 1) and the running statistics are updated
    as torch does (momentum 0.1, unbiased variance); in eval mode the running statistics
    are used.  Buffers: ``running_mean``, ``running_var``, ``num_batches_tracked``.
    """

    def __init__(self, channels: int, momentum: float = 0.1):
        super().__init__()
        self.channels, self.momentum = positive_int("channels", channels), float(momentum)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(z − mean)/√var over the batch per channel (running statistics in eval mode), no ε and no affine
        part, so the output is unchanged when z is scaled: input (N, channels, ...)."""
        if z.dim() < 2 or z.shape[1] != self.channels:
            raise ValueError(f"InvariantBatchNorm({self.channels}) needs input (N, {self.channels}, ...), "
                             f"got shape {tuple(z.shape)}")
        shape = (1, -1) + (1,) * (z.dim() - 2)
        if not self.training:
            return (z - self.running_mean.view(shape)) / self.running_var.view(shape).sqrt()
        dims = [0] + list(range(2, z.dim()))
        count = z.numel() // self.channels
        if count < 2:
            raise ValueError("InvariantBatchNorm in training mode needs more than one value per channel "
                             f"(got input of shape {tuple(z.shape)}); use a batch of at least 2")
        mean = z.mean(dim=dims, keepdim=True)
        var = (z - mean).pow(2).mean(dim=dims, keepdim=True)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.reshape(-1).detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.reshape(-1).detach() * count / (count - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        return (z - mean) / var.sqrt()

    def extra_repr(self) -> str:
        """The module's settings, as ``print(model)`` shows them."""
        return f"{self.channels}, eps=0, affine=False, momentum={self.momentum}"


# ---------------------------------------------------------------- builders

def scale_invariant_mlp(in_features: int, num_classes: int, hidden=(64, 64), *, norm: str = "batch",
                        groups: int = 4, seed: int | None = None) -> nn.Sequential:
    """Flatten → [Linear(no bias) → Norm(affine=False, ε=0) → ReLU]×len(hidden) → frozen Linear.

    Scale-invariant in all trainable weights jointly.  ``seed`` fixes the initial weights
    without touching torch's global generator.
    """
    in_features, num_classes = positive_int("in_features", in_features), positive_int("num_classes", num_classes)
    hidden = _widths("hidden", hidden)
    choice("norm", norm, NORMS)
    with _seeded(seed):
        layers, width = [nn.Flatten()], in_features
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), _invariant_norm(norm, h, groups), nn.ReLU()]
            width = h
        layers.append(_frozen_linear(width, num_classes))
    return nn.Sequential(*layers)


def scale_invariant_cnn(in_channels: int, num_classes: int, channels=(16, 32), *, norm: str = "batch",
                        groups: int = 4, seed: int | None = None) -> nn.Sequential:
    """[Conv3×3(no bias) → Norm(affine=False, ε=0) → ReLU → (2×2 max-pool between blocks)]
    → global average pool → frozen Linear.

    Works for any image size (8×8 digits, 32×32 CIFAR); the last normalization comes
    before pooling, so the pooled features are invariant too.
    """
    in_channels, num_classes = positive_int("in_channels", in_channels), positive_int("num_classes", num_classes)
    channels = _widths("channels", channels)
    choice("norm", norm, NORMS)
    with _seeded(seed):
        layers, width = [], in_channels
        for i, c in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(width, c, 3, padding=1, bias=False), _invariant_norm(norm, c, groups),
                       nn.ReLU()]
            width = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), _frozen_linear(width, num_classes)]
    return nn.Sequential(*layers)


def mlp(in_features: int, num_classes: int, hidden=(64,), *, norm: str | None = "batch", groups: int = 4,
        seed: int | None = None) -> nn.Sequential:
    """An ordinary MLP: [Linear → Norm (affine, default ε) → ReLU]× → Linear, all trainable.

    ``norm`` is "batch", "group" (no coupling between examples, for noisy GD) or None.
    Not scale-invariant (it has biases and affine parameters).
    """
    in_features, num_classes = positive_int("in_features", in_features), positive_int("num_classes", num_classes)
    hidden = _widths("hidden", hidden)
    if norm is not None:
        choice("norm", norm, NORMS)
    with _seeded(seed):
        layers, width = [nn.Flatten()], in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if norm is not None:
                layers.append(nn.BatchNorm1d(h) if norm == "batch" else nn.GroupNorm(_groups(groups, h), h))
            layers.append(nn.ReLU())
            width = h
        layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(in_channels: int, num_classes: int, channels=(16, 32), *, norm: str | None = "batch", groups: int = 4,
        seed: int | None = None) -> nn.Sequential:
    """An ordinary small CNN: [Conv3×3 → Norm (affine) → ReLU → (max-pool)] → average pool → Linear."""
    in_channels, num_classes = positive_int("in_channels", in_channels), positive_int("num_classes", num_classes)
    channels = _widths("channels", channels)
    if norm is not None:
        choice("norm", norm, NORMS)
    with _seeded(seed):
        layers, width = [], in_channels
        for i, c in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers.append(nn.Conv2d(width, c, 3, padding=1))
            if norm is not None:
                layers.append(nn.BatchNorm2d(c) if norm == "batch" else nn.GroupNorm(_groups(groups, c), c))
            layers.append(nn.ReLU())
            width = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def _widths(name, widths) -> tuple:
    try:
        widths = tuple(widths)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of layer widths, got {widths!r}") from None
    if not widths:
        raise ValueError(f"{name} must name at least one layer")
    return tuple(positive_int(f"{name} entry", w) for w in widths)


def _groups(groups, channels) -> int:
    groups = positive_int("groups", groups)
    if channels % groups:
        raise ValueError(f"groups ({groups}) must divide every layer width; {channels} is not a multiple")
    return groups


def _invariant_norm(norm, channels, groups):
    if norm == "group":
        groups = _groups(groups, channels)
        if channels // groups < 2:
            raise ValueError(f"groups ({groups}) must leave at least 2 channels per group for ε = 0 "
                             f"(width {channels})")
        return nn.GroupNorm(groups, channels, eps=0.0, affine=False)
    return InvariantBatchNorm(channels)


def _frozen_linear(width, num_classes):
    layer = nn.Linear(width, num_classes, bias=False)
    layer.weight.requires_grad_(False)
    return layer


@contextlib.contextmanager
def _seeded(seed):
    """Initialize under ``seed`` without touching torch's global generator."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


# ---------------------------------------------------------------- parameters as one vector

def trainable_parameters(model: nn.Module) -> list:
    """The parameters that require gradients (the x of the paper), in registration order."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no parameters that require gradients: nothing to train "
                         "(check requires_grad, or that the layers were registered as submodules)")
    return params


def trainable_vector(model: nn.Module) -> torch.Tensor:
    """All trainable parameters as one detached flat vector x."""
    return torch.cat([p.detach().reshape(-1) for p in trainable_parameters(model)])


def weight_norm2(model: nn.Module) -> float:
    """R = |x|², the squared norm of the trainable parameters."""
    return float(sum(p.detach().double().pow(2).sum() for p in trainable_parameters(model)))


# ---------------------------------------------------------------- the invariance check

@dataclass(frozen=True)
class InvarianceCheck:
    """Measured departures from scale invariance on one batch.

    ``max_loss_change`` = max over c of |L(cx) − L(x)| / |L(x)|;
    ``gradient_cosine`` = |⟨∇L(x), x⟩| / (|∇L(x)| |x|), zero for a scale-invariant loss.
    """

    max_loss_change: float
    gradient_cosine: float
    loss: float
    scales: tuple

    def holds(self, tol: float) -> bool:
        """Whether both the largest relative change of L(cx) and |cos(∇L(x), x)| are at most ``tol``."""
        return self.max_loss_change <= tol and self.gradient_cosine <= tol


def check_scale_invariance(model: nn.Module, loss_fn, batch, scales=DEFAULT_SCALES) -> InvarianceCheck:
    """Measure L(cx) against L(x) for c in ``scales`` and the angle between ∇L(x) and x.

    ``batch`` = (inputs, targets); ``loss_fn(outputs, targets)`` gives the mean loss.  The
    forward runs in the model's current mode; buffers (batch-norm running statistics),
    ``.grad`` and the parameters are left exactly as they were.
    """
    scales = tuple(float(c) for c in scales)
    if not scales or any(not c > 0 for c in scales):
        raise ValueError(f"scales must be positive numbers, got {scales}")
    inputs, targets = batch
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = dict(model.named_parameters())
    if not names:
        raise ValueError("the model has no parameters that require gradients")

    def loss_at(scale):
        state = {n: (p * scale if n in names else p) for n, p in params.items()}
        state.update({n: b.clone() for n, b in model.named_buffers()})
        return loss_fn(torch.func.functional_call(model, state, (inputs,)), targets)

    base = loss_at(1.0)
    grads = torch.autograd.grad(base, [params[n] for n in names])
    with torch.no_grad():
        reference = float(base.detach())
        changes = [abs(float(loss_at(c)) - reference) / abs(reference) for c in scales]
        g = torch.cat([t.reshape(-1) for t in grads]).double()
        x = torch.cat([params[n].detach().reshape(-1) for n in names]).double()
        cosine = float(abs(g @ x) / (g.norm() * x.norm()))
    return InvarianceCheck(max(changes), cosine, float(base.detach()), scales)
