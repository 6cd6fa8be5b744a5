"""Saving and resuming a trainer: its checkpoint state (``sdesim.torch.checkpoint``), `Resumable.load`,
`Resumable.load_latest` and the periodic checkpoints written during a run.

The optimizer's state is its ``state_dict`` (``sdesim.torch.optim``: the adaptive moments, the small-step
counter and the method's settings) for every method.  Checkpoints written before the trainer stepped through
``sdesim.torch.optim`` hold None (SGD, SVAG, GD, NGD: no state) or an ``AdaptiveState`` dict (m, v, k per
parameter); both still resume, bit for bit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from sdesim.torch import checkpoint
from sdesim.torch._checks import resolve_device
from sdesim.torch.adaptive import ADAPTIVE_METHODS, AdaptiveHyperparameters
from sdesim.torch.loading import LoaderSettings
from sdesim.torch.nsr import NSRMonitor
from sdesim.torch.train_settings import (DataSettings, LogSettings, Speed, check_group, check_schedule,
                                         refuse_unknown)

LOADER_SETTINGS = ("num_workers", "pin_memory",
                   "prefetch_factor")   # how a Dataset is read, not what: may change on resume


@dataclass
class RunRng:
    """The run's random streams: the batch sampler, the NGD noise and torch's global generators (dropout)."""

    sampler: torch.Generator
    noise: torch.Generator
    torch_cpu: torch.Tensor
    torch_cuda: torch.Tensor | None = None


def periodic(checkpoints) -> checkpoint.Periodic | None:
    """The checked `Checkpoints` settings as a ``checkpoint.Periodic`` (None: no periodic checkpoints)."""
    checkpoints = check_group("checkpoints", checkpoints, optional=True)
    if checkpoints is None:
        return None
    return checkpoint.Periodic.check(checkpoints.directory, checkpoints.every, checkpoints.keep)


def saved_hyperparameters(config: dict) -> dict:
    """The adaptive keyword arguments of ``Trainer`` recorded in a run's config ({} for other methods)."""
    if config["method"] not in ADAPTIVE_METHODS:
        return {}
    return AdaptiveHyperparameters(config["method"], config["beta1"], config["beta2"], config["eps"],
                                   config["bias_correction"]).settings()


def saved_loader(config: dict) -> LoaderSettings:
    """The loader settings of a saved run (the defaults for runs saved before they existed)."""
    return LoaderSettings(config.get("num_workers", 0), config.get("pin_memory", False),
                          config.get("prefetch_factor"))


def optimizer_state(optimizer, saved, *, first_moment: bool, small_steps_taken: int) -> dict | None:
    """A checkpoint's optimizer state as ``optimizer.load_state_dict`` takes it: the state_dict itself; None
    (an SGD-family checkpoint from before the optimizer was saved: no state to restore); or the old
    ``AdaptiveState`` dict {exp_avg, exp_avg_sq, steps}, put into the optimizer's per-parameter state."""
    if saved is None or "sdesim" in saved:
        return saved
    state = optimizer.state_dict()
    if (saved["exp_avg"] is not None) != first_moment or len(saved["exp_avg_sq"]) != len(
            state["param_groups"][0]["params"]):
        raise ValueError("the checkpoint's optimizer state does not fit this method and model")
    for index, (exp_avg_sq, steps) in enumerate(zip(saved["exp_avg_sq"], saved["steps"])):
        entry = {"step": int(steps), "exp_avg_sq": exp_avg_sq}
        if saved["exp_avg"] is not None:
            entry["exp_avg"] = saved["exp_avg"][index]
        state["state"][index] = entry
    state["sdesim"]["small_steps_taken"] = small_steps_taken
    return state


class Resumable:
    """The `Trainer`'s checkpoints (a mixin: it uses the trainer's model, random streams, step, log and
    optimizer)."""

    def save(self, path):
        """Write a checkpoint (see ``sdesim.torch.checkpoint``) from which `load` resumes identically."""
        return checkpoint.write(path, self._state())

    def _maybe_checkpoint(self) -> None:
        """Every ``checkpoints.every`` effective steps, write ``directory/step-{k:08d}.pt`` (inside `run`,
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

    def _state(self) -> dict:
        return {
            "format": checkpoint.FORMAT, "config": dict(self.config), "model": self.model.state_dict(),
            "rng": {"sampler": self._sampler_state(), "noise": self.rng.noise.get_state(),
                    "torch_cpu": self.rng.torch_cpu, "torch_cuda": self.rng.torch_cuda},
            "step": self.step, "examples": self.examples, "log": list(self.log), "time": self.time,
            "optimizer": self.optimizer.state_dict(),
            "pending_losses": torch.stack(self._pending).cpu() if self._pending else torch.empty(0),
            "stopped": self.stopped, "batches": self.batches}

    @classmethod
    def load(cls, path, model, train_data, *, test_data=None, loss="cross_entropy", schedule=None, device=None,
             monitor=None, loggers=None, progress: bool = False, checkpoints=None, loader=None, **moved):
        """Resume the run saved at ``path`` with ``model`` (same architecture; its weights are replaced), the
        same data, loss and (if it was a function) schedule: the keywords are what a checkpoint cannot hold.
        ``monitor``, ``loggers`` and ``progress`` as in `LogSettings` (the cadences are the saved run's);
        ``checkpoints`` as in `Trainer` (the folder may hold this run's checkpoints: those after the resumed
        step are removed when the first new one is written); ``loader`` (a ``LoaderSettings``) defaults to the
        saved run's and may differ from it: the numbers do not depend on it."""
        refuse_unknown(moved, "Trainer.load")
        periodic_checkpoints = periodic(checkpoints)
        loader = check_group("loader", loader, optional=True)
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
        logging = LogSettings(log_every=config["log_every"], eval_every=config["eval_every"], monitor=monitor,
                              monitor_every=None if isinstance(monitor, NSRMonitor) else config["monitor_every"],
                              loggers=loggers, progress=progress)
        trainer = cls(model, train_data, method=config["method"], lr=config["lr"], l=config["l"],
                      batch_size=config["batch_size"], weight_decay=config["weight_decay"],
                      **saved_hyperparameters(config), loss=loss, schedule=schedule, seed=config["seed"],
                      device=config["device"] if device is None else device, test_data=test_data,
                      data=DataSettings(config["sampling"], config["ngd_sample_size"], config["chunk_size"]),
                      logging=logging,
                      speed=Speed(config.get("precision", "float32"), config.get("compile", False),
                                  config.get("fused", False)),
                      loader=saved_loader(config) if loader is None else loader)
        if len(trainer.train_data) != config["n_train"]:
            raise ValueError(f"the saved run trained on {config['n_train']} examples, this data set has "
                             f"{len(trainer.train_data)}")
        trainer._restore(state)
        trainer.checkpoints = periodic_checkpoints
        return trainer

    @classmethod
    def load_latest(cls, model, train_data, *, checkpoints, **settings):
        """Resume from the newest readable ``step-*.pt`` in ``checkpoints.directory`` (an unreadable newer one,
        e.g. truncated by a kill, warns and falls back to the one before), or start fresh if there is none.

        ``settings`` are `Trainer`'s, as for the run that wrote the folder: they must give its configuration
        (method, l, lr, batch size, ...), else the error names each setting that differs, saved and asked.
        """
        found_in = periodic(checkpoints)
        if found_in is None:
            raise ValueError("load_latest needs checkpoints=Checkpoints(directory, every) to resume from, got None")
        found = found_in.latest()
        trainer = cls(model, train_data, **settings)
        if found is not None:
            path, state = found
            saved, asked = state["config"], trainer.config
            differ = [name for name in saved if name in asked and name not in LOADER_SETTINGS
                      and saved[name] != asked[name]]
            if differ:
                raise ValueError(
                    f"checkpoint folder {str(found_in.directory)!r} holds a run with "
                    + ", ".join(f"{name}={saved[name]!r}" for name in differ) + f" ({path.name}), but this call "
                    f"asks for " + ", ".join(f"{name}={asked[name]!r}" for name in differ)
                    + ": resume with the saved run's settings, or start a new run in another folder")
            trainer._restore(state)
        trainer.checkpoints = found_in
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
        saved = optimizer_state(self.optimizer, state.get("optimizer"), small_steps_taken=self.step * self.small_steps,
                                first_moment=self.hyper is not None and self.hyper.beta1 is not None)
        if saved is not None:
            self.optimizer.load_state_dict(saved)
        self.examples = int(state["examples"])
        self.log = list(state["log"])
        self.stopped = state["stopped"]
        self._pending = [value.to(self.device) for value in state["pending_losses"]]
        self.batches = int(state.get("batches", 0))
