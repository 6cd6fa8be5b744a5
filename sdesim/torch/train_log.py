"""The trainer's log: an entry every ``log_every`` effective steps (loss of the steps since the last entry, the
learning rate, SDE time, |x|², full evaluations every ``eval_every``, monitor metrics), handed to the loggers;
a non-finite loss stops the run at the step where it first appeared."""

from __future__ import annotations

import contextlib

import torch

from sdesim.torch import loading
from sdesim.torch._checks import check_input_dtype, isolated_rng
from sdesim.torch.data import DatasetData, as_data
from sdesim.torch.nets import weight_norm2
from sdesim.torch.train_result import TrainResult


class RunLog:
    """The `Trainer`'s evaluation and log (a mixin: it uses the trainer's model, data, step and pending losses)."""

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

    def _emit(self, row: dict) -> None:
        """Append ``row`` to the log and hand it to each logger."""
        self.log.append(row)
        for logger in self.loggers:
            logger.log(dict(row))

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
