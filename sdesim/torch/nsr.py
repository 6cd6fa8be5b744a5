"""Noise-to-signal estimates during training (section 5, Definition 5.1) and the scaling-rule prediction.

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
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sdesim._checks import choice, positive_float, positive_int
from sdesim.estimators import scaling_rule
from sdesim.torch._checks import check_input_dtype, isolated_rng, per_example_loss, resolve_device
from sdesim.torch.nets import trainable_parameters, weight_norm2
from sdesim.torch.train_result import TrainResult

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


# ---------------------------------------------------------------- the prediction of Theorem 5.6

DRIFT_LEVEL = 1e-3        # two-sided false-alarm rate of the drift test for independent, stationary measurements
DRIFT_FRACTION = 0.25     # ... and the smallest change across the plateau, relative to the mean, that it reports


@dataclass(frozen=True)
class ScalingPrediction:
    """Theorem 5.6 from a baseline at (B, η): beyond κ* = C²(1 + N/G) the linear scaling rule fails.

    ``print(prediction)`` gives a summary; ``notes`` holds the warnings raised while predicting
    (B* beyond the training set, a plateau whose Ĝ or N̂ drifts).
    """

    kappa: float
    kappa_se: float
    critical_batch_size: float      # κ*·B
    critical_batch_size_se: float
    critical_lr: float              # κ*·η
    signal: float                   # plateau averages of Ĝ and N̂, with standard errors
    noise: float
    signal_se: float
    noise_se: float
    nsr: float
    nsr_se: float
    batch_size: int
    lr: float
    C: float
    measurements: int
    n_train: int | None = None      # the training set's size N, when known
    notes: tuple = ()

    def __str__(self) -> str:
        plural = "" if self.measurements == 1 else "s"
        size = "" if self.n_train is None else f", N = {self.n_train}"
        lines = [
            f"Theorem 5.6 from a baseline at B = {self.batch_size}, η = {_short(self.lr)} "
            f"({self.measurements} measurement{plural}{size}):",
            f"  Ĝ = {_short(self.signal)} ± {_short(self.signal_se, 2)}, N̂ = {_short(self.noise)} "
            f"± {_short(self.noise_se, 2)}, N/G = {_short(self.nsr)} ± {_short(self.nsr_se, 2)}",
            f"  κ* = C²(1 + N/G) = {_short(self.kappa)} ± {_short(self.kappa_se, 2)} (C = {_short(self.C)})",
            f"  the linear scaling rule is certified to fail beyond batch size B* = "
            f"{_short(self.critical_batch_size)} ± {_short(self.critical_batch_size_se, 2)} "
            f"(learning rate κ*η = {_short(self.critical_lr)})"]
        return "\n".join(lines + [f"  warning: {note}" for note in self.notes])


def _short(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, but whole numbers up to 10⁶ in full (104, not 1e+02)."""
    if math.isfinite(value) and 10 ** digits <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def predict_scaling(source, batch_size: int | None = None, lr: float | None = None, C: float = scaling_rule.SQRT2,
                    *, plateau=None, n_train: int | None = None) -> ScalingPrediction:
    """The largest κ and the critical batch size B* = κ*B (figure 3) from a baseline run.

    ``source``: a `TrainResult` of a monitored run (B, N and, unless given, η on the
    plateau come from it); a training log — a list of dicts (or a dict of lists) with keys
    ``grad_norm2``, ``noise_trace`` and ``step``, as the monitor writes them; an
    `NSREstimate`; or a pair (G, N) or quadruple (G, N, G_se, N_se).  For a log,
    ``plateau`` = (first_step, last_step) selects the measurements to average (default:
    all).  The average's standard errors come from the spread of the k >= 2 measurements
    over time (std/√k, covariance likewise), which holds both the estimation noise and the
    fluctuation along the plateau, treating measurements as independent; a single
    measurement keeps its jackknife errors.

    It warns (and records in ``notes``) when B* exceeds the training set's ``n_train``
    examples, and when Ĝ or N̂ drifts along the plateau: a line fitted to k >= 4
    measurements changes by more than `DRIFT_FRACTION` of their mean across it, with a
    slope significant at level `DRIFT_LEVEL`.
    """
    run = source if isinstance(source, TrainResult) else None
    rows = _rows(source if run is None else run.log, plateau)
    if run is not None:
        batch_size = run.config["batch_size"] if batch_size is None else batch_size
        n_train = run.config["n_train"] if n_train is None else n_train
        lr = _plateau_lr(rows) if lr is None else lr
    if batch_size is None or lr is None:
        raise ValueError("batch_size and lr (the baseline's B and η) are needed unless source is a TrainResult, "
                         "which records them")
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_float("lr", lr)
    n_train = None if n_train is None else positive_int("n_train", n_train)
    G, N, G_se, N_se, cov, k = _plateau(source, plateau) if rows is None else _average(rows)
    kappa = scaling_rule.largest_kappa(N, G, C, noise_se=N_se, signal_se=G_se, noise_signal_cov=cov)
    ratio = scaling_rule.noise_to_signal(N, G, noise_se=N_se, signal_se=G_se, noise_signal_cov=cov)
    critical = batch_size * kappa.value
    notes = [] if rows is None else [note for key in (SIGNAL, NOISE) if (note := _drift(rows, key, plateau))]
    if n_train is not None and critical > n_train:
        notes.append(f"B* = {_short(critical)} exceeds the training set's {n_train} examples: no batch size this data "
                     f"set allows is certified to break the rule (it may still break below B*)")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return ScalingPrediction(
        kappa=kappa.value, kappa_se=kappa.stderr, critical_batch_size=critical,
        critical_batch_size_se=batch_size * kappa.stderr, critical_lr=lr * kappa.value, signal=G, noise=N,
        signal_se=G_se, noise_se=N_se, nsr=ratio.value, nsr_se=ratio.stderr, batch_size=batch_size, lr=lr,
        C=float(C), measurements=k, n_train=n_train, notes=tuple(notes))


def _rows(source, plateau):
    """The measurements (dicts with Ĝ and N̂) of a log within ``plateau``; None if ``source`` is no log."""
    if isinstance(source, dict):
        if SIGNAL not in source or NOISE not in source:
            raise ValueError(f"a log given as a dict of lists needs keys {SIGNAL!r} and {NOISE!r}")
        n = len(source[SIGNAL])
        source = [{key: values[i] for key, values in source.items() if len(values) == n} for i in range(n)]
    if not (isinstance(source, (tuple, list)) and source and all(isinstance(r, dict) for r in source)):
        return None
    rows = [r for r in source if r.get(SIGNAL) is not None and r.get(NOISE) is not None]
    if plateau is not None:
        first, last = plateau
        if any("step" not in r for r in rows):
            raise ValueError("plateau selects by step, but some measurements have no 'step'")
        rows = [r for r in rows if first <= r["step"] <= last]
    if not rows:
        raise ValueError(f"no measurements with {SIGNAL!r} and {NOISE!r} in the log"
                         + ("" if plateau is None else f" within plateau {plateau}"))
    return rows


def _plateau_lr(rows) -> float:
    """The one learning rate logged along the plateau."""
    rates = sorted({r["lr"] for r in rows if r.get("lr") is not None})
    if len(rates) != 1:
        raise ValueError(f"the log's learning rates on the plateau are {rates}, not one: choose a plateau at one "
                         f"learning rate, or pass lr=")
    return rates[0]


def _average(rows):
    """(G, N, G_se, N_se, cov, k) averaged over the measurements ``rows``."""
    G = np.array([float(r[SIGNAL]) for r in rows])
    N = np.array([float(r[NOISE]) for r in rows])
    k = len(rows)
    if k == 1:
        r = rows[0]
        return G[0], N[0], float(r.get(SIGNAL_SE, 0.0)), float(r.get(NOISE_SE, 0.0)), \
            float(r.get(COVARIANCE, 0.0)), 1
    cov = np.cov(G, N)
    return (float(G.mean()), float(N.mean()), math.sqrt(cov[0, 0] / k), math.sqrt(cov[1, 1] / k),
            float(cov[0, 1] / k), k)


def _drift(rows, key: str, plateau) -> str | None:
    """A warning if ``key`` trends along the plateau (`predict_scaling`), else None."""
    if len(rows) < 4 or any("step" not in r for r in rows):
        return None
    from scipy import stats

    steps = np.array([float(r["step"]) for r in rows])
    values = np.array([float(r[key]) for r in rows])
    span = steps.max() - steps.min()
    if span == 0:
        return None
    fit = stats.linregress(steps, values)
    change, mean = float(fit.slope * span), float(values.mean())
    if abs(change) <= DRIFT_FRACTION * abs(mean):
        return None
    t = abs(fit.slope) / fit.stderr if fit.stderr > 0 else math.inf
    if t < stats.t.ppf(1 - DRIFT_LEVEL / 2, len(rows) - 2):
        return None
    start = fit.intercept + fit.slope * steps.min()
    where = "the log" if plateau is None else f"the plateau {tuple(plateau)}"
    relative = f"{change / mean:+.0%} of the mean; " if mean else ""
    name = {SIGNAL: "Ĝ", NOISE: "N̂"}[key]
    return (f"{name} ({key}) drifts along {where}: a line fitted to its {len(rows)} measurements goes from "
            f"{start:.4g} to {start + change:.4g} ({relative}slope {t:.3g} standard errors from 0), so the average "
            f"is no equilibrium value; choose a later plateau or train longer")


def _plateau(source, plateau):
    """(G, N, G_se, N_se, cov, 1) of a single estimate: an NSREstimate, (G, N) or (G, N, G_se, N_se)."""
    if isinstance(source, NSREstimate):
        return source.signal, source.noise, source.signal_se, source.noise_se, source.covariance, 1
    if plateau is not None:
        raise ValueError("plateau applies only to a log of measurements")
    try:
        values = tuple(float(v) for v in source)
    except (TypeError, ValueError):
        raise ValueError(f"source must be an NSREstimate, (G, N), (G, N, G_se, N_se) or a log, got {source!r}") from None
    if len(values) == 2:
        return values[0], values[1], 0.0, 0.0, 0.0, 1
    if len(values) == 4:
        return (*values, 0.0, 1)
    raise ValueError(f"source must be an NSREstimate, (G, N), (G, N, G_se, N_se) or a log; got {len(values)} values")
