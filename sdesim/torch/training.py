"""Training any ``nn.Module`` with SGD, SVAG, full-batch GD, NGD, RMSprop or Adam, logged against effective steps.

One effective step k (time kη; kη² for the adaptive methods) is

==========  ======================================================================================
``sgd``     x ← x − η_k (∇L_γ(x) + λx), one batch γ of B                                    eq. (1)
``svag``    l small steps x ← x − (η_k/l)(c₁∇L_γ₁(x) + c₂∇L_γ₂(x) + λx), two independent batches,
            each with its own forward and backward pass, c₁,₂ = (1 ± √(2l−1))/2; l = 1 is ``sgd``  eq. (5)
``gd``      x ← x − η_k (∇L(x) + λx), the full data set
``ngd``     x ← x − η_k (∇L(x) + ε + λx), ε ~ N(0, f·Σ₁/B) as SGD's noise (``sdesim.torch.ngd``)  eq. (3)
``rmsprop``, ``adam``, ``paper_rmsprop``
            l² small steps of the update of ``sdesim.torch.adaptive`` with η_k/l, 1 − βᵢ → (1 − βᵢ)/l²,
            ε → εl on g = c₁∇L_γ₁ + c₂∇L_γ₂ + λx, c₁,₂ = (1 ± √(2l²−1))/2 (one batch at l = 1, where it is
            torch.optim's RMSprop or Adam bit for bit); time t = Σ η_k², logged as ``time``
==========  ======================================================================================

The log's ``time`` is the SDE time of the steps done: Σ η_k for ``sgd``, ``svag``, ``gd`` and ``ngd``, Σ η_k²
for the adaptive methods.

λ is the weight decay of eq. (7) (the gradient of λ/2|x|², unchanged across l) and η_k = η·s(k) the
learning rate of the schedule s, in effective steps.  Losses are per example: ``loss(outputs, targets)``
returns one loss per example, and L_γ is their mean over γ.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from sdesim.methods import svag_weights
from sdesim.torch import checkpoint, loading
from sdesim.torch.adaptive import (ADAPTIVE_METHODS, AdaptiveHyperparameters, AdaptiveState, adaptive_step,
                                   check_hyperparameters)
from sdesim.torch._checks import (
    LOSSES, check_input_dtype, finite_number, isolated_rng, per_example_loss, resolve_device, strict_positive_int,
)
from sdesim.torch.data import SAMPLINGS, BatchSampler, DatasetData, as_data
from sdesim.torch.loggers import Logger, check_loggers
from sdesim.torch.ngd import ngd_gradient, refuse_coupling, weighted_gradient
from sdesim.torch.nets import trainable_parameters, weight_norm2
from sdesim.torch.nsr import NSRMonitor
from sdesim.torch.speedups import (check_compile, check_precision, fused_svag_gradient, refuse_fused_coupling,
                                   training_forward)

METHODS = ("sgd", "svag", "gd", "ngd") + ADAPTIVE_METHODS
TAKES_L = ("svag",) + ADAPTIVE_METHODS
LOADER_SETTINGS = ("num_workers", "pin_memory", "prefetch_factor")   # how a Dataset is read, not what: may change on resume
AUGMENTATION_PROBE = 16    # examples read twice to detect a random augmentation (a coin flip each: missed with 2⁻¹⁶)


# ---------------------------------------------------------------------------------------------------
# validation at the boundary

def schedule_factor(schedule, step: int) -> float:
    """s(k): 1 without a schedule, the product of the factors of milestones ≤ k, or schedule(k)."""
    if schedule is None:
        return 1.0
    if callable(schedule):
        return float(schedule(step))
    factor = 1.0
    for milestone, multiplier in schedule.items():
        if step >= milestone:
            factor *= multiplier
    return factor


def check_schedule(schedule):
    """None, a callable k -> factor, or {effective step: factor}, e.g. {24000: 0.1} (×0.1 from step 24000 on)."""
    if schedule is None or callable(schedule):
        return schedule
    if not isinstance(schedule, dict):
        raise ValueError("schedule must be None, a dict {effective step: factor} (e.g. {1000: 0.1}) "
                         f"or a function of the effective step, got {type(schedule).__name__}")
    checked = {}
    for milestone, multiplier in sorted(schedule.items()):
        if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral) or milestone < 0:
            raise ValueError(f"schedule milestones are effective steps (integers >= 0), got {milestone!r}")
        checked[int(milestone)] = finite_number(f"schedule factor at step {milestone}", multiplier, positive=True)
    return checked


def monitor_cadence(monitor, monitor_every, eval_every: int, log_every: int) -> int:
    """Effective steps between monitor calls: an `NSRMonitor`'s own ``every`` (the one cadence knob), else
    ``monitor_every`` (default ``eval_every``); a multiple of ``log_every``, since monitors run at log entries."""
    if monitor_every is not None:
        monitor_every = strict_positive_int("monitor_every", monitor_every)
    if isinstance(monitor, NSRMonitor):
        if monitor_every is not None and monitor_every != monitor.every:
            raise ValueError(f"monitor_every={monitor_every} differs from the NSRMonitor's every={monitor.every}: "
                             f"the monitor's every is the one cadence; leave monitor_every out")
        every = monitor.every
        if every % log_every:
            raise ValueError(f"the NSRMonitor's every={every} must be a multiple of log_every={log_every}: monitors "
                             f"run at log entries, so it would measure only every {math.lcm(every, log_every)} steps; "
                             f"use every={log_every * -(-every // log_every)} or a log_every that divides {every}")
        return every
    monitor_every = eval_every if monitor_every is None else monitor_every
    if monitor_every % log_every:
        raise ValueError(f"monitor_every={monitor_every} must be a multiple of log_every={log_every}")
    return monitor_every


def check_monitor_loss(monitor, loss) -> None:
    """Refuse an `NSRMonitor` that measures by name another loss than the run trains on."""
    if not isinstance(monitor, NSRMonitor) or monitor.loss == "custom" or monitor.loss == loss:
        return
    trained = repr(loss) if isinstance(loss, str) else "a loss function"
    raise ValueError(f"the NSRMonitor measures loss {monitor.loss!r} but the run trains on {trained}: N/G must be "
                     f"measured on the training loss; give the monitor the same loss (NSRMonitor(..., loss_fn=...) "
                     f"takes {', '.join(map(repr, LOSSES))} or a function)")


def stream_seeds(seed: int) -> list[int]:
    """Three independent 63-bit seeds (sampler, NGD noise, torch's global generator) from one seed."""
    state = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return [int(s) & (2**63 - 1) for s in state]


# ---------------------------------------------------------------------------------------------------
# the result

@dataclass
class TrainResult:
    """The log of a run (one dict per logged effective step) and how it ended.

    ``stopped`` is None for a run that finished, or {"step": k, "reason": ...} for one that stopped at
    effective step k (a non-finite loss); the log then ends at the last entry before step k.
    """

    log: list
    steps: int
    config: dict
    stopped: dict | None = None
    examples: int = 0

    @property
    def diverged(self) -> bool:
        return self.stopped is not None

    def columns(self) -> dict:
        """{metric: [value per log entry]}, None where an entry lacks the metric."""
        names = []
        for entry in self.log:
            names += [n for n in entry if n not in names]
        return {n: [entry.get(n) for entry in self.log] for n in names}

    def last(self, name: str):
        """The last logged value of ``name`` (None if never logged)."""
        for entry in reversed(self.log):
            if entry.get(name) is not None:
                return entry[name]
        return None

    def table(self, names=None, *, digits: int = 4) -> str:
        """The log as a markdown table (``names``: which columns, default all); a run that diverged gets a
        line under it saying where and why it stopped."""
        columns = self.columns()
        names = list(columns) if names is None else list(names)
        cell = lambda v: "" if v is None else (f"{v:.{digits}g}" if isinstance(v, float) else str(v))  # noqa: E731
        lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
        for i in range(len(self.log)):
            lines.append("| " + " | ".join(cell(columns.get(n, [None] * len(self.log))[i]) for n in names) + " |")
        if self.stopped is not None:
            lines += ["", f"**Diverged**: the run stopped at effective step {self.stopped['step']} "
                          f"({self.stopped['reason']}); the log ends before it."]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"config": self.config, "steps": self.steps, "examples": self.examples,
                "stopped": self.stopped, "log": self.log}

    def to_json(self, path=None) -> str:
        """JSON text of `to_dict` (non-finite numbers as null); written to ``path`` if given."""
        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        text = json.dumps(clean(self.to_dict()), indent=1)
        if path is not None:
            with open(path, "w") as handle:
                handle.write(text)
        return text


# ---------------------------------------------------------------------------------------------------
# the trainer

@dataclass
class _Rng:
    sampler: torch.Generator
    noise: torch.Generator
    torch_cpu: torch.Tensor
    torch_cuda: torch.Tensor | None = None


class Trainer:
    """A training run of ``model`` on ``train_data`` with ``method`` (module docstring); ``run(steps)`` advances it.

    Arguments (all checked before any work):

    - ``method``: ``"sgd"``, ``"svag"``, ``"gd"``, ``"ngd"``, ``"rmsprop"``, ``"adam"`` or ``"paper_rmsprop"``;
      ``lr``: η > 0; ``l``: SVAG's integer l ≥ 1 (``"svag"`` and the adaptive methods take l > 1);
      ``batch_size``: B (NGD's noise is that of batches of B); ``weight_decay``: λ ≥ 0 of eq. (7).
    - Adaptive methods only (``sdesim.torch.adaptive``): ``beta1`` (Adam; default 0.9), ``beta2`` (default
      0.999 for Adam, 0.99 for both RMSprops), ``eps`` (default 1e-8), ``bias_correction`` (Adam; default
      True).  Each β in [0, 1), ε > 0; they are those of the run at l = 1 and rescaled for l > 1.
    - ``loss``: ``"cross_entropy"``, ``"mse"`` or a function (outputs, targets) -> per-example losses.
    - ``schedule``: None, {effective step: factor} (e.g. {1000: 0.1}: ×0.1 from step 1000 on) or a
      function k -> factor.
    - ``sampling``: ``"subset"`` (B distinct examples per batch) or ``"replacement"``; batches are always
      independent of each other.  NGD matches the covariance of this sampling.
    - ``ngd_sample_size``: None for exact NGD over all N examples, or M for the large-batch variant.
    - ``chunk_size``: examples per forward pass for ``gd``, ``ngd`` and evaluation (None: all at once).
    - ``log_every``: effective steps between log entries; ``eval_every`` (default ``log_every``):
      between full train/test evaluations; ``monitor``: a function (model, step) -> dict of extra
      metrics, called every ``monitor_every`` (default ``eval_every``) steps; an `NSRMonitor` is
      called every ``monitor.every`` steps (the one cadence; leave ``monitor_every`` out) and must
      measure the loss the run trains on.  Both cadences are multiples of ``log_every``.
    - ``seed``: one integer for the sampler, the NGD noise and torch's generators (dropout);
      ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``; the model is moved there.
    - For a torch ``Dataset`` (``sdesim.torch.loading``): ``num_workers`` (0: read in the main process),
      ``pin_memory`` (a GPU run only; warns and does nothing on the CPU), ``prefetch_factor`` (batches read
      ahead per worker; needs workers).  Batch k's random augmentation is seeded from (seed, k): the
      numbers do not depend on these three, and a resumed run may change them.
    - ``loggers``: a `Logger` (``sdesim.torch.loggers``: CSV, TensorBoard) or a list of them; each receives
      every log row as it is appended (any object with a ``log(row)`` method works; a `Logger` is also told,
      by ``start(log)``, the rows a resumed run already holds).
    - ``checkpoint_dir``, ``checkpoint_every``: write ``checkpoint_dir/step-{k:08d}.pt`` every
      ``checkpoint_every`` effective steps, keeping the last ``keep_checkpoints`` (default 3); the folder must
      hold no checkpoints yet (continue a run in it with `load_latest` or ``train(..., resume="latest")``).
    - Speed (``sdesim.torch.speedups``, what each changes numerically): ``precision``: ``"float32"``
      (default) or ``"bf16"`` (bfloat16 autocast of the training forward passes; float32 parameters and
      updates); ``compile``: False, True (``torch.compile``, inductor) or a backend name; ``fused``: SVAG's
      two batches in one weighted pass over 2B examples (l > 1; no batch norm in training mode).
    """

    def __init__(self, model, train_data, *, method: str = "sgd", lr: float = 0.1, l: int = 1,
                 batch_size: int = 32, weight_decay: float = 0.0, loss="cross_entropy", schedule=None,
                 test_data=None, log_every: int = 10, eval_every: int | None = None, monitor=None,
                 monitor_every: int | None = None, sampling: str = "subset", ngd_sample_size: int | None = None,
                 chunk_size: int | None = None, seed: int = 0, device="cpu", progress: bool = False,
                 beta1: float | None = None, beta2: float | None = None, eps: float | None = None,
                 bias_correction: bool | None = None, loggers=None, checkpoint_dir=None,
                 checkpoint_every: int | None = None, keep_checkpoints: int = 3, precision: str = "float32",
                 compile=False, fused: bool = False, num_workers: int = 0,
                 pin_memory: bool = False, prefetch_factor: int | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; allowed: {', '.join(map(repr, METHODS))}")
        l = strict_positive_int("l", l)
        if method not in TAKES_L and l != 1:
            raise ValueError(f"method {method!r} takes no l (got l={l}); l > 1 is for "
                             f"{', '.join(map(repr, TAKES_L))}")
        self.hyper = check_hyperparameters(method, beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction)
        lr = finite_number("lr (the learning rate η)", lr, positive=True)
        weight_decay = finite_number("weight_decay (λ of eq. (7))", weight_decay, positive=False)
        batch_size = strict_positive_int("batch_size", batch_size)
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")
        log_every = strict_positive_int("log_every", log_every)
        eval_every = log_every if eval_every is None else strict_positive_int("eval_every", eval_every)
        if eval_every % log_every:
            raise ValueError(f"eval_every={eval_every} must be a multiple of log_every={log_every}")
        if monitor is not None and not callable(monitor):
            raise TypeError(f"monitor must be a function (model, step) -> dict, got {type(monitor).__name__}")
        monitor_every = monitor_cadence(monitor, monitor_every, eval_every, log_every)
        check_monitor_loss(monitor, loss)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if chunk_size is not None:
            chunk_size = strict_positive_int("chunk_size", chunk_size)
        self.schedule = check_schedule(schedule)
        self.loggers = check_loggers(loggers)
        self.checkpoints = checkpoint.Periodic.check(checkpoint_dir, checkpoint_every, keep_checkpoints)
        if self.checkpoints is not None:
            self.checkpoints.refuse_existing()
        self.device = resolve_device(device)
        trainable_parameters(model)
        self.model = model.to(self.device)
        self.params = trainable_parameters(self.model)
        self.loss_fn = per_example_loss(loss)
        self.train_data = as_data(train_data, self.device)
        self.test_data = None if test_data is None else as_data(test_data, self.device)
        self.loader = loading.check_loader_settings(
            num_workers, pin_memory, prefetch_factor, device=self.device,
            reads_a_dataset=isinstance(self.train_data, DatasetData) or isinstance(self.test_data, DatasetData))
        n = len(self.train_data)
        if n < 2 * batch_size:
            raise ValueError(f"the training set has {n} examples, fewer than two batches of batch_size={batch_size}; "
                             f"use batch_size <= {n // 2}")
        if ngd_sample_size is not None:
            if method != "ngd":
                raise ValueError(f"ngd_sample_size applies only to method 'ngd', not {method!r}")
            ngd_sample_size = strict_positive_int("ngd_sample_size", ngd_sample_size)
            if ngd_sample_size > n:
                raise ValueError(f"ngd_sample_size={ngd_sample_size} exceeds the training set's {n} examples")
        if method in ("gd", "ngd"):
            model.train()
            refuse_coupling(model, method)
        autocast_dtype = check_precision(precision, self.device, self.model)
        backend = check_compile(compile, self.device)
        if not isinstance(fused, bool):
            raise ValueError(f"fused must be True or False, got {fused!r}")
        if fused and method not in TAKES_L:
            raise ValueError(f"fused applies only to SVAG's two batches ({', '.join(map(repr, TAKES_L))}), "
                             f"not method {method!r}")
        if fused and l > 1:
            model.train()
            refuse_fused_coupling(model)
        self.config = {"method": method, "lr": lr, "l": l, "batch_size": batch_size, "weight_decay": weight_decay,
                       "sampling": sampling, "ngd_sample_size": ngd_sample_size, "chunk_size": chunk_size,
                       "log_every": log_every, "eval_every": eval_every, "monitor_every": monitor_every,
                       "monitor": None if monitor is None else type(monitor).__name__,
                       "seed": int(seed), "device": str(self.device), "n_train": n,
                       "loss": loss if isinstance(loss, str) else "custom",
                       "schedule": ("custom" if callable(self.schedule) else
                                    None if self.schedule is None else dict(self.schedule)),
                       "time_scale": "lr" if self.hyper is None else "lr^2",
                       "precision": precision, "compile": backend, "fused": fused}
        if self.hyper is not None:
            self.config.update({"beta1": self.hyper.beta1, "beta2": self.hyper.beta2, "eps": self.hyper.eps,
                                "bias_correction": self.hyper.bias_correction})
        self.config.update({"num_workers": self.loader.num_workers, "pin_memory": pin_memory,
                            "prefetch_factor": self.loader.prefetch_factor})
        if method == "ngd":
            from sdesim.torch.ngd import noise_scale
            noise_scale(n, batch_size, self._covariance_factor(), ngd_sample_size)  # raises if M is too small
        self.monitor = monitor
        self.progress = progress
        self._forward = training_forward(self.model, self.device, autocast_dtype, backend)
        adaptive = self.hyper is not None
        self.c1, self.c2 = svag_weights(l * l if adaptive else l) if method in TAKES_L else (1.0, 0.0)
        self.small_steps = l * l if adaptive else l          # small steps per effective step
        if self.hyper is not None:
            self.small_hyper = self.hyper.small_step(l)
            self.optimizer = AdaptiveState(self.params, first_moment=self.hyper.beta1 is not None)
        self._check_data()

        sampler_seed, noise_seed, torch_seed = stream_seeds(int(seed))
        sampler_generator = torch.Generator(device=self.train_data.device).manual_seed(sampler_seed)
        self.sampler = BatchSampler(n, batch_size, sampling=sampling, generator=sampler_generator)
        cuda = self.device.type == "cuda"
        self.rng = _Rng(sampler_generator,
                        torch.Generator(device=self.train_data.device).manual_seed(noise_seed),
                        torch.Generator().manual_seed(torch_seed).get_state(),
                        torch.Generator(device=self.device).manual_seed(torch_seed).get_state() if cuda else None)
        self.step = 0
        self.examples = 0
        self.time = 0.0                          # SDE time: Σ η_k (Σ η_k² for the adaptive methods) so far
        self._loggers_started = False
        self.log: list[dict] = []
        self.stopped: dict | None = None
        self._pending: list[torch.Tensor] = []   # per-small-step losses since the last log entry (on device)
        self.batches = 0                         # training batches read from a Dataset so far (the next one's number)
        self._feed: loading.TrainingFeed | None = None   # a Dataset's training batches, read ahead during run()

    # -- pieces ----------------------------------------------------------------------------------

    def _covariance_factor(self) -> float:
        from sdesim.torch.data import covariance_factor
        return covariance_factor(self.config["sampling"], self.config["n_train"], self.config["batch_size"])

    def _check_data(self) -> None:
        """Before any work (eval mode, no gradient, torch's random state restored: no side effects): the inputs
        have the model's dtype and the loss gives one value per example, on the first two examples; for 'gd'
        and 'ngd', the first `AUGMENTATION_PROBE` examples read the same twice (no random augmentation)."""
        first = lambda data, k: data.batch(torch.arange(min(k, len(data)), device=data.device))  # noqa: E731
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), isolated_rng(self.device):
                inputs, targets = first(self.train_data, 2)
                check_input_dtype(self.model, inputs, "the training inputs")
                if self.test_data is not None:
                    if len(self.test_data) == 0:
                        raise ValueError("test_data has no examples; pass None to evaluate on the training set only")
                    check_input_dtype(self.model, first(self.test_data, 2)[0], "the test inputs")
                losses = self.loss_fn(self.model(inputs), targets)
                if self.config["method"] in ("gd", "ngd"):
                    reads = [first(self.train_data, AUGMENTATION_PROBE) for _ in range(2)]
                    if not all(torch.equal(a, b) for a, b in zip(*reads)):
                        self._refuse_augmentation()
        finally:
            self.model.train(was_training)
        if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (2,):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(f"loss must return one loss per example (shape (B,)), got {shape} for a batch of 2; "
                             f"e.g. lambda out, y: F.cross_entropy(out, y, reduction='none')")

    def _refuse_augmentation(self) -> None:
        """The training set changes between reads (random augmentation): refuse 'ngd', warn for 'gd'."""
        method = self.config["method"]
        if method == "ngd":
            raise ValueError("method 'ngd' needs a fixed training set, but its first examples read differently "
                             "twice (a random augmentation?): NGD's noise has the covariance of SGD's over fixed "
                             "examples and would leave out the augmentation's; use a data set without random "
                             "transforms, or method 'sgd' or 'svag'")
        warnings.warn("method 'gd': the training set's first examples read differently twice (a random "
                      "augmentation?), so each step is the full gradient over a fresh random draw of the "
                      "augmentations, not the gradient of a fixed loss", UserWarning, stacklevel=4)

    def _batch_loss(self, weight: float):
        """Draw a batch, add weight·∇L_γ to .grad (its own forward and backward pass); return L_γ."""
        inputs, targets = self._next_batch()
        loss = self.loss_fn(self._forward(inputs), targets).mean()
        (loss if weight == 1.0 else weight * loss).backward()
        return loss.detach()

    def _fill_gradient(self):
        """Put the gradient of one small step (without weight decay) in .grad; return the step's mean loss."""
        for p in self.params:
            p.grad = None
        method = self.config["method"]
        if method in ("sgd",) + TAKES_L:
            if self.config["l"] > 1 and self.config["fused"]:
                return fused_svag_gradient(self._forward, self.loss_fn, self._next_batch(), self._next_batch(),
                                           self.c1, self.c2)
            first = self._batch_loss(self.c1)
            if self.config["l"] == 1:
                return first
            return (first + self._batch_loss(self.c2)) / 2
        if method == "gd":
            return weighted_gradient(self.model, self.loss_fn, self.train_data, chunk_size=self.config["chunk_size"],
                                     forward=self._forward, read=self._chunk_reader())
        return ngd_gradient(self.model, self.loss_fn, self.train_data, self.config["batch_size"], self.rng.noise,
                            covariance_factor=self._covariance_factor(), sample_size=self.config["ngd_sample_size"],
                            chunk_size=self.config["chunk_size"], forward=self._forward, read=self._chunk_reader())

    # -- reading a Dataset (sdesim.torch.loading) ----------------------------------------------------

    def _next_batch(self):
        """(inputs, targets) of the next training batch: indexed tensors, or a Dataset's batch number
        `batches`, read through the run's feed (outside run(): read here, without workers)."""
        if not isinstance(self.train_data, DatasetData):
            return self.train_data.batch(self.sampler.draw())
        if self._feed is not None:
            batch = self._feed.next()
        else:
            feed = self._open_feed(loading.LoaderSettings())
            try:
                batch = feed.next()
            finally:
                feed.close()
        self.batches += 1
        return batch

    def _open_feed(self, settings: loading.LoaderSettings) -> loading.TrainingFeed:
        return loading.TrainingFeed(self.train_data, self.sampler, seed=self.config["seed"],
                                    first_number=self.batches, settings=settings)

    def _chunk_reader(self):
        """For 'gd' and 'ngd' on a Dataset: a function chunks -> (inputs, targets) per chunk, numbered on from
        `batches`; None for tensors (``weighted_gradient`` then indexes them)."""
        if not isinstance(self.train_data, DatasetData):
            return None

        def read(chunks):
            first, self.batches = self.batches, self.batches + len(chunks)
            return loading.read_chunks(self.train_data, chunks, seed=self.config["seed"], stream=loading.TRAINING,
                                       first_number=first, settings=self.loader)
        return read

    @contextlib.contextmanager
    def _training_feed(self):
        """During run(): a Dataset's training batches read ahead (workers, prefetch) for 'sgd', 'svag' and the
        adaptive methods; on exit, however run() ends, the workers stop and the sampler is rewound to the
        batches actually used."""
        if not isinstance(self.train_data, DatasetData) or self.config["method"] in ("gd", "ngd"):
            yield
            return
        self._feed = self._open_feed(self.loader)
        try:
            yield
        finally:
            self._feed.close()
            self._feed = None

    def _sampler_state(self) -> torch.Tensor:
        """The sampler generator's state after the batches used so far (not those a feed drew ahead)."""
        return self.rng.sampler.get_state() if self._feed is None else self._feed.consumed_state

    def _examples_per_small_step(self) -> int:
        method, b = self.config["method"], self.config["batch_size"]
        if method == "sgd" or (method in TAKES_L and self.config["l"] == 1):
            return b
        if method in TAKES_L:
            return 2 * b
        return self.config["ngd_sample_size"] or self.config["n_train"]

    @torch.no_grad()
    def _apply(self, small_lr: float) -> None:
        """x ← x − h(g + λx) with g in .grad, or the adaptive update with learning rate h."""
        decay = self.config["weight_decay"]
        if self.hyper is not None:
            adaptive_step(self.params, self.optimizer, self.small_hyper, small_lr, decay)
            return
        for p in self.params:
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            if decay:
                grad = grad.add(p, alpha=decay)
            p.add_(grad, alpha=-small_lr)

    def combined_gradient(self) -> torch.Tensor:
        """The gradient the next small step would use (c₁∇L_γ₁ + c₂∇L_γ₂ for SVAG, without weight decay),
        flattened; it draws batches (advancing the sampler) but leaves the parameters alone."""
        self.model.train()
        with isolated_rng(self.device):
            self._fill_gradient()
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.params])

    def lr_at(self, step: int) -> float:
        """η_k = η·s(k), the learning rate of effective step k."""
        return self.config["lr"] * schedule_factor(self.schedule, step)

    # -- logging ---------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, data) -> dict:
        """Mean loss and (for class logits with integer targets) accuracy over ``data``, in eval mode.

        ``data``: anything the trainer takes as data (a data set, a pair (inputs, targets), a torch
        ``Dataset``).  Torch's random state is saved and restored around it, as around a monitor, and a torch
        ``Dataset``'s chunks are read with augmentation seeds of their own (the step and the chunk's number,
        ``sdesim.torch.loading``), so a data set that draws random augmentation cannot change the training
        trajectory.
        """
        data = as_data(data, self.device)
        if len(data) == 0:
            raise ValueError("evaluate needs a data set with at least one example, got an empty one")
        was_training = self.model.training
        self.model.eval()
        chunk = self.config["chunk_size"] or len(data)
        loss_sum, correct = 0.0, 0
        classify = None
        chunks = [torch.arange(start, min(start + chunk, len(data)), device=data.device)
                  for start in range(0, len(data), chunk)]
        if isinstance(data, DatasetData):
            reads = loading.read_chunks(data, chunks, seed=self.config["seed"], stream=loading.EVALUATION,
                                        prefix=(self.step,), first_number=0, settings=self.loader)
        else:
            reads = (data.batch(indices) for indices in chunks)
        try:
            with isolated_rng(self.device), contextlib.closing(reads):
                for number, (inputs, targets) in enumerate(reads):
                    if number == 0:
                        check_input_dtype(self.model, inputs, "the evaluated inputs")
                    outputs = self.model(inputs)
                    loss_sum += float(self.loss_fn(outputs, targets).sum())
                    if classify is None:
                        classify = outputs.ndim == 2 and targets.ndim == 1 and not targets.is_floating_point()
                    if classify:
                        correct += int((outputs.argmax(dim=1) == targets).sum())
        finally:
            self.model.train(was_training)
        metrics = {"loss": loss_sum / len(data)}
        if classify:
            metrics["acc"] = correct / len(data)
        return metrics

    def _log_entry(self) -> dict:
        k = self.step
        entry = {"step": k, "lr": self.lr_at(k), "examples": self.examples,
                 "step_loss": float(torch.stack(self._pending).mean()) if self._pending else None}
        entry["time"] = self.time
        with torch.no_grad():
            entry["norm2"] = weight_norm2(self.model)
        if k % self.config["eval_every"] == 0:
            for prefix, data in (("train", self.train_data), ("test", self.test_data)):
                if data is not None:
                    entry.update({f"{prefix}_{name}": value for name, value in self.evaluate(data).items()})
        if self.monitor is not None and k % self.config["monitor_every"] == 0:
            with isolated_rng(self.device):
                extra = self.monitor(self.model, k)
            self.model.train()
            for p in self.params:
                p.grad = None
            if not isinstance(extra, dict):
                raise TypeError(f"monitor must return a dict of metrics, got {type(extra).__name__}")
            clash = set(extra) & set(entry)
            if clash:
                raise ValueError(f"monitor metrics {sorted(clash)} clash with the trainer's own")
            entry.update({name: float(value) for name, value in extra.items()})
        return entry

    def _first_nonfinite(self):
        """Index of the first non-finite pending loss, or None (one host sync)."""
        if not self._pending:
            return None
        bad = ~torch.isfinite(torch.stack(self._pending))
        if not bool(bad.any()):
            return None
        return int(bad.nonzero()[0, 0])

    # -- the run ---------------------------------------------------------------------------------

    def run(self, steps: int) -> TrainResult:
        """Take ``steps`` more effective steps (l small steps each, l² for adaptive methods); log every ``log_every``.

        A non-finite loss stops the run cleanly: ``result.stopped`` gives the effective step and the reason,
        and the log keeps every entry before it.  Losses are checked at each log entry (one host sync),
        so the parameters may have taken up to ``log_every`` more steps; they are then not finite.
        """
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        if self.stopped is not None:
            raise RuntimeError(f"this run stopped at effective step {self.stopped['step']} "
                               f"({self.stopped['reason']}); it cannot continue")
        from tqdm.auto import tqdm

        cuda = self.device.type == "cuda"
        l = self.config["l"]
        with isolated_rng(self.device), self._training_feed():
            torch.set_rng_state(self.rng.torch_cpu)
            if cuda:
                torch.cuda.set_rng_state(self.rng.torch_cuda, self.device)
            self.model.train()
            if not self._loggers_started:
                for logger in self.loggers:
                    if isinstance(logger, Logger):
                        logger.start(list(self.log))
                self._loggers_started = True
            if self.step == 0 and not self.log:
                self._emit(self._log_entry())
            for _ in tqdm(range(steps), disable=not self.progress, desc=f"{self.config['method']} l={l}",
                          unit="step"):
                lr = self.lr_at(self.step)
                for _ in range(self.small_steps):
                    self._pending.append(self._fill_gradient())
                    self._apply(lr / l)
                self.step += 1
                self.time += lr if self.hyper is None else lr * lr
                self.examples += self.small_steps * self._examples_per_small_step()
                if self.step % self.config["log_every"] == 0:
                    if self._stop_if_diverged():
                        break
                    self._emit(self._log_entry())
                    self._pending = []
                self._maybe_checkpoint()
            else:
                self._stop_if_diverged()
            self._keep_torch_rng()
        for p in self.params:
            p.grad = None
        return self.result()

    def _emit(self, row: dict) -> None:
        """Append ``row`` to the log and hand it to each logger."""
        self.log.append(row)
        for logger in self.loggers:
            logger.log(dict(row))

    def _maybe_checkpoint(self) -> None:
        """Every ``checkpoint_every`` effective steps, write ``checkpoint_dir/step-{k:08d}.pt`` (inside `run`,
        where torch's global generators hold the run's state)."""
        if self.checkpoints is None or self.step % self.checkpoints.every:
            return
        self._keep_torch_rng()
        self.checkpoints.write(self.step, self._state())

    def _keep_torch_rng(self) -> None:
        """Inside `run`: store torch's global generators, which hold the run's stream (dropout), in ``self.rng``."""
        self.rng.torch_cpu = torch.get_rng_state()
        if self.device.type == "cuda":
            self.rng.torch_cuda = torch.cuda.get_rng_state(self.device)

    def _stop_if_diverged(self) -> bool:
        bad = self._first_nonfinite()
        if bad is None:
            return False
        n = self.small_steps
        small_steps_before = self.step * n - len(self._pending)
        index = small_steps_before + bad
        step, within = divmod(index, n)
        loss = float(self._pending[bad])
        self.stopped = {"step": step, "reason": f"the training loss was {loss} at effective step {step}"
                        + (f" (small step {within + 1} of {n})" if n > 1 else "")}
        self._pending = []
        return True

    def result(self) -> TrainResult:
        return TrainResult(log=list(self.log), steps=self.step, config=dict(self.config),
                           stopped=self.stopped, examples=self.examples)

    # -- checkpoints -----------------------------------------------------------------------------

    def save(self, path):
        """Write a checkpoint (see ``sdesim.torch.checkpoint``) from which `load` resumes identically."""
        return checkpoint.write(path, self._state())

    def _state(self) -> dict:
        return {
            "format": checkpoint.FORMAT, "config": dict(self.config), "model": self.model.state_dict(),
            "rng": {"sampler": self._sampler_state(), "noise": self.rng.noise.get_state(),
                    "torch_cpu": self.rng.torch_cpu, "torch_cuda": self.rng.torch_cuda},
            "step": self.step, "examples": self.examples, "log": list(self.log), "time": self.time,
            "optimizer": None if self.hyper is None else self.optimizer.state_dict(),
            "pending_losses": torch.stack(self._pending).cpu() if self._pending else torch.empty(0),
            "stopped": self.stopped, "batches": self.batches}

    @classmethod
    def load(cls, path, model, train_data, *, test_data=None, loss="cross_entropy", schedule=None, monitor=None,
             device=None, progress: bool = False, loggers=None, checkpoint_dir=None, checkpoint_every=None,
             keep_checkpoints: int = 3, num_workers: int | None = None, pin_memory: bool | None = None,
             prefetch_factor: int | None = None) -> "Trainer":
        """Resume the run saved at ``path`` with ``model`` (same architecture; its weights are replaced),
        the same data, loss and (if it was a function) schedule.  ``loggers`` and periodic checkpoints as in
        `Trainer`; ``checkpoint_dir`` may hold this run's checkpoints (those after the resumed step are removed
        when the first new one is written).  ``num_workers``, ``pin_memory`` and ``prefetch_factor`` default to
        the saved run's and may differ from them: the numbers do not depend on them."""
        periodic = checkpoint.Periodic.check(checkpoint_dir, checkpoint_every, keep_checkpoints)
        state = checkpoint.read(path)
        config = state["config"]
        if device is not None and resolve_device(device).type != torch.device(config["device"]).type:
            raise ValueError(f"the run was saved on {config['device']!r}; it resumes with identical numbers only "
                             f"on the same kind of device, not {device!r}")
        if config["schedule"] == "custom" and not callable(schedule):
            raise ValueError("the saved run used a schedule function: pass the same one as schedule=")
        if config["schedule"] != "custom":
            if schedule is not None and check_schedule(schedule) != config["schedule"]:
                raise ValueError(f"schedule {schedule!r} differs from the saved run's {config['schedule']!r}")
            schedule = config["schedule"]
        if config["loss"] == "custom" and not callable(loss):
            raise ValueError("the saved run used a loss function: pass the same one as loss=")
        if config["loss"] != "custom":
            loss = config["loss"]
        saved_monitor = config.get("monitor", "unknown")       # checkpoints before this key: not known
        if saved_monitor not in (None, "unknown") and monitor is None:
            warnings.warn(f"the saved run was monitored ({saved_monitor}, every {config['monitor_every']} steps) but "
                          f"no monitor was passed: its metrics stop at step {state['step']}; pass the same monitor "
                          f"as monitor= to keep them", UserWarning, stacklevel=2)
        trainer = cls(model, train_data, method=config["method"], lr=config["lr"], l=config["l"],
                      batch_size=config["batch_size"], weight_decay=config["weight_decay"], loss=loss,
                      schedule=schedule, test_data=test_data, log_every=config["log_every"],
                      eval_every=config["eval_every"], monitor=monitor,
                      monitor_every=None if isinstance(monitor, NSRMonitor) else config["monitor_every"],
                      sampling=config["sampling"], ngd_sample_size=config["ngd_sample_size"],
                      chunk_size=config["chunk_size"], seed=config["seed"],
                      device=config["device"] if device is None else device, progress=progress,
                      **saved_hyperparameters(config), loggers=loggers,
                      precision=config.get("precision", "float32"), compile=config.get("compile", False),
                      fused=config.get("fused", False),
                      **saved_loader_settings(config, num_workers, pin_memory, prefetch_factor))
        if len(trainer.train_data) != config["n_train"]:
            raise ValueError(f"the saved run trained on {config['n_train']} examples, this data set has "
                             f"{len(trainer.train_data)}")
        trainer._restore(state)
        trainer.checkpoints = periodic
        return trainer

    @classmethod
    def load_latest(cls, model, train_data, *, checkpoint_dir, **settings) -> "Trainer":
        """Resume from the newest readable ``checkpoint_dir/step-*.pt`` (an unreadable newer one, e.g. truncated
        by a kill, warns and falls back to the one before), or start fresh if there is none.

        ``settings`` are `Trainer`'s, as for the run that wrote the folder: they must give its configuration
        (method, l, lr, batch size, ...), else the error names each setting that differs, saved and asked.
        """
        every, keep = settings.pop("checkpoint_every", None), settings.pop("keep_checkpoints", 3)
        periodic = checkpoint.Periodic.check(checkpoint_dir, every, keep)
        if periodic is None:
            raise ValueError("load_latest needs a checkpoint_dir to resume from, got None")
        found = periodic.latest()
        trainer = cls(model, train_data, **settings)
        if found is not None:
            path, state = found
            saved, asked = state["config"], trainer.config
            differ = [name for name in saved if name in asked and name not in LOADER_SETTINGS
                      and saved[name] != asked[name]]
            if differ:
                raise ValueError(
                    f"checkpoint_dir {str(periodic.directory)!r} holds a run with "
                    + ", ".join(f"{name}={saved[name]!r}" for name in differ) + f" ({path.name}), but this call "
                    f"asks for " + ", ".join(f"{name}={asked[name]!r}" for name in differ)
                    + ": resume with the saved run's settings, or start a new run in another checkpoint_dir")
            trainer._restore(state)
        trainer.checkpoints = periodic
        return trainer

    def _restore(self, state: dict) -> None:
        """Put a checkpoint's model, random states, step, log and optimizer state into this trainer."""
        self.model.load_state_dict(state["model"])
        rng = state["rng"]
        self.rng.sampler.set_state(rng["sampler"])
        self.rng.noise.set_state(rng["noise"])
        self.rng.torch_cpu = rng["torch_cpu"]
        if self.rng.torch_cuda is not None and rng["torch_cuda"] is not None:
            self.rng.torch_cuda = rng["torch_cuda"]
        self.step = int(state["step"])
        self.time = float(state.get("time", 0.0))
        if self.hyper is None and state["log"] and "time" not in state["log"][0]:
            self.time = 0.0                  # written when SGD's time was not logged: it held Σ η_k², not Σ η_k
            for k in range(self.step):
                self.time += self.lr_at(k)
        if self.hyper is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.examples = int(state["examples"])
        self.log = list(state["log"])
        self.stopped = state["stopped"]
        self._pending = [value.to(self.device) for value in state["pending_losses"]]
        self.batches = int(state.get("batches", 0))


def saved_hyperparameters(config: dict) -> dict:
    """The adaptive keyword arguments of ``Trainer`` recorded in a run's config ({} for other methods)."""
    if config["method"] not in ADAPTIVE_METHODS:
        return {}
    return AdaptiveHyperparameters(config["method"], config["beta1"], config["beta2"], config["eps"],
                                   config["bias_correction"]).settings()


def saved_loader_settings(config: dict, num_workers, pin_memory, prefetch_factor) -> dict:
    """The loader keyword arguments of a resumed run: those given, else the saved run's (none before they existed);
    prefetch_factor is the saved one only when the number of workers is too."""
    if prefetch_factor is None and (num_workers is None or num_workers == config.get("num_workers", 0)):
        prefetch_factor = config.get("prefetch_factor")
    return {"num_workers": config.get("num_workers", 0) if num_workers is None else num_workers,
            "pin_memory": config.get("pin_memory", False) if pin_memory is None else pin_memory,
            "prefetch_factor": prefetch_factor}


def train(model, train_data, *, steps: int, resume=None, **settings) -> TrainResult:
    """Train ``model`` for ``steps`` effective steps: ``Trainer(model, train_data, **settings).run(steps)``.

    ``resume="latest"`` continues the run in ``checkpoint_dir`` from its newest readable checkpoint
    (`Trainer.load_latest`; a fresh run if there is none) up to ``steps`` effective steps in all: ``steps`` is
    the run's total, not the steps still to take.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if resume is None:
        return Trainer(model, train_data, **settings).run(steps)
    if resume != "latest":
        raise ValueError(f"resume must be None or 'latest' (the newest checkpoint in checkpoint_dir), got {resume!r}")
    if settings.get("checkpoint_dir") is None:
        raise ValueError("resume='latest' needs checkpoint_dir, the folder of the run's step-*.pt checkpoints")
    trainer = Trainer.load_latest(model, train_data, **settings)
    if trainer.step > steps:
        raise ValueError(f"the run in checkpoint_dir {str(trainer.checkpoints.directory)!r} is already at effective "
                         f"step {trainer.step}, beyond steps={steps} (steps is the run's total)")
    return trainer.run(steps - trainer.step)
