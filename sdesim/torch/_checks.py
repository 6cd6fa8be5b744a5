"""Checks at the torch backend's boundary, shared by the trainer, the data sets and the NSR monitor.

Each raises before any work with a message that names the argument, the value received and what is
allowed.  The losses live here too: the trainer and the monitor take the same names.
"""

from __future__ import annotations

import math
import numbers

import torch

LOSSES = ("cross_entropy", "mse")


def strict_positive_int(name: str, value) -> int:
    """An int ≥ 1; bools, floats (2.0 too) and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")
    return int(value)


def finite_number(name: str, value, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def resolve_device(device) -> torch.device:
    """``torch.device(device)`` if it exists on this machine; raise before any work otherwise."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available here (torch {torch.__version__}); use 'cpu'")
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"device {device!r} does not exist: this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
        return resolved if resolved.index is not None else torch.device("cuda", torch.cuda.current_device())
    raise ValueError(f"device {device!r}: only 'cpu' and 'cuda' devices are supported")


def isolated_rng(device: torch.device):
    """A context in which torch's global random state (CPU, and ``device`` if it is a GPU) is saved and
    restored: what runs inside draws from the current stream but leaves it as it was."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def per_example_loss(loss):
    """The loss as a function (outputs, targets) -> one loss per example."""
    if callable(loss):
        return loss
    if loss == "cross_entropy":
        return cross_entropy
    if loss == "mse":
        return squared_error
    raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(map(repr, LOSSES))} or a function "
                     f"(outputs, targets) -> per-example losses")


def cross_entropy(outputs, targets):
    """−log softmax(output)[target] per example; class logits along dimension 1 (at least two of them)."""
    if outputs.ndim < 2 or outputs.shape[1] < 2:
        raise ValueError(f"loss 'cross_entropy' needs class logits of shape (B, classes >= 2, ...), got outputs of "
                         f"shape {tuple(outputs.shape)}: over a single output it is identically zero; for "
                         f"regression use loss 'mse'")
    return torch.nn.functional.cross_entropy(outputs, targets, reduction="none")


def squared_error(outputs, targets):
    """|output − target|² per example (no broadcasting: the shapes must agree)."""
    if outputs.shape != targets.shape:
        raise ValueError(f"loss 'mse' needs outputs and targets of the same shape, got {tuple(outputs.shape)} "
                         f"and {tuple(targets.shape)}")
    return ((outputs - targets) ** 2).reshape(len(outputs), -1).sum(dim=1)


def check_input_dtype(model: torch.nn.Module, inputs, what: str) -> None:
    """Raise if ``inputs`` are floating point of another dtype than the model's floating parameters."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) != 1 or not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        return
    (dtype,) = dtypes
    if inputs.dtype != dtype:
        raise ValueError(f"the model's parameters are {dtype} but {what} are {inputs.dtype}; both must have one "
                         f"dtype: convert the model (model.to({inputs.dtype})) or the data (e.g. "
                         f"digits(dtype={dtype}))")
