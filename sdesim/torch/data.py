"""Data for the torch backend: in-memory tensors, scikit-learn's digits, synthetic sets, any torch
``Dataset``, and the batch sampler.

Nothing here downloads anything.  A data set is anything with ``len(data)`` and
``data.batch(indices) -> (inputs, targets)``: `TensorData` (tensors held in memory, on the
training device) or `DatasetData` (any map-style torch ``Dataset``, collated batch by batch).

The sampler draws each batch on its own, independently of every other batch (two per SVAG step):

* ``"replacement"``: B indices i.i.d. uniform on {0..N−1}; the batch-mean gradient has covariance
  Σ₁/B exactly, with Σ₁ = (1/N) Σᵢ (gᵢ − ḡ)(gᵢ − ḡ)ᵀ the per-example covariance;
* ``"subset"`` (default): a uniformly random set of B distinct examples; covariance
  (Σ₁/B)·(N − B)/(N − 1) (sampling without replacement).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from sdesim.torch._checks import resolve_device

SAMPLINGS = ("subset", "replacement")


def covariance_factor(sampling: str, n: int, batch_size: int) -> float:
    """f such that the covariance of one batch's mean gradient is f·Σ₁/B under ``sampling``."""
    if sampling == "replacement":
        return 1.0
    if sampling == "subset":
        return (n - batch_size) / (n - 1)
    raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")


class TensorData:
    """Examples held as two tensors: ``inputs`` (N, ...) and ``targets`` (N, ...)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
            raise TypeError("TensorData takes two torch tensors (inputs, targets), got "
                            f"{type(inputs).__name__} and {type(targets).__name__}")
        if inputs.ndim == 0 or targets.ndim == 0 or len(inputs) != len(targets):
            raise ValueError("inputs and targets must have the same first dimension (one row per example), got "
                             f"shapes {tuple(inputs.shape)} and {tuple(targets.shape)}")
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def batch(self, indices: torch.Tensor):
        """(inputs, targets) of the examples at ``indices``."""
        return self.inputs[indices], self.targets[indices]

    def to(self, device) -> "TensorData":
        """The same examples on ``device``."""
        return TensorData(self.inputs.to(device), self.targets.to(device))

    def subset(self, indices) -> "TensorData":
        """The examples at ``indices``, in that order."""
        indices = torch.as_tensor(indices, device=self.inputs.device)
        return TensorData(self.inputs[indices], self.targets[indices])

    def __repr__(self) -> str:
        return (f"TensorData(N={len(self)}, inputs {tuple(self.inputs.shape[1:])} {self.inputs.dtype}, "
                f"targets {self.targets.dtype}, on {self.device})")


class DatasetData:
    """Any map-style torch ``Dataset`` (``__len__`` and ``__getitem__`` returning (input, target)).

    Batches are collated with ``torch.utils.data.default_collate`` and moved to ``device`` ("cpu",
    "cuda" or "cuda:N"; a device that does not exist here is refused at once).
    """

    def __init__(self, dataset, device="cpu"):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DatasetData needs a map-style Dataset (with __len__ and __getitem__), "
                            f"got {type(dataset).__name__}")
        self.dataset = dataset
        self._device = resolve_device(device)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")  # indices are drawn on the CPU; batches then move to the device

    def batch(self, indices: torch.Tensor):
        """(inputs, targets) of the examples at ``indices``, read here (augmentation from the global generators);
        the trainer reads through ``sdesim.torch.loading`` instead (workers, per-batch seeds)."""
        from torch.utils.data import default_collate

        inputs, targets = default_collate([self.dataset[int(i)] for i in indices.tolist()])
        return self.to_device(inputs), self.to_device(targets)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A collated tensor moved to the training device (asynchronously from pinned memory)."""
        return tensor.to(self._device, non_blocking=True)

    def to(self, device) -> "DatasetData":
        """The same dataset, its batches moved to ``device`` as they are drawn."""
        return DatasetData(self.dataset, device)

    def __repr__(self) -> str:
        return f"DatasetData({type(self.dataset).__name__}, N={len(self)}, to {self._device})"


def as_data(data, device="cpu"):
    """A data set for training on ``device``: TensorData moved there, a torch Dataset wrapped,
    or a pair (inputs, targets) of tensors or arrays."""
    if isinstance(data, (TensorData, DatasetData)):
        return data.to(device)
    if isinstance(data, tuple) and len(data) == 2:
        inputs, targets = (torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a for a in data)
        return TensorData(inputs, targets).to(device)
    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) == 2:
        return TensorData(*data.tensors).to(device)
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return DatasetData(data, device)
    raise TypeError("data must be a TensorData, a (inputs, targets) pair, or a map-style torch Dataset, "
                    f"got {type(data).__name__}")


def digits(*, test_fraction: float = 0.25, seed: int = 0, dtype=torch.float32, standardize: bool = True):
    """scikit-learn's bundled 8×8 digits (1797 images, 10 classes; no download) as (train, test).

    Inputs are (N, 64) pixel vectors, standardized with the training set's mean and standard deviation
    when ``standardize``; the split is stratified and fixed by ``seed``.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    bunch = load_digits()
    x = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        test[rng.choice(members, size=int(round(test_fraction * len(members))), replace=False)] = True
    if standardize:
        mean = x[~test].mean(axis=0)
        std = x[~test].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return (TensorData(as_tensor(x[~test]), torch.as_tensor(y[~test])),
            TensorData(as_tensor(x[test]), torch.as_tensor(y[test])))


def synthetic_classification(n: int, *, dim: int = 8, classes: int = 3, separation: float = 2.0,
                             seed: int = 0, dtype=torch.float32) -> TensorData:
    """n points from ``classes`` Gaussian clusters in ``dim`` dimensions (unit variance), centres
    drawn with norm ``separation``; labels 0..classes−1."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim))
    centres *= separation / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, classes, size=n)
    x = centres[labels] + rng.standard_normal((n, dim))
    return TensorData(torch.as_tensor(x, dtype=dtype), torch.as_tensor(labels, dtype=torch.int64))


def synthetic_regression(n: int, *, dim: int = 8, noise: float = 0.5, seed: int = 0,
                         dtype=torch.float32) -> TensorData:
    """Linear regression data y = ⟨w*, a⟩ + noise·ε with a, w*, ε standard normal; targets (n, 1)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(dim)
    a = rng.standard_normal((n, dim))
    y = a @ w + noise * rng.standard_normal(n)
    return TensorData(torch.as_tensor(a, dtype=dtype), torch.as_tensor(y[:, None], dtype=dtype))


def cifar10(root, *, train: bool = True, transform=None) -> DatasetData:
    """CIFAR-10 from a local folder (torchvision's ``cifar-10-batches-py`` layout); never downloads.

    Needs torchvision.  ``transform`` defaults to ``ToTensor()`` followed by per-channel normalization.
    """
    try:
        import torchvision
        from torchvision import transforms
    except ImportError:
        raise ImportError("cifar10 needs torchvision (pip install torchvision matching your torch), "
                          "or wrap your own Dataset with DatasetData") from None
    if transform is None:
        transform = transforms.Compose([transforms.ToTensor(),
                                        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    try:
        dataset = torchvision.datasets.CIFAR10(str(root), train=train, transform=transform, download=False)
    except RuntimeError as error:
        raise FileNotFoundError(f"no CIFAR-10 under {root!r} (expected {root}/cifar-10-batches-py); "
                                f"sdesim never downloads it: {error}") from None
    return DatasetData(dataset)


class BatchSampler:
    """Draws batches of ``batch_size`` indices out of ``n``, each independent of all others.

    ``generator`` is a seeded ``torch.Generator`` on ``device``; its state is the sampler's state.
    """

    def __init__(self, n: int, batch_size: int, *, sampling: str = "subset", generator: torch.Generator):
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be an integer between 1 and the data set's size {n}, got {batch_size!r}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.sampling = sampling
        self.generator = generator

    def draw(self) -> torch.Tensor:
        """One batch of indices (int64, on the generator's device)."""
        device = self.generator.device
        if self.sampling == "replacement":
            return torch.randint(0, self.n, (self.batch_size,), generator=self.generator, device=device)
        return torch.randperm(self.n, generator=self.generator, device=device)[: self.batch_size]

    def covariance_factor(self) -> float:
        """f in Cov(batch-mean gradient) = f·Σ₁/B."""
        return covariance_factor(self.sampling, self.n, self.batch_size)
