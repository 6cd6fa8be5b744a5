"""Noise-to-signal estimates during training (section 5, Definition 5.1).

From m minibatch gradients g_1 … g_m at the training batch size B, drawn independently
(each batch uniform without replacement from the data set):

    Ĝ = (m|ḡ|² − mean|g_b|²)/(m − 1) = 1/(m(m−1)) Σ_{a≠b} ⟨g_a, g_b⟩,
    N̂ = mean|g_b|² − Ĝ            = 1/(2m(m−1)) Σ_{a≠b} |g_a − g_b|²,

unbiased for G = |E g_b|² = |∇L(x)|² and N = E|g_b − E g_b|² = Tr Σ_B(x), the trace of
the batch-B covariance.  Both are U-statistics; their standard errors and covariance
come from the delete-one jackknife over the m batches (consistent for U-statistics; each
delete-one value is computed in O(md) from the running sums, without the m×m Gram
matrix).  R = |x|² is exact.  Weight decay is left out of every gradient.  For a
batch-norm model each g_b is the gradient with that batch's own statistics, and G, N
describe those gradients.

Measurements have no side effects: the forward runs in training mode on copies of the
buffers (batch-norm running statistics untouched), gradients come from
``torch.autograd.grad`` (``.grad`` untouched), batches are drawn from a generator seeded
by (seed, step), and torch's global random state is saved and restored around the
measurement (dropout and the like do not shift the training run's numbers).

Cost: m gradient evaluations per measurement, one every ``every`` steps: m/every extra
gradient evaluations per training step (`NSRMonitor.overhead`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sdesim._checks import choice, positive_int
from sdesim.torch._checks import check_input_dtype, isolated_rng, per_example_loss, resolve_device
from sdesim.torch.nets import trainable_parameters, weight_norm2

SAMPLINGS = ("subset", "replacement")
SIGNAL, NOISE, NORM = "grad_norm2", "noise_trace", "weight_norm2"
SIGNAL_SE, NOISE_SE, COVARIANCE = "grad_norm2_se", "noise_trace_se", "grad_noise_cov"


@dataclass(frozen=True)
class NSREstimate:
    """Ĝ, N̂ with jackknife standard errors and their covariance; R = |x|²; m batches of size B."""

    signal: float          # Ĝ ≈ |∇L(x)|²
    noise: float           # N̂ ≈ Tr Σ_B(x)
    signal_se: float
    noise_se: float
    covariance: float      # jackknife cov(Ĝ, N̂)
    norm2: float           # R = |x|²
    batches: int           # m
    batch_size: int | None = None

    @property
    def ratio(self) -> float:
        """N̂/Ĝ, the noise-to-signal ratio (±inf when Ĝ is exactly 0, nan when both are)."""
        if self.signal == 0:
            return math.copysign(math.inf, self.noise) if self.noise else math.nan
        return self.noise / self.signal

    def as_dict(self) -> dict:
        """The estimate as a log row: signal Ĝ, noise N̂, their standard errors and covariance, |x|² and N̂/Ĝ."""
        return {SIGNAL: self.signal, SIGNAL_SE: self.signal_se, NOISE: self.noise, NOISE_SE: self.noise_se,
                COVARIANCE: self.covariance, NORM: self.norm2, "nsr": self.ratio}


def nsr_from_gradients(gradients, norm2: float = float("nan"), batch_size: int | None = None) -> NSREstimate:
    """Ĝ, N̂ and their jackknife errors from an m×d array of minibatch gradients (m >= 3)."""
    g = torch.as_tensor(gradients).detach().to(torch.float64)
    if g.dim() != 2:
        raise ValueError(f"gradients must be an m×d array (one row per batch), got shape {tuple(g.shape)}")
    m = g.shape[0]
    if m < 3:
        raise ValueError(f"need at least 3 minibatch gradients for Ĝ, N̂ and their standard errors, got {m}")
    if not torch.isfinite(g).all():
        raise ValueError("the minibatch gradients contain NaN or inf (has the run diverged?)")
    if not g.any():
        raise ValueError("every minibatch gradient is exactly zero: the loss does not depend on the trainable "
                         "parameters here, so N/G is undefined; is it the loss the model is trained on?")
    total = g.sum(0)
    sq = (g * g).sum(1)                                   # |g_b|²
    sum_sq, total2 = sq.sum(), total @ total
    signal, noise = _u_statistics(total2, sum_sq, m)
    # delete-one: |S − g_i|² = |S|² − 2⟨S, g_i⟩ + |g_i|²
    loo_signal, loo_noise = _u_statistics(total2 - 2 * (g @ total) + sq, sum_sq - sq, m - 1)
    factor = (m - 1) / m
    ds, dn = loo_signal - loo_signal.mean(), loo_noise - loo_noise.mean()
    return NSREstimate(
        signal=float(signal), noise=float(noise),
        signal_se=math.sqrt(factor * float(ds @ ds)), noise_se=math.sqrt(factor * float(dn @ dn)),
        covariance=factor * float(ds @ dn), norm2=float(norm2), batches=m, batch_size=batch_size)


def _u_statistics(total2, sum_sq, k):
    """Ĝ = (|S|² − T)/(k(k−1)), N̂ = T/k − Ĝ for k gradients with sum S and Σ|g|² = T."""
    signal = (total2 - sum_sq) / (k * (k - 1))
    return signal, sum_sq / k - signal


# ---------------------------------------------------------------- gradients without side effects

def minibatch_gradients(model: nn.Module, loss_fn, batches) -> torch.Tensor:
    """The flat gradient of ``loss_fn(model(x), y)`` w.r.t. the trainable parameters, one row per batch.

    Training-mode forward on copies of the buffers; ``.grad``, buffers and the mode are
    left as they were.
    """
    params = trainable_parameters(model)
    buffers = dict(model.named_buffers())
    was_training = model.training
    rows = []
    try:
        model.train()
        for inputs, targets in batches:
            copies = {name: b.clone() for name, b in buffers.items()}
            outputs = torch.func.functional_call(model, copies, (inputs,), strict=False)
            loss = loss_fn(outputs, targets)
            loss = loss.mean() if loss.dim() else loss      # per-example losses (as the trainer takes) or their mean
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            rows.append(torch.cat([(torch.zeros_like(p) if gr is None else gr).reshape(-1)
                                   for p, gr in zip(params, grads)]).detach())
    finally:
        model.train(was_training)
    return torch.stack(rows)


def estimate_nsr(model: nn.Module, loss_fn, batches, batch_size: int | None = None) -> NSREstimate:
    """Ĝ, N̂, R at the model's current weights from a list of m >= 3 batches (inputs, targets)."""
    batches = list(batches)
    if len(batches) < 3:
        raise ValueError(f"need at least 3 batches, got {len(batches)}")
    check_input_dtype(model, batches[0][0], "the measured batches' inputs")
    with isolated_rng(next(iter(trainable_parameters(model))).device):
        grads = minibatch_gradients(model, loss_fn, batches)
    norm2 = weight_norm2(model)
    return nsr_from_gradients(grads, norm2, batch_size)


# ---------------------------------------------------------------- the monitor

class NSRMonitor:
    """``monitor(model, step) -> dict``: Ĝ, N̂, R with errors at steps that are multiples of ``every``.

    ``dataset`` is a data set of `sdesim.torch.data`, a torch ``Dataset`` of (input,
    target) pairs or a pair of tensors (inputs, targets).  ``loss_fn`` takes the trainer's
    names, ``"cross_entropy"`` (the default, as the trainer's) or ``"mse"``, or a function
    ``(outputs, targets)`` returning the mean batch loss or one loss per example (they are
    averaged); a trainer refuses a monitor whose loss name differs from its own.  Each
    measurement draws m independent batches of ``batch_size`` (``sampling``: "subset", B
    distinct examples, or "replacement", as the trainer samples) from a generator seeded by
    (seed, step), so it is a function of the weights, the seed and the step only.  Returns
    {} at other steps.  ``every`` is the one cadence: a trainer given this monitor measures
    every ``every`` effective steps (it must be a multiple of the trainer's ``log_every``).
    The keys are those of `NSREstimate.as_dict`.
    """

    def __init__(self, dataset, batch_size: int, *, m: int = 200, every: int = 100, seed: int = 0,
                 loss_fn="cross_entropy", sampling: str = "subset"):
        self.batch_size = positive_int("batch_size", batch_size)
        self.m = positive_int("m", m)
        if self.m < 3:
            raise ValueError(f"m must be at least 3 (the jackknife needs it; the paper uses m >= 200), got {m}")
        self.every = positive_int("every", every)
        self.seed = positive_int("seed", seed, allow_zero=True)
        self.sampling = choice("sampling", sampling, SAMPLINGS)
        self.loss = loss_fn if isinstance(loss_fn, str) else "custom"    # the trainer's config["loss"] convention
        self.loss_fn = per_example_loss(loss_fn)
        self._draw = _batch_reader(dataset)
        self.size = len(dataset[0]) if isinstance(dataset, (tuple, list)) else len(dataset)
        if self.size < self.batch_size:
            raise ValueError(f"batch_size ({batch_size}) exceeds the data set's size ({self.size})")

    @property
    def overhead(self) -> float:
        """Extra gradient evaluations per training step, m/every (one step costs one evaluation)."""
        return self.m / self.every

    def batches(self, step: int, device=None) -> list:
        """The m batches measured at ``step`` (reproducible from seed and step), on ``device`` if given."""
        device = None if device is None else resolve_device(device)
        seed = int(np.random.SeedSequence([self.seed, int(step)]).generate_state(1, dtype=np.uint64)[0] >> 1)
        generator = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(self.m):
            if self.sampling == "subset":
                index = torch.randperm(self.size, generator=generator)[: self.batch_size]
            else:
                index = torch.randint(0, self.size, (self.batch_size,), generator=generator)
            inputs, targets = self._draw(index)
            out.append((inputs.to(device), targets.to(device)) if device is not None else (inputs, targets))
        return out

    def measure(self, model: nn.Module, step: int) -> NSREstimate:
        """Ĝ = |∇L|² and N̂ = Tr Σ of ``model`` at effective step ``step``, from this monitor's batches (`estimate_nsr`)."""
        device = next(iter(trainable_parameters(model))).device
        return estimate_nsr(model, self.loss_fn, self.batches(step, device), self.batch_size)

    def __call__(self, model: nn.Module, step: int) -> dict:
        if int(step) % self.every:
            return {}
        return self.measure(model, step).as_dict()


def _batch_reader(dataset):
    """A function index -> (inputs, targets) for the kinds of data set the monitor takes."""
    if hasattr(dataset, "batch") and hasattr(dataset, "__len__"):       # sdesim.torch.data's TensorData, DatasetData
        return lambda index: dataset.batch(index.to(getattr(dataset, "device", "cpu")))
    if isinstance(dataset, torch.utils.data.TensorDataset) and len(dataset.tensors) == 2:
        dataset = dataset.tensors
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2 and all(torch.is_tensor(t) for t in dataset):
        inputs, targets = dataset
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets differ in length: {len(inputs)} and {len(targets)}")
        return lambda index: (inputs[index.to(inputs.device)], targets[index.to(targets.device)])
    if hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"):
        return lambda index: torch.utils.data.default_collate([dataset[int(i)] for i in index])
    raise ValueError("dataset must be a torch Dataset of (input, target) pairs, a pair of tensors or an "
                     f"sdesim.torch.data set, got {type(dataset).__name__}")
