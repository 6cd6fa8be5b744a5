"""Reading a torch ``Dataset`` (a `DatasetData`) through a ``torch.utils.data.DataLoader``: worker
processes, pinned memory and prefetch, with random augmentation seeded per batch.

Every batch read carries a number and a seed ``SeedSequence(run seed, spawn_key=(stream, number...))``.
Just before its items are read, in whichever process reads them (the main one or a worker), torch's,
numpy's and python's global generators are seeded from it (and, in the main process, restored
afterwards).  A random crop or flip drawn from those generators is then a function of the run's seed
and the batch's number only: 0, 1 or 2 workers, the prefetch depth and a resume give the same batches.

The indices are the trainer's own: its batch sampler draws them, one batch at a time, in the order the
trainer uses them (`TrainingFeed`); the DataLoader only reads and collates.  With workers it draws
ahead of the training (``prefetch_factor`` batches per worker); `TrainingFeed` remembers the sampler's
state after each batch actually consumed, which is the state a checkpoint saves.
"""

from __future__ import annotations

import contextlib
import numbers
import random
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

TRAINING, EVALUATION = 0, 1          # the streams of batch seeds: training reads, evaluation reads


@dataclass(frozen=True)
class LoaderSettings:
    """How a `DatasetData` is read: ``num_workers`` processes (0: the main one), pinned memory, and
    ``prefetch_factor`` batches loaded ahead per worker (None: torch's default, 2)."""

    num_workers: int = 0
    pin_memory: bool = False
    prefetch_factor: int | None = None


def check_loader_settings(num_workers, pin_memory, prefetch_factor, *, reads_a_dataset: bool,
                          device: torch.device) -> LoaderSettings:
    """The trainer's ``num_workers``, ``pin_memory`` and ``prefetch_factor``, checked before any work.

    pin_memory=True on a CPU run warns and does nothing: pinned host memory only speeds up copies to a GPU.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0 (0 reads batches in the main process, N >= 1 in N "
                         f"worker processes), got {num_workers!r}")
    if not isinstance(pin_memory, bool):
        raise ValueError(f"pin_memory must be True or False, got {pin_memory!r}")
    if prefetch_factor is not None:
        if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, numbers.Integral) \
                or prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be None or a positive integer (batches loaded ahead per "
                             f"worker), got {prefetch_factor!r}")
        if num_workers == 0:
            raise ValueError(f"prefetch_factor={prefetch_factor} needs worker processes (num_workers >= 1): with "
                             f"num_workers=0 each batch is read when it is needed; leave prefetch_factor None")
    if not reads_a_dataset and (num_workers or pin_memory or prefetch_factor is not None):
        raise ValueError(f"num_workers={num_workers}, pin_memory={pin_memory}, prefetch_factor={prefetch_factor} "
                         f"apply to a torch Dataset read item by item (DatasetData), but the data are tensors held "
                         f"in memory (TensorData), indexed directly on the training device; leave them at "
                         f"num_workers=0, pin_memory=False, prefetch_factor=None, or pass a Dataset")
    if pin_memory and device.type != "cuda":
        warnings.warn(f"pin_memory=True does nothing on device {str(device)!r}: pinned memory only speeds up "
                      f"copies from the host to a GPU", UserWarning, stacklevel=3)
    return LoaderSettings(int(num_workers), pin_memory and device.type == "cuda",
                          None if prefetch_factor is None else int(prefetch_factor))


def batch_seed(seed: int, *key: int) -> int:
    """The 63-bit seed of one batch: SeedSequence(seed, spawn_key=key), e.g. key (stream, number) for the
    trainer's reads."""
    words = np.random.SeedSequence(seed, spawn_key=key).generate_state(1, dtype=np.uint64)
    return int(words[0]) & (2**63 - 1)


@contextlib.contextmanager
def seeded_generators(seed: int):
    """Seed torch's (CPU), numpy's and python's global generators with ``seed``; in the main process restore
    them on exit (a worker's generators are its own)."""
    if torch.utils.data.get_worker_info() is not None:
        seed_global_generators(seed)
        yield
        return
    states = torch.default_generator.get_state(), np.random.get_state(), random.getstate()
    seed_global_generators(seed)
    try:
        yield
    finally:
        torch.default_generator.set_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def seed_global_generators(seed: int) -> None:
    """Seed torch's default CPU generator, numpy's global one (``seed`` mod 2³²) and Python's ``random``."""
    # torch.default_generator, not torch.manual_seed, which also seeds every accelerator (~0.1 ms a call)
    torch.default_generator.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class SeededDataset(torch.utils.data.Dataset):
    """A map-style ``dataset`` read a batch at a time, from requests (number, seed, indices): the items are
    read with the global generators seeded by ``seed`` (`seeded_generators`); returns (number, items)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitems__(self, request):
        number, seed, indices = request
        with seeded_generators(seed):
            return number, [self.dataset[i] for i in indices]


def collate_numbered(numbered_items):
    """(number, items) -> (number, inputs, targets), collated with ``default_collate`` as `DatasetData.batch` does."""
    number, items = numbered_items
    inputs, targets = torch.utils.data.default_collate(items)
    return number, inputs, targets


def read_batches(data, requests, settings: LoaderSettings):
    """(number, inputs, targets) for each request (number, seed, index list), in order, on ``data``'s device.

    A generator: closing it (or finishing it) shuts the DataLoader's workers down.
    """
    loader = torch.utils.data.DataLoader(
        SeededDataset(data.dataset), batch_sampler=requests, collate_fn=collate_numbered,
        num_workers=settings.num_workers, pin_memory=settings.pin_memory, prefetch_factor=settings.prefetch_factor,
        generator=torch.Generator().manual_seed(0))   # the workers' base seed, not drawn from torch's generator
    batches = iter(loader)
    try:
        for number, inputs, targets in batches:
            yield number, data.to_device(inputs), data.to_device(targets)
    finally:
        shutdown = getattr(batches, "_shutdown_workers", None)     # what the iterator's __del__ calls
        if shutdown is not None:
            shutdown()


def read_chunks(data, chunks, *, seed: int, stream: int, first_number: int, settings: LoaderSettings, prefix=()):
    """(inputs, targets) of each index tensor of ``chunks`` in order, batch i seeded by (stream, *prefix,
    first_number + i); a generator (close it to stop the workers)."""
    requests = [(first_number + i, batch_seed(seed, stream, *prefix, first_number + i), chunk.tolist())
                for i, chunk in enumerate(chunks)]
    for _, inputs, targets in read_batches(data, requests, settings):
        yield inputs, targets


class TrainingFeed:
    """The training batches of a `DatasetData`, drawn by ``sampler`` (a `BatchSampler`) one at a time in the
    trainer's order and read ahead by the DataLoader; batch k is seeded by (TRAINING, k), k from
    ``first_number`` on.

    ``consumed_state`` is the sampler generator's state after the last batch taken with `next` (the state
    to checkpoint, whatever was drawn ahead); `close` stops the workers and puts the generator back there.
    """

    def __init__(self, data, sampler, *, seed: int, first_number: int, settings: LoaderSettings):
        self.sampler = sampler
        self.seed = seed
        self.consumed_state = sampler.generator.get_state()
        self._drawn: deque = deque()          # (number, generator state after drawing it), drawn but not consumed
        self._batches = read_batches(data, self._requests(first_number), settings)

    def _requests(self, number: int):
        while True:
            indices = self.sampler.draw()
            self._drawn.append((number, self.sampler.generator.get_state()))
            yield number, batch_seed(self.seed, TRAINING, number), indices.tolist()
            number += 1

    def next(self):
        """(inputs, targets) of the next batch."""
        number, inputs, targets = next(self._batches)
        drawn, self.consumed_state = self._drawn.popleft()
        if drawn != number:
            raise RuntimeError(f"the data loader returned batch {number} where batch {drawn} was due")
        return inputs, targets

    def close(self) -> None:
        """Stop the loader and rewind the sampler to the batches actually used, so a resumed run draws the rest."""
        self._batches.close()
        self.sampler.generator.set_state(self.consumed_state)
        self._drawn.clear()
