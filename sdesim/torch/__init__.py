"""The torch backend (the ``torch`` extra): SVAG, SGD and noisy GD for any ``nn.Module``,
noise-to-signal monitoring and the scaling-rule prediction, and the synthetic problems as
torchsde SDEs.  The core package never imports this.

- ``training``: [`Trainer`][sdesim.torch.training.Trainer] and ``train`` (SGD, SVAG eq. (5), GD, NGD eq. (3),
  RMSprop and Adam with their SVAG);
- ``adaptive``: the RMSprop and Adam updates in torch.optim's order of operations, and SVAG's hyperparameters;
- ``speedups``: the trainer's ``precision="bf16"``, ``compile`` and SVAG's ``fused`` pass, and what each changes;
- ``scaling``: ``scale_config``, the square-root (adaptive) and linear (SGD) scaling rules on a run's settings;
- ``ngd``: the NGD gradient without forming Σ;
- ``loggers``: CSV and TensorBoard loggers that receive each log row as it is appended;
- ``optim``: SVAG, RMSpropSVAG, AdamSVAG, AdamWSVAG and NoisyGD as torch.optim optimizers for your own loop;
- ``clipping``, ``param_groups``: their per-batch gradient clipping and per-group hyperparameters;
- ``samplers``: SVAG's independent batches and DataLoader's epoch reshuffling, resumable, for a ``DataLoader``;
- ``data``: digits, synthetic sets, any torch ``Dataset``, CIFAR-10 from a local folder;
- ``nsr``: Ĝ, N̂, R during training (Definition 5.1) and the κ* of Theorem 5.6;
- ``nets``: small scale-invariant networks and their invariance check;
- ``sde``: the engine's linear-quadratic problems solved by torchsde.
"""

from sdesim.torch.data import (
    BatchSampler, DatasetData, TensorData, as_data, cifar10, digits, synthetic_classification, synthetic_regression,
)
from sdesim.torch.loggers import CSVLogger, Logger, TensorBoardLogger, read_csv
from sdesim.torch.nets import (
    check_scale_invariance, cnn, mlp, scale_invariant_cnn, scale_invariant_mlp, trainable_parameters, weight_norm2,
)
from sdesim.torch.ngd import ngd_gradient, ngd_weights, noise_scale, weighted_gradient
from sdesim.torch.optim import SVAG, AdamSVAG, AdamWSVAG, NoisyGD, PaperRMSpropSVAG, RMSpropSVAG
from sdesim.torch.samplers import epoch_reshuffling, two_independent_batches
from sdesim.torch.nsr import NSREstimate, NSRMonitor, estimate_nsr
from sdesim.torch.scaling_prediction import ScalingPrediction, predict_scaling
from sdesim.torch.scaling import scale_config
from sdesim.torch.sde import ProblemSDE, solve, to_torchsde
from sdesim.torch.training import Checkpoints, DataSettings, LogSettings, Speed, Trainer, TrainResult, train

__all__ = [
    "Trainer", "TrainResult", "train", "scale_config", "DataSettings", "LogSettings", "Checkpoints", "Speed",
    "ngd_gradient", "ngd_weights", "noise_scale", "weighted_gradient",
    "BatchSampler", "DatasetData", "TensorData", "as_data", "cifar10", "digits", "synthetic_classification",
    "synthetic_regression",
    "NSREstimate", "NSRMonitor", "estimate_nsr", "predict_scaling", "ScalingPrediction",
    "check_scale_invariance", "cnn", "mlp", "scale_invariant_cnn", "scale_invariant_mlp", "trainable_parameters",
    "weight_norm2",
    "ProblemSDE", "solve", "to_torchsde",
    "Logger", "CSVLogger", "TensorBoardLogger", "read_csv",
    "SVAG", "AdamSVAG", "AdamWSVAG", "NoisyGD", "PaperRMSpropSVAG", "RMSpropSVAG", "epoch_reshuffling", "two_independent_batches",
]
