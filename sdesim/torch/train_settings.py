"""The trainer's settings: the update's own keywords flat, the rest in five small typed objects.

==================  =======================================================================================
flat keywords       ``method``, ``lr``, ``l``, ``batch_size``, ``weight_decay``, ``beta1``, ``beta2``, ``eps``,
                    ``bias_correction`` (the update), ``loss``, ``schedule``, ``seed``, ``device``, ``test_data``
``data``            `DataSettings`: how batches are drawn (``sampling``), NGD's sample size M, ``chunk_size``
``logging``         `LogSettings`: ``log_every``, ``eval_every``, ``monitor``, ``monitor_every``, ``loggers``,
                    ``progress``
``checkpoints``     `Checkpoints`: ``directory``, ``every``, ``keep``
``speed``           `Speed`: ``precision``, ``compile``, ``fused`` (``sdesim.torch.speedups``)
``loader``          ``sdesim.torch.loading.LoaderSettings``: ``num_workers``, ``pin_memory``, ``prefetch_factor``
==================  =======================================================================================

`MOVED` maps each keyword that moved into an object to its new place; the trainer refuses a moved keyword
with that place named.  Each object is validated by the trainer before any work.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from sdesim.torch._checks import LOSSES, finite_number, strict_positive_int
from sdesim.torch.adaptive import ADAPTIVE_METHODS
from sdesim.torch.loading import LoaderSettings
from sdesim.torch.nsr import NSRMonitor

METHODS = ("sgd", "svag", "gd", "ngd") + ADAPTIVE_METHODS
TAKES_L = ("svag",) + ADAPTIVE_METHODS


@dataclass(frozen=True)
class DataSettings:
    """How the training data is read: ``sampling`` ``"subset"`` (B distinct examples per batch) or
    ``"replacement"`` (NGD matches its covariance); ``ngd_sample_size``: None for exact NGD over all N
    examples, or M for the large-batch variant; ``chunk_size``: examples per forward pass for ``gd``, ``ngd``
    and evaluation (None: all at once)."""

    sampling: str = "subset"
    ngd_sample_size: int | None = None
    chunk_size: int | None = None


@dataclass(frozen=True)
class LogSettings:
    """``log_every``: effective steps between log entries; ``eval_every`` (default ``log_every``): between full
    train/test evaluations; ``monitor``: a function (model, step) -> dict of extra metrics, called every
    ``monitor_every`` (default ``eval_every``) steps, or an `NSRMonitor` (called every ``monitor.every``
    steps; leave ``monitor_every`` out); ``loggers``: a `Logger` or a list of them (``sdesim.torch.loggers``);
    ``progress``: a tqdm bar."""

    log_every: int = 10
    eval_every: int | None = None
    monitor: object = None
    monitor_every: int | None = None
    loggers: object = None
    progress: bool = False


@dataclass(frozen=True)
class Checkpoints:
    """Write ``directory/step-{k:08d}.pt`` every ``every`` effective steps, keeping the last ``keep``
    (``sdesim.torch.checkpoint.Periodic``)."""

    directory: object
    every: int
    keep: int = 3


@dataclass(frozen=True)
class Speed:
    """``precision`` ``"float32"`` or ``"bf16"``, ``compile`` (False, True or a backend name) and SVAG's
    ``fused`` pass; ``sdesim.torch.speedups`` says what each changes numerically."""

    precision: str = "float32"
    compile: object = False
    fused: bool = False


GROUPS = {"data": DataSettings, "logging": LogSettings, "checkpoints": Checkpoints, "speed": Speed,
          "loader": LoaderSettings}
MOVED = {  # old keyword of Trainer and train -> (its settings object, the field)
    "sampling": ("data", "sampling"), "ngd_sample_size": ("data", "ngd_sample_size"),
    "chunk_size": ("data", "chunk_size"),
    "log_every": ("logging", "log_every"), "eval_every": ("logging", "eval_every"),
    "monitor": ("logging", "monitor"), "monitor_every": ("logging", "monitor_every"),
    "loggers": ("logging", "loggers"), "progress": ("logging", "progress"),
    "checkpoint_dir": ("checkpoints", "directory"), "checkpoint_every": ("checkpoints", "every"),
    "keep_checkpoints": ("checkpoints", "keep"),
    "precision": ("speed", "precision"), "compile": ("speed", "compile"), "fused": ("speed", "fused"),
    "num_workers": ("loader", "num_workers"), "pin_memory": ("loader", "pin_memory"),
    "prefetch_factor": ("loader", "prefetch_factor"),
}


def refuse_unknown(settings: dict, where: str) -> None:
    """Raise for keywords ``where`` does not take, naming the settings object a moved keyword now lives in."""
    if not settings:
        return
    moved = [name for name in settings if name in MOVED]
    if moved:
        places = "; ".join(f"{name}= -> {MOVED[name][0]}={GROUPS[MOVED[name][0]].__name__}"
                           f"({MOVED[name][1]}={settings[name]!r})" for name in moved)
        raise TypeError(f"{where} takes these settings in objects now (sdesim.torch.train_settings): {places}")
    raise TypeError(f"{where} got unknown keyword(s) {', '.join(sorted(settings))}")


def check_group(name: str, value, *, optional: bool = False):
    """``value`` if it is the settings object ``name`` takes (None allowed when ``optional``); else raise."""
    kind = GROUPS[name]
    if (value is None and optional) or isinstance(value, kind):
        return value
    raise TypeError(f"{name} must be a {kind.__name__}(...){' or None' if optional else ''}, "
                    f"got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------
# checks of single settings

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
