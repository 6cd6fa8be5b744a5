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

Settings: the update's own keywords are flat (``method``, ``lr``, ``l``, ``batch_size``, ``weight_decay``,
the adaptive ``beta1``, ``beta2``, ``eps``, ``bias_correction``, and ``loss``, ``schedule``, ``seed``,
``device``, ``test_data``); the rest are small typed objects (``sdesim.torch.train_settings``): ``data=``
`DataSettings`, ``logging=`` `LogSettings`, ``checkpoints=`` `Checkpoints`, ``speed=`` `Speed` and ``loader=``
``LoaderSettings``.  E.g. ``train(model, data, steps=100, method="svag", l=4, lr=0.1,
logging=LogSettings(log_every=5), speed=Speed(precision="bf16"))``.  A keyword that moved into an object is
refused with its new place named.  The update itself is ``sdesim.torch.optim``'s (`Trainer` steps through it).
"""

from __future__ import annotations

import numbers

from sdesim.torch.loading import LoaderSettings
from sdesim.torch.train_result import TrainResult
from sdesim.torch.train_settings import MOVED, Checkpoints, DataSettings, LogSettings, Speed, refuse_unknown
from sdesim.torch.trainer import Trainer

__all__ = ["Trainer", "TrainResult", "train", "DataSettings", "LogSettings", "Checkpoints", "Speed",
           "LoaderSettings"]


def train(model, train_data, *, steps: int, resume=None, **settings) -> TrainResult:
    """Train ``model`` for ``steps`` effective steps: ``Trainer(model, train_data, **settings).run(steps)``.

    ``resume="latest"`` continues the run in ``checkpoints.directory`` from its newest readable checkpoint
    (`Trainer.load_latest`; a fresh run if there is none) up to ``steps`` effective steps in all: ``steps`` is
    the run's total, not the steps still to take.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    refuse_unknown({name: value for name, value in settings.items() if name in MOVED}, "train")
    if resume is None:
        return Trainer(model, train_data, **settings).run(steps)
    if resume != "latest":
        raise ValueError(f"resume must be None or 'latest' (the newest checkpoint in checkpoints.directory), "
                         f"got {resume!r}")
    if settings.get("checkpoints") is None:
        raise ValueError("resume='latest' needs checkpoints=Checkpoints(directory, every), the folder of the run's "
                         "step-*.pt checkpoints")
    trainer = Trainer.load_latest(model, train_data, **settings)
    if trainer.step > steps:
        raise ValueError(f"the run in {str(trainer.checkpoints.directory)!r} is already at effective "
                         f"step {trainer.step}, beyond steps={steps} (steps is the run's total)")
    return trainer.run(steps - trainer.step)
