"""Index samplers for a ``DataLoader(dataset, batch_sampler=...)``: SVAG's independent batches, and the
epoch reshuffling of ``DataLoader(shuffle=True)`` for SGD baselines.  Both resume exactly.

Each item a sampler yields is the list of example indices of one small step.  `two_independent_batches`
yields ``batches`` × B indices per draw: the first B are batch γ₁, the next B batch γ₂ (split them with
``SVAG.split``).  Draw j is computed from (seed, j) alone (a numpy PCG64 generator seeded with
``SeedSequence(seed, spawn_key=(j,))``), so a resumed loop gets the same draws by starting at the
optimizer's count of small steps, however far a ``DataLoader`` had prefetched: ``start=opt.small_steps_taken``
or ``sampler.set_position(opt.small_steps_taken)``.  A draw costs O(B), whatever N: B distinct indices come
from numpy's ``Generator.choice(replace=False)`` (Floyd's algorithm, then a shuffle of the B; a partial
shuffle of range(N) when N < 50B, so at most O(50B)).

Under data parallelism (``torch.distributed``, DDP) pass ``rank`` and ``world_size``: every rank computes the
same draw and keeps its share, rows r·B/W .. (r+1)·B/W − 1 of each batch (of γ₁, then of γ₂), so the ranks'
shares, in rank order, are the single-process batches exactly, and DDP's mean of the ranks' gradients is the
single-process gradient of c₁L₁ + c₂L₂.

Each live `two_independent_batches` sampler counts the draws it has handed out that no ``opt.split`` has
taken yet (`claim_draw`): that is how ``SVAG.split`` knows its rows were drawn by such a sampler.
"""

from __future__ import annotations

import collections
import numbers
import warnings
import weakref

import numpy as np
import torch

from sdesim.torch._checks import strict_positive_int

SAMPLINGS = ("subset", "replacement", "disjoint_halves")


MEANING = {"seed": "the sampler's seed", "draws": "the number of draws, small steps", "start": "draws already taken",
           "the position": "draws already taken"}


def _position(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 ({MEANING[name]}), got {value!r}")
    return int(value)


def _batch_size(n: int, batch_size, batches: int) -> int:
    batch_size = strict_positive_int("batch_size", batch_size)
    if batches * batch_size > n:
        raise ValueError(f"{batches} batch(es) of batch_size={batch_size} need {batches * batch_size} examples, "
                         f"the data set has n={n}; use batch_size <= {n // batches}")
    return batch_size


def _shard(rank, world_size, batch_size: int, what: str) -> tuple[int, int]:
    """(rank, world_size), checked: 0 <= rank < world_size, and B divisible by world_size."""
    world_size = strict_positive_int("world_size", world_size)
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an integer in [0, world_size) = [0, {world_size}) (this process's rank, "
                         f"dist.get_rank()), got {rank!r}")
    if batch_size % world_size:
        raise ValueError(f"{what} batch_size={batch_size} is not divisible by world_size={world_size}: each rank "
                         f"takes an equal share of every batch, so that DDP's mean of the ranks' gradients is the "
                         f"batch's gradient; use a batch_size that is a multiple of {world_size}")
    if world_size == 1 and torch.distributed.is_available() and torch.distributed.is_initialized() \
            and torch.distributed.get_world_size() > 1:
        warnings.warn(f"torch.distributed runs {torch.distributed.get_world_size()} processes but this sampler has "
                      f"world_size=1: every rank draws the same full batches; pass rank=dist.get_rank(), "
                      f"world_size=dist.get_world_size()", UserWarning, stacklevel=4)
    return int(rank), world_size


def draw_generator(seed: int, j: int) -> np.random.Generator:
    """The generator of draw j: PCG64 seeded with numpy's SeedSequence(seed, spawn_key=(j,)), independent across j."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(j,))))


_LIVE = weakref.WeakSet()      # the IndependentBatches samplers alive in this process


def claim_draw(rows: int) -> list | None:
    """Take one draw of ``rows`` indices that a live two-batch sampler handed out and no split has taken yet.

    Returns None when one was taken, else the sizes of the draws waiting to be split (often none)."""
    for sampler in list(_LIVE):
        if sampler.unsplit[rows]:
            sampler.unsplit[rows] -= 1
            return None
    return sorted({size for sampler in list(_LIVE) for size, count in sampler.unsplit.items() if count})


class IndependentBatches:
    """The draws of SVAG's small steps; see `two_independent_batches`.  ``position``: the next draw's index;
    ``unsplit``: per size, the draws handed out by iteration that ``opt.split`` has not taken (`claim_draw`)."""

    def __init__(self, n: int, batch_size: int, *, sampling: str, seed: int, batches: int, draws, start: int,
                 rank: int = 0, world_size: int = 1):
        self.n = strict_positive_int("n", n)
        if batches not in (1, 2):
            raise ValueError(f"batches must be 1 (SGD, SVAG at l = 1) or 2 (SVAG at l > 1; pass "
                             f"batches=opt.batches), got {batches!r}")
        self.batches = batches
        self.batch_size = _batch_size(self.n, batch_size, batches)
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; allowed: {', '.join(map(repr, SAMPLINGS))}")
        self.sampling = sampling
        self.seed = _position("seed", seed)
        self.draws = None if draws is None else _position("draws", draws)
        self.rank, self.world_size = _shard(rank, world_size, self.batch_size, "two_independent_batches:")
        self.position = 0
        self.set_position(_position("start", start))
        self.unsplit = collections.Counter()
        _LIVE.add(self)

    def set_position(self, j: int) -> None:
        """Make the next draw draw j (e.g. ``opt.small_steps_taken`` on resume)."""
        self.position = _position("the position", j)

    def full_draw(self, j: int) -> np.ndarray:
        """The ``batches`` × B indices of draw j over all ranks (a function of (seed, j) only), in O(B)."""
        generator = draw_generator(self.seed, j)
        n, b, k = self.n, self.batch_size, self.batches
        if self.sampling == "replacement":
            return generator.integers(0, n, k * b)
        if self.sampling == "disjoint_halves":
            return generator.choice(n, k * b, replace=False)
        return np.concatenate([generator.choice(n, b, replace=False) for _ in range(k)])

    def draw(self, j: int) -> list:
        """This rank's share of draw j: rows r·B/W .. (r+1)·B/W − 1 of each batch, batch after batch."""
        k, w = self.batches, self.world_size
        return self.full_draw(j).reshape(k, w, -1)[:, self.rank].ravel().tolist()

    def __iter__(self):
        while self.draws is None or self.position < self.draws:
            j = self.position
            self.position += 1
            indices = self.draw(j)
            self.unsplit[len(indices)] += 1
            yield indices

    def __len__(self) -> int:
        if self.draws is None:
            raise TypeError("an endless two_independent_batches sampler (draws=None) has no length; pass draws=")
        return max(0, self.draws - self.position)


def two_independent_batches(n: int, batch_size: int, *, sampling: str = "subset", seed: int = 0, batches: int = 2,
                            draws: int | None = None, start: int = 0, rank: int = 0,
                            world_size: int = 1) -> IndependentBatches:
    """Per small step, ``batches`` independent batches of B indices out of n, concatenated (γ₁ then γ₂).

    ``batches``: 2 for SVAG at l > 1, 1 at l = 1 (pass ``batches=opt.batches``); ``draws``: how many small
    steps to yield (None: endless); ``start``: the first draw's index (resume at ``opt.small_steps_taken``);
    ``rank``, ``world_size``: under DDP, this process's share, B/world_size of each batch (γ₁'s share, then
    γ₂'s), the ranks' shares in rank order making up the single-process batches.
    Σ₁ is the per-example gradient covariance; the combination c₁ḡ₁ + c₂ḡ₂ (c₁ + c₂ = 1, c₁² + c₂² = l) has
    covariance f·Σ₁/B with

    * ``"subset"`` (default): each batch a uniformly random set of B distinct examples, the two independent
      (they may share examples): f = l(N − B)/(N − 1), l times one batch's, as eq. (5) assumes;
    * ``"replacement"``: 2B i.i.d. uniform indices: f = l, exactly;
    * ``"disjoint_halves"``: the two halves of one random 2B-subset, as the paper's code does: the batch
      means are negatively correlated, Cov(ḡ₁, ḡ₂) = −Σ₁/(N − 1), so f = (lN − B)/(N − 1), larger than
      subset's by (l − 1)B/(N − 1): close to independent only when B ≪ N.
    """
    return IndependentBatches(n, batch_size, sampling=sampling, seed=seed, batches=batches, draws=draws, start=start,
                              rank=rank, world_size=world_size)


class EpochReshuffling:
    """The batches of ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))``; see
    `epoch_reshuffling`.  ``position``: batches handed out so far over all epochs."""

    def __init__(self, n: int, batch_size: int, *, seed: int, drop_last: bool, start: int, rank: int = 0,
                 world_size: int = 1):
        self.n = strict_positive_int("n", n)
        self.batch_size = _batch_size(self.n, batch_size, 1)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last must be True or False, got {drop_last!r}")
        self.drop_last = drop_last
        self.seed = _position("seed", seed)
        self.rank, self.world_size = _shard(rank, world_size, self.batch_size, "epoch_reshuffling:")
        last = self.n % self.batch_size
        if not drop_last and last % self.world_size:
            raise ValueError(f"epoch_reshuffling: the last batch of each epoch holds n % batch_size = {last} "
                             f"examples, not divisible by world_size={self.world_size}; pass drop_last=True, or "
                             f"an n whose remainder is a multiple of {self.world_size}")
        self._generator, self._epoch = None, None   # the generator before epoch self._epoch's draws
        self.position = 0
        self.set_position(_position("start", start))

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def set_position(self, j: int) -> None:
        """Make the next batch handed out batch j of the whole run (epoch j // len, batch j % len of it)."""
        self.position = _position("the position", j)

    def epoch(self, e: int) -> list:
        """The batches of epoch e (0, 1, ...): replays the DataLoader's draws from ``seed``."""
        if self._epoch is None or e < self._epoch:
            self._generator, self._epoch = torch.Generator().manual_seed(self.seed), 0
        while True:
            # what DataLoader does per epoch: one int64 for its workers' base seed, then the sampler's draws
            torch.empty((), dtype=torch.int64).random_(generator=self._generator)
            sampler = torch.utils.data.RandomSampler(range(self.n), generator=self._generator)
            batches = list(torch.utils.data.BatchSampler(sampler, self.batch_size, self.drop_last))
            self._epoch += 1
            if self._epoch == e + 1:
                return batches

    def __iter__(self):
        """The rest of the epoch that holds ``position`` (this rank's share of each batch)."""
        e, offset = divmod(self.position, len(self))
        for batch in self.epoch(e)[offset:]:
            self.position += 1
            share = len(batch) // self.world_size
            yield batch[self.rank * share: (self.rank + 1) * share]


def epoch_reshuffling(n: int, batch_size: int, *, seed: int, drop_last: bool = False, start: int = 0,
                      rank: int = 0, world_size: int = 1) -> EpochReshuffling:
    """SGD's usual sampling: each epoch a fresh random permutation cut into batches of B (the last one short
    unless ``drop_last``); one ``iter`` per epoch, as a DataLoader's.  It yields exactly the batches of
    ``DataLoader(dataset, batch_size=B, shuffle=True, drop_last=drop_last,
    generator=torch.Generator().manual_seed(seed))`` (with ``persistent_workers=False``), and resumes from
    ``start`` = batches already taken (``set_position``).  Batches are not independent within an epoch:
    outside Theorem 4.3, though the paper found it makes no difference in practice (Remark 4.5).  Under DDP,
    ``rank`` and ``world_size`` give each rank its share of every batch, as `two_independent_batches` does
    (not ``DistributedSampler``'s interleaving): the shares in rank order are the single-process batch."""
    return EpochReshuffling(n, batch_size, seed=seed, drop_last=drop_last, start=start, rank=rank,
                            world_size=world_size)
