"""A tiny torch model and data set (float64) shared by the torch tests."""

import torch

from sdesim.torch.data import synthetic_classification


def tiny_model(seed=0, *, norm=None, dropout=0.0, dtype=torch.float64):
    """Linear(4, 3) → [BatchNorm1d] → tanh → [Dropout] → Linear(3, 2), weights fixed by ``seed``."""
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(4, 3)]
    if norm == "batch":
        layers.append(torch.nn.BatchNorm1d(3))
    layers += [torch.nn.Tanh()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    layers.append(torch.nn.Linear(3, 2))
    return torch.nn.Sequential(*layers).to(dtype)


def tiny_data(n=12, seed=1, dtype=torch.float64):
    """n points of two Gaussian classes in 4 dimensions."""
    return synthetic_classification(n, dim=4, classes=2, seed=seed, dtype=dtype)


def same_state(a, b) -> bool:
    """Every tensor of the two modules' state dicts equal bit for bit (parameters and buffers)."""
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
