"""`Trainer`: a training run, its settings checked at the boundary, stepped through ``sdesim.torch.optim``.

Each small step fills ``.grad`` with the method's gradient (one batch, SVAG's c₁∇L_γ₁ + c₂∇L_γ₂, the full
gradient or NGD's) and calls the optimizer's ``step()``: `SVAG` (l = 1 for ``sgd``, ``gd`` and ``ngd``:
x ← x − η(g + λx)), `RMSpropSVAG`, `AdamSVAG` or `PaperRMSpropSVAG`.  The update formulas live there alone.
The learning rate η_k of the schedule is written to the optimizer once per effective step, before its first
small step.  A parameter the loss does not reach gets g = 0 (so the step is −ηλx, or the adaptive update of
g = λx), where the optimizers refuse a ``.grad`` of None.  Reading data, logging and checkpoints are the
mixins of ``train_batches``, ``train_log`` and ``train_state``.
"""

from __future__ import annotations

import numbers

import torch

from sdesim.torch import loading
from sdesim.torch._checks import (finite_number, isolated_rng, per_example_loss, resolve_device,
                                  strict_positive_int)
from sdesim.torch.adaptive import check_hyperparameters
from sdesim.torch.data import SAMPLINGS, BatchSampler, DatasetData, as_data
from sdesim.torch.loggers import Logger, check_loggers
from sdesim.torch.nets import trainable_parameters
from sdesim.torch.ngd import ngd_gradient, refuse_coupling, weighted_gradient
from sdesim.torch.optim import SVAG, AdamSVAG, PaperRMSpropSVAG, RMSpropSVAG
from sdesim.torch.speedups import (check_compile, check_precision, fused_svag_gradient, refuse_fused_coupling,
                                   training_forward)
from sdesim.torch.train_batches import BatchReading
from sdesim.torch.train_log import RunLog
from sdesim.torch.loading import LoaderSettings
from sdesim.torch.train_settings import (METHODS, TAKES_L, DataSettings, LogSettings, Speed,
                                         check_group, check_monitor_loss, check_schedule, monitor_cadence,
                                         refuse_unknown, schedule_factor, stream_seeds)
from sdesim.torch.train_state import Resumable, RunRng, periodic


def make_optimizer(method: str, params, lr: float, l: int, weight_decay: float, hyper):
    """The ``sdesim.torch.optim`` optimizer of ``method``: SVAG(l) for ``svag``, SVAG(l = 1) for ``sgd``, ``gd``
    and ``ngd``, else the adaptive method's SVAG with the hyperparameters of the run at l = 1."""
    if hyper is None:
        return SVAG(params, lr=lr, l=l, weight_decay=weight_decay)
    if method == "adam":
        return AdamSVAG(params, lr=lr, l=l, weight_decay=weight_decay, betas=(hyper.beta1, hyper.beta2),
                        eps=hyper.eps, bias_correction=hyper.bias_correction)
    kind = RMSpropSVAG if method == "rmsprop" else PaperRMSpropSVAG
    return kind(params, lr=lr, l=l, weight_decay=weight_decay, alpha=hyper.beta2, eps=hyper.eps)


def check_logging(logging: LogSettings, loss) -> tuple:
    """(log_every, eval_every, monitor_every) of checked logging settings."""
    log_every = strict_positive_int("log_every", logging.log_every)
    eval_every = log_every if logging.eval_every is None else strict_positive_int("eval_every", logging.eval_every)
    if eval_every % log_every:
        raise ValueError(f"eval_every={eval_every} must be a multiple of log_every={log_every}")
    if logging.monitor is not None and not callable(logging.monitor):
        raise TypeError(f"monitor must be a function (model, step) -> dict, got {type(logging.monitor).__name__}")
    monitor_every = monitor_cadence(logging.monitor, logging.monitor_every, eval_every, log_every)
    check_monitor_loss(logging.monitor, loss)
    return log_every, eval_every, monitor_every


class Trainer(BatchReading, RunLog, Resumable):
    """A training run of ``model`` on ``train_data`` with ``method`` (``sdesim.torch.training``); ``run(steps)``
    advances it.  Every argument is checked before any work.

    - ``method``: ``"sgd"``, ``"svag"``, ``"gd"``, ``"ngd"``, ``"rmsprop"``, ``"adam"`` or ``"paper_rmsprop"``;
      ``lr``: η > 0; ``l``: SVAG's integer l ≥ 1 (``"svag"`` and the adaptive methods take l > 1);
      ``batch_size``: B (NGD's noise is that of batches of B); ``weight_decay``: λ ≥ 0 of eq. (7).
    - Adaptive methods only (``sdesim.torch.adaptive``): ``beta1`` (Adam; default 0.9), ``beta2`` (default
      0.999 for Adam, 0.99 for both RMSprops), ``eps`` (default 1e-8), ``bias_correction`` (Adam; default
      True).  Each β in [0, 1), ε > 0; they are those of the run at l = 1 and rescaled for l > 1.
    - ``loss``: ``"cross_entropy"``, ``"mse"`` or a function (outputs, targets) -> per-example losses.
    - ``schedule``: None, {effective step: factor} (e.g. {1000: 0.1}: ×0.1 from step 1000 on) or a
      function k -> factor.
    - ``seed``: one integer for the sampler, the NGD noise and torch's generators (dropout);
      ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``; the model is moved there.
      ``test_data``: evaluated with the training set at each evaluation.
    - ``data``: a `DataSettings` (sampling, NGD's sample size, chunk size); ``logging``: a `LogSettings`
      (cadences, monitor, loggers, progress bar); ``checkpoints``: None or `Checkpoints` (the folder must hold
      no checkpoints yet: continue a run in it with `load_latest` or ``train(..., resume="latest")``);
      ``speed``: a `Speed` (precision, compile, fused); ``loader``: a ``LoaderSettings`` for a torch
      ``Dataset`` (workers, pinned memory, prefetch; the numbers do not depend on them).
    """

    def __init__(self, model, train_data, *, method: str = "sgd", lr: float = 0.1, l: int = 1,
                 batch_size: int = 32, weight_decay: float = 0.0, beta1: float | None = None,
                 beta2: float | None = None, eps: float | None = None, bias_correction: bool | None = None,
                 loss="cross_entropy", schedule=None, seed: int = 0, device="cpu", test_data=None,
                 data: DataSettings = DataSettings(), logging: LogSettings = LogSettings(),
                 checkpoints=None, speed: Speed = Speed(), loader: LoaderSettings = LoaderSettings(), **moved):
        refuse_unknown(moved, "Trainer")
        data, logging, speed = check_group("data", data), check_group("logging", logging), check_group("speed", speed)
        loader = check_group("loader", loader)
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
        if data.sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {data.sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")
        log_every, eval_every, monitor_every = check_logging(logging, loss)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        chunk_size = None if data.chunk_size is None else strict_positive_int("chunk_size", data.chunk_size)
        self.schedule = check_schedule(schedule)
        self.loggers = check_loggers(logging.loggers)
        self.checkpoints = periodic(checkpoints)
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
            loader.num_workers, loader.pin_memory, loader.prefetch_factor, device=self.device,
            reads_a_dataset=isinstance(self.train_data, DatasetData) or isinstance(self.test_data, DatasetData))
        n = len(self.train_data)
        if n < 2 * batch_size:
            raise ValueError(f"the training set has {n} examples, fewer than two batches of batch_size={batch_size}; "
                             f"use batch_size <= {n // 2}")
        ngd_sample_size = data.ngd_sample_size
        if ngd_sample_size is not None:
            if method != "ngd":
                raise ValueError(f"ngd_sample_size applies only to method 'ngd', not {method!r}")
            ngd_sample_size = strict_positive_int("ngd_sample_size", ngd_sample_size)
            if ngd_sample_size > n:
                raise ValueError(f"ngd_sample_size={ngd_sample_size} exceeds the training set's {n} examples")
        if method in ("gd", "ngd"):
            model.train()
            refuse_coupling(model, method)
        autocast_dtype = check_precision(speed.precision, self.device, self.model)
        backend = check_compile(speed.compile, self.device)
        fused = speed.fused
        if not isinstance(fused, bool):
            raise ValueError(f"fused must be True or False, got {fused!r}")
        if fused and method not in TAKES_L:
            raise ValueError(f"fused applies only to SVAG's two batches ({', '.join(map(repr, TAKES_L))}), "
                             f"not method {method!r}")
        if fused and l > 1:
            model.train()
            refuse_fused_coupling(model)
        self.config = {"method": method, "lr": lr, "l": l, "batch_size": batch_size, "weight_decay": weight_decay,
                       "sampling": data.sampling, "ngd_sample_size": ngd_sample_size, "chunk_size": chunk_size,
                       "log_every": log_every, "eval_every": eval_every, "monitor_every": monitor_every,
                       "monitor": None if logging.monitor is None else type(logging.monitor).__name__,
                       "seed": int(seed), "device": str(self.device), "n_train": n,
                       "loss": loss if isinstance(loss, str) else "custom",
                       "schedule": ("custom" if callable(self.schedule) else
                                    None if self.schedule is None else dict(self.schedule)),
                       "time_scale": "lr" if self.hyper is None else "lr^2",
                       "precision": speed.precision, "compile": backend, "fused": fused}
        if self.hyper is not None:
            self.config.update({"beta1": self.hyper.beta1, "beta2": self.hyper.beta2, "eps": self.hyper.eps,
                                "bias_correction": self.hyper.bias_correction})
        self.config.update({"num_workers": self.loader.num_workers, "pin_memory": loader.pin_memory,
                            "prefetch_factor": self.loader.prefetch_factor})
        if method == "ngd":
            from sdesim.torch.ngd import noise_scale
            noise_scale(n, batch_size, self._covariance_factor(), ngd_sample_size)  # raises if M is too small
        self.monitor = logging.monitor
        self.progress = logging.progress
        self._forward = training_forward(self.model, self.device, autocast_dtype, backend)
        self.optimizer = make_optimizer(method, self.params, lr, l if method in TAKES_L else 1, weight_decay,
                                        self.hyper)
        self.c1, self.c2 = self.optimizer.weights
        self.small_steps = self.optimizer.small_steps          # small steps per effective step: l, or l²
        self._check_data()

        sampler_seed, noise_seed, torch_seed = stream_seeds(int(seed))
        sampler_generator = torch.Generator(device=self.train_data.device).manual_seed(sampler_seed)
        self.sampler = BatchSampler(n, batch_size, sampling=data.sampling, generator=sampler_generator)
        cuda = self.device.type == "cuda"
        self.rng = RunRng(sampler_generator,
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

    @property
    def small_hyper(self):
        """The adaptive hyperparameters of one small step (those of l = 1 rescaled for l); None for the others."""
        return None if self.hyper is None else self.hyper.small_step(self.config["l"])

    # -- one small step ----------------------------------------------------------------------------

    def _covariance_factor(self) -> float:
        from sdesim.torch.data import covariance_factor
        return covariance_factor(self.config["sampling"], self.config["n_train"], self.config["batch_size"])

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

    def _take_small_step(self) -> None:
        """The optimizer's step with the gradient in .grad; a parameter without .grad takes it as zero."""
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if hasattr(self.optimizer, "mark_combined"):
            self.optimizer.mark_combined()        # _fill_gradient formed c₁∇L_γ₁ + c₂∇L_γ₂ (or one batch's)
        self.optimizer.step()

    def _examples_per_small_step(self) -> int:
        method, b = self.config["method"], self.config["batch_size"]
        if method == "sgd" or (method in TAKES_L and self.config["l"] == 1):
            return b
        if method in TAKES_L:
            return 2 * b
        return self.config["ngd_sample_size"] or self.config["n_train"]

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

    # -- the run ---------------------------------------------------------------------------------

    def run(self, steps: int):
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
                for group in self.optimizer.param_groups:    # once per effective step, before its small steps
                    group["lr"] = lr
                for _ in range(self.small_steps):
                    self._pending.append(self._fill_gradient())
                    self._take_small_step()
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
