"""The optimizers that combine two independent batches (SVAG, eq. (5), and its adaptive versions):
g = c₁∇L_γ₁ + c₂∇L_γ₂, c₁,₂ = (1 ± √(2l−1))/2 (l² for the adaptive ones), from ``combine(...).backward()``
or from ``backward(...)``, which clips each batch's gradient first (``clip_norm``, ``sdesim.torch.clipping``);
``split`` cuts a small step's examples into the two batches.
"""

from __future__ import annotations

import collections.abc
import math
import numbers

import torch

from sdesim.methods import svag_weights
from sdesim.torch.clipping import batch_gradient
from sdesim.torch.samplers import claim_draw
from sdesim.torch.small_steps import SmallStepOptimizer


def _clip_norm(clip_norm):
    if clip_norm is None:
        return None
    if isinstance(clip_norm, bool) or not isinstance(clip_norm, numbers.Real) or not math.isfinite(clip_norm) \
            or clip_norm <= 0:
        raise ValueError(f"clip_norm must be a finite number > 0 (the total gradient norm each batch's gradient is "
                         f"clipped to), or None for no clipping; got {clip_norm!r}")
    return float(clip_norm)


class SVAGFamily(SmallStepOptimizer):
    """The optimizers that combine two independent batches: `backward`, `batch`, `combine`, `split`,
    ``weights``, ``batches``, ``clip_norm``."""

    def __init__(self, params, lr, weight_decay, *, l: int, small_steps: int, settings: dict, clip_norm=None,
                 group_defaults=None):
        self.l = l
        self.weights = svag_weights(small_steps if l > 1 else 1)
        self.batches = 1 if l == 1 else 2    # independent batches per small step
        self.clip_norm = _clip_norm(clip_norm)
        self._batches_in = set()             # the batches whose gradient `batch` has put into .grad this small step
        self._combined = False               # combine, backward or mark_combined was called this small step
        super().__init__(params, lr, weight_decay, small_steps=small_steps,
                         settings={**settings, "clip_norm": self.clip_norm}, group_defaults=group_defaults)

    def _check_losses(self, losses, caller: str) -> None:
        if len(losses) != self.batches:
            want = "one loss (l = 1: one batch, SGD)" if self.batches == 1 else "two losses (two independent batches)"
            raise ValueError(f"{type(self).__name__}(l={self.l}).{caller} takes {want}, got {len(losses)}")
        shapes = [tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__ for loss in losses]
        if len(set(shapes)) > 1:
            raise ValueError(f"{caller} got losses of different shapes {shapes[0]} and {shapes[1]}: each must be "
                             f"one batch's mean loss, a scalar tensor")
        if not all(isinstance(loss, torch.Tensor) and loss.ndim == 0 for loss in losses):
            raise ValueError(f"{caller} takes scalar losses (each batch's mean loss), got shape {shapes[0]}; "
                             f"reduce per-example losses with .mean()")

    def combine(self, *losses):
        """c₁·loss1 + c₂·loss2 (``weights``), each loss the mean over its own batch; at l = 1 the one loss itself.
        ``combine(...).backward()`` puts g = c₁∇L_γ₁ + c₂∇L_γ₂ in ``.grad``; with ``clip_norm`` use `backward`."""
        self._check_losses(losses, "combine")
        self._combined = True
        if self.batches == 1:
            return losses[0]
        c1, c2 = self.weights
        return c1 * losses[0] + c2 * losses[1]

    def backward(self, *losses, scaler=None) -> None:
        """Put the small step's gradient in ``.grad``: g = c₁ĝ₁ + c₂ĝ₂, ĝᵢ = ∇L_γᵢ clipped to total norm
        ``clip_norm`` (``sdesim.torch.clipping``); at l = 1, ĝ of the one loss.  Without ``clip_norm`` it is
        ``combine(*losses).backward()``.  ``scaler``: a ``torch.amp.GradScaler``; the losses are scaled by it
        and each batch is clipped where its unscaled gradient would be; then ``scaler.step(opt)`` as usual."""
        self._check_losses(losses, "backward")
        self._combined = True
        if scaler is not None:
            losses = [scaler.scale(loss) for loss in losses]
        if self.clip_norm is None:
            self.combine(*losses).backward()
            return
        for i, loss in enumerate(losses):
            with self.batch(i, scaler=scaler):
                loss.backward(retain_graph=i + 1 < len(losses))

    def batch(self, i: int, *, scaler=None):
        """A block whose gradients are batch i's (0: γ₁, 1: γ₂): on exit they are clipped to ``clip_norm``
        (unscaled, with a GradScaler's ``scaler``) and added to ``.grad`` times cᵢ; for gradient accumulation
        over micro-batches of one batch, with clipping::

            with opt.batch(0):
                for part in micro_batches_1: (loss(part) / len(micro_batches_1)).backward()
        """
        if isinstance(i, bool) or i not in range(self.batches):
            raise ValueError(f"batch takes the batch's number, 0{' or 1' if self.batches == 2 else ''} "
                             f"({self.batches} batch(es) per small step at l = {self.l}), got {i!r}")
        if i in self._batches_in:
            raise RuntimeError(f"batch {i}'s gradient is already in .grad for this small step: clipping applies to "
                               f"a batch's whole gradient, so accumulate its micro-batches in one `with opt.batch({i}):`")
        self._batches_in.add(i)
        self._combined = True
        weight = self.weights[i] if self.batches == 2 else 1.0
        scale = 1.0 if scaler is None else float(scaler.get_scale())
        return batch_gradient(self._all_params(), weight, self.clip_norm, scale)

    def mark_combined(self) -> None:
        """Declare that ``.grad`` holds this small step's c₁∇L_γ₁ + c₂∇L_γ₂ formed by your own code (for example
        one weighted pass over both batches), not through `combine`, `backward` or `batch`: at l > 1 `step`
        refuses a gradient that came from none of them."""
        self._combined = True

    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """``torch.optim.Optimizer.zero_grad``, and forget which batches' gradients came in."""
        super().zero_grad(set_to_none)
        self._batches_in = set()

    def step(self, closure=None):
        """One small step with the combined gradient g = c₁∇L_γ₁(x) + c₂∇L_γ₂(x), c₁,₂ = (1 ± √(2n − 1))/2 for n
        small steps per effective step: SVAG's x ← x − (η/l)(g + λx), eq. (5) (l = 1: SGD, eq. (1)), or g in
        the subclass's RMSprop or Adam update.  A RuntimeError if the gradient did not come from the two batches (`combine`,
        `backward`), or, with ``clip_norm``, if a batch's gradient skipped its clipping."""
        if self.batches == 2 and not self._combined and any(p.grad is not None for p in self._all_params()):
            raise RuntimeError(
                f"{type(self).__name__}(l={self.l}).step() with a gradient that did not come from the two batches: "
                f"call opt.combine(loss1, loss2).backward() or opt.backward(loss1, loss2) before each step (a plain "
                f"loss.backward() would make this an SGD step of η/l, not SVAG's); if your code forms "
                f"c₁∇L₁ + c₂∇L₂ itself (opt.weights), call opt.mark_combined() before opt.step()")
        if self.clip_norm is not None and len(self._batches_in) != self.batches:
            raise RuntimeError(
                f"{type(self).__name__} has clip_norm={self.clip_norm}, but only {len(self._batches_in)} of the "
                f"small step's {self.batches} batch gradients went through opt.backward(...) or opt.batch(i): call "
                f"opt.backward({'loss' if self.batches == 1 else 'loss1, loss2'}) instead of .backward(), so that "
                f"each batch's gradient is clipped before they are combined")
        loss = super().step(closure)
        self._batches_in, self._combined = set(), False
        return loss

    def skip_step(self) -> None:
        """`SmallStepOptimizer.skip_step`, and forget the batches of the skipped step."""
        super().skip_step()
        self._batches_in, self._combined = set(), False

    def split(self, *batch, own_sampling: bool = False) -> list:
        """One small step's examples cut into its batches, each a forward pass's input: [γ₁, γ₂] (B rows each
        of the 2B), [batch] at l = 1.  ``opt.split(x, y)`` or ``opt.split((x, y))`` -> [(x₁, y₁), (x₂, y₂)];
        ``opt.split({"input_ids": ..., "labels": ...})`` (a Hugging Face batch) -> two dicts of the same keys.
        Every value is a tensor of the same number of rows; anything else is refused, constants included.

        At l > 1 the rows must be one draw of a ``two_independent_batches`` sampler (``samplers.claim_draw``):
        ``DataLoader(batch_size=B, shuffle=True)`` would be halved to B/2 (and its short last batch), and the
        halves of ``batch_size=2B, shuffle=True`` are not independent; both are refused.  ``own_sampling=True``
        skips that check, for rows you drew as two independent batches yourself (γ₁ then γ₂)."""
        if not isinstance(own_sampling, bool):
            raise ValueError(f"own_sampling must be True or False, got {own_sampling!r}")
        if len(batch) == 1 and isinstance(batch[0], collections.abc.Mapping):
            keys, values = list(batch[0]), list(batch[0].values())
        elif len(batch) == 1 and isinstance(batch[0], (tuple, list)):
            keys, values = None, list(batch[0])
        else:
            keys, values = None, list(batch)
        if not values:
            raise ValueError("split takes one small step's examples: opt.split(inputs, targets), opt.split((inputs, "
                             "targets)) or opt.split({'input_ids': ..., 'labels': ...}); got nothing")
        names = [repr(key) for key in keys] if keys is not None else [f"item {i}" for i in range(len(values))]
        for name, value in zip(names, values):
            if not isinstance(value, torch.Tensor) or value.ndim == 0:
                kind = "a 0-dim tensor" if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"split takes tensors with one row per example; {name} of the batch is {kind}.  "
                                 f"Leave non-tensor values and per-batch constants out of the batch (e.g. in the "
                                 f"collate function) and pass them to the model yourself")
        rows = [len(value) for value in values]
        if len(set(rows)) > 1 or rows[0] % self.batches:
            raise ValueError(f"split needs tensors of one length divisible by {self.batches} (the batches per "
                             f"small step), got lengths {rows}; draw them with "
                             f"two_independent_batches(..., batches=opt.batches)")
        waiting = None if self.batches == 1 or own_sampling else claim_draw(rows[0])
        if waiting is not None:
            drawn = " or ".join(map(str, waiting))
            seen = (f"the two_independent_batches sampler drew {drawn} indices per small step: these rows are not "
                    f"its draw (a DataLoader with batch_size= and not batch_sampler=, or its short last batch?)"
                    if waiting else "no two_independent_batches sampler drew them")
            raise ValueError(
                f"split got {rows[0]} rows and {seen}.  From DataLoader(batch_size=B, shuffle=True) split would halve "
                f"each batch to B/2 (and the short last one), and the halves of batch_size=2B are not independent.  "
                f"Draw each small step's two batches with DataLoader(dataset, batch_sampler=two_independent_batches("
                f"len(dataset), B, batches=opt.batches, seed=..., draws=...)); if you drew two independent batches "
                f"of {rows[0] // 2} rows yourself (γ₁ then γ₂), pass opt.split(..., own_sampling=True)")
        pieces = [value.chunk(self.batches) for value in values]
        if keys is not None:
            return [dict(zip(keys, part)) for part in zip(*pieces)]
        return list(zip(*pieces))
