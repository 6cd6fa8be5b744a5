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
``time``            Σ η_k² over the effective steps done (the SDE time of the adaptive methods)
``batches``         training batches read from a torch Dataset so far: the number of the next one, which seeds
                    its augmentation (``sdesim.torch.loading``); checkpoints without it read as 0
``optimizer``       None for SGD, SVAG, GD and NGD; for RMSprop and Adam per parameter m (None for
                    RMSprop), v and the number of updates k (``sdesim.torch.adaptive.AdaptiveState``)
==================  ===========================================================================

The model's architecture, the data, the loss and a callable schedule are not saved: the caller
passes the same ones again.  SGD has no optimizer state.  Checkpoints written before ``time`` and
``optimizer`` were added read as time 0 and no optimizer state (they can only be SGD-family runs).
"""

from __future__ import annotations

from pathlib import Path

import torch

FORMAT = "sdesim.torch.checkpoint/1"
KEYS = ("format", "config", "model", "rng", "step", "examples", "log", "pending_losses", "stopped", "time",
        "optimizer", "batches")


def write(path, state: dict) -> Path:
    """Write ``state`` (a dict with ``KEYS``) to ``path`` atomically (temporary file, then rename)."""
    missing = set(KEYS) - set(state)
    if missing:
        raise ValueError(f"checkpoint state lacks {sorted(missing)}")
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    torch.save({**state, "format": FORMAT}, temporary)
    temporary.replace(path)
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
