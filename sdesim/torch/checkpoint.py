"""The checkpoint file of a training run: everything needed to resume it with identical numbers.

One ``torch.save`` dict, read back with ``weights_only=True`` (no pickled code):

==================  ===========================================================================
``format``          ``"sdesim.torch.checkpoint/1"``
``config``          the run's settings (method, lr, l, batch size, weight decay, schedule, seed, ...)
``model``           the model's ``state_dict`` (parameters and buffers, e.g. batch-norm statistics)
``rng``             states of the batch sampler, of the NGD noise and of torch's global generators
``step``            effective steps done; ``examples``: examples used so far
``log``             the log so far (list of dicts); ``pending_losses``: losses since the last log entry
``stopped``         None, or {"step", "reason"} of a run that diverged
``time``            the SDE time of the effective steps done: Σ η_k (SGD, SVAG, GD, NGD; config
                    ``time_scale`` ``"lr"``) or Σ η_k² (the adaptive methods, ``"lr^2"``)
``batches``         training batches read from a torch Dataset so far: the number of the next one, which seeds
                    its augmentation (``sdesim.torch.loading``); checkpoints without it read as 0
``optimizer``       the ``state_dict`` of the run's ``sdesim.torch.optim`` optimizer (its small-step count and,
                    for RMSprop and Adam, m, v and k per parameter); checkpoints written before the trainer
                    stepped through it hold None (SGD, SVAG, GD, NGD) or an ``AdaptiveState`` dict, and resume
==================  ===========================================================================

The model's architecture, the data, the loss and a callable schedule are not saved: the caller
passes the same ones again.  Checkpoints written before ``time`` and
``optimizer`` were added read as time 0 and no optimizer state (they can only be SGD-family runs);
SGD-family checkpoints written before their log had a ``time`` column stored Σ η_k², and resume with
Σ η_k recomputed from the schedule.

Periodic checkpoints (``Trainer(checkpoints=Checkpoints(directory, every, keep))``) are such files named
``step-{k:08d}.pt`` in one folder, which holds one run's timeline: `Periodic` writes them, keeps the last K
and finds the newest readable one to resume from.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from sdesim.atomic import replacing, writable_folder
from sdesim.torch._checks import strict_positive_int

FORMAT = "sdesim.torch.checkpoint/1"
KEYS = ("format", "config", "model", "rng", "step", "examples", "log", "pending_losses", "stopped", "time",
        "optimizer", "batches")


def write(path, state: dict) -> Path:
    """Write ``state`` (a dict with ``KEYS``) to ``path`` atomically (`sdesim.atomic.replacing`: a temporary file
    in the same folder, fsynced, then renamed); on a full disk or a read-only folder nothing is left behind and an
    ``OutputError`` names the path and the reason."""
    missing = set(KEYS) - set(state)
    if missing:
        raise ValueError(f"checkpoint state lacks {sorted(missing)}")
    path = Path(path)
    with replacing(path, "wb") as handle:
        torch.save({**state, "format": FORMAT}, handle)
    return path


def read(path) -> dict:
    """Read a checkpoint written by `write`; raise if the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- any unreadable file gets the same message
        raise ValueError(f"{str(path)!r} is not a readable sdesim checkpoint: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an sdesim checkpoint (format {FORMAT!r})")
    return state


# ---------------------------------------------------------------------------------------------------
# periodic checkpoints in a folder

PERIODIC_NAME = re.compile(r"^step-(\d{8,})\.pt$")


def periodic_files(directory) -> list:
    """[(step, path)] of the ``step-{k:08d}.pt`` files in ``directory``, by step."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir()
             if (match := PERIODIC_NAME.match(path.name)) and path.is_file()]
    return sorted(found)


@dataclass(frozen=True)
class Periodic:
    """A checkpoint every ``every`` effective steps in ``directory``, keeping the last ``keep``."""

    directory: Path
    every: int
    keep: int

    @classmethod
    def check(cls, directory, every, keep) -> "Periodic | None":
        """Validate the trainer's ``Checkpoints(directory, every, keep)`` (None: no checkpoints), create the
        folder and check that files can be written in it, before the first step."""
        keep = strict_positive_int("Checkpoints.keep", keep)
        if directory is None:
            if every is not None:
                raise ValueError(f"Checkpoints(every={every!r}) needs a directory, the folder to write the "
                                 f"checkpoints to")
            return None
        if every is None:
            raise ValueError(f"Checkpoints(directory={str(directory)!r}) needs every, the effective steps "
                             f"between checkpoints")
        every = strict_positive_int("Checkpoints.every", every)
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"Checkpoints directory {str(directory)!r} is a file, not a folder; give a folder for "
                             f"the step-*.pt checkpoints")
        return cls(writable_folder("Checkpoints directory", directory, create=True), every, keep)

    def refuse_existing(self) -> None:
        """A fresh run refuses a folder that already holds checkpoints (another run's timeline)."""
        files = periodic_files(self.directory)
        if files:
            raise ValueError(f"checkpoint_dir {str(self.directory)!r} already holds checkpoints ({files[-1][1].name} "
                             f"and {len(files) - 1} more) of another run: continue that run with "
                             f"train(..., resume='latest') or Trainer.load_latest, or start this one in an empty "
                             f"folder")

    def write(self, step: int, state: dict) -> Path:
        """Write ``step-{step:08d}.pt`` atomically; then remove files after ``step`` (an abandoned timeline's)
        and all but the newest ``keep``."""
        path = write(self.directory / f"step-{step:08d}.pt", state)
        files = periodic_files(self.directory)
        stale = [p for k, p in files if k > step]
        older = [p for k, p in files if k <= step]
        for old in stale + older[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self):
        """(path, state) of the newest readable checkpoint, or None; an unreadable newer file (truncated by a
        kill) warns and falls back to the one before it."""
        for step, path in reversed(periodic_files(self.directory)):
            try:
                return path, read(path)
            except ValueError as error:
                warnings.warn(f"skipping checkpoint {path.name} ({error}); trying the one before it", UserWarning,
                              stacklevel=3)
        return None
